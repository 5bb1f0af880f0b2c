"""Values in fixed memory: a log-bucket histogram with exact count, mean, std, min and max and percentiles within
0.5 % (pure numpy).

An endless stream must not keep every value it measures (a live microphone with a short hop would keep gigabytes a
day), so :class:`Histogram` keeps :data:`N_BUCKETS` counts whose buckets grow by :data:`GAMMA` (1 %) from
:data:`LOW_MS` (1e-6) to over 3e6, plus exact count, sum, sum of squares, min and max. A percentile is the geometric
middle of the bucket holding that rank, clamped to [min, max], so it is within ``sqrt(GAMMA) - 1`` = **0.499 %
relative** of the exact order statistic of that rank (nearest rank, ``ceil(q * n)``). Values are appended to a short
list and folded into the histogram 4096 at a time with numpy, so a value costs one ``list.append``. The stream's
latencies (ms, :mod:`edgekit.edge.pipeline.stats`) and an anomaly model's scores are kept this way.
"""
from __future__ import annotations

import math

import numpy as np

PERCENTILES = (50, 90, 99)
GAMMA = 1.01                    # bucket i holds [LOW_MS * GAMMA**i, LOW_MS * GAMMA**(i + 1))
LOW_MS = 1e-6
N_BUCKETS = 2200                # up to 1e-6 * 1.01**2200 ms ≈ 3.2e3 s; longer ones land in the last bucket
RELATIVE_ERROR = math.sqrt(GAMMA) - 1.0
_FLUSH = 4096
_LOG_GAMMA = math.log(GAMMA)


def _empty() -> dict[str, float]:
    return {"n": 0, "mean": 0.0, "std": 0.0, "min": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}


class Histogram:
    """Positive values (latencies in ms, scores) in fixed memory (see the module docstring for the error bound)."""

    __slots__ = ("counts", "n", "sum", "sumsq", "min", "max", "pending")

    def __init__(self):
        self.counts = np.zeros(N_BUCKETS, dtype=np.int64)
        self.n = 0
        self.sum = self.sumsq = 0.0
        self.min, self.max = math.inf, -math.inf
        self.pending: list[float] = []

    def add(self, ms: float) -> None:
        p = self.pending
        p.append(ms)
        if len(p) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        a = np.asarray(self.pending, dtype=np.float64)
        self.pending = []
        self.n += a.size
        self.sum += float(a.sum())
        self.sumsq += float(np.dot(a, a))
        self.min, self.max = min(self.min, float(a.min())), max(self.max, float(a.max()))
        with np.errstate(divide="ignore", invalid="ignore"):
            idx = np.floor(np.log(np.maximum(a, LOW_MS) / LOW_MS) / _LOG_GAMMA)
        idx = np.clip(np.nan_to_num(idx, nan=0.0), 0, N_BUCKETS - 1).astype(np.int64)
        self.counts += np.bincount(idx, minlength=N_BUCKETS)

    def percentile(self, q: float) -> float:
        """The value at rank ``ceil(q / 100 * n)`` within :data:`RELATIVE_ERROR`."""
        self.flush()
        if self.n == 0:
            return 0.0
        rank = max(1, math.ceil(q / 100.0 * self.n))
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        mid = LOW_MS * GAMMA ** (i + 0.5)
        return float(min(max(mid, self.min), self.max))

    def summary(self) -> dict[str, float]:
        self.flush()
        if self.n == 0:
            return _empty()
        mean = self.sum / self.n
        var = max(0.0, self.sumsq / self.n - mean * mean)
        out = {"n": self.n, "mean": mean, "std": math.sqrt(var), "min": self.min}
        out.update({f"p{q}": self.percentile(q) for q in PERCENTILES})
        out["max"] = self.max
        return out
