"""A model's stream-detector settings: the defaults, a spec's ``detection`` object, checked (pure).

They live with the tasks (below the spec, which checks them when it is read, and the loop); the detector that uses them
is :mod:`edgekit.edge.pipeline.detect`, whose docstring says what each setting does and why the defaults are what they
are.
"""
from __future__ import annotations

import math
from typing import Any

from edgekit.edge.core.errors import EdgekitError

DEFAULTS: dict[str, Any] = {
    "average": 1.0,          # seconds of results averaged
    "threshold": 0.7,        # the averaged top score that makes an event
    "suppression": 1.0,      # seconds after an event in which no other event fires
    "min_count": 3,          # results the averaging window must hold
    "nothing": ["silence", "unknown"],   # labels that never fire
    "gate_dbfs": None,       # windows below this level skip the model (None: no gate)
}
MAX_HISTORY = 4096           # results kept at most, whatever the hop
DBFS_FLOOR = -120.0          # the level of digital silence (and of anything quieter)


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def check_object(d: Any, keys, fail, like: str) -> None:
    """``d`` is a JSON object whose keys are all among ``keys``; else ``fail(message)`` is raised (``like``: an
    example object for the message)."""
    if not isinstance(d, dict):
        raise fail(f"expected an object like {like}, got {_show(d)}")
    unknown = sorted(str(k) for k in d if k not in keys)
    if unknown:
        raise fail(f"unknown key {_show(unknown[0])}; the keys are {', '.join(keys)}")


def detection_settings(d: Any, source: str = "spec") -> dict[str, Any]:
    """:data:`DEFAULTS` overridden by a spec's ``detection`` object ``d`` (None: the defaults), every value
    checked; a bad one is a one-line :class:`EdgekitError` naming ``source``."""
    out = {**DEFAULTS, "nothing": list(DEFAULTS["nothing"])}
    if d is None:
        return out

    def fail(msg: str) -> EdgekitError:
        return EdgekitError(f"{source}: invalid 'detection' settings: {msg}")

    check_object(d, DEFAULTS, fail, '{"threshold": 0.8}')

    def number(name: str, lo: float, hi: float, *, lo_open: bool = False) -> float:
        v = d[name]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise fail(f"'{name}' must be a finite number, got {_show(v)}")
        if v < lo or v > hi or (lo_open and v == lo):
            raise fail(f"'{name}' must be in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {v!r}")
        return float(v)

    if "average" in d:
        out["average"] = number("average", 0.0, 60.0, lo_open=True)
    if "threshold" in d:
        out["threshold"] = number("threshold", 0.0, 1.0)
    if "suppression" in d:
        out["suppression"] = number("suppression", 0.0, 3600.0)
    if "gate_dbfs" in d and d["gate_dbfs"] is not None:
        out["gate_dbfs"] = number("gate_dbfs", DBFS_FLOOR, 0.0)
    if "min_count" in d:
        v = d["min_count"]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_HISTORY:
            raise fail(f"'min_count' must be an integer in [1, {MAX_HISTORY}], got {_show(v)}")
        out["min_count"] = v
    if "nothing" in d:
        v = d["nothing"]
        if not isinstance(v, list) or len(v) > 1000 or not all(isinstance(x, str) and x.isprintable() for x in v):
            raise fail(f"'nothing' must be a list of label names, got {_show(v)}")
        out["nothing"] = list(v)
    return out
