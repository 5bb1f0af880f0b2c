"""Keras → TFLite (float32, dynamic-range, full-integer int8 with int8 input and output).

Route: ``TFLiteConverter.from_keras_model``. (``tf.saved_model.save`` → converter and
``from_concrete_functions([f], model)`` silently produce ~6 KB models that output NaN with Keras 3;
:mod:`edgekit.convert.verify` would catch that, but we never go there.)
"""
from __future__ import annotations

import contextlib
import io
from typing import Iterable

import numpy as np

PRECISIONS = ("float32", "dynamic", "int8")


def to_tflite(model, precision: str, representative: np.ndarray | None = None) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision in ("dynamic", "int8"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 needs a representative dataset")
        samples = np.asarray(representative, dtype=np.float32)

        def gen() -> Iterable[list[np.ndarray]]:
            for i in range(len(samples)):
                yield [samples[i:i + 1]]

        conv.representative_dataset = gen
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif precision != "float32" and precision != "dynamic":
        raise ValueError(f"unknown precision {precision!r}")
    from edgekit.edge._quiet import captured_stderr
    from edgekit.edge.errors import EdgekitError
    try:
        with captured_stderr() as log, contextlib.redirect_stdout(io.StringIO()):
            return bytes(conv.convert())
    except Exception as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else log.last_line()
        raise EdgekitError(f"the TFLite converter failed for {precision}: {detail} "
                           "(set EDGEKIT_VERBOSE=1 to see its log)") from None
