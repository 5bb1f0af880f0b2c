"""Fitting helpers shared by the tasks: seeding, the Keras fit loop, class counts."""
from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np

PATIENCE = 8         # epochs without a lower validation loss before training stops (the default of every task)


def seed_everything(seed: int) -> None:
    """Same seed, same model: Python, numpy and TensorFlow RNGs, and deterministic TF kernels."""
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def fit(model, x_train, y_train, x_val, y_val, *, epochs: int, batch_size: int, verbose: int = 1,
        patience: int | None = PATIENCE, keep_best: bool = True, lr_schedule: str | None = None) -> dict[str, Any]:
    """Keras fit that ends with the weights of the epoch with the lowest validation loss (one unlucky last epoch must
    not decide the model), stopping early after ``patience`` epochs without improvement (``epochs`` is the cap);
    ``keep_best=False`` without ``patience``: all epochs, the last one's weights.
    ``x_train`` may be a ``keras.utils.PyDataset`` (batches made on demand) with ``y_train`` None.
    ``lr_schedule="plateau"`` halves the learning rate after ``max(1, patience // 3)`` epochs without a
    lower validation loss."""
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
    if has_val and lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(1, (patience or epochs) // 3), min_lr=1e-5, verbose=0))
    elif lr_schedule not in (None, "none", "plateau"):
        raise ValueError(f"unknown lr_schedule {lr_schedule!r}")
    lazy = y_train is None
    hist = model.fit(x_train, y_train, validation_data=(x_val, y_val) if has_val else None,
                     epochs=epochs, batch_size=None if lazy else batch_size, shuffle=not lazy, verbose=verbose,
                     callbacks=callbacks)
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    best = int(np.argmin(history["val_loss"])) + 1 if has_val else len(history.get("loss", []))
    return {"history": history, "best_epoch": best, "epochs_run": len(history.get("loss", [])),
            "train_seconds": round(time.perf_counter() - t0, 2)}


def class_counts(y: np.ndarray, names) -> dict[str, int]:
    return {str(n): int((y == i).sum()) for i, n in enumerate(names)}
