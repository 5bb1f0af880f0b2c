"""The ``raw`` feature type: a 1-D signal window's samples themselves are the model input (float32), for models that
compute their features in the graph (e.g. ``keras.layers.STFTSpectrogram`` + a log + ``Normalization``).

``scale`` (default 1.0) multiplies the samples: 32768 for a model trained on int16-valued floats. The window of
``spec.window`` samples is reshaped to ``spec.input_shape``, which must hold exactly that many elements
(``[16000]``, ``[16000, 1]``, ``[1, 16000]`` for a 1 s window at 16 kHz). The spec's normalisation, if any, is applied
after the scale, as for every feature type. ``clip`` (optional) records the pad/crop policy that makes a clip one window
(:func:`.clip.fit_clip`), as the log-mel types do."""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend.clip import check_clip_policy, check_features_clip
from edgekit.edge.frontend.normalize import F32_MAX

KEYS = ("type", "scale", "clip")


def raw_features(scale: float = 1.0, clip: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``features`` entry of a spec whose model takes the window's samples (times ``scale``) as its input;
    ``clip``, if given, records the pad/crop policy of :func:`.clip.fit_clip` (checked, not applied here)."""
    extra = {} if clip is None else {"clip": check_clip_policy(clip)}
    return {**extra, "type": "raw", "scale": float(scale)}


def describe(spec: Spec) -> str:
    """The front end in one line (``edgekit info``)."""
    scale = float(spec.features.get("scale", 1.0))
    return (f"none in edgekit: the window's {spec.window} samples{f' x {scale:g}' if scale != 1.0 else ''} go to the "
            f"model, which computes its features in the graph")


def front_end(spec: Spec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """(the scaled float32 samples of a batch of windows, the number of axes of one window)."""
    size = spec.window
    scale = float(spec.features.get("scale", 1.0))

    def raw(x: np.ndarray) -> np.ndarray:
        if x.shape[-1] != size:
            raise EdgekitError(f"the model expects windows of {size} samples, got {x.shape[-1]}")
        if x.dtype.kind not in "biuf":
            raise EdgekitError(f"signal windows must be real numbers, got dtype {x.dtype}")
        if scale == 1.0:
            return x.astype(np.float32)                     # a copy: the caller may normalise it in place
        return np.multiply(x, scale, dtype=np.float32)
    return raw, 1


def validate(spec: Spec, bad: Callable[[str], EdgekitError]) -> None:
    """Range-check a ``raw`` features dict: known keys, a finite positive scale, an input of one window."""
    feat = spec.features
    unknown = sorted(str(k) for k in feat if k not in KEYS)
    if unknown:
        raise bad(f"features.{unknown[0]} is not a raw parameter; use {', '.join(KEYS[1:])}")
    scale = feat.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) \
            or not 0 < scale <= F32_MAX:
        raise bad(f"features.scale must be a finite number > 0 (the samples are multiplied by it, e.g. 32768 "
                  f"for a model trained on int16 values), got {scale!r}")
    check_features_clip(feat, bad)
    n = math.prod(spec.input_shape)
    if n != spec.window:
        raise bad(f"input_shape {list(spec.input_shape)} holds {n} values but a raw window has {spec.window} "
                  f"samples; use e.g. [{spec.window}] or [{spec.window}, 1]")
