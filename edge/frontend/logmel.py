"""The ``logmel`` feature type: a 1-D signal window → power spectrum → mel bands → dB, optional per-window CMVN, in one
of three layouts; the values of ``librosa.power_to_db(librosa.feature.melspectrogram(..., center=False))``.

Framing is librosa's without centre padding (streaming): frame ``t`` is the ``n_fft`` samples from ``t * hop_length``,
the periodic ``window`` of ``frame_length`` samples centred in it (zeros around it), so a window of ``W`` samples gives
``1 + (W - n_fft) // hop_length`` frames. Power ``|X|**2`` of one ``np.fft.rfft`` per frame, one matmul with the mel
filterbank (:func:`.mel.mel_filterbank`), then ``10 log10(max(S, amin))`` (and, with ``top_db``, nothing more than
``top_db`` below the window's maximum).

``cmvn`` subtracts each coefficient's mean over the window's frames and divides by its standard deviation, the variance
floored at ``cmvn_floor`` (squared units of the coefficient: dB² here) so near-constant bands are not blown up. It
removes the recording level (an offset in dB), which is what lets a model generalise across speakers and microphones
whose levels differ 10×.

Layouts: ``freq_time`` (n_coef, n_frames, 1), ``time_freq`` (n_frames, n_coef, 1) and ``flat`` (n_frames * n_coef,),
frame after frame (e.g. tflite-micro's micro_speech: int8 [1, 1960] = 49 × 40). Everything that depends only on the spec
(window, filterbank, DCT, layout) is computed once in :func:`front_end`. The ``mfcc`` type (:mod:`.mfcc`) adds a DCT and
reuses this module."""
from __future__ import annotations

import math
import threading
from typing import Any, Callable

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import dsp, layout, mel, tf_signal
from edgekit.edge.frontend.clip import check_clip_policy, check_features_clip
from edgekit.edge.frontend.frames import fft_length

LAYOUTS = ("freq_time", "time_freq", "flat")
MAX_LENGTH = 1 << 16          # samples per frame / hop / FFT
MAX_MELS = 512
MAX_AMIN = 1e3
MAX_TOP_DB = 1e3
MAX_CMVN_FLOOR = 1e6
MAX_KEPT_BYTES = 8 << 20      # work buffers of batches up to this size are kept between calls
FFT_OUT = np.lib.NumpyVersion(np.__version__) >= "2.0.0"     # np.fft.rfft(..., out=)
KEYS = ("type", "frame_length", "hop_length", "n_fft", "window", "n_mels", "fmin", "fmax", "htk", "norm",
        "amin", "top_db", "cmvn", "cmvn_floor", "layout", "clip", "convention", "log_offset", "power")


def logmel_features(frame_length: int = 400, hop_length: int = 160, n_fft: int | None = None,
                    window: Any = "hann", n_mels: int = 40, fmin: float = 0.0, fmax: float | None = None,
                    htk: bool = False, norm: str | None = "slaney", amin: float = 1e-10,
                    top_db: float | None = None, cmvn: bool = False, cmvn_floor: float = 1e-2,
                    layout: str = "freq_time", clip: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``features`` entry of a spec for a log-mel front end (defaults: 25 ms / 10 ms at 16 kHz, 40 Slaney mels,
    librosa's floor). ``n_fft`` defaults to the power of two >= ``frame_length``, ``fmax`` (None) to half the sample
    rate; ``clip``, if given, records the pad/crop policy of
    :func:`.clip.fit_clip` that makes a clip one window (checked, not applied here)."""
    frame_length = int(frame_length)
    n_fft = fft_length(frame_length) if n_fft is None else int(n_fft)
    extra = {} if clip is None else {"clip": check_clip_policy(clip)}
    return {**extra, "type": "logmel", "frame_length": frame_length, "hop_length": int(hop_length), "n_fft": n_fft,
            "window": list(window) if isinstance(window, tuple) else window, "n_mels": int(n_mels),
            "fmin": float(fmin), "fmax": None if fmax is None else float(fmax), "htk": bool(htk),
            "norm": norm, "amin": float(amin), "top_db": None if top_db is None else float(top_db),
            "cmvn": bool(cmvn), "cmvn_floor": float(cmvn_floor), "layout": layout}


def n_frames(window: int, feat: dict[str, Any]) -> int:
    """Frames in a window of ``window`` samples (librosa ``center=False``: of ``n_fft`` samples; tf.signal: of
    ``frame_length``)."""
    length = feat["frame_length"] if feat.get("convention") == "tf" else feat["n_fft"]
    return 1 + (window - length) // feat["hop_length"]


def logmel_shape(window: int, feat: dict[str, Any]) -> tuple[int, ...]:
    """The model input shape (no batch axis) of a ``logmel`` or ``mfcc`` front end."""
    n_coef = feat["n_mfcc"] if "n_mfcc" in feat else feat["n_mels"]
    t = n_frames(window, feat)
    return {"freq_time": (n_coef, t, 1), "time_freq": (t, n_coef, 1), "flat": (t * n_coef,)}[feat["layout"]]


def _filterbank(spec: Spec) -> np.ndarray:
    feat = spec.features
    return mel.mel_filterbank(spec.sample_rate, feat["n_fft"], feat["n_mels"], feat["fmin"], feat["fmax"],
                              htk=feat["htk"], norm=feat["norm"])


def make_raw(spec: Spec, n_mfcc: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The raw-feature function of a ``logmel`` (``n_mfcc`` None) or ``mfcc`` spec, spec-only work done now."""
    feat = spec.features
    if feat.get("convention") == "tf":
        return tf_signal.make_raw(spec, n_mfcc, finisher(feat, n_frames(spec.window, feat), n_mfcc))
    size, length, hop, n_fft = spec.window, feat["frame_length"], feat["hop_length"], feat["n_fft"]
    lpad = (n_fft - length) // 2                    # librosa centres a short window in the FFT frame
    t = n_frames(size, feat)
    stop = (t - 1) * hop + 1                        # frame starts 0, hop, ... (t of them)
    win = dsp.window_of(feat["window"], length)
    fb = _filterbank(spec)
    used = np.flatnonzero(fb.any(axis=0))           # FFT bins some filter covers (fmin..fmax)
    k0, k1 = int(used[0]), int(used[-1]) + 1
    fb_t = np.ascontiguousarray(fb[:, k0:k1].T)     # (bins, n_mels)
    amin = float(feat["amin"])
    top_db = feat.get("top_db")
    if n_mfcc is None:
        dct_t, db_scale = None, 10.0
    else:
        d = mel.dct_matrix(n_mfcc, feat["n_mels"])
        # with no top_db the dB factor 10 folds into the DCT: one pass less
        dct_t = np.ascontiguousarray(d.T * (10.0 if top_db is None else 1.0))
        db_scale = 1.0 if top_db is None else 10.0
    finish = finisher(feat, t, n_mfcc)
    frames_of = np.lib.stride_tricks.sliding_window_view
    n_bins = n_fft // 2 + 1
    local = threading.local()                       # per-thread work buffers, kept for small batches

    def work(lead: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(frame buffer, spectrum, power, scratch) for a batch; the frame buffer's zero tail is never written. Reused
        across calls: allocating ~1 MB per call costs glibc's trim + page faults, which measured 3x the whole
        computation."""
        bufs = getattr(local, "bufs", None)
        if bufs is not None and bufs[0].shape[:-2] == lead:
            return bufs
        bufs = (np.zeros((*lead, t, n_fft)), np.empty((*lead, t, n_bins), dtype=np.complex128),
                np.empty((*lead, t, k1 - k0)), np.empty((*lead, t, k1 - k0)))
        if bufs[0].nbytes <= MAX_KEPT_BYTES:
            local.bufs = bufs
        return bufs

    def raw(x: np.ndarray) -> np.ndarray:
        if x.shape[-1] != size:
            raise EdgekitError(f"the model expects windows of {size} samples, got {x.shape[-1]}")
        if x.dtype.kind not in "biuf":
            raise EdgekitError(f"signal windows must be real numbers, got dtype {x.dtype}")
        frames = frames_of(x[..., lpad:], length, axis=-1)[..., :stop:hop, :]     # (..., t, length) view
        buf, spec_, power, scratch = work(x.shape[:-1])
        np.multiply(frames, win, out=buf[..., :length])
        if FFT_OUT:
            np.fft.rfft(buf, axis=-1, out=spec_)
        else:                                                                   # numpy < 2: no out=
            spec_ = np.fft.rfft(buf, axis=-1)
        np.square(spec_.real[..., k0:k1], out=power)
        power += np.square(spec_.imag[..., k0:k1], out=scratch)
        m = power @ fb_t                                                        # (..., t, n_mels)
        np.maximum(m, amin, out=m)
        np.log10(m, out=m)
        if db_scale != 1.0:
            m *= db_scale
        if top_db is not None:
            np.maximum(m, m.max(axis=(-2, -1), keepdims=True) - top_db, out=m)
        if dct_t is not None:
            m = m @ dct_t                                                       # (..., t, n_mfcc)
        return finish(m)
    return raw


def finisher(feat: dict[str, Any], t: int, n_mfcc: int | None) -> Callable[[np.ndarray], np.ndarray]:
    """CMVN (if the spec asks for it) and the layout, on (..., t, n_coef) features."""
    cmvn, floor = bool(feat.get("cmvn")), float(feat.get("cmvn_floor", 1e-2))
    order = feat["layout"]
    flat_size = t * (feat["n_mels"] if n_mfcc is None else n_mfcc)

    def finish(m: np.ndarray) -> np.ndarray:
        if cmvn:
            m -= m.mean(axis=-2, keepdims=True)
            var = np.mean(np.square(m), axis=-2, keepdims=True)
            np.maximum(var, floor, out=var)
            m /= np.sqrt(var, out=var)
        if order == "time_freq":
            return m[..., None]
        if order == "flat":
            return m.reshape(m.shape[:-2] + (flat_size,))
        return np.swapaxes(m, -1, -2)[..., None]
    return finish


def front_end(spec: Spec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """(raw features of a batch of windows, the number of axes of one window)."""
    return make_raw(spec), 1


def describe(spec: Spec) -> str:
    """The front end in one line (``edgekit info``)."""
    feat = spec.features
    rate = spec.sample_rate
    tf = feat.get("convention") == "tf"
    what = f"{feat['n_mfcc']} MFCCs of " if "n_mfcc" in feat else ""
    fmax = rate / 2 if feat["fmax"] is None else feat["fmax"]
    log = f"log(mel + {feat['log_offset']:g})" if tf else "dB"
    length, hop = feat["frame_length"], feat["hop_length"]
    return (f"{what}{feat['n_mels']} {'HTK' if feat['htk'] else 'Slaney'} mel bands {feat['fmin']:g}-{fmax:g} Hz, "
            f"{log}, as {'tf.signal' if tf else 'librosa'} computes them; frames of {length} samples "
            f"({1e3 * length / rate:g} ms) every {hop} ({1e3 * hop / rate:g} ms), FFT {feat['n_fft']}{', CMVN' if feat.get('cmvn') else ''}; layout {feat['layout']}")


# -- validation --------------------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(feat: dict[str, Any], key: str, lo: int, hi: int, bad) -> int:
    v = feat.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise bad(f"features.{key} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


def check_features(spec: Spec, bad: Callable[[str], EdgekitError], keys: tuple[str, ...] = KEYS) -> None:
    """Range-check a ``logmel``-style features dict (``keys``: the ones its type allows)."""
    feat = spec.features
    kind = feat["type"]
    unknown = sorted(set(feat) - set(keys))
    if unknown:
        raise bad(f"features.{unknown[0]} is not a {kind} parameter; use {', '.join(keys[1:])}")
    length = _int(feat, "frame_length", 2, MAX_LENGTH, bad)
    _int(feat, "hop_length", 1, MAX_LENGTH, bad)
    n_fft = _int(feat, "n_fft", length, MAX_LENGTH, bad)
    if n_fft > spec.window:
        raise bad(f"features.n_fft {n_fft} is longer than the window {spec.window}; use a smaller n_fft "
                  f"or a longer window")
    dsp.check_window(feat.get("window"), length, bad, _is_number)
    n_mels = _int(feat, "n_mels", 1, MAX_MELS, bad)
    nyquist = spec.sample_rate / 2
    fmin, fmax = feat.get("fmin", None), feat.get("fmax", None)
    if not _is_number(fmin) or fmin < 0:
        raise bad(f"features.fmin must be a number >= 0 (Hz), got {fmin!r}")
    if fmax is not None and not _is_number(fmax):
        raise bad(f"features.fmax must be a number (Hz) or null for half the sample rate, got {fmax!r}")
    top = nyquist if fmax is None else fmax
    if not fmin < top <= nyquist:
        raise bad(f"features need fmin < fmax <= {nyquist:g} Hz (half the sample rate), got fmin={fmin!r}, "
                  f"fmax={fmax!r}")
    if not isinstance(feat.get("htk"), bool):
        raise bad(f"features.htk must be true or false, got {feat.get('htk')!r}")
    if "norm" not in feat or feat["norm"] not in mel.NORMS:
        raise bad(f"features.norm must be 'slaney' or null, got {feat.get('norm')!r}")
    amin = feat.get("amin")
    if not _is_number(amin) or not 0 < amin <= MAX_AMIN:
        raise bad(f"features.amin must be in (0, {MAX_AMIN:g}] (the power floor before the log), got {amin!r}")
    top_db = feat.get("top_db")
    if top_db is not None and not (_is_number(top_db) and 0 < top_db <= MAX_TOP_DB):
        raise bad(f"features.top_db must be null or in (0, {MAX_TOP_DB:g}] dB, got {top_db!r}")
    if not isinstance(feat.get("cmvn"), bool):
        raise bad(f"features.cmvn must be true or false, got {feat.get('cmvn')!r}")
    floor = feat.get("cmvn_floor")
    if not _is_number(floor) or not 0 < floor <= MAX_CMVN_FLOOR:
        raise bad(f"features.cmvn_floor must be in (0, {MAX_CMVN_FLOOR:g}] (a variance floor), got {floor!r}")
    if feat.get("layout") not in LAYOUTS:
        raise bad(f"features.layout must be one of {', '.join(LAYOUTS)}, got {feat.get('layout')!r}")
    if "n_mfcc" in keys:
        _int(feat, "n_mfcc", 1, n_mels, bad)
    tf = feat.get("convention", "librosa") == "tf"
    if feat.get("convention", "librosa") not in tf_signal.CONVENTIONS:
        raise bad(f"features.convention must be one of {', '.join(tf_signal.CONVENTIONS)}, got {feat['convention']!r}")
    if tf:
        tf_signal.check(spec, bad)
    check_features_clip(feat, bad)
    empty = np.flatnonzero(~(tf_signal.weights(spec).T if tf else _filterbank(spec)).any(axis=1))
    if empty.size:
        raise bad(f"{empty.size} of the {n_mels} mel bands cover no FFT bin (n_fft {n_fft} at "
                  f"{spec.sample_rate:g} Hz is too coarse); use fewer mels, a larger n_fft or a higher fmin")
    expected = logmel_shape(spec.window, feat)
    if feat["layout"] == "flat":                    # frame after frame: the time_freq matrix, flattened
        expected = (n_frames(spec.window, feat), expected[0] // n_frames(spec.window, feat), 1)
    if not layout.fits(spec.input_shape, expected):
        raise bad(f"input_shape {list(spec.input_shape)} does not match the {kind} features of a "
                  f"{spec.window}-sample window in layout {feat['layout']} ({layout.describe(expected)})")


def validate(spec: Spec, bad: Callable[[str], EdgekitError]) -> None:
    check_features(spec, bad, KEYS)
