"""TensorFlow for the converters and for training: imported without its start-up chatter, Keras run in batches."""
from __future__ import annotations

import os

import numpy as np

from .batching import batched


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up chatter (CUDA probing on CPU-only hosts, oneDNN notes).
    Set EDGEKIT_VERBOSE=1 to see it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgekit.edge._quiet import captured_stderr

    with captured_stderr():
        import tensorflow as tf
        tf.constant(0.0) + 0.0   # the first op logs device discovery


def keras_outputs(model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Keras outputs in batches via ``model(x)``: no tf.data pipeline (``model.predict`` builds one per call,
    which is slower for small sets and logs noise)."""
    return batched(lambda b: np.asarray(model(b, training=False)), x, batch_size)
