"""`edgekit demo`, the README's main job, end to end on a small run; and its --out safety."""
import pytest

from conftest import bin_path, run

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_and_replaces_only_its_own_output(tmp_path):
    out = tmp_path / "demo"
    args = [bin_path("edgekit"), "demo", "--out", str(out), "--n", "200", "--epochs", "3",
            "--stream-seconds", "3"]
    p = run(*args)
    for step in ("1. data", "2. train", "3. convert", "4. compare", "5. device"):
        assert step in p.stdout, step
    assert "model.keras *" in p.stdout and "stft_int8.tflite" in p.stdout      # the comparison table
    assert "summary: 3 windows from synthetic" in p.stdout                        # edge-run's summary
    assert "real-time factor" in p.stdout and "demo finished" in p.stdout
    assert "edgekit build stft" in p.stdout
    for name in ("data.pkl", "stft/model.keras", "stft/stft_float32.tflite", "stft/stft_int8.tflite",
                 "stft/stft_float32.onnx", "stft/stft_int8.onnx", "report.md", "compare.json", "compare.csv"):
        assert (out / name).is_file(), name
    # A second demo into the same folder replaces the first one's output (the check `edgekit demo` makes first)
    from edgekit.train.demo import _fresh_out
    (out / "stft" / "stale.txt").write_text("x")
    _fresh_out(out)
    assert not (out / "stft" / "stale.txt").exists() and (out / ".edgekit-demo").is_file()


def test_demo_refuses_a_folder_it_did_not_write(tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "important.txt").write_text("do not delete")
    p = run(bin_path("edgekit"), "demo", "--out", str(keep), check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: --out") and "not an earlier 'edgekit demo' output" in p.stderr
    assert (keep / "important.txt").read_text() == "do not delete"


def test_demo_audio_builds_compares_and_evaluates_a_stream(tmp_path):
    out = tmp_path / "demo-audio"
    p = run(bin_path("edgekit"), "demo", "audio", "--out", str(out), "--epochs", "3")
    for step in ("1. train", "2. convert", "3. compare", "4. compare on the device's own front end",
                 "5. stream-eval"):
        assert step in p.stdout, step
    assert "utterances: detected" in p.stdout and "demo finished" in p.stdout
    for name in ("audio/model.keras", "audio/audio_float32.tflite", "audio/audio_int8.tflite",
                 "audio/audio_float32.onnx", "audio/audio_int8.onnx", "report.md", "compare.json"):
        assert (out / name).is_file(), name
    assert any((out / "test-clips").rglob("*.wav"))


def test_demo_anomaly_shows_the_score_rising_on_the_stream(tmp_path):
    out = tmp_path / "demo-anomaly"
    p = run(bin_path("edgekit"), "demo", "anomaly", "--out", str(out), "--n", "200", "--epochs", "20",
            "--stream-seconds", "45", "--every", "15")
    for step in ("1. train", "2. convert", "3. compare", "4. device"):
        assert step in p.stdout, step
    timeline = [line for line in p.stdout.splitlines() if line.startswith("t ")]
    assert len(timeline) == 3 and " A " in timeline[0] and " B " in timeline[2]
    first, last = (float(line.split("score")[1].split()[0]) for line in (timeline[0], timeline[2]))
    assert last > first                                              # the fault raises the score
    assert "summary: 57 windows from synthetic" in p.stdout and "by truth A:" in p.stdout
    assert "demo finished" in p.stdout and "edgekit build anomaly" in p.stdout
    for name in ("anomaly/model.keras", "anomaly/anomaly_int8.tflite", "anomaly/anomaly_int8.onnx", "report.md",
                 "compare.json"):
        assert (out / name).is_file(), name
