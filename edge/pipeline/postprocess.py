"""Post-processing: model outputs → answers (label and score, a value in physical units, or an anomaly score)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import denormalize


def classify(probs: np.ndarray, labels) -> tuple[str, float, int, np.ndarray]:
    """One output vector → (label, score, index, the vector). Scores are the model's softmax probabilities;
    the vector is what a stream's detector averages."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    i = int(np.argmax(p))
    return (labels[i] if i < len(labels) else str(i)), float(p[i]), i, p


def regress(y: np.ndarray, target: dict) -> float:
    """One scaled output → the target in its own units (the spec's target scaling inverted)."""
    return float(denormalize(np.asarray(y, dtype=np.float64).reshape(-1)[0], target["scaling"]))


def forecasts(y: np.ndarray, target: dict) -> list[float]:
    """The scaled outputs of a model of several horizons → each horizon's value in the target's units."""
    return [float(v) for v in denormalize(np.asarray(y, dtype=np.float64).reshape(-1), target["scaling"])]


def flag(y: np.ndarray, threshold: float) -> tuple[str, float, int, np.ndarray]:
    """An anomaly model's output (its score; the mean of a per-band error) → ("anomaly" or "normal", the score, 1 or
    0, the score as the vector a stream's detector averages)."""
    s = float(np.mean(y, dtype=np.float64))
    bad = s >= threshold
    return ("anomaly" if bad else "normal"), s, int(bad), np.array([s])


def postprocessor(spec: Spec) -> Callable[[np.ndarray], Any]:
    """The spec's post-processing as one function: output vector → (label, score, index, vector) for a classifier
    (and, flagged at the spec's threshold, for an anomaly model), the value in the target's units for a regressor (a
    list of them, one per horizon, for a model of several)."""
    if spec.kind == "anomaly":
        threshold = float(spec.anomaly["threshold"])
        return lambda y: flag(y, threshold)
    if spec.kind == "regression":
        target = spec.target
        if target.get("horizons"):
            return lambda y: forecasts(y, target)
        return lambda y: regress(y, target)
    labels = spec.labels
    return lambda y: classify(y, labels)
