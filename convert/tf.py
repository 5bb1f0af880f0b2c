"""TensorFlow for the converters and for training: imported without its start-up chatter; Keras (and any
array function) run batch by batch, so memory stays flat."""
from __future__ import annotations

import os
from typing import Callable, Iterator

import numpy as np


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up chatter (CUDA probing on CPU-only hosts, oneDNN notes).
    Set EDGEKIT_VERBOSE=1 to see it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgekit.edge.core.quiet import captured_stderr

    with captured_stderr():
        import tensorflow as tf
        tf.constant(0.0) + 0.0   # the first op logs device discovery


def batches(x, size: int) -> Iterator:
    """``x[0:size]``, ``x[size:2 * size]``, ... (the last one may be shorter; none for an empty ``x``)."""
    for i in range(0, len(x), size):
        yield x[i:i + size]


def batched(fn: Callable[[np.ndarray], np.ndarray], x, size: int) -> np.ndarray:
    """``fn`` over ``x`` in batches of at most ``size``, stacked (an empty float32 array for an empty ``x``)."""
    outs = [fn(b) for b in batches(x, size)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def keras_outputs(model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Keras outputs in batches via ``model(x)``: no tf.data pipeline (``model.predict`` builds one per call,
    which is slower for small sets and logs noise)."""
    return batched(lambda b: np.asarray(model(b, training=False)), x, batch_size)
