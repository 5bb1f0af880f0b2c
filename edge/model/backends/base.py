"""What every backend is: the Backend protocol, model formats by file extension, reading a model's bytes."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from edgekit.edge.errors import EdgekitError
from edgekit.edge.model.quant import TensorInfo

FORMATS = {".tflite": "tflite", ".onnx": "onnx"}


class Backend(Protocol):
    name: str            # e.g. "litert 2.3.0"
    format: str          # "tflite" | "onnx"
    input: TensorInfo
    output: TensorInfo

    def run(self, x: np.ndarray) -> np.ndarray:
        """Raw input (batch, ...) in the input dtype → raw output (batch, ...) in the output dtype."""


def model_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise EdgekitError(f"{path}: unknown model format '{suffix}'; give a .tflite or .onnx file")
    return FORMATS[suffix]


def read_model_bytes(path: str | Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise EdgekitError(f"{path}: no such model file") from None
    except OSError as e:
        raise EdgekitError(f"{path}: cannot read the model ({e.strerror or e})") from None
    if not data:
        raise EdgekitError(f"{path}: the model file is empty")
    return data
