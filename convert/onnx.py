"""Keras → ONNX (float32, and static int8 through ONNX Runtime's quantizer).

float32: ``tf2onnx.convert.from_function`` on ``model(x, training=False)`` with a dynamic batch axis
(``tf2onnx.convert.from_keras`` fails on Keras 3 Sequential models). int8: the float model →
``quant_pre_process`` (shape inference + graph optimisation; needs ``sympy``) → ``quantize_static``
calibrated on front-end-processed training windows: QDQ pairs around float ops (fused by ORT at load time) or QOperator
form (QLinearConv ...), minmax/entropy/percentile activation ranges, weight scales per channel or per tensor, uint8 or
int8 activations (TensorRT needs symmetric int8); weights are always int8. The result keeps float32 input and output
tensors (it quantizes and dequantizes inside), so the device feeds it exactly like the float model. The spec, with the
quantization facts, is embedded in ``metadata_props``.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge.core.quiet import captured_stderr
from edgekit.edge.core.errors import EdgekitError, MissingExtraError
from edgekit.edge.core.spec import edgekit_version

from .metadata import embed_onnx

PRECISIONS = ("float32", "int8")
QUANT_FORMATS = ("qdq", "qoperator")
CALIBRATIONS = ("minmax", "entropy", "percentile")
ACTIVATION_TYPES = ("int8", "uint8")
MIN_OPSET = 13            # per-channel QuantizeLinear/DequantizeLinear need opset 13

# Chosen by measurement: benchmarks/onnx_int8_options.md (benchmarks/results/onnx_int8_options.json).
DEFAULT_OPSET = 17
DEFAULT_QUANT_FORMAT = "qdq"
DEFAULT_CALIBRATION = "minmax"
DEFAULT_PER_CHANNEL = True
DEFAULT_ACTIVATION_TYPE = "uint8"
# 7-bit weights: ONNX Runtime's u8s8 int8 kernels on x86 CPUs without VNNI (AVX2, AVX-512 without VNNI) sum
# pairs of products into saturating 16-bit lanes, which full-range weights overflow (measured on an AVX2 EPYC:
# 47.5 % top-1 agreement with full range, 100 % with reduce_range). ARM and VNNI CPUs do not need it.
DEFAULT_REDUCE_RANGE = True

CALIB_BATCH = 16          # windows per calibration inference
ENTROPY_BINS = 2048       # histogram bins searched by entropy calibration (TensorRT's choice)


def _workstation_imports() -> None:
    """Import TensorFlow quietly, then tf2onnx and onnx; a missing one is a one-line error naming the extra."""
    try:
        from .tf import quiet_tensorflow
        quiet_tensorflow()                  # tf2onnx imports TensorFlow: silence its start-up first
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as e:
        raise MissingExtraError("ONNX export", (e.name or "tf2onnx").split(".")[0], "train") from None


@contextlib.contextmanager
def _working_dir(path: str):
    """Run the block from ``path`` (``contextlib.chdir`` is Python 3.11+)."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def _quiet(what: str):
    """Silence TF/tf2onnx/ORT chatter (C-level stderr, Python stdout, their loggers); a failure is one line
    with the useful part: its message, else its last log line."""
    import logging

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "root", "onnxruntime")]
    levels = [lg.level for lg in loggers]
    try:
        with captured_stderr() as log, contextlib.redirect_stdout(io.StringIO()):
            for lg in loggers:
                lg.setLevel(logging.ERROR)
            try:
                yield log
            except EdgekitError:
                raise
            except Exception as e:  # converters raise anything: ValueError, RuntimeError, onnx checker errors
                msg = str(e).strip().splitlines()
                detail = msg[0] if msg else (log.last_line() or type(e).__name__)
                raise EdgekitError(f"{what} failed: {type(e).__name__}: {detail[:300]} (set EDGEKIT_VERBOSE=1 "
                                   "to see its log)") from None
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def check_options(precision: str, opset: int = DEFAULT_OPSET, quant_format: str = DEFAULT_QUANT_FORMAT,
                  calibration: str = DEFAULT_CALIBRATION, per_channel: bool = DEFAULT_PER_CHANNEL,
                  activation_type: str = DEFAULT_ACTIVATION_TYPE, reduce_range: bool = DEFAULT_REDUCE_RANGE) -> None:
    """Refuse options the export cannot honour (one-line :class:`EdgekitError`), before any work is done."""
    if precision not in PRECISIONS:
        raise EdgekitError(f"ONNX export supports --precision {' or '.join(PRECISIONS)}, not {precision!r} "
                           "(dynamic-range quantization is a TFLite option; use --precision int8 for ONNX)")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise EdgekitError(f"--opset {opset!r}: edgekit exports ONNX opset {MIN_OPSET} (per-channel int8 needs "
                           f"it) or later; the default is {DEFAULT_OPSET}")
    hi = DEFAULT_OPSET
    if opset > hi:                          # ask tf2onnx (it imports TensorFlow) only when needed
        _workstation_imports()
        from tf2onnx import constants
        hi = max(constants.OPSET_TO_IR_VERSION)     # the newest opset this tf2onnx writes
    if opset > hi:
        raise EdgekitError(f"--opset {opset}: edgekit exports ONNX opsets {MIN_OPSET} (per-channel int8 needs "
                           f"it) to {hi} (the newest this tf2onnx writes); the default is {DEFAULT_OPSET}")
    if quant_format not in QUANT_FORMATS:
        raise EdgekitError(f"--quant-format {quant_format!r}: use one of {', '.join(QUANT_FORMATS)}")
    if calibration not in CALIBRATIONS:
        raise EdgekitError(f"--calibration {calibration!r}: use one of {', '.join(CALIBRATIONS)}")
    if not isinstance(per_channel, bool):
        raise EdgekitError(f"per_channel must be true or false, got {per_channel!r}")
    if activation_type not in ACTIVATION_TYPES:
        raise EdgekitError(f"activation type {activation_type!r}: use one of {', '.join(ACTIVATION_TYPES)}")
    if not isinstance(reduce_range, bool):
        raise EdgekitError(f"reduce_range must be true or false, got {reduce_range!r}")


def keras_to_onnx(model, opset: int = DEFAULT_OPSET):
    """A Keras model → float32 ``onnx.ModelProto`` with one input (dynamic batch) and one output."""
    _workstation_imports()
    import tensorflow as tf
    import tf2onnx

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise EdgekitError(f"ONNX export handles models with one input and one output; {model.name} has "
                           f"{len(model.inputs)} and {len(model.outputs)}")
    shape = (None, *tuple(model.inputs[0].shape[1:]))
    name = getattr(model.inputs[0], "name", None) or "input"
    signature = [tf.TensorSpec(shape, tf.float32, name=name.split(":")[0])]
    fn = tf.function(lambda x: model(x, training=False))
    with _quiet("tf2onnx export"):
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=signature, opset=opset)
    return proto


class _Reader:
    """``CalibrationDataReader`` over float features in batches of one size, the largest divisor of N up to
    ``batch``: the histogram calibrators (entropy, percentile) stack the batches' outputs into one array."""

    def __init__(self, input_name: str, data: np.ndarray, batch: int = CALIB_BATCH):
        self.input_name = input_name
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        n = len(self.data)
        self.batch = max(d for d in range(1, max(1, min(batch, n)) + 1) if n % d == 0)
        self.rewind()

    def rewind(self) -> None:
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self.data):
            return None
        x = self.data[self._next:self._next + self.batch]
        self._next += self.batch
        return {self.input_name: x}


def quantize_int8(float_proto, rep_data: np.ndarray, *, quant_format: str = DEFAULT_QUANT_FORMAT,
                  calibration: str = DEFAULT_CALIBRATION, per_channel: bool = DEFAULT_PER_CHANNEL,
                  activation_type: str = DEFAULT_ACTIVATION_TYPE, reduce_range: bool = DEFAULT_REDUCE_RANGE):
    """A float32 ``onnx.ModelProto`` → static int8 ``onnx.ModelProto`` (float32 input and output)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if rep_data is None or len(rep_data) == 0:
        raise EdgekitError("int8 ONNX needs calibration data (training windows); the run has none")
    rep = np.asarray(rep_data, dtype=np.float32)
    if not np.all(np.isfinite(rep)):
        raise EdgekitError("the int8 calibration features contain NaN/inf; check the run's calibration.npz")
    input_name = float_proto.graph.input[0].name
    fmt = {"qdq": QuantFormat.QDQ, "qoperator": QuantFormat.QOperator}[quant_format]
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[calibration]
    act = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}[activation_type]
    with tempfile.TemporaryDirectory(prefix="edgekit-onnx-") as tmp:
        src, pre, dst = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(float_proto, str(src))
        # (its symbolic shape inference saves sym_shape_infer_temp.onnx and a data file into the working directory
        # when it fails: run it from the temporary one, so nothing of the user's is overwritten or littered)
        with _quiet("ONNX quantization pre-processing (quant_pre_process)"), _working_dir(tmp):
            quant_pre_process(str(src), str(pre))
        reader, cache = _Reader(input_name, rep), {}
        if calibration == "entropy":  # ranges computed here, handed over as a calibration cache
            cache = {"calibration_cache_path": _entropy_ranges(pre, reader, Path(tmp))}
        with _quiet(f"ONNX Runtime static quantization ({quant_format}, {calibration})"):
            quantize_static(str(pre), str(dst), None if cache else reader, quant_format=fmt,
                            per_channel=bool(per_channel), activation_type=act, weight_type=QuantType.QInt8,
                            calibrate_method=method, reduce_range=bool(reduce_range), **cache)
        return onnx.load(str(dst))


def _entropy_ranges(model_path: Path, reader: _Reader, tmp: Path) -> str:
    """KL-divergence (entropy) activation ranges over ``ENTROPY_BINS`` histogram bins, saved as an ORT calibration cache
    for ``quantize_static``. Its own entropy calibrator has 128 histogram bins and 128 quantized bins: one candidate
    threshold, the full range, so its "entropy" equals MinMax (measured: identical models). TensorRT's setting, 2048
    bins searched down to 128, is what entropy calibration means."""
    import inspect

    from onnxruntime.quantization import CalibrationMethod, quantize_static
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    if "calibration_cache_path" not in inspect.signature(quantize_static).parameters:
        import onnxruntime
        raise EdgekitError(f"--calibration entropy needs an onnxruntime with calibration caches (this is "
                           f"{onnxruntime.__version__}); upgrade it or use --calibration minmax/percentile")
    op_types = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    with _quiet("entropy calibration"):
        cal = create_calibrator(model_path, op_types, augmented_model_path=str(tmp / "augmented.onnx"),
                                calibrate_method=CalibrationMethod.Entropy,
                                extra_options={"num_bins": ENTROPY_BINS, "num_quantized_bins": 128})
        cal.collect_data(reader)
        path = tmp / "entropy_ranges.json"
        save_tensors_data(cal.compute_data(), path)
    reader.rewind()
    return str(path)


def to_onnx(model, spec, precision: str, rep_data: np.ndarray | None = None, *,
            opset: int = DEFAULT_OPSET, quant_format: str = DEFAULT_QUANT_FORMAT,
            calibration: str = DEFAULT_CALIBRATION, per_channel: bool = DEFAULT_PER_CHANNEL,
            activation_type: str = DEFAULT_ACTIVATION_TYPE, reduce_range: bool = DEFAULT_REDUCE_RANGE) -> bytes:
    """``model`` as the bytes of an ONNX file with ``spec`` embedded, its ``quantization`` the facts of
    this export (what ``edgekit convert`` reports). Verification is the caller's job."""
    check_options(precision, opset, quant_format, calibration, per_channel, activation_type, reduce_range)
    proto = keras_to_onnx(model, opset)          # (imports TensorFlow, tf2onnx and onnx, or names the extra)
    import onnx
    import onnxruntime
    import tf2onnx

    quant: dict[str, Any] = {"precision": precision, "opset": opset, "converter": f"tf2onnx {tf2onnx.__version__}"}
    if precision == "int8":
        proto = quantize_int8(proto, rep_data, quant_format=quant_format, calibration=calibration,
                              per_channel=per_channel, activation_type=activation_type, reduce_range=reduce_range)
        quant.update(format=quant_format, calibration=calibration, per_channel=bool(per_channel),
                     activations=activation_type, weights="int8 (7-bit range)" if reduce_range else "int8",
                     reduce_range=bool(reduce_range), calibration_samples=int(len(rep_data)),
                     quantizer=f"onnxruntime {onnxruntime.__version__} quantize_static")
        # ORT raises the opset where a quantized operator needs it; record what the file really says.
        quant["opset"] = next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
    dtypes = {1: "float32", 2: "uint8", 3: "int8"}
    quant["input"] = {"dtype": dtypes.get(proto.graph.input[0].type.tensor_type.elem_type, "other")}
    quant["output"] = {"dtype": dtypes.get(proto.graph.output[0].type.tensor_type.elem_type, "other")}
    embed_onnx(proto, spec.with_(quantization=quant))
    proto.producer_name, proto.producer_version = "edgekit", edgekit_version()
    try:
        onnx.checker.check_model(proto)
    except Exception as e:
        raise EdgekitError(f"the exported ONNX model does not pass the ONNX checker: "
                           f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from None
    return proto.SerializeToString()
