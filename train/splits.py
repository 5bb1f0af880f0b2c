"""Seeded, stratified train/validation/test splits."""
from __future__ import annotations

import math

import numpy as np

from edgekit.edge.errors import EdgekitError


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


def stratified_split(labels, fractions=(0.7, 0.1, 0.2), seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train_idx, val_idx, test_idx)``: disjoint, together covering ``range(len(labels))``.

    Each class is split in the given proportions (rounded per class, largest remainder), and is
    present in every part with a positive fraction when it has at least that many members. The
    members of each class are shuffled with ``seed``: same labels and seed → same split. The index
    arrays are sorted int64.
    """
    y = np.asarray(labels)
    if y.ndim != 1:
        raise EdgekitError(f"stratified_split: labels must be one label per example (1-D), got shape "
                           f"{y.shape}")
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise EdgekitError(f"stratified_split: fractions must be three numbers, got {fractions!r}") from None
    if len(fr) != 3 or not all(math.isfinite(f) and f >= 0 for f in fr) or abs(sum(fr) - 1) > 1e-6:
        raise EdgekitError(f"stratified_split: fractions must be three non-negative numbers "
                           f"(train, validation, test) summing to 1, got {fractions!r}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n_tr, n_va, _ = _allocate(len(members), fr)
        parts[0].append(members[:n_tr])
        parts[1].append(members[n_tr:n_tr + n_va])
        parts[2].append(members[n_tr + n_va:])
    out = tuple(np.sort(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64)
                for p in parts)
    return out  # type: ignore[return-value]
