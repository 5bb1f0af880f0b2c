"""Seeded, stratified index selection: train/validation/test splits, hold-outs and samples, all from one apportionment
(:func:`apportion`, largest remainders) and one per-class shuffle-and-cut; and the ``audio`` task's group-wise split
(:func:`group_split`: no test speaker heard in training, synthetic voices never tested)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError


def _allocate(m: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split a class of m members into three counts: proportional (largest remainder), then moved so that every part
    with a positive fraction gets at least one member while the class has enough (priority train, test, validation)."""
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
    """``(train_idx, val_idx, test_idx)``, disjoint and together ``range(len(labels))``, sorted int64. Each class is
    split in the given proportions (largest remainder per class) and is in every part with a positive fraction when it
    has that many members; its members are shuffled with ``seed``."""
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
    k = apportion(counts, n * counts / len(y), n, minimum=1)        # every class at least one, n in all
    idx = [rng.choice(np.flatnonzero(y == c), size=int(kc), replace=False) for c, kc in zip(classes, k)]
    return rng.permutation(np.concatenate(idx))[:n]


def group_split(cs, test_groups: Sequence[str] | None = None, val_fraction: float = 0.1,
                test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(train, val, test) indices of clip set ``cs`` and a description. With groups: the test part is every clip of
    ``test_groups`` (default: a seeded choice of about ``test_fraction`` of the groups), so no test group is heard in
    training; validation is a stratified ``val_fraction`` of the rest. Without: stratified. Synthetic voices (groups
    ``espeak-ng/<k>``, ``flite/<k>``, :func:`edgekit.train.classes.add_spoken`) are never tested: the split is made on
    the real clips, then a seeded ``val_fraction`` of the voices (at least one, when there are two or more) joins
    validation whole and the others join training."""
    from .classes import is_synthetic

    g = cs.groups
    synth = is_synthetic(g)
    real = np.flatnonzero(~synth)
    y, gr = cs.labels[real], g[real]
    if not cs.has_groups:
        if test_groups:
            raise EdgekitError("--test-groups needs --group-regex (which group each clip belongs to)")
        tr, va, te = stratified_split(y, (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
        split = {"split": "stratified", "seed": seed}
    else:
        groups = sorted(set(gr))
        if len(groups) < 2:
            raise EdgekitError(f"--group-regex found one group only ({groups[0]!r}); a group-wise split needs "
                               f"at least 2")
        if test_groups:
            bad = [t for t in test_groups if t not in groups]
            if bad:
                raise EdgekitError(f"--test-groups: {', '.join(bad)} not among the groups ({', '.join(groups)})")
            chosen = sorted(set(test_groups))
            if len(chosen) == len(groups):
                raise EdgekitError("--test-groups names every group; leave at least one for training")
        else:
            n = max(1, min(len(groups) - 1, round(test_fraction * len(groups))))
            chosen = sorted(np.random.default_rng(seed).choice(groups, size=n, replace=False).tolist())
        is_test = np.isin(gr, chosen)
        te = np.flatnonzero(is_test)
        rest = np.flatnonzero(~is_test)
        keep, held = stratified_holdout(y[rest], val_fraction, seed)
        tr, va = np.sort(rest[keep]), np.sort(rest[held])
        split = {"split": "group", "seed": seed, "test_groups": chosen, "train_groups": sorted(set(gr[tr])),
                 "val_groups": sorted(set(gr[va]))}
    if not synth.any():
        return tr, va, te, split
    voices = sorted({str(x) for x in g[synth]}, key=lambda v: (v.split("/")[0], int(v.rsplit("/", 1)[1])))
    n_val = min(len(voices) - 1, max(1, round(val_fraction * len(voices))))
    val_voices = set(np.random.default_rng([23, seed]).choice(voices, size=n_val, replace=False).tolist()) \
        if n_val > 0 else set()
    to_val = synth & np.isin(g, list(val_voices))
    tr = np.sort(np.concatenate([real[tr], np.flatnonzero(synth & ~to_val)]))
    va = np.sort(np.concatenate([real[va], np.flatnonzero(to_val)]))
    split = {**split, "synthetic_voices": len(voices), "synthetic_val_voices": len(val_voices),
             "n_synthetic_train": int((synth & ~to_val).sum()), "n_synthetic_val": int(to_val.sum())}
    if "train_groups" in split:
        engines = lambda vs: {v.split("/")[0] for v in vs}                      # noqa: E731
        split["train_groups"] = sorted({*split["train_groups"], *engines(set(voices) - val_voices)})
        split["val_groups"] = sorted({*split["val_groups"], *engines(val_voices)})
    return tr, va, real[te], split
