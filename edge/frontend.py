"""The front end: raw windows → model inputs, exactly as the spec says.

Training and the device both call :func:`build` on the same :class:`~edgekit.edge.spec.Spec`, so the
model never sees features computed by different code (train/serve skew). Everything here is numpy.

Feature types
-------------
``spectrogram``  a 1-D signal window → ``features.spectrogram`` (scipy-compatible) → optional
                 ``log(S + log_eps)`` → normalisation → a trailing channel axis: (n_freq, n_seg, 1).
``rows``         a (look_back, n_columns) block of detector rows → per-column min-max scaling.
``image``        a 2-D grayscale picture → optional inversion → scaling: (height, width, 1).

Normalisation types: ``none``; ``standard`` (scalar ``mean``/``std``, fitted on the training set);
``minmax`` (per-column ``min``/``max``); ``scale`` (``x * scale + offset``).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .errors import EdgekitError
from . import features as F

DETRENDS = ("constant", "linear", False)
SCALINGS = ("spectrum", "density")
MODES = ("magnitude", "psd")


def spectrogram_features(nperseg: int = 256, noverlap: int | None = None, nfft: int | None = None,
                         window: Any = ("tukey", 0.25), detrend: Any = "constant",
                         scaling: str = "spectrum", mode: str = "magnitude", log: bool = True,
                         log_eps: float = 1e-8) -> dict[str, Any]:
    """The ``features`` entry of a spec for a spectrogram front end (defaults = the course's)."""
    noverlap = nperseg // 8 if noverlap is None else noverlap
    return {"type": "spectrogram", "nperseg": int(nperseg), "noverlap": int(noverlap),
            "nfft": int(nfft or nperseg), "window": list(window) if isinstance(window, tuple) else window,
            "detrend": detrend, "scaling": scaling, "mode": mode, "log": bool(log),
            "log_eps": float(log_eps)}


def spectrogram_shape(window: int, feat: dict[str, Any]) -> tuple[int, int, int]:
    step = feat["nperseg"] - feat["noverlap"]
    return (feat["nfft"] // 2 + 1, (window - feat["noverlap"]) // step, 1)


# -- normalisation: pure functions ----------------------------------------------------------------

def fit_standard(x: np.ndarray) -> dict[str, Any]:
    """Scalar standardisation fitted on training features (float64 accumulation)."""
    x = np.asarray(x, dtype=np.float64)
    std = float(x.std())
    return {"type": "standard", "mean": float(x.mean()), "std": std if std > 0 else 1.0}


def normalize(x: np.ndarray, norm: dict[str, Any]) -> np.ndarray:
    t = norm["type"]
    if t == "none":
        return x
    if t == "standard":
        return (x - norm["mean"]) / norm["std"]
    if t == "minmax":
        lo = np.asarray(norm["min"], dtype=np.float64)
        hi = np.asarray(norm["max"], dtype=np.float64)
        return (x - lo) / np.where(hi > lo, hi - lo, 1.0)
    if t == "scale":
        return x * norm["scale"] + norm.get("offset", 0.0)
    raise EdgekitError(f"unknown normalization type {t!r}")


def denormalize(y: np.ndarray, norm: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`normalize` (used for regression targets)."""
    t = norm["type"]
    if t == "none":
        return y
    if t == "standard":
        return y * norm["std"] + norm["mean"]
    if t == "minmax":
        lo = np.asarray(norm["min"], dtype=np.float64)
        hi = np.asarray(norm["max"], dtype=np.float64)
        return y * np.where(hi > lo, hi - lo, 1.0) + lo
    if t == "scale":
        return (y - norm.get("offset", 0.0)) / norm["scale"]
    raise EdgekitError(f"unknown normalization type {t!r}")


# -- the front end ----------------------------------------------------------------------------------

class FrontEnd:
    """Callable: raw windows (batch, window[, columns]) or one window → float32 model inputs."""

    def __init__(self, spec, raw: Callable[[np.ndarray], np.ndarray], window_ndim: int):
        self.spec = spec
        self._raw = raw
        self._window_ndim = window_ndim

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Features before normalisation (what training fits the normalisation on)."""
        x = np.asarray(x)
        single = x.ndim == self._window_ndim
        out = self._raw(x[None] if single else x)
        return out[0] if single else out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        single = x.ndim == self._window_ndim
        feats = normalize(self._raw(x[None] if single else x), self.spec.normalization)
        feats = np.asarray(feats, dtype=np.float32).reshape((-1, *self.spec.input_shape))
        return feats[0] if single else feats


def build(spec) -> FrontEnd:
    feat = spec.features
    t = feat["type"]
    if t == "spectrogram":
        win = feat["window"]
        win = tuple(win) if isinstance(win, list) else win
        fs = spec.sample_rate

        def raw(x: np.ndarray) -> np.ndarray:
            if x.shape[-1] != spec.window:
                raise EdgekitError(f"the model expects windows of {spec.window} samples, got {x.shape[-1]}")
            _, _, s = F.spectrogram(x, fs, window=win, nperseg=feat["nperseg"],
                                    noverlap=feat["noverlap"], nfft=feat["nfft"], detrend=feat["detrend"],
                                    scaling=feat["scaling"], mode=feat["mode"])
            if feat.get("log"):
                s = np.log(s + feat.get("log_eps", 1e-8))
            return s[..., None]
        return FrontEnd(spec, raw, 1)
    if t == "rows":
        return FrontEnd(spec, lambda x: np.asarray(x, dtype=np.float64), 2)
    if t == "image":
        def raw_image(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float64)
            if feat.get("invert"):
                x = feat.get("max_value", 255.0) - x
            return x[..., None]
        return FrontEnd(spec, raw_image, 2)
    raise EdgekitError(f"unknown feature type {t!r}")


def validate_features(spec, source: str) -> None:
    """Range-check the front-end parameters of a spec (called when a spec is parsed)."""
    def bad(msg: str) -> EdgekitError:
        return EdgekitError(f"{source}: invalid edgekit spec: {msg}")

    feat, norm = spec.features, spec.normalization
    t = feat["type"]
    if t == "spectrogram":
        for k in ("nperseg", "noverlap", "nfft"):
            v = feat.get(k)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1 << 16:
                raise bad(f"features.{k} must be an integer in [0, 65536], got {v!r}")
        if feat["nperseg"] < 2 or feat["noverlap"] >= feat["nperseg"] or feat["nfft"] < feat["nperseg"]:
            raise bad("features need 2 <= nperseg, noverlap < nperseg <= nfft")
        if feat["nperseg"] > spec.window:
            raise bad(f"features.nperseg {feat['nperseg']} is longer than the window {spec.window}")
        w = feat.get("window")
        if not (isinstance(w, str) or (isinstance(w, list) and w and isinstance(w[0], str)
                                        and all(isinstance(p, (int, float)) for p in w[1:]))):
            raise bad(f"features.window must be a name or [name, parameter], got {w!r}")
        if feat.get("detrend") not in DETRENDS or feat.get("scaling") not in SCALINGS \
                or feat.get("mode") not in MODES:
            raise bad("features.detrend/scaling/mode have unsupported values")
        eps = feat.get("log_eps", 1e-8)
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
            raise bad(f"features.log_eps must be positive, got {eps!r}")
        expected = spectrogram_shape(spec.window, feat)
        if tuple(spec.input_shape) != expected:
            raise bad(f"input_shape {list(spec.input_shape)} does not match the spectrogram of a "
                      f"{spec.window}-sample window ({list(expected)})")
    elif t not in ("rows", "image"):
        raise bad(f"unknown features.type {t!r}")
    nt = norm["type"]
    if nt == "standard":
        m, s = norm.get("mean"), norm.get("std")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (m, s)) or not s > 0:
            raise bad("normalization 'standard' needs a number 'mean' and a positive 'std'")
    elif nt == "minmax":
        lo, hi = norm.get("min"), norm.get("max")
        if not isinstance(lo, (list, int, float)) or not isinstance(hi, (list, int, float)):
            raise bad("normalization 'minmax' needs 'min' and 'max'")
    elif nt == "scale":
        if not isinstance(norm.get("scale"), (int, float)) or norm["scale"] == 0:
            raise bad("normalization 'scale' needs a non-zero 'scale'")
    elif nt != "none":
        raise bad(f"unknown normalization.type {nt!r}")
