"""What one artifact scores on the test split: accuracy, macro-F1 and the confusion matrix of a classifier,
MSE/MAE of a regressor (also in physical units; for several forecast horizons, over all of them and per horizon under
``by_horizon``), AUC and pAUC of an anomaly model's scores, agreement with the reference, and latency per window; and the
rank statistics they use (:func:`auc`, :func:`pauc`, :func:`spearman`)."""
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
MAX_FPR = 0.1                       # pAUC: the ROC curve up to this false-positive rate (MLPerf Tiny, DCASE)
LATENCY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max")   # the JSON row's latency_ms


def task_metrics(spec: Spec, out: np.ndarray, ref: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The row's metric fields: ``metric``, ``value`` and the rest for the spec's kind of task."""
    if spec.kind == "anomaly":
        return anomaly_metrics(spec, out, ref, y)
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


def ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, ties given their average rank."""
    x = np.asarray(x, np.float64).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(xs)]                      # each run of equal values: [start, end)
    r = np.empty(len(x))
    r[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return r


def auc(normal: np.ndarray, anomalous: np.ndarray) -> float | None:
    """The area under the ROC curve: the chance that an anomalous window scores above a normal one (ties count a
    half); None without windows of both kinds."""
    a, b = np.asarray(normal, np.float64).reshape(-1), np.asarray(anomalous, np.float64).reshape(-1)
    if not len(a) or not len(b):
        return None
    r = ranks(np.concatenate([a, b]))[len(a):]
    return float((r.sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b)))


def pauc(normal: np.ndarray, anomalous: np.ndarray, max_fpr: float = MAX_FPR) -> float | None:
    """The partial AUC: the area under the ROC curve for false-positive rates up to ``max_fpr``, divided by
    ``max_fpr`` (1 = every anomalous window above the top ``max_fpr`` of normal ones; DCASE's definition, without
    McClish's correction); None without windows of both kinds."""
    a, b = np.asarray(normal, np.float64).reshape(-1), np.asarray(anomalous, np.float64).reshape(-1)
    if not len(a) or not len(b):
        return None
    s = np.concatenate([a, b])
    pos = np.r_[np.zeros(len(a)), np.ones(len(b))]
    order = np.argsort(-s, kind="mergesort")
    s, pos = s[order], pos[order]
    last = np.r_[s[1:] != s[:-1], True]                    # one ROC point per distinct score
    tpr = np.r_[0.0, np.cumsum(pos)[last] / len(b)]
    fpr = np.r_[0.0, np.cumsum(1 - pos)[last] / len(a)]
    k = int(np.searchsorted(fpr, max_fpr, side="right"))
    x, y = fpr[:k], tpr[:k]
    if k < len(fpr) and fpr[k - 1] < max_fpr:              # the segment that crosses max_fpr, cut there
        y_cut = tpr[k - 1] + (tpr[k] - tpr[k - 1]) * (max_fpr - fpr[k - 1]) / (fpr[k] - fpr[k - 1])
        x, y = np.r_[x, max_fpr], np.r_[y, y_cut]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / max_fpr)


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation of two score lists (ties at their average rank); None when either is
    constant (no order to agree on)."""
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den > 0 else None


def anomaly_metrics(spec: Spec, out: np.ndarray, ref: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """An anomaly model's row: AUC (``value``) and pAUC of its scores on the labelled windows (``y`` 1 =
    anomalous), the shares flagged at the spec's threshold (TPR, FPR), and its agreement with the reference as
    Spearman's rank correlation of the two score lists."""
    from edgekit.edge.core.anomaly import scores
    o, r = scores(out), scores(ref)
    bad = np.asarray(y, bool)
    thr = spec.anomaly["threshold"]
    flagged = o >= thr
    return {"metric": "auc", "value": auc(o[~bad], o[bad]), "pauc": pauc(o[~bad], o[bad]),
            "threshold": thr, "tpr": float(flagged[bad].mean()) if bad.any() else None,
            "fpr": float(flagged[~bad].mean()) if (~bad).any() else None,
            "flag_agreement": float((flagged == (r >= thr)).mean()), "agreement": spearman(o, r),
            "n_normal": int((~bad).sum()), "n_anomalous": int(bad.sum())}


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
