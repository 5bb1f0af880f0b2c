"""``edgekit train audio``: speaker-disjoint splits, the pad policy on the device, DS-CNN size, and FSDD and
synthetic runs converted to int8 and run through ``edge-run``."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import bin_path, run

FSDD_LABEL, FSDD_GROUP = r"^(\d+)_", r"^\d+_([a-z]+)_"


@pytest.fixture(scope="module")
def fsdd(shared_data) -> Path:
    d = shared_data / "fsdd" / "recordings"
    if not d.is_dir():
        pytest.skip("FSDD recordings are not present")
    return d


@pytest.fixture(scope="module")
def fsdd_subset(fsdd, tmp_path_factory) -> Path:
    """Takes 0-24 of every digit and speaker (750 clips), linked, not copied."""
    d = tmp_path_factory.mktemp("fsdd")
    for p in sorted(fsdd.glob("*.wav")):
        if int(p.stem.split("_")[2]) < 25:
            (d / p.name).symlink_to(p)
    return d


def test_group_split_never_puts_a_test_speaker_in_training(fsdd):
    from edgekit.train.classes import add_extra_classes
    from edgekit.train.clips import load_clips
    from edgekit.train.splits import group_split

    cs = load_clips(fsdd, label_regex=FSDD_LABEL, group_regex=FSDD_GROUP)
    cs, _ = add_extra_classes(cs, [], seed=0)
    speaker = {i: re.match(FSDD_GROUP, Path(c.path).name).group(1) for i, c in enumerate(cs.clips) if c.path}
    # recipes (reversed clips) belong to their base clip's speaker
    for i, c in enumerate(cs.clips):
        if c.make == "reverse":
            assert c.group == speaker[c.base]
    for test in (["theo"], ["jackson", "nicolas"], None):
        tr, va, te, info = group_split(cs, test, seed=3)
        held = set(info["test_groups"])
        assert held and held.isdisjoint(info["train_groups"]) and held.isdisjoint(info["val_groups"])
        assert {speaker[i] for i in np.r_[tr, va] if i in speaker}.isdisjoint(held)
        assert {speaker[i] for i in te if i in speaker} == held
        assert sorted(np.r_[tr, va, te].tolist()) == list(range(len(cs)))     # a partition
        real_test = [i for i in te if i in speaker]
        assert len(real_test) == 500 * len(held)                               # every clip of theirs


def test_macs_and_the_dscnn_budget():
    pytest.importorskip("keras")
    import keras
    from keras import layers

    from edgekit.train.models import dscnn, macs, stft_cnn

    tiny = keras.Sequential([keras.Input((4, 4, 1)), layers.Conv2D(2, 3, padding="same"),
                             layers.DepthwiseConv2D(3, strides=2, padding="same"), layers.Flatten(),
                             layers.Dense(5)])
    # 4·4 positions × 3·3·1·2, then 2·2 positions × 3·3·2, then 8 → 5
    assert macs(tiny) == 16 * 18 + 4 * 18 + 8 * 5
    ds = dscnn((49, 13, 1), 12)
    assert 20_000 <= ds.count_params() <= 30_000
    kinds = {type(la).__name__ for la in ds.layers}
    assert kinds <= {"Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Dropout",
                     "GlobalAveragePooling2D", "Dense"}
    assert macs(ds) * 10 <= macs(stft_cnn((129, 35, 1), 12))      # the course CNN on a 1 s 8 kHz window


def test_a_short_clip_gets_the_same_features_on_the_device(fsdd, tmp_path):
    """The device pads a clip shorter than the window with the recorded policy, as training did."""
    from edgekit.edge import frontend as fe
    from edgekit.edge.frontend.clip import fit_clip
    from edgekit.edge.sources.signal import open_source
    from edgekit.edge.tasks.audio import AudioRun, clip_policy
    from edgekit.edge.tasks.base import Options
    from edgekit.train.audio import DEFAULT_CLIP, feature_dict, make_spec
    from edgekit.train.batches import windows
    from edgekit.train.clips import load_clips

    path = fsdd / "7_theo_3.wav"
    spec = make_spec(8000.0, 8000, ["a", "b"], feature_dict("mfcc", 8000.0), DEFAULT_CLIP, None)
    assert clip_policy(spec) == DEFAULT_CLIP == spec.features["clip"]
    cs = load_clips(fsdd, label_regex=FSDD_LABEL, group_regex=FSDD_GROUP)
    i = next(k for k, c in enumerate(cs.clips) if Path(c.path).name == path.name)
    train = fe.build(spec)(windows(cs, np.array([i]), lambda x: fit_clip(x, spec.window, DEFAULT_CLIP)))[0]

    class Sink:
        def note(self, msg):
            pass

    r = AudioRun(spec, open_source(f"wav:{path}", spec), Sink(), Options())
    items = list(r.inputs())
    assert len(_stdlib_wav(path)) < spec.window and len(items) == 1
    device = fe.build(spec)(items[0].x)
    np.testing.assert_allclose(device, train, rtol=0, atol=1e-5)
    # and the independent reference: the clip's own samples, padded by fit_clip, scaled as the WAV says
    ref = fit_clip(_stdlib_wav(path), spec.window, DEFAULT_CLIP)
    np.testing.assert_allclose(items[0].x, ref, atol=1e-6)


def _stdlib_wav(path: Path) -> np.ndarray:
    """A mono 16-bit WAV decoded by Python's own ``wave`` module (not edgekit's reader), scaled to ±1."""
    import wave
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0


def _edge_run_label(model: Path, wav: Path) -> str:
    p = run(bin_path("edge-run"), "--model", str(model), "--source", f"wav:{wav}", "--json")
    lines = [json.loads(s) for s in p.stdout.splitlines() if s.startswith("{")]
    results = [d for d in lines if "label" in d]
    assert len(results) == 1, p.stdout
    return results[0]["label"]


def test_train_on_two_speakers_convert_int8_and_run_on_the_third(fsdd_subset, tmp_path):
    out = tmp_path / "kws"
    run(bin_path("edgekit"), "train", "audio", "--data", str(fsdd_subset), "--label-regex", FSDD_LABEL,
        "--group-regex", FSDD_GROUP, "--test-groups", "theo", "--epochs", "20", "--out", str(out))
    m = json.loads((out / "metrics.json").read_text())
    assert m["groups"]["test_groups"] == ["theo"]
    assert m["groups"]["train_groups"] == ["jackson", "nicolas"]
    assert set(m["accuracy_by_group"]) == {"theo"}
    assert m["labels"] == [str(d) for d in range(10)] + ["unknown", "silence"]
    assert m["keyword_accuracy"] > 0.45, m["keyword_accuracy"]           # chance: 0.10 on an unseen speaker
    assert m["epochs_run"] <= 20 and 1 <= m["best_epoch"] <= m["epochs_run"]
    spec = json.loads((out / "spec.json").read_text())
    assert spec["task"] == "audio" and spec["features"]["type"] == "mfcc" and spec["features"]["cmvn"]
    assert spec["features"]["clip"] == m["clip"] == {"align": "energy", "pad": "zeros"}
    assert spec["detection"] == m["detection"]

    p = run(bin_path("edgekit"), "convert", str(out), "--to", "tflite", "--precision", "int8", "--json")
    conv = json.loads(p.stdout)
    assert abs(conv["accuracy"] - conv["reference_accuracy"]) <= 0.03
    # edge-run on theo's clips: the label the Keras model gives through training's own path, and the truth
    from edgekit.convert.rundir import open_run
    from edgekit.edge import frontend as fe
    from edgekit.edge.frontend.clip import fit_clip
    rd = open_run(out)
    model, sp = rd.load_model(), rd.spec()
    front = fe.build(sp)
    names = list(sp.labels)
    wavs = sorted(fsdd_subset.glob("*_theo_*.wav"))
    x = np.stack([fit_clip(_stdlib_wav(w), sp.window, spec["features"]["clip"]) for w in wavs])
    probs = model.predict(front(x), verbose=0)
    truth = np.array([names.index(w.name.split("_")[0]) for w in wavs])
    right = np.flatnonzero(probs.argmax(1) == truth)
    assert len(right) > 0.45 * len(wavs)                   # training's own number, recomputed independently
    for i in right[np.argsort(-probs[right].max(1), kind="stable")][:2]:   # the two most confident
        assert _edge_run_label(Path(conv["artifact"]), wavs[i]) == names[truth[i]]


def test_synthetic_events_train_and_run_on_int8(tmp_path):
    out = tmp_path / "events"
    run(bin_path("edgekit"), "train", "audio", "--n", "40", "--epochs", "12", "--out", str(out))
    m = json.loads((out / "metrics.json").read_text())
    assert m["labels"] == ["chirp", "hum", "knock", "speech", "unknown", "silence"]
    assert m["groups"]["split"] == "group" and set(m["groups"]["test_groups"]).isdisjoint(m["groups"]["train_groups"])
    assert m["test_accuracy"] > 0.7, m["test_accuracy"]                 # chance: 1/6
    p = run(bin_path("edgekit"), "convert", str(out), "--to", "tflite", "--precision", "int8", "--json")
    conv = json.loads(p.stdout)
    assert conv["accuracy"] >= conv["reference_accuracy"] - 0.05
    # the test clip the Keras model is surest of, written as a 16-bit WAV and classified on the device
    from edgekit.convert.rundir import open_run
    from edgekit.edge import frontend as fe
    from edgekit.edge.formats.wav import write_wav
    rd = open_run(out)
    x, y = rd.test_split()
    probs = rd.load_model().predict(fe.build(rd.spec())(x), verbose=0)
    right = np.flatnonzero(probs.argmax(1) == y)
    i = right[np.argmax(probs[right].max(1))]
    wav = tmp_path / "clip.wav"
    write_wav(wav, x[i], 8000)
    assert _edge_run_label(Path(conv["artifact"]), wav) == m["labels"][y[i]]


def test_augmentation_is_seeded_and_only_on_the_training_batches():
    pytest.importorskip("keras")
    from edgekit.edge import frontend as fe
    from edgekit.edge.frontend.clip import fit_clip
    from edgekit.train.audio import DEFAULT_CLIP, feature_dict, make_spec
    from edgekit.train.augment import Augment, time_stretch
    from edgekit.train.batches import batches, windows
    from edgekit.train.synthetic_events import synthetic_events

    cs = synthetic_events(4, seed=5)
    spec = make_spec(8000.0, 8000, cs.names, feature_dict("mfcc", 8000.0), DEFAULT_CLIP, None)
    front = fe.build(spec)

    def fit(x):
        return fit_clip(x, 8000, DEFAULT_CLIP)

    idx = np.arange(len(cs))
    plain = batches(cs, idx, front, fit, batch_size=8)
    x0, y0 = plain[0]
    np.testing.assert_array_equal(x0, front(windows(cs, idx[:8], fit)))       # no augmentation: the clips
    np.testing.assert_array_equal(y0, cs.labels[:8])
    aug = Augment(stretch=(0.8, 1.2), time_mask=4, freq_mask=2)
    a, b = batches(cs, idx, front, fit, batch_size=8, aug=aug, seed=1), batches(cs, idx, front, fit,
                                                                                 batch_size=8, aug=aug, seed=1)
    np.testing.assert_array_equal(a[1][0], b[1][0])                              # same seed, same batch
    assert not np.allclose(a[1][0], batches(cs, idx, front, fit, batch_size=8, aug=aug, seed=2)[1][0])
    a.on_epoch_end()
    assert not np.array_equal(a.order, b.order)                                 # reshuffled each epoch
    # WSOLA keeps the pitch and scales the length
    t = np.arange(4000) / 8000
    y = time_stretch(np.sin(2 * np.pi * 440 * t), 0.8)
    assert len(y) == 5000
    assert abs(np.fft.rfftfreq(len(y), 1 / 8000)[np.argmax(np.abs(np.fft.rfft(y)))] - 440) < 3


def test_shifted_and_partial_word_windows_look_like_a_stream():
    """Training windows hold the word anywhere within ±350 ms (keeping ≥ 90 % of its energy), and the
    partial-word windows hold only a clip's start (at the window's end) or its end (at the start)."""
    from edgekit.edge.frontend.clip import fit_clip
    from edgekit.train.audio import DEFAULT_CLIP
    from edgekit.train.augment import Augment, augment, partial_word

    fs, n = 8000.0, 8000
    t = np.arange(3200) / fs
    x = (0.5 * np.sin(2 * np.pi * 300 * t + 0.3) * np.hanning(len(t) + 2)[1:-1]).astype(np.float32)   # 0.4 s
    e_x = float(np.sum(x.astype(np.float64) ** 2))

    def fit(c):
        return fit_clip(c, n, DEFAULT_CLIP)

    aug = Augment(speed=None, stretch=None, gain_db=None, snr_db=None, p=1.0)
    centre = []
    for k in range(200):
        w = augment(x, np.random.default_rng(k), fs, aug, fit).astype(np.float64)
        e = w ** 2
        assert e.sum() >= 0.9 * e_x - 1e-6                         # at most 10 % pushed out of the window
        centre.append((np.sum(np.arange(n) * e) / e.sum() - n / 2) / fs)
    centre = np.abs(centre)
    assert centre.max() > 0.25 and np.mean(centre > 0.1) > 0.4, centre.max()   # far beyond the old ±100 ms
    for k in range(50):
        w = partial_word(x, np.random.default_rng(k), n).astype(np.float64)
        nz = np.flatnonzero(w)
        frac = float(np.sum(w ** 2)) / e_x
        assert 0.05 - 1e-6 <= frac <= 0.5 + 1e-6, frac
        seg = w[nz[0]:nz[-1] + 1]
        if nz[-1] == n - 1:                                        # the word's start, entering at the end
            np.testing.assert_array_equal(seg, x[:len(seg)])
        else:                                                      # the word's end, leaving at the start
            assert nz[0] == 0
            np.testing.assert_array_equal(seg, x[len(x) - len(seg):])


def test_partial_word_windows_are_labelled_unknown_on_training_batches_only():
    pytest.importorskip("keras")
    from edgekit.edge import frontend as fe
    from edgekit.edge.frontend.clip import fit_clip
    from edgekit.train.audio import DEFAULT_CLIP, feature_dict, make_spec
    from edgekit.train.augment import Augment
    from edgekit.train.batches import batches
    from edgekit.train.classes import add_extra_classes
    from edgekit.train.synthetic_events import synthetic_events

    cs = synthetic_events(10, seed=2)
    cs, _ = add_extra_classes(cs, [], seed=0)          # every label a keyword: unknown = reversed clips
    spec = make_spec(8000.0, 8000, cs.names, feature_dict("mfcc", 8000.0), DEFAULT_CLIP, None)
    front = fe.build(spec)
    idx = np.arange(len(cs))
    unknown, silence = cs.names.index("unknown"), cs.names.index("silence")
    words = np.flatnonzero(~np.isin(cs.labels, [unknown, silence]))
    b = batches(cs, idx, front, lambda c: fit_clip(c, 8000, DEFAULT_CLIP), batch_size=len(idx),
                aug=Augment(partial=0.5), seed=0)
    order = b.order.copy()
    _, y = b[0]
    truth = cs.labels[order]
    changed = y != truth
    assert np.all(y[changed] == unknown)                             # only ever relabelled as unknown
    assert set(order[changed]) <= set(words)                         # and only keyword clips
    assert 0.3 < changed.sum() / len(words) < 0.7                    # about aug.partial of them
    _, y_plain = batches(cs, idx, front, lambda c: fit_clip(c, 8000, DEFAULT_CLIP), batch_size=len(idx))[0]
    np.testing.assert_array_equal(y_plain, cs.labels)                # validation/test batches: never
