"""ONNX models on ONNX Runtime (CPU by default; CUDA / TensorRT where onnxruntime-gpu is installed)."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from edgekit.edge.core.errors import EdgekitError, MissingExtraError
from edgekit.edge.model.quant import TensorInfo

_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
               "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int32)": np.int32, "tensor(int64)": np.int64}
_ALIASES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
            "tensorrt": "TensorrtExecutionProvider", "trt": "TensorrtExecutionProvider"}


def _ort():
    try:
        import onnxruntime
    except ImportError:
        if struct.calcsize("P") == 4:     # a 32-bit userland (armv7l): ONNX Runtime has no wheel for it
            raise EdgekitError("ONNX Runtime has no build for this 32-bit Python; run the .tflite model of "
                               "the same run (tflite-runtime), or install a 64-bit OS") from None
        raise MissingExtraError("running .onnx models", "onnxruntime") from None
    return onnxruntime


def resolve_provider(provider: str | None) -> str:
    ort = _ort()
    name = _ALIASES.get((provider or "cpu").lower(), provider or "CPUExecutionProvider")
    available = ort.get_available_providers()
    if name not in available:
        raise EdgekitError(f"execution provider {name} is not available in this onnxruntime "
                           f"(available: {', '.join(available)}); install onnxruntime-gpu for CUDA/TensorRT")
    return name


def _info(arg) -> TensorInfo:
    dtype = _ORT_DTYPES.get(arg.type)
    if dtype is None:
        raise EdgekitError(f"tensor {arg.name} has unsupported type {arg.type}")
    shape = tuple(s if isinstance(s, int) else -1 for s in arg.shape)
    return TensorInfo(arg.name, shape, np.dtype(dtype))


class OnnxBackend:
    format = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None, provider: str | None = None):
        ort = _ort()
        if not Path(path).is_file():
            raise EdgekitError(f"{path}: no such model file")
        self.provider = resolve_provider(provider)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._sess = ort.InferenceSession(str(path), sess_options=opts, providers=[self.provider])
        except Exception as e:  # onnxruntime raises its own exception types for corrupt files
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EdgekitError(f"{path}: not a valid ONNX model ({first[:200]})") from None
        ins, outs = self._sess.get_inputs(), self._sess.get_outputs()
        if len(ins) != 1 or len(outs) != 1:
            raise EdgekitError(f"{path}: edgekit runs models with one input and one output; this one has "
                               f"{len(ins)} inputs and {len(outs)} outputs")
        self.input, self.output = _info(ins[0]), _info(outs[0])
        self.name = f"onnxruntime {ort.__version__} ({self.provider})"
        self.threads = threads
        self.metadata = dict(self._sess.get_modelmeta().custom_metadata_map)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self.input.dtype)
        return self._sess.run([self.output.name], {self.input.name: x})[0]

    def bind(self, shape: tuple[int, ...]):
        """(input buffer, run) for one input at a time, through ONNX Runtime's I/O binding: the input and
        output are numpy buffers the session reads and writes in place (no tensors made per run)."""
        ort = _ort()
        x = np.zeros(shape, dtype=self.input.dtype)
        io = self._sess.io_binding()
        io.bind_ortvalue_input(self.input.name, ort.OrtValue.ortvalue_from_numpy(x))
        out_shape = self.output.shape
        if out_shape and all(isinstance(s, int) and s > 0 for s in out_shape[1:]):
            y = np.zeros((shape[0], *out_shape[1:]), dtype=self.output.dtype)
            io.bind_ortvalue_output(self.output.name, ort.OrtValue.ortvalue_from_numpy(y))
            run_ = self._sess.run_with_iobinding

            def run() -> np.ndarray:
                run_(io)
                return y
        else:                                       # free output axes: let ONNX Runtime allocate
            io.bind_output(self.output.name, "cpu")

            def run() -> np.ndarray:
                self._sess.run_with_iobinding(io)
                return io.copy_outputs_to_cpu()[0]
        return x, run

