"""Rational polyphase resampling (numpy only), equal to :func:`scipy.signal.resample_poly`.

:func:`resample` converts whole signals; :class:`StreamResampler` converts live audio in blocks of any size, its
concatenated output equal to :func:`resample` of the whole. Both use scipy's filter for ``resample_poly(x, up, down)``
with its defaults ``window=('kaiser', 5.0)``, ``padtype='constant'`` (zeros outside the signal): output
``y[n] = sum_i x[i] * h[n * down + half_len - i * up]``, the filter centred (zero phase) on input time
``n * down / up``, evaluated polyphase (about ``len(h) / up`` taps per output, the zero-stuffed signal never built)."""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.frontend.dsp import check_axis, get_window

__all__ = ["rational_factors", "design_filter", "resample", "StreamResampler"]

_MAX_DENOMINATOR = 1000
_MAX_FACTOR = 1000       # largest up or down: the filter has 20 * max(up, down) + 1 taps (bounded memory and time)
_MAX_RATIO = 1000        # resampling by more than this (either way) is refused: not a recording for this model
_GATHER_LIMIT = 1 << 16  # outputs*taps below which a gather beats the per-phase loop


def _rate(value: object, name: str) -> float | Fraction:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise EdgekitError(f"{name} must be a sampling rate in Hz (a positive number), got {value!r}")
    if isinstance(value, numbers.Integral):
        out: float | Fraction = Fraction(int(value))
    else:
        out = float(value)
        if not math.isfinite(out):
            raise EdgekitError(f"{name} must be finite, got {value!r}")
        if out.is_integer():
            out = Fraction(int(out))
    if out <= 0:
        raise EdgekitError(f"{name} must be > 0 Hz, got {value!r}")
    return out


def rational_factors(fs_in: float, fs_out: float) -> tuple[int, int]:
    """Return ``(up, down)``, the reduced fraction ``fs_out / fs_in``.

    Integer rates give the exact fraction (44100 -> 12800 is ``(128, 441)``); if either rate is not an integer the ratio
    is approximated with ``Fraction.limit_denominator(1000)``. So is an exact ratio whose factors exceed 1000
    (2,000,003 Hz -> 12,800 Hz would need a filter of 40 million taps): the nearest ratio with factors up to 1000, a
    rate error of a few parts per million. Rates more than 1000 times apart are refused (one line)."""
    a, b = _rate(fs_in, "fs_in"), _rate(fs_out, "fs_out")
    r = float(b) / float(a)
    if not 1 / _MAX_RATIO <= r <= _MAX_RATIO:
        raise EdgekitError(f"resampling {float(a):g} Hz to {float(b):g} Hz is a factor of {max(r, 1 / r):.3g}; "
                           f"edgekit resamples within a factor of {_MAX_RATIO}: give a recording at a rate nearer "
                           f"{float(b):g} Hz")
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        ratio = b / a
    else:
        ratio = Fraction(r).limit_denominator(_MAX_DENOMINATOR)
    if max(ratio.numerator, ratio.denominator) > _MAX_FACTOR:
        ratio = Fraction(r).limit_denominator(max(1, int(_MAX_FACTOR / max(r, 1.0))))
    return ratio.numerator, ratio.denominator


def design_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """``(h, half_len)``: the filter of ``scipy.signal.resample_poly(x, up, down)``, equal to
    ``up * firwin(2 * half_len + 1, 1 / max(up, down), window=('kaiser', 5.0))``, ``half_len = 10 * max(up, down)``."""
    max_rate = max(up, down)
    cutoff = 1.0 / max_rate
    half_len = 10 * max_rate
    numtaps = 2 * half_len + 1
    m = np.arange(numtaps, dtype=np.float64) - 0.5 * (numtaps - 1)
    h = cutoff * np.sinc(cutoff * m)
    h *= get_window(("kaiser", 5.0), numtaps, fftbins=False)
    h /= h.sum()  # firwin's scale=True: unit gain at DC
    h *= up
    return h, half_len


class _Polyphase:
    """Filter bank and evaluation of ``y[n]`` for a given (up, down) pair."""

    def __init__(self, up: int, down: int):
        self.up, self.down = up, down
        h, self.half_len = design_filter(up, down)
        self.taps = -(-len(h) // up)  # taps per phase, ceil(len(h) / up)
        padded = np.zeros(self.taps * up, dtype=np.float64)
        padded[: len(h)] = h
        # bank[r, k] multiplies x[i0 - (taps - 1) + k]: phase r's taps h[r + j*up], reversed in j.
        self.bank = np.ascontiguousarray(padded.reshape(self.taps, up).T[:, ::-1])

    def first_input(self, n: int) -> int:
        """Index of the earliest input sample output ``n`` depends on."""
        return (n * self.down + self.half_len) // self.up - self.taps + 1

    def ready(self, n_received: int) -> int:
        """How many outputs can be computed from the first ``n_received`` inputs (no future)."""
        # output n needs inputs up to i0 = (n*down + half_len) // up  <=  n_received - 1
        return max(0, -(-(n_received * self.up - self.half_len) // self.down))

    def apply(self, x: np.ndarray, x_start: int, n0: int, n1: int) -> np.ndarray:
        """Outputs ``n0 .. n1-1`` from ``x`` (shape ``(B, L)``, float64).

        ``x[:, j]`` is input sample ``x_start + j``; samples outside ``x`` count as zero. ``x`` must hold every needed
        sample at or after ``max(first_input(n0), 0)`` that exists."""
        count = n1 - n0
        batch = x.shape[0]
        out = np.zeros((batch, max(count, 0)), dtype=np.float64)
        if count <= 0:
            return out
        up, down, taps = self.up, self.down, self.taps
        # xs holds inputs lo .. hi-1 (zeros outside x); window row r holds inputs lo+r .. lo+r+taps-1,
        # so output n (last input i0 = t // up) reads row i0 - (lo + taps - 1).
        lo = self.first_input(n0)
        hi = (((n1 - 1) * down + self.half_len) // up) + 1  # one past the last needed input
        xs = np.zeros((batch, hi - lo), dtype=np.float64)
        a, b = max(lo, x_start), min(hi, x_start + x.shape[1])
        if b > a:
            xs[:, a - lo : b - lo] = x[:, a - x_start : b - x_start]
        windows = np.lib.stride_tricks.sliding_window_view(xs, taps, axis=-1)  # (B, rows, taps)
        base = n0 * down + self.half_len

        if count * taps <= _GATHER_LIMIT:
            t = base + down * np.arange(count)
            rows = t // up - (lo + taps - 1)
            out[:] = np.einsum("bnk,nk->bn", windows[:, rows, :], self.bank[t % up])
            return out

        for p in range(min(up, count)):
            tp = base + p * down
            row0 = tp // up - (lo + taps - 1)
            nq = len(range(p, count, up))
            sel = windows[:, row0 : row0 + (nq - 1) * down + 1 : down, :]  # strided view, no copy
            out[:, p::up] = sel @ self.bank[tp % up]
        return out


def resample(x: np.ndarray, fs_in: float, fs_out: float, axis: int = -1) -> np.ndarray:
    """Resample ``x`` (any shape, real) from ``fs_in`` to ``fs_out`` Hz along ``axis``.

    Equal to ``scipy.signal.resample_poly(x, up, down, axis=axis)``, ``(up, down) = rational_factors(fs_in, fs_out)``:
    ``ceil(len * up / down)`` samples, output ``n`` at input time ``n * down / up`` (no delay). float32 (or float16)
    input gives float32, anything else float64; equal rates return ``x`` uncopied if it has that dtype. Computation is
    in float64, so float32 results agree with scipy (which filters float32 in single precision) to float32 rounding,
    float64 ones to ~1e-15."""
    x = np.asarray(x)
    if x.ndim == 0:
        raise EdgekitError("signal must be an array with at least one dimension, got a scalar")
    if x.dtype.kind not in "fiu":
        raise EdgekitError(f"signal must be real numbers, got dtype {x.dtype}")
    axis = check_axis(axis, x.ndim)
    up, down = rational_factors(fs_in, fs_out)
    dtype = np.float32 if x.dtype in (np.float32, np.float16) else np.float64
    if up == down:
        return x.astype(dtype, copy=False)

    moved = np.moveaxis(x, axis, -1)
    batch_shape, n_in = moved.shape[:-1], moved.shape[-1]
    n_out = -(-n_in * up // down)
    flat = moved.reshape(math.prod(batch_shape), n_in).astype(np.float64, copy=False)
    engine = _Polyphase(up, down)
    out = engine.apply(flat, 0, 0, n_out) if flat.size else np.zeros((flat.shape[0], n_out))
    out = out.reshape(*batch_shape, n_out)
    return np.moveaxis(out, -1, axis).astype(dtype, copy=False)


class StreamResampler:
    """Block-by-block resampling of a live 1-D signal, equal to :func:`resample` of the whole.

    As in :func:`resample` the signal is zero before its start (the first outputs are the filter's onset ramp) and there
    is no delay: output ``n`` is the signal at ``n / fs_out`` s. The price is latency: ``process`` returns output ``n``
    once the input ``half_len / up = 10 * max(up, down) / up`` samples after its time has arrived (34 samples, 0.8 ms,
    for 44100 -> 12800). ``flush`` ends the stream (zeros after it), returns the rest (``ceil(n_in * up / down)`` in
    all) and resets. Blocks may have any length, even 0; outputs are 1-D float32; only the last ``~len(h) / up`` inputs
    are kept."""

    def __init__(self, fs_in: float, fs_out: float):
        self.fs_in, self.fs_out = fs_in, fs_out
        self.up, self.down = rational_factors(fs_in, fs_out)
        self._engine = _Polyphase(self.up, self.down) if self.up != self.down else None
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far and start a new one."""
        self._buf = np.zeros((1, 0), dtype=np.float64)
        self._buf_start = 0  # input index of self._buf[:, 0]
        self._n_in = 0  # inputs received
        self._n_out = 0  # outputs returned

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed the next samples; return the float32 outputs that are now complete."""
        arr = np.asarray(block)
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.reshape(-1)
        if arr.ndim != 1:
            raise EdgekitError(f"StreamResampler takes 1-D blocks (one channel), got shape {arr.shape}")
        if arr.dtype.kind not in "fiu":
            raise EdgekitError(f"audio block must be real numbers, got dtype {arr.dtype}")
        if self._engine is None:
            self._n_in += arr.size
            self._n_out += arr.size
            return arr.astype(np.float32)
        if arr.size:
            self._buf = np.concatenate((self._buf, arr.astype(np.float64)[None, :]), axis=1)
            self._n_in += arr.size
        n1 = self._engine.ready(self._n_in)
        return self._emit(n1)

    def flush(self) -> np.ndarray:
        """End the stream: return the remaining outputs (float32) and reset for a new stream."""
        if self._engine is None:
            self.reset()
            return np.zeros(0, dtype=np.float32)
        n1 = -(-self._n_in * self.up // self.down)
        out = self._emit(n1)
        self.reset()
        return out

    def _emit(self, n1: int) -> np.ndarray:
        n0 = self._n_out
        if n1 <= n0:
            return np.zeros(0, dtype=np.float32)
        eng = self._engine
        assert eng is not None
        y = eng.apply(self._buf, self._buf_start, n0, n1)[0]
        self._n_out = n1
        # keep only the inputs the next output can still need
        keep_from = max(eng.first_input(n1), self._buf_start)
        drop = min(keep_from - self._buf_start, self._buf.shape[1])
        if drop > 0:
            self._buf = self._buf[:, drop:].copy()
            self._buf_start += drop
        return y.astype(np.float32)
