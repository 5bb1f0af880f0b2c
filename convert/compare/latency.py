"""Latency per window of one artifact: front end + model + argmax, one window at a time."""
from __future__ import annotations

import time

import numpy as np

from edgekit.edge.pipeline.stats import summarize

from .data import Artifact

LATENCY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max")   # the JSON row's latency_ms


def latency(art: Artifact, front, windows: np.ndarray, runs: int, warmup: int = 10) -> dict[str, float]:
    """One window at a time: front end → model → argmax, ``runs`` timed after ``warmup``."""
    pc = time.perf_counter
    samples = []
    for i in range(-warmup, runs):
        t0 = pc()
        out = art.predict(front(windows[i % len(windows)])[None])
        int(np.argmax(out))
        if i >= 0:
            samples.append((pc() - t0) * 1e3)
    lat = summarize(samples)
    return {k: lat[k] for k in LATENCY_KEYS}
