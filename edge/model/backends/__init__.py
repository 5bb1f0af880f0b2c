"""Model backends: one interface, one module per runtime.

A backend loads a model file and runs raw tensors (already quantized if the model wants integers). The pipeline never
knows which backend it drives. Pick one with :func:`load` (by file extension).
"""
from __future__ import annotations

from pathlib import Path
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.model.backends.base import FORMATS, Backend, model_format, map_model_file  # noqa: F401


def load(path: str | Path, threads: int | None = None, provider: str | None = None) -> Backend:
    fmt = model_format(path)
    if fmt == "tflite":
        if provider not in (None, "cpu", "CPUExecutionProvider"):
            raise EdgekitError(f"--provider {provider} applies to .onnx models; LiteRT runs .tflite on the CPU")
        from edgekit.edge.model.backends.litert import LiteRTBackend
        return LiteRTBackend(path, threads=threads)
    from edgekit.edge.model.backends.onnx import OnnxBackend
    return OnnxBackend(path, threads=threads, provider=provider)
