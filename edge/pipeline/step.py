"""One input through the device's stages, each timed: front end → quantize → invoke → dequantize → post-process. The
streams (audio windows, detector rows, images) and ``edgekit bench`` all run this, so the stage boundaries and what a
latency figure includes are the same everywhere.

:class:`Step` is built once per stream: the model's input and output buffers are allocated once and bound to
the backend (no per-window tensors), and the front end (:class:`~edgekit.edge.frontend.stream.StreamFeatures`) writes
the input tensor in place, normalised and quantized, reusing the frames consecutive windows share. Stages: ``features``
(the raw features of the frames computed), ``quantize`` (normalisation, quantization and the model's layout, written
into the bound input), ``inference``, ``postprocess`` (dequantize and answer).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.frontend.stream import StreamFeatures
from edgekit.edge.model.quant import dequantize
from edgekit.edge.pipeline.postprocess import postprocessor

STAGES = ("features", "quantize", "inference", "postprocess", "total")


class NonFiniteFeatures(EdgekitError):
    """The front end turned a finite input into NaN/inf features (a spec whose parameters overflow)."""


class Step:
    """``post(dequantize(invoke(quantize(front(x)))))`` for one input at a time, with the stage times in ms.

    ``hop``: samples between consecutive inputs of the stream (lets the front end reuse shared frames)."""

    def __init__(self, model, hop: int | None = None):
        spec = model.spec
        info = model.backend.input
        self.features = StreamFeatures(spec, info.dtype, info.scale if info.quantized else 0.0, info.zero_point, hop)
        self._input, self._invoke = model.backend.bind((1, *spec.input_shape))
        self._out = model.backend.output
        self._post = postprocessor(spec)

    def reset(self) -> None:
        """A break in the stream before the next input (:attr:`Input.fresh`): the front end forgets the last window."""
        self.features.reset()

    def __call__(self, x: np.ndarray) -> tuple[Any, dict[str, float]]:
        """The answer for input ``x`` and the time of each stage in ms (``total`` = all of them). Errors of
        any stage propagate unchanged; NaN/inf features raise :class:`NonFiniteFeatures`."""
        pc = time.perf_counter
        features = self.features
        t0 = pc()
        if not features.into(x, self._input[0]):
            raise NonFiniteFeatures("the front end gave NaN/inf features")
        t2 = pc()
        raw = self._invoke()
        t3 = pc()
        answer = self._post(dequantize(raw, self._out)[0])
        t4 = pc()
        t1 = features.t_raw
        return answer, {"features": (t1 - t0) * 1e3, "quantize": (t2 - t1) * 1e3, "inference": (t3 - t2) * 1e3,
                        "postprocess": (t4 - t3) * 1e3, "total": (t4 - t0) * 1e3}
