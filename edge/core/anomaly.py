"""An anomaly model's settings in its spec: what its score is, the threshold above which a window is anomalous, and
how training chose that threshold (pure, every value checked).

The model outputs the window's score (``score``: ``mse``, the mean squared error of the autoencoder's
reconstruction, computed inside the graph; :func:`scores` reads it, and would average a model that outputs its error
per band); a window is anomalous when its score reaches ``threshold``. Training chose
the threshold on normal windows it did not fit or validate on (``calibration_windows`` of them): ``method``
``quantile`` (that ``quantile`` of their scores), ``false_alarms_per_hour`` (the quantile that flags that many normal
windows an hour at one window per window length) or ``given`` (``edgekit train anomaly --threshold``); ``fit`` says
whether the quantile was read from the scores (``empirical``) or, beyond what so few windows can show, from a
log-normal fitted to them (``lognormal``). ``edge-run --threshold`` overrides the threshold.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgekit.edge.core.detection import check_object
from edgekit.edge.core.errors import EdgekitError

SCORES = ("mse",)
METHODS = ("quantile", "false_alarms_per_hour", "given")
FITS = ("empirical", "lognormal")
KEYS = ("threshold", "score", "method", "quantile", "false_alarms_per_hour", "fit", "calibration_windows")
MAX_THRESHOLD = 1e30


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def scores(outputs: Any) -> np.ndarray:
    """The windows' scores from the model's outputs, (N, 1) or (N, bands): the mean of each row (float64)."""
    y = np.asarray(outputs, dtype=np.float64)
    return y.reshape(len(y), -1).mean(axis=1) if y.ndim > 1 else np.atleast_1d(y.mean())


def check_threshold(v: Any, what: str) -> float:
    """A threshold: a finite positive number (``what`` names it in the one-line error)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= MAX_THRESHOLD:
        raise EdgekitError(f"{what} must be a finite positive number (a score of the model), got {_show(v)}")
    return float(v)


def anomaly_settings(d: Any, source: str = "spec") -> dict[str, Any]:
    """The spec's ``anomaly`` object ``d``, checked: known keys only, a finite positive ``threshold``, a known
    ``score``, ``method`` and ``fit``, the method's own number; a bad one is a one-line error naming ``source``."""
    def fail(msg: str) -> EdgekitError:
        return EdgekitError(f"{source}: invalid edgekit spec: 'anomaly': {msg}")

    check_object(d, KEYS, fail, '{"threshold": 0.12, "score": "mse"}')
    if "threshold" not in d:
        raise fail("needs a 'threshold'")
    try:
        out: dict[str, Any] = {"threshold": check_threshold(d["threshold"], "'threshold'")}
    except EdgekitError as e:
        raise fail(e.message) from None
    for key, choices, default in (("score", SCORES, "mse"), ("method", METHODS, "given"), ("fit", FITS, None)):
        v = d.get(key, default)
        if v is not None and v not in choices:
            raise fail(f"'{key}' must be one of {', '.join(choices)}, got {_show(v)}")
        if v is not None:
            out[key] = v
    if "quantile" in d:
        q = d["quantile"]
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise fail(f"'quantile' must be a number between 0 and 1, got {_show(q)}")
        out["quantile"] = float(q)
    if "false_alarms_per_hour" in d:
        f = d["false_alarms_per_hour"]
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or f <= 0:
            raise fail(f"'false_alarms_per_hour' must be a finite positive number, got {_show(f)}")
        out["false_alarms_per_hour"] = float(f)
    if "calibration_windows" in d:
        n = d["calibration_windows"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1 << 53:
            raise fail(f"'calibration_windows' must be a positive integer, got {_show(n)}")
        out["calibration_windows"] = n
    need = {"quantile": ("quantile",), "false_alarms_per_hour": ("false_alarms_per_hour", "quantile")}
    missing = [k for k in need.get(out["method"], ()) if k not in out]
    if missing:
        raise fail(f"method {out['method']} needs '{missing[0]}'")
    return out


def describe(a: dict[str, Any]) -> str:
    """The settings in words, for ``edgekit info``: score, threshold and how it was chosen."""
    how = {"quantile": lambda: f"the {a['quantile']:.4g} quantile",
           "false_alarms_per_hour": lambda: f"{a['false_alarms_per_hour']:g} false alarm(s) per hour (the "
                                            f"{a['quantile']:.6g} quantile)",
           "given": lambda: "given at training"}[a["method"]]()
    of = f" of {a['calibration_windows']} normal windows training did not see" if "calibration_windows" in a else ""
    fit = f", {a['fit']}" if a.get("fit") else ""
    return f"score {a['score']}, threshold {a['threshold']:.6g} ({how}{of}{fit})"
