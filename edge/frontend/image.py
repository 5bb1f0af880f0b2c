"""The ``image`` feature type: a decoded picture (H, W) grayscale or (H, W, 3) RGB → resize to (height, width)
(area / bilinear / nearest, numpy) → optional inversion → (height, width, 1 or 3) before scaling."""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend.normalize import F32_MAX

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


def front_end(spec: Spec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """Decoded pictures (B, H, W) grayscale or (B, H, W, 3) RGB, pixel values in [0, max_value] → resize to (height,
    width) → optional inversion (dark-on-light pictures → light-on-dark, as MNIST) → (B, height, width, channels) before
    normalisation."""
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
    return raw_image, ndim


def validate(spec: Spec, bad: Callable[[str], EdgekitError]) -> None:
    feat = spec.features
    for k in ("height", "width"):
        v = feat.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_IMAGE_SIDE:
            raise bad(f"features.{k} must be an integer in [1, {MAX_IMAGE_SIDE}], got {v!r}")
    for k in ("grayscale", "invert"):
        if not isinstance(feat.get(k, k == "grayscale"), bool):
            raise bad(f"features.{k} must be true or false, got {feat[k]!r}")
    mv = feat.get("max_value", 255.0)
    if isinstance(mv, bool) or not isinstance(mv, (int, float)) or not 0 < mv <= F32_MAX:
        raise bad(f"features.max_value must be a positive number, got {mv!r}")
    if feat.get("resize", "area") not in RESIZES:
        raise bad(f"features.resize must be one of {', '.join(RESIZES)}, got {feat['resize']!r}")
    expected = image_shape(feat)
    if tuple(spec.input_shape) != expected:
        raise bad(f"input_shape {list(spec.input_shape)} does not match the image features ({list(expected)})")
