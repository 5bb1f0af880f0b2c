"""Keras → TFLite (float32, dynamic-range, full-integer int8 with int8 input and output).

Route: ``TFLiteConverter.from_keras_model``. (``tf.saved_model.save`` → converter and
``from_concrete_functions([f], model)`` silently produce ~6 KB models that output NaN with Keras 3;
:mod:`edgekit.convert.verify` would catch that, but we never go there.)
"""
from __future__ import annotations

import contextlib
import io
import re

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


# What the converter says when ops are not TFLite builtins: a summary line per kind ("TF Select ops: IRFFT, FFT",
# "Flex ops: FlexRFFT", "Custom ops: BesselI0e"), and one error per op ("'tf.IRFFT' op is neither a custom op nor a
# flex op"). A non-power-of-two tf.signal.rfft converts to the builtin RFFT2D, whose kernel refuses it when the graph is
# prepared: int8 calibration fails there ("IsPowerOfTwo(fft_length_data[1]) was not true ... (RFFT2D)").
_OPS_LINE = re.compile(r"^\s*(TF Select|Flex|Custom) ops:\s*(.+?)\s*$", re.MULTILINE)
_OP_ERROR = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_PREPARE = re.compile(r"Node number \d+ \((\w+)\) failed to prepare")


def blocking_ops(text: str) -> list[str]:
    """The TensorFlow operators a failed conversion names as not TFLite builtins (Flex/TF Select or custom), in
    order, without repeats: ``['Complex', 'FFT']``; [] when the failure is something else."""
    names = []
    for kind, ops in _OPS_LINE.findall(text):
        names += [op.strip().removeprefix("Flex") if kind == "Flex" else op.strip() for op in ops.split(",")]
    names += _OP_ERROR.findall(text)
    return list(dict.fromkeys(n for n in names if n))


def failure_message(precision: str, text: str, detail: str) -> str:
    """The one-line explanation of a failed conversion: the blocking operators and what to do, else ``detail``."""
    ops = blocking_ops(text)
    if ops:
        fft = sorted(set(ops) & {"FFT", "IFFT", "RFFT", "IRFFT", "FFT2D", "RFFT3D", "Complex", "ComplexAbs"})
        hint = " (keras.layers.STFTSpectrogram computes its DFT as a convolution and converts)" if fft else ""
        what = "is not a TFLite builtin operator" if len(ops) == 1 else "are not TFLite builtin operators"
        return (f"the TFLite converter failed for {precision}: the graph uses {', '.join(ops)}, which {what} "
                "(edgekit exports builtins only: the device has no Flex delegate or custom ops); compute those "
                "features outside the graph with an edgekit front end (features.type logmel, mfcc or spectrogram), "
                f"or build them from layers that convert{hint}")
    node = _PREPARE.search(text)
    if node and node.group(1) == "RFFT2D" and "IsPowerOfTwo" in text:
        return (f"the TFLite converter failed for {precision}: TFLite's RFFT2D kernel (tf.signal.rfft/stft) takes "
                "power-of-two FFT lengths only; use fft_length 256, 512, 1024, ... or keras.layers.STFTSpectrogram")
    return f"the TFLite converter failed for {precision}: {detail} (set EDGEKIT_VERBOSE=1 to see its log)"


def to_tflite(model, precision: str, representative: np.ndarray | None = None) -> bytes:
    """The bytes of ``model`` as a TFLite flatbuffer at ``precision``; a failure is one :class:`EdgekitError` line
    (operators that are not TFLite builtins are named, with what to do)."""
    conv = converter(model, precision, representative)
    from edgekit.edge.core.quiet import captured_stderr
    from edgekit.edge.core.errors import EdgekitError
    try:
        with captured_stderr() as log, contextlib.redirect_stdout(io.StringIO()):
            return bytes(conv.convert())
    except Exception as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else log.last_line()
        raise EdgekitError(failure_message(precision, f"{e}\n{log.text}", detail)) from None
