"""What one artifact scores on the test split: accuracy, macro-F1 and the confusion matrix of a classifier,
MSE/MAE of a regressor (also in physical units; for several forecast horizons, over all of them and per horizon under
``by_horizon``), agreement with the reference, and latency per window."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.pipeline.stats import summarize

from .data import Artifact

REGRESSION_AGREEMENT_TOL = 0.01     # fraction of the reference outputs' range
LATENCY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max")   # the JSON row's latency_ms


def task_metrics(spec: Spec, out: np.ndarray, ref: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The row's metric fields: ``metric``, ``value`` and the rest for the spec's kind of task."""
    if spec.kind != "classification":
        return regression_metrics(spec, out, ref, y)
    pred = out.argmax(1)
    return dict(metric="accuracy", value=float((pred == y).mean()), macro_f1=macro_f1(y, pred, len(spec.labels)),
                agreement=float((pred == ref.argmax(1)).mean()), confusion=confusion(y, pred, len(spec.labels)))


def macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of the per-class F1 scores (a class absent from both truth and prediction
    counts as 0, as scikit-learn's ``zero_division=0``)."""
    f1s = []
    for c in range(n_classes):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def confusion(y, pred, n):
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (np.asarray(y, int), np.asarray(pred, int)), 1)
    return m.tolist()


def regression_metrics(spec: Spec, out: np.ndarray, ref: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    o = out.reshape(len(out), -1).astype(np.float64)
    r = ref.reshape(len(ref), -1).astype(np.float64)
    t = np.asarray(y, np.float64).reshape(len(y), -1)
    if t.shape[1] != o.shape[1]:
        raise EdgekitError(f"the test targets have {t.shape[1]} value(s) per window but the model outputs {o.shape[1]}")
    target = spec.target or {}
    scaling = target.get("scaling") or {"type": "none"}
    op, tp = fe.denormalize(o, scaling), fe.denormalize(t, scaling)
    span = float(r.max() - r.min()) or 1.0
    within = np.all(np.abs(o - r) <= REGRESSION_AGREEMENT_TOL * span, axis=1)
    row = {"metric": "mse", "value": float(((o - t) ** 2).mean()), "mse": float(((o - t) ** 2).mean()),
           "mae": float(np.abs(o - t).mean()), "mse_physical": float(((op - tp) ** 2).mean()),
           "mae_physical": float(np.abs(op - tp).mean()),
           "unit": str(target.get("units") or target.get("unit") or target.get("column") or ""),
           "agreement": float(within.mean())}
    minutes = target.get("horizons")
    if minutes and len(minutes) == o.shape[1]:          # one row per artifact, each horizon's errors in it
        row["by_horizon"] = {f"{m:g}": {"mse": float(((o[:, j] - t[:, j]) ** 2).mean()),
                                        "mae": float(np.abs(o[:, j] - t[:, j]).mean()),
                                        "mae_physical": float(np.abs(op[:, j] - tp[:, j]).mean()),
                                        "rmse_physical": float(np.sqrt(((op[:, j] - tp[:, j]) ** 2).mean()))}
                             for j, m in enumerate(minutes)}
    return row


def latency(art: Artifact, front, windows: np.ndarray, runs: int, warmup: int = 10) -> dict[str, float]:
    """One window at a time: front end → model → argmax, ``runs`` timed after ``warmup``."""
    pc = time.perf_counter
    samples = []
    for i in range(-warmup, runs):
        t0 = pc()
        int(np.argmax(art.predict(front(windows[i % len(windows)])[None])))
        if i >= 0:
            samples.append((pc() - t0) * 1e3)
    lat = summarize(samples)
    return {k: lat[k] for k in LATENCY_KEYS}
