"""The streaming loop for detector rows (task ``traffic``): CSV lines → rows → rolling window → forecast.

``edge-run --model traffic_int8.tflite --source csv:PATH [--rate N]`` replays a detector CSV (as fast as
possible, or N rows per second); ``--source stdin`` reads the same CSV lines from a pipe, for a live feed
(``tail -n +1 -f detector.csv | edge-run ...``).

Each row is parsed (:class:`edgekit.edge.io.rows.RowParser`), checked for time continuity
(:class:`~edgekit.edge.io.rows.Continuity`: a gap resets the window with a warning line, or is filled as the
spec says) and pushed into a :class:`~edgekit.edge.io.rows.RollingWindow`. From the first full window on,
every row gives a forecast of the next row's target, **emitted immediately** (the point of forecasting
on a live feed). The next row then scores it: the line emitted for that next row carries ``actual`` —
the value that just arrived, which the *previous* line forecast — and the ``error`` of that forecast.
So in JSON each object is::

    {"t": "2017-04-03 00:05",          time being forecast (the next row)
     "forecast": 52.14,                 in the target's units (km/h for Speed)
     "from": "2017-04-03 00:00",        time of the newest row in the window (the row that just arrived)
     "actual": 50.3, "error": -0.84,    that row's value and (actual − its forecast); null if nothing
                                         forecast it (first window, after a gap)
     "running_mae": 3.1,                MAE of all scored forecasts so far
     "latency_ms": {...}}

A malformed row is reported on stderr with its line number, skipped and counted; a row not later than
the previous one counts as malformed too. The summary: rows, windows (= forecasts), scored forecasts,
malformed rows, gaps, MAE/RMSE of the forecasts against the rows that followed, the same for a
persistence forecast (next = last) on the same rows, and latency percentiles per stage.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator


from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError
from edgekit.edge.model.model import Model
from edgekit.edge.pipeline.step import timed_step
from edgekit.edge.pipeline.postprocess import postprocessor
from edgekit.edge.io.rows import (DATE_COLUMN, DATE_FORMAT, FILLS, MAX_FILL_ROWS, STEP_SECONDS, Continuity, RollingWindow,
                   RowParser, format_time)
from edgekit.edge.pipeline.stats import StageTimes


class RowsSource:
    """Text lines of a detector CSV: a file (``csv:PATH``) or standard input (``stdin``)."""

    def __init__(self, name: str, lines: Iterable[str], close=None):
        self.name = name
        self._lines = lines
        self._close = close

    def lines(self) -> Iterator[str]:
        return iter(self._lines)

    def close(self) -> None:
        if self._close is not None:
            self._close()


def open_rows_source(src: str, stdin=None) -> RowsSource:
    kind, _, arg = src.partition(":")
    if kind == "csv" and arg:
        p = Path(arg)
        try:
            # undecodable bytes stay in their line (as surrogates), which then fails as one malformed row
            f = open(p, newline="", encoding="utf-8-sig", errors="surrogateescape")
        except FileNotFoundError:
            raise EdgekitError(f"{arg}: no such file; give a detector CSV (--source csv:PATH)") from None
        except OSError as e:
            raise EdgekitError(f"{arg}: cannot open it ({e.strerror or e})") from None
        return RowsSource(f"csv:{arg}", f, f.close)
    if kind == "stdin" and not arg:
        stream = stdin if stdin is not None else sys.stdin
        return RowsSource("stdin", iter(stream.readline, ""))
    raise EdgekitError(f"--source {src!r}: a traffic model reads detector rows; use csv:PATH or stdin "
                       "(make a CSV with 'edgekit data synth traffic --out PATH.csv')")


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


def run_rows_stream(model: Model, source: RowsSource | Iterable[str], sink, rate: float | None = None,
                    ) -> dict[str, Any]:
    """Forecast the next row for every full window of the stream; see the module docstring."""
    if not isinstance(source, RowsSource):
        source = RowsSource("rows", source)
    spec = model.spec
    feat = spec.features
    if spec.task != "traffic" or feat.get("type") != "rows" or spec.target is None:
        raise EdgekitError(f"{model.path}: not a traffic model (task {spec.task!r}); detector rows need a "
                           "model trained with 'edgekit train traffic'")
    if rate is not None and not rate > 0:
        raise EdgekitError(f"--rate {rate}: give a positive number of rows per second")
    columns = list(feat["columns"])
    target = spec.target.get("column", feat.get("target"))
    wanted = columns + ([target] if target not in columns else [])
    t_idx = wanted.index(target)
    step = float(feat.get("step_seconds", STEP_SECONDS))
    fill = feat.get("fill")
    fill = fill if fill in FILLS else None
    cont = Continuity(step, fill, int(feat.get("max_fill_rows", MAX_FILL_ROWS)))
    window = RollingWindow(spec.window, len(columns))
    front, post = fe.build(spec), postprocessor(spec)
    target_spec = spec.target
    units = target_spec.get("units", "")
    parser = RowParser(wanted, date_column=feat.get("date_column", DATE_COLUMN),
                       date_format=feat.get("date_format", DATE_FORMAT), source=source.name,
                       on_skip=lambda line, msg: sink.warn(f"{source.name}: line {line}: {msg}; row skipped"),
                       on_note=sink.note)
    times = StageTimes()
    score, persist = _Score(), _Score()
    forecasts = gaps = resets = filled_rows = 0
    pending: tuple[float, float, float] | None = None    # (time forecast, forecast, persistence forecast)
    first_t = last_t = None
    stopped_by = "end of source"
    pc = time.perf_counter
    t_start = pc()
    n_seen = 0
    try:
        for row in parser.parse(_paced(source.lines(), rate, t_start)):
            n_seen += 1
            prev_t = cont.last_t
            kind, missing, filled = cont.advance(row.t, row.values)
            if kind == "back":
                parser.skipped += 1
                parser.rows -= 1
                sink.warn(f"{source.name}: line {row.line}: time {format_time(row.t)} is not after the previous "
                          f"row's {format_time(prev_t)}; row skipped")
                continue
            if first_t is None:
                first_t = row.t
            last_t = row.t
            actual = float(row.values[t_idx])
            scored = None
            if pending is not None and kind == "next" and abs(pending[0] - row.t) < 1e-6:
                err = actual - pending[1]
                score.add(err)
                persist.add(actual - pending[2])
                scored = (actual, err)
            pending = None
            if kind in ("gap", "fill"):
                gaps += 1
                prev = format_time(prev_t)
                if kind == "gap":
                    resets += window.count >= 1
                    window.reset()
                    sink.warn(f"{source.name}: line {row.line}: gap of {missing} missing row(s) between {prev} "
                              f"and {format_time(row.t)}; window reset, the next forecast needs "
                              f"{spec.window} consecutive rows")
                else:
                    for r in filled:
                        window.push(r[:len(columns)])
                    filled_rows += len(filled)
                    sink.warn(f"{source.name}: line {row.line}: gap of {missing} missing row(s) between {prev} "
                              f"and {format_time(row.t)}; filled ({fill}) as the model's spec says")
            window.push(row.values[:len(columns)])
            if not window.full:
                continue
            value, lat = timed_step(model, front, post, window.window())
            times.add(lat)
            forecasts += 1
            t_next = row.t + step
            pending = (t_next, value, actual)
            sink.forecast({
                "t": format_time(t_next), "forecast": round(value, 6), "units": units,
                "from": format_time(row.t),
                "actual": scored[0] if scored else None,
                "error": _finite_or_none(scored[1]) if scored else None,
                "running_mae": _finite_or_none(score.mae),
                "latency_ms": {k: round(v, 4) for k, v in lat.items()},
            })
    except KeyboardInterrupt:
        stopped_by = "interrupted"
    finally:
        source.close()
    if parser.header is None and stopped_by != "interrupted":
        raise EdgekitError(f"{source.name}: no rows (an empty feed; expected a detector CSV with a header "
                           "Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate)")
    if forecasts == 0 and stopped_by != "interrupted":
        raise EdgekitError(f"{source.name}: the source ended before one full window ({parser.rows} good rows, "
                           f"{parser.skipped} malformed, {gaps} gap(s); the model needs {spec.window} "
                           f"consecutive rows = {spec.window * step / 3600:g} h)")
    elapsed = pc() - t_start
    return {
        "source": source.name, "model": str(model.path), "backend": model.backend.name,
        "precision": model.precision, "task": "traffic", "target": target, "units": units,
        "look_back": spec.window, "rows": parser.rows, "malformed_rows": parser.skipped,
        "gaps": gaps, "filled_rows": filled_rows, "resets": resets,
        "windows": forecasts, "forecasts": forecasts, "scored": score.n,
        "mae": _finite_or_none(score.mae), "rmse": _finite_or_none(score.rmse),
        "persistence": {"mae": _finite_or_none(persist.mae), "rmse": _finite_or_none(persist.rmse)},
        "first_t": format_time(first_t) if first_t is not None else None,
        "last_t": format_time(last_t) if last_t is not None else None,
        "stopped_by": stopped_by, "rate": rate,
        "rows_per_second": round(n_seen / elapsed, 1) if elapsed > 0 else None,
        "latency_ms": times.summary(),
    }


def _paced(lines: Iterator[str], rate: float | None, t_start: float) -> Iterator[str]:
    """Lines as they come, or one data line every 1/rate seconds (the header is not delayed)."""
    if rate is None:
        yield from lines
        return
    n = 0
    for line in lines:
        if n:
            delay = t_start + n / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        n += 1
        yield line


def edge_run_rows(model: Model, src: str, *, as_json: bool = False, quiet: bool = False,
                  rate: float | None = None, hop: float | None = None, duration: float | None = None) -> int:
    """``edge-run`` for a traffic model: open the rows source, stream, print the summary."""
    from edgekit.edge.io.sinks import JsonSink, TextSink

    if hop is not None or duration is not None:
        raise EdgekitError("--hop and --duration apply to signal models; a traffic model forecasts every row "
                           "(use --rate to pace a replay)")
    source = open_rows_source(src)
    sink = JsonSink() if as_json else TextSink(quiet=quiet)
    summary = run_rows_stream(model, source, sink, rate=rate)
    sink.forecast_summary(summary)
    return 0
