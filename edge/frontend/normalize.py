"""Feature normalisation and target scaling: fitting, applying, inverting and checking them (pure functions).

Types: ``none``; ``standard`` (scalar ``mean``/``std``, fitted on the training set); ``minmax`` (per-column
``min``/``max``); ``scale`` (``x * scale + offset``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError


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


F32_MAX = float(np.finfo(np.float32).max)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= F32_MAX


def _invertible(v: float) -> bool:
    """Non-zero and 1/v finite at float32 (dividing by a subnormal std gives inf features)."""
    return v != 0 and abs(1.0 / v) <= F32_MAX


def check_scaling(d: Any, what: str, channels: int, bad) -> None:
    """A normalisation or target scaling from a spec: a known type with finite numbers of the right count (a number, or
    one per input channel for minmax), so that applying it can neither fail nor broadcast into another shape."""
    if not isinstance(d, dict) or not isinstance(d.get("type"), str):
        raise bad(f"{what} must be an object with a 'type'")
    t = d["type"]
    if t == "none":
        return
    if t == "standard":
        if not (_is_number(d.get("mean")) and _is_number(d.get("std")) and d["std"] > 0 and _invertible(d["std"])):
            raise bad(f"{what} 'standard' needs a finite number 'mean' and a positive 'std' (1/std finite)")
    elif t == "minmax":
        lo, hi = d.get("min"), d.get("max")
        if what.startswith("target") and (isinstance(lo, list) or isinstance(hi, list)):
            raise bad(f"{what} 'minmax' needs one number each for 'min' and 'max' (one output), not lists")
        lo_l = lo if isinstance(lo, list) else [lo]
        hi_l = hi if isinstance(hi, list) else [hi]
        if not all(_is_number(v) for v in lo_l + hi_l) or not lo_l:
            raise bad(f"{what} 'minmax' needs finite numbers 'min' and 'max'")
        if len(lo_l) != len(hi_l) or (isinstance(lo, list) and len(lo_l) not in (1, channels)):
            raise bad(f"{what} 'minmax' has {len(lo_l)} min / {len(hi_l)} max values for {channels} channel(s)")
        if any(h < l_ or (h > l_ and not _invertible(h - l_)) for l_, h in zip(lo_l, hi_l)):
            raise bad(f"{what} 'minmax' needs max >= min for every channel (and 1/(max - min) finite)")
    elif t == "scale":
        if not (_is_number(d.get("scale")) and _invertible(d["scale"]) and _is_number(d.get("offset", 0.0))):
            raise bad(f"{what} 'scale' needs a finite non-zero 'scale' and a finite 'offset'")
    else:
        raise bad(f"unknown {what}.type {t!r}")
