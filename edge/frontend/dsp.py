"""Pure, stateless feature functions for the device front end (numpy only).

:func:`get_window` and :func:`spectrogram` (one-sided, one ``np.fft.rfft`` over any batch shape) give the values of
their :mod:`scipy.signal` namesakes, so features computed on a Raspberry Pi without scipy equal those the model was
trained on. Bad arguments raise a one-line :class:`~edgekit.edge.core.errors.EdgekitError`."""
from __future__ import annotations

import math
import numbers
from typing import Any, Union

import numpy as np

from edgekit.edge.core.errors import EdgekitError

__all__ = ["WINDOW_NAMES", "get_window", "spectrogram"]

WindowSpec = Union[str, tuple, float, np.ndarray]
Detrend = Union[str, bool, None]

# Canonical window name -> (aliases, parameter policy). Policy: False = takes no parameter,
# True = needs exactly one, "optional" = zero or one. Aliases follow scipy.signal.get_window.
_WINDOWS: dict[str, tuple[tuple[str, ...], bool | str]] = {
    "hann": (("hann", "han"), False), "hamming": (("hamming", "hamm", "ham"), False),
    "blackman": (("blackman", "black", "blk"), False),
    "boxcar": (("boxcar", "box", "ones", "rect", "rectangular"), False), "tukey": (("tukey", "tuk"), "optional"),
    "kaiser": (("kaiser", "ksr"), True), "gaussian": (("gaussian", "gauss", "gss"), True),
}
_ALIASES: dict[str, str] = {alias: name for name, (aliases, _) in _WINDOWS.items() for alias in aliases}

#: Window names accepted by :func:`get_window` (canonical names; scipy's aliases work too).
WINDOW_NAMES: tuple[str, ...] = tuple(_WINDOWS)

_DETRENDS = ("constant", "linear")
_SCALINGS = ("spectrum", "density")
_MODES = ("psd", "magnitude")    # what a spec can ask for


# -- argument helpers ------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _positive_int(value: Any, name: str, hint: str) -> int:
    if not _is_int(value) or int(value) < 1:
        raise EdgekitError(f"{name} must be a positive integer, got {value!r}; {hint}")
    return int(value)


def check_axis(axis: Any, ndim: int) -> int:
    """``axis`` of an ``ndim``-D signal as an index >= 0 (shared with :mod:`.resample`)."""
    if not _is_int(axis) or not -ndim <= int(axis) < ndim:
        raise EdgekitError(f"axis {axis!r} is out of range for a {ndim}-D signal; use -1 for the last axis")
    return int(axis) % ndim


def _real_param(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise EdgekitError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise EdgekitError(f"{what} must be finite, got {value!r}")
    return out


# -- windows (the same formulas as scipy.signal.windows, float64) ----------------------------------
def _general_cosine(m: int, coeffs: tuple[float, ...]) -> np.ndarray:
    fac = np.linspace(-np.pi, np.pi, m, dtype=np.float64)
    w = np.zeros(m, dtype=np.float64)
    for k, a in enumerate(coeffs):
        w += a * np.cos(k * fac)
    return w


def _tukey(m: int, alpha: float) -> np.ndarray:
    if alpha <= 0:
        return np.ones(m, dtype=np.float64)
    if alpha >= 1.0:
        return _general_cosine(m, (0.5, 0.5))
    n = np.arange(m, dtype=np.float64)
    width = int(math.floor(alpha * (m - 1) / 2.0))
    n1, n2, n3 = n[: width + 1], n[width + 1 : m - width - 1], n[m - width - 1 :]
    w1 = 0.5 * (1 + np.cos(np.pi * (-1 + 2.0 * n1 / alpha / (m - 1))))
    w3 = 0.5 * (1 + np.cos(np.pi * (-2.0 / alpha + 1 + 2.0 * n3 / alpha / (m - 1))))
    return np.concatenate((w1, np.ones(n2.shape), w3))


def _kaiser(m: int, beta: float) -> np.ndarray:
    n = np.arange(m, dtype=np.float64)
    alpha = (m - 1) / 2.0
    return np.i0(beta * np.sqrt(1 - ((n - alpha) / alpha) ** 2.0)) / np.i0(beta)


def _gaussian(m: int, std: float) -> np.ndarray:
    n = np.arange(m, dtype=np.float64) - (m - 1.0) / 2.0
    return np.exp(-(n**2) / (2 * std * std))


_COSINES = {"hann": (0.5, 0.5), "hamming": (0.54, 0.46), "blackman": (0.42, 0.50, 0.08)}


def _symmetric_window(name: str, m: int, params: tuple) -> np.ndarray:
    """A symmetric window of length ``m >= 2`` (scipy's ``sym=True`` form)."""
    if name in _COSINES:
        return _general_cosine(m, _COSINES[name])
    if name == "boxcar":
        return np.ones(m, dtype=np.float64)
    if name == "tukey":
        return _tukey(m, params[0] if params else 0.5)
    if name == "kaiser":
        return _kaiser(m, params[0])
    return _gaussian(m, params[0])


def get_window(window: WindowSpec, nperseg: int, fftbins: bool = True) -> np.ndarray:
    """A float64 window of ``nperseg`` samples, equal to :func:`scipy.signal.get_window`.

    ``window`` is a name (scipy's aliases and ``_periodic``/``_symmetric`` suffixes work; ``'tukey'`` is alpha 0.5), a
    ``(name, parameter)`` tuple (``('kaiser', beta)``, ``('gaussian', std)``), a bare number (a Kaiser beta, as in
    scipy) or a 1-D array of length ``nperseg`` (returned as a copy). ``fftbins=True`` gives the periodic window
    (spectral analysis: the symmetric one of ``nperseg + 1`` samples without its last), ``False`` the symmetric one
    (filter design)."""
    nperseg = _positive_int(nperseg, "nperseg", "give the window length in samples")
    if not isinstance(window, (str, tuple)):
        if isinstance(window, numbers.Real) and not isinstance(window, (bool, np.bool_)):
            window = ("kaiser", float(window))  # scipy: a bare number is a Kaiser beta
        else:
            arr = np.asarray(window)
            if arr.ndim != 1 or arr.dtype.kind not in "fiu":
                raise EdgekitError(f"window must be a name, a (name, parameter) tuple or a 1-D real array, got "
                                   f"{type(window).__name__} of shape {arr.shape}; use e.g. 'hann' or ('tukey', 0.25)")
            if arr.shape[0] != nperseg:
                raise EdgekitError(f"window array has {arr.shape[0]} samples but nperseg is {nperseg}; pass an array "
                                   f"of length nperseg (or leave nperseg unset in spectrogram)")
            out = arr.astype(np.float64, copy=True)
            if not np.all(np.isfinite(out)):
                raise EdgekitError("window array contains NaN or infinite values; give finite weights")
            return out

    if isinstance(window, tuple):
        if not window or not isinstance(window[0], str):
            raise EdgekitError(f"window tuple must start with a window name, got {window!r}; "
                               "use e.g. ('kaiser', 5.0)")
        raw_name, params = window[0], tuple(window[1:])
    else:
        raw_name, params = window, ()

    sym = not bool(fftbins)
    key = raw_name.strip().lower()
    if key.endswith("_symmetric"):
        sym, key = True, key[: -len("_symmetric")]
    elif key.endswith("_periodic"):
        sym, key = False, key[: -len("_periodic")]
    name = _ALIASES.get(key)
    if name is None:
        raise EdgekitError(f"unknown window {raw_name!r}; use one of {', '.join(WINDOW_NAMES)} or a 1-D array")

    policy = _WINDOWS[name][1]
    if policy is False and params:
        raise EdgekitError(f"window {name!r} takes no parameter, got {window!r}; pass just {name!r}")
    if policy is True and len(params) != 1:
        raise EdgekitError(f"window {name!r} needs one parameter, got {window!r}; pass e.g. ({name!r}, 5.0)")
    if policy == "optional" and len(params) > 1:
        raise EdgekitError(f"window {name!r} takes at most one parameter, got {window!r}")
    params = tuple(_real_param(p, f"parameter of window {name!r}") for p in params)
    if name == "gaussian" and params[0] <= 0:
        raise EdgekitError(f"gaussian window std must be > 0, got {params[0]!r}")

    if nperseg == 1:
        return np.ones(1, dtype=np.float64)
    if sym:
        return _symmetric_window(name, nperseg, params)
    return _symmetric_window(name, nperseg + 1, params)[:-1]


def window_of(window: Any, length: int) -> np.ndarray:
    """A spec's ``features.window`` (a name, or ``[name, parameter]`` as JSON has it) as :func:`get_window` values."""
    return get_window(tuple(window) if isinstance(window, list) else window, length)


def check_window(w: Any, length: int, bad, number=lambda p: isinstance(p, (int, float))) -> None:
    """Raise ``bad(message)`` unless a spec's ``features.window`` is a name or ``[name, parameter]`` (a parameter
    ``number`` accepts) that gives ``length`` finite, not all-zero values."""
    if not (isinstance(w, str) or (isinstance(w, list) and w and isinstance(w[0], str)
                                    and all(number(p) for p in w[1:]))):
        raise bad(f"features.window must be a name or [name, parameter], got {w!r}")
    try:
        with np.errstate(all="ignore"):
            values = window_of(w, length)
    except (EdgekitError, ValueError, TypeError, OverflowError) as e:
        raise bad(f"features.window {w!r}: {getattr(e, 'message', e)}") from None
    if not (np.isfinite(values).all() and values.any()):
        raise bad(f"features.window {w!r} evaluates to non-finite or all-zero values; give a usable parameter")


# -- spectrogram -----------------------------------------------------------------------------------
def detrend_frames(frames: np.ndarray, detrend: Detrend) -> np.ndarray:
    """Detrend each frame (last axis) of a float64 frame stack; returns a new array."""
    if detrend is None or detrend is False:
        return np.array(frames, dtype=np.float64, copy=True)
    if detrend == "constant":
        return frames - frames.mean(axis=-1, keepdims=True)
    # linear: subtract the least-squares line a + b*(n - centre) of every frame (closed form,
    # equal to scipy's lstsq fit).
    n = frames.shape[-1]
    if n < 2:
        return np.zeros_like(frames, dtype=np.float64)
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    slope = (frames @ t) / np.dot(t, t)
    out = frames - frames.mean(axis=-1, keepdims=True)
    out -= slope[..., None] * t
    return out


def spectrogram(x: np.ndarray, fs: float = 1.0, window: WindowSpec = ("tukey", 0.25), nperseg: int | None = None,
                noverlap: int | None = None, nfft: int | None = None, detrend: Detrend = "constant",
                scaling: str = "spectrum", mode: str = "magnitude", axis: int = -1
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectrogram with the same values as :func:`scipy.signal.spectrogram` (one-sided only).

    Segments of ``nperseg`` samples (default 256, or an array window's length), ``nperseg - noverlap`` apart
    (``noverlap`` default ``nperseg // 8``), are detrended (``'constant'``, ``'linear'`` or ``False``/``None``),
    windowed (periodic, anything :func:`get_window` takes) and transformed with one ``np.fft.rfft`` of
    ``nfft >= nperseg`` points (zero-padded). ``scaling`` is ``'spectrum'`` (V**2) or ``'density'`` (V**2/Hz); ``mode``
    is ``'psd'`` (scaled power, one-sided bins doubled) or ``'magnitude'`` (``|STFT|`` times the square root of the
    scaling). Trailing samples that do not fill a segment are ignored, as in scipy.

    Returns ``(f, t, Sxx)``: ``nfft // 2 + 1`` frequencies in Hz, segment centre times in seconds, and ``Sxx`` shaped as
    scipy's (``axis`` replaced by frequency, time appended), float32 when ``x`` fits in single precision, else float64.

    Deviations from scipy: a segment longer than the signal and empty input raise (scipy shrinks ``nperseg`` with a
    warning, or returns empty arrays); complex input (scipy's two-sided spectrum) is refused; float32 input is computed
    in float64 and rounded to float32 (at least as accurate)."""
    x = np.asarray(x)
    if x.ndim == 0:
        raise EdgekitError("signal must be an array with at least one dimension, got a scalar")
    if np.iscomplexobj(x):
        raise EdgekitError("signal is complex; spectrogram takes real signals only (one-sided spectrum)")
    if x.dtype.kind not in "biuf":
        raise EdgekitError(f"signal must be numeric, got dtype {x.dtype}")
    ax = check_axis(axis, x.ndim)
    length = x.shape[ax]
    if x.size == 0:
        raise EdgekitError(f"signal is empty (shape {x.shape}); give at least one segment of samples")
    fs = _real_param(fs, "fs")
    if fs <= 0:
        raise EdgekitError(f"fs must be > 0 (sampling rate in Hz), got {fs!r}")

    if nperseg is not None:
        nperseg = _positive_int(nperseg, "nperseg", "give the segment length in samples")
    if isinstance(window, (str, tuple, numbers.Real)):
        nperseg = 256 if nperseg is None else nperseg
    else:
        arr = np.asarray(window)
        if arr.ndim != 1:
            raise EdgekitError(f"window array must be 1-D, got shape {arr.shape}")
        if nperseg is None:
            nperseg = arr.shape[0]
            if nperseg == 0:
                raise EdgekitError("window array is empty; give at least one weight")
    if nperseg > length:
        raise EdgekitError(f"nperseg={nperseg} is longer than the signal ({length} samples); use a smaller nperseg "
                           f"or a longer signal")
    win = get_window(window, nperseg)

    if noverlap is None:
        noverlap = nperseg // 8
    elif not _is_int(noverlap) or noverlap < 0:
        raise EdgekitError(f"noverlap must be a non-negative integer, got {noverlap!r}")
    noverlap = int(noverlap)
    if noverlap >= nperseg:
        raise EdgekitError(f"noverlap={noverlap} must be less than nperseg={nperseg}; segments must advance")
    if nfft is None:
        nfft = nperseg
    else:
        nfft = _positive_int(nfft, "nfft", "give the FFT length in samples")
        if nfft < nperseg:
            raise EdgekitError(f"nfft={nfft} must be >= nperseg={nperseg}; segments are zero-padded, not cut")

    if not (detrend is None or detrend is False or detrend in _DETRENDS):
        raise EdgekitError(f"unknown detrend {detrend!r}; use 'constant', 'linear' or False")
    if scaling not in _SCALINGS:
        raise EdgekitError(f"unknown scaling {scaling!r}; use 'spectrum' or 'density'")
    if mode not in _MODES:
        raise EdgekitError(f"unknown mode {mode!r}; use one of {', '.join(_MODES)}")

    # scipy's output precision: float32 when x fits in single precision, else double.
    real_out = np.float32 if np.result_type(x.dtype, np.complex64) == np.complex64 else np.float64
    step = nperseg - noverlap

    xd = np.moveaxis(x, ax, -1).astype(np.float64, copy=False)
    frames = np.lib.stride_tricks.sliding_window_view(xd, nperseg, axis=-1)[..., ::step, :]
    frames = detrend_frames(frames, detrend)  # new float64 array (..., nseg, nperseg)
    frames *= win
    stft = np.fft.rfft(frames, n=nfft, axis=-1)  # (..., nseg, nfreq)

    if scaling == "density":
        scale = 1.0 / (fs * np.dot(win, win))
    else:
        scale = 1.0 / win.sum() ** 2

    if mode == "psd":
        result = stft.real**2 + stft.imag**2
        result *= scale
        if nfft % 2:
            result[..., 1:] *= 2
        else:
            result[..., 1:-1] *= 2  # the Nyquist bin is unpaired
    else:
        stft *= math.sqrt(scale)
        result = np.abs(stft)

    # scipy's layout: the frequency axis goes where the data axis was, time is appended.
    result = np.moveaxis(result, -1, ax - x.ndim - 1)   # negative index counted in the (ndim + 1)-D result
    result = result.astype(real_out, copy=False)

    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    n_seg = frames.shape[-2]
    times = (nperseg / 2 + step * np.arange(n_seg, dtype=np.float64)) / float(fs)
    return freqs, times, result
