"""``edgekit compare`` (float vs quantized on the same test data) and ``edgekit bench`` (device latency)."""
import csv
import importlib.util
import json

import numpy as np
import pytest

from conftest import bin_path, device_python, run

# The device runtime must work where these cannot be imported (same pattern as test_no_tensorflow.py).

ROW_KEYS = {"artifact", "format", "precision", "size_bytes", "metric", "value", "agreement", "latency_ms"}



def one_line_error(p, *words):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), p.stderr
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in err[0], err[0]
    return err[0]


# -- compare ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_compare_json_csv_plot(tiny_run, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("matplotlib")
    d = tiny_run / "stft"
    arts = [d / "model.keras", d / "stft_float32.tflite", d / "stft_int8.tflite"]
    p = run(bin_path("edgekit"), "compare", *map(str, arts), "--json", "--runs", "5",
            "--csv", str(tmp_path / "c.csv"), "--plot", str(tmp_path / "c.png"))
    rep = json.loads(p.stdout)                       # stdout is the JSON object and nothing else
    rows = rep["rows"]
    assert [r["artifact"] for r in rows] == [str(a) for a in arts]
    for r in rows:
        assert ROW_KEYS <= set(r), set(r)
        assert {"p50", "p99"} <= set(r["latency_ms"])
        assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
        assert r["metric"] == "accuracy" and 0.0 <= r["value"] <= 1.0
        assert r["size_bytes"] == (tiny_run / "stft" / r["artifact"].split("/")[-1]).stat().st_size
        assert sum(map(sum, r["confusion"])) == rep["n_test"]
        assert r["peak_rss_mb"] is None or r["peak_rss_mb"] > 0
    ref, f32, i8 = rows
    # the float reference agrees with itself exactly
    assert ref["reference"] and not f32["reference"] and not i8["reference"]
    assert ref["agreement"] == 1.0 and ref["max_abs_diff"] == 0.0 and ref["delta"] == 0.0
    assert ref["format"] == "keras" and f32["format"] == i8["format"] == "tflite"
    assert (f32["precision"], i8["precision"]) == ("float32", "int8")
    # Keras's own test accuracy, recorded at training, is what compare measures for the reference
    metrics = json.loads((d / "metrics.json").read_text())
    assert ref["value"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert f32["agreement"] >= 0.99 and f32["max_abs_diff"] < 1e-4
    assert i8["agreement"] >= 0.9 and i8["size_bytes"] < f32["size_bytes"] / 3
    assert i8["max_abs_diff"] > 0.0
    # --csv: a header and one line per artifact; --plot: a real PNG
    with open(tmp_path / "c.csv") as f:
        lines = list(csv.DictReader(f))
    assert [r["artifact"] for r in lines] == [str(a) for a in arts]
    assert float(lines[2]["value"]) == pytest.approx(i8["value"])
    png = (tmp_path / "c.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000


@pytest.mark.slow
def test_compare_table_marks_the_reference(tiny_run):
    d = tiny_run / "stft"
    p = run(bin_path("edgekit"), "compare", str(d / "stft_int8.tflite"), str(d / "stft_float32.tflite"),
            "--runs", "5")
    lines = p.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("artifact"))
    table = [lines[head]] + lines[head + 2:head + 4]
    assert len({len(ln) for ln in table}) == 1, table          # aligned columns
    # without a .keras model the float32 artifact is the reference, listed first and marked
    assert table[1].startswith("stft_float32.tflite *") and table[2].startswith("stft_int8.tflite ")
    assert "Δ pp" in table[0] and "agreement" in table[0]
    assert "100.00%" in table[1]


@pytest.mark.slow
def test_compare_rejects_what_is_not_a_model_of_this_task(tiny_run, tmp_path):
    pytest.importorskip("tensorflow")
    from edgekit.convert.metadata import embed_tflite
    from edgekit.edge.model.metadata import read_spec

    d = tiny_run / "stft"
    good = str(d / "stft_int8.tflite")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model\n")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 256)
    # the same network, but its spec says it classifies other things: an artifact of another task
    spec = read_spec(d / "stft_float32.tflite")
    other = tmp_path / "other_task.tflite"
    other.write_bytes(embed_tflite((d / "stft_float32.tflite").read_bytes(), spec.with_(labels=("X", "Y"))))
    cases = [([good, str(notes)], ["notes.txt", "not a model"]),
             ([good, str(junk)], ["junk.tflite", "not a valid TFLite"]),
             ([good, str(other)], ["other_task.tflite", "another task", "labels"]),
             ([good, str(tmp_path / "missing.onnx")], ["missing.onnx", "no such file"]),
             ([good, "--plot", str(tmp_path / "c.jpg")], ["--plot", ".png"])]
    for args, words in cases:
        p = run(bin_path("edgekit"), "compare", *args, "--json", check=False)
        one_line_error(p, *words)
        assert p.stdout == ""                         # no rows were printed
    assert not (tmp_path / "c.jpg").exists()


@pytest.mark.slow
def test_compare_layers_tflite_int8(tiny_run):
    pytest.importorskip("tensorflow")
    d = tiny_run / "stft"
    p = run(bin_path("edgekit"), "compare", str(d / "model.keras"), str(d / "stft_int8.tflite"), "--layers",
            "--json", "--runs", "3")
    rows = json.loads(p.stdout)["rows"]
    assert "layers" not in rows[0]                    # float models have no quantization error
    info = rows[1]["layers"]
    assert info["tool"] == "tf.lite.experimental.QuantizationDebugger" and info["windows"] > 0
    layers = info["layers"]
    ops = {L["op"] for L in layers}
    assert {"CONV_2D", "FULLY_CONNECTED"} <= ops, ops
    errs = [L["rmse_over_scale"] for L in layers]
    assert all(np.isfinite(errs)) and errs == sorted(errs, reverse=True)
    # a quantized conv/dense layer has at least the rounding error, and not absurdly more
    conv = [L["rmse_over_scale"] for L in layers if L["op"] in ("CONV_2D", "FULLY_CONNECTED")]
    assert max(conv) > 0.05 and max(conv) < 50


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("edgekit.train.traffic") is None,
                    reason="the traffic task is not installed")
def test_compare_regression_reports_normalised_and_physical_errors(tmp_path):
    pytest.importorskip("tensorflow")
    from edgekit.convert.compare import compare
    from edgekit.convert.export import convert_run
    from edgekit.train.traffic import train_traffic

    out = tmp_path / "traffic"
    train_traffic(out, look_back=12, epochs=2, days=7, verbose=0, log=lambda *a: None)
    quiet = lambda *a, **k: None  # noqa: E731
    for precision in ("float32", "int8"):
        convert_run(out, "tflite", precision, log=quiet)
    rep = compare([str(out / "model.keras"), str(out / "traffic_float32.tflite"),
                   str(out / "traffic_int8.tflite")], runs=3, log=quiet)
    spec_target = json.loads((out / "spec.json").read_text())["target"]
    scaling = spec_target["scaling"]
    assert rep["kind"] == "regression"
    for r in rep["rows"]:
        assert r["metric"] == "mse" and r["value"] == r["mse"] > 0
        assert r["unit"] == spec_target["units"]
        assert 0.0 <= r["agreement"] <= 1.0
        if scaling["type"] == "minmax":          # a linear scaling: errors scale by (max - min)
            span = scaling["max"] - scaling["min"]
            assert r["mae_physical"] == pytest.approx(r["mae"] * span, rel=1e-6)
            assert r["mse_physical"] == pytest.approx(r["mse"] * span ** 2, rel=1e-6)
    ref = rep["rows"][0]
    assert ref["agreement"] == 1.0 and ref["max_abs_diff"] == 0.0
    metrics = json.loads((out / "metrics.json").read_text())
    assert ref["mae"] == pytest.approx(metrics["test_mae"], rel=1e-5)


# -- bench -----------------------------------------------------------------------------------------------

def _check_stats(s, n):
    assert s["n"] == n
    assert 0 <= s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"]
    assert s["min"] <= s["mean"] <= s["max"] and s["std"] >= 0


def test_bench_json_without_tensorflow(tiny_run):
    model = str(tiny_run / "stft" / "stft_int8.tflite")
    p = device_python("""
        import sys
        from edgekit.edge.commands.edgekit import main
        try:
            main(sys.argv[1:])
        finally:
            bad = sorted(k for k in sys.modules if k.split(".")[0] in BLOCKED)
            print("loaded-blocked:", bad, file=sys.stderr)
    """, "bench", model, "--runs", "25", "--warmup", "4", "--threads", "1,2", "--json")
    assert "loaded-blocked: []" in p.stderr
    rep = json.loads(p.stdout)
    assert rep["precision"] == "int8" and rep["runs"] == 25 and rep["warmup"] == 4
    assert [r["threads"] for r in rep["results"]] == [1, 2]
    for r in rep["results"]:
        assert set(r["stages"]) == {"features", "quantize", "inference", "postprocess", "total"}
        for s in r["stages"].values():
            _check_stats(s, 25)
        st = r["stages"]
        assert st["total"]["mean"] >= st["inference"]["mean"] and st["total"]["min"] >= st["inference"]["min"]
        assert r["init_ms"] > 0 and r["first_inference_ms"] > 0 and r["warmup"]["runs"] == 4
        # real-time factor: seconds of signal per second of compute
        assert r["real_time_factor"] == pytest.approx(rep["window_seconds"] / (st["total"]["mean"] / 1e3),
                                                      rel=1e-3)
        assert r["peak_rss_mb"] > 0
    assert rep["window_seconds"] == pytest.approx(10000 / 12800)


def test_bench_text_output_and_bad_input(tiny_run, tmp_path):
    model = str(tiny_run / "stft" / "stft_float32.tflite")
    p = run(bin_path("edgekit"), "bench", model, "--runs", "10", "--warmup", "0")
    out = p.stdout
    for words in ("threads 1:", "init", "first inference", "front end", "quantize", "inference", "post-process",
                  "total", "p50", "p90", "p99", "real-time factor", "peak RSS"):
        assert words in out, (words, out)
    one_line_error(run(bin_path("edgekit"), "bench", model, "--threads", "0", check=False), "--threads")
    one_line_error(run(bin_path("edgekit"), "bench", model, "--threads", "1,x", check=False), "--threads")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    one_line_error(run(bin_path("edgekit"), "bench", str(notes), check=False), "notes.txt")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x01\x02garbage")
    one_line_error(run(bin_path("edgekit"), "bench", str(junk), check=False), "junk.onnx")


def test_time_window_path_counts_and_first_window(tiny_run):
    from edgekit.edge.pipeline.bench import STAGES, time_window_path, windows_for
    from edgekit.edge.model.model import Model

    m = Model(tiny_run / "stft" / "stft_int8.tflite", threads=1)
    w = windows_for(m.spec, 4, seed=1)
    t = time_window_path(m, w, runs=7, warmup=3)
    assert t["runs"] == 7 and t["warmup_ms"]["n"] == 3 and t["first_ms"] > 0
    for k in STAGES:
        _check_stats(t[k], 7)
    t0 = time_window_path(m, w, runs=2, warmup=0)
    assert t0["warmup_ms"]["n"] == 0 and t0["total"]["max"] >= t0["first_ms"] - 1e-9


def test_windows_for_every_task():
    from edgekit.edge import frontend as fe
    from edgekit.edge.pipeline.bench import windows_for
    from edgekit.edge.core.errors import EdgekitError
    from edgekit.edge.core.spec import Spec
    from edgekit.edge.tasks import checked

    stft = Spec(task="stft", kind="classification", sample_rate=12800.0, window=2048,
                input_shape=fe.spectrogram_shape(2048, fe.spectrogram_features()),
                features=fe.spectrogram_features(), normalization={"type": "none"}, labels=("A", "B"))
    x = windows_for(stft, 3, seed=2)
    assert x.shape == (3, 2048) and x.dtype == np.float32
    assert np.array_equal(x, windows_for(stft, 3, seed=2)) and not np.array_equal(x, windows_for(stft, 3, seed=3))
    assert fe.build(stft)(x).shape == (3, *stft.input_shape)
    speech = stft.with_(sample_rate=8000.0)           # below what the vibration model supports: noise
    assert windows_for(speech, 2).shape == (2, 2048)

    rows = checked(Spec.from_dict(dict(
        Spec(task="traffic", kind="regression", sample_rate=1 / 300, window=12, input_shape=(12, 2),
             features=fe.rows_features(["Speed", "ToVol"], "Speed"),
             normalization={"type": "minmax", "min": [0.0, 5.0], "max": [100.0, 300.0]},
             target={"column": "Speed", "units": "km/h", "scaling": {"type": "minmax", "min": 0.0, "max": 100.0}}
             ).to_dict())))
    x = windows_for(rows, 5, seed=0)
    assert x.shape == (5, 12, 2)
    assert x[..., 1].min() >= 5.0 and x[..., 1].max() <= 300.0 and x[..., 0].max() <= 100.0
    feats = fe.build(rows)(x)
    assert feats.shape == (5, 12, 2) and feats.min() >= 0.0 and feats.max() <= 1.0

    image = checked(Spec.from_dict(Spec(task="image", kind="classification", sample_rate=1.0, window=1,
                                input_shape=(28, 28, 1), features=fe.image_features(),
                                normalization={"type": "scale", "scale": 1 / 255},
                                labels=tuple("0123456789")).to_dict()))
    x = windows_for(image, 2)
    assert x.shape == (2, 28, 28) and 0 <= x.min() and x.max() <= 255
    assert fe.build(image)(x).shape == (2, 28, 28, 1)
    with pytest.raises(EdgekitError):
        windows_for(image, 0)
