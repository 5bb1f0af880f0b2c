"""The front end of a stream: windows → the model's input tensor, written in place, recomputing only new frames.

:class:`StreamFeatures` is what the device runs per window. It writes the model's input (float32, or the
int8/uint8/int16 tensor of a quantized model) into a buffer the backend reads, with normalisation and quantization done
in place on the float32 features (no float temporaries beyond them), in exactly the operations and order of
``quantize(FrontEnd(spec)(x))``, so the tensor is bit-identical to the reference path.

**Incremental frames.** For a feature type that is computed frame by frame (``framewise(spec)`` in its module:
``spectrogram`` today), with ``hop`` a multiple of the frame step and shorter than the window, consecutive windows share
frames. The front end keeps the last window's per-frame results (already normalised and quantized: both are
element-wise) and computes only the frames the new window adds, *when the shared samples are equal* to the last window's
(checked, not assumed): after a reset, a drop or a new file they are not, and the whole window is computed. The result
is therefore always equal to recomputing."""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import FEATURE_TYPES, build
from edgekit.edge.frontend.normalize import normalize


def _normalizer(norm: dict[str, Any]):
    """In-place ``float32(normalize(a))`` on float32 raw features: the operations, order and precision of
    :class:`~edgekit.edge.frontend.FrontEnd` (float32 arithmetic with Python-number operands)."""
    t = norm["type"]
    if t == "standard":
        mean, std = norm["mean"], norm["std"]

        def norm_(a):
            np.subtract(a, mean, out=a)
            np.divide(a, std, out=a)
            return a
    elif t == "none":
        def norm_(a):
            return a
    else:                          # minmax / scale compute in float64: the reference's own temporaries
        def norm_(a):
            a[...] = normalize(a, norm)
            return a
    return norm_


def _quantizer(scale: float, zero_point: int, dtype: np.dtype):
    """In-place :func:`edgekit.edge.model.quant.quantize` on float32 features (same operations and order),
    leaving values ready to store as ``dtype``; None for a float input."""
    if not scale:
        return None
    s32 = np.float32(scale)
    info = np.iinfo(dtype)
    lo, hi = info.min, info.max

    def quant(a):
        np.divide(a, s32, out=a)
        np.rint(a, out=a)
        np.add(a, zero_point, out=a)
        np.clip(a, lo, hi, out=a)
        return a
    return quant


class StreamFeatures:
    """One stream's front end: :meth:`into` writes the model input of a window into ``out``.

    ``scale``/``zero_point``/``dtype`` are the model input's quantization (scale 0: a float input); ``hop`` is the
    number of samples between consecutive windows (None: windows are unrelated)."""

    def __init__(self, spec: Spec, dtype, scale: float = 0.0, zero_point: int = 0, hop: int | None = None):
        self.spec = spec
        self.dtype = np.dtype(dtype)
        self._norm = _normalizer(spec.normalization)
        self._quant = _quantizer(scale, zero_point, self.dtype)
        mod = FEATURE_TYPES[spec.features["type"]]
        plan = mod.framewise(spec) if hasattr(mod, "framewise") else None
        self.plan = plan
        self.front = build(spec)
        self.t_raw = 0.0
        self.shift = 0                  # frames shared by consecutive windows are `n_frames - shift`
        self.reused_frames = 0          # counters: how much the incremental path saved
        self.computed_frames = 0
        if plan is None:
            return
        self._f32 = np.empty((plan.n_frames, plan.n_coef), dtype=np.float32)
        self._cache = np.empty((plan.n_frames, plan.n_coef), dtype=self.dtype)
        if hop is not None and 0 < hop < spec.window and hop % plan.step == 0 and hop // plan.step < plan.n_frames:
            self.shift = hop // plan.step
            self.hop = hop
            keep = plan.n_frames - self.shift
            self._compare = (keep - 1) * plan.step + plan.length   # samples the kept frames are made of
            self._prev = np.empty(spec.window, dtype=np.float32)
            self._have_prev = False

    def reset(self) -> None:
        """A break in the stream (a new recording, dropped audio): the next window shares nothing with the last.
        A front end that keeps state from frame to frame starts it again here."""
        if self.shift:
            self._have_prev = False

    @property
    def incremental(self) -> bool:
        """Whether consecutive windows reuse frames (a frame-wise feature type and a fitting hop)."""
        return self.shift > 0

    def into(self, x: np.ndarray, out: np.ndarray) -> bool:
        """Write the model input for window ``x`` into ``out`` (shape ``input_shape``, the input dtype). Returns False
        (and leaves ``out`` unspecified) when the features are not all finite. ``t_raw`` is then the ``perf_counter``
        time at which the raw features were done (before normalisation)."""
        plan = self.plan
        if plan is None:                                    # whole-window feature types (rows, image)
            f = np.array(self.front(x), dtype=np.float32)      # the reference path, then quantized in place
            self.t_raw = time.perf_counter()
            if not np.isfinite(f).all():
                return False
            out[...] = (self._quant(f) if self._quant else f).reshape(out.shape)
            return True
        if x.shape[-1] != self.spec.window:
            self.front(x)                                   # its one-line error names the expected length
        first = 0
        if self.shift:
            prev = self._prev
            if prev.dtype != x.dtype:                       # compare like with like (no rounding in between)
                prev = self._prev = np.empty(self.spec.window, dtype=x.dtype)
                self._have_prev = False
            elif self._have_prev and np.array_equal(x[:self._compare], prev[self.hop:self.hop + self._compare]):
                first = plan.n_frames - self.shift
                self._cache[:first] = self._cache[self.shift:]
            prev[...] = x
            self._have_prev = True
        new = x[first * plan.step:] if first else x
        cols = plan.columns(new, self._f32[first:])
        self.t_raw = time.perf_counter()
        self._norm(cols)
        if not np.isfinite(cols).all():
            if self.shift:
                self._have_prev = False
            return False
        self._cache[first:] = self._quant(cols) if self._quant else cols
        self.reused_frames += first
        self.computed_frames += plan.n_frames - first
        plan.place(self._cache, out)
        return True
