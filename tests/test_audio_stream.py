"""The audio task on the device: clip folders scored clip by clip as training fitted them, stream-eval's
command and keys, compare --data on a clip folder, foreign log-mel models described by flags."""
import json

import numpy as np
import pytest

from conftest import bin_path, run
from edgekit.edge import frontend as fe
from edgekit.edge.frontend.clip import fit_clip
from edgekit.edge.formats.wav import read_wav, write_wav
from edgekit.edge.model.model import Model


@pytest.fixture(scope="module")
def kws(tmp_path_factory):
    """A small keyword model trained on the built-in synthetic acoustic events, int8, and the held-out
    room's clips as a labelled folder."""
    d = tmp_path_factory.mktemp("kws")
    run(bin_path("edgekit"), "train", "audio", "--n", "60", "--epochs", "10", "--seed", "1", "--out", str(d / "run"))
    run(bin_path("edgekit"), "convert", str(d / "run"), "--to", "tflite", "--precision", "int8", "--json")
    from edgekit.train.synthetic_events import synthetic_events
    metrics = json.loads((d / "run" / "metrics.json").read_text())
    test = set(metrics["groups"]["test_groups"])
    cs = synthetic_events(60, seed=1)
    for k, c in enumerate(cs.clips):
        if c.group in test and k % 3 == 0 and cs.names[c.label] in metrics["labels"]:
            x = cs.read(k)[: int(0.6 * cs.fs)]                      # shorter than the 1 s window: fitted
            (d / "clips" / cs.names[c.label]).mkdir(parents=True, exist_ok=True)
            write_wav(d / "clips" / cs.names[c.label] / f"c{k:03d}.wav", x, int(cs.fs), 4, format="float")
    return d


def test_a_clip_folder_is_scored_clip_by_clip_as_training_fitted_the_clips(kws):
    model = kws / "run" / "audio_int8.tflite"
    p = run(bin_path("edge-run"), "--model", str(model), "--source", f"wav:{kws / 'clips'}", "--json")
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    results, summary = lines[:-1], lines[-1]["summary"]
    files = sorted((kws / "clips").rglob("*.wav"))
    assert len(results) == len(files) == summary["windows"] == summary["labelled_windows"]
    assert "events" not in summary                  # clips one by one: no stream to detect events in
    m = Model(model, threads=1)
    spec = m.spec
    front = fe.build(spec)
    policy = spec.features["clip"]
    for r, f in zip(results, files):
        x, fs = read_wav(f)
        ref = m.predict(front(fit_clip(x[:, 0], spec.window, policy))[None])[0]
        assert r["truth"] == f.parent.name and r["label"] == spec.labels[int(np.argmax(ref))]
        assert r["score"] == pytest.approx(float(ref.max()), abs=1e-5)
    assert summary["accuracy"] == pytest.approx(np.mean([r["label"] == r["truth"] for r in results]))


def test_stream_eval_command_json_keys_and_plot(kws, tmp_path):
    model = kws / "run" / "audio_int8.tflite"
    p = run(bin_path("edgekit"), "stream-eval", str(model), "--data", str(kws / "clips"), "--snr", "20", "--json",
            "--plot", str(tmp_path / "s.png"))
    r = json.loads(p.stdout)
    for k in ("detection_rate", "false_alarms_per_hour", "missed", "wrong_label", "utterances", "hours"):
        assert k in r
    assert set(r["delay_ms"]) >= {"p50", "p90"} and r["utterances"] == len(list((kws / "clips").rglob("*.wav")))
    assert r["detected"] + r["missed"] + r["wrong_label"] == r["utterances"]
    u = r["utterance_snr_db"]                  # what one noise level 20 dB below the mean is for each clip
    assert u["min"] <= u["p10"] <= u["p50"] <= u["p90"] and u["p10"] < 20 + 3
    spec_det = Model(model).spec.detection
    assert all(r["detection"][k] == v for k, v in spec_det.items())     # the spec's settings, as edge-run's
    assert (tmp_path / "s.png").stat().st_size > 10_000
    text = run(bin_path("edgekit"), "stream-eval", str(model), "--data", str(kws / "clips")).stdout
    assert "utterances" in text and "false alarms" in text and "SNR none," in text
    text = run(bin_path("edgekit"), "stream-eval", str(model), "--data", str(kws / "clips"), "--snr", "20").stdout
    assert f"SNR 20 dB (per utterance p10 / p50 / p90 {u['p10']:.1f} / {u['p50']:.1f} / {u['p90']:.1f} dB)" in text
    bad = run(bin_path("edgekit"), "stream-eval", str(model), "--data", str(tmp_path), check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr


def test_compare_reads_a_clip_folder_through_each_artifacts_spec(kws):
    model = kws / "run" / "audio_int8.tflite"
    p = run(bin_path("edgekit"), "compare", str(kws / "run" / "model.keras"), str(model), "--data",
            str(kws / "clips"), "--json", "--runs", "5")
    rep = json.loads(p.stdout)
    n = len(list((kws / "clips").rglob("*.wav")))
    assert rep["n_test"] == n and all(row["n_test"] == n for row in rep["rows"])
    assert rep["rows"][1]["agreement"] >= 0.9                  # int8 against the Keras reference, same windows
    edge = run(bin_path("edge-run"), "--model", str(model), "--source", f"wav:{kws / 'clips'}", "--json")
    acc = json.loads(edge.stdout.splitlines()[-1])["summary"]["accuracy"]
    int8_row = next(r for r in rep["rows"] if r["artifact"].endswith("audio_int8.tflite"))
    assert int8_row["metric"] == "accuracy" and int8_row["value"] == pytest.approx(acc)   # the device's windows


def test_a_foreign_flat_log_mel_model_runs_from_flags(tmp_path):
    """A micro_speech-shaped model (input [1, 1960] = 49 frames × 40 mel bands, 16 kHz, 30/20 ms framing)
    without edgekit metadata: described by flags, it streams a WAV and labels every window."""
    from edgekit.convert.tf import quiet_tensorflow
    quiet_tensorflow()
    import keras
    import tensorflow as tf
    inp = keras.Input((1960,))
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(inp))
    tfl = tmp_path / "foreign.tflite"
    tfl.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    wav = tmp_path / "x.wav"
    write_wav(wav, 0.1 * np.sin(np.linspace(0, 3000, 16000 * 3)), 16000)
    args = [bin_path("edge-run"), "--model", str(tfl), "--source", f"wav:{wav}", "--json", "--sample-rate", "16000",
            "--labels", "a,b,c,d", "--features", "logmel", "--layout", "flat", "--n-mels", "40",
            "--frame-length", "480", "--hop-length", "320"]
    p = run(*args, "--hop", "1.0")
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(lines) - 1 == lines[-1]["summary"]["windows"] >= 2
    assert all(r["label"] in "abcd" for r in lines[:-1])
    bad = run(*args[:-2], "--n-mels", "41", check=False)           # 1960 is not a multiple of 41
    assert bad.returncode == 2 and "--layout flat" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
