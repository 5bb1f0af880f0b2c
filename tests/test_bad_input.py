"""Bad input, the way an attacker or a careless user gives it: each case through the command line must end
with exit status 2, exactly one ``error:`` line on stderr, no traceback, nothing written, within a bound."""
import os
import sys
import textwrap

import pytest

from conftest import BLOCKER, bin_path, run


def _one_error_line(p, *words):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    err = [ln for ln in p.stderr.strip().splitlines() if not ln.startswith("# ")]
    assert len(err) == 1 and err[0].startswith("error: "), p.stderr
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


EDGE_RUN_CASES = {
    "threads 100000": (["--threads", "100000"], ["--threads", "1 to 256", "cores"]),
    "hop inf": (["--hop", "inf"], ["--hop", "finite"]),
    "hop nan": (["--hop", "nan"], ["--hop", "finite"]),
    "duration inf": (["--duration", "inf"], ["--duration", "finite"]),
    "duration nan": (["--duration", "nan"], ["--duration", "finite"]),
    "duration negative": (["--duration", "-1"], ["--duration"]),
    "rate inf": (["--rate", "inf"], ["--rate", "finite"]),
    "mean nan": (["--mean", "nan"], ["--mean", "finite"]),
    "unknown flag": (["--no-such-flag"], ["--no-such-flag", "--help"]),
    "hop 1e308": (["--hop", "1e308"], ["--hop", "from 1e-06 to 86400"]),                    # (issue 28: overflow)
    "duration 1e308": (["--duration", "1e308"], ["--duration", "from 1e-06 to 1e+09"]),
    "rate 1e-300": (["--rate", "1e-300"], ["--rate", "from 0.001 to 1e+09"]),
    "publish bad IPv6": (["--publish", "mqtt://[::1/t"], ["--publish: not a valid URL", "Invalid IPv6 URL"]),
    "publish bad port": (["--publish", "mqtt://h:99999/t"], ["--publish", "bad port '99999'"]),
    "foreign flags beside a spec": (["--sample-rate", "8000", "--labels", "a,b", "--std", "2"],
                                    ["--sample-rate, --labels, --std:", "carries its own edgekit spec"]),
    "gate without a silence label": (["--gate-dbfs", "-30"], ["--gate-dbfs", "no 'silence' label (A, B)"]),
}


@pytest.mark.parametrize("case", list(EDGE_RUN_CASES))
def test_edge_run_bad_flags(tiny_run, case):
    args, words = EDGE_RUN_CASES[case]
    p = run(bin_path("edge-run"), "--model", str(tiny_run / "stft" / "stft_int8.tflite"), *args, check=False,
            timeout=60)
    _one_error_line(p, *words)


def test_onnx_threads_are_capped_too(tiny_run, tmp_path):
    """ONNX Runtime hangs with thousands of threads: the cap applies before any model is loaded."""
    p = run(bin_path("edge-run"), "--model", str(tmp_path / "m.onnx"), "--threads", "2000", check=False,
            timeout=60)
    _one_error_line(p, "--threads", "1 to 256")


def test_a_broken_tflite_runtime_falls_back_or_is_one_line(tiny_run, tmp_path):
    """tflite-runtime built for numpy 1 beside numpy 2 imports, then fails creating the interpreter with a
    SystemError; with ai-edge-litert absent that is a one-line error naming the fix, not a traceback."""
    pkg = tmp_path / "tflite_runtime"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "interpreter.py").write_text(textwrap.dedent("""
        class Interpreter:
            def __init__(self, *a, **k):
                raise SystemError("<built-in method CreateWrapperFromBuffer> returned a result with an exception set")
    """))
    code = BLOCKER + textwrap.dedent("""
        BLOCKED.update({"ai_edge_litert"})
        from edgekit.edge.commands.edge_run import main
        main(sys.argv[1:])
    """)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    p = run(sys.executable, "-c", code, "--model", str(tiny_run / "stft" / "stft_int8.tflite"), "--duration", "1",
            check=False, env=env, timeout=120)
    _one_error_line(p, "tflite-runtime", "SystemError", "numpy<2")


def test_traffic_text_survives_errors_that_overflow():
    """Every third Speed 1e300: errors overflow to inf; with all 1e308 no error is finite, yet forecasts were
    scored: the text says so instead of raising or claiming there was nothing to score."""
    from edgekit.edge.tasks.traffic import TrafficTask

    traffic = TrafficTask()
    line = traffic.format_result({"t": "2017-04-03 00:05", "forecast": 52.1, "units": "km/h",
                                  "from": "2017-04-03 00:00", "actual": 1e300, "error": None, "running_mae": None,
                                  "latency_ms": {"features": 0.1, "inference": 0.2, "total": 0.3}})
    assert "error n/a" in line
    head, _ = traffic.format_summary({
        "forecasts": 112, "target": "Speed", "rows": 140, "source": "csv:x", "first_t": "a", "last_t": "b",
        "stopped_by": "end of source", "model": "m", "backend": "b", "precision": "int8", "look_back": 12,
        "malformed_rows": 0, "gaps": 0, "resets": 0, "filled_rows": 0, "units": "km/h", "scored": 112,
        "mae": None, "rmse": None, "persistence": {"mae": None, "rmse": 3.0}})
    accuracy = [h for h in head if "accuracy" in h][0]
    assert "on 112 forecasts" in accuracy and "not finite" in accuracy and "RMSE 3.000" in accuracy


def test_operator_names_come_from_the_schema_and_int16_inputs_are_named():
    import types

    import numpy as np

    from edgekit.edge.model.metadata import _builtin_name
    from edgekit.edge.model.model import Model
    from edgekit.edge.model.quant import TensorInfo

    assert _builtin_name(27) == "SVDF" and _builtin_name(44) == "UNIDIRECTIONAL_SEQUENCE_LSTM"
    assert _builtin_name(3) == "CONV_2D" and _builtin_name(100000) == "BUILTIN_100000"
    m = Model.__new__(Model)
    m.spec = None
    for dtype, name in ((np.int16, "int16"), (np.int8, "int8"), (np.uint8, "int8"), (np.float32, "float32")):
        m.backend = types.SimpleNamespace(input=TensorInfo("x", (1, 4), np.dtype(dtype), 0.5, 0))
        assert m.precision == name


def test_onnx_on_a_32_bit_userland_is_a_one_line_error(monkeypatch):
    import types

    from edgekit.edge.core.errors import EdgekitError
    from edgekit.edge.model.backends import onnx as backend

    monkeypatch.setitem(sys.modules, "onnxruntime", None)          # not importable, as on armv7l
    monkeypatch.setattr(backend, "struct", types.SimpleNamespace(calcsize=lambda fmt: 4))
    with pytest.raises(EdgekitError, match="no build for this 32-bit Python; run the .tflite"):
        backend._ort()
    monkeypatch.setattr(backend, "struct", types.SimpleNamespace(calcsize=lambda fmt: 8))
    with pytest.raises(EdgekitError, match="pip install"):
        backend._ort()


def test_unprintable_csv_header_names_are_escaped_in_the_error(tmp_path):
    from edgekit.edge.core.errors import EdgekitError
    from edgekit.edge.formats.rows import RowParser

    parser = RowParser(["Speed"], source="csv:x")
    with pytest.raises(EdgekitError) as e:
        list(parser.parse(["Date,Sp\x00ed,\x1b[2JVol\r\n", "2017-04-02 0:00,1,2\r\n"]))
    assert "column 'Speed' is missing" in e.value.message
    assert "\x00" not in e.value.message and "\x1b" not in e.value.message and "\\x1b[2JVol" in e.value.message


def test_unwritable_places_that_exist_are_one_line_errors_before_any_work(tiny_run):
    p = run(bin_path("edgekit"), "compare", str(tiny_run / "stft" / "stft_int8.tflite"), "--csv", "/proc/x.csv",
            check=False, timeout=120)
    _one_error_line(p, "--csv /proc/x.csv", "cannot write")
    assert "wrote" not in p.stdout


@pytest.mark.slow
def test_convert_notes_calib_only_when_asked(tiny_run, tmp_path):
    out = tmp_path / "m.tflite"
    p = run(bin_path("edgekit"), "convert", str(tiny_run / "stft"), "--to", "tflite", "--precision", "int8",
            "-o", str(out))
    assert "--calib" not in p.stdout + p.stderr                        # none was given: no note about one
    p = run(bin_path("edgekit"), "convert", str(tiny_run / "stft"), "--to", "tflite", "--precision", "int8",
            "--calib", "100000", "-o", str(out))
    assert "note: --calib 100000 asked" in p.stdout


def test_training_logs_one_line_per_epoch_when_not_a_terminal(monkeypatch):
    """Keras's verbose=1 progress bar is a stream of escapes in a log file: fit() asks for one line per epoch."""
    import types

    from edgekit.train import fit as fitmod

    seen = {}

    class FakeModel:
        def fit(self, *a, verbose, **k):
            seen["verbose"] = verbose
            return types.SimpleNamespace(history={"loss": [1.0], "val_loss": [1.0]})

    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    fitmod.fit(FakeModel(), [0], [0], [0], [0], epochs=1, batch_size=1, verbose=1)
    assert seen["verbose"] == 2


# -- tampered metadata and hostile pickles, through the device commands -------------------------------------

def _spec_text(tiny_run, change):
    import json
    d = json.loads((tiny_run / "stft" / "spec.json").read_text())
    change(d)
    return json.dumps(d)


def _set(path, value):
    def change(d):
        *keys, last = path
        for k in keys:
            d = d[k]
        d[last] = value
    return change


SPEC_CASES = {
    "window 10**400": (lambda d: _set(["window"], 10 ** 400)(d), "'window'"),
    "sample_rate 10**400": (lambda d: _set(["sample_rate"], 10 ** 400)(d), "'sample_rate'"),
    "mean 10**400": (lambda d: _set(["normalization", "mean"], 10 ** 400)(d), "normalization"),
    "log_eps 10**400": (lambda d: _set(["features", "log_eps"], 10 ** 400)(d), "log_eps"),
    "schema in Unicode digits": (lambda d: _set(["schema_version"], "\u00b2.0")(d), "schema_version"),
    "kaiser 1e308": (lambda d: _set(["features", "window"], ["kaiser", 1e308])(d), "window"),
    "std 5e-324": (lambda d: _set(["normalization", "std"], 5e-324)(d), "std"),
    "log_eps 1e308": (lambda d: _set(["features", "log_eps"], 1e308)(d), "log_eps"),
    "label with a newline": (lambda d: _set(["labels"], ["A", "B\nerror: forged"])(d), "unprintable"),
    "label with an escape": (lambda d: _set(["labels"], ["A", "\x1b[2JB"])(d), "unprintable"),
    "lone surrogate label": (lambda d: _set(["labels"], ["A", "\ud800"])(d), "unprintable"),
    "regression on a classifier": (lambda d: (_set(["kind"], "regression")(d), _set(["target"], {
        "column": "x", "scaling": {"type": "none"}})(d)), "'kind' regression does not fit the stft task"),
}


@pytest.fixture(scope="module")
def tampered(tiny_run, tmp_path_factory):
    from test_onnx import _tflite_with_spec_text
    d = tmp_path_factory.mktemp("tampered")
    return {case: _tflite_with_spec_text(tiny_run / "stft" / "stft_float32.tflite", d / f"{i}.tflite",
                                         _spec_text(tiny_run, change))
            for i, (case, (change, _)) in enumerate(SPEC_CASES.items())}


@pytest.mark.parametrize("command", ["edge-run", "info"])
@pytest.mark.parametrize("case", list(SPEC_CASES))
def test_tampered_spec_values_are_one_line_errors(tampered, case, command):
    model = str(tampered[case])
    args = [bin_path("edge-run"), "--model", model, "--duration", "1"] if command == "edge-run" else \
        [bin_path("edgekit"), "info", model]
    line = _one_error_line(run(*args, check=False, timeout=120), SPEC_CASES[case][1])
    assert line.isprintable()


def test_hostile_pickles_are_one_line_errors_and_run_nothing(tiny_run, tmp_path):
    import pickle

    import numpy as np

    marker = tmp_path / "ran"
    row = [0.0] * 10000
    laughs = {"time": np.arange(10000) / 12800.0, "signal": [row] * 2000, "label": [[1.0, 0.0]] * 2000}
    deep = 0.0
    for _ in range(200):
        deep = [deep]
    cases = {
        "laughs.pkl": (laughs, "'signal'"),            # 2 × 10⁷ samples from one shared row; counted, not built
        "deep.pkl": ({"time": np.arange(10000) / 12800.0, "signal": [deep], "label": [[1.0, 0.0]]},
                     "nested too deeply"),
        "code.pkl": (None, "refusing to unpickle os.system"),
    }
    for name, (obj, words) in cases.items():
        p = tmp_path / name
        if obj is None:                                  # a pickle that would run a shell command
            p.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
        else:
            p.write_bytes(pickle.dumps(obj, protocol=4))
        r = run(bin_path("edge-run"), "--model", str(tiny_run / "stft" / "stft_int8.tflite"), "--source",
                f"pkl:{p}", check=False, timeout=120)
        if name == "laughs.pkl":
            assert r.returncode in (0, 2) and "Traceback" not in r.stderr   # 2·10⁷ samples: within the bound
        else:
            _one_error_line(r, words)
    assert not marker.exists()


# -- issue 28: tracebacks that were still reachable, and memory bounded on every input ------------------------

def _edge_run(tiny_run, *args, **kw):
    return run(bin_path("edge-run"), "--model", str(tiny_run / "stft" / "stft_int8.tflite"), *args, check=False,
               timeout=120, **kw)


def test_closed_stdin_and_stdout_are_one_line(tiny_run):
    import subprocess
    model = str(tiny_run / "stft" / "stft_int8.tflite")
    p = subprocess.run([bin_path("edge-run"), "--model", model, "--source", "stdin"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.close(0))
    _one_error_line(p, "--source stdin: standard input is closed")
    p = subprocess.run([bin_path("edge-run"), "--model", model, "--source", "synthetic", "--duration", "2", "--json"],
                       stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=lambda: os.close(1))
    _one_error_line(p, "standard output is closed")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system (not Linux)")
@pytest.mark.parametrize("command", ["edge-run", "info", "bench"])
def test_stdout_on_a_full_disk_is_one_line(tiny_run, command):
    import subprocess
    model = str(tiny_run / "stft" / "stft_int8.tflite")
    args = {"edge-run": [bin_path("edge-run"), "--model", model, "--source", "synthetic", "--duration", "2", "--json"],
            "info": [bin_path("edgekit"), "info", model],
            "bench": [bin_path("edgekit"), "bench", model, "--runs", "3", "--warmup", "0"]}[command]
    with open("/dev/full", "w") as full:
        p = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    _one_error_line(p, "cannot write the output (No space left on device)")


def test_pickle_time_steps_that_overflow_and_keys_too_deep_to_print(tiny_run, tmp_path):
    import pickle

    import numpy as np
    sig, lab = np.zeros((2, 100), np.float32), np.eye(2)
    for step, words in ((1e300, "a sample rate of 1e-300 Hz"), (1e-320, "a sample rate of inf Hz")):
        (tmp_path / "t.pkl").write_bytes(pickle.dumps({"time": np.arange(100) * step, "signal": sig, "label": lab}))
        _one_error_line(_edge_run(tiny_run, "--source", f"pkl:{tmp_path / 't.pkl'}"), words, "0.001 to 1e+06 Hz")
    body = pickle.dumps({"signal": sig, "label": lab}, protocol=2)        # a dict key nested 100,000 tuples deep
    (tmp_path / "deep.pkl").write_bytes(body[:3] + b")" + b"\x85" * 100_000 + b"K\x01s" + body[3:])
    _one_error_line(_edge_run(tiny_run, "--source", f"pkl:{tmp_path / 'deep.pkl'}"), "missing key(s) 'time'",
                    "<tuple>")


def test_endless_and_oversized_pickles_are_refused_as_they_are_read(tiny_run, tmp_path):
    import struct
    _one_error_line(_edge_run(tiny_run, "--source", "pkl:/dev/zero"), "not a readable pickle")
    (tmp_path / "claim.pkl").write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 100 << 30) + b"abc")   # 100 GB claimed
    _one_error_line(_edge_run(tiny_run, "--source", f"pkl:{tmp_path / 'claim.pkl'}"), "claim.pkl")


def test_a_wav_whose_header_fields_disagree_is_refused(tiny_run, tmp_path):
    """16-bit stereo in 2-byte blocks was decoded as 8-bit and scored with confidence."""
    import struct
    data = bytes(4000)
    fmt = struct.pack("<HHIIHH", 1, 2, 12800, 12800 * 2, 2, 16)
    (tmp_path / "x.wav").write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
                                     struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    _one_error_line(_edge_run(tiny_run, "--source", f"wav:{tmp_path / 'x.wav'}"), "the header's fields disagree",
                    "2 channel(s) of 16 bits need 4-byte blocks, but block_align says 2")


def test_one_damaged_clip_is_skipped_and_counted(tiny_run, tmp_path):
    import json

    import numpy as np
    from edgekit.edge.formats.wav import write_wav
    for i, label in enumerate("ABAB"):
        (tmp_path / label).mkdir(exist_ok=True)
        write_wav(tmp_path / label / f"{i}.wav", 0.1 * np.sin(np.arange(10000) * (0.3 + i)), 12800)
    (tmp_path / "A" / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    p = _edge_run(tiny_run, "--source", f"wav:{tmp_path}", "--json")
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.splitlines()[-1])["summary"]
    assert summary["windows"] == 4
    assert summary["skipped_files"] == [{"file": str(tmp_path / "A" / "bad.wav"),
                                         "reason": "no fmt chunk (damaged or not a WAV file); give a PCM or float WAV"}]
    assert f"skipped {tmp_path / 'A' / 'bad.wav'}: no fmt chunk" in p.stderr


def test_resampling_is_bounded(tiny_run, tmp_path):
    """A WAV at 2,000,003 Hz took 4.3 GB and 13 s (a 40-million-tap filter); 1 Hz and 4.29 GHz headers are absurd."""
    import struct
    import tracemalloc

    import numpy as np
    from edgekit.edge.formats.audio import load_audio
    from edgekit.edge.formats.wav import write_wav
    from edgekit.edge.frontend.resample import rational_factors
    assert rational_factors(2_000_003, 12800) == (4, 625)             # the nearest ratio with small factors
    write_wav(tmp_path / "odd.wav", np.zeros(200_000), 2_000_003)
    tracemalloc.start()
    try:
        assert len(load_audio(tmp_path / "odd.wav", 12800)) == 1280
        assert tracemalloc.get_traced_memory()[1] < 100 << 20          # bytes: numpy's allocations, at the peak
    finally:
        tracemalloc.stop()
    p = _edge_run(tiny_run, "--source", f"wav:{tmp_path / 'odd.wav'}", "--json")
    assert p.returncode == 2 and "the source ended before one full window" in p.stderr, p.stderr
    for rate in (1, 4_294_967_295):
        raw = (tmp_path / "odd.wav").read_bytes()
        (tmp_path / f"r{rate}.wav").write_bytes(raw[:24] + struct.pack("<II", rate, min(rate * 2, 2 ** 32 - 1)) + raw[32:])
        _one_error_line(_edge_run(tiny_run, "--source", f"wav:{tmp_path / f'r{rate}.wav'}"),
                        "edgekit resamples within a factor of 1000")


def test_a_gzip_idx_bomb_is_read_one_image_at_a_time(tmp_path):
    """A 1.7 MB gzip claiming 500,000 images (392 MB) was inflated whole before the first image."""
    import gzip
    import itertools
    import resource
    import struct
    from pathlib import Path

    from edgekit.edge.core.spec import Spec
    from edgekit.edge.frontend.image import image_features
    from edgekit.edge.sources.images import IdxSource
    with gzip.open(tmp_path / "bomb-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
        f.write(struct.pack(">4I", 0x803, 500_000, 28, 28))
        for _ in range(50):
            f.write(bytes(28 * 28 * 10_000))
    spec = Spec(task="image", kind="classification", sample_rate=1.0, window=1, input_shape=(28, 28, 1),
                features=image_features(), normalization={"type": "none"}, labels=tuple("0123456789"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    items = list(itertools.islice(IdxSource(Path(tmp_path / "bomb-images-idx3-ubyte.gz"), spec).items(), 5))
    assert len(items) == 5 and items[0].image.shape == (28, 28)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 << 10        # KiB: < 100 MB more


def test_convert_onto_a_full_disk_is_one_line_and_keeps_the_old_file(tiny_run, tmp_path):
    import subprocess
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    full = tmp_path / "full"
    full.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)]).returncode != 0:
        pytest.skip("this machine cannot mount a tmpfs (a container without the capability)")
    try:
        (full / "m.tflite").write_bytes(b"old")
        p = run(bin_path("edgekit"), "convert", str(tiny_run / "stft"), "-o", str(full / "m.tflite"), check=False,
                timeout=300)
        _one_error_line(p, "m.tflite: cannot write it (No space left on device)", "not written")
        assert (full / "m.tflite").read_bytes() == b"old" and sorted(os.listdir(full)) == ["m.tflite"]
    finally:
        subprocess.run(["umount", str(full)])
