"""Keras → TFLite (float32, dynamic-range, full-integer int8 with int8 input and output).

Route: ``TFLiteConverter.from_keras_model``. (``tf.saved_model.save`` → converter and
``from_concrete_functions([f], model)`` silently produce ~6 KB models that output NaN with Keras 3;
:mod:`edgekit.convert.verify` would catch that, but we never go there.)
"""
from __future__ import annotations

import contextlib
import io

import numpy as np

from .tf import batches

PRECISIONS = ("float32", "dynamic", "int8")


def converter(model, precision: str, representative: np.ndarray | None = None, int8_io: bool = True):
    """The ``TFLiteConverter`` of ``model`` set up for ``precision``; int8 is calibrated one window at a time on
    ``representative`` (float features), with int8 input and output unless ``int8_io`` is False (the quantization
    debugger compares float tensors)."""
    import tensorflow as tf

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision in ("dynamic", "int8"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 needs a representative dataset")
        samples = np.asarray(representative, dtype=np.float32)
        conv.representative_dataset = lambda: ([b] for b in batches(samples, 1))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv


def to_tflite(model, precision: str, representative: np.ndarray | None = None) -> bytes:
    conv = converter(model, precision, representative)
    from edgekit.edge.core.quiet import captured_stderr
    from edgekit.edge.core.errors import EdgekitError
    try:
        with captured_stderr() as log, contextlib.redirect_stdout(io.StringIO()):
            return bytes(conv.convert())
    except Exception as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else log.last_line()
        raise EdgekitError(f"the TFLite converter failed for {precision}: {detail} "
                           "(set EDGEKIT_VERBOSE=1 to see its log)") from None
