"""The model stage: a backend plus the spec that says how to feed it and read it.

``Model.predict`` takes float features (the front end's output) and returns float outputs, doing the
quantize → invoke → dequantize steps the tensors ask for; the streaming pipeline calls the three steps separately to
time them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.edge.model import backends
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.model.metadata import ModelFileInfo, file_info, read_spec
from edgekit.edge.model.quant import dequantize, quantize
from edgekit.edge.core.spec import Spec


class Model:
    def __init__(self, path: str | Path, threads: int | None = None, provider: str | None = None,
                 spec: Spec | None = None):
        self.path = Path(path)
        fmt = backends.model_format(path)
        self.backend = backends.load(path, threads=threads, provider=provider)
        self.file: ModelFileInfo = file_info(path, self.backend.metadata if fmt == "onnx" else None)
        self.spec = spec if spec is not None else read_spec(path, self.file)
        if self.spec is not None:
            self._check_shapes()

    @property
    def format(self) -> str:
        return self.backend.format

    @property
    def precision(self) -> str:
        if self.spec is not None and self.spec.quantization:
            return str(self.spec.quantization.get("precision", "int8"))
        return np.dtype(self.backend.input.dtype).name.replace("uint8", "int8") if self.backend.input.quantized \
            else "float32"          # an int16-input model is "int16", not "int8"

    def set_spec(self, spec: Spec, spec_file: str | None = None) -> None:
        """Give a model without an embedded spec the spec made from flags, or read from ``spec_file``, checked against
        its input and output."""
        self.spec = spec
        self._check_shapes(spec_file)

    def _check_shapes(self, spec_file: str | None = None) -> None:
        """The spec fits the model's input and output (``spec_file``: where a spec given apart came from)."""
        whose, meta = (f"the spec {spec_file}", "the spec") if spec_file else ("its spec", "its embedded metadata")
        why = "give the spec of this model" if spec_file else "the metadata belongs to another model"
        want = tuple(self.spec.input_shape)
        have = tuple(self.backend.input.shape[1:])
        if len(have) != len(want) or any(h not in (-1, w) for h, w in zip(have, want)):
            raise EdgekitError(f"{self.path}: the model input {list(have)} does not match {whose} {list(want)}; {why}")
        n_out = self.backend.output.shape[-1] if self.backend.output.shape else -1
        if self.spec.kind == "classification" and n_out not in (-1, None) and n_out != len(self.spec.labels):
            raise EdgekitError(f"{self.path}: the model has {n_out} outputs but {meta} names {len(self.spec.labels)} "
                               f"labels; {why}")

    def quantize(self, feats: np.ndarray) -> np.ndarray:
        return quantize(feats, self.backend.input)

    def invoke(self, x: np.ndarray) -> np.ndarray:
        return self.backend.run(x)

    def dequantize(self, y: np.ndarray) -> np.ndarray:
        return dequantize(y, self.backend.output)

    def predict(self, feats: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Float features (N, *input_shape) → float outputs (N, n_outputs), in batches."""
        outs = [self.dequantize(self.invoke(self.quantize(feats[i:i + batch_size])))
                for i in range(0, len(feats), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)
