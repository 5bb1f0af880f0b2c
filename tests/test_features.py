"""edgekit.edge.frontend.spectrogram: windows and spectrogram agree with scipy.signal (numpy-only code)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.frontend.dsp import get_window, spectrogram


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-6) -> None:
    assert actual.shape == expected.shape
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-12 * scale)


def both(x: np.ndarray, fs: float, **kw):
    """Our spectrogram and scipy's with the same arguments (scipy's defaults differ: pass them)."""
    kw.setdefault("scaling", "spectrum")
    kw.setdefault("mode", "magnitude")
    return spectrogram(x, fs, **kw), ss.spectrogram(x, fs, **kw)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# ---------------------------------------------------------------------------------------------
# get_window
# ---------------------------------------------------------------------------------------------
WINDOWS = ["hann", "hamming", "blackman", "boxcar", "rect", "tukey", ("tukey", 0.25), ("tukey", 0.0),
           ("tukey", 1.0), ("kaiser", 5.0), ("kaiser", 14.0), ("gaussian", 7.0), "han", "hann_symmetric",
           "hamming_periodic", 8.6]


@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize("n", [1, 2, 3, 8, 255, 256])
@pytest.mark.parametrize("fftbins", [True, False])
def test_get_window_matches_scipy(window, n, fftbins):
    ours = get_window(window, n, fftbins=fftbins)
    ref = ss.get_window(window, n, fftbins=fftbins)
    assert ours.dtype == np.float64 and ours.shape == (n,)
    np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-15)


def test_get_window_periodic_differs_from_symmetric():
    assert not np.allclose(get_window("hann", 16), get_window("hann", 16, fftbins=False))
    assert get_window("hann", 16)[0] == 0.0 and get_window("hann", 16)[8] == pytest.approx(1.0)


def test_get_window_array_is_float64_copy():
    w = np.arange(5, dtype=np.float32)
    out = get_window(w, 5)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, w)
    out[0] = 99
    assert w[0] == 0


@pytest.mark.parametrize(
    "window, n",
    [("nope", 8), (("kaiser",), 8), ("kaiser", 8), (("hann", 3.0), 8), (("gaussian", 0.0), 8),
     (np.ones(7), 8), (np.ones((2, 4)), 8), ("hann", 0), ("hann", 2.5), (("tukey", "x"), 8), ((3.0,), 8)],
    ids=str,
)
def test_get_window_errors(window, n):
    with pytest.raises(EdgekitError):
        get_window(window, n)


# ---------------------------------------------------------------------------------------------
# spectrogram parity
# ---------------------------------------------------------------------------------------------
def test_project_default_shape_and_values(rng):
    x = rng.standard_normal(10000)
    (f, t, s), (f2, t2, s2) = both(x, 12800)
    assert s.shape == (129, 44)
    assert s.dtype == np.float64
    assert_close(s, s2)
    assert_close(f, f2)
    assert_close(t, t2)
    # the defaults are the project's: spectrum scaling, magnitude mode, tukey(0.25), nperseg 256
    f3, t3, s3 = spectrogram(x, 12800)
    np.testing.assert_array_equal(s3, s)


PARAMS = [
    dict(),
    dict(mode="psd"),
    dict(mode="psd", scaling="density"),
    dict(mode="magnitude", scaling="density"),
    dict(mode="psd", scaling="density", detrend="linear"),
    dict(window="hann", nperseg=128, noverlap=64),
    dict(window="hamming", nperseg=200, noverlap=0, nfft=512, mode="psd"),
    dict(window="hann", nperseg=255, noverlap=100, nfft=301, mode="psd"),  # odd nfft: no Nyquist bin
    dict(window="blackman", nperseg=64, noverlap=63, detrend=False),
    dict(window="boxcar", nperseg=100, noverlap=None, detrend="linear", mode="psd"),
    dict(window=("tukey", 0.5), nperseg=512, noverlap=256, detrend=None),
    dict(window=("kaiser", 8.0), nperseg=100, nfft=128),
    dict(window=("gaussian", 20.0), nperseg=96),
    dict(window="rect", nperseg=1, noverlap=0),
]


@pytest.mark.parametrize("kw", PARAMS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_spectrogram_matches_scipy(rng, kw):
    x = rng.standard_normal(3001) + 0.5 + 1e-3 * np.arange(3001)  # offset + trend exercise detrend
    (f, t, s), (f2, t2, s2) = both(x, 8000.0, **kw)
    assert s.dtype == s2.dtype
    assert_close(s, s2)
    assert_close(f, f2)
    assert_close(t, t2)


def test_array_window_sets_nperseg(rng):
    x = rng.standard_normal(2000)
    w = rng.uniform(0.1, 1.0, 100)
    (f, t, s), (f2, t2, s2) = both(x, 100.0, window=w)
    assert s.shape == (51, (2000 - 100) // (100 - 12) + 1)
    assert_close(s, s2)
    assert_close(t, t2)
    (_, _, s), (_, _, s2) = both(x, 100.0, window=w, nperseg=100, noverlap=30, mode="psd")
    assert_close(s, s2)


def test_batched_matches_scipy_and_loop(rng):
    x = rng.standard_normal((3, 5, 2500))
    (f, t, s), (f2, t2, s2) = both(x, 12800, nperseg=256, mode="psd")
    assert s.shape == (3, 5, 129, (2500 - 256) // 224 + 1)
    assert_close(s, s2)
    # each signal on its own gives the same slice
    _, _, one = spectrogram(x[2, 3], 12800, mode="psd")
    np.testing.assert_allclose(s[2, 3], one, rtol=1e-12, atol=0)


@pytest.mark.parametrize("axis", [0, 1, -2, 2, -1, -3])
def test_axis_argument(rng, axis):
    shape = [4, 3, 5]
    shape[axis] = 700
    x = rng.standard_normal(shape)
    (f, t, s), (f2, t2, s2) = both(x, 50.0, nperseg=64, noverlap=16, axis=axis, detrend="linear")
    assert s.shape == s2.shape
    assert_close(s, s2)
    assert_close(t, t2)


def test_float32_input_gives_float32_like_scipy(rng):
    x = rng.standard_normal((2, 10000)).astype(np.float32)
    for mode, dtype in (("magnitude", np.float32), ("psd", np.float32)):
        (_, _, s), (_, _, s2) = both(x, 12800, mode=mode)
        assert s.dtype == s2.dtype == dtype
        # scipy computes in single precision, we compute in double: float32 rounding apart
        assert_close(s, s2, rtol=2e-4)
        _, _, s64 = spectrogram(x.astype(np.float64), 12800, mode=mode)
        np.testing.assert_allclose(s, s64, rtol=1e-6, atol=1e-6 * np.abs(s64).max())


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint8])
def test_integer_input(rng, dtype):
    x = rng.integers(0, 100, 3000).astype(dtype)
    (_, _, s), (_, _, s2) = both(x, 1000, nperseg=128)
    assert s.dtype == s2.dtype
    assert_close(s, s2, rtol=1e-5 if s.dtype == np.float32 else 1e-6)


def test_spectrum_of_a_sine_peaks_at_its_frequency():
    fs, f0 = 12800, 1000.0
    x = np.sin(2 * np.pi * f0 * np.arange(10000) / fs)
    f, t, s = spectrogram(x, fs, window="hann")
    assert np.all(np.abs(f[np.argmax(s, axis=0)] - f0) <= fs / 256 / 2)
    # spectrum scaling of a periodic hann: amplitude A sine -> |X| = A/2 at the peak
    assert s.max() == pytest.approx(0.5, rel=0.2)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "x, kw, words",
    [
        (np.zeros(100), dict(nperseg=256), "longer than the signal"),
        (np.zeros(1000), dict(nperseg=64, noverlap=64), "noverlap"),
        (np.zeros(1000), dict(nperseg=64, noverlap=-1), "noverlap"),
        (np.zeros(1000), dict(nperseg=64, nfft=32), "nfft"),
        (np.zeros(1000), dict(nperseg=0), "nperseg"),
        (np.zeros(1000), dict(nperseg=64.0), "nperseg"),
        (np.zeros(1000), dict(detrend="quadratic"), "detrend"),
        (np.zeros(1000), dict(scaling="power"), "scaling"),
        (np.zeros(1000), dict(mode="db"), "mode"),
        (np.zeros(1000), dict(fs=0), "fs"),
        (np.zeros(1000), dict(fs=float("nan")), "fs"),
        (np.zeros(1000), dict(window="hanning-ish"), "window"),
        (np.zeros(1000), dict(window=np.ones(50), nperseg=64), "window"),
        (np.zeros(1000), dict(window=np.ones((2, 8))), "1-D"),
        (np.zeros(10), dict(window=np.ones(16)), "longer than the signal"),
        (np.zeros(1000), dict(axis=1), "axis"),
        (np.zeros(1000, dtype=complex), dict(), "complex"),
        (np.zeros(0), dict(), "empty"),
        (np.float64(3.0), dict(), "scalar"),
        (np.array(["a"] * 300), dict(), "numeric"),
    ],
)
def test_spectrogram_errors(x, kw, words):
    kw = dict(kw)
    fs = kw.pop("fs", 1000.0)
    with pytest.raises(EdgekitError) as exc:
        spectrogram(x, fs, **kw)
    msg = str(exc.value)
    assert words in msg and "\n" not in msg
