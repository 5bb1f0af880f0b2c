"""Latency statistics: per-stage samples and the percentiles engineers report."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

PERCENTILES = (50, 90, 99)


def summarize(samples_ms) -> dict[str, float]:
    """mean, std, min, p50, p90, p99, max (ms) of a list of latencies; empty → zeros with n = 0."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return {"n": 0, "mean": 0.0, "std": 0.0, "min": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    p50, p90, p99 = np.percentile(a, PERCENTILES)
    return {"n": int(a.size), "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(a.max())}


class StageTimes:
    """Collects per-stage latencies (ms) of many windows."""

    def __init__(self):
        self._samples: dict[str, list[float]] = defaultdict(list)

    def add(self, times_ms: dict[str, float]) -> None:
        for k, v in times_ms.items():
            self._samples[k].append(v)

    def total_seconds(self, stage: str = "total") -> float:
        return float(np.sum(self._samples.get(stage, []))) / 1e3

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: summarize(v) for k, v in self._samples.items()}
