"""Fitting helpers shared by the tasks: seeding, the Keras fit loop, class counts."""
from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np


def seed_everything(seed: int) -> None:
    """Same seed, same model: Python, numpy and TensorFlow RNGs, and deterministic TF kernels."""
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # older TF
        pass


def fit(model, x_train, y_train, x_val, y_val, *, epochs: int, batch_size: int, verbose: int = 1,
        patience: int | None = None, keep_best: bool = True) -> dict[str, Any]:
    """Keras fit that ends with the weights of the epoch with the lowest validation loss (one unlucky last
    epoch must not decide the model), stopping early after ``patience`` epochs without improvement;
    ``keep_best=False`` without ``patience``: all epochs, the last one's weights."""
    import keras

    if verbose == 1 and not sys.stdout.isatty():
        verbose = 2      # a log file or a pipe gets one line per epoch, not progress-bar escapes
    t0 = time.perf_counter()
    has_val = len(x_val) > 0
    callbacks = []
    if has_val and (keep_best or patience is not None):
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience if patience is not None else epochs,
            restore_best_weights=True, verbose=0))
    hist = model.fit(x_train, y_train, validation_data=(x_val, y_val) if has_val else None,
                     epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose, callbacks=callbacks)
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    best = int(np.argmin(history["val_loss"])) + 1 if has_val else len(history.get("loss", []))
    return {"history": history, "best_epoch": best, "epochs_run": len(history.get("loss", [])),
            "train_seconds": round(time.perf_counter() - t0, 2)}


def class_counts(y: np.ndarray, names) -> dict[str, int]:
    return {str(n): int((y == i).sum()) for i, n in enumerate(names)}
