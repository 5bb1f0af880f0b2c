"""Latency of one window through the device path, per stage (front end, quantize, invoke, post-process)."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import frontend as fe
from .stats import summarize


def time_window_path(model, windows: np.ndarray, runs: int = 200, warmup: int = 20) -> dict[str, Any]:
    """Run ``runs`` windows (cycling through ``windows``) one at a time; per-stage latency stats in ms."""
    front = fe.build(model.spec)
    stages = {k: np.empty(runs) for k in ("features", "quantize", "invoke", "postprocess", "total")}
    pc = time.perf_counter
    first_ms = None
    for i in range(-warmup, runs):
        w = windows[i % len(windows)]
        t0 = pc()
        feats = front(w)[None]
        t1 = pc()
        q = model.quantize(feats)
        t2 = pc()
        raw = model.invoke(q)
        t3 = pc()
        out = model.dequantize(raw)
        int(np.argmax(out[0]))
        t4 = pc()
        if first_ms is None:
            first_ms = (t4 - t0) * 1e3
        if i >= 0:
            for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                stages[k][i] = v * 1e3
    return {"first_ms": first_ms, "runs": runs, "warmup": warmup,
            **{k: summarize(v) for k, v in stages.items()}}
