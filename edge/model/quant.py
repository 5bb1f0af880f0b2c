"""Affine (de)quantization of model inputs and outputs, from the tensors' own parameters."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_INT_DTYPES = (np.int8, np.uint8, np.int16)


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output: name, shape (None or -1 for a free axis), dtype, and affine
    quantization (real = scale * (q - zero_point)); scale 0 means not quantized."""

    name: str
    shape: tuple
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.dtype(self.dtype).type in _INT_DTYPES

    def describe(self) -> dict:
        d = {"name": self.name, "shape": [None if (s is None or s < 0) else int(s) for s in self.shape],
             "dtype": np.dtype(self.dtype).name}
        if self.quantized:
            d["scale"] = float(self.scale)
            d["zero_point"] = int(self.zero_point)
        return d


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """float → the tensor's dtype (round half to even, saturate), or a float cast if not quantized."""
    dt = np.dtype(info.dtype)
    if not info.quantized:
        return np.asarray(x, dtype=dt)
    q = np.rint(np.asarray(x, dtype=np.float32) / np.float32(info.scale)) + info.zero_point
    lim = np.iinfo(dt)
    return np.clip(q, lim.min, lim.max).astype(dt)


def dequantize(y: np.ndarray, info: TensorInfo) -> np.ndarray:
    if not info.quantized:
        return np.asarray(y, dtype=np.float32)
    return (np.asarray(y, dtype=np.float32) - np.float32(info.zero_point)) * np.float32(info.scale)
