"""Latency statistics in fixed memory: per-stage log-bucket histograms and the percentiles engineers report.

An endless stream must not keep every latency (a live microphone with a short hop would keep gigabytes a day), so each
stage keeps a :class:`~edgekit.edge.core.histogram.Histogram`: counts in buckets that grow by 1 % from 1 ns to over an
hour, so a percentile is within **0.499 % relative** of the exact order statistic of that rank (nearest rank,
``ceil(q * n)``); mean, std, min and max are exact, and a window costs one ``list.append`` per stage.
"""
from __future__ import annotations

import numpy as np

from edgekit.edge.core.histogram import PERCENTILES, Histogram, _empty


def summarize(samples_ms) -> dict[str, float]:
    """mean, std, min, p50, p90, p99, max (ms) of a list of latencies, exactly (np.percentile's linear
    interpolation); empty → zeros with n = 0. For short lists (bench, compare); streams use :class:`Histogram`."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return _empty()
    p50, p90, p99 = np.percentile(a, PERCENTILES)
    return {"n": int(a.size), "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(a.max())}


class StageTimes:
    """Per-stage latencies (ms) of any number of windows, in fixed memory."""

    def __init__(self):
        self._hist: dict[str, Histogram] = {}

    def add(self, times_ms: dict[str, float]) -> None:
        h = self._hist
        for k, v in times_ms.items():
            s = h.get(k)
            if s is None:
                s = h[k] = Histogram()
            s.add(v)

    def total_seconds(self, stage: str = "total") -> float:
        s = self._hist.get(stage)
        if s is None:
            return 0.0
        s.flush()
        return s.sum / 1e3

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: v.summary() for k, v in self._hist.items()}


# -- memory ------------------------------------------------------------------------------------------

def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process's RSS (Linux ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """Peak resident memory (MB) since the last :func:`reset_peak_rss`, or since the process started."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
        import sys
        r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024
    except Exception:  # no resource module (Windows)
        return None
