"""The ``tf`` convention of the log-mel / MFCC front ends against ``tf.signal`` itself, and a foreign model trained
on tf.signal features streamed by edge-run with ``--convention tf`` (issue 26)."""
import json
import subprocess

import numpy as np
import pytest

from conftest import bin_path
from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.formats.audio import load_audio
from edgekit.edge.formats.wav import write_wav
from edgekit.edge.frontend.logmel import logmel_features, logmel_shape
from edgekit.edge.frontend.mfcc import mfcc_features
from edgekit.edge.frontend.tf_signal import tf_features
from edgekit.edge.tasks import checked

tf = pytest.importorskip("tensorflow", reason="the reference, tf.signal, is in the [train] extra")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def fsdd(shared_data):
    return shared_data / "fsdd" / "recordings"


def _spec(feat, sample_rate, window):
    return checked(Spec.from_dict(Spec(task="audio", kind="classification", sample_rate=float(sample_rate),
                                       window=window, input_shape=logmel_shape(window, feat), features=feat,
                                       normalization={"type": "none"}, labels=("a", "b", "c")).to_dict()))


def _reference(x, sample_rate, frame, hop, n_fft, n_mels, fmin, fmax, power=1.0, n_mfcc=None):
    """What a tf.signal pipeline (MLPerf Tiny's KWS, Keras tutorials) computes."""
    stft = tf.signal.stft(np.asarray(x, np.float32), frame, hop, fft_length=n_fft, window_fn=tf.signal.hann_window)
    mag = tf.abs(stft) ** power
    weights = tf.signal.linear_to_mel_weight_matrix(n_mels, n_fft // 2 + 1, sample_rate, fmin, fmax)
    out = tf.math.log(tf.tensordot(mag, weights, 1) + 1e-6)
    if n_mfcc is not None:
        out = tf.signal.mfccs_from_log_mel_spectrograms(out)[..., :n_mfcc]
    return out.numpy()


@pytest.mark.parametrize("n_mfcc, frame, hop, n_fft, fmin, fmax, power", [
    (None, 640, 320, 1024, 20.0, 4000.0, 1.0),         # MLPerf Tiny KWS: 40 ms / 20 ms, 20-4000 Hz
    (10, 640, 320, 1024, 20.0, 4000.0, 1.0),
    (13, 480, 320, 512, 125.0, 7500.0, 2.0),           # power spectrum, micro_speech's band
    (None, 400, 160, 512, 0.0, None, 1.0),
])
def test_tf_convention_equals_tf_signal(n_mfcc, frame, hop, n_fft, fmin, fmax, power, rng):
    common = dict(n_mels=40, fmin=fmin, fmax=fmax, layout="time_freq")
    base = logmel_features(frame, hop, n_fft, **common) if n_mfcc is None else \
        mfcc_features(n_mfcc, frame, hop, n_fft, **common)
    spec = _spec(tf_features(base, power=power), 16000, 16000)
    x = (0.1 * rng.standard_normal((4, 16000))).astype(np.float32)
    ours = fe.build(spec).raw(x)[..., 0]
    ref = _reference(x, 16000, frame, hop, n_fft, 40, fmin, fmax or 8000.0, power, n_mfcc)
    assert ours.shape == ref.shape == (4, 1 + (16000 - frame) // hop, n_mfcc or 40)
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()      # TF computes in float32


def test_tf_convention_on_speech(fsdd):
    x = load_audio(fsdd / "3_jackson_0.wav", 8000)[:4000]
    x = np.pad(x, (0, 4000 - len(x)))
    spec = _spec(tf_features(mfcc_features(10, 256, 128, 256, n_mels=40, fmin=20.0, fmax=4000.0,
                                           layout="time_freq")), 8000, 4000)
    ours = fe.build(spec).raw(x)[..., 0]
    ref = _reference(x, 8000, 256, 128, 256, 40, 20.0, 4000.0, n_mfcc=10)
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    librosa_style = fe.build(_spec(mfcc_features(10, 256, 128, 256, n_mels=40, fmin=20.0, fmax=4000.0,
                                                 layout="time_freq"), 8000, 4000)).raw(x)[..., 0]
    assert librosa_style.shape != ours.shape or np.abs(librosa_style - ref).max() > 1.0   # the skew it prevents


@pytest.mark.parametrize("change, words", [
    ({"convention": "torch"}, "features.convention must be one of librosa, tf"),
    ({"log_offset": 0.0}, "features.log_offset"),
    ({"power": 3.0}, "features.power"),
    ({"htk": False}, "htk true, norm null"),
    ({"frame_length": 20000, "n_fft": 32768}, "n_fft 32768 is longer than the window"),
])
def test_bad_tf_settings_are_one_line_errors(change, words):
    feat = tf_features(logmel_features(640, 320, 1024, n_mels=40, layout="time_freq"))
    d = _spec(feat, 16000, 16000).to_dict()
    d["features"] = {**feat, **change}
    with pytest.raises(EdgekitError, match=words):
        checked(Spec.from_dict(d, source="m.tflite"), "m.tflite")


FLAGS = ["--features", "mfcc", "--convention", "tf", "--n-mfcc", "10", "--frame-length", "256", "--hop-length", "128",
         "--fmin", "20", "--fmax", "4000", "--sample-rate", "8000", "--labels", "a,b,c"]


def _edge_run(*args, check=True):
    p = subprocess.run([bin_path("edge-run"), *map(str, args)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 or not check, p.stderr
    return p if not check else [(r["t"], r["label"], r["score"]) for r in map(json.loads, p.stdout.splitlines())
                                if "label" in r]


@pytest.fixture(scope="module")
def foreign(fsdd, tmp_path_factory):
    """A foreign float32 .tflite whose input is tf.signal MFCCs (8 kHz, 32 ms / 16 ms frames, 10 coefficients,
    61 frames), a WAV of ten spoken digits, and Keras's answers on tf.signal's features of its windows."""
    import keras
    d = tmp_path_factory.mktemp("foreign")
    keras.utils.set_random_seed(3)
    write_wav(d / "words.wav", np.concatenate([load_audio(fsdd / f"{k}_theo_1.wav", 8000) for k in range(10)]),
              8000, 2, format="pcm")
    x = load_audio(d / "words.wav", 8000)                               # what edge-run reads (16-bit)
    frames, hop = 61, 4000
    window = 256 + (frames - 1) * 128
    model = keras.Sequential([keras.Input((frames, 10, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    (d / "m.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    starts = range(0, len(x) - window + 1, hop)
    feats = np.stack([_reference(x[s:s + window], 8000, 256, 128, 256, 40, 20.0, 4000.0, n_mfcc=10) for s in starts])
    spec = _spec(tf_features(mfcc_features(10, 256, 128, 256, n_mels=40, fmin=20.0, fmax=4000.0, layout="time_freq")),
                 8000, window)
    spec.save(d / "spec.json")
    return d, model.predict(feats[..., None], verbose=0)


@pytest.mark.slow
def test_a_model_trained_on_tf_signal_features_answers_the_same_through_edge_run(foreign):
    """edge-run --features mfcc --convention tf gives Keras's answers on tf.signal's features of the same windows."""
    d, want = foreign
    got = _edge_run("--model", d / "m.tflite", "--source", f"wav:{d / 'words.wav'}", *FLAGS, "--hop", "0.5", "--json")
    assert len(got) == len(want) >= 3
    for (_, label, score), w in zip(got, want):
        assert label == "abc"[int(np.argmax(w))] and abs(score - float(w.max())) < 1e-4


@pytest.mark.slow
def test_a_spec_file_and_an_attached_spec_answer_as_the_flags_do(foreign):
    d, _ = foreign
    src = ["--source", f"wav:{d / 'words.wav'}", "--hop", "0.5", "--json"]
    by_flags = _edge_run("--model", d / "m.tflite", *src, *FLAGS)
    assert _edge_run("--model", d / "m.tflite", "--spec", d / "spec.json", *src) == by_flags
    p = subprocess.run([bin_path("edgekit"), "attach", str(d / "m.tflite"), "--spec", str(d / "spec.json"), "-o",
                        str(d / "with_spec.tflite")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "wrote" in p.stdout, p.stderr
    assert _edge_run("--model", d / "with_spec.tflite", *src) == by_flags
    info = subprocess.run([bin_path("edgekit"), "info", str(d / "with_spec.tflite")], capture_output=True, text=True)
    assert '"convention": "tf"' in info.stdout and "task audio" in info.stdout
    # nothing overwritten, and a spec that is not the model's is refused in one line
    before = (d / "with_spec.tflite").read_bytes()
    again = subprocess.run([bin_path("edgekit"), "attach", str(d / "m.tflite"), "--spec", str(d / "spec.json"), "-o",
                            str(d / "with_spec.tflite")], capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "does not overwrite" in again.stderr
    assert (d / "with_spec.tflite").read_bytes() == before
    spec = Spec.load(d / "spec.json")
    spec.with_(window=spec.window + 128, input_shape=(62, 10, 1)).save(d / "wrong.json")     # one frame more
    for args, words in [(["--model", d / "m.tflite", "--spec", d / "wrong.json"], "[61, 10, 1] does not match the"),
                        (["--model", d / "with_spec.tflite", "--spec", d / "spec.json"], "carries its own edgekit"),
                        (["--model", d / "m.tflite", "--spec", d / "spec.json", "--sample-rate", "8000"],
                         "leave out the foreign-model flags")]:
        p = _edge_run(*args, "--source", f"wav:{d / 'words.wav'}", check=False)
        assert p.returncode == 2 and words in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
