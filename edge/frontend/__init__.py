"""The front end: raw windows → model inputs, exactly as the spec says.

Training and the device both call :func:`build` on the same :class:`~edgekit.edge.model.spec.Spec`, so the
model never sees features computed by different code (train/serve skew). Everything here is numpy.

Feature types
-------------
``spectrogram``  a 1-D signal window → ``features.spectrogram`` (scipy-compatible) → optional
                 ``log(S + log_eps)`` → normalisation → a trailing channel axis: (n_freq, n_seg, 1).
``rows``         a (look_back, n_columns) block of detector rows → per-column min-max scaling.
``image``        a decoded picture (H, W) grayscale or (H, W, 3) RGB → resize to (height, width)
                 (area / bilinear / nearest, numpy) → optional inversion → scaling:
                 (height, width, 1 or 3).

Normalisation types: ``none``; ``standard`` (scalar ``mean``/``std``, fitted on the training set);
``minmax`` (per-column ``min``/``max``); ``scale`` (``x * scale + offset``).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np

from edgekit.edge.errors import EdgekitError
from edgekit.edge.frontend import spectrogram as F

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
        return _rows_front_end(spec)
    if t == "image":
        return _image_front_end(spec)
    raise EdgekitError(f"unknown feature type {t!r}")


# -- images (task 'image') ------------------------------------------------------------------------------

RESIZES = ("area", "bilinear", "nearest", "none")
MAX_IMAGE_SIDE = 4096


def image_features(height: int = 28, width: int = 28, grayscale: bool = True, invert: bool = False,
                   max_value: float = 255.0, resize: str = "area") -> dict[str, Any]:
    """The ``features`` entry of a spec for an image front end (defaults = MNIST: 28×28 grayscale,
    light digit on a dark background, 8-bit pixels, area resampling for pictures of another size)."""
    return {"type": "image", "height": int(height), "width": int(width), "grayscale": bool(grayscale),
            "invert": bool(invert), "max_value": float(max_value), "resize": resize}


def image_shape(feat: dict[str, Any]) -> tuple[int, int, int]:
    """The model input (height, width, channels) an image front end produces."""
    return (feat["height"], feat["width"], 1 if feat.get("grayscale", True) else 3)


@functools.lru_cache(maxsize=64)
def _resize_matrix(n_in: int, n_out: int, method: str) -> np.ndarray:
    """(n_out, n_in) weights resampling one axis; rows sum to 1.

    area      each output pixel averages the input pixels it covers, weighted by the covered fraction
              (exact box filter: the right choice for shrinking photos; enlarging gives blocky pixels)
    bilinear  linear interpolation at half-pixel centres, no anti-aliasing (TensorFlow/OpenCV convention)
    nearest   the input pixel under the output pixel's centre
    """
    scale = n_in / n_out
    w = np.zeros((n_out, n_in), dtype=np.float64)
    rows = np.arange(n_out)
    if method == "area":
        lo, hi = rows * scale, (rows + 1) * scale
        edges = np.arange(n_in + 1, dtype=np.float64)
        w = np.clip(np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1]),
                    0.0, None) / scale
    elif method == "bilinear":
        src = np.clip((rows + 0.5) * scale - 0.5, 0.0, n_in - 1)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        frac = src - i0
        np.add.at(w, (rows, i0), 1.0 - frac)
        np.add.at(w, (rows, i1), frac)
    elif method == "nearest":
        w[rows, np.minimum(np.floor((rows + 0.5) * scale).astype(int), n_in - 1)] = 1.0
    else:
        raise EdgekitError(f"unknown resize method {method!r}; use one of {', '.join(RESIZES[:-1])}")
    w.setflags(write=False)
    return w


def resize_images(x: np.ndarray, height: int, width: int, method: str = "area") -> np.ndarray:
    """Resample a batch of images (B, H, W) or (B, H, W, C) to (B, height, width[, C]) in float64.
    Numpy only (separable weights), so the device and training resize identically."""
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape[1], x.shape[2]
    if (h, w) == (height, width):
        return x
    if method == "none":
        raise EdgekitError(f"the model takes {height}×{width} images, got {h}×{w}, and its spec does not "
                           "resize (features.resize 'none'); resize the images first")
    wy, wx = _resize_matrix(h, height, method), _resize_matrix(w, width, method)
    if x.ndim == 3:
        return np.einsum("yh,bhw,xw->byx", wy, x, wx, optimize=True)
    return np.einsum("yh,bhwc,xw->byxc", wy, x, wx, optimize=True)


def _image_front_end(spec) -> FrontEnd:
    """Decoded pictures (B, H, W) grayscale or (B, H, W, 3) RGB, pixel values in [0, max_value] →
    resize to (height, width) → optional inversion (dark-on-light pictures → light-on-dark, as MNIST) →
    (B, height, width, channels) before normalisation."""
    feat = spec.features
    height, width, channels = image_shape(feat)
    method = feat.get("resize", "area")
    invert = bool(feat.get("invert", False))
    max_value = float(feat.get("max_value", 255.0))
    ndim = 2 if channels == 1 else 3

    def raw_image(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != ndim + 1 or (channels == 3 and x.shape[-1] != 3):
            want = "(height, width)" if channels == 1 else "(height, width, 3)"
            got = x.shape[1:] if x.ndim > ndim else x.shape
            raise EdgekitError(f"the model takes {'grayscale' if channels == 1 else 'RGB'} images {want}, "
                               f"got an array of shape {list(got)}")
        if x.shape[1] < 1 or x.shape[2] < 1:
            raise EdgekitError(f"empty image ({x.shape[1]}×{x.shape[2]} pixels)")
        x = resize_images(x, height, width, method)
        if invert:
            x = max_value - x
        return x if channels == 3 else x[..., None]
    return FrontEnd(spec, raw_image, ndim)


def _validate_image_features(spec, bad: Callable[[str], EdgekitError]) -> None:
    feat = spec.features
    for k in ("height", "width"):
        v = feat.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_IMAGE_SIDE:
            raise bad(f"features.{k} must be an integer in [1, {MAX_IMAGE_SIDE}], got {v!r}")
    for k in ("grayscale", "invert"):
        if not isinstance(feat.get(k, k == "grayscale"), bool):
            raise bad(f"features.{k} must be true or false, got {feat[k]!r}")
    mv = feat.get("max_value", 255.0)
    if isinstance(mv, bool) or not isinstance(mv, (int, float)) or not 0 < mv < float("inf"):
        raise bad(f"features.max_value must be a positive number, got {mv!r}")
    if feat.get("resize", "area") not in RESIZES:
        raise bad(f"features.resize must be one of {', '.join(RESIZES)}, got {feat['resize']!r}")
    expected = image_shape(feat)
    if tuple(spec.input_shape) != expected:
        raise bad(f"input_shape {list(spec.input_shape)} does not match the image features "
                  f"({list(expected)})")


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
        try:
            F.get_window(tuple(w) if isinstance(w, list) else w, feat["nperseg"])
        except (EdgekitError, ValueError, TypeError) as e:
            raise bad(f"features.window {w!r}: {getattr(e, 'message', e)}") from None
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
    elif t == "image":
        _validate_image_features(spec, bad)
    elif t == "rows":
        _validate_rows_features(spec, bad)
    elif t not in ("rows", "image"):
        raise bad(f"unknown features.type {t!r}")
    check_scaling(norm, "normalization", spec.input_shape[-1] if spec.input_shape else 1, bad)
    if spec.target is not None:               # (spec parsing has checked it is an object)
        check_scaling(spec.target.get("scaling"), "target.scaling", 1, bad)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_scaling(d: Any, what: str, channels: int, bad) -> None:
    """A normalisation or target scaling from a spec: a known type with finite numbers of the right count
    (a number, or one per input channel for minmax), so that applying it can neither fail nor broadcast
    into another shape."""
    if not isinstance(d, dict) or not isinstance(d.get("type"), str):
        raise bad(f"{what} must be an object with a 'type'")
    t = d["type"]
    if t == "none":
        return
    if t == "standard":
        if not (_is_number(d.get("mean")) and _is_number(d.get("std")) and d["std"] > 0):
            raise bad(f"{what} 'standard' needs a finite number 'mean' and a positive 'std'")
    elif t == "minmax":
        lo, hi = d.get("min"), d.get("max")
        lo_l = lo if isinstance(lo, list) else [lo]
        hi_l = hi if isinstance(hi, list) else [hi]
        if not all(_is_number(v) for v in lo_l + hi_l) or not lo_l:
            raise bad(f"{what} 'minmax' needs finite numbers 'min' and 'max'")
        if len(lo_l) != len(hi_l) or (isinstance(lo, list) and len(lo_l) not in (1, channels)):
            raise bad(f"{what} 'minmax' has {len(lo_l)} min / {len(hi_l)} max values for {channels} "
                      "channel(s)")
        if any(h < l_ for l_, h in zip(lo_l, hi_l)):
            raise bad(f"{what} 'minmax' needs max >= min for every channel")
    elif t == "scale":
        if not (_is_number(d.get("scale")) and d["scale"] != 0 and _is_number(d.get("offset", 0.0))):
            raise bad(f"{what} 'scale' needs a finite non-zero 'scale' and a finite 'offset'")
    else:
        raise bad(f"unknown {what}.type {t!r}")


# -- detector rows (task 'traffic') ----------------------------------------------------------------------

def rows_features(columns, target: str, step_seconds: float = 300.0, fill: str | None = None,
                  max_fill_rows: int = 12, date_column: str = "Date",
                  date_format: str = "%Y-%m-%d %H:%M") -> dict[str, Any]:
    """The ``features`` entry of a spec for a detector-rows front end: the input ``columns`` (in model
    order), the forecast ``target`` column, the row step, how time gaps are filled (``None``: never, a gap
    restarts the window; ``linear``/``previous`` for gaps of at most ``max_fill_rows`` rows) and how the
    CSV's time column is named and written."""
    return {"type": "rows", "columns": [str(c) for c in columns], "target": str(target),
            "step_seconds": float(step_seconds), "fill": fill, "max_fill_rows": int(max_fill_rows),
            "date_column": date_column, "date_format": date_format}


def _rows_front_end(spec) -> FrontEnd:
    """(batch, look_back, n_columns) raw rows → per-column min-max scaled float32 (the spec's scaler)."""
    n_cols = len(spec.features.get("columns") or ()) or spec.input_shape[-1]

    def raw_rows(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (spec.window, n_cols):
            raise EdgekitError(f"the model expects windows of {spec.window} rows × {n_cols} column(s) "
                               f"({', '.join(spec.features.get('columns') or [])}), got {list(x.shape[1:])}")
        return x
    return FrontEnd(spec, raw_rows, 2)


def _validate_rows_features(spec, bad) -> None:
    feat, norm = spec.features, spec.normalization
    cols = feat.get("columns")
    if not isinstance(cols, list) or not cols or len(cols) > 64 or \
            not all(isinstance(c, str) and c.strip() for c in cols) or len(set(cols)) != len(cols):
        raise bad(f"features.columns must be a list of 1–64 distinct column names, got {cols!r}")
    if tuple(spec.input_shape) != (spec.window, len(cols)):
        raise bad(f"input_shape {list(spec.input_shape)} does not match {spec.window} rows × {len(cols)} "
                  f"column(s) {cols}")
    if not isinstance(feat.get("target"), str) or not feat["target"].strip():
        raise bad(f"features.target must be a column name, got {feat.get('target')!r}")
    step = feat.get("step_seconds", 300.0)
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step <= 86400 * 366:
        raise bad(f"features.step_seconds must be a positive number of seconds, got {step!r}")
    if feat.get("fill") not in (None, "linear", "previous"):
        raise bad(f"features.fill must be null, 'linear' or 'previous', got {feat.get('fill')!r}")
    mf = feat.get("max_fill_rows", 12)
    if isinstance(mf, bool) or not isinstance(mf, int) or not 0 <= mf <= 100_000:
        raise bad(f"features.max_fill_rows must be an integer in [0, 100000], got {mf!r}")
    for k in ("date_column", "date_format"):
        if k in feat and (not isinstance(feat[k], str) or not feat[k].strip()):
            raise bad(f"features.{k} must be a non-empty string, got {feat[k]!r}")
    if "%" not in feat.get("date_format", "%"):
        raise bad("features.date_format must be a strptime format like '%Y-%m-%d %H:%M'")


