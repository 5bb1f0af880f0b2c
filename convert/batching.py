"""Arrays in slices of a bounded size: front ends and models run batch by batch, memory stays flat."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np


def batches(x, size: int) -> Iterator:
    """``x[0:size]``, ``x[size:2 * size]``, ... (the last one may be shorter; none for an empty ``x``)."""
    for i in range(0, len(x), size):
        yield x[i:i + size]


def batched(fn: Callable[[np.ndarray], np.ndarray], x, size: int) -> np.ndarray:
    """``fn`` over ``x`` in batches of at most ``size``, the results stacked along the first axis
    (an empty float32 array for an empty ``x``)."""
    outs = [fn(b) for b in batches(x, size)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)
