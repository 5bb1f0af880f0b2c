"""What every backend is: the Backend protocol, model formats by file extension, reading a model's bytes."""
from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.model.quant import TensorInfo

FORMATS = {".tflite": "tflite", ".onnx": "onnx"}


class Backend(Protocol):
    name: str            # e.g. "litert 2.3.0"
    format: str          # "tflite" | "onnx"
    input: TensorInfo
    output: TensorInfo

    def run(self, x: np.ndarray) -> np.ndarray:
        """Raw input (batch, ...) in the input dtype → raw output (batch, ...) in the output dtype."""

    def bind(self, shape: tuple[int, ...]):
        """(input buffer of ``shape``, run): the streaming path fills the buffer in place, ``run()`` returns
        the raw output (valid until the next call). Allocated once per stream."""


def model_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise EdgekitError(f"{path}: unknown model format '{suffix}'; give a .tflite or .onnx file")
    return FORMATS[suffix]


def map_model_file(path: str | Path):
    """The model file's bytes as a read-only memory map: only the pages a reader touches become resident
    (the metadata walk reads a few KB of a multi-MB model), and nothing is copied."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise EdgekitError(f"{path}: the model file is empty")
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise EdgekitError(f"{path}: no such model file") from None
    except IsADirectoryError:
        raise EdgekitError(f"{path}: is a directory, not a model file") from None
    except (OSError, ValueError) as e:
        raise EdgekitError(f"{path}: cannot read the model ({getattr(e, 'strerror', None) or e})") from None
