"""Seeded, stratified index selection: train/validation/test splits, hold-outs and samples, all from one
apportionment (:func:`apportion`, largest remainders) and one per-class shuffle-and-cut."""
from __future__ import annotations

import math

import numpy as np

from edgekit.edge.core.errors import EdgekitError


def _allocate(m: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split a class of m members into three counts: proportional (largest remainder), then moved so
    that every part with a positive fraction gets at least one member while the class has enough
    (priority train, test, validation)."""
    raw = [m * f for f in fractions]
    counts = [math.floor(r) for r in raw]
    priority = (0, 2, 1)                         # ties: train, then test, then validation
    order = sorted(range(3), key=lambda i: (-round(raw[i] - counts[i], 9), priority[i]))
    for i in order[: m - sum(counts)]:
        counts[i] += 1
    for need in (0, 2, 1):                       # train first, then test, then validation
        if fractions[need] > 0 and counts[need] == 0:
            donors = [i for i in range(3) if counts[i] > 1 or (counts[i] == 1 and fractions[i] == 0)]
            if donors:
                donor = max(donors, key=lambda i: (counts[i], -i))
                counts[donor] -= 1
                counts[need] += 1
    return counts


def stratified_split(labels, fractions=(0.7, 0.1, 0.2), seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train_idx, val_idx, test_idx)``, disjoint and together ``range(len(labels))``, sorted int64. Each
    class is split in the given proportions (largest remainder per class) and is in every part with a
    positive fraction when it has that many members; its members are shuffled with ``seed``."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise EdgekitError(f"stratified_split: labels must be one label per example (1-D), got shape {y.shape}")
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise EdgekitError(f"stratified_split: fractions must be three numbers, got {fractions!r}") from None
    if len(fr) != 3 or not all(math.isfinite(f) and f >= 0 for f in fr) or abs(sum(fr) - 1) > 1e-6:
        raise EdgekitError(f"stratified_split: fractions must be three non-negative numbers "
                           f"(train, validation, test) summing to 1, got {fractions!r}")
    return tuple(_cut_classes(y, 3, lambda i, m: np.cumsum(_allocate(m, fr)[:2]),
                              np.random.default_rng(seed)))  # type: ignore[return-value]


def apportion(counts: np.ndarray, share: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    """Whole numbers ``k <= counts`` near ``share`` that add up to ``total`` where the caps allow: the
    floors (at least ``minimum``), then one more each to the largest remainders (ties: the first)."""
    k = np.minimum(np.maximum(minimum, np.floor(share).astype(int)), counts)
    for i in np.argsort(-(share - np.floor(share)), kind="stable"):
        if k.sum() >= total:
            break
        if k[i] < counts[i]:
            k[i] += 1
    return k


def _cut_classes(y: np.ndarray, n_parts: int, cuts, rng: np.random.Generator) -> list[np.ndarray]:
    """The members of every class (sorted label order), shuffled with ``rng`` and cut into ``n_parts``
    at the positions ``cuts(i, m)`` of its m members; per part the indices over all classes, sorted int64."""
    parts: list[list[np.ndarray]] = [[] for _ in range(n_parts)]
    for i, c in enumerate(np.unique(y)):
        members = rng.permutation(np.flatnonzero(y == c))
        for part, piece in zip(parts, np.split(members, [int(p) for p in cuts(i, len(members))])):
            part.append(piece)
    return [np.sort(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts]


def stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held) index arrays: ``round(fraction · N)`` held out, every class in proportion (largest
    remainders), seeded. Both sorted."""
    _, counts = np.unique(y, return_counts=True)
    take = apportion(counts, fraction * counts, int(round(fraction * len(y))))
    held, keep = _cut_classes(y, 2, lambda i, m: [take[i]], np.random.default_rng(seed))
    return keep, held


def stratified_sample(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to n indices, classes in proportion, seeded (the int8 calibration sample)."""
    rng = np.random.default_rng(seed)
    if n >= len(y):
        return rng.permutation(len(y))
    classes, counts = np.unique(y, return_counts=True)
    # Every class gets at least one, and the shares add up to exactly n.
    k = apportion(counts, n * counts / len(y), n, minimum=1)
    idx = [rng.choice(np.flatnonzero(y == c), size=int(kc), replace=False) for c, kc in zip(classes, k)]
    return rng.permutation(np.concatenate(idx))[:n]
