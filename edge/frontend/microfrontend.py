"""The ``microfrontend`` feature type: TensorFlow Lite Micro's audio front end (the features of micro_speech and of
TensorFlow's speech_commands ``--preprocess=micro``), ported to numpy bit for bit.

What ``audio_microfrontend`` (``tensorflow/lite/experimental/microfrontend``) computes from int16 samples, one call,
state reset per call, no context stacking: frames of ``window_size_ms`` every ``window_step_ms`` (incomplete frames
dropped), then per frame

1. window (``window.c``): a Hann-like window in Q12, ``(x * w) >> 12``;
2. FFT (``fft.cc``): the frame shifted up so its peak uses 15 bits, zero-padded to a power of two, through kissfft's
   16-bit fixed-point real FFT (``kiss_fftr`` with ``FIXED_POINT=16``: twiddles ``floor(.5 + 32767 cos)``, every
   radix-4/radix-2 stage divides by its radix with ``(x * (32767 / p) + 2**14) >> 15``, products rounded the same way);
3. filterbank (``filterbank.c``): |X|² of the bins in the band, triangular mel weights in Q12 accumulated in 64 bits,
   an integer square root with rounding, shifted back down by the FFT's input shift;
4. noise reduction (``noise_reduction.c``): a per-channel running noise estimate (even/odd smoothing) subtracted,
   keeping at least ``min_signal_remaining`` of the signal (the only state kept across frames);
5. PCAN (``pcan_gain_control.c``, if ``enable_pcan``): gain from a piecewise-quadratic lookup of the noise estimate,
   then a soft shrink;
6. log (``log_scale.c``, if ``enable_log``): a fixed-point log with a 128-segment table, times ``2**scale_shift``,
   saturated to uint16.

Every table (window, twiddles, filterbank edges and weights, PCAN gain table) is built as the C code builds it, in
float32 where the C code uses ``float`` (what decides which FFT bin falls in which channel). Window, FFT and filterbank
are vectorised over all frames of all windows (one numpy pass per FFT stage); noise reduction loops over frames,
vectorised over channels and windows.

:func:`compute` is the reference (int16 in, uint16 out, as the op). The model-input front end (:func:`front_end`) takes
float windows in [-1, 1] (int16 / 32768), treats each window as one call of the op and multiplies by ``out_scale``
(10/256: speech_commands' ``micro`` preprocessing; 1.0: the op's raw output); layouts as :mod:`.logmel`."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable, NamedTuple

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import layout
from edgekit.edge.frontend.clip import check_features_clip
from edgekit.edge.frontend.logmel import finisher

LAYOUTS = ("freq_time", "time_freq", "flat")
PARAMS = ("window_size_ms", "window_step_ms", "num_channels", "upper_band_limit", "lower_band_limit",
          "smoothing_bits", "even_smoothing", "odd_smoothing", "min_signal_remaining", "enable_pcan",
          "pcan_strength", "pcan_offset", "gain_bits", "enable_log", "scale_shift", "out_scale", "layout")
KEYS = ("type", *PARAMS, "clip")           # "clip": the optional pad/crop policy every audio spec may record
MAX_WINDOW = 1 << 15                       # samples per frame (the FFT is at most 32768 points)
MAX_CHANNELS = 512
MAX_MS = 100_000
MAX_SMOOTHING_BITS = 31
MAX_GAIN_BITS = 31
MAX_SCALE_SHIFT = 15
MAX_PCAN_OFFSET = 1e6
MAX_OUT_SCALE = 1e6

WINDOW_BITS = 12                           # kFrontendWindowBits
FILTERBANK_BITS = 12                       # kFilterbankBits
NOISE_REDUCTION_BITS = 14                  # kNoiseReductionBits
PCAN_SNR_BITS = 12                         # kPcanSnrBits
PCAN_OUTPUT_BITS = 6                       # kPcanOutputBits
WDF_BITS = 32                              # kWideDynamicFunctionBits
LOG_SCALE_LOG2 = 16                        # kLogScaleLog2
LOG_SEGMENTS_LOG2 = 7                      # kLogSegmentsLog2
LOG_COEFF = 45426                          # kLogCoeff: ln(2) in Q16
LOG_LUT = np.array([                       # kLogLut (log_lut.c)
    0, 224, 442, 654, 861, 1063, 1259, 1450, 1636, 1817, 1992, 2163, 2329, 2490, 2646, 2797, 2944, 3087, 3224, 3358,
    3487, 3611, 3732, 3848, 3960, 4068, 4172, 4272, 4368, 4460, 4549, 4633, 4714, 4791, 4864, 4934, 5001, 5063, 5123,
    5178, 5231, 5280, 5326, 5368, 5408, 5444, 5477, 5507, 5533, 5557, 5578, 5595, 5610, 5622, 5631, 5637, 5640, 5641,
    5638, 5633, 5626, 5615, 5602, 5586, 5568, 5547, 5524, 5498, 5470, 5439, 5406, 5370, 5332, 5291, 5249, 5203, 5156,
    5106, 5054, 5000, 4944, 4885, 4825, 4762, 4697, 4630, 4561, 4490, 4416, 4341, 4264, 4184, 4103, 4020, 3935, 3848,
    3759, 3668, 3575, 3481, 3384, 3286, 3186, 3084, 2981, 2875, 2768, 2659, 2549, 2437, 2323, 2207, 2090, 1971, 1851,
    1729, 1605, 1480, 1353, 1224, 1094, 963, 830, 695, 559, 421, 282, 142, 0, 0], dtype=np.int64)
U32 = 0xFFFFFFFF
f32 = np.float32


def microfrontend_features(window_size_ms: int = 30, window_step_ms: int = 20, num_channels: int = 40,
                           upper_band_limit: float = 7500.0, lower_band_limit: float = 125.0,
                           smoothing_bits: int = 10, even_smoothing: float = 0.025, odd_smoothing: float = 0.06,
                           min_signal_remaining: float = 0.05, enable_pcan: bool = True,
                           pcan_strength: float = 0.95, pcan_offset: float = 80.0, gain_bits: int = 21,
                           enable_log: bool = True, scale_shift: int = 6, out_scale: float = 10 / 256,
                           layout: str = "flat") -> dict[str, Any]:
    """The ``features`` entry of a spec for TFLite Micro's audio front end (defaults: micro_speech's 30 ms / 20 ms,
    40 channels, 125-7500 Hz, PCAN on, scaled by 10/256 as TensorFlow's speech_commands ``micro`` preprocessing)."""
    return {"type": "microfrontend", "window_size_ms": int(window_size_ms), "window_step_ms": int(window_step_ms),
            "num_channels": int(num_channels), "upper_band_limit": float(upper_band_limit),
            "lower_band_limit": float(lower_band_limit), "smoothing_bits": int(smoothing_bits),
            "even_smoothing": float(even_smoothing), "odd_smoothing": float(odd_smoothing),
            "min_signal_remaining": float(min_signal_remaining), "enable_pcan": bool(enable_pcan),
            "pcan_strength": float(pcan_strength), "pcan_offset": float(pcan_offset), "gain_bits": int(gain_bits),
            "enable_log": bool(enable_log), "scale_shift": int(scale_shift), "out_scale": float(out_scale),
            "layout": layout}


DEFAULTS = microfrontend_features()


def _samples(ms: int, sample_rate: float) -> int:
    """Samples in ``ms`` milliseconds as the op counts them (``ms * sample_rate / 1000`` in integers)."""
    return int(ms) * int(sample_rate) // 1000


def n_frames(window: int, sample_rate: float, feat: dict[str, Any]) -> int:
    """Frames the op makes of ``window`` samples (incomplete frames are dropped)."""
    size, step = _samples(feat["window_size_ms"], sample_rate), _samples(feat["window_step_ms"], sample_rate)
    return 0 if window < size else 1 + (window - size) // step


def microfrontend_shape(window: int, sample_rate: float, feat: dict[str, Any]) -> tuple[int, ...]:
    """The natural model input shape (no batch axis) of a ``microfrontend`` front end, by layout."""
    t, c = n_frames(window, sample_rate, feat), feat["num_channels"]
    return {"freq_time": (c, t, 1), "time_freq": (t, c, 1), "flat": (t * c,)}[feat["layout"]]


# -- the tables, built as the C code builds them ---------------------------------------------------------------------
def _msb(v: np.ndarray) -> np.ndarray:
    """``MostSignificantBit32`` of non-negative integers below 2**53 (0 for 0)."""
    return np.frexp(np.asarray(v, dtype=np.float64))[1].astype(np.int64)


def _wrap(v: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of int64 values to ``bits`` bits (what a C cast to intN_t does)."""
    half = 1 << (bits - 1)
    return ((v + half) & ((1 << bits) - 1)) - half


def _mel(freq: float) -> np.float32:
    """``FreqToMel``: float in, ``1127 log1p(f / 700)`` in double, float out."""
    return f32(1127.0 * math.log1p(float(freq) / 700.0))


def _window(size: int) -> np.ndarray:
    """``WindowPopulateState``'s coefficients (Q12)."""
    arg = float(f32(math.pi * 2.0 / float(f32(size))))
    out = np.empty(size, dtype=np.int32)
    for i in range(size):
        v = f32(0.5 - 0.5 * math.cos(arg * (i + 0.5)))
        out[i] = math.floor(float(f32(v * f32(1 << WINDOW_BITS))) + 0.5)
    return out


def _kf_factor(n: int) -> list[tuple[int, int]]:
    """kissfft's ``kf_factor``: (radix, remaining length) per stage, outermost first."""
    out, p, floor_sqrt = [], 4, math.floor(math.sqrt(n))
    while True:
        while n % p:
            p = 2 if p == 4 else 3 if p == 2 else p + 2
            if p > floor_sqrt:
                p = n
        n //= p
        out.append((p, n))
        if n <= 1:
            return out


def _cexp(phase: float) -> tuple[int, int]:
    """kissfft's ``kf_cexp`` with ``FIXED_POINT=16``."""
    return math.floor(0.5 + 32767 * math.cos(phase)), math.floor(0.5 + 32767 * math.sin(phase))


class _Fft(NamedTuple):
    order: np.ndarray                                   # input index of each slot after kf_work's decimation
    stages: list[tuple[int, int, tuple[np.ndarray, ...]]]  # innermost first: (radix, m, twiddles (re, im) ...)
    super_re: np.ndarray
    super_im: np.ndarray


def _fft_plan(nfft: int) -> _Fft:
    """The state ``kiss_fftr_alloc(nfft)`` builds, arranged for a stage-by-stage vectorised ``kf_work``."""
    n = nfft // 2                                       # the complex FFT's length
    tw = np.array([_cexp(-2 * math.pi * i / n) for i in range(n)], dtype=np.int32).reshape(n, 2)
    factors = _kf_factor(n)
    if any(p not in (2, 4) for p, _ in factors):
        raise ValueError(f"FFT length {nfft} is not a power of two")

    def order(level: int, offset: int, fstride: int) -> list[int]:
        """Input indices in the order ``kf_work``'s leaves copy them (from ``offset``, every ``fstride``)."""
        p, m = factors[level]
        if m == 1:
            return [offset + q * fstride for q in range(p)]
        return [i for q in range(p) for i in order(level + 1, offset + q * fstride, fstride * p)]

    stages, fstride = [], 1
    for p, m in factors:
        u = np.arange(m)
        tws = tuple(a for k in range(1, p) for a in (tw[k * u * fstride, 0], tw[k * u * fstride, 1]))
        stages.append((p, m, tws))
        fstride *= p
    sup = np.array([_cexp(-math.pi * ((i + 1) / n + 0.5)) for i in range(n // 2)], dtype=np.int32).reshape(-1, 2)
    return _Fft(np.array(order(0, 0, 1)), stages[::-1], sup[:, 0], sup[:, 1])


class TopBinError(ValueError):
    """The filterbank's top channel reaches the last FFT bin (``FilterbankPopulateState`` fails)."""


class _Bank(NamedTuple):
    start: int
    end: int
    matrix: np.ndarray                                  # (end - start, channels) int64: weights and unweights
    matrix_f: np.ndarray                                # the same as float64 (BLAS, when exact)
    exact_below: float                                  # float64 sums are exact while the energies stay below this


def _filterbank(sample_rate: int, num_channels: int, lower: float, upper: float, spectrum_size: int) -> _Bank:
    """``FilterbankPopulateState``: mel channel edges over the FFT bins and their Q12 weights, as a matrix from the
    bins' energies to the channels (bin b of channel c adds weight*E to c and (1 - weight)*E to c + 1). Raises
    :class:`TopBinError` where the C code fails."""
    lower32, upper32 = f32(lower), f32(upper)
    n1 = num_channels + 1
    mel_low = _mel(lower32)
    spacing = f32(f32(_mel(upper32) - mel_low) / f32(n1))
    centers = [f32(mel_low + f32(spacing * f32(i + 1))) for i in range(n1)]
    hz = f32(0.5 * sample_rate / float(f32(spectrum_size) - f32(1)))
    start = int(1.5 + float(f32(lower32 / hz)))
    rows: list[tuple[int, int, int, int]] = []          # (bin, channel 0..n1-1, weight, unweight) per bin
    index = start
    for chan in range(n1):
        freq = index
        while _mel(f32(f32(freq) * hz)) <= centers[chan]:
            freq += 1
            if freq >= spectrum_size:
                raise TopBinError("the filterbank reaches the top FFT bin")
        denom = mel_low if chan == 0 else centers[chan - 1]
        for b in range(index, freq):
            w = f32(f32(centers[chan] - _mel(f32(f32(b) * hz))) / f32(centers[chan] - denom))
            rows.append((b, chan, math.floor(float(f32(w * f32(1 << FILTERBANK_BITS))) + 0.5),
                         math.floor((1.0 - float(w)) * (1 << FILTERBANK_BITS) + 0.5)))
        index = freq
    end = index
    matrix = np.zeros((max(end - start, 0), num_channels), dtype=np.int64)
    for b, chan, w, uw in rows:
        if chan >= 1:                                   # work[chan] is output channel chan - 1
            matrix[b - start, chan - 1] += _wrap(np.int64(w), 16)
        if chan < num_channels:                         # the unweight goes to the next channel
            matrix[b - start, chan] += _wrap(np.int64(uw), 16)
    most = int(np.abs(matrix).sum(axis=0).max()) if matrix.size else 1
    return _Bank(start, end, matrix, matrix.astype(np.float64), 2.0 ** 53 / max(most, 1))


def _pcan_gain(strength: float, offset: float, gain_bits: int, input_bits: int, x: int) -> int:
    """``PcanGainLookupFunction`` (float arithmetic, powf as double pow rounded to float)."""
    base, exponent = float(f32(f32(f32(x) / f32(1 << input_bits)) + f32(offset))), -float(f32(strength))
    with np.errstate(over="ignore"):
        power = f32(math.inf if base == 0 and exponent < 0 else math.pow(base, exponent))
        gain = f32(f32(1 << gain_bits) * power)
    if gain > 0x7FFF:
        return 0x7FFF
    return int(f32(gain + f32(0.5)))


def _pcan_lut(strength: float, offset: float, gain_bits: int, input_bits: int) -> np.ndarray:
    """``PcanGainControlPopulateState``'s gain table (kWideDynamicFunctionLUTSize int16 entries, as int64)."""
    lut = np.zeros(4 * WDF_BITS - 3, dtype=np.int64)

    def g(x: int) -> int:
        """The gain at noise estimate ``x``."""
        return _pcan_gain(strength, offset, gain_bits, input_bits, x)
    lut[0], lut[1] = g(0), g(1)
    for interval in range(2, WDF_BITS + 1):
        x0 = 1 << (interval - 1)
        x1 = x0 + (x0 >> 1)
        x2 = x0 + (x0 - 1) if interval == WDF_BITS else 2 * x0
        y0, y1, y2 = g(x0), g(x1), g(x2)
        diff1, diff2 = y1 - y0, y2 - y0
        a1 = 4 * diff1 - diff2
        a2 = diff2 - a1
        lut[4 * interval - 6: 4 * interval - 3] = _wrap(np.array([y0, a1, a2], dtype=np.int64), 16)
    return lut


class _State(NamedTuple):
    size: int
    step: int
    nfft: int
    num_channels: int
    coef: np.ndarray
    fft: _Fft
    bank: _Bank
    smoothing_bits: int
    smoothing: np.ndarray                               # per channel (even, odd), Q14
    min_signal_remaining: int
    pcan: np.ndarray | None                             # the gain table, None without PCAN
    snr_shift: int
    enable_log: bool
    scale_shift: int
    correction_bits: int


def _q14(v: float) -> int:
    """A float config value times 2**14 in float, truncated (``NoiseReductionPopulateState``'s uint16 fields)."""
    return int(f32(f32(v) * f32(1 << NOISE_REDUCTION_BITS)))


def _key(sample_rate: float, feat: dict[str, Any]) -> tuple:
    """The arguments of :func:`_state` for a features dict (missing parameters: the defaults)."""
    p = {**DEFAULTS, **feat}
    return (int(sample_rate), *(p[k] for k in PARAMS[:-2]))


@lru_cache(maxsize=32)
def _state(sample_rate: int, window_size_ms: int, window_step_ms: int, num_channels: int, upper: float,
           lower: float, smoothing_bits: int, even: float, odd: float, min_remaining: float, enable_pcan: bool,
           strength: float, offset: float, gain_bits: int, enable_log: bool, scale_shift: int) -> _State:
    """``FrontendPopulateState`` for one set of parameters (cached)."""
    size, step = _samples(window_size_ms, sample_rate), _samples(window_step_ms, sample_rate)
    nfft = 1
    while nfft < size:
        nfft <<= 1
    bank = _filterbank(sample_rate, num_channels, lower, upper, nfft // 2 + 1)
    correction = int(_msb(nfft)) - 1 - FILTERBANK_BITS // 2
    smoothing = np.where(np.arange(num_channels) % 2 == 0, _q14(even), _q14(odd)).astype(np.int64)
    pcan = _pcan_lut(strength, offset, gain_bits, smoothing_bits - correction) if enable_pcan else None
    return _State(size, step, nfft, num_channels, _window(size), _fft_plan(nfft), bank, smoothing_bits, smoothing,
                  _q14(min_remaining), pcan, gain_bits - correction - PCAN_SNR_BITS, enable_log, scale_shift,
                  correction)


def _state_of(sample_rate: float, feat: dict[str, Any]) -> _State:
    """The (cached) front-end state of a features dict at ``sample_rate``."""
    return _state(*_key(sample_rate, feat))


# -- the per-frame stages --------------------------------------------------------------------------------------------
def _fixdiv(x: np.ndarray, p: int) -> np.ndarray:
    """``C_FIXDIV``: x * (32767 / p), rounded Q15, int16."""
    return ((x.astype(np.int32) * (32767 // p) + (1 << 14)) >> 15).astype(np.int16)


def _cmul(ar: np.ndarray, ai: np.ndarray, br: np.ndarray, bi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``C_MUL`` of int16 values by int16 twiddles, rounded Q15."""
    ar, ai = ar.astype(np.int32), ai.astype(np.int32)
    return (((ar * br - ai * bi + (1 << 14)) >> 15).astype(np.int16),
            ((ar * bi + ai * br + (1 << 14)) >> 15).astype(np.int16))


def _kiss_fftr(x: np.ndarray, plan: _Fft) -> tuple[np.ndarray, np.ndarray]:
    """``kiss_fftr`` (FIXED_POINT=16) of int16 frames (..., nfft): (re, im) int16 of nfft/2 + 1 bins."""
    lead, n = x.shape[:-1], x.shape[-1] // 2
    re = np.ascontiguousarray(x[..., 0::2][..., plan.order])
    im = np.ascontiguousarray(x[..., 1::2][..., plan.order])
    for p, m, tws in plan.stages:                       # int16 arithmetic wraps as the C stores to short do
        shape = (*lead, n // (p * m), p, m)
        re, im = _fixdiv(re.reshape(shape), p), _fixdiv(im.reshape(shape), p)
        if p == 2:
            tr, ti = _cmul(re[..., 1, :], im[..., 1, :], *tws)
            re = np.stack((re[..., 0, :] + tr, re[..., 0, :] - tr), axis=-2)
            im = np.stack((im[..., 0, :] + ti, im[..., 0, :] - ti), axis=-2)
        else:
            s0r, s0i = _cmul(re[..., 1, :], im[..., 1, :], tws[0], tws[1])
            s1r, s1i = _cmul(re[..., 2, :], im[..., 2, :], tws[2], tws[3])
            s2r, s2i = _cmul(re[..., 3, :], im[..., 3, :], tws[4], tws[5])
            s5r, s5i = re[..., 0, :] - s1r, im[..., 0, :] - s1i
            f0r, f0i = re[..., 0, :] + s1r, im[..., 0, :] + s1i
            s3r, s3i = s0r + s2r, s0i + s2i
            s4r, s4i = s0r - s2r, s0i - s2i
            re = np.stack((f0r + s3r, s5r + s4i, f0r - s3r, s5r - s4i), axis=-2)
            im = np.stack((f0i + s3i, s5i - s4r, f0i - s3i, s5i + s4r), axis=-2)
    re, im = re.reshape(*lead, n), im.reshape(*lead, n)
    out_re = np.zeros((*lead, n + 1), dtype=np.int16)
    out_im = np.zeros((*lead, n + 1), dtype=np.int16)
    dc_re, dc_im = _fixdiv(re[..., 0], 2), _fixdiv(im[..., 0], 2)
    out_re[..., 0], out_re[..., n] = dc_re + dc_im, dc_re - dc_im
    k = np.arange(1, n // 2 + 1)
    fpk_re, fpk_im = _fixdiv(re[..., k], 2), _fixdiv(im[..., k], 2)
    fpnk_re, fpnk_im = _fixdiv(re[..., n - k], 2), _fixdiv(-im[..., n - k], 2)
    f1_re, f1_im = (fpk_re + fpnk_re).astype(np.int32), (fpk_im + fpnk_im).astype(np.int32)
    tw_re, tw_im = _cmul(fpk_re - fpnk_re, fpk_im - fpnk_im, plan.super_re[k - 1], plan.super_im[k - 1])
    tw_re, tw_im = tw_re.astype(np.int32), tw_im.astype(np.int32)
    out_re[..., k], out_im[..., k] = (f1_re + tw_re) >> 1, (f1_im + tw_im) >> 1      # HALF_OF, stored to short
    out_re[..., n - k], out_im[..., n - k] = (f1_re - tw_re) >> 1, (tw_im - f1_im) >> 1
    return out_re, out_im


def _sqrt(v: np.ndarray) -> np.ndarray:
    """``Sqrt64`` (``Sqrt32`` below 2**32) of uint64 values: the integer square root rounded to nearest, capped as
    the C code caps it; uint64 out."""
    s = np.minimum(np.floor(np.sqrt(v.astype(np.float64))), U32).astype(np.uint64)
    s -= (s * s > v).astype(np.uint64)                  # the float estimate is off by at most one either way
    rem = v - s * s
    up = rem > 2 * s
    s += up.astype(np.uint64)
    rem -= np.where(up, 2 * s - 1, 0).astype(np.uint64)
    cap = np.where(v >> np.uint64(32) == 0, np.uint64(0xFFFF), np.uint64(U32))
    return s + ((rem > s) & (s != cap)).astype(np.uint64)


def _wide_dynamic(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """``WideDynamicFunction`` of uint32 noise estimates (int64 in): the int16 gain, as int64."""
    interval = np.maximum(_msb(x), 2)
    base = 4 * interval - 6
    frac = np.where(interval < 11, x << np.maximum(11 - interval, 0), x >> np.maximum(interval - 11, 0)) & 0x3FF
    r = (lut[base + 2] * frac) >> 5
    r = _wrap(_wrap(r + lut[base + 1] * 32, 32) * frac, 32)
    r = (_wrap(r + (1 << 14), 32) >> 15) + lut[base]
    return np.where(x <= 2, lut[np.minimum(x, 2)], _wrap(r, 16))


def _log(v: np.ndarray, scale_shift: int) -> np.ndarray:
    """``Log`` of uint32 values > 1 (int64 in and out)."""
    integer = _msb(v) - 1
    frac = v - (np.int64(1) << integer)
    frac = np.where(integer < LOG_SCALE_LOG2, frac << np.maximum(LOG_SCALE_LOG2 - integer, 0),
                    frac >> np.maximum(integer - LOG_SCALE_LOG2, 0))
    seg = frac >> (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2)
    c0, c1 = LOG_LUT[seg], LOG_LUT[seg + 1]
    rel = ((c1 - c0) * (frac - (seg << (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2)))) >> LOG_SCALE_LOG2
    log2 = ((integer << LOG_SCALE_LOG2) + ((frac + c0 + rel) & U32)) & U32
    loge = (LOG_COEFF * log2 + (1 << (LOG_SCALE_LOG2 - 1))) >> LOG_SCALE_LOG2
    return ((((loge << scale_shift) & U32) + (1 << (LOG_SCALE_LOG2 - 1))) & U32) >> LOG_SCALE_LOG2


def _process(x: np.ndarray, st: _State) -> np.ndarray:
    """``FrontendProcessSamples`` over every frame of int16 signals (batch, samples), state reset per signal:
    uint16 (batch, frames, channels)."""
    b, length = x.shape
    t = 0 if length < st.size else 1 + (length - st.size) // st.step
    if t == 0 or b == 0:
        return np.zeros((b, t, st.num_channels), dtype=np.uint16)
    frames = np.lib.stride_tricks.sliding_window_view(x, st.size, axis=-1)[:, :(t - 1) * st.step + 1:st.step]
    win = ((frames.astype(np.int32) * st.coef) >> WINDOW_BITS).astype(np.int16)
    peak = np.maximum(np.abs(win).max(axis=-1), 0)      # abs(-32768) stays -32768 in int16, as in window.c
    shift = 15 - _msb(peak)                             # (batch, frames)
    buf = np.zeros((b, t, st.nfft), dtype=np.int16)
    buf[..., :st.size] = (win.astype(np.uint16).astype(np.int32) << shift[..., None].astype(np.int32)).astype(np.int16)
    re, im = _kiss_fftr(buf, st.fft)
    bank = st.bank
    re = re[..., bank.start:bank.end].astype(np.int32)
    im = im[..., bank.start:bank.end].astype(np.int32)
    energy = re * re + im * im                          # int32 as in C: wraps only at 2 * 32768**2
    if energy.size and 0 <= energy.min() and energy.max() < bank.exact_below:
        work = (energy @ bank.matrix_f).astype(np.uint64)   # integer sums below 2**53: float64 is exact (and BLAS)
    else:
        work = (energy.astype(np.int64) @ bank.matrix).view(np.uint64)     # uint64 accumulation, modulo 2**64
    signal = ((_sqrt(work) & np.uint64(U32)) >> shift[..., None].astype(np.uint64)).astype(np.int64)   # uint32s
    out = np.empty_like(signal)
    estimates = np.empty_like(signal)
    est = np.zeros((b, st.num_channels), dtype=np.int64)
    sm = st.smoothing
    one_minus = (1 << NOISE_REDUCTION_BITS) - sm
    bits, keep = st.smoothing_bits, st.min_signal_remaining
    for f in range(t):                                  # NoiseReductionApply: the only state across frames
        s = signal[:, f]                                # (all products below stay under 2**47: exact in int64)
        up = (s << bits) & U32
        est = (up * sm + est * one_minus) >> NOISE_REDUCTION_BITS
        estimates[:, f] = est
        floor = (s * keep) >> NOISE_REDUCTION_BITS
        out[:, f] = np.maximum((up - np.minimum(est, up)) >> bits, floor)
    if st.pcan is not None:
        gain = _wide_dynamic(estimates, st.pcan) & U32
        snr = ((out.astype(np.uint64) * gain.astype(np.uint64)) >> np.uint64(st.snr_shift)).astype(np.int64) & U32
        out = np.where(snr < (2 << PCAN_SNR_BITS), (snr * snr) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS),
                       (snr >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1 << PCAN_OUTPUT_BITS))
    if st.enable_log:
        c = st.correction_bits
        out = (out << c) & U32 if c >= 0 else out >> -c
        big = out > 1
        out = np.where(big, _log(np.where(big, out, 2), st.scale_shift), 0)
    return np.minimum(out, 0xFFFF).astype(np.uint16)


# -- the public entry points -----------------------------------------------------------------------------------------
def compute(samples: np.ndarray, sample_rate: int, feat: dict[str, Any]) -> np.ndarray:
    """What ``audio_microfrontend(samples, sample_rate, ..., out_scale=1, out_type=tf.uint16)`` returns for one call:
    uint16 (frames, num_channels) of 1-D int16 ``samples`` (missing parameters: the defaults)."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"compute takes one 1-D signal, got shape {x.shape}")
    return _process(x.astype(np.int16)[None], _state_of(sample_rate, feat))[0]


def front_end(spec: Spec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """(raw features of a batch of float windows in [-1, 1], the number of axes of one window): each window is one call
    of the op on its int16 samples, times ``out_scale``, in the spec's layout."""
    feat, size = spec.features, spec.window
    st = _state_of(spec.sample_rate, feat)
    t = n_frames(size, spec.sample_rate, feat)
    scale = np.float32(feat["out_scale"])
    finish = finisher({"layout": feat["layout"], "n_mels": feat["num_channels"]}, t, None)
    chunk = max(1, (1 << 21) // max(t * st.nfft, 1))     # windows per pass: ~16 MB of int32 frames at most

    def raw(x: np.ndarray) -> np.ndarray:
        """(batch..., window) floats → (batch..., features in the layout) float32."""
        x = np.asarray(x)
        if x.shape[-1] != size:
            raise EdgekitError(f"the model expects windows of {size} samples, got {x.shape[-1]}")
        if x.dtype.kind not in "biuf":
            raise EdgekitError(f"signal windows must be real numbers, got dtype {x.dtype}")
        flat = x.reshape(-1, size)
        out = np.empty((len(flat), t, st.num_channels), dtype=np.float32)
        for i in range(0, len(flat), chunk):
            part = flat[i:i + chunk]
            part = part if part.dtype.kind == "f" else part.astype(np.float64)
            q = np.clip(np.round(part * 32768.0), -32768, 32767).astype(np.int16)     # int16 / 32768: exactly back
            np.multiply(_process(q, st), scale, out=out[i:i + chunk], dtype=np.float32)
        return finish(out.reshape(*x.shape[:-1], t, st.num_channels))
    return raw, 1


# -- validation ------------------------------------------------------------------------------------------------------
def _int(feat: dict[str, Any], key: str, lo: int, hi: int, bad: Callable[[str], EdgekitError]) -> int:
    """``feat[key]``, an integer in [lo, hi], or ``bad``."""
    v = feat.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise bad(f"features.{key} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def _float(feat: dict[str, Any], key: str, lo: float, hi: float, bad: Callable[[str], EdgekitError],
           what: str = "", open_lo: bool = False) -> float:
    """``feat[key]``, a finite number in [lo, hi] (or (lo, hi]), or ``bad``."""
    v = feat.get(key)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and \
        (lo < v if open_lo else lo <= v) and v <= hi
    if not ok:
        raise bad(f"features.{key} must be a number in {'(' if open_lo else '['}{lo:g}, {hi:g}]{what}, got {v!r}")
    return float(v)


def _bool(feat: dict[str, Any], key: str, bad: Callable[[str], EdgekitError]) -> bool:
    """``feat[key]``, true or false, or ``bad``."""
    v = feat.get(key)
    if not isinstance(v, bool):
        raise bad(f"features.{key} must be true or false, got {v!r}")
    return v


def validate(spec: Spec, bad: Callable[[str], EdgekitError]) -> None:
    """Range-check a ``microfrontend`` features dict against the spec (sample rate, window, input shape): everything
    the C code would reject, crash on or leave undefined is refused with a one-line message."""
    feat = spec.features
    unknown = sorted(set(feat) - set(KEYS))
    if unknown:
        raise bad(f"features.{unknown[0]} is not a microfrontend parameter; use {', '.join(KEYS[1:])}")
    sr = spec.sample_rate
    if sr != math.floor(sr) or sr < 1:
        raise bad(f"the microfrontend needs a whole number of samples per second, got sample_rate {sr!r}")
    size_ms = _int(feat, "window_size_ms", 1, MAX_MS, bad)
    step_ms = _int(feat, "window_step_ms", 1, MAX_MS, bad)
    size, step = _samples(size_ms, sr), _samples(step_ms, sr)
    top = min(MAX_WINDOW, spec.window)
    if not 3 <= size <= top:
        raise bad(f"features.window_size_ms {size_ms} gives {size} samples at {sr:g} Hz; it must give 3 to {top} "
                  f"(the window is {spec.window} samples)")
    if not 1 <= step <= size:
        raise bad(f"features.window_step_ms {step_ms} gives {step} samples at {sr:g} Hz; it must give 1 to {size} "
                  f"(at most window_size_ms)")
    _int(feat, "num_channels", 1, MAX_CHANNELS, bad)
    nyquist = sr / 2
    lower = _float(feat, "lower_band_limit", 0.0, nyquist, bad, " Hz", open_lo=True)
    upper = _float(feat, "upper_band_limit", 0.0, nyquist, bad, " Hz (half the sample rate)", open_lo=True)
    if not lower < upper:
        raise bad(f"features need lower_band_limit < upper_band_limit, got {lower:g} and {upper:g} Hz")
    bits = _int(feat, "smoothing_bits", 0, MAX_SMOOTHING_BITS, bad)
    for key in ("even_smoothing", "odd_smoothing", "min_signal_remaining"):
        _float(feat, key, 0.0, 1.0, bad)
    pcan = _bool(feat, "enable_pcan", bad)
    _float(feat, "pcan_strength", 0.0, 1.0, bad)
    _float(feat, "pcan_offset", 0.0, MAX_PCAN_OFFSET, bad, open_lo=True)
    gain_bits = _int(feat, "gain_bits", 1, MAX_GAIN_BITS, bad)
    _bool(feat, "enable_log", bad)
    _int(feat, "scale_shift", 0, MAX_SCALE_SHIFT, bad)
    out_scale = feat.get("out_scale")
    if isinstance(out_scale, bool) or not isinstance(out_scale, (int, float)) or not math.isfinite(out_scale) \
            or out_scale <= 0:
        raise bad(f"features.out_scale must be a finite number > 0 (10/256 for speech_commands' micro features, "
                  f"1 for the op's raw output), got {out_scale!r}")
    if feat.get("layout") not in LAYOUTS:
        raise bad(f"features.layout must be one of {', '.join(LAYOUTS)}, got {feat.get('layout')!r}")
    nfft = 1 << (size - 1).bit_length()
    correction = nfft.bit_length() - 1 - FILTERBANK_BITS // 2
    if pcan and not 0 <= bits - correction <= 31:
        raise bad(f"features.smoothing_bits must be in [{max(correction, 0)}, {min(31 + correction, 31)}] with PCAN "
                  f"and a {nfft}-point FFT, got {bits}")
    if pcan and gain_bits - correction - PCAN_SNR_BITS < 0:
        raise bad(f"features.gain_bits must be in [{correction + PCAN_SNR_BITS}, {MAX_GAIN_BITS}] with PCAN and a "
                  f"{nfft}-point FFT, got {gain_bits}")
    check_features_clip(feat, bad)
    try:
        _state_of(sr, feat)
    except TopBinError:
        raise bad(f"features.upper_band_limit {upper:g} Hz puts the top channel's edge past the last bin of the "
                  f"{nfft}-point FFT at {sr:g} Hz; use a lower upper_band_limit") from None
    natural = microfrontend_shape(spec.window, sr, feat)
    if feat["layout"] == "flat":                    # frame after frame: the time_freq matrix, flattened
        natural = (n_frames(spec.window, sr, feat), feat["num_channels"], 1)
    if not layout.fits(spec.input_shape, natural):
        raise bad(f"input_shape {list(spec.input_shape)} does not match the microfrontend features of a "
                  f"{spec.window}-sample window in layout {feat['layout']} ({n_frames(spec.window, sr, feat)} frames "
                  f"x {feat['num_channels']} channels: {layout.describe(natural)})")


def describe(spec: Spec) -> str:
    """The front end in one line (``edgekit info``)."""
    f = spec.features
    return (f"TFLite Micro's audio front end (tensorflow/lite/experimental/microfrontend, integer arithmetic): "
            f"{f['window_size_ms']} ms windows every {f['window_step_ms']} ms, {f['num_channels']} channels "
            f"{f['lower_band_limit']:g}-{f['upper_band_limit']:g} Hz, noise reduction, PCAN "
            f"{'on' if f['enable_pcan'] else 'off'}, log {'on' if f['enable_log'] else 'off'}, x {f['out_scale']:g}; "
            f"layout {f['layout']}")
