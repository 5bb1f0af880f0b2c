"""Mel scale, mel filterbank, DCT and power→dB, pure numpy with the values of their librosa namesakes.

:func:`hz_to_mel` / :func:`mel_to_hz` (Slaney's scale by default, HTK's with ``htk=True``), :func:`mel_frequencies`,
:func:`mel_filterbank` (= ``librosa.filters.mel``), :func:`dct_matrix` (the orthonormal DCT-II that
``librosa.feature.mfcc`` applies over the mel axis) and :func:`power_to_db` (= ``librosa.power_to_db``). Everything is
float64; bad arguments raise a one-line :class:`~edgekit.edge.core.errors.EdgekitError`."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError

__all__ = ["NORMS", "hz_to_mel", "mel_to_hz", "mel_frequencies", "fft_frequencies", "mel_filterbank",
           "dct_matrix", "power_to_db"]

#: Filter normalisations :func:`mel_filterbank` takes: Slaney's equal-area ``"slaney"`` or none.
NORMS = ("slaney", None)

# Slaney's auditory toolbox scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies: Any, htk: bool = False) -> np.ndarray:
    """Hz → mels (float64 array, or a 0-d array for a scalar), as ``librosa.hz_to_mel``."""
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = f / _F_SP
    with np.errstate(divide="ignore", invalid="ignore"):
        log_part = _MIN_LOG_MEL + np.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log_part, mels)


def mel_to_hz(mels: Any, htk: bool = False) -> np.ndarray:
    """Mels → Hz (float64), the inverse of :func:`hz_to_mel`, as ``librosa.mel_to_hz``."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    with np.errstate(over="ignore"):
        log_part = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log_part, _F_SP * m)


def mel_frequencies(n_mels: int, fmin: float = 0.0, fmax: float = 11025.0, htk: bool = False) -> np.ndarray:
    """``n_mels`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax`` inclusive."""
    mels = np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), int(n_mels))
    return mel_to_hz(mels, htk)


def fft_frequencies(sample_rate: float, n_fft: int) -> np.ndarray:
    """The ``n_fft // 2 + 1`` bin centre frequencies (Hz) of a real FFT."""
    return np.fft.rfftfreq(int(n_fft), 1.0 / float(sample_rate))


def _check_number(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
        raise EdgekitError(f"{name} must be a finite number, got {v!r}")
    return float(v)


def _check_count(v: Any, name: str, hint: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or int(v) < 1:
        raise EdgekitError(f"{name} must be a positive integer, got {v!r}; {hint}")
    return int(v)


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
                   htk: bool = False, norm: str | None = "slaney") -> np.ndarray:
    """Triangular mel filters, shape ``(n_mels, n_fft // 2 + 1)``, equal to ``librosa.filters.mel``.

    Filter ``i`` rises from mel frequency ``i`` to ``i + 1`` and falls to ``i + 2`` of ``n_mels + 2`` points spread
    evenly on the mel scale over ``[fmin, fmax]`` (``fmax`` default ``sample_rate / 2``). ``norm="slaney"`` scales each
    filter to constant energy per Hz (area), ``None`` leaves peaks at 1. float64 (librosa's default is float32: compare
    with
    ``dtype=np.float64``)."""
    sample_rate = _check_number(sample_rate, "sample_rate")
    if sample_rate <= 0:
        raise EdgekitError(f"sample_rate must be > 0 (sampling rate in Hz), got {sample_rate!r}")
    n_fft = _check_count(n_fft, "n_fft", "give the FFT length in samples")
    n_mels = _check_count(n_mels, "n_mels", "give the number of mel bands")
    fmin = _check_number(fmin, "fmin")
    fmax = sample_rate / 2.0 if fmax is None else _check_number(fmax, "fmax")
    if not 0.0 <= fmin < fmax:
        raise EdgekitError(f"mel bands need 0 <= fmin < fmax, got fmin={fmin:g} Hz, fmax={fmax:g} Hz")
    if norm not in NORMS:
        raise EdgekitError(f"unknown mel filter norm {norm!r}; use 'slaney' or None")

    fftfreqs = fft_frequencies(sample_rate, n_fft)
    mel_f = mel_frequencies(n_mels + 2, fmin, fmax, htk=bool(htk))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """The orthonormal DCT-II, first ``n_mfcc`` rows, shape ``(n_mfcc, n_mels)``: ``mfcc = D @ log_mel``.

    ``D[k, n] = sqrt(2 / N) cos(pi k (2n + 1) / 2N)``, row 0 scaled by ``1 / sqrt(2)`` — what
    ``scipy.fft.dct(type=2, norm="ortho")`` computes, and so ``librosa.feature.mfcc``'s default."""
    n_mels = _check_count(n_mels, "n_mels", "give the number of mel bands")
    n_mfcc = _check_count(n_mfcc, "n_mfcc", "give the number of cepstral coefficients")
    if n_mfcc > n_mels:
        raise EdgekitError(f"n_mfcc={n_mfcc} is more than n_mels={n_mels}; a DCT of {n_mels} bands has "
                           f"at most {n_mels} coefficients")
    k = np.arange(n_mfcc, dtype=np.float64)[:, None]
    n = np.arange(n_mels, dtype=np.float64)[None, :]
    d = np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * n_mels)) * math.sqrt(2.0 / n_mels)
    d[0] *= math.sqrt(0.5)
    return d


def power_to_db(s: Any, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = None) -> np.ndarray:
    """``10 log10(max(s, amin)) - 10 log10(max(ref, amin))``, then (``top_db``) no value more than
    ``top_db`` below the maximum of the whole array: ``librosa.power_to_db`` with a numeric ``ref``.

    The result has ``s``'s floating dtype (float64 for integer input)."""
    amin = _check_number(amin, "amin")
    if amin <= 0:
        raise EdgekitError(f"amin must be > 0 (the power floor before the log), got {amin!r}")
    ref = _check_number(ref, "ref")
    s = np.asarray(s)
    if np.iscomplexobj(s):
        s = np.abs(s)
    if s.dtype.kind != "f":
        s = s.astype(np.float64)
    out = np.maximum(s, s.dtype.type(amin))
    np.log10(out, out=out)
    out *= 10.0
    offset = 10.0 * math.log10(max(amin, ref))
    if offset:
        out -= offset
    if top_db is not None:
        top_db = _check_number(top_db, "top_db")
        if top_db < 0:
            raise EdgekitError(f"top_db must be >= 0 (dB below the peak to keep), got {top_db!r}")
        np.maximum(out, out.max() - top_db, out=out)
    return out
