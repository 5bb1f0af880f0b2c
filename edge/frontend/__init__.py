"""The front end: raw windows → model inputs, exactly as the spec says (numpy only).

Training and the device both call :func:`build` on the same :class:`~edgekit.edge.core.spec.Spec`, so the model never
sees features computed by different code (train/serve skew). One module per feature type, each with ``front_end(spec)``
and ``validate(spec, bad)``, found through :data:`FEATURE_TYPES`:

``spectrogram``  :mod:`.spectrogram` — a 1-D signal window → (n_freq, n_seg, 1)
``rows``         :mod:`.rows` — a (look_back, n_columns) block of detector rows
``image``        :mod:`.image` — a decoded picture → (height, width, channels)
``logmel``       :mod:`.logmel` — a 1-D signal window → log-mel bands (n_mels, n_frames, 1), or another layout
``mfcc``         :mod:`.mfcc` — a 1-D signal window → MFCCs (n_mfcc, n_frames, 1), or another layout
``microfrontend`` :mod:`.microfrontend` — a 1-D signal window → TFLite Micro's audio front end (integer, exact)
``raw``          :mod:`.raw` — a 1-D signal window → its samples (times ``scale``), for features in the graph

then the spec's normalisation (:mod:`.normalize`). Pure signal functions live in :mod:`.dsp`, framing in
:mod:`.frames`, resampling in :mod:`.resample`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import image, logmel, mfcc, microfrontend, raw, rows, spectrogram
from edgekit.edge.frontend.image import image_features, image_shape, resize_images  # noqa: F401
from edgekit.edge.frontend.normalize import (check_scaling, denormalize, fit_standard,  # noqa: F401
                                             normalize)
from edgekit.edge.frontend.rows import rows_features  # noqa: F401
from edgekit.edge.frontend.spectrogram import spectrogram_features, spectrogram_shape  # noqa: F401

FEATURE_TYPES = {"spectrogram": spectrogram, "rows": rows, "image": image, "logmel": logmel, "mfcc": mfcc,
                 "microfrontend": microfrontend, "raw": raw}


class FrontEnd:
    """Callable: raw windows (batch, window[, columns]) or one window → float32 model inputs."""

    def __init__(self, spec: Spec, raw: Callable[[np.ndarray], np.ndarray], window_ndim: int):
        self.spec = spec
        self._raw = raw
        self._window_ndim = window_ndim

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Features before normalisation (what training fits the normalisation on)."""
        x = np.asarray(x)
        single = x.ndim == self._window_ndim
        out = self._raw(x[None] if single else x)
        return out[0] if single else out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        feats = np.asarray(normalize(self.raw(x), self.spec.normalization), dtype=np.float32)
        return feats.reshape(self.spec.input_shape if x.ndim == self._window_ndim else (-1, *self.spec.input_shape))


def build(spec: Spec) -> FrontEnd:
    """The spec's front end as one callable (one window, or a batch of them)."""
    fn, ndim = FEATURE_TYPES[spec.features["type"]].front_end(spec)
    return FrontEnd(spec, fn, ndim)


def describe(spec: Spec) -> str | None:
    """The spec's front end in one line, for ``edgekit info`` (None for types that have no description)."""
    mod = FEATURE_TYPES.get(spec.features["type"])
    return mod.describe(spec) if hasattr(mod, "describe") else None


def validate_features(spec: Spec, source: str) -> None:
    """Range-check the front-end parameters of a spec (called when a spec is parsed)."""
    def bad(msg: str) -> EdgekitError:
        return EdgekitError(f"{source}: invalid edgekit spec: {msg}")

    t = spec.features["type"]
    if t not in FEATURE_TYPES:
        raise bad(f"unknown features.type {t!r}")
    FEATURE_TYPES[t].validate(spec, bad)
    check_scaling(spec.normalization, "normalization", spec.input_shape[-1] if spec.input_shape else 1, bad)
    if spec.target is not None:               # (spec parsing has checked it is an object)
        check_scaling(spec.target.get("scaling"), "target.scaling", 1, bad)
