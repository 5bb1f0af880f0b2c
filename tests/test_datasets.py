"""load_signals: synthetic, course pickle, .npz and WAV folders; every bad input is a one-line error."""
import pickle

import numpy as np
import pytest
from scipy.io import wavfile

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.sources.synth import vibration
from edgekit.train.datasets import SignalDataset, load_signals, save_course_pickle

L = 400


def _course(n=6, c=3, fs=12000.0, time_2d=False, as_list=False, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    sig = rng.standard_normal((n, L))
    t = np.arange(L) / fs
    return {
        "time": np.tile(t, (n, 1)) if time_2d else t,
        "signal": [s for s in sig] if as_list else sig,
        "label": np.eye(c)[y],
    }, sig, y


def _pkl(path, obj, protocol=4):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _err(path, **kw):
    with pytest.raises(EdgekitError) as e:
        load_signals(str(path), **kw)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# -- synthetic and round trips --------------------------------------------------------------------

def test_synthetic_default():
    ds = load_signals(None, n=20, seed=4)
    x, y = vibration(20, seed=4)
    assert isinstance(ds, SignalDataset)
    np.testing.assert_array_equal(ds.signals, x)
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.label_names == ["A", "B"] and ds.fs == 12800.0 and ds.source == "synthetic"


def test_save_course_pickle_round_trips(tmp_path):
    x, y = vibration(10, seed=2)
    out = tmp_path / "data.pkl"
    save_course_pickle(out, SignalDataset(x, y, ["A", "B"], 12800.0, "synthetic"))
    assert out.read_bytes()[:2] == b"\x80\x04"                       # protocol 4
    raw = pickle.loads(out.read_bytes())
    assert set(raw) == {"time", "signal", "label"}
    assert raw["time"].dtype == np.float64 and raw["time"].shape == (10000,)
    np.testing.assert_array_equal(raw["label"], np.eye(2)[y])
    ds = load_signals(str(out))
    np.testing.assert_array_equal(ds.signals, x)
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.signals.dtype == np.float32 and ds.labels.dtype == np.int64
    assert ds.fs == 12800.0 and ds.label_names == ["A", "B"] and ds.source == str(out)


def test_save_keeps_custom_label_names(tmp_path):
    x = np.zeros((4, 50), np.float32)
    save_course_pickle(tmp_path / "d.pkl", SignalDataset(x, np.array([0, 1, 2, 1]), ["cat", "dog", "eel"],
                                                         8000.0, "x"))
    ds = load_signals(tmp_path / "d.pkl")
    assert ds.label_names == ["cat", "dog", "eel"] and ds.fs == 8000.0


# -- the course pickle ----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("time_2d, as_list", [(False, False), (True, True)])
def test_course_pickle_three_classes_at_12000(tmp_path, protocol, time_2d, as_list):
    obj, sig, y = _course(time_2d=time_2d, as_list=as_list)
    ds = load_signals(_pkl(tmp_path / "c.pickle", obj, protocol))
    assert ds.fs == 12000.0                                          # from the time vector, not 12800
    assert ds.label_names == ["A", "B", "C"]
    np.testing.assert_array_equal(ds.labels, y)
    np.testing.assert_array_equal(ds.signals, sig.astype(np.float32))
    assert ds.signals.shape == (6, L) and ds.signals.dtype == np.float32


@pytest.mark.parametrize("dt, fs", [(7.8125e-5, 12800.0), (1 / 44100, 44100.0), (1 / 8000, 8000.0),
                                    (0.5, 2.0), (300.0, 1 / 300)])
def test_sample_rate_from_time(tmp_path, dt, fs):
    obj, _, _ = _course(c=2)
    obj["time"] = (np.arange(L) * dt).astype(np.float64)
    assert load_signals(_pkl(tmp_path / "t.pkl", obj)).fs == pytest.approx(fs, rel=1e-9)
    obj["time"] = obj["time"].astype(np.float32)                     # float32 time vectors too
    got = load_signals(_pkl(tmp_path / "t.pkl", obj)).fs
    assert got == pytest.approx(fs, rel=1e-6)
    if fs > 1:
        assert got == fs


def test_given_fs_checks_or_replaces_time(tmp_path):
    obj, _, _ = _course()
    path = _pkl(tmp_path / "c.pkl", obj)
    assert load_signals(str(path), fs=12005.0).fs == 12005.0          # within 0.1 %: the given one
    msg = _err(path, fs=12800.0)
    assert "c.pkl" in msg and "12000" in msg and "12800" in msg
    del obj["time"]
    path = _pkl(tmp_path / "notime.pkl", obj)
    assert load_signals(str(path), fs=12000).fs == 12000.0
    msg = _err(path)
    assert "notime.pkl" in msg and "'time'" in msg


def _bad_course(kind):
    obj, sig, y = _course()
    if kind == "missing label":
        del obj["label"]
    elif kind == "missing signal":
        del obj["signal"]
    elif kind == "count mismatch":
        obj["label"] = obj["label"][:-1]
    elif kind == "row sums to 2":
        obj["label"][2] = [1, 1, 0]
    elif kind == "soft row":
        obj["label"][1] = [0.5, 0.5, 0]
    elif kind == "nan":
        obj["signal"][3, 7] = np.nan
    elif kind == "inf":
        obj["signal"][0, 0] = np.inf
    elif kind == "one class":
        obj["label"] = np.tile([1.0, 0.0], (6, 1))
    elif kind == "one column":
        obj["label"] = np.ones((6, 1))
    elif kind == "index labels":
        obj["label"] = y
    elif kind == "not a dict":
        obj = [sig, y]
    elif kind == "ragged":
        obj["signal"] = [np.zeros(L), np.zeros(L - 1)] * 3
    elif kind == "strings":
        obj["signal"] = np.array([["a"] * L] * 6)
    elif kind == "time length":
        obj["time"] = obj["time"][:-3]
    elif kind == "time decreasing":
        obj["time"] = obj["time"][::-1].copy()
    elif kind == "time nan":
        obj["time"][5] = np.nan
    elif kind == "empty":
        obj["signal"] = np.zeros((0, L))
        obj["label"] = np.zeros((0, 3))
    return obj


@pytest.mark.parametrize("kind, words", [
    ("missing label", "'label'"), ("missing signal", "'signal'"), ("count mismatch", "6 signals but 5 labels"),
    ("row sums to 2", "row 2"), ("soft row", "row 1"), ("nan", "NaN"), ("inf", "NaN/inf"),
    ("one class", "1 class"), ("one column", "at least 2"), ("index labels", "one-hot"),
    ("not a dict", "dict"), ("ragged", "same length"), ("strings", "numbers"),
    ("time length", "'time'"), ("time decreasing", "increasing"), ("time nan", "increasing"),
    ("empty", "non-empty"),
])
def test_course_pickle_errors_name_the_file(tmp_path, kind, words):
    path = _pkl(tmp_path / "bad_course.pkl", _bad_course(kind))
    msg = _err(path)
    assert "bad_course.pkl" in msg and words in msg, msg


def test_malicious_course_pickle_is_refused(tmp_path):
    import os

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    obj, _, _ = _course()
    obj["meta"] = Evil()
    msg = _err(_pkl(tmp_path / "evil.pkl", obj))
    assert "evil.pkl" in msg and "refusing to unpickle" in msg
    assert not marker.exists()


def test_rows_repeated_by_reference_are_counted_before_numpy_sees_them(tmp_path, monkeypatch):
    """A small pickle whose 'signal' repeats one row by memo reference ("billion laughs") is refused by its
    sample count, not converted first (a 10 MB one held hours of conversion)."""
    import edgekit.edge.formats.course as course
    monkeypatch.setattr(course, "MAX_SAMPLES", 10_000)
    obj, _, _ = _course()
    row = [0.0] * L
    obj.update(signal=[row] * 100, label=[[1.0, 0.0]] * 100)
    path = _pkl(tmp_path / "laughs.pkl", obj)
    assert path.stat().st_size < 8000
    msg = _err(path)
    assert "laughs.pkl: 'signal' holds 40,000 samples, more than the limit of 10,000; split the file" in msg


@pytest.mark.parametrize("key", ["signal", "label", "time", "label_names"])
def test_deeply_nested_values_are_one_line_errors(tmp_path, key):
    obj, _, _ = _course()
    deep = 0.0
    for _ in range(100):
        deep = [deep]
    obj[key] = deep if key == "label_names" else [deep, deep]
    msg = _err(_pkl(tmp_path / "deep.pkl", obj))
    assert f"'{key}' is nested too deeply" in msg, msg


@pytest.mark.parametrize("bad", ["B\nerror: forged", "\x1b[2JB", "B\u202e", "\ud800"])
def test_label_names_with_unprintable_characters_are_refused(tmp_path, bad):
    obj, _, _ = _course()
    obj["label_names"] = ["A", bad, "C"]
    msg = _err(_pkl(tmp_path / "names.pkl", obj))
    assert "names.pkl: label name" in msg and "unprintable character U+" in msg, msg


@pytest.mark.parametrize("name, content, words", [
    ("data.csv", b"a,b\n", "unknown data format"),
    ("data", b"xx", "unknown data format"),
    ("missing.pkl", None, "no such file"),
    ("trunc.pkl", b"\x80\x04\x95", "not a readable pickle"),
])
def test_file_level_errors(tmp_path, name, content, words):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    msg = _err(path)
    assert name in msg and words in msg, msg


# -- .npz -----------------------------------------------------------------------------------------

def test_npz_onehot_with_fs(tmp_path):
    obj, sig, y = _course()
    np.savez(tmp_path / "d.npz", signal=sig, label=obj["label"], fs=np.float64(12000))
    ds = load_signals(tmp_path / "d.npz")
    assert ds.fs == 12000.0 and ds.label_names == ["A", "B", "C"]
    np.testing.assert_array_equal(ds.labels, y)


def test_npz_indices_names_and_time(tmp_path):
    _, sig, y = _course(c=2)
    np.savez_compressed(tmp_path / "d.npz", signal=sig.astype(np.float32), label=y.astype(np.int32),
                        time=np.arange(L) / 16000.0, label_names=np.array(["healthy", "fault"]))
    ds = load_signals(str(tmp_path / "d.npz"))
    assert ds.fs == 16000.0 and ds.label_names == ["healthy", "fault"]
    np.testing.assert_array_equal(ds.labels, y)
    assert ds.signals.dtype == np.float32 and ds.labels.dtype == np.int64


@pytest.mark.parametrize("kind, words", [
    ("no label", "'label'"), ("object", "object arrays"), ("no fs", "'fs' or 'time'"),
    ("fs disagrees", "differ"), ("names count", "label_names"), ("negative", "≥ 0"),
    ("corrupt", "not a readable"), ("fs and time disagree", "disagree"),
])
def test_npz_errors_name_the_file(tmp_path, kind, words):
    _, sig, y = _course(c=2)
    path = tmp_path / "bad.npz"
    arrays = {"signal": sig, "label": y, "fs": np.float64(8000)}
    kw = {}
    if kind == "no label":
        del arrays["label"]
    elif kind == "object":
        arrays["label"] = np.array([0, "x", 1, 0, 1, 0], dtype=object)
    elif kind == "no fs":
        del arrays["fs"]
    elif kind == "fs disagrees":
        kw = {"fs": 16000}
    elif kind == "names count":
        arrays["label_names"] = np.array(["a", "b", "c"])
    elif kind == "negative":
        arrays["label"] = y - 1
    elif kind == "fs and time disagree":
        arrays["time"] = np.arange(L) / 9000.0
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04 definitely not a zip")
    else:
        np.savez(path, **arrays)
    msg = _err(path, **kw)
    assert "bad.npz" in msg and words in msg, msg


# -- WAV folders ----------------------------------------------------------------------------------

def _i16(x):
    return np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)


@pytest.fixture
def wav_root(tmp_path):
    """dog/ 2 files at 8 kHz (one stereo), cat/ 1 file at 16 kHz, bird/ 1 file at 8 kHz."""
    root = tmp_path / "sounds"
    for d in ("dog", "cat", "bird"):
        (root / d).mkdir(parents=True)
    t8 = np.arange(800) / 8000
    wavfile.write(root / "dog" / "a.wav", 8000, _i16(0.5 * np.sin(2 * np.pi * 440 * t8)))
    stereo = np.stack([0.6 * np.ones(1000), 0.2 * np.ones(1000)], axis=1)
    wavfile.write(root / "dog" / "b.wav", 8000, _i16(stereo))
    t16 = np.arange(1200) / 16000
    wavfile.write(root / "cat" / "c.wav", 16000, _i16(0.5 * np.sin(2 * np.pi * 440 * t16)))
    wavfile.write(root / "bird" / "d.wav", 8000, _i16(0.25 * np.ones(500)))
    return root


def test_wav_folder(wav_root):
    pytest.importorskip("edgekit.edge.formats.wav")
    ds = load_signals(str(wav_root))
    assert ds.label_names == ["bird", "cat", "dog"]                   # alphabetical
    np.testing.assert_array_equal(ds.labels, [0, 1, 2, 2])
    assert ds.fs == 8000.0                                           # the first file's rate (bird/d.wav)
    # lengths after resampling: 500, 600 (1200 at 16 kHz), 800, 1000 -> median 700
    assert ds.signals.shape == (4, 700) and ds.signals.dtype == np.float32
    bird, cat, dog_a, dog_b = ds.signals
    np.testing.assert_allclose(bird[:500], 0.25, atol=1e-4)
    assert np.all(bird[500:] == 0)                                   # zero-padded
    np.testing.assert_allclose(dog_b, 0.4, atol=1e-4)                # stereo mixed down, cut to 700
    t = np.arange(700) / 8000
    np.testing.assert_allclose(dog_a, 0.5 * np.sin(2 * np.pi * 440 * t), atol=1e-3)
    # the 16 kHz file was resampled to 8 kHz: still a 440 Hz sine (edges aside), 600 samples long
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(600) / 8000)
    np.testing.assert_allclose(cat[50:550], ref[50:550], atol=0.02)
    assert np.all(cat[600:] == 0)


def test_wav_folder_rate_and_length(wav_root):
    pytest.importorskip("edgekit.edge.formats.wav")
    ds = load_signals(wav_root, fs=16000, length=1000)
    assert ds.fs == 16000.0 and ds.signals.shape == (4, 1000)
    bird = ds.signals[0]
    np.testing.assert_allclose(bird[100:900], 0.25, atol=2e-3)       # 500 samples at 8 kHz -> 1000
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(1000) / 16000)
    np.testing.assert_allclose(ds.signals[1][:1000], ref, atol=1e-4)  # cat: already 16 kHz, cut


@pytest.mark.parametrize("kind, words", [
    ("empty", "no class sub-folders"), ("one class", "only one class"), ("no wavs", "no .wav files"),
    ("loose", "no label"), ("corrupt", "broken.wav"), ("empty wav", "empty.wav"),
])
def test_wav_folder_errors(tmp_path, kind, words):
    pytest.importorskip("edgekit.edge.formats.wav")
    root = tmp_path / "wavs"
    root.mkdir()
    tone = _i16(0.1 * np.ones(100))
    if kind != "empty":
        (root / "a").mkdir()
        wavfile.write(root / "a" / "x.wav", 8000, tone)
    if kind in ("no wavs", "loose", "corrupt", "empty wav"):
        (root / "b").mkdir()
        if kind != "no wavs":
            wavfile.write(root / "b" / "y.wav", 8000, tone)
    if kind == "loose":
        wavfile.write(root / "z.wav", 8000, tone)
    if kind == "corrupt":
        (root / "b" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    if kind == "empty wav":
        wavfile.write(root / "b" / "empty.wav", 8000, np.zeros(0, np.int16))
    msg = _err(root)
    assert "wavs" in msg and words in msg, msg


def test_fsdd_digits_folder(tmp_path, shared_data):
    """Real recordings (read-only, linked, never copied): 8 kHz spoken digits, two classes."""
    pytest.importorskip("edgekit.edge.formats.wav")
    rec = shared_data / "fsdd" / "recordings"
    if not rec.is_dir():
        pytest.skip("fsdd recordings not present")
    root = tmp_path / "digits"
    for digit in ("0", "1"):
        (root / digit).mkdir(parents=True)
        for k in range(3):
            src = rec / f"{digit}_jackson_{k}.wav"
            (root / digit / src.name).symlink_to(src)
    ds = load_signals(root)
    assert ds.fs == 8000.0 and ds.label_names == ["0", "1"] and len(ds.signals) == 6
    assert np.isfinite(ds.signals).all() and np.abs(ds.signals).max() <= 1.0
    assert ds.signals.std() > 0.01
