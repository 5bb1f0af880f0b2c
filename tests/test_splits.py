"""stratified_split: disjoint, covering, stratified, seeded."""
import numpy as np
import pytest

from edgekit.edge.core.errors import EdgekitError
from edgekit.train.splits import stratified_split


def _labels():
    rng = np.random.default_rng(5)
    return rng.permutation(np.repeat([0, 1, 2, 3], [100, 50, 10, 3]))


def _check_partition(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n and len(np.unique(allidx)) == n          # disjoint and covering
    assert set(allidx.tolist()) == set(range(n))
    for p in parts:
        assert p.dtype == np.int64


def test_partition_and_proportions():
    y = _labels()
    tr, va, te = stratified_split(y, seed=0)
    _check_partition((tr, va, te), len(y))
    for c, m in zip(range(4), (100, 50, 10, 3)):
        counts = [(y[p] == c).sum() for p in (tr, va, te)]
        assert sum(counts) == m
        if m >= 10:
            for got, f in zip(counts, (0.7, 0.1, 0.2)):
                assert abs(got - f * m) <= 1, (c, counts)
        else:                                                         # 3 members: one per part
            assert counts == [1, 1, 1]
        assert all(k >= 1 for k in counts), (c, counts)               # every class in every part
    assert [(y[tr] == 0).sum(), (y[va] == 0).sum(), (y[te] == 0).sum()] == [70, 10, 20]


def test_deterministic_and_seeded():
    y = _labels()
    a = stratified_split(y, seed=3)
    b = stratified_split(list(y), seed=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = stratified_split(y, seed=4)
    assert not np.array_equal(a[2], c[2])
    # the same class sizes in another order give the same sizes
    assert [len(p) for p in a] == [len(p) for p in c]


def test_tiny_classes_and_custom_fractions():
    y = np.array([0] * 10 + [1, 1] + [2])
    tr, va, te = stratified_split(y, fractions=(0.6, 0.2, 0.2), seed=1)
    _check_partition((tr, va, te), len(y))
    assert (y[tr] == 1).sum() == 1 and (y[te] == 1).sum() == 1      # 2 members: train and test
    assert (y[tr] == 2).sum() == 1                                   # 1 member: train
    tr, va, te = stratified_split(np.repeat([0, 1], 10), fractions=(0.8, 0.0, 0.2), seed=0)
    assert len(va) == 0 and len(tr) == 16 and len(te) == 4
    _check_partition((tr, va, te), 20)


def test_string_labels():
    y = np.array(["cat", "dog"] * 20)
    tr, va, te = stratified_split(y, seed=0)
    _check_partition((tr, va, te), 40)
    assert sorted(set(y[va])) == ["cat", "dog"]


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.1, -0.1, 0.0), ("a", 0, 1)])
def test_bad_fractions(fractions):
    with pytest.raises(EdgekitError, match="fractions"):
        stratified_split(np.array([0, 1] * 5), fractions=fractions)


def test_bad_labels():
    with pytest.raises(EdgekitError, match="1-D"):
        stratified_split(np.zeros((4, 2)))


def test_stratified_sample_gives_exactly_n_in_proportion():
    from edgekit.train.splits import stratified_sample
    rng = np.random.default_rng(0)
    for trial in range(200):
        y = rng.integers(0, int(rng.integers(1, 6)), size=int(rng.integers(5, 400)))
        n = int(rng.integers(1, len(y) + 5))
        s = stratified_sample(y, n, trial)
        assert len(s) == min(n, len(y)) and len(np.unique(s)) == len(s)
    # shares 149.50 / 148.50 / 1.00: floors 149 + 148 + 1 = 298, the one left goes to the largest remainder
    y = np.repeat([0, 1, 2], [150, 149, 1])
    assert np.bincount(y[stratified_sample(y, 299, 0)]).tolist() == [149, 149, 1]
