"""Calibration data for int8: a representative sample of the training set, through the real front end."""
from __future__ import annotations

import numpy as np

from edgekit.edge import frontend as fe

from .tf import batched

DEFAULT_CALIB = 300


def calibration_features(run, n: int | None, log=print) -> np.ndarray:
    """Up to ``n`` (default :data:`DEFAULT_CALIB`) of the run's calibration windows through its front end; a
    note when more were asked for than the run kept."""
    raw = run.calibration()
    if n is not None and n > len(raw):
        log(f"note: --calib {n} asked, the run kept {len(raw)} training windows; using all of them")
    return batched(fe.build(run.spec()), raw[:DEFAULT_CALIB if n is None else n], 256)
