"""One input through the device's stages, each timed: front end → quantize → invoke → dequantize →
post-process. The streams (audio windows, detector rows, images) and ``edgekit bench`` all call this, so the
stage boundaries and what a latency figure includes are the same everywhere."""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from edgekit.edge.errors import EdgekitError

STAGES = ("features", "quantize", "inference", "postprocess", "total")


class NonFiniteFeatures(EdgekitError):
    """The front end turned a finite input into NaN/inf features (a spec whose parameters overflow)."""


def timed_step(model, front: Callable[[np.ndarray], np.ndarray], post: Callable[[np.ndarray], Any],
               x: np.ndarray) -> tuple[Any, dict[str, float]]:
    """``post(dequantize(invoke(quantize(front(x)))))`` for one input, and the time of each stage in ms
    (``total`` = all of them). Errors of any stage propagate unchanged."""
    pc = time.perf_counter
    t0 = pc()
    feats = front(x)[None]
    if not np.isfinite(feats).all():
        raise NonFiniteFeatures("the front end gave NaN/inf features")
    t1 = pc()
    q = model.quantize(feats)
    t2 = pc()
    raw = model.invoke(q)
    t3 = pc()
    answer = post(model.dequantize(raw)[0])
    t4 = pc()
    return answer, {"features": (t1 - t0) * 1e3, "quantize": (t2 - t1) * 1e3, "inference": (t3 - t2) * 1e3,
                    "postprocess": (t4 - t3) * 1e3, "total": (t4 - t0) * 1e3}
