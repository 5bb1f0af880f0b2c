"""ONNX float32/int8 artifacts: export, quantization options, the embedded spec, and edge-run on them.

Also the device's side of "one self-describing file" for both formats: tampered metadata is a one-line
error, a foreign model without metadata runs only when the missing facts are given as flags.
"""
import json

import numpy as np
import pytest

from conftest import bin_path, run

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.slow

INT8_EDGE_RUN_SECONDS = "80"   # 102 windows: at 20 s (25 windows) "≥ 97 %" would mean "no mismatch at all"


# -- helpers --------------------------------------------------------------------------------------------

def _one_line_error(p, *words):
    assert p.returncode == 2, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def _edge_run(model, *extra, duration="20", seed="4", check=True):
    p = run(bin_path("edge-run"), "--model", str(model), "--source", "synthetic", "--duration", duration,
            "--seed", seed, "--json", *extra, check=check)
    if not check:
        return p
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    return [w["label"] for w in lines[:-1]], lines[-1]["summary"]


def _onnx_with_spec_text(src, dst, text):
    """Copy an .onnx file with its edgekit metadata replaced by ``text`` (None: no metadata at all)."""
    from edgekit.edge.core.spec import METADATA_KEY

    m = onnx.load(str(src))
    del m.metadata_props[:]
    if text is not None:
        entry = m.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, text
    onnx.save(m, str(dst))
    return dst


class _RawSpecJSON:
    """Stands in for a Spec in ``embed_tflite``: its JSON is the given text, verbatim and unvalidated."""

    def __init__(self, text):
        self.text = text

    def to_json(self, indent=None):
        return self.text


def _tflite_with_spec_text(src, dst, text):
    """Copy a .tflite file with its edgekit metadata replaced by ``text`` (None: no edgekit entry)."""
    from edgekit.convert.metadata import embed_tflite
    from edgekit.edge.core.spec import METADATA_KEY

    blob = src.read_bytes()
    if text is not None:
        dst.write_bytes(embed_tflite(blob, _RawSpecJSON(text)))
        return dst
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(blob))
    m.metadata = [e for e in (m.metadata or []) if (e.name.decode() if isinstance(e.name, bytes) else e.name)
                  != METADATA_KEY]
    dst.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(m)))
    return dst


def _test_features(run_dir, n=32):
    from edgekit.edge import frontend as fe
    from edgekit.edge.core.spec import Spec

    with np.load(run_dir / "test.npz") as z:
        x = z["x"][:n]
    return fe.build(Spec.load(run_dir))(x)


# -- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def onnx_run(tiny_run):
    """The tiny STFT run with DIR/stft_float32.onnx and DIR/stft_int8.onnx (default options) added."""
    d = tiny_run / "stft"
    reports = {}
    for precision in ("float32", "int8"):
        p = run(bin_path("edgekit"), "convert", str(d), "--to", "onnx", "--precision", precision, "--json")
        reports[precision] = json.loads(p.stdout)
        # TF / tf2onnx / ORT chatter is silenced: stderr holds only edgekit's own notes
        noise = [line for line in p.stderr.splitlines() if line.strip() and not line.startswith("note: ")]
        assert not noise, p.stderr
    return d, reports


# -- export and quantization ----------------------------------------------------------------------------

def test_convert_writes_verified_onnx_float32_and_int8(onnx_run):
    d, reports = onnx_run
    f32, i8 = reports["float32"], reports["int8"]
    assert (d / "stft_float32.onnx").is_file() and (d / "stft_int8.onnx").is_file()
    assert f32["artifact"].endswith("stft_float32.onnx") and f32["format"] == "onnx"
    assert "onnxruntime" in f32["backend"]
    assert f32["agreement"] >= 0.99 and f32["max_abs_diff"] < 1e-4
    assert i8["agreement"] >= 0.97 and i8["precision"] == "int8"
    assert f32["size_bytes"] > 2_886_450 * 4 * 0.95            # all float32 weights are there
    assert i8["size_bytes"] < f32["size_bytes"] / 3.5            # ... and int8 ones are a quarter
    q = i8["quantization"]
    assert q["precision"] == "int8" and q["format"] == "qdq" and q["calibration"] == "minmax"
    assert q["per_channel"] is True and q["activations"] == "uint8" and q["opset"] == 17
    assert q["input"] == {"dtype": "float32"} and q["output"] == {"dtype": "float32"}
    assert q["calibration_samples"] > 0
    assert reports["float32"]["quantization"]["opset"] == 17


def test_info_shows_the_embedded_spec(onnx_run):
    d, _ = onnx_run
    spec = json.loads((d / "spec.json").read_text())
    for precision in ("float32", "int8"):
        info = json.loads(run(bin_path("edgekit"), "info", str(d / f"stft_{precision}.onnx"), "--json").stdout)
        assert info["format"] == "onnx" and info["precision"] == precision
        assert info["inputs"][0]["shape"] == [None, 129, 44, 1] and info["inputs"][0]["dtype"] == "float32"
        got = dict(info["spec"])
        assert got.pop("quantization")["precision"] == precision
        assert got == {k: v for k, v in spec.items() if k != "quantization"}
        assert info["operators"]["Conv"] == 2
        assert ("QuantizeLinear" in info["operators"]) == (precision == "int8")
    text = run(bin_path("edgekit"), "info", str(d / "stft_int8.onnx")).stdout
    assert "onnx int8" in text and "schema 1.0" in text and "labels A, B" in text and "12800 Hz" in text


def test_read_spec_round_trip_equals_the_runs_spec(onnx_run):
    from edgekit.edge.model.metadata import read_spec
    from edgekit.edge.core.spec import Spec

    d, reports = onnx_run
    want = Spec.load(d)
    for precision in ("float32", "int8"):
        got = read_spec(d / f"stft_{precision}.onnx")
        assert got.quantization == reports[precision]["quantization"]
        assert got.with_(quantization=None) == want.with_(quantization=None)
        assert got.model_sha256 == want.model_sha256 and len(got.model_sha256) == 64


def test_metadata_survives_onnxruntime_and_changes_no_output(onnx_run, tmp_path):
    from edgekit.edge.model.backends.onnx import OnnxBackend
    from edgekit.edge.model.metadata import read_spec
    from edgekit.edge.core.spec import METADATA_KEY

    d, _ = onnx_run
    x = _test_features(d)
    for precision in ("float32", "int8"):
        path = d / f"stft_{precision}.onnx"
        bare = _onnx_with_spec_text(path, tmp_path / f"bare_{precision}.onnx", None)
        resaved = tmp_path / f"resaved_{precision}.onnx"
        onnx.save(onnx.load(str(path)), str(resaved))          # a load/save round trip keeps the spec
        with_meta, without = OnnxBackend(path, threads=1), OnnxBackend(bare, threads=1)
        assert json.loads(with_meta.metadata[METADATA_KEY]) == read_spec(path).to_dict()
        assert METADATA_KEY not in without.metadata and read_spec(bare) is None
        assert read_spec(resaved) == read_spec(path)
        a, b = with_meta.run(x), without.run(x)
        assert a.shape == (len(x), 2) and np.all(np.isfinite(a))
        assert np.array_equal(a, b), precision


def test_non_default_quantization_options_reach_the_file(onnx_run, tmp_path):
    from edgekit.edge.model.metadata import file_info, read_spec

    d, _ = onnx_run
    out = tmp_path / "q.onnx"
    p = run(bin_path("edgekit"), "convert", str(d), "--to", "onnx", "--precision", "int8", "--quant-format",
            "qoperator", "--calibration", "percentile", "--per-tensor", "--activations", "int8", "--calib", "64",
            "--opset", "15", "-o", str(out), "--json")
    q = json.loads(p.stdout)["quantization"]
    assert (q["format"], q["calibration"], q["per_channel"], q["activations"]) == \
        ("qoperator", "percentile", False, "int8", )
    assert q["calibration_samples"] == 64 and q["opset"] >= 15
    assert read_spec(out).quantization == q
    ops = file_info(out).operators
    assert "QLinearConv" in ops and "QuantizeLinear" in ops and "Conv" not in ops


@pytest.mark.parametrize("args,words", [
    (["--to", "onnx", "--precision", "dynamic"], ["--precision float32 or int8", "dynamic"]),
    (["--to", "tflite", "--opset", "17"], ["--opset", "--to onnx"]),
    (["--to", "tflite", "--precision", "int8", "--per-tensor"], ["--per-channel/--per-tensor", "--to onnx"]),
    (["--to", "onnx", "--calibration", "entropy"], ["--calibration", "--precision int8"]),
    (["--to", "onnx", "--opset", "12"], ["--opset 12", "13"]),
])
def test_convert_option_errors_are_one_line(tiny_run, tmp_path, args, words):
    out = tmp_path / ("m.onnx" if "onnx" in args else "m.tflite")
    p = run(bin_path("edgekit"), "convert", str(tiny_run / "stft"), *args, "-o", str(out), check=False)
    _one_line_error(p, *words)
    assert not out.exists()


def test_entropy_calibration_is_not_minmax_and_reader_uses_every_window():
    """quantize_static's own entropy calibrator (128/128 bins) equals MinMax; ours searches 2048 bins."""
    import keras
    from edgekit.convert import onnx as cx

    for n, batch in ((210, 15), (17, 1), (7, 7), (64, 16)):
        r = cx._Reader("x", np.zeros((n, 3), np.float32))
        sizes = []
        while (b := r.get_next()) is not None:
            sizes.append(len(b["x"]))
        assert sum(sizes) == n and set(sizes) == {batch}, (n, sizes)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    rep = rng.standard_t(3, size=(256, 16)).astype(np.float32)   # heavy tails: ranges differ by method
    proto = cx.keras_to_onnx(model, 17)

    def scales(calibration):
        q = cx.quantize_int8(proto, rep, calibration=calibration)
        return {i.name: float(onnx.numpy_helper.to_array(i)) for i in q.graph.initializer
                if i.name.endswith("_scale") and onnx.numpy_helper.to_array(i).size == 1}

    mm, ent = scales("minmax"), scales("entropy")
    assert mm.keys() == ent.keys() and mm
    assert any(ent[k] < 0.9 * mm[k] for k in mm), (mm, ent)   # entropy clips the tails MinMax keeps


# -- the same model as .tflite and .onnx on the device ----------------------------------------------------

def test_edge_run_float32_tflite_and_onnx_give_identical_labels(onnx_run):
    d, _ = onnx_run
    tfl, s1 = _edge_run(d / "stft_float32.tflite")
    onx, s2 = _edge_run(d / "stft_float32.onnx")
    assert len(tfl) == int(20 // (10000 / 12800)) == s2["windows"]
    assert set(tfl) <= {"A", "B"}
    assert tfl == onx
    assert "litert" in s1["backend"] and "onnxruntime" in s2["backend"]


def test_edge_run_int8_tflite_and_onnx_agree(onnx_run):
    d, _ = onnx_run
    tfl, _ = _edge_run(d / "stft_int8.tflite", duration=INT8_EDGE_RUN_SECONDS)
    onx, summary = _edge_run(d / "stft_int8.onnx", duration=INT8_EDGE_RUN_SECONDS)
    assert len(tfl) == len(onx) == int(80 // (10000 / 12800)) == summary["windows"]
    agreement = np.mean([a == b for a, b in zip(tfl, onx)])
    assert agreement >= 0.97, agreement


# -- tampered metadata ------------------------------------------------------------------------------------

def _tampered(spec: dict, case: str, marker) -> str:
    s = dict(spec)
    if case == "invalid JSON":
        return json.dumps(s)[:-20]
    if case == "python code":
        return f"__import__('os').system('touch {marker}')"
    if case == "sample_rate string":
        s["sample_rate"] = "12800"
    elif case == "labels not a list":
        s["labels"] = 5
    elif case == "input_shape floats":
        s["input_shape"] = [129.0, 44, 1]
    elif case == "negative sample rate":
        s["sample_rate"] = -12800.0
    elif case == "window over 10 minutes":
        s["window"] = 12800 * 601
    elif case == "schema 2.0":
        s["schema_version"] = "2.0"
    elif case == "three labels for two outputs":
        s["labels"] = ["A", "B", "C"]
    elif case == "nested too deeply":
        return "[" * 100_000 + "]" * 100_000
    return json.dumps(s)


TAMPER_CASES = {
    "invalid JSON": ["not valid JSON"],
    "python code": ["not valid JSON"],
    "sample_rate string": ["'sample_rate' must be a finite number"],
    "labels not a list": ["'labels' must be a list of strings"],
    "input_shape floats": ["'input_shape' must be an integer"],
    "negative sample rate": ["'sample_rate' must be positive"],
    "window over 10 minutes": ["window of 7692800 samples", "more than 600 s"],
    "schema 2.0": ["schema 2.0 is not supported"],
    "three labels for two outputs": ["the model has 2 outputs but its embedded metadata names 3 labels"],
    "nested too deeply": ["nested too deeply"],
}


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
@pytest.mark.parametrize("case", list(TAMPER_CASES))
def test_tampered_metadata_is_a_one_line_error(onnx_run, tmp_path, fmt, case):
    d, _ = onnx_run
    marker = tmp_path / "evaluated"
    text = _tampered(json.loads((d / "spec.json").read_text()), case, marker)
    bad = tmp_path / f"tampered.{fmt}"
    write = _onnx_with_spec_text if fmt == "onnx" else _tflite_with_spec_text
    write(d / f"stft_float32.{fmt}", bad, text)
    line = _one_line_error(_edge_run(bad, check=False), str(bad), *TAMPER_CASES[case])
    assert "embedded metadata" in line
    _one_line_error(run(bin_path("edgekit"), "info", str(bad), check=False), *TAMPER_CASES[case])
    assert not marker.exists()


# -- foreign models (no edgekit metadata) -------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_foreign_model_needs_and_takes_the_missing_flags(onnx_run, tmp_path, fmt):
    d, _ = onnx_run
    write = _onnx_with_spec_text if fmt == "onnx" else _tflite_with_spec_text
    bare = write(d / f"stft_float32.{fmt}", tmp_path / f"foreign.{fmt}", None)

    info = json.loads(run(bin_path("edgekit"), "info", str(bare), "--json").stdout)
    assert info["spec"] is None

    line = _one_line_error(_edge_run(bare, check=False), "no edgekit metadata", "--sample-rate", "--labels")
    assert "(2 names)" in line
    line = _one_line_error(_edge_run(bare, "--sample-rate", "12800", check=False), "--labels")
    assert "--sample-rate" not in line.split("needs", 1)[1].split("(and the front end")[0]
    _one_line_error(_edge_run(bare, "--labels", "A,B", check=False), "--sample-rate")
    _one_line_error(_edge_run(bare, "--sample-rate", "12800", "--labels", "A,B,C", check=False),
                    "3 names", "2 outputs")
    _one_line_error(_edge_run(bare, "--sample-rate", "12800", "--labels", "A,B", "--std", "0", check=False),
                    "positive 'std'")

    spec = json.loads((d / "spec.json").read_text())
    norm = spec["normalization"]
    labels, summary = _edge_run(bare, "--sample-rate", "12800", "--labels", "A,B", "--log",
                                "--mean", str(norm["mean"]), "--std", str(norm["std"]))
    window = 32 + 44 * (256 - 32)          # the window the model's input shape implies: 9888 samples
    assert summary["windows"] == len(labels) == int(20 // (window / 12800))
    assert set(labels) <= {"A", "B"}


@pytest.mark.parametrize("fmt, provider, words", [
    ("onnx", "cuda", ["CUDAExecutionProvider is not available", "onnxruntime-gpu"]),
    ("onnx", "tensorrt", ["TensorrtExecutionProvider is not available"]),
    ("onnx", "bogus", ["bogus is not available", "CPUExecutionProvider"]),
    ("tflite", "cuda", ["--provider cuda applies to .onnx models"]),
])
def test_an_unavailable_provider_is_an_error_not_a_fallback(onnx_run, fmt, provider, words):
    """Where onnxruntime-gpu is not installed (here), asking for CUDA/TensorRT must fail, not run on the CPU."""
    import onnxruntime as ort
    if provider != "bogus" and f"{'CUDA' if provider == 'cuda' else 'Tensorrt'}ExecutionProvider" in \
            ort.get_available_providers():
        pytest.skip(f"{provider} is available here")
    model = onnx_run[0] / f"stft_int8.{fmt}"
    p = _edge_run(model, "--provider", provider, duration="2", check=False)
    _one_line_error(p, *words)
    assert p.stdout == ""


def test_the_cpu_provider_runs(onnx_run):
    labels, summary = _edge_run(onnx_run[0] / "stft_int8.onnx", "--provider", "cpu", duration="2")
    assert len(labels) == summary["windows"] == int(2 // (10000 / 12800)) and "CPUExecutionProvider" in summary["backend"]
