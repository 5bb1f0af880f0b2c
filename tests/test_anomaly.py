"""Anomaly detection (issue 27): training on normal windows only, the threshold in the spec, conversion verified by
scores, edge-run's score/anomaly/truth and events, compare's AUC/pAUC and plot, and every refusal as one line.

One tiny model (synthetic vibration, a few epochs) serves every test; the full-size figures are
benchmarks/anomaly.py's."""
import json
import math

import numpy as np
import pytest

from conftest import bin_path, device_python, run

from edgekit.convert.compare.metrics import auc, pauc, spearman
from edgekit.edge.core.errors import EdgekitError

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny anomaly run (120 synthetic signals, A normal, 6 epochs) converted to TFLite float32 and int8, and a
    labelled pickle of other machines (A and B) to test on."""
    from edgekit.convert.export import convert_run, print_report
    from edgekit.train.anomaly import train_anomaly
    from edgekit.train.datasets import load_signals, save_course_pickle

    d = tmp_path_factory.mktemp("anomaly")
    logs: list[str] = []
    metrics = train_anomaly(d / "run", n=120, epochs=6, seed=1, verbose=0, log=logs.append)
    reports = {p: convert_run(d / "run", "tflite", p, log=logs.append) for p in ("float32", "int8")}
    for rep in reports.values():
        print_report(rep, logs.append)
    save_course_pickle(d / "ab.pkl", load_signals(None, seed=7, n=40))
    return {"dir": d, "run": d / "run", "metrics": metrics, "reports": reports, "logs": logs,
            "f32": str(d / "run" / "anomaly_float32.tflite"), "int8": str(d / "run" / "anomaly_int8.tflite"),
            "pkl": str(d / "ab.pkl")}


def edgekit_cli(*args, capsys):
    """``edgekit ARGS`` in this process: (exit status, stdout, stderr)."""
    from edgekit.edge.commands.edgekit import main
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_training_keeps_the_threshold_in_the_spec_and_the_normal_scores_in_metrics(tiny):
    from edgekit.edge.core.spec import Spec
    spec = Spec.load(tiny["run"])
    a = spec.anomaly
    assert spec.task == "anomaly" and spec.kind == "anomaly" and spec.labels == ("A",)
    assert a["method"] == "quantile" and a["quantile"] == 0.99 and a["fit"] in ("empirical", "lognormal")
    assert a["threshold"] > 0 and a["calibration_windows"] == tiny["metrics"]["n_calibration"] >= 5
    assert spec.detection["min_count"] == 3 and spec.detection["average"] == pytest.approx(2.5 * 10000 / 12800)
    m = json.loads((tiny["run"] / "metrics.json").read_text())
    assert m["parameters"] <= 300_000 and m["normal_label"] == "A"
    assert m["scores"]["calibration"]["n"] == a["calibration_windows"] and m["scores"]["test_anomalous"]["n"] > 0
    assert 0.5 < m["test_auc"] <= 1 and m["test_pauc"] is not None and set(m["flagged_share"]) == {"A", "B"}
    with np.load(tiny["run"] / "test.npz") as z:
        assert set(np.unique(z["y"])) == {0, 1} and z["x"].shape[1] == 10000
        assert (z["y"] == 0).sum() == m["n_test_normal"] and (z["y"] == 1).sum() == m["n_test_anomalous"]


def test_conversion_is_verified_by_scores(tiny):
    for p, rep in tiny["reports"].items():
        assert rep["spearman"] >= (0.99 if p == "float32" else 0.9)
        assert rep["auc"] == pytest.approx(rep["reference_auc"], abs=0.02) and rep["flag_agreement"] > 0.9
    assert any("scores rank as Keras's (Spearman" in line for line in tiny["logs"])


def test_the_threshold_is_chosen_on_held_out_normal_scores():
    from edgekit.train.anomaly import choose_threshold
    rng = np.random.default_rng(0)
    s = np.exp(rng.normal(-2, 0.3, 1000))
    emp = choose_threshold(s, quantile=0.99)
    assert emp["fit"] == "empirical" and emp["threshold"] == pytest.approx(np.quantile(s, 0.99))
    few = choose_threshold(s[:50], quantile=0.99)                  # 50 windows cannot show their 1 % tail
    assert few["fit"] == "lognormal" and few["threshold"] == pytest.approx(math.exp(-2 + 0.3 * 2.326), rel=0.1)
    fa = choose_threshold(s, false_alarms_per_hour=1.0, window_seconds=1.0)
    assert fa["quantile"] == pytest.approx(1 - 1 / 3600) and fa["fit"] == "lognormal"
    assert fa["threshold"] > emp["threshold"] and fa["method"] == "false_alarms_per_hour"
    assert choose_threshold(s, threshold=0.5) == {"threshold": 0.5, "score": "mse", "method": "given",
                                                  "calibration_windows": 1000}
    with pytest.raises(EdgekitError, match="more alarms than there are windows"):
        choose_threshold(s, false_alarms_per_hour=7200, window_seconds=1.0)


def test_windows_of_a_recording_never_straddle_the_split():
    from edgekit.train.anomaly import DEFAULT_CLIP, Recording, split
    many = [Recording(np.full(3000, i, np.float32), "ok") for i in range(30)] + \
        [Recording(np.full(1000, -1, np.float32), "bad")]
    parts, bad, labels, how = split(many, "ok", 1000, DEFAULT_CLIP, seed=0)
    owner = {p: {int(w[0]) for w in v} for p, v in parts.items()}
    assert sum(len(v) for v in owner.values()) == 30 and "whole" in how          # each recording in one part only
    assert all(len(parts[p]) == 3 * len(owner[p]) for p in parts) and len(parts["train"]) == 54
    assert len(bad) == 1 and labels == ["bad"] and (bad == -1).all()
    one = [Recording(np.arange(100_000, dtype=np.float32), "ok")]                  # one long recording: cut in time
    parts, _, _, how = split(one, "ok", 1000, DEFAULT_CLIP)
    assert [len(parts[p]) for p in ("train", "val", "calibration", "test")] == [60, 10, 15, 15] and "in time" in how
    starts = {p: v[:, 0] for p, v in parts.items()}
    assert starts["train"].max() < starts["val"].min() < starts["calibration"].min() < starts["test"].min()


def test_rank_statistics_match_their_definitions():
    rng = np.random.default_rng(3)
    for _ in range(50):
        a, b = np.round(rng.normal(0, 1, 30), 1), np.round(rng.normal(1, 1, 20), 1)
        brute = np.mean([(x > z) + 0.5 * (x == z) for x in b for z in a])
        assert auc(a, b) == pytest.approx(brute) and pauc(a, b, 1.0) == pytest.approx(brute)
    assert pauc([0, 1, 2, 3], [4, 5]) == 1.0 and pauc([4, 5, 6], [0, 1]) == 0.0
    # the ten normal windows: the top one above every anomaly, so the ROC rises only after FPR 0.1
    assert pauc(np.r_[np.arange(9), 100.0], np.full(5, 50.0)) == 0.0
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == 1.0 and spearman([1, 1], [2, 3]) is None
    assert auc([], [1.0]) is None


def test_the_detector_fires_on_the_average_score_at_the_threshold():
    from types import SimpleNamespace
    from edgekit.edge.pipeline.detect import stream_detector
    from edgekit.edge.tasks.base import Options
    from test_spec import make_spec
    spec = make_spec(task="anomaly", kind="anomaly", labels=("A",), anomaly={"threshold": 1.0, "score": "mse"},
                     detection={"average": 2.0, "min_count": 3, "suppression": 5.0, "nothing": []})
    run = SimpleNamespace(opt=Options(detection={"threshold": 0.5}), timed=True)
    det, gate, settings = stream_detector(spec, run)
    assert settings["threshold"] == 1.0 and gate is None           # the spec's score threshold (edge-run sets it)
    got = [det.push(t, [s]) for t, s in enumerate([0.1, 3.0, 3.0, 0.5, 0.2, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0])]
    fired = [(i, e) for i, e in enumerate(got) if e]
    assert [i for i, _ in fired] == [2, 7]                      # (0.1+3+3)/3 >= 1 at t=2; then 5 s suppressed
    assert fired[0][1] == {"event": "anomaly", "t": 2.0, "score": pytest.approx(6.1 / 3)}
    assert stream_detector(spec, SimpleNamespace(opt=None, timed=False)) == (None, None, None)


def test_edge_run_scores_every_window_and_fires_events(tiny, tmp_path):
    thr = tiny["metrics"]["threshold"]["threshold"]
    p = run(bin_path("edge-run"), "--model", tiny["int8"], "--duration", "40", "--json", "--threshold",
            f"{thr / 100:.8g}", "--shadow", tiny["f32"], "--record", str(tmp_path / "rec"))
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    wins = [x for x in lines if "anomaly" in x]
    events = [x for x in lines if "event" in x]
    s = lines[-1]["summary"]
    assert len(wins) == 51 and all({"t", "score", "anomaly", "latency_ms", "truth", "shadow"} <= set(w) for w in wins)
    assert [w["truth"] for w in wins] == ["A"] * 39 + ["B"] * 12             # the fault from 30 s on
    assert all(w["anomaly"] == (w["score"] >= thr / 100) for w in wins)
    assert events and all(set(e) == {"event", "t", "score"} and e["event"] == "anomaly" for e in events)
    assert s["threshold"] == pytest.approx(thr / 100) and s["anomalous"] == sum(w["anomaly"] for w in wins)
    assert s["by_truth"]["A"]["windows"] == 39 and s["by_truth"]["B"]["windows"] == 12
    assert {"p50", "p90", "p99", "max"} <= set(s["scores"]) and s["events"]["anomaly"] == len(events)
    assert s["shadow"]["windows"] == 51 and s["shadow"]["agreement"] > 0.9
    assert s["recorded"]["saved"] == len(events)
    side = json.loads(next((tmp_path / "rec").glob("*.json")).read_text())
    assert side["why"] == "event" and side["anomaly"] is True and side["event"]["event"] == "anomaly"
    b = [w["score"] for w in wins if w["truth"] == "B"]
    a = [w["score"] for w in wins if w["truth"] == "A"]
    assert np.median(b) > np.median(a)                              # the score rises with the fault


def test_edge_run_text_and_a_labelled_pickle(tiny):
    p = run(bin_path("edge-run"), "--model", tiny["int8"], "--source", f"pkl:{tiny['pkl']}", "--threshold", "1e9")
    assert "score" in p.stdout and "(true A)" in p.stdout and "(true B)" in p.stdout
    assert "anomaly  0 of 40 windows (0.0%) at threshold 1e+09" in p.stdout
    assert "by truth A: 0 of 20 anomalous (0.0%), B: 0 of 20 anomalous (0.0%)" in p.stdout


def test_compare_reports_auc_and_pauc_and_plots_the_scores(tiny, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, out, err = edgekit_cli("compare", tiny["f32"], tiny["int8"], "--data", tiny["pkl"], "--runs", "3",
                                 "--plot", str(tmp_path / "scores.png"), "--json", capsys=capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["kind"] == "anomaly" and [r["metric"] for r in rep["rows"]] == ["auc", "auc"]
    f32, i8 = rep["rows"]
    assert f32["n_normal"] == 20 and f32["n_anomalous"] == 20 and 0 <= f32["pauc"] <= 1
    assert i8["agreement"] > 0.9 and abs(i8["value"] - f32["value"]) < 0.05 and f32["agreement"] == 1.0
    assert (tmp_path / "scores.png").stat().st_size > 10_000
    code, out, _ = edgekit_cli("compare", tiny["f32"], tiny["int8"], "--runs", "3", capsys=capsys)
    assert code == 0 and "AUC" in out and "pAUC" in out and "Spearman's rank correlation" in out


def test_info_shows_the_threshold(tiny, capsys):
    code, out, _ = edgekit_cli("info", tiny["int8"], capsys=capsys)
    assert code == 0 and "task anomaly (anomaly)" in out
    assert "anomaly score mse, threshold" in out and "normal label A (edge-run --threshold overrides)" in out


def test_the_device_path_needs_no_tensorflow(tiny):
    p = device_python("""
        import sys
        from edgekit.edge.commands.edge_run import main
        sys.argv = ["edge-run", "--model", sys.argv[1], "--duration", "5", "--json"]
        main()
    """, tiny["int8"])
    assert '"anomaly"' in p.stdout and '"summary"' in p.stdout


def test_training_on_one_wav_recording_of_the_normal_machine(tmp_path):
    """A WAV file is one long recording: log-mel by default, cut in time into the four parts."""
    from edgekit.edge.formats.wav import write_wav
    from edgekit.edge.sources.synth import developing_fault
    from edgekit.train.anomaly import train_anomaly
    x, _, _ = developing_fault(48, seed=2, healthy_seconds=1e9)     # 37.5 s of one healthy machine
    write_wav(tmp_path / "pump.wav", x.reshape(-1), 12800, 4, format="float")
    m = train_anomaly(tmp_path / "run", str(tmp_path / "pump.wav"), epochs=2, verbose=0, log=lambda *a: None)
    assert m["features"] == "logmel" and m["window_seconds"] == 1.0 and "in time" in m["split"]
    assert m["n_train"] == 22 and m["test_auc"] is None and m["normal_label"] == "normal"


def _tiny_pickle(path, labels, names=("A", "B")):
    """A course pickle of short synthetic windows (2000 samples) with these labels."""
    from edgekit.train.datasets import save_course_pickle
    from edgekit.edge.formats.course import SignalDataset
    from edgekit.edge.sources.synth import vibration
    x, _ = vibration(len(labels), seed=0, length=2000)
    save_course_pickle(path, SignalDataset(x, np.asarray(labels), list(names), 12800.0, str(path)))
    return str(path)


@pytest.mark.parametrize("case, words", [
    ("few", "10 normal windows of 0.15625 s are too few to fit and calibrate: give at least 30"),
    ("label", "--normal-label 'C' names no class of"),
    ("which", "has the classes A, B: say which is the normal one with --normal-label NAME"),
    ("none", "no normal windows (no recording labelled 'A'"),
    ("nan", "--threshold must be a finite positive number (a score of the model), got nan"),
    ("inf", "--threshold must be a finite positive number (a score of the model), got inf"),
    ("negative", "--threshold must be a finite positive number"),
    ("budget", "--false-alarms-per-hour must be a finite positive number"),
    ("two", "--quantile and --threshold: give one way of choosing the threshold"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, case, words):
    out = tmp_path / "out"
    data = {"few": [0] * 10 + [1] * 4, "label": [0, 1] * 20, "which": [0, 1] * 20, "none": [1] * 40}
    pkl = _tiny_pickle(tmp_path / "d.pkl", data[case]) if case in data else None
    args = {"few": ["--data", pkl, "--normal-label", "A"], "label": ["--data", pkl, "--normal-label", "C"],
            "which": ["--data", pkl], "none": ["--data", pkl, "--normal-label", "A"],
            "nan": ["--threshold", "nan"], "inf": ["--threshold", "inf"], "negative": ["--threshold", "-1"],
            "budget": ["--false-alarms-per-hour", "nan"], "two": ["--quantile", "0.9", "--threshold", "1"]}[case]
    code, _, err = edgekit_cli("train", "anomaly", *args, "--out", str(out), capsys=capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert words in err, err
    assert not out.exists()


@pytest.mark.parametrize("value, words", [("nan", "'nan': give a finite number"), ("-1", "finite positive"),
                                          ("0", "finite positive")])
def test_edge_run_refuses_a_bad_threshold(tiny, value, words):
    p = run(bin_path("edge-run"), "--model", tiny["int8"], "--threshold", value, "--duration", "2", check=False)
    assert p.returncode == 2 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1 and words in p.stderr
    assert p.stdout == ""


@pytest.fixture
def mqtt_broker(tmp_path):
    """A mosquitto on a free port (test_publish's), and that module; skips as it does without paho or mosquitto."""
    tp = pytest.importorskip("test_publish")
    if tp.MOSQUITTO is None:
        pytest.skip("no mosquitto binary: apt-get install mosquitto mosquitto-clients (make test does)")
    b = tp.Broker(tmp_path, tp.free_port()).start()
    yield b, tp
    b.stop()


def test_publish_sends_scores_and_events(tiny, mqtt_broker):
    broker, tp = mqtt_broker
    sub = tp.Subscriber(broker.port, "edgekit/test", qos=1)
    thr = tiny["metrics"]["threshold"]["threshold"]
    p = run(bin_path("edge-run"), "--model", tiny["int8"], "--duration", "10", "--quiet", "--threshold",
            f"{thr / 100:.8g}", "--publish", tp.url(broker.port))
    tp.wait_for(lambda: len(sub.on("edgekit/test")) >= 13, 10, "12 windows and an event")
    got = sub.on("edgekit/test")
    sub.close()
    assert {"t", "score", "anomaly", "truth"} <= set(got[0]) and any(m.get("event") == "anomaly" for m in got)
    assert "summary: 12 windows" in p.stdout


def test_wav_folders_one_class_pickles_and_stdin(tiny, tmp_path):
    """Every labelled source keeps its own labels as truths (one class is data too); raw PCM on stdin is scored."""
    from edgekit.edge.formats.wav import write_wav
    from edgekit.edge.sources.synth import vibration
    x, y = vibration(6, seed=4)
    for k, (w, label) in enumerate(zip(x, y)):
        d = tmp_path / "clips" / ("healthy" if label == 0 else "worn")
        d.mkdir(parents=True, exist_ok=True)
        write_wav(d / f"{k}.wav", w, 12800, 4, format="float")
    p = run(bin_path("edge-run"), "--model", tiny["int8"], "--source", f"wav:{tmp_path / 'clips'}", "--json")
    s = json.loads(p.stdout.splitlines()[-1])["summary"]
    assert {k: v["windows"] for k, v in s["by_truth"].items()} == {"healthy": int((y == 0).sum()),
                                                                   "worn": int((y == 1).sum())}
    one = _tiny_pickle(tmp_path / "one.pkl", [0] * 3, names=("A",))
    p = run(bin_path("edge-run"), "--model", tiny["int8"], "--source", f"pkl:{one}", "--json", "--quiet")
    s = json.loads(p.stdout.splitlines()[-1])["summary"]
    assert s["windows"] == 3 and s["by_truth"]["A"]["windows"] == 3
    pcm = (np.clip(x[:3].reshape(-1), -1, 1) * 32767).astype("<i2").tobytes()
    p = run(bin_path("edge-run"), "--model", tiny["int8"], "--source", "stdin", "--json", check=False,
            stdin=open(_write(tmp_path / "pcm.raw", pcm), "rb"))
    lines = [json.loads(v) for v in p.stdout.splitlines()]
    assert p.returncode == 0 and len([v for v in lines if "score" in v and "event" not in v]) == 3
    assert "truth" not in lines[0]


def _write(path, data: bytes):
    """``data`` written to ``path``; the path."""
    path.write_bytes(data)
    return path
