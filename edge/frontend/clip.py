"""Pad/crop policy: a clip of any length → exactly one model window, the same function at training and on the device
(pure, deterministic, numpy only).

A policy is a small dict recorded with the model, e.g. ``{"align": "energy", "pad": "zeros"}``:

``align``  where the window sits on the clip. ``"start"`` keeps the start (pads or cuts the end);
           ``"center"`` centres the clip; ``"energy"`` centres the utterance: a longer clip is cut where
           it holds the most energy (the first ``window``-sample stretch with the most, re-centred on the
           energy centroid of that stretch, kept inside the clip), a shorter one is placed so that its
           energy centroid is at the window's centre (kept whole inside the window). A silent clip is
           centred.
``pad``    what fills the window around a shorter clip: ``"zeros"``, or ``"noise"``: white noise (uniform,
           RMS ``noise_dbfs`` dB relative to full scale 1.0, default -80) drawn from PCG64's raw stream
           (which numpy keeps stable across versions) seeded with ``seed`` (default 0), so training and
           the device pad with the same samples at the same window positions.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from edgekit.edge.core.errors import EdgekitError

__all__ = ["ALIGNS", "PADS", "clip_policy", "check_clip_policy", "check_features_clip", "fit_clip", "pad_noise"]

ALIGNS = ("energy", "start", "center")
PADS = ("zeros", "noise")
DEFAULT_NOISE_DBFS = -80.0
MIN_NOISE_DBFS = -200.0
MAX_SEED = (1 << 63) - 1


def clip_policy(align: str = "energy", pad: str = "zeros", noise_dbfs: float = DEFAULT_NOISE_DBFS,
                seed: int = 0) -> dict[str, Any]:
    """A checked policy dict (the noise keys only with ``pad="noise"``)."""
    policy: dict[str, Any] = {"align": align, "pad": pad}
    if pad == "noise":
        policy.update(noise_dbfs=noise_dbfs, seed=seed)
    return check_clip_policy(policy)


def check_clip_policy(policy: Any, what: str = "clip policy") -> dict[str, Any]:
    """``policy`` with its defaults filled in, or a one-line :class:`EdgekitError` saying what is wrong."""
    if not isinstance(policy, dict):
        raise EdgekitError(f"{what} must be an object like {{'align': 'energy', 'pad': 'zeros'}}, "
                           f"got {type(policy).__name__}")
    allowed = ("align", "pad", "noise_dbfs", "seed")
    unknown = sorted(str(k) for k in policy if k not in allowed)
    if unknown:
        raise EdgekitError(f"{what}: unknown key {unknown[0]!r}; use {', '.join(allowed)}")
    align, pad = policy.get("align", "energy"), policy.get("pad", "zeros")
    if align not in ALIGNS:
        raise EdgekitError(f"{what}: align must be one of {', '.join(ALIGNS)}, got {align!r}")
    if pad not in PADS:
        raise EdgekitError(f"{what}: pad must be one of {', '.join(PADS)}, got {pad!r}")
    out: dict[str, Any] = {"align": align, "pad": pad}
    if pad == "zeros":
        extra = [k for k in ("noise_dbfs", "seed") if k in policy]
        if extra:
            raise EdgekitError(f"{what}: {extra[0]} applies to pad 'noise' only; drop it or use pad 'noise'")
        return out
    dbfs = policy.get("noise_dbfs", DEFAULT_NOISE_DBFS)
    if isinstance(dbfs, bool) or not isinstance(dbfs, (int, float)) or not math.isfinite(dbfs) \
            or not MIN_NOISE_DBFS <= dbfs <= 0:
        raise EdgekitError(f"{what}: noise_dbfs must be a number in [{MIN_NOISE_DBFS:g}, 0] (dB below full "
                           f"scale), got {dbfs!r}")
    seed = policy.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise EdgekitError(f"{what}: seed must be an integer in [0, 2**63 - 1], got {seed!r}")
    out.update(noise_dbfs=float(dbfs), seed=seed)
    return out


@lru_cache(maxsize=8)
def _noise(window: int, dbfs: float, seed: int) -> np.ndarray:
    raw = np.random.PCG64(seed).random_raw(window)
    u = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53        # uniform in (0, 1)
    out = (2.0 * u - 1.0) * (math.sqrt(3.0) * 10.0 ** (dbfs / 20.0))       # RMS 10**(dbfs / 20)
    out.flags.writeable = False
    return out


def pad_noise(window: int, noise_dbfs: float = DEFAULT_NOISE_DBFS, seed: int = 0) -> np.ndarray:
    """The ``window`` noise samples ``pad="noise"`` fills window positions with (float64, a new array)."""
    policy = check_clip_policy({"align": "start", "pad": "noise", "noise_dbfs": noise_dbfs, "seed": seed})
    return _noise(_check_window(window), policy["noise_dbfs"], policy["seed"]).copy()


def _check_window(window: Any) -> int:
    if isinstance(window, (bool, np.bool_)) or not isinstance(window, (int, np.integer)) or window < 1:
        raise EdgekitError(f"window must be a positive number of samples, got {window!r}")
    return int(window)


def _round(v: float) -> int:
    return int(math.floor(v + 0.5))      # half up: the same on every platform, unlike banker's rounding


def _centroid(energy: np.ndarray) -> float | None:
    total = float(energy.sum())
    if not total > 0 or not math.isfinite(total):
        return None
    return float(np.dot(np.arange(energy.size, dtype=np.float64), energy)) / total


def _crop_start(x: np.ndarray, window: int, align: str) -> int:
    spare = x.size - window
    if align == "start":
        return 0
    energy = np.square(x, dtype=np.float64)
    if align == "energy":
        cums = np.concatenate(([0.0], np.cumsum(energy)))
        per_window = cums[window:] - cums[:-window]                        # energy of each placement
        best = float(per_window.max())
        if best > 0 and math.isfinite(best):
            s0 = int(np.argmax(per_window >= best * (1 - 1e-9)))             # first (near-)best
            c = _centroid(energy[s0:s0 + window])
            return min(max(_round(s0 + c - (window - 1) / 2), 0), spare)
    return spare // 2


def _pad_offset(x: np.ndarray, window: int, align: str) -> int:
    spare = window - x.size
    if align == "start":
        return 0
    if align == "energy":
        c = _centroid(np.square(x, dtype=np.float64))
        if c is not None:
            return min(max(_round((window - 1) / 2 - c), 0), spare)
    return spare // 2


def fit_clip(x: Any, window: int, policy: dict[str, Any]) -> np.ndarray:
    """A 1-D clip cut or padded to exactly ``window`` samples as ``policy`` says (a new array).

    Float clips keep their dtype, integer ones become float64 (values unchanged; ``pad="noise"`` needs float samples
    scaled to full scale 1.0, as the WAV reader gives)."""
    policy = check_clip_policy(policy)
    window = _check_window(window)
    x = np.asarray(x)
    if x.ndim != 1:
        raise EdgekitError(f"a clip must be 1-D (one channel), got shape {x.shape}; pick or average channels")
    if x.size == 0:
        raise EdgekitError("the clip is empty; give at least one sample")
    if x.dtype.kind not in "biuf":
        raise EdgekitError(f"a clip must hold real numbers, got dtype {x.dtype}")
    if x.dtype.kind != "f":
        if policy["pad"] == "noise":
            raise EdgekitError(f"pad 'noise' is relative to full scale 1.0 but the clip holds {x.dtype} "
                               "integers; scale it to [-1, 1] first (e.g. int16 / 32768)")
        x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise EdgekitError("the clip holds NaN or infinite samples; give finite samples")
    if x.size >= window:
        s = _crop_start(x, window, policy["align"])
        return x[s:s + window].copy()
    if policy["pad"] == "zeros":
        out = np.zeros(window, dtype=x.dtype)
    else:
        out = _noise(window, policy["noise_dbfs"], policy["seed"]).astype(x.dtype)
    o = _pad_offset(x, window, policy["align"])
    out[o:o + x.size] = x
    return out


def check_features_clip(feat: dict[str, Any], bad: Callable[[str], EdgekitError]) -> None:
    """A feature type's optional ``features.clip`` checked, its error raised through the spec's ``bad``."""
    if "clip" in feat:
        try:
            check_clip_policy(feat["clip"], "features.clip")
        except EdgekitError as e:
            raise bad(e.message) from None
