"""edgekit.edge.frontend logmel / mfcc / mel / clip: values equal librosa's (numpy-only code), shapes, CMVN,
validation and the pad/crop policy, on random signals and real FSDD recordings."""
from __future__ import annotations

import wave
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.fft

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.frontend import FEATURE_TYPES, build
from edgekit.edge.frontend import mel as M
from edgekit.edge.frontend.clip import check_clip_policy, clip_policy, fit_clip, pad_noise
from edgekit.edge.frontend.logmel import logmel_features, logmel_shape, n_frames
from edgekit.edge.frontend.mfcc import mfcc_features, mfcc_shape
from edgekit.edge.core.spec import Spec
from edgekit.edge.tasks import checked

# Relative tolerance where our definition and librosa's coincide (both float64: they agree to ~1e-13).
RTOL = 1e-5
# dB values are compared with an absolute tolerance instead: near the floor (quiet bands of real speech,
# digital silence at 10*log10(amin) = -100 dB) a dB value is close to 0 or its relative error is
# meaningless, and 1e-4 dB is a relative power error of 2.3e-5 -- the same 1e-5 order.
DB_ATOL = 1e-4


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(2024)


def make_spec(feat: dict, sr: float = 16000.0, window: int = 16000, normalization=None, **changes) -> Spec:
    """A spec through Spec.from_dict (so the front end's validate runs), as training would write it."""
    d = Spec(task="stft", kind="classification", sample_rate=sr, window=window,
             input_shape=logmel_shape(window, feat), features=feat,
             normalization=normalization or {"type": "none"}, labels=("yes", "no")).to_dict()
    d.update(changes)
    return checked(Spec.from_dict(d))


def librosa_db(x: np.ndarray, sr: float, feat: dict, mel_dtype=np.float64) -> np.ndarray:
    """librosa's log-mel of one window with the spec's parameters, centre padding off (streaming)."""
    s = librosa.feature.melspectrogram(
        y=np.asarray(x, dtype=np.float64), sr=sr, n_fft=feat["n_fft"], win_length=feat["frame_length"],
        hop_length=feat["hop_length"], window=feat["window"] if isinstance(feat["window"], str)
        else tuple(feat["window"]), center=False, power=2.0, n_mels=feat["n_mels"], fmin=feat["fmin"],
        fmax=feat["fmax"], htk=feat["htk"], norm=feat["norm"], dtype=mel_dtype)
    return librosa.power_to_db(s, ref=1.0, amin=feat["amin"], top_db=feat["top_db"])


def librosa_mfcc(x: np.ndarray, sr: float, feat: dict) -> np.ndarray:
    return librosa.feature.mfcc(S=librosa_db(x, sr, feat), n_mfcc=feat["n_mfcc"], dct_type=2, norm="ortho")


def assert_db_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=DB_ATOL)


def assert_coef_close(ours: np.ndarray, ref: np.ndarray) -> None:
    """MFCCs cross zero, so each coefficient row is compared relative to its own largest magnitude."""
    assert ours.shape == ref.shape
    scale = np.abs(ref).max(axis=-1, keepdims=True)
    assert np.all(np.abs(ours - ref) <= RTOL * scale + DB_ATOL)


def read_fsdd(path: Path) -> np.ndarray:
    """An FSDD recording as float64 in [-1, 1) (int16 / 32768, as librosa.load and our WAV reader scale)."""
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0


@pytest.fixture(scope="module")
def fsdd(shared_data) -> list[tuple[str, np.ndarray]]:
    root = shared_data / "fsdd" / "recordings"
    names = [f"{d}_{s}_{t}.wav" for d, s, t in [(0, "jackson", 0), (3, "nicolas", 7), (7, "theo", 12),
                                                (9, "jackson", 44), (5, "theo", 3), (1, "nicolas", 30)]]
    return [(n, read_fsdd(root / n)) for n in names]


# ---------------------------------------------------------------------------------------------------
# mel.py: scale, filterbank, DCT, dB
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_matches_librosa_and_round_trips(htk):
    f = np.concatenate(([0.0, 1.0, 999.999, 1000.0, 1000.001], np.geomspace(10, 48000, 200)))
    np.testing.assert_allclose(M.hz_to_mel(f, htk=htk), librosa.hz_to_mel(f, htk=htk), rtol=1e-13)
    mels = M.hz_to_mel(f, htk=htk)
    np.testing.assert_allclose(M.mel_to_hz(mels, htk=htk), librosa.mel_to_hz(mels, htk=htk), rtol=1e-13)
    np.testing.assert_allclose(M.mel_to_hz(mels, htk=htk), f, rtol=1e-12, atol=1e-9)
    assert float(M.hz_to_mel(440.0, htk=htk)) == pytest.approx(librosa.hz_to_mel(440.0, htk=htk), rel=1e-13)
    np.testing.assert_allclose(M.mel_frequencies(40, 20.0, 7600.0, htk=htk),
                               librosa.mel_frequencies(40, fmin=20.0, fmax=7600.0, htk=htk), rtol=1e-13)


FILTERBANKS = [  # sr, n_fft, n_mels, fmin, fmax, htk, norm
    (8000, 256, 40, 0.0, None, False, "slaney"),
    (8000, 256, 40, 0.0, None, True, "slaney"),
    (8000, 512, 64, 50.0, 3800.0, False, None),
    (16000, 512, 40, 125.0, 7500.0, True, None),         # tflite-micro micro_speech's band edges
    (16000, 400, 80, 20.0, 8000.0, False, "slaney"),      # n_fft not a power of two
    (16000, 1024, 128, 0.0, None, True, "slaney"),
    (22050, 2048, 128, 0.0, None, False, "slaney"),       # librosa's defaults
    (44100, 2048, 96, 30.0, 16000.0, True, None),
    (12800, 255, 20, 0.0, 6400.0, False, "slaney"),        # odd n_fft
]


@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax, htk, norm", FILTERBANKS, ids=str)
def test_mel_filterbank_matches_librosa(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    ours = M.mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk=htk, norm=norm)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
                              dtype=np.float64)
    assert ours.shape == (n_mels, n_fft // 2 + 1) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15 * ref.max())
    # the triangles: non-negative, peaks at 1 without a norm
    assert ours.min() >= 0
    if norm is None:
        assert ours.max() <= 1.0 + 1e-12


def test_mel_filterbank_errors():
    for args, kw in [((0, 256), {}), ((8000, 0), {}), ((8000, 256, 0), {}), ((8000, 256), dict(fmin=5000.0)),
                     ((8000, 256), dict(fmin=-1.0)), ((8000, 256), dict(norm="l2")), ((8000, 256.0), {}),
                     ((8000, 256), dict(fmax=float("nan")))]:
        with pytest.raises(EdgekitError):
            M.mel_filterbank(*args, **kw)


@pytest.mark.parametrize("n_mfcc, n_mels", [(13, 40), (20, 128), (40, 40), (1, 10), (10, 64)])
def test_dct_matrix_is_scipys_orthonormal_dct2(n_mfcc, n_mels, rng):
    d = M.dct_matrix(n_mfcc, n_mels)
    ref = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    np.testing.assert_allclose(d, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(d @ d.T, np.eye(n_mfcc), atol=1e-12)        # orthonormal rows
    s = rng.standard_normal((n_mels, 7))
    np.testing.assert_allclose(d @ s, librosa.feature.mfcc(S=s, n_mfcc=n_mfcc), rtol=1e-10, atol=1e-12)
    with pytest.raises(EdgekitError):
        M.dct_matrix(n_mels + 1, n_mels)


@pytest.mark.parametrize("ref, amin, top_db", [(1.0, 1e-10, None), (1.0, 1e-5, None), (3.5, 1e-10, None),
                                               (1.0, 1e-10, 80.0), (0.1, 1e-3, 40.0)])
def test_power_to_db_matches_librosa(rng, ref, amin, top_db):
    s = rng.exponential(1.0, (40, 50)) * np.logspace(-14, 2, 50)          # spans the floor
    s[3, :5] = 0.0
    ours = M.power_to_db(s, ref=ref, amin=amin, top_db=top_db)
    np.testing.assert_allclose(ours, librosa.power_to_db(s, ref=ref, amin=amin, top_db=top_db), rtol=1e-12,
                               atol=1e-12)
    assert ours.min() >= 10 * np.log10(amin) - 10 * np.log10(max(ref, amin)) - 1e-9
    assert M.power_to_db(s.astype(np.float32)).dtype == np.float32
    with pytest.raises(EdgekitError):
        M.power_to_db(s, amin=0.0)


# ---------------------------------------------------------------------------------------------------
# logmel / mfcc front ends against librosa
# ---------------------------------------------------------------------------------------------------
LOGMEL_CASES = [  # sr, window, logmel_features kwargs
    (16000, 16000, dict(frame_length=400, hop_length=160)),                       # 25 ms / 10 ms, n_fft 512
    (16000, 16000, dict(frame_length=400, hop_length=320, n_fft=400, window="hamming")),  # no padding
    (16000, 16000, dict(frame_length=480, hop_length=320, n_fft=512, fmin=125.0, fmax=7500.0, htk=True,
                        norm=None)),                                                  # micro_speech-like
    (8000, 8000, dict(frame_length=200, hop_length=80, n_mels=40)),                  # n_fft 256
    (8000, 8000, dict(frame_length=201, hop_length=100, n_fft=256, n_mels=32, window=("kaiser", 8.0))),
    (8000, 6000, dict(frame_length=256, hop_length=128, n_mels=24, fmin=60.0, amin=1e-5)),
    (22050, 11025, dict(frame_length=2048, hop_length=512, n_mels=128)),
    (16000, 8000, dict(frame_length=400, hop_length=160, top_db=80.0)),
]


@pytest.mark.parametrize("sr, window, kw", LOGMEL_CASES, ids=str)
def test_logmel_matches_librosa_on_random_signals(rng, sr, window, kw):
    feat = logmel_features(**kw)
    spec = make_spec(feat, sr=sr, window=window)
    fe = build(spec)
    # white noise, a decaying chirp-like tone burst and a signal that is mostly digital silence
    t = np.arange(window) / sr
    quiet = np.zeros(window)
    quiet[window // 3: window // 3 + 300] = rng.standard_normal(300) * 1e-3
    signals = [0.1 * rng.standard_normal(window),
               0.5 * np.sin(2 * np.pi * (200 + 1500 * t) * t) * np.exp(-3 * t) + 1e-4 * rng.standard_normal(window),
               quiet]
    for x in signals:
        ours = fe.raw(x)
        assert ours.shape == spec.input_shape == (feat["n_mels"], n_frames(window, feat), 1)
        assert_db_close(ours[..., 0], librosa_db(x, sr, feat))
    # float32 windows (what the WAV reader gives) are computed in float64 too: same values
    x32 = signals[1].astype(np.float32)
    assert_db_close(fe.raw(x32)[..., 0], librosa_db(x32, sr, feat))
    # librosa with its default float32 filterbank differs only by the filterbank's rounding
    assert_db_close(fe.raw(signals[0])[..., 0], librosa_db(signals[0], sr, feat, mel_dtype=np.float32))


def test_logmel_power_matches_librosa_melspectrogram_relative(rng):
    """Before the log, where every value is far above the floor, the mel power itself is within RTOL."""
    feat = logmel_features(400, 160)
    x = 0.3 * rng.standard_normal(16000)
    ours = 10 ** (build(make_spec(feat)).raw(x)[..., 0] / 10)
    ref = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=512, win_length=400, hop_length=160,
                                         center=False, n_mels=40, dtype=np.float64)
    assert ref.min() > 1e3 * feat["amin"]
    np.testing.assert_allclose(ours, ref, rtol=RTOL)


@pytest.mark.parametrize("sr, window, kw", LOGMEL_CASES[:5], ids=str)
@pytest.mark.parametrize("n_mfcc", [13, 20])
def test_mfcc_matches_librosa_on_random_signals(rng, sr, window, kw, n_mfcc):
    feat = mfcc_features(n_mfcc, **kw)
    fe = build(make_spec(feat, sr=sr, window=window))
    for x in (0.1 * rng.standard_normal(window), 0.01 * np.cumsum(rng.standard_normal(window)) / 30):
        ours = fe.raw(x)
        assert ours.shape == (n_mfcc, n_frames(window, feat), 1)
        assert_coef_close(ours[..., 0], librosa_mfcc(x, sr, feat))


def test_mfcc_with_top_db_matches_librosa_default_pipeline(rng):
    """librosa.feature.mfcc(y=...) clips at top_db=80 before the DCT: the same spec gives the same values."""
    feat = mfcc_features(13, 400, 160, top_db=80.0)
    x = np.zeros(16000)
    x[4000:9000] = 0.2 * rng.standard_normal(5000)              # loud burst in silence: the clip matters
    ours = build(make_spec(feat)).raw(x)[..., 0]
    ref = librosa.feature.mfcc(y=x, sr=16000, n_mfcc=13, n_fft=512, win_length=400, hop_length=160,
                               center=False, n_mels=40)          # librosa's own defaults otherwise
    assert_coef_close(ours, ref)
    no_clip = build(make_spec(mfcc_features(13, 400, 160))).raw(x)[..., 0]
    assert np.abs(no_clip - ours).max() > 10                      # the clip is not a no-op here


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_fsdd_recordings_match_librosa(fsdd, kind):
    """Real speech (jackson, nicolas, theo), each clip fitted to a 1 s window at 8 kHz, as at training."""
    feat = (logmel_features(200, 80, n_mels=40) if kind == "logmel"
            else mfcc_features(13, 200, 80, n_mels=40))
    fe = build(make_spec(feat, sr=8000.0, window=8000))
    batch = np.stack([fit_clip(x, 8000, {"align": "energy", "pad": "zeros"}) for _, x in fsdd])
    feats = fe.raw(batch)
    assert feats.shape == (len(fsdd), *logmel_shape(8000, feat))
    for (name, _), x, ours in zip(fsdd, batch, feats):
        if kind == "logmel":
            ref = librosa_db(x, 8000, feat)
            assert ref.min() == pytest.approx(-100.0), name        # the zero padding sits at the floor
            assert_db_close(ours[..., 0], ref)
        else:
            assert_coef_close(ours[..., 0], librosa_mfcc(x, 8000, feat))
    # the WAV reader's float32 samples give the same features as float64 ones
    np.testing.assert_allclose(fe.raw(batch.astype(np.float32)), feats, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------------
# batches, layouts, CMVN
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
@pytest.mark.parametrize("layout", ["freq_time", "time_freq", "flat"])
def test_batch_equals_one_at_a_time(rng, kind, layout):
    make = logmel_features if kind == "logmel" else (lambda *a, **k: mfcc_features(13, *a, **k))
    fe = build(make_spec(make(400, 160, layout=layout, cmvn=True, top_db=60.0)))
    # levels 80 dB apart: top_db is per window (not over the batch), like librosa on each window
    x = (rng.standard_normal((5, 16000)) * np.array([[1.0], [1e-2], [1e-4], [10.0], [1e-3]])).astype(np.float32)
    x[:, 4000:5000] *= 1e-4                                          # quiet stretches the clip reaches
    whole = fe.raw(x)
    for i in range(5):
        np.testing.assert_allclose(whole[i], fe.raw(x[i]), rtol=1e-13, atol=1e-13)
    assert fe.raw(x[:0]).shape == (0, *fe.spec.input_shape)
    assert fe(x).shape == (5, *fe.spec.input_shape) and fe(x).dtype == np.float32


def test_layouts_are_the_same_numbers_rearranged(rng):
    x = 0.1 * rng.standard_normal((2, 16000))
    base = dict(frame_length=480, hop_length=320, n_fft=512, fmin=125.0, fmax=7500.0, n_mels=40)
    out = {lay: build(make_spec(logmel_features(**base, layout=lay))).raw(x)
           for lay in ("freq_time", "time_freq", "flat")}
    assert out["freq_time"].shape == (2, 40, 49, 1)
    assert out["time_freq"].shape == (2, 49, 40, 1)
    assert out["flat"].shape == (2, 1960)                         # micro_speech's int8 [1, 1960] = 49 x 40
    np.testing.assert_array_equal(out["time_freq"][..., 0], np.swapaxes(out["freq_time"][..., 0], 1, 2))
    # flat is frame after frame: element [t * 40 + m] is band m of frame t
    np.testing.assert_array_equal(out["flat"].reshape(2, 49, 40), out["time_freq"][..., 0])
    np.testing.assert_array_equal(out["flat"][:, 3 * 40 + 7], out["freq_time"][:, 7, 3, 0])
    assert mfcc_shape(16000, mfcc_features(10, **base, layout="flat")) == (490,)


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_cmvn_zero_mean_unit_variance_and_level_invariance(rng, kind):
    make = logmel_features if kind == "logmel" else (lambda *a, **k: mfcc_features(13, *a, **k))
    plain = build(make_spec(make(200, 80, cmvn=False), sr=8000.0, window=8000))
    fe = build(make_spec(make(200, 80, cmvn=True), sr=8000.0, window=8000))
    x = 0.05 * rng.standard_normal(8000) * (1 + np.sin(np.linspace(0, 9, 8000)))    # level varies in time
    c = fe.raw(x)[..., 0]                                            # (n_coef, n_frames)
    np.testing.assert_allclose(c.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(c.std(axis=1), 1.0, rtol=1e-12)
    p = plain.raw(x)[..., 0]
    np.testing.assert_allclose(c, (p - p.mean(1, keepdims=True)) / p.std(1, keepdims=True), atol=1e-10)
    # a speaker 10x louder (+20 dB in every band): the plain features move, the CMVN ones do not
    assert np.abs(plain.raw(10 * x) - plain.raw(x)).max() > 1.0
    np.testing.assert_allclose(fe.raw(10 * x), fe.raw(x), atol=1e-9)


def test_cmvn_floor_keeps_constant_bands_finite():
    fe = build(make_spec(logmel_features(200, 80, cmvn=True), sr=8000.0, window=8000))
    silent = fe.raw(np.zeros(8000))                                  # every band at the floor: variance 0
    assert np.all(silent == 0.0)
    tone = fe.raw(0.5 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000))     # steady: tiny variances
    assert np.isfinite(tone).all() and np.abs(tone).max() < 1.0       # not blown up to unit variance


# ---------------------------------------------------------------------------------------------------
# build / validate through Spec.from_dict
# ---------------------------------------------------------------------------------------------------
def test_registered_and_build_end_to_end(fsdd):
    assert FEATURE_TYPES["logmel"].front_end and FEATURE_TYPES["mfcc"].validate
    x = np.stack([fit_clip(c, 8000, {"align": "energy", "pad": "noise", "noise_dbfs": -70.0})
                  for _, c in fsdd]).astype(np.float32)
    for feat in (logmel_features(200, 80, cmvn=True), mfcc_features(13, 200, 80, layout="time_freq")):
        spec = make_spec(feat, sr=8000.0, window=8000, normalization={"type": "standard", "mean": -3.0,
                                                                        "std": 2.5})
        again = checked(Spec.from_json(spec.to_json()))                    # what a device reads from the artifact
        assert again.features == feat
        fe = build(again)
        out = fe(x)
        assert out.dtype == np.float32 and out.shape == (len(fsdd), *logmel_shape(8000, feat))
        np.testing.assert_allclose(out, ((fe.raw(x) + 3.0) / 2.5).astype(np.float32), rtol=1e-6)
        np.testing.assert_allclose(fe(x[0]), out[0], rtol=1e-6, atol=1e-6)    # one window, no batch axis
        with pytest.raises(EdgekitError, match="windows of 8000 samples"):
            fe(x[:, :7999])


BAD = [  # (changes to logmel_features(400, 160) at 16 kHz / 16000 samples, words the message must hold)
    (dict(frame_length=1), "frame_length"),
    (dict(frame_length=400.0), "frame_length"),
    (dict(hop_length=0), "hop_length"),
    (dict(n_fft=256), "n_fft"),                        # shorter than the frame
    (dict(n_fft=1 << 17), "n_fft"),
    (dict(window="nope"), "window"),
    (dict(window=["kaiser"]), "window"),
    (dict(window=3), "window"),
    (dict(n_mels=0), "n_mels"),
    (dict(n_mels=True), "n_mels"),
    (dict(fmin=-5.0), "fmin"),
    (dict(fmax=9000.0), "fmax"),                        # above Nyquist
    (dict(fmin=4000.0, fmax=3000.0), "fmin"),
    (dict(fmax="8k"), "fmax"),
    (dict(htk="yes"), "htk"),
    (dict(norm="l2"), "norm"),
    (dict(amin=0.0), "amin"),
    (dict(amin=1e6), "amin"),
    (dict(top_db=-1.0), "top_db"),
    (dict(cmvn=1), "cmvn"),
    (dict(cmvn_floor=0.0), "cmvn_floor"),
    (dict(layout="channels_last"), "layout"),
    (dict(hop=160), "hop"),                             # a typo is refused, not ignored
    (dict(clip={"align": "middle"}), "features.clip: align must be one of"),
    (dict(clip="energy"), "features.clip must be an object"),
    (dict(n_mels=160, n_fft=400, frame_length=400), "4 of the 160 mel bands cover no FFT bin"),  # librosa warns
]


@pytest.mark.parametrize("change, words", BAD, ids=str)
def test_validation_refuses_bad_features_in_one_line(change, words):
    feat = {**logmel_features(400, 160), **change}
    d = Spec(task="stft", kind="classification", sample_rate=16000.0, window=16000, input_shape=(40, 98, 1),
             features=feat, normalization={"type": "none"}, labels=("a", "b")).to_dict()
    with pytest.raises(EdgekitError) as e:
        checked(Spec.from_dict(d, source="m.tflite"), "m.tflite")
    msg = str(e.value)
    assert words in msg and "\n" not in msg and msg.startswith("m.tflite: invalid edgekit spec")


def test_validation_checks_input_shape_n_mfcc_and_window():
    feat = logmel_features(400, 160)
    with pytest.raises(EdgekitError, match=r"input_shape \[97, 40, 1\] does not match .*\[40, 97, 1\]"):
        make_spec(feat, input_shape=[97, 40, 1])
    with pytest.raises(EdgekitError, match="n_fft 512 is longer than the window 500"):
        make_spec(feat, window=500, input_shape=[40, 1, 1])
    with pytest.raises(EdgekitError, match="n_mfcc"):
        make_spec(mfcc_features(41, 400, 160), input_shape=[41, 97, 1])
    with pytest.raises(EdgekitError, match="n_mfcc is not a logmel parameter"):
        make_spec({**feat, "n_mfcc": 13}, input_shape=[13, 97, 1])
    # a recorded pad/crop policy rides along in the features, checked, with its defaults filled in
    with_clip = logmel_features(400, 160, clip={"pad": "noise"})
    assert with_clip["clip"] == {"align": "energy", "pad": "noise", "noise_dbfs": -80.0, "seed": 0}
    assert make_spec(with_clip).features["clip"] == with_clip["clip"]
    assert mfcc_features(13, clip={"align": "start"})["clip"] == {"align": "start", "pad": "zeros"}
    # fmax null means half the sample rate; a missing top_db is none
    spec = make_spec({k: v for k, v in feat.items() if k != "top_db"})
    assert build(spec).raw(np.zeros(16000)).shape == (40, 97, 1)


# ---------------------------------------------------------------------------------------------------
# clip.py: pad/crop policy
# ---------------------------------------------------------------------------------------------------
def burst_clip(n: int, at: int, width: int, rng) -> np.ndarray:
    x = 1e-3 * rng.standard_normal(n)
    x[at:at + width] += 0.5 * np.hanning(width) * np.sin(np.arange(width) * 0.3)
    return x


@pytest.mark.parametrize("align", ["energy", "start", "center"])
@pytest.mark.parametrize("pad", [{"pad": "zeros"}, {"pad": "noise", "noise_dbfs": -60.0, "seed": 3}])
@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 5000])
def test_fit_clip_exact_length_and_content(rng, align, pad, n):
    x = rng.standard_normal(n).astype(np.float32)
    out = fit_clip(x, 1000, {"align": align, **pad})
    assert out.shape == (1000,) and out.dtype == np.float32
    if n == 1000:
        np.testing.assert_array_equal(out, x)
    elif n > 1000:                                               # a contiguous piece of the clip
        starts = [s for s in range(n - 999) if np.array_equal(x[s:s + 1000], out)]
        assert starts and (align != "start" or starts == [0])
        assert align != "center" or starts == [(n - 1000) // 2]
    else:                                                        # the whole clip, somewhere inside
        offs = [o for o in range(1001 - n) if np.array_equal(out[o:o + n], x)]
        assert offs and (align != "start" or 0 in offs)
        assert align != "center" or (1000 - n) // 2 in offs
        o = offs[0]
        rest = np.concatenate((out[:o], out[o + n:]))
        if pad["pad"] == "zeros":
            assert np.all(rest == 0)
        else:
            noise = pad_noise(1000, -60.0, 3).astype(np.float32)
            np.testing.assert_array_equal(rest, np.concatenate((noise[:o], noise[o + n:])))
    np.testing.assert_array_equal(fit_clip(x, 1000, {"align": align, **pad}), out)     # deterministic
    assert not np.shares_memory(out, x)                                                  # never a view


def test_energy_alignment_centres_the_loud_part(rng):
    # longer clip: a 0.2 s word at 2.1 s of a 3 s recording, window 1 s at 8 kHz
    x = burst_clip(24000, 16800, 1600, rng)
    out = fit_clip(x, 8000, {"align": "energy", "pad": "zeros"})
    s = int(np.flatnonzero(x == out[0])[0])                      # noise samples are unique
    np.testing.assert_array_equal(out, x[s:s + 8000])
    word_centre = 16800 + 800 - s
    assert abs(word_centre - 4000) <= 40                           # centred in the window
    assert np.sum(out**2) >= 0.99 * np.sum(x[16800:18400] ** 2)    # holds the whole word
    assert fit_clip(x, 8000, {"align": "start", "pad": "zeros"}).std() < 0.01     # "start" misses it
    # near the end: the window is kept inside the clip, the word still whole
    x = burst_clip(24000, 23000, 900, rng)
    out = fit_clip(x, 8000, {"align": "energy", "pad": "zeros"})
    np.testing.assert_array_equal(out, x[-8000:])
    # shorter clip: its energy centroid goes to the window centre
    x = burst_clip(3000, 300, 600, rng)
    out = fit_clip(x, 8000, {"align": "energy", "pad": "zeros"})
    e = out**2
    assert abs(np.dot(np.arange(8000), e) / e.sum() - 3999.5) <= 1.0
    # a clip whose energy sits at its very start moves right only as far as keeps it whole
    x = burst_clip(7000, 0, 800, rng)
    out = fit_clip(x, 8000, {"align": "energy", "pad": "zeros"})
    np.testing.assert_array_equal(out[1000:], x)
    assert np.all(out[:1000] == 0)
    # silence is centred
    out = fit_clip(np.zeros(10), 20, {"align": "energy", "pad": "noise"})
    np.testing.assert_array_equal(out[5:15], 0.0)


def test_energy_alignment_on_fsdd_keeps_the_spoken_digit(fsdd):
    for name, x in fsdd:
        for window in (2000, 4000, 16000):                          # shorter and longer than the clips
            out = fit_clip(x, window, {"align": "energy", "pad": "zeros"})
            assert out.shape == (window,)
            kept = np.sum(out**2) / np.sum(x**2)
            if window >= x.size:
                assert kept == pytest.approx(1.0)
            else:     # the densest stretch: at least what any other placement keeps, within a sample
                best = np.max(np.convolve(x**2, np.ones(window), mode="valid")) / np.sum(x**2)
                assert kept >= 0.9 * best, name


def test_noise_padding_is_deterministic_and_at_the_level_asked():
    a = pad_noise(100_000, -40.0, seed=7)
    np.testing.assert_array_equal(a, pad_noise(100_000, -40.0, seed=7))
    assert 20 * np.log10(np.sqrt(np.mean(a**2))) == pytest.approx(-40.0, abs=0.05)
    assert np.abs(a).max() <= np.sqrt(3) * 0.01
    assert not np.array_equal(a[:100], pad_noise(100, -40.0, seed=8))
    np.testing.assert_array_equal(pad_noise(100, -40.0, seed=7), a[:100])   # position i: the same sample
    # white and uniform on [-sqrt(3) rms, sqrt(3) rms]: flat histogram, no correlation between neighbours
    hist, _ = np.histogram(a, bins=10, range=(-np.sqrt(3) * 0.01, np.sqrt(3) * 0.01))
    assert np.all(np.abs(hist / a.size - 0.1) < 0.005)
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.01
    # golden values: PCG64's raw stream is stable across numpy versions, so the pad is too
    np.testing.assert_allclose(pad_noise(3, -20.0, seed=0), [0.0474449202262242, -0.07974822166767469,
                                                             -0.15901143571236195], rtol=1e-15)


@pytest.mark.parametrize("policy, words", [
    ("energy", "must be an object"),
    ({"align": "middle"}, "align"),
    ({"pad": "reflect"}, "pad"),
    ({"pad": "zeros", "seed": 1}, "seed applies to pad 'noise' only"),
    ({"pad": "noise", "noise_dbfs": 3.0}, "noise_dbfs"),
    ({"pad": "noise", "noise_dbfs": float("nan")}, "noise_dbfs"),
    ({"pad": "noise", "seed": -1}, "seed"),
    ({"pad": "noise", "seed": 1.5}, "seed"),
    ({"align": "energy", "pad": "zeros", "crop": "start"}, "unknown key 'crop'"),
], ids=str)
def test_clip_policy_errors_are_one_line(policy, words):
    with pytest.raises(EdgekitError) as e:
        check_clip_policy(policy)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_clip_policy_defaults_and_bad_clips():
    assert clip_policy() == {"align": "energy", "pad": "zeros"}
    assert clip_policy("start", "noise") == {"align": "start", "pad": "noise", "noise_dbfs": -80.0, "seed": 0}
    assert check_clip_policy({}) == {"align": "energy", "pad": "zeros"}
    ok = {"align": "energy", "pad": "zeros"}
    for x, words in [(np.zeros((2, 100)), "1-D"), (np.zeros(0), "empty"), (np.array([1.0, np.nan]), "NaN"),
                     (np.zeros(10, complex), "real")]:
        with pytest.raises(EdgekitError, match=words):
            fit_clip(x, 50, ok)
    with pytest.raises(EdgekitError, match="window"):
        fit_clip(np.zeros(10), 0, ok)
    with pytest.raises(EdgekitError, match="int16 / 32768"):
        fit_clip(np.zeros(10, np.int16), 50, {"pad": "noise"})
    ints = fit_clip(np.arange(10, dtype=np.int16), 20, {"align": "start", "pad": "zeros"})
    assert ints.dtype == np.float64 and list(ints[:10]) == list(range(10))
