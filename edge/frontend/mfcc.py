"""The ``mfcc`` feature type: the ``logmel`` front end (:mod:`.logmel`) then an orthonormal DCT-II over the mel bands
keeping ``n_mfcc`` coefficients, before CMVN and layout; the values of
``librosa.feature.mfcc(S=librosa.power_to_db(melspectrogram(..., center=False)), n_mfcc=...)``."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import logmel

KEYS = (*logmel.KEYS, "n_mfcc")


def mfcc_features(n_mfcc: int = 13, frame_length: int = 400, hop_length: int = 160, n_fft: int | None = None,
                  window: Any = "hann", n_mels: int = 40, fmin: float = 0.0, fmax: float | None = None,
                  htk: bool = False, norm: str | None = "slaney", amin: float = 1e-10,
                  top_db: float | None = None, cmvn: bool = False, cmvn_floor: float = 1e-2,
                  layout: str = "freq_time", clip: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``features`` entry of a spec for an MFCC front end (the parameters of
    :func:`~.logmel.logmel_features` and the number of coefficients)."""
    feat = logmel.logmel_features(frame_length, hop_length, n_fft, window, n_mels, fmin, fmax, htk, norm,
                                  amin, top_db, cmvn, cmvn_floor, layout, clip)
    return {**feat, "type": "mfcc", "n_mfcc": int(n_mfcc)}


mfcc_shape = logmel.logmel_shape
describe = logmel.describe


def front_end(spec: Spec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """(raw features of a batch of windows, the number of axes of one window)."""
    return logmel.make_raw(spec, n_mfcc=spec.features["n_mfcc"]), 1


def validate(spec: Spec, bad: Callable[[str], EdgekitError]) -> None:
    logmel.check_features(spec, bad, KEYS)
