"""Detector rows into model inputs: time continuity (gaps reset or fill), the rolling look-back window, the columns
derived from each row's timestamp and the per-column min-max scaler, the same rules in training and on the device.

Continuity (:class:`Continuity`): consecutive rows ``step_seconds`` apart continue the series. A larger step is a gap:
with ``fill`` set (``linear`` or ``previous``) and at most ``max_fill_rows`` rows missing, the missing rows are filled
in; otherwise the series restarts there (a rolling window is reset). A row that is not later than the previous one is
malformed (duplicate or out of order).

Time columns (:func:`time_values`): a spec's ``features.time`` (``{"day": 2, "week": 1}``) appends to every row the sine
and cosine of its time of day and of week (Monday 00:00 = 0), ``k`` harmonics each; ``features.profile`` appends the
target's historical average (one value per slot of ``period_seconds``, fitted at training) at the row's time and
``ahead_rows`` rows later, so a forecaster can predict the difference from it. Training and the device compute them
by the same function from each row's time, filled rows included."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec

STEP_SECONDS = 300.0
FILLS = ("linear", "previous")
MAX_FILL_ROWS = 12                       # one hour of 5-minute rows
_TIME_TOLERANCE = 1e-6


def format_time(t: float) -> str:
    """Seconds since the epoch → ``YYYY-MM-DD HH:MM`` (``:SS`` added when not on a whole minute)."""
    d = datetime.fromtimestamp(t, timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S" if d.second else "%Y-%m-%d %H:%M")


# -- continuity: the same rules in training and on the device ------------------------------------------

class Continuity:
    """Decides how each new row continues the series: ``start``, ``next``, ``fill``, ``gap`` or ``back``.

    :meth:`advance` returns the kind, the number of missing rows before this one, and the filled-in rows (``fill``
    only). It remembers the row only if it is accepted (every kind but ``back``)."""

    def __init__(self, step_seconds: float = STEP_SECONDS, fill: str | None = None, max_fill_rows: int = MAX_FILL_ROWS):
        if fill not in (None, *FILLS):
            raise EdgekitError(f"fill {fill!r} is not supported; use one of {', '.join(FILLS)} or none")
        self.step = float(step_seconds)
        self.fill = fill
        self.max_fill_rows = int(max_fill_rows)
        self.last_t: float | None = None
        self.last_values: np.ndarray | None = None

    def reset(self) -> None:
        self.last_t = self.last_values = None

    def missing_rows(self, dt: float) -> int | None:
        """Rows missing between two rows ``dt`` seconds apart, or None if ``dt`` is not a whole number of
        steps (an irregular gap, never filled)."""
        k = dt / self.step
        n = round(k)
        return n - 1 if abs(k - n) * self.step <= _TIME_TOLERANCE and n >= 1 else None

    def advance(self, t: float, values: np.ndarray) -> tuple[str, int, np.ndarray | None]:
        if self.last_t is None:
            kind, missing, filled = "start", 0, None
        else:
            dt = t - self.last_t
            if dt <= _TIME_TOLERANCE:
                return "back", 0, None
            missing = self.missing_rows(dt)
            if missing == 0:
                kind, filled = "next", None
            elif self.fill is not None and missing is not None and missing <= self.max_fill_rows:
                kind, filled = "fill", fill_rows(self.last_values, values, missing, self.fill)
            else:
                kind, filled = "gap", None
                missing = missing if missing is not None else int(dt // self.step)
        self.last_t, self.last_values = t, np.asarray(values, dtype=np.float64)
        return kind, missing, filled


def fill_rows(before: np.ndarray, after: np.ndarray, n: int, how: str) -> np.ndarray:
    """``n`` rows between ``before`` and ``after``: linear interpolation, or ``before`` repeated."""
    before = np.asarray(before, np.float64)
    after = np.asarray(after, np.float64)
    if how == "previous":
        return np.repeat(before[None], n, axis=0)
    w = (np.arange(1, n + 1, dtype=np.float64) / (n + 1))[:, None]
    return before[None] + w * (after - before)[None]


@dataclass
class Series:
    """Rows assembled by :func:`assemble`: real and filled rows in time order, split into segments."""

    times: np.ndarray            # (M,) epoch seconds
    values: np.ndarray           # (M, C)
    real: np.ndarray             # (M,) bool: False for filled-in rows
    segment_start: np.ndarray    # (M,) index of the first row of each row's segment
    lines: np.ndarray            # (M,) source line of real rows, -1 for filled rows
    gaps: list[dict] = field(default_factory=list)   # each gap: after, before, missing, filled

    def window_ends(self, look_back: int) -> np.ndarray:
        """Indices i (rows) such that rows i-look_back+1 … i are one segment: a full window ends at i."""
        idx = np.arange(len(self.times))
        return idx[idx - self.segment_start >= look_back - 1]


def assemble(times: np.ndarray, values: np.ndarray, *, step_seconds: float = STEP_SECONDS,
             fill: str | None = None, max_fill_rows: int = MAX_FILL_ROWS, lines: Sequence[int] | None = None,
             source: str = "data") -> Series:
    """Rows in time order → a :class:`Series` with gaps filled or marked as segment boundaries, exactly
    as :class:`Continuity` does row by row on the device. Rows not after their predecessor are an error."""
    times = np.asarray(times, np.float64)
    values = np.asarray(values, np.float64)
    lines = list(lines) if lines is not None else [i + 2 for i in range(len(times))]
    cont = Continuity(step_seconds, fill, max_fill_rows)
    out_t, out_v, real, seg, out_lines, gaps = [], [], [], [], [], []
    start = 0
    for i in range(len(times)):
        kind, missing, filled = cont.advance(times[i], values[i])
        if kind == "back":
            raise EdgekitError(f"{source}: line {lines[i]}: time {format_time(times[i])} is not after the "
                               f"previous row's {format_time(times[i - 1])}; sort the rows and remove duplicates")
        if kind == "gap":
            start = len(out_t)
        if kind in ("gap", "fill"):
            gaps.append({"after": format_time(times[i - 1]), "before": format_time(times[i]),
                         "missing": int(missing), "filled": kind == "fill", "line": int(lines[i])})
        if filled is not None:
            for j, row in enumerate(filled):
                out_t.append(times[i - 1] + (j + 1) * cont.step)
                out_v.append(row)
                real.append(False)
                seg.append(start)
                out_lines.append(-1)
        out_t.append(times[i])
        out_v.append(values[i])
        real.append(True)
        seg.append(start)
        out_lines.append(lines[i])
    n_cols = values.shape[1] if values.ndim == 2 else 1
    return Series(np.array(out_t, np.float64), np.array(out_v, np.float64).reshape(len(out_t), n_cols),
                  np.array(real, bool), np.array(seg, np.int64), np.array(out_lines, np.int64), gaps)


class RollingWindow:
    """The last ``look_back`` rows, in O(1) per row (a buffer twice as long, compacted when full)."""

    def __init__(self, look_back: int, n_columns: int):
        self.look_back = int(look_back)
        self._buf = np.zeros((2 * self.look_back, int(n_columns)), dtype=np.float64)
        self._end = 0
        self.count = 0          # rows pushed since the last reset

    def reset(self) -> None:
        self._end = 0
        self.count = 0

    def push(self, row: np.ndarray) -> None:
        if self._end == len(self._buf):
            keep = self.look_back - 1
            self._buf[:keep] = self._buf[self._end - keep:self._end]
            self._end = keep
        self._buf[self._end] = row
        self._end += 1
        self.count += 1

    @property
    def full(self) -> bool:
        return self.count >= self.look_back

    def window(self) -> np.ndarray:
        """The current window (look_back, n_columns), oldest row first (a view: copy to keep it)."""
        if not self.full:
            raise ValueError("the window is not full yet")
        return self._buf[self._end - self.look_back:self._end]


# -- columns derived from the row's time -----------------------------------------------------------------

PERIODS = {"day": 86400.0, "week": 604800.0}
WEEK_START = 4 * 86400.0                 # 1970-01-05, a Monday: week phase 0 is Monday 00:00
MAX_HARMONICS = 12
MAX_AHEAD = 64                           # profile columns (and forecast horizons) per row


def time_columns(feat: dict[str, Any]) -> list[str]:
    """Names of the columns a spec's ``features`` derive from each row's time, in input order: the harmonics
    (``day_sin1``, ``day_cos1``, ..., ``week_sin1``, ...) then the profile (``profile+0``, ``profile+3``, ...)."""
    names = [f"{p}_{f}{k}" for p, n in (feat.get("time") or {}).items()
             for k in range(1, n + 1) for f in ("sin", "cos")]
    prof = feat.get("profile")
    return names + ([f"profile+{a}" for a in prof["ahead_rows"]] if prof else [])


def time_values(times: np.ndarray, feat: dict[str, Any], step_seconds: float) -> np.ndarray:
    """(N,) row times (epoch seconds, wall clock) → (N, len(time_columns(feat))) float64: the columns derived from
    them. One function for training's whole series and the device's row at a time (an array of one)."""
    t = np.asarray(times, np.float64).reshape(-1)
    cols = []
    for period, n in (feat.get("time") or {}).items():
        phase = 2 * np.pi * (np.mod(t - (WEEK_START if period == "week" else 0.0), PERIODS[period]) / PERIODS[period])
        for k in range(1, n + 1):
            cols += [np.sin(k * phase), np.cos(k * phase)]
    prof = feat.get("profile")
    if prof:
        cols += [profile_at(t + a * step_seconds, prof) for a in prof["ahead_rows"]]
    return np.stack(cols, axis=1) if cols else np.zeros((len(t), 0))


def profile_at(times: np.ndarray, prof: dict[str, Any]) -> np.ndarray:
    """A periodic profile (``values``: one per slot of ``period_seconds``) at ``times``, linear between slot starts
    (a time on a slot start is that slot's value exactly)."""
    v = np.asarray(prof["values"], np.float64)
    slot = np.mod(np.asarray(times, np.float64), prof["period_seconds"]) / (prof["period_seconds"] / len(v))
    i = np.floor(slot).astype(np.int64) % len(v)
    frac = slot - np.floor(slot)
    return v[i] * (1.0 - frac) + v[(i + 1) % len(v)] * frac


def input_width(spec: Spec) -> int:
    """Columns of one raw row as the model's window holds it: the data columns and the time-derived ones."""
    return (len(spec.features.get("columns") or ()) or spec.input_shape[-1]) + len(time_columns(spec.features))


def horizon_rows(spec: Spec) -> list[int] | None:
    """Rows ahead of each forecast horizon (``target.horizons``, minutes); None for a next-row model."""
    minutes = (spec.target or {}).get("horizons")
    return None if not minutes else [int(round(m * 60 / row_step(spec))) for m in minutes]


# -- the ``rows`` feature type ------------------------------------------------------------------

def rows_features(columns, target: str, step_seconds: float = 300.0, fill: str | None = None,
                  max_fill_rows: int = 12, date_column: str = "Date",
                  date_format: str = "%Y-%m-%d %H:%M", time: dict[str, int] | None = None,
                  profile: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``features`` entry of a spec for a detector-rows front end: the input ``columns`` (in model order), the
    forecast ``target`` column, the row step, how time gaps are filled (``None``: never, a gap restarts the window;
    ``linear``/``previous`` for gaps of at most ``max_fill_rows`` rows), how the CSV's time column is named and
    written, and the columns derived from each row's time (``time`` harmonics, the target's ``profile``), if any."""
    feat = {"type": "rows", "columns": [str(c) for c in columns], "target": str(target),
            "step_seconds": float(step_seconds), "fill": fill, "max_fill_rows": int(max_fill_rows),
            "date_column": date_column, "date_format": date_format}
    if time:
        feat["time"] = {k: int(v) for k, v in time.items()}
    if profile:
        feat["profile"] = profile
    return feat


def row_step(spec: Spec) -> float:
    """Seconds from one row to the next: the spec's ``features.step_seconds`` (its ``sample_rate`` is the same
    step as rows per second, ``1 / step``, which validation checks)."""
    return float(spec.features.get("step_seconds", STEP_SECONDS))


def front_end(spec: Spec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """(batch, look_back, n_columns) raw rows (the data columns, then those derived from the row's time) → per-column
    min-max scaled float32 (the spec's scaler)."""
    n_cols = input_width(spec)
    names = ", ".join([*(spec.features.get("columns") or []), *time_columns(spec.features)])

    def raw_rows(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (spec.window, n_cols):
            raise EdgekitError(f"the model expects windows of {spec.window} rows × {n_cols} column(s) "
                               f"({names}), got {list(x.shape[1:])}")
        return x
    return raw_rows, 2


def describe(spec: Spec) -> str:
    """The rows front end in words, for ``edgekit info``."""
    feat = spec.features
    words = [f"rows of {', '.join(feat['columns'])} every {row_step(spec):g} s, look-back {spec.window}"]
    if feat.get("time"):
        words.append("time inputs " + ", ".join(f"{p} ({n} harmonic{'s' * (n > 1)})" for p, n in feat["time"].items()))
    prof = feat.get("profile")
    if prof:
        ahead = ", +".join(map(str, prof["ahead_rows"]))
        words.append(f"historical average of {feat['target']} ({len(prof['values'])} slots of "
                     f"{prof['period_seconds'] / len(prof['values']):g} s) at +{ahead} rows")
    minutes = (spec.target or {}).get("horizons")
    if minutes:
        words.append(f"forecasts {', '.join(f'{m:g}' for m in minutes)} min ahead")
    return "; ".join(words)


def validate(spec: Spec, bad) -> None:
    feat = spec.features
    cols = feat.get("columns")
    if not isinstance(cols, list) or not cols or len(cols) > 64 or \
            not all(isinstance(c, str) and c.strip() for c in cols) or len(set(cols)) != len(cols):
        raise bad(f"features.columns must be a list of 1–64 distinct column names, got {cols!r}")
    _validate_time(feat, bad)
    derived = time_columns(feat)
    if tuple(spec.input_shape) != (spec.window, len(cols) + len(derived)):
        raise bad(f"input_shape {list(spec.input_shape)} does not match {spec.window} rows × "
                  f"{len(cols) + len(derived)} column(s) {cols + derived}")
    if not isinstance(feat.get("target"), str) or not feat["target"].strip():
        raise bad(f"features.target must be a column name, got {feat.get('target')!r}")
    step = feat.get("step_seconds", 300.0)
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step <= 86400 * 366:
        raise bad(f"features.step_seconds must be a positive number of seconds, got {step!r}")
    if "step_seconds" in feat and abs(spec.sample_rate * step - 1.0) > 1e-6:
        raise bad(f"sample_rate {spec.sample_rate:g} rows/s is not one row every features.step_seconds = {step:g} s")
    if feat.get("fill") not in (None, "linear", "previous"):
        raise bad(f"features.fill must be null, 'linear' or 'previous', got {feat.get('fill')!r}")
    mf = feat.get("max_fill_rows", 12)
    if isinstance(mf, bool) or not isinstance(mf, int) or not 0 <= mf <= 100_000:
        raise bad(f"features.max_fill_rows must be an integer in [0, 100000], got {mf!r}")
    for k in ("date_column", "date_format"):
        if k in feat and (not isinstance(feat[k], str) or not feat[k].strip()):
            raise bad(f"features.{k} must be a non-empty string, got {feat[k]!r}")
    if "%" not in feat.get("date_format", "%"):
        raise bad("features.date_format must be a strptime format like '%Y-%m-%d %H:%M'")
    _validate_horizons(spec, float(step), bad)


def _whole(v: Any, lo: int, hi: int) -> bool:
    """``v`` is an integer (not a bool) in [lo, hi]."""
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _validate_time(feat: dict[str, Any], bad) -> None:
    """``features.time`` (harmonics per period) and ``features.profile`` (values per slot, rows ahead)."""
    tm = feat.get("time")
    if tm is not None and (not isinstance(tm, dict) or not set(tm) <= set(PERIODS) or
                           not all(_whole(n, 1, MAX_HARMONICS) for n in tm.values())):
        raise bad(f"features.time must map day and/or week to 1–{MAX_HARMONICS} harmonics, got {tm!r}"[:300])
    prof = feat.get("profile")
    if prof is None:
        return
    if not isinstance(prof, dict):
        raise bad("features.profile must be an object (period_seconds, values, ahead_rows)")
    period, values, ahead = prof.get("period_seconds"), prof.get("values"), prof.get("ahead_rows")
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not 0 < period <= 86400 * 366:
        raise bad(f"features.profile.period_seconds must be a positive number of seconds, got {period!r}")
    if not isinstance(values, list) or not 1 <= len(values) <= 100_000 or \
            not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise bad("features.profile.values must be a list of 1–100000 numbers (one per slot of the period)")
    if not isinstance(ahead, list) or not 1 <= len(ahead) <= MAX_AHEAD or \
            not all(_whole(a, 0, 100_000) for a in ahead):
        raise bad(f"features.profile.ahead_rows must be a list of 1–{MAX_AHEAD} whole numbers of rows, got "
                  f"{ahead!r}"[:300])


def _validate_horizons(spec: Spec, step: float, bad) -> None:
    """``target.horizons``: ascending minutes ahead, each a whole number of rows."""
    minutes = (spec.target or {}).get("horizons")
    if minutes is None:
        return
    if not isinstance(minutes, list) or not 1 <= len(minutes) <= MAX_AHEAD or \
            not all(isinstance(m, (int, float)) and not isinstance(m, bool) and 0 < m <= 525_600 for m in minutes):
        raise bad(f"target.horizons must be a list of 1–{MAX_AHEAD} positive numbers of minutes, got {minutes!r}"[:300])
    rows = [m * 60 / step for m in minutes]
    if any(abs(r - round(r)) > 1e-6 or round(r) < 1 for r in rows):
        raise bad(f"target.horizons {minutes} must be whole numbers of the {step / 60:g}-minute row step")
    if any(b <= a for a, b in zip(minutes, minutes[1:])):
        raise bad(f"target.horizons {minutes} must be in ascending order, each once")
