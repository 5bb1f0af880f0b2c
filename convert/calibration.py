"""Calibration data for int8: a representative sample of the training set, through the real front end."""
from __future__ import annotations

import numpy as np

from edgekit.edge import frontend as fe

from .tf import batched


def calibration_features(run, n: int, log=print) -> np.ndarray:
    raw = run.calibration()
    if n > len(raw):
        log(f"note: --calib {n} asked, the run kept {len(raw)} training windows; using all of them")
    raw = raw[:n]
    front = fe.build(run.spec())
    return batched(front, raw, 256)
