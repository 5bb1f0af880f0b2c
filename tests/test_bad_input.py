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
