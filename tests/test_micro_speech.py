"""A micro_speech-style keyword model trained on TensorFlow's own microfrontend op answers on the device, through
edgekit's numpy port of that front end, exactly as it answers on TensorFlow's features (issue 26): with its spec
from ``deploy``, and as a foreign model given only ``--features microfrontend`` and its labels."""
import json
import subprocess

import numpy as np
import pytest

from conftest import bin_path
from edgekit.edge.formats.audio import load_audio
from edgekit.edge.formats.wav import write_wav
from edgekit.edge.frontend.microfrontend import microfrontend_features

tf = pytest.importorskip("tensorflow", reason="the reference front end is TensorFlow's op ([train] extra)")
keras = pytest.importorskip("keras", reason="the model is trained with Keras ([train] extra)")

RATE, WINDOW, LABELS = 16000, 16000, ("d0", "d1", "d2", "d3")


def tf_micro(windows):
    """speech_commands' "micro" features: the op's uint16 output (defaults: 30/20 ms, 40 channels, 125-7500 Hz)
    times 10/256, frames flattened time-major as micro_speech takes them."""
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op as op
    out = []
    for w in windows:
        q = np.clip(np.round(np.asarray(w, np.float64) * 32768), -32768, 32767).astype(np.int16)
        f = op.audio_microfrontend(tf.constant(q), sample_rate=RATE, window_size=30, window_step=20,
                                   num_channels=40, upper_band_limit=7500, lower_band_limit=125, out_scale=1,
                                   out_type=tf.uint16)
        out.append(f.numpy().astype(np.float32).reshape(-1) * (10.0 / 256.0))
    return np.stack(out)


@pytest.fixture(scope="module")
def digits(shared_data, tmp_path_factory):
    """FSDD digits 0-3 at 16 kHz as 16-bit clips (as a device records them): two speakers to train on, the third's
    clips in label folders to stream; each clip fitted to one window as the audio task fits it."""
    from edgekit.edge.frontend.clip import fit_clip
    from edgekit.edge.tasks.audio import DEFAULT_CLIP
    from edgekit.edge.frontend.clip import check_clip_policy
    policy = check_clip_policy(DEFAULT_CLIP)
    root = tmp_path_factory.mktemp("digits")
    rec = shared_data / "fsdd" / "recordings"
    parts = {"train": ([], [], []), "test": ([], [], [])}
    for d in range(4):
        for speaker in ("jackson", "nicolas", "theo"):
            for take in range(0, 50, 2 if speaker != "theo" else 5):
                x = load_audio(rec / f"{d}_{speaker}_{take}.wav", RATE)
                part = "test" if speaker == "theo" else "train"
                path = root / part / LABELS[d] / f"{d}_{speaker}_{take}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_wav(path, np.clip(x, -1, 32767 / 32768), RATE)
                parts[part][0].append(fit_clip(load_audio(path, RATE), WINDOW, policy))   # what the device reads
                parts[part][1].append(d)
                parts[part][2].append(path)
    return root, {k: (np.stack(v[0]), np.array(v[1]), v[2]) for k, v in parts.items()}, policy


@pytest.fixture(scope="module")
def model(digits):
    _, parts, _ = digits
    x, y, _ = parts["train"]
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((1960,)), keras.layers.Reshape((49, 40, 1)),
                          keras.layers.Conv2D(8, (10, 8), strides=(2, 2), activation="relu"),
                          keras.layers.Flatten(), keras.layers.Dense(len(LABELS), activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(tf_micro(x), y, epochs=30, batch_size=16, verbose=0)
    return m


@pytest.fixture(scope="module")
def deployed(digits, model, tmp_path_factory):
    from edgekit.convert import deploy
    _, parts, _ = digits
    x, y, _ = parts["test"]
    out = tmp_path_factory.mktemp("micro") / "run"
    spec = {"task": "audio", "kind": "classification", "sample_rate": RATE, "window": WINDOW,
            "features": {"type": "microfrontend"}, "labels": list(LABELS)}
    rep = deploy(model, spec, calibration=parts["train"][0], test=(x, y), out=out, formats=("tflite",),
                 features=tf_micro(x), log=None)
    return out, rep


def _stream(model_path, folder, *flags):
    p = subprocess.run([bin_path("edge-run"), "--model", str(model_path), "--source", f"wav:{folder}", "--json",
                        *flags], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    return [r for r in map(json.loads, p.stdout.splitlines()) if "label" in r]


def test_deploy_finds_the_numpy_front_end_equal_to_tensorflows(deployed):
    _, rep = deployed
    assert rep["features"]["max_abs_diff"] == 0.0        # bit-exact: the same uint16 values, the same scaling
    assert [a["precision"] for a in rep["artifacts"]] == ["float32", "int8"]


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_edge_run_answers_as_the_model_does_on_tensorflows_features(digits, model, deployed, precision):
    from edgekit.edge.model.model import Model
    root, parts, _ = digits
    out, _ = deployed
    x, y, paths = parts["test"]
    results = _stream(out / f"audio_{precision}.tflite", root / "test")
    assert len(results) == len(x)
    order = np.argsort([str(p) for p in paths])                       # the folder's clips, sorted by path
    device = np.array([LABELS.index(r["label"]) for r in results])
    reference = Model(out / f"audio_{precision}.tflite").predict(tf_micro(x[order])).argmax(1)
    assert np.array_equal(device, reference)
    assert [r["truth"] for r in results] == [LABELS[i] for i in y[order]]
    if precision == "float32":
        assert np.array_equal(device, np.asarray(model(tf_micro(x[order]))).argmax(1))


def test_a_foreign_model_needs_only_features_microfrontend_and_its_labels(digits, model, tmp_path):
    """No spec in the file: the input [1960] and the defaults say 49 frames of 40 channels (a 15840-sample window)."""
    from edgekit.convert.tflite import to_tflite
    from edgekit.edge.frontend.clip import fit_clip
    root, parts, policy = digits
    (tmp_path / "kws.tflite").write_bytes(to_tflite(model, "float32"))
    results = _stream(tmp_path / "kws.tflite", root / "test", "--features", "microfrontend", "--sample-rate",
                      str(RATE), "--labels", ",".join(LABELS))
    _, y, paths = parts["test"]
    paths = sorted(paths, key=str)
    windows = np.stack([fit_clip(load_audio(p, RATE), 15840, policy) for p in paths])
    reference = np.asarray(model(tf_micro(windows))).argmax(1)
    assert [r["label"] for r in results] == [LABELS[i] for i in reference]
    p = subprocess.run([bin_path("edgekit"), "info", str(tmp_path / "kws.tflite")], capture_output=True, text=True)
    assert "spec     none" in p.stdout
    spec = {"schema_version": "1.0", "task": "audio", "kind": "classification", "sample_rate": RATE, "window": 15840,
            "input_shape": [1960], "features": microfrontend_features(), "normalization": {"type": "none"},
            "labels": list(LABELS)}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    p = subprocess.run([bin_path("edgekit"), "info", str(tmp_path / "kws.tflite"), "--spec",
                        str(tmp_path / "spec.json")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert f"(from {tmp_path / 'spec.json'})" in p.stdout
    assert "front end: TFLite Micro's audio front end" in p.stdout
    assert "30 ms windows every 20 ms, 40 channels" in p.stdout
    with_spec = _stream(tmp_path / "kws.tflite", root / "test", "--spec", str(tmp_path / "spec.json"))
    assert [r["label"] for r in with_spec] == [r["label"] for r in results]
