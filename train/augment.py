"""Seeded augmentation of the ``audio`` task's training windows, and the coloured noise it adds.

:func:`augment` (training split only, seeded by (seed, epoch, clip)): speed 0.85–1.15 (resampling: pitch and
formants, a crude other speaker), time shift ±350 ms (a stream's windows hold a word anywhere, not centred; the shift is
shortened when it would push more than 10 % of the clip's energy out of the window), gain ±12 dB, additive noise at
5–35 dB SNR over the whole window (so the padding is noise, as on a stream). ``partial``: that fraction of the keyword
clips becomes, each epoch, an ``unknown`` window holding only the start or the end of the word (5–50 % of its energy):
the windows a stream shows while a word enters or leaves them, which must not fire as a keyword. Tempo change (WSOLA)
and SpecAugment masks are available (``stretch``, ``time_mask``,
``freq_mask``) but off: on the three FSDD folds they cost stream detection (benchmarks/README.md, "Keyword
spotting").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


def coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """Unit-RMS noise, power ∝ f^0 (white), f^-1 (pink) or f^-2 (brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec *= f ** {"white": 0.0, "pink": -0.5, "brown": -1.0}[colour]
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Augment:
    """Ranges of the training-split augmentation; each is applied with probability ``p``."""

    speed: tuple[float, float] | None = (0.85, 1.15)
    shift: float | None = 0.35                    # seconds, ±
    gain_db: tuple[float, float] | None = (-12.0, 12.0)
    snr_db: tuple[float, float] | None = (5.0, 35.0)
    p: float = 0.8
    stretch: tuple[float, float] | None = None    # tempo only (WSOLA), pitch kept: speaking rate
    time_mask: int = 0                            # SpecAugment: up to this many frames masked, twice
    freq_mask: int = 0                            # ... and this many coefficients, once
    partial: float = 0.15                         # keyword clips made partial-word 'unknown' windows
    keep_energy: float = 0.9                      # a shift keeps at least this fraction of the clip's energy

    def to_dict(self) -> dict[str, Any]:
        return {"speed": self.speed, "shift_s": self.shift, "gain_db": self.gain_db, "snr_db": self.snr_db,
                "p": self.p, "stretch": self.stretch, "time_mask": self.time_mask, "freq_mask": self.freq_mask,
                "partial": self.partial, "keep_energy": self.keep_energy}


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (pitch and tempo together), by linear interpolation."""
    n = max(1, int(round(len(x) / factor)))
    return np.interp(np.arange(n) * factor, np.arange(len(x)), x).astype(np.float32)


def time_stretch(x: np.ndarray, rate: float, frame: int = 256, hop: int = 64, tolerance: int = 64) -> np.ndarray:
    """``x`` played ``rate`` times faster at the same pitch (WSOLA: Hann frames overlap-added every ``hop``
    samples, each taken within ±``tolerance`` of its ideal place where it best continues the previous one)."""
    x = np.asarray(x, np.float64)
    if len(x) < frame + 2 * tolerance or rate == 1.0:
        return x.astype(np.float32)
    xp = np.pad(x, (tolerance, frame + tolerance))
    n_out = max(1, int(round(len(x) / rate)))
    n_frames = n_out // hop + 1
    win = np.hanning(frame)
    out = np.zeros(n_frames * hop + frame)
    norm = np.zeros_like(out)
    prev = tolerance                       # where the previous frame came from (padded coordinates)
    for k in range(n_frames):
        ideal = tolerance + int(round(k * hop * rate))
        if ideal + frame + tolerance > len(xp):
            break
        if k == 0:
            pos = ideal
        else:
            target = xp[prev + hop: prev + hop + frame]          # the natural continuation
            lo = ideal - tolerance
            seg = xp[lo: lo + frame + 2 * tolerance]
            corr = np.correlate(seg, target, mode="valid")
            pos = lo + int(np.argmax(corr))
        out[k * hop: k * hop + frame] += win * xp[pos: pos + frame]
        norm[k * hop: k * hop + frame] += win
        prev = pos
    y = out / np.maximum(norm, 1e-3)
    return y[frame // 2: frame // 2 + n_out].astype(np.float32) if n_out + frame // 2 <= len(y) else \
        y[:n_out].astype(np.float32)


def shift_window(w: np.ndarray, s: int) -> np.ndarray:
    """``w`` moved ``s`` samples later (earlier when negative), zeros shifted in."""
    out = np.zeros_like(w)
    if s >= 0:
        out[s:] = w[:len(w) - s]
    else:
        out[:s] = w[-s:]
    return out


def _kept_shift(w: np.ndarray, s: int, keep: float) -> int:
    """``s`` halved until shifting ``w`` by it keeps at least ``keep`` of its energy in the window."""
    e = np.square(w, dtype=np.float64)
    total = float(e.sum())
    if total <= 0:
        return s
    c = np.concatenate([[0.0], np.cumsum(e)])
    n = len(w)
    while s and (c[n - s] if s > 0 else total - c[-s]) < keep * total:
        s = int(s / 2)
    return s


def partial_word(x: np.ndarray, rng: np.random.Generator, n: int, lo: float = 0.05, hi: float = 0.5) -> np.ndarray:
    """A window of ``n`` samples holding only the start of clip ``x`` (at the window's end) or its end (at the window's
    start), a ``lo``…``hi`` fraction of the clip's energy: what a stream's window shows while a word enters or leaves
    it."""
    x = np.asarray(x, np.float32)
    c = np.cumsum(np.square(x, dtype=np.float64))
    total = float(c[-1]) if len(c) else 0.0
    w = np.zeros(n, np.float32)
    if total <= 0:
        return w
    frac = c / total                                   # energy of x[:k + 1]
    start = rng.random() < 0.5
    ok = np.flatnonzero((frac >= lo) & (frac <= hi)) if start else np.flatnonzero((1 - frac >= lo) & (1 - frac <= hi))
    k = int(ok[rng.integers(len(ok))]) if len(ok) else int(np.searchsorted(frac, 0.25))
    piece = x[:k + 1][-n:] if start else x[k + 1:][:n]
    at = n - len(piece) if start else 0                # the start at the window's end, the end at its start
    w[at:at + len(piece)] = piece
    return w


def augment(x: np.ndarray, rng: np.random.Generator, fs: float, aug: Augment,
            fit: Callable[[np.ndarray], np.ndarray], partial: bool = False) -> np.ndarray:
    """One augmented window from clip ``x``: speed → ``fit`` (the recorded pad/crop) → shift → gain → noise at an SNR
    relative to the clip's power. ``partial``: instead of fit and shift, only the start or the end of the clip
    (:func:`partial_word`)."""
    if aug.stretch and rng.random() < aug.p:
        x = time_stretch(x, rng.uniform(*aug.stretch))
    if aug.speed and rng.random() < aug.p:
        x = change_speed(x, rng.uniform(*aug.speed))
    power = float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0
    w = np.array(fit(x), dtype=np.float32)
    if partial:
        w = partial_word(x, rng, len(w))
    elif aug.shift and rng.random() < aug.p:
        s = int(rng.integers(-int(aug.shift * fs), int(aug.shift * fs) + 1))
        w = shift_window(w, _kept_shift(w, s, aug.keep_energy))
    if aug.gain_db and rng.random() < aug.p:
        g = 10 ** (rng.uniform(*aug.gain_db) / 20)
        w *= g
        power *= g * g
    if aug.snr_db and rng.random() < aug.p and power > 0:
        snr = rng.uniform(*aug.snr_db)
        colour = ("white", "pink", "brown")[rng.integers(3)]
        w += np.sqrt(power / 10 ** (snr / 10)) * coloured_noise(rng, len(w), colour)
    return np.clip(w, -1.0, 1.0)


def spec_augment(x: np.ndarray, rng: np.random.Generator, aug: Augment) -> None:
    """SpecAugment in place on (batch, frames, coefficients, 1) features: two time masks and one frequency
    mask, set to 0 (the mean after normalisation)."""
    n, t, f = x.shape[:3]
    for i in range(n):
        for _ in range(2 if aug.time_mask else 0):
            w = int(rng.integers(0, aug.time_mask + 1))
            s = int(rng.integers(0, max(1, t - w)))
            x[i, s:s + w] = 0
        if aug.freq_mask:
            w = int(rng.integers(0, aug.freq_mask + 1))
            s = int(rng.integers(0, max(1, f - w)))
            x[i, :, s:s + w] = 0
