"""A start-up check of a spec's front end: one deterministic test input must give finite, varying features.

The test input is the task's ``probe_input`` (:meth:`edgekit.edge.tasks.base.Task.probe_input`; default: its first bench
window).
"""
from __future__ import annotations

import numpy as np

from edgekit.edge import frontend, tasks
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec


def probe(spec: Spec) -> str | None:
    """Why the spec's front end gives unusable features (NaN/inf, or one value everywhere) for the task's
    first bench input (seed 0), in one line; None when they are fine."""
    x, what = tasks.get(spec.task).probe_input(spec)
    try:
        with np.errstate(all="ignore"):
            f = np.asarray(frontend.build(spec)(x))
    except EdgekitError as e:
        return f"the front end refuses a test input ({what}): {e.message}"
    bad = int(np.count_nonzero(~np.isfinite(f)))
    if bad:
        return (f"the front end gives {bad} NaN/inf value(s) of {f.size} for a test input ({what}); check the "
                "spec's features and normalization")
    if f[0].size > 1 and f.min() == f.max():
        return (f"the front end gives the same value ({float(f.flat[0]):g}) for every feature of a test input "
                f"({what}); check the spec's features and normalization")
    return None
