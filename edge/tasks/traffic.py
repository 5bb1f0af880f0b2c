"""The ``traffic`` task: detector rows (CSV lines) → rolling look-back window → a forecast of the next row.

``edge-run --model traffic_int8.tflite --source csv:PATH [--rate N]`` replays a detector CSV (as fast as
possible, or N rows per second); ``--source stdin`` reads the same CSV lines from a pipe, for a live feed
(``tail -n +1 -f detector.csv | edge-run ...``).

Each row is parsed (:class:`edgekit.edge.formats.rows.RowParser`), checked for time continuity
(:class:`~edgekit.edge.frontend.rows.Continuity`: a gap resets the window with a warning line, or is filled as the spec
says) and pushed into a :class:`~edgekit.edge.frontend.rows.RollingWindow`. From the first full window on, every row
gives a forecast of the next row's target, **emitted immediately** (the point of forecasting on a live feed). The next
row then scores it: the line emitted for that next row carries
``actual`` — the value that just arrived, which the *previous* line forecast — and the ``error`` of that
forecast. So in JSON each object is::

    {"t": "2017-04-03 00:05",          time being forecast (the next row)
     "forecast": 52.14,                 in the target's units (km/h for Speed)
     "from": "2017-04-03 00:00",        time of the newest row in the window (the row that just arrived)
     "actual": 50.3, "error": -0.84,    that row's value and (actual − its forecast); null if nothing
                                         forecast it (first window, after a gap)
     "running_mae": 3.1,                MAE of all scored forecasts so far
     "latency_ms": {...}}

A model of several horizons (``target.horizons``, minutes: ``edgekit train traffic --horizons 15,30,60``) forecasts
each of them from every window: ``forecast`` is the shortest horizon's (``t`` its time) and ``forecasts`` maps each
horizon (minutes, as text) to its value; when the row a forecast was made for arrives, ``errors`` maps each horizon to
the error of the forecast made that long before for this row (null if none was: the first windows, after a gap), and
``actual``/``error`` are the row's value and the shortest horizon's error. A gap that resets the window also drops the
forecasts still waiting for their row, as it does for one horizon.

A malformed row is reported on stderr with its line number, skipped and counted; a row not later than the previous one
counts as malformed too. The summary: rows, windows (= forecasts), scored forecasts, malformed rows, gaps, MAE/RMSE of
the forecasts against the rows that followed, the same for a persistence forecast (the last row's value) on the same
rows — per horizon under ``by_horizon`` for a model of several, the shortest one's at the top — and latency percentiles
per stage.
"""
from __future__ import annotations

import heapq
import math
import time
from typing import Any, Iterator

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend.rows import (FILLS, MAX_FILL_ROWS, Continuity, RollingWindow, format_time, horizon_rows,
                                        input_width, row_step, time_columns, time_values)
from edgekit.edge.formats.rows import DATE_COLUMN, DATE_FORMAT, RowParser
from edgekit.edge.outputs.text import stage_times
from edgekit.edge.tasks.base import Input, Options, Run, Sink, Task, Times


def _finite_or_none(v: float | None, nd: int = 6) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


class _Score:
    """Running absolute and squared error."""

    def __init__(self):
        self.n = 0
        self.abs = 0.0
        self.sq = 0.0

    def add(self, err: float) -> None:
        self.n += 1
        self.abs += abs(err)
        self.sq += err * err

    @property
    def mae(self) -> float | None:
        return self.abs / self.n if self.n else None

    @property
    def rmse(self) -> float | None:
        return math.sqrt(self.sq / self.n) if self.n else None


class TrafficRun(Run):
    """One feed of detector rows: a forecast of the next row from every full look-back window."""

    check_input = False    # the row parser refuses non-finite values

    def __init__(self, spec: Spec, source: Any, sink: Sink, opt: Options):
        feat = spec.features
        if feat.get("type") != "rows" or spec.target is None:
            raise EdgekitError(f"not a traffic model (task {spec.task!r}); detector rows need a model trained "
                               "with 'edgekit train traffic'")
        super().__init__(spec, source, sink, opt)
        self.rate = opt.rate
        self.columns = list(feat["columns"])
        self.target = spec.target.get("column", feat.get("target"))
        wanted = self.columns + ([self.target] if self.target not in self.columns else [])
        self.t_idx = wanted.index(self.target)
        self.step = row_step(spec)
        fill = feat.get("fill")
        self.fill = fill if fill in FILLS else None
        self.cont = Continuity(self.step, self.fill, int(feat.get("max_fill_rows", MAX_FILL_ROWS)))
        self.window = RollingWindow(spec.window, input_width(spec))
        self.timed = bool(time_columns(feat))     # columns derived from each row's time follow the data columns
        self.units = spec.target.get("units", "")
        self.ahead = horizon_rows(spec)           # rows ahead of each horizon; None: the next row (one output)
        self.minutes = [f"{m:g}" for m in spec.target.get("horizons") or ()]
        self.parser = RowParser(wanted, date_column=feat.get("date_column", DATE_COLUMN),
                                date_format=feat.get("date_format", DATE_FORMAT), source=source.name,
                                on_skip=lambda line, msg: sink.warn(f"{source.name}: line {line}: {msg}; row "
                                                                    "skipped"), on_note=sink.note)
        self.scores = [(_Score(), _Score()) for _ in self.ahead or [1]]    # (model, persistence) per horizon
        self.score, self.persist = self.scores[0]
        self.gaps = self.resets = self.filled_rows = self.forecasts = self.seen = 0
        # forecasts waiting for their row: (time forecast, order made, horizon index, forecast, persistence)
        self.pending: list[tuple[float, int, int, float, float]] = []
        self.first_t: float | None = None     # times of the first and the last good row
        self.last_t: float | None = None
        self.t_start = time.perf_counter()

    def _paced(self, lines: Iterator[str]) -> Iterator[str]:
        """Lines as they come, or one data line every 1/rate seconds (the header is not delayed)."""
        if self.rate is None:
            yield from lines
            return
        n = 0
        for line in lines:
            if n:
                delay = self.t_start + n / self.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            n += 1
            yield line

    def inputs(self) -> Iterator[Input]:
        cont, window, sink, name = self.cont, self.window, self.sink, self.source.name
        n_cols = len(self.columns)
        for row in self.parser.parse(self._paced(self.source.lines())):
            self.seen += 1
            prev_t = cont.last_t
            kind, missing, filled = cont.advance(row.t, row.values)
            if kind == "back":
                self.parser.skipped += 1
                self.parser.rows -= 1
                sink.warn(f"{name}: line {row.line}: time {format_time(row.t)} is not after the previous "
                          f"row's {format_time(prev_t)}; row skipped")
                continue
            if self.first_t is None:
                self.first_t = row.t
            self.last_t = row.t
            actual = float(row.values[self.t_idx])
            if kind == "gap":
                self.pending.clear()              # the window restarts: so does scoring
            errors = self._score(row.t, actual)
            scored = (actual, errors[0]) if any(e is not None for e in errors) else None
            if kind in ("gap", "fill"):
                self.gaps += 1
                prev = format_time(prev_t)
                if kind == "gap":
                    self.resets += window.count >= 1
                    window.reset()
                    sink.warn(f"{name}: line {row.line}: gap of {missing} missing row(s) between {prev} and "
                              f"{format_time(row.t)}; window reset, the next forecast needs "
                              f"{self.spec.window} consecutive rows")
                else:
                    for j, r in enumerate(filled):
                        window.push(self._row(r[:n_cols], prev_t + (j + 1) * self.step))
                    self.filled_rows += len(filled)
                    sink.warn(f"{name}: line {row.line}: gap of {missing} missing row(s) between {prev} and "
                              f"{format_time(row.t)}; filled ({self.fill}) as the model's spec says")
            window.push(self._row(row.values[:n_cols], row.t))
            if window.full:
                yield Input(window.window(), {"t": row.t, "actual": actual, "scored": scored, "errors": errors})

    def _row(self, values: np.ndarray, t: float) -> np.ndarray:
        """A row as the window holds it: its data columns, then the columns derived from its time (if any)."""
        if not self.timed:
            return values
        return np.concatenate([values, time_values(np.array([t]), self.spec.features, self.step)[0]])

    def _score(self, t: float, actual: float) -> list[float | None]:
        """Score the forecasts made for the row at ``t`` (one per horizon at most; forecasts for rows that never
        came, such as filled ones, are dropped); each horizon's error, None where nothing forecast this row."""
        errors: list[float | None] = [None] * len(self.scores)
        pending = self.pending
        while pending and pending[0][0] < t + 1e-6:
            t_for, _, h, forecast, last = heapq.heappop(pending)
            if t_for > t - 1e-6:
                errors[h] = actual - forecast
                self.scores[h][0].add(errors[h])
                self.scores[h][1].add(actual - last)
        return errors

    def where(self, item: Input) -> str:
        return f"{self.source.name}: the window ending {format_time(item.meta['t'])}"

    def result(self, item: Input, value: float | list[float], latency_ms: dict[str, float]) -> dict[str, Any]:
        t, scored = item.meta["t"], item.meta["scored"]
        values = value if self.ahead else [value]
        for h, (rows, v) in enumerate(zip(self.ahead or [1], values)):
            heapq.heappush(self.pending, (t + rows * self.step, self.forecasts * len(values) + h, h, v,
                                          item.meta["actual"]))
        self.forecasts += 1
        r = {"t": format_time(t + (self.ahead or [1])[0] * self.step), "forecast": round(values[0], 6),
             "units": self.units, "from": format_time(t), "actual": scored[0] if scored else None,
             "error": _finite_or_none(scored[1]) if scored and scored[1] is not None else None,
             "running_mae": _finite_or_none(self.score.mae), "latency_ms": latency_ms}
        if self.ahead:
            r["forecasts"] = {m: round(v, 6) for m, v in zip(self.minutes, values)}
            r["errors"] = {m: _finite_or_none(e) for m, e in zip(self.minutes, item.meta["errors"])}
            r["latency_ms"] = r.pop("latency_ms")                 # (last, as in a one-horizon line)
        return r

    def empty(self, invalid: int) -> EdgekitError:
        p = self.parser
        if p.header is None:
            return EdgekitError(f"{self.source.name}: no rows (an empty feed; expected a detector CSV with a "
                                "header Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate)")
        return EdgekitError(f"{self.source.name}: the source ended before one full window ({p.rows} good rows, "
                            f"{p.skipped} malformed, {self.gaps} gap(s); the model needs {self.spec.window} "
                            f"consecutive rows = {self.spec.window * self.step / 3600:g} h)")

    def summary(self, times: Times, *, stopped: str | None, invalid: int) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.t_start
        p = self.parser
        s = {
            "task": "traffic", "target": self.target, "units": self.units, "look_back": self.spec.window,
            "rows": p.rows, "malformed_rows": p.skipped, "gaps": self.gaps, "filled_rows": self.filled_rows,
            "resets": self.resets, "windows": self.forecasts, "forecasts": self.forecasts,
            "invalid_windows": invalid, "scored": self.score.n,
            "mae": _finite_or_none(self.score.mae), "rmse": _finite_or_none(self.score.rmse),
            "persistence": {"mae": _finite_or_none(self.persist.mae), "rmse": _finite_or_none(self.persist.rmse)},
            "first_t": format_time(self.first_t) if self.first_t is not None else None,
            "last_t": format_time(self.last_t) if self.last_t is not None else None,
            "stopped_by": stopped or "end of source", "rate": self.rate,
            "rows_per_second": round(self.seen / elapsed, 1) if elapsed > 0 else None,
        }
        if self.ahead:
            s["horizons"] = list(self.spec.target["horizons"])
            s["by_horizon"] = {m: {"scored": sc.n, "mae": _finite_or_none(sc.mae), "rmse": _finite_or_none(sc.rmse),
                                   "persistence": {"mae": _finite_or_none(ps.mae), "rmse": _finite_or_none(ps.rmse)}}
                               for m, (sc, ps) in zip(self.minutes, self.scores)}
        return s


class TrafficTask(Task):
    """Detector rows → rolling look-back window → a forecast of the next row."""

    name = "traffic"
    kinds = ("regression",)
    sources = ("csv", "stdin")
    what = "detector rows"
    source_help = ("a traffic model reads detector rows; use csv:PATH or stdin (make a CSV with 'edgekit data "
                   "synth traffic --out PATH.csv')")
    run_class = TrafficRun

    def window_problem(self, window: int, sample_rate: float) -> str | None:
        """Why a spec's look-back is absurd, or None."""
        return f"look-back window of {window} rows is absurd" if window > 100_000 else None

    def check_options(self, opt: Options) -> None:
        """A one-line error for flags this task does not take."""
        if opt.hop is not None or opt.duration is not None:
            raise EdgekitError("--hop and --duration apply to signal models; a traffic model forecasts every "
                               "row (use --rate to pace a replay)")
        if opt.rate is not None and not opt.rate > 0:
            raise EdgekitError(f"--rate {opt.rate}: give a positive number of rows per second")

    def open_source(self, src: str, spec: Spec, opt: Options) -> Any:
        from edgekit.edge.sources.rows import open_rows_source
        return open_rows_source(src)

    def format_result(self, r: dict[str, Any]) -> str:
        """One forecast line: time forecast, value, and the score of the previous forecast; for a model of several
        horizons: the newest row's time, every horizon's forecast, that row's value and the errors of the forecasts
        made for it."""
        if "forecasts" in r:
            return _horizons_line(r)
        prev = ""
        if r.get("actual") is not None:
            err = "n/a: not finite" if r["error"] is None else f"{r['error']:+.2f}"
            prev = f"  | {r['from'][-5:]} actual {r['actual']:.2f} (error {err})"
        return f"{r['t']}  forecast {r['forecast']:7.2f} {r.get('units', '')}{prev}  {stage_times(r['latency_ms'])}"

    def format_summary(self, s: dict[str, Any]) -> tuple[list[str], list[str]]:
        u = s.get("units", "")
        head = [f"summary: {s['forecasts']} forecasts of {s['target']} from {s['rows']} rows of {s['source']} "
                f"({s['first_t']} to {s['last_t']}, {s['stopped_by']})",
                f"  model       {s['model']}  [{s['backend']}, {s['precision']}], look-back {s['look_back']} rows",
                f"  skipped     {s['malformed_rows']} malformed rows; {s['gaps']} gaps ({s['resets']} window resets, "
                f"{s['filled_rows']} rows filled)"]
        f = lambda v: "n/a (not finite)" if v is None else f"{v:.3f}"  # noqa: E731  (errors can overflow)
        if "by_horizon" in s:
            for m, h in s["by_horizon"].items():
                p = h["persistence"]
                head.append(f"  +{m} min{' ' * max(0, 6 - len(m))}MAE {f(h['mae'])} {u}, RMSE {f(h['rmse'])} {u} on "
                            f"{h['scored']} forecasts whose row came (persistence: MAE {f(p['mae'])}, RMSE "
                            f"{f(p['rmse'])})" if h["scored"] else f"  +{m} min  no forecast's row came")
        elif s["scored"]:
            p = s["persistence"]
            head.append(f"  accuracy    MAE {f(s['mae'])} {u}, RMSE {f(s['rmse'])} {u} on {s['scored']} forecasts "
                        f"with a next row (persistence: MAE {f(p['mae'])}, RMSE {f(p['rmse'])})")
        else:
            head.append("  accuracy    no forecast had a next row to compare with")
        return head, []

    def raw_shape(self, spec: Spec) -> tuple[int, ...]:
        """``window`` rows of the spec's columns (and the columns derived from each row's time)."""
        return (int(spec.window), input_width(spec))

    def bench_windows(self, spec: Spec, n: int, seed: int) -> tuple[np.ndarray, str]:
        """Uniform values inside the spec's per-column min-max scaling (inputs in the trained range, so int8
        inputs do not saturate), uniform [0, 1) without one."""
        rng = np.random.default_rng(seed)
        shape = self.raw_shape(spec)
        norm = spec.normalization
        if norm.get("type") == "minmax":
            lo = np.broadcast_to(np.asarray(norm["min"], np.float64), shape[-1:])
            hi = np.broadcast_to(np.asarray(norm["max"], np.float64), shape[-1:])
            return (lo + (hi - lo) * rng.random((n, *shape))).astype(np.float32), "random data of the window's shape"
        return rng.random((n, *shape)).astype(np.float32), "random data of the window's shape"

    def seconds_per_answer(self, spec: Spec) -> float:
        """One new row per forecast: the look-back slides by a row."""
        return row_step(spec)

    def describe(self, spec: Spec) -> str:
        return f"rows every {row_step(spec):g} s, look-back {spec.window} rows"

    def bench_what(self, spec: Spec) -> str:
        minutes = spec.target.get("horizons") if spec.target else None
        what = f"forecasts {', '.join(f'{m:g}' for m in minutes)} min ahead" if minutes else "one new row per forecast"
        return f"look-back {spec.window} rows of {self.seconds_per_answer(spec):g} s, {what}"


def _horizons_line(r: dict[str, Any]) -> str:
    """The text line of a forecast of several horizons."""
    u = r.get("units", "")
    line = f"{r['from']}  forecast " + ", ".join(f"+{m} min {v:7.2f}" for m, v in r["forecasts"].items()) + f" {u}"
    if r.get("actual") is not None:
        errs = ", ".join(f"+{m} min " + ("n/a" if e is None else f"{e:+.2f}") for m, e in r["errors"].items())
        line += f"  | actual {r['actual']:.2f} (errors {errs})"
    return f"{line}  {stage_times(r['latency_ms'])}"
