"""Fuzz the spec and model-metadata parsers in-process: seeded mutations of real specs (all three tasks) and of
small real model files; anything but an EdgekitError is a failure. EDGEKIT_FUZZ_N cases (``make fuzz``: 100000)."""
import copy
import json
import math
import os
import random
import traceback

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.model.metadata import file_info, read_spec
from edgekit.edge.model.probe import probe
from edgekit.edge.core.spec import METADATA_KEY, Spec
from edgekit.edge.tasks import checked

N = int(os.environ.get("EDGEKIT_FUZZ_N", "3000"))


def real_specs() -> list[Spec]:
    stft = fe.spectrogram_features()
    image = fe.image_features()
    return [
        Spec(task="stft", kind="classification", sample_rate=12800.0, window=10000,
             input_shape=fe.spectrogram_shape(10000, stft), features={**stft, "window": ["kaiser", 8.0]},
             normalization={"type": "standard", "mean": -7.5, "std": 2.25}, labels=("A", "B"),
             model_sha256="ab" * 32, quantization={"precision": "int8", "input": {"scale": 0.1, "zero_point": -3}}),
        Spec(task="traffic", kind="regression", sample_rate=1 / 300, window=12, input_shape=(12, 2),
             features=fe.rows_features(["Speed", "ToVol"], "Speed", 300.0, "linear", 12),
             normalization={"type": "minmax", "min": [0.0, 0.0], "max": [100.0, 500.0]},
             target={"column": "Speed", "units": "km/h", "scaling": {"type": "minmax", "min": 0.0, "max": 120.0}}),
        Spec(task="image", kind="classification", sample_rate=1.0, window=1, input_shape=fe.image_shape(image),
             features=image, normalization={"type": "scale", "scale": 1 / 255, "offset": 0.0},
             labels=tuple("0123456789")),
    ]


ODD_TEXT = ["\n", "\r", "\x00", "\x1b[31m", "\u202e", "\u200b", "\ud800", "\udfff", "\ue000", "\U000e0001",
            "\uffff", "²", "٣", "é", "😀", "%", "'", '"', "\\", " "]
NUMBERS = [10 ** 400, -10 ** 400, 2 ** 64, 2 ** 53 + 1, -1, 0, 1, 3, 10 ** 6, 5e-324, -5e-324, 1e-308, 1e308,
           -1e308, 1e38, 3.5e38, float("nan"), float("inf"), float("-inf"), -0.0, 0.5, 1.5, 1e-45, 2, 12, 28,
           256, 4096, 65536, 65537]
NAMES = ["stft", "traffic", "image", "classification", "regression", "spectrogram", "rows", "none", "standard",
         "minmax", "scale", "hann", "hamming", "blackman", "boxcar", "tukey", "kaiser", "gaussian", "linear",
         "previous", "constant", "density", "psd", "magnitude", "area", "bilinear", "nearest", "int8", "float16"]


def _value(rng: random.Random, old):
    """A replacement for ``old``: an odd number, another type, deep nesting, a long or odd string."""
    kind = rng.randrange(11)
    if kind < 3:
        return rng.choice(NUMBERS)
    if kind == 10:
        return rng.choice(NAMES) if rng.random() < 0.6 else [rng.choice(NAMES), rng.choice(NUMBERS)]
    if kind == 3 and isinstance(old, (int, float)) and not isinstance(old, bool):
        try:
            return old * rng.choice([-1, 2, 1000, 1e-300, 1e300])
        except OverflowError:                      # a huge int times a float
            return -old
    if kind == 4:
        return rng.choice([None, True, False, "", [], {}, "x", [old], {"x": old}, str(old), [old, old]])
    if kind == 5:
        for _ in range(rng.choice([9, 50, 300])):
            old = [old] if rng.random() < 0.5 else {"type": old}
        return old
    if kind == 6:
        return rng.choice(["A", "é", "\n", "[", "0"]) * rng.choice([1000, 100_000]) if rng.random() < 0.7 \
            else [old] * 2000
    s = old if isinstance(old, str) else rng.choice(["A", "1.0", "type", "hann", "minmax"])
    i = rng.randrange(len(s) + 1)
    return s[:i] + "".join(rng.choice(ODD_TEXT) for _ in range(rng.randint(1, 3))) + s[i:]


def _paths(obj, path=()):
    yield path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj[:20]) if isinstance(obj, list) else ()
    for k, v in items:
        yield from _paths(v, path + (k,))


def mutate(d: dict, rng: random.Random, donors: list[dict]):
    """1–3 changes: delete a key, add one, replace a value by an odd one or by a part of another real spec."""
    for _ in range(rng.choice([1, 1, 2, 3])):
        path = rng.choice(list(_paths(d)))
        if not path:
            if rng.random() < 0.05:
                return _value(rng, d)
            continue
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        key, op = path[-1], rng.random()
        if op < 0.15:
            del parent[key]
        elif op < 0.2 and isinstance(parent, dict):
            k = _value(rng, "key")
            parent[k if isinstance(k, (str, int, float)) else "extra"] = _value(rng, None)
        elif op < 0.35:
            donor = rng.choice(donors)
            part = rng.choice(list(_paths(donor)))
            for k in part:
                donor = donor[k]
            parent[key] = copy.deepcopy(donor)
        else:
            parent[key] = _value(rng, parent[key])
    return d


def _bytes_mutation(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op, i = rng.random(), rng.randrange(len(b))
        if op < 0.6:
            b[i] = rng.randrange(256)
        elif op < 0.75:
            del b[i:i + rng.randint(1, 16)]
        elif op < 0.9:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        else:
            del b[i:]
        if not b:
            b = bytearray(b"\0")
    return bytes(b)


def _check(fn, failures: list, what: str):
    """Run ``fn``; anything but an EdgekitError is recorded. Returns its result (None when it raised)."""
    try:
        return fn()
    except EdgekitError as e:
        assert "\n" not in e.message, e.message
    except Exception:   # noqa: BLE001 — the point of the test
        failures.append(f"{what}: {traceback.format_exc(limit=-3).strip().splitlines()[-1]}"
                        f" at {traceback.format_exc(limit=-1).splitlines()[1].strip()}")
    return None


def _accepted(spec: Spec, failures: list, what: str) -> None:
    """What the device does next with a spec it accepted must not fail either."""
    again = _check(lambda: checked(Spec.from_json(spec.to_json())), failures, f"{what} (round trip)")
    if again is not None and again != spec:
        failures.append(f"{what}: the spec does not survive a JSON round trip")
    if spec.window <= 100_000 and math.prod(spec.input_shape) <= 1_000_000:
        _check(lambda: probe(spec), failures, f"{what} (probe)")


def test_real_specs_parse_and_probe_clean():
    for spec in real_specs():
        assert checked(Spec.from_json(spec.to_json())) == spec
        assert probe(spec) is None, spec.task


def test_mutated_specs_give_only_one_line_errors():
    failures: list[str] = []
    bases = [s.to_dict() for s in real_specs()]
    for i in range(N):
        rng = random.Random(i)
        base = bases[i % len(bases)]
        d = mutate(copy.deepcopy(base), rng, bases)
        what = f"seed {i} ({base['task']})"
        spec = _check(lambda: checked(Spec.from_dict(d, source="fuzz"), "fuzz"), failures, f"{what} from_dict")
        if spec is not None:
            _accepted(spec, failures, what)
        try:
            text = json.dumps(d)
        except (ValueError, RecursionError):         # the mutation is not JSON (deep nesting); dict only
            continue
        if i % 4 == 3:
            text = _bytes_mutation(text.encode("utf-8", "surrogatepass"), rng)
        _check(lambda: checked(Spec.from_json(text, source="fuzz"), "fuzz"), failures, f"{what} from_json")
        if len(failures) > 20:
            break
    assert failures == [], "\n".join(failures)


def _tiny_tflite(payload: bytes) -> bytes:
    """A small real TFLite flatbuffer (one FULLY_CONNECTED operator, the spec in its metadata), built with
    the flatbuffers runtime: no TensorFlow needed."""
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def vector(items):
        b.StartVector(4, len(items), 4)
        for it in reversed(items):
            b.PrependUOffsetTRelative(it)
        return b.EndVector()

    name, data = b.CreateString(METADATA_KEY), b.CreateByteVector(payload)
    b.StartObject(3)
    empty = b.EndObject()
    b.StartObject(3)
    b.PrependUOffsetTRelativeSlot(0, data, 0)
    with_spec = b.EndObject()
    b.StartObject(2)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependUint32Slot(1, 1, 0)
    meta = b.EndObject()
    b.StartObject(4)
    b.PrependInt8Slot(0, 9, 0)
    b.PrependInt32Slot(3, 9, 0)
    code = b.EndObject()
    b.StartObject(1)
    op = b.EndObject()
    ops = vector([op])
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(3, ops, 0)
    graph = b.EndObject()
    codes, graphs, buffers, metas = vector([code]), vector([graph]), vector([empty, with_spec]), vector([meta])
    b.StartObject(7)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, codes, 0)
    b.PrependUOffsetTRelativeSlot(2, graphs, 0)
    b.PrependUOffsetTRelativeSlot(4, buffers, 0)
    b.PrependUOffsetTRelativeSlot(6, metas, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    return bytes(b.Output())


def _tiny_onnx() -> bytes:
    """A ModelProto holding a graph of one Relu node, hand-encoded (the metadata comes from ONNX Runtime)."""
    def field(num: int, payload: bytes) -> bytes:
        return bytes([num << 3 | 2, len(payload)]) + payload
    return bytes([1 << 3, 8]) + field(7, field(1, field(4, b"Relu") + field(7, b"ai.onnx")))


def test_mutated_model_files_give_only_one_line_errors(tmp_path):
    spec = real_specs()[0]
    tflite, onnx = tmp_path / "m.tflite", tmp_path / "m.onnx"
    tflite.write_bytes(_tiny_tflite(spec.to_json(indent=None).encode()))
    onnx.write_bytes(_tiny_onnx())
    info = file_info(tflite)
    assert info.operators == {"FULLY_CONNECTED": 1} and read_spec(tflite, info) == spec
    assert file_info(onnx, metadata={}).operators == {"Relu": 1}
    originals = {tflite: tflite.read_bytes(), onnx: onnx.read_bytes()}
    failures: list[str] = []
    for i in range(N):
        rng = random.Random(i)
        path = tflite if i % 3 else onnx
        path.write_bytes(_bytes_mutation(originals[path], rng))
        what = f"seed {i} ({path.suffix})"
        info = _check(lambda: file_info(path, metadata={}), failures, what)
        if info is not None:
            spec = _check(lambda: read_spec(path, info), failures, f"{what} read_spec")
            if spec is not None:
                _accepted(spec, failures, what)
        if len(failures) > 20:
            break
    assert failures == [], "\n".join(failures)


def test_the_fuzzer_reports_other_exceptions():
    failures: list[str] = []
    _check(lambda: checked(Spec.from_dict(None)), failures, "an EdgekitError")
    _check(lambda: {}["x"], failures, "a bug")
    assert len(failures) == 1 and failures[0].startswith("a bug: KeyError")
