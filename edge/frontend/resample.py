"""Rational polyphase resampling (numpy only), equal to :func:`scipy.signal.resample_poly`.

* :func:`resample` converts whole signals from ``fs_in`` to ``fs_out`` Hz.
* :class:`StreamResampler` does the same for live audio arriving in blocks of any size; the
  concatenated output equals :func:`resample` of the whole signal.

Both use the filter scipy designs for ``resample_poly(x, up, down)`` with its default
``window=('kaiser', 5.0)`` and ``padtype='constant'`` (zeros outside the signal): a windowed-sinc
low-pass with ``2 * half_len + 1`` taps, ``half_len = 10 * max(up, down)``, cutoff
``1 / max(up, down)`` of Nyquist, gain ``up``. Output sample ``n`` is

    y[n] = sum_i x[i] * h[n * down + half_len - i * up],     n = 0 .. ceil(len(x) * up / down) - 1

i.e. the filter is centred (zero phase) on output time ``n * down / up`` input samples. It is
evaluated polyphase: every output needs only about ``len(h) / up`` taps and the zero-stuffed
signal is never built.
"""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np

from edgekit.edge.errors import EdgekitError
from edgekit.edge.frontend.dsp import get_window

__all__ = ["rational_factors", "design_filter", "resample", "StreamResampler"]

_MAX_DENOMINATOR = 1000
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

    Integer rates give the exact fraction (44100 -> 12800 is ``(128, 441)``); if either rate is
    not an integer the ratio is approximated with ``Fraction.limit_denominator(1000)``.
    """
    a, b = _rate(fs_in, "fs_in"), _rate(fs_out, "fs_out")
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        ratio = b / a
    else:
        ratio = Fraction(float(b) / float(a)).limit_denominator(_MAX_DENOMINATOR)
        if ratio == 0:
            raise EdgekitError(
                f"fs_out/fs_in = {float(b) / float(a):g} is too small to resample; use rates closer together"
            )
    return ratio.numerator, ratio.denominator


def design_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """The anti-aliasing FIR filter of ``scipy.signal.resample_poly(x, up, down)``.

    Equal to ``up * scipy.signal.firwin(2 * half_len + 1, 1 / max(up, down),
    window=('kaiser', 5.0))`` with ``half_len = 10 * max(up, down)``.

    Returns
    -------
    (h, half_len)
        float64 taps of length ``2 * half_len + 1`` and ``half_len``.
    """
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

        ``x[:, j]`` is input sample ``x_start + j``; samples outside ``x`` count as zero. ``x``
        must hold every needed sample at or after ``max(first_input(n0), 0)`` that exists.
        """
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


def _float_dtype(x: np.ndarray) -> type:
    return np.float32 if x.dtype in (np.float32, np.float16) else np.float64


def resample(x: np.ndarray, fs_in: float, fs_out: float, axis: int = -1) -> np.ndarray:
    """Resample ``x`` from ``fs_in`` to ``fs_out`` Hz along ``axis``.

    Equal to ``scipy.signal.resample_poly(x, up, down, axis=axis)`` with
    ``(up, down) = rational_factors(fs_in, fs_out)``: the output has
    ``ceil(len * up / down)`` samples, output sample ``n`` sits at input time ``n * down / up``
    (no delay), and the signal is taken as zero outside its ends.

    Parameters
    ----------
    x
        Real signal(s) of any shape; integer input is converted to float64.
    fs_in, fs_out
        Input and output rates in Hz (> 0). Non-integer rates are approximated to a fraction with
        denominator <= 1000.
    axis
        The time axis.

    Returns
    -------
    numpy.ndarray
        float32 for float32 (or float16) input, float64 otherwise. When ``fs_in == fs_out`` the
        input is returned as is (no copy) if it already has that dtype.

    Notes
    -----
    Computation is in float64; scipy filters float32 input in single precision, so float32
    results agree with scipy to float32 rounding (~1e-7 relative), float64 ones to ~1e-15.
    """
    x = np.asarray(x)
    if x.ndim == 0:
        raise EdgekitError("signal must be an array with at least one dimension, got a scalar")
    if x.dtype.kind not in "fiu":
        raise EdgekitError(f"signal must be real numbers, got dtype {x.dtype}")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral) \
            or not -x.ndim <= axis < x.ndim:
        raise EdgekitError(f"axis {axis!r} is out of range for a {x.ndim}-D signal; use -1 for the last axis")
    up, down = rational_factors(fs_in, fs_out)
    dtype = _float_dtype(x)
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

    >>> rs = StreamResampler(44100, 12800)
    >>> out = [rs.process(block) for block in blocks]   # doctest: +SKIP
    >>> out.append(rs.flush())                           # doctest: +SKIP
    >>> y = np.concatenate(out)                          # == resample(np.concatenate(blocks), ...)

    Behaviour at the edges: like :func:`resample`, the signal is taken as zero before the first
    sample, so the first outputs are the filter's onset ramp (the first output, at time 0, is the
    filter centred on sample 0 with zeros before it) and there is no delay: output ``n`` is the
    signal at time ``n / fs_out`` seconds. The price is latency: ``process`` returns output ``n``
    only once the input up to ``half_len / up`` samples after its time has arrived,
    ``10 * max(up, down) / up`` input samples (``latency_samples``; e.g. 34 samples, 0.8 ms, for
    44100 -> 12800, 10 samples for 8000 -> 12800). ``flush`` treats the signal as ended (zeros
    after it) and returns the rest, so the total length is ``ceil(n_in * up / down)``. After
    ``flush`` the resampler is reset and can start a new stream.

    ``process`` accepts blocks of any length, including 0 and 1, and always returns a 1-D
    float32 array (possibly empty). Memory stays bounded: only the last ``~len(h) / up`` input
    samples are kept.
    """

    def __init__(self, fs_in: float, fs_out: float):
        self.fs_in, self.fs_out = fs_in, fs_out
        self.up, self.down = rational_factors(fs_in, fs_out)
        self._engine = _Polyphase(self.up, self.down) if self.up != self.down else None
        self.reset()

    @property
    def latency_samples(self) -> float:
        """Input samples that must follow an output's time before ``process`` can return it."""
        return 0.0 if self._engine is None else self._engine.half_len / self.up

    def reset(self) -> None:
        """Forget the stream so far and start a new one."""
        self._buf = np.zeros((1, 0), dtype=np.float64)
        self._buf_start = 0  # input index of self._buf[:, 0]
        self._n_in = 0  # inputs received
        self._n_out = 0  # outputs returned

    def _block(self, block: np.ndarray) -> np.ndarray:
        arr = np.asarray(block)
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.reshape(-1)
        if arr.ndim != 1:
            raise EdgekitError(f"StreamResampler takes 1-D blocks (one channel), got shape {arr.shape}")
        if arr.dtype.kind not in "fiu":
            raise EdgekitError(f"audio block must be real numbers, got dtype {arr.dtype}")
        return arr

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed the next samples; return the float32 outputs that are now complete."""
        arr = self._block(block)
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
