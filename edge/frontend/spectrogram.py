"""The ``spectrogram`` feature type: a 1-D signal window → |STFT| (scipy-compatible, :mod:`.dsp`) →
optional ``log(S + log_eps)`` → a trailing channel axis: (n_freq, n_seg, 1) before normalisation."""
from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import dsp, layout

DETRENDS = ("constant", "linear", False)
SCALINGS = ("spectrum", "density")
MODES = ("magnitude", "psd")
MAX_LOG_EPS = 1e3


def spectrogram_features(nperseg: int = 256, noverlap: int | None = None, nfft: int | None = None,
                         window: Any = ("tukey", 0.25), detrend: Any = "constant",
                         scaling: str = "spectrum", mode: str = "magnitude", log: bool = True,
                         log_eps: float = 1e-8) -> dict[str, Any]:
    """The ``features`` entry of a spec for a spectrogram front end (defaults = the course's)."""
    noverlap = nperseg // 8 if noverlap is None else noverlap
    return {"type": "spectrogram", "nperseg": int(nperseg), "noverlap": int(noverlap),
            "nfft": int(nfft or nperseg), "window": list(window) if isinstance(window, tuple) else window,
            "detrend": detrend, "scaling": scaling, "mode": mode, "log": bool(log), "log_eps": float(log_eps)}


def spectrogram_shape(window: int, feat: dict[str, Any]) -> tuple[int, int, int]:
    step = feat["nperseg"] - feat["noverlap"]
    return (feat["nfft"] // 2 + 1, (window - feat["noverlap"]) // step, 1)


class Plan:
    """Everything of a spectrogram front end that depends only on the spec, computed once: the window with the scaling
    folded in, the frame step and count. :meth:`columns` gives the features of any number of frames, one row per frame
    (time-major), so a stream can compute only the frames a window adds."""

    def __init__(self, spec: Spec):
        feat = spec.features
        win = dsp.window_of(feat["window"], feat["nperseg"])
        self.length, self.step, self.nfft = feat["nperseg"], feat["nperseg"] - feat["noverlap"], feat["nfft"]
        self.n_frames = spectrogram_shape(spec.window, feat)[1]
        self.n_coef = self.nfft // 2 + 1
        self.window = spec.window
        scale = 1.0 / (spec.sample_rate * np.dot(win, win)) if feat["scaling"] == "density" else 1.0 / win.sum() ** 2
        self.psd = feat["mode"] == "psd"
        self._win = win if self.psd else win * math.sqrt(scale)     # magnitude: sqrt(scale) folded in
        self._scale = scale
        self._detrend = feat["detrend"]
        self._eps = float(feat.get("log_eps", 1e-8)) if feat.get("log") else None

    def columns(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Features of the frames of ``x`` (..., samples), written into ``out`` (..., frames, n_freq) float32."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        k = (x.shape[-1] - self.length) // self.step + 1
        # the frames as a strided view (np.ndarray directly: sliding_window_view costs 20 µs a call)
        frames = np.ndarray((*x.shape[:-1], k, self.length), np.float64, x, 0, (*x.strides[:-1], self.step * 8, 8))
        if self._detrend == "constant":          # = dsp.detrend_frames, without its call overhead
            m = np.add.reduce(frames, axis=-1, keepdims=True)
            m /= self.length
            f = np.subtract(frames, m)
        else:
            f = dsp.detrend_frames(frames, self._detrend)      # a new float64 array
        f *= self._win
        spec = np.fft.rfft(f, n=self.nfft, axis=-1)
        if self.psd:
            p = spec.real ** 2
            p += spec.imag ** 2
            p *= self._scale
            p[..., 1:-1 if self.nfft % 2 == 0 else None] *= 2          # one-sided: pair bins (not Nyquist)
            out[...] = p
        else:
            np.abs(spec, out=out, casting="same_kind")
        if self._eps is not None:
            np.add(out, self._eps, out=out)
            np.log(out, out=out)
        return out

    @staticmethod
    def place(cols: np.ndarray, out: np.ndarray) -> None:
        """Time-major frame features (frames, n_freq) → the model's (n_freq, frames, 1) layout (or a reshape of it
        the spec gives), in place."""
        if out.shape == (*cols.shape[::-1], 1):
            out[..., 0] = cols.T
        else:
            out[...] = cols.T.reshape(out.shape)


framewise = Plan        # the spec's front end frame by frame, for :mod:`.stream`


def describe(spec: Spec) -> str:
    """The front end in one line (``edgekit info``)."""
    f = spec.features
    return (f"{'log ' if f.get('log') else ''}{f['mode']} spectrogram as scipy.signal.spectrogram computes it: "
            f"segments of {f['nperseg']} samples overlapping by {f['noverlap']}, FFT {f['nfft']}, window "
            f"{json.dumps(f['window'])}, detrend {f['detrend']}, scaling {f['scaling']}")


def front_end(spec: Spec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """(raw features of a batch of windows, the number of axes of one window)."""
    plan = Plan(spec)

    def raw(x: np.ndarray) -> np.ndarray:
        if x.shape[-1] != spec.window:
            raise EdgekitError(f"the model expects windows of {spec.window} samples, got {x.shape[-1]}")
        cols = plan.columns(x, np.empty((*x.shape[:-1], plan.n_frames, plan.n_coef), dtype=np.float32))
        return np.moveaxis(cols, -1, -2)[..., None]
    return raw, 1


def validate(spec: Spec, bad: Callable[[str], EdgekitError]) -> None:
    feat = spec.features
    for k in ("nperseg", "noverlap", "nfft"):
        v = feat.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1 << 16:
            raise bad(f"features.{k} must be an integer in [0, 65536], got {v!r}")
    if feat["nperseg"] < 2 or feat["noverlap"] >= feat["nperseg"] or feat["nfft"] < feat["nperseg"]:
        raise bad("features need 2 <= nperseg, noverlap < nperseg <= nfft")
    if feat["nperseg"] > spec.window:
        raise bad(f"features.nperseg {feat['nperseg']} is longer than the window {spec.window}")
    dsp.check_window(feat.get("window"), feat["nperseg"], bad)
    if feat.get("detrend") not in DETRENDS or feat.get("scaling") not in SCALINGS \
            or feat.get("mode") not in MODES:
        raise bad("features.detrend/scaling/mode have unsupported values")
    eps = feat.get("log_eps", 1e-8)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 < eps <= MAX_LOG_EPS:
        raise bad(f"features.log_eps must be in (0, {MAX_LOG_EPS:g}] (a larger one makes the log constant), "
                  f"got {eps!r}")
    expected = spectrogram_shape(spec.window, feat)
    if not layout.fits(spec.input_shape, expected):
        raise bad(f"input_shape {list(spec.input_shape)} does not match the spectrogram of a "
                  f"{spec.window}-sample window ({layout.describe(expected)})")
