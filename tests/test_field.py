"""In the field: the shadow model (edge-run --shadow), recording chosen windows (--record), the systemd unit
(edgekit service --print)."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import bin_path, run
from edgekit.edge.formats.clips import list_clips
from edgekit.edge.formats.wav import read_wav


def _edge_run(tiny_run, *args, check=True):
    m = tiny_run / "stft"
    return run(bin_path("edge-run"), "--model", str(m / "stft_int8.tflite"), "--json", *args, check=check)


def _side(wav):
    return wav.parent / (wav.name[:-4] + ".json")


def _lines(p):
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    return lines[:-1], lines[-1]["summary"]


def test_the_shadow_reports_what_compare_reports(tiny_run):
    """int8 with its float32 shadow on 300 synthetic windows: per-window answers are the float model's own,
    and the agreement is compare's on the test split within sampling error."""
    m = tiny_run / "stft"
    p = _edge_run(tiny_run, "--shadow", str(m / "stft_float32.tflite"), "--source", "synthetic",
                  "--duration", str(300 * 10000 / 12800))
    results, s = _lines(p)
    sh = s["shadow"]
    assert sh["windows"] == len(results) == 300 and sh["precision"] == "float32"
    agree = np.mean([r["label"] == r["shadow"]["label"] for r in results])
    assert sh["agreement"] == pytest.approx(agree) and sh["disagreements"] == round((1 - agree) * 300)
    assert sh["max_delta"] == pytest.approx(max(r["shadow"]["delta"] for r in results), abs=1e-6)
    assert len(sh["disagreeing_windows"]) == sh["disagreements"] <= 100
    assert "total" in sh["latency_ms"] and sh["latency_ms"]["total"]["n"] == 300
    # the shadow's answers are the float32 model's own on the same windows
    alone = _lines(run(bin_path("edge-run"), "--model", str(m / "stft_float32.tflite"), "--json", "--source",
                       "synthetic", "--duration", str(300 * 10000 / 12800)))[0]
    assert [r["shadow"]["label"] for r in results] == [r["label"] for r in alone]
    assert [r["shadow"]["score"] for r in results] == pytest.approx([r["score"] for r in alone], abs=1e-6)
    c = json.loads(run(bin_path("edgekit"), "compare", str(m / "stft_float32.tflite"), str(m / "stft_int8.tflite"),
                       "--json", "--runs", "5").stdout)
    ref = c["rows"][1]["agreement"]
    n = c["n_test"]
    se = np.sqrt(ref * (1 - ref) / n + agree * (1 - agree) / 300) + 1e-9
    assert abs(agree - ref) <= 3 * se + 1.5 / n, (agree, ref)


def test_a_shadow_must_be_the_same_model(tiny_run, tmp_path):
    m = tiny_run / "stft"
    other = tmp_path / "other"
    run(bin_path("edgekit"), "train", "stft", "--n", "60", "--epochs", "1", "--out", str(other),
        "--data", str(tiny_run / "data.pkl"))
    spec = json.loads((other / "spec.json").read_text())
    spec["normalization"]["mean"] += 1.0
    (other / "spec.json").write_text(json.dumps(spec))
    run(bin_path("edgekit"), "convert", str(other), "--to", "tflite", "--precision", "float32", "--json")
    p = _edge_run(tiny_run, "--shadow", str(other / "stft_float32.tflite"), "--duration", "2", check=False)
    assert p.returncode == 2 and "normalization differs" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = _edge_run(tiny_run, "--record", str(tmp_path / "r"), "--record-when", "disagree", check=False)
    assert p.returncode == 2 and "needs --shadow" in p.stderr


def test_recording_keeps_the_chosen_windows_bounded_oldest_first(tiny_run, tmp_path):
    rec = tmp_path / "rec"
    window_bytes = 10000 * 4 + 44
    p = _edge_run(tiny_run, "--source", "synthetic", "--duration", str(20 * 10000 / 12800), "--record", str(rec),
                  "--record-when", "uncertain", "--record-uncertain", "1.0",      # every window is 'uncertain'
                  "--record-max-mb", str(5.5 * (window_bytes + 400) / 1e6))
    results, s = _lines(p)
    wavs = sorted(rec.glob("*.wav"))
    assert s["recorded"]["saved"] == 20 and s["recorded"]["deleted_oldest"] == 20 - len(wavs) and 4 <= len(wavs) <= 6
    kept = [r for r in results if r.get("recorded") in {w.name for w in wavs}]
    assert [r["recorded"] for r in kept] == [w.name for w in wavs]      # the newest ones, oldest gone first
    from edgekit.edge.sources.synth import vibration_stream
    stream = vibration_stream(seed=0)
    windows = [next(stream)[0] for _ in range(20)]
    for r, w in zip(kept, wavs):
        x, fs = read_wav(w)
        side = json.loads(_side(w).read_text())
        assert fs == 12800 and side["why"] == "uncertain" and side["label"] == r["label"] and side["t"] == r["t"]
        assert len(side["model_sha256"]) == 64
        assert np.array_equal(x[:, 0], windows[int(round(r["t"] * 12800 / 10000))])    # the samples the model saw
    # a person sorts them into label folders: a training set
    for w in wavs:
        label = json.loads(_side(w).read_text())["label"]
        (rec / "sorted" / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(w, rec / "sorted" / label / w.name)
    if len({json.loads(_side(w).read_text())["label"] for w in wavs}) >= 2:
        assert len(list_clips(rec / "sorted")) == len(wavs)
    # the next run counts what is there in its budget
    p = _edge_run(tiny_run, "--source", "synthetic", "--duration", str(2 * 10000 / 12800), "--record", str(rec),
                  "--record-when", "uncertain", "--record-uncertain", "1.0",
                  "--record-max-mb", str(5.5 * (window_bytes + 400) / 1e6))
    assert _lines(p)[1]["recorded"]["deleted_oldest"] == 2


def test_the_service_unit(tiny_run, tmp_path):
    model = tiny_run / "stft" / "stft_int8.tflite"
    p = run(bin_path("edgekit"), "service", "--print", "--", "--model", str(model), "--source", "mic",
            "--record", str(tmp_path / "rec"), "--events-only")
    unit = p.stdout
    exec_line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
    assert exec_line.endswith(f"--model {model} --source mic --record {tmp_path / 'rec'} --events-only")
    for want in ("Restart=on-failure", "KillSignal=SIGTERM", "User=edgekit", "StandardOutput=journal",
                 "NoNewPrivileges=yes", f"ReadWritePaths={tmp_path / 'rec'}", "WantedBy=multi-user.target"):
        assert want in unit.splitlines(), want
    assert "PrivateTmp=yes" not in unit                 # the recordings are under /tmp here
    f = tmp_path / "edge-run.service"
    f.write_text(unit)
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (no systemd here): the unit text was checked, not verified")
    v = subprocess.run(["systemd-analyze", "verify", str(f)], capture_output=True, text=True)
    assert v.returncode == 0, v.stderr
    pub = run(bin_path("edgekit"), "service", "--print", "--", "--model", str(model), "--source", "mic",
              "--publish", "mqtt://broker.local/plant/pump1", "--mqtt-user", "pi").stdout
    assert "EnvironmentFile=-/etc/edgekit/edge-run.env" in pub.splitlines() and "Wants=network-online.target" in pub
    f.write_text(pub)
    v = subprocess.run(["systemd-analyze", "verify", str(f)], capture_output=True, text=True)
    assert v.returncode == 0, v.stderr
    bad = run(bin_path("edgekit"), "service", "--print", "--", "--source", "mic", check=False)
    assert bad.returncode == 2 and "with --model" in bad.stderr


def test_build_gives_every_artifact_verified_and_a_report(tmp_path):
    out = tmp_path / "b"
    p = run(bin_path("edgekit"), "build", "stft", "--out", str(out), "--runs", "5", "--n", "120", "--epochs", "2")
    assert "build finished" in p.stdout
    names = {f.name for f in (out / "run").iterdir()}
    assert {"stft_float32.tflite", "stft_int8.tflite", "stft_float32.onnx", "stft_int8.onnx", "model.keras"} <= names
    rep = json.loads((out / "compare.json").read_text())
    assert [r["artifact"].rsplit("/", 1)[-1] for r in rep["rows"]] == [
        "model.keras", "stft_float32.tflite", "stft_int8.tflite", "stft_float32.onnx", "stft_int8.onnx"]
    assert all(r["agreement"] >= 0.9 for r in rep["rows"]) and all("layers" in r for r in rep["rows"] if r["precision"] == "int8")
    md = (out / "report.md").read_text()
    assert "## Artifacts" in md and "stft_int8.onnx" in md and "Per-layer int8 error" in md
    assert (out / "compare.csv").read_text().count("\n") == 6
    bad = run(bin_path("edgekit"), "build", "stft", "--out", str(out / "x"), "--", "--out", "y", check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
