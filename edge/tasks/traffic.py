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

A malformed row is reported on stderr with its line number, skipped and counted; a row not later than the previous one
counts as malformed too. The summary: rows, windows (= forecasts), scored forecasts, malformed rows, gaps, MAE/RMSE of
the forecasts against the rows that followed, the same for a persistence forecast (next = last) on the same rows, and
latency percentiles per stage.
"""
from __future__ import annotations

import math
import time
from typing import Any, Iterator

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend.rows import (FILLS, MAX_FILL_ROWS, Continuity, RollingWindow, row_step, format_time)
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
        self.window = RollingWindow(spec.window, len(self.columns))
        self.units = spec.target.get("units", "")
        self.parser = RowParser(wanted, date_column=feat.get("date_column", DATE_COLUMN),
                                date_format=feat.get("date_format", DATE_FORMAT), source=source.name,
                                on_skip=lambda line, msg: sink.warn(f"{source.name}: line {line}: {msg}; row "
                                                                    "skipped"), on_note=sink.note)
        self.score, self.persist = _Score(), _Score()
        self.gaps = self.resets = self.filled_rows = self.forecasts = self.seen = 0
        self.pending: tuple[float, float, float] | None = None   # (time forecast, forecast, persistence)
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
            scored = None
            pending, self.pending = self.pending, None
            if pending is not None and kind == "next" and abs(pending[0] - row.t) < 1e-6:
                err = actual - pending[1]
                self.score.add(err)
                self.persist.add(actual - pending[2])
                scored = (actual, err)
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
                    for r in filled:
                        window.push(r[:n_cols])
                    self.filled_rows += len(filled)
                    sink.warn(f"{name}: line {row.line}: gap of {missing} missing row(s) between {prev} and "
                              f"{format_time(row.t)}; filled ({self.fill}) as the model's spec says")
            window.push(row.values[:n_cols])
            if window.full:
                yield Input(window.window(), {"t": row.t, "actual": actual, "scored": scored})

    def where(self, item: Input) -> str:
        return f"{self.source.name}: the window ending {format_time(item.meta['t'])}"

    def result(self, item: Input, value: float, latency_ms: dict[str, float]) -> dict[str, Any]:
        t, scored = item.meta["t"], item.meta["scored"]
        self.forecasts += 1
        t_next = t + self.step
        self.pending = (t_next, value, item.meta["actual"])
        return {"t": format_time(t_next), "forecast": round(value, 6), "units": self.units,
                "from": format_time(t), "actual": scored[0] if scored else None,
                "error": _finite_or_none(scored[1]) if scored else None,
                "running_mae": _finite_or_none(self.score.mae), "latency_ms": latency_ms}

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
        return {
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
        """One forecast line: time forecast, value, and the score of the previous forecast."""
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
        if s["scored"]:
            f = lambda v: "n/a (not finite)" if v is None else f"{v:.3f}"  # noqa: E731  (errors can overflow)
            p = s["persistence"]
            head.append(f"  accuracy    MAE {f(s['mae'])} {u}, RMSE {f(s['rmse'])} {u} on {s['scored']} forecasts "
                        f"with a next row (persistence: MAE {f(p['mae'])}, RMSE {f(p['rmse'])})")
        else:
            head.append("  accuracy    no forecast had a next row to compare with")
        return head, []

    def raw_shape(self, spec: Spec) -> tuple[int, ...]:
        """``window`` rows of the spec's columns."""
        return (int(spec.window), len(spec.features.get("columns") or ()) or int(spec.input_shape[-1]))

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
        return f"look-back {spec.window} rows of {self.seconds_per_answer(spec):g} s, one new row per forecast"
