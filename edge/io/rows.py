"""Detector rows on the device: a CSV row parser, time-gap handling and a rolling window.

Vehicle-detector exports (``Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate``, one row every 5 minutes, CRLF
line endings, ``YYYY-MM-DD H:MM`` dates) are read with the ``csv`` module and numpy only: the device never
imports pandas. Training parses the same files with pandas (``edgekit.train.traffic``) but assembles rows
into gap-aware series with :func:`assemble` from this module, so a gap is handled the same way on both
sides.

Columns are matched by a normalised key (case, spaces and punctuation ignored), so ``Occ.Rate`` and
``OccRate`` are the same column. A line that cannot be parsed is reported (with its line number) and
skipped by :class:`RowParser`; the caller counts it. A missing required column is fatal.

Continuity (:class:`Continuity`): consecutive rows ``step_seconds`` apart continue the series. A larger
step is a gap: with ``fill`` set (``linear`` or ``previous``) and at most ``max_fill_rows`` rows missing,
the missing rows are filled in; otherwise the series restarts there (a rolling window is reset). A row
that is not later than the previous one is malformed (duplicate or out of order).
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from edgekit.edge.errors import EdgekitError

VDS_COLUMNS = ("Date", "ToVol", "SmVol", "MeVol", "LaVol", "Speed", "Occ.Rate")
DATE_COLUMN = "Date"
DATE_FORMAT = "%Y-%m-%d %H:%M"          # accepts "2017-04-02 0:05" as well as "2017-04-02 00:05"
STEP_SECONDS = 300.0
FILLS = ("linear", "previous")
MAX_FILL_ROWS = 12                       # one hour of 5-minute rows
_TIME_TOLERANCE = 1e-6


def column_key(name: str) -> str:
    """The matching key of a column name: lower case, letters and digits only (``Occ.Rate`` → ``occrate``)."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def units_of(column: str, step_seconds: float = STEP_SECONDS) -> str:
    """Physical units of a VDS column (for messages and the spec's target)."""
    key = column_key(column)
    if key == "speed":
        return "km/h"
    if key in ("tovol", "smvol", "mevol", "lavol"):
        return f"vehicles/{step_seconds / 60:g} min"
    if key == "occrate":
        return "%"
    return ""


def match_columns(header: Sequence[str], wanted: Sequence[str], source: str, line: int = 1) -> list[int]:
    """Index in ``header`` of each ``wanted`` column (matched by :func:`column_key`); a one-line error names
    the first missing one."""
    keys: dict[str, int] = {}
    for i, h in enumerate(header):
        k = column_key(h)
        if k and k in keys:
            raise EdgekitError(f"{source}: line {line} (header): columns {header[keys[k]]!r} and {h!r} are the "
                               "same column; rename one")
        keys.setdefault(k, i)
    out = []
    for w in wanted:
        i = keys.get(column_key(w))
        if i is None:
            have = ", ".join(h for h in header if h.strip()) or "nothing"
            raise EdgekitError(f"{source}: line {line} (header): column {w!r} is missing (the header has "
                               f"{have}); export the detector data with a {w} column")
        out.append(i)
    return out


def parse_time(text: str, fmt: str = DATE_FORMAT) -> float:
    """A timestamp → seconds since the epoch. Times are wall-clock detector times, treated as UTC so that
    differences are exact; ValueError if ``text`` does not match ``fmt``."""
    return datetime.strptime(text.strip(), fmt).replace(tzinfo=timezone.utc).timestamp()


def format_time(t: float) -> str:
    """Seconds since the epoch → ``YYYY-MM-DD HH:MM`` (``:SS`` added when not on a whole minute)."""
    d = datetime.fromtimestamp(t, timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S" if d.second else "%Y-%m-%d %H:%M")


def describe_format(fmt: str) -> str:
    return fmt.replace("%Y", "YYYY").replace("%m", "MM").replace("%d", "DD").replace("%H", "H") \
        .replace("%M", "MM").replace("%S", "SS")


@dataclass
class Row:
    """One parsed data row: its line number, time (epoch seconds) and the wanted columns' values."""

    line: int
    t: float
    values: np.ndarray


class RowParser:
    """Parses detector CSV lines one at a time (a file or a live feed) into :class:`Row`\\ s.

    ``columns``     the value columns wanted, in order (the model's input columns and the target)
    ``on_skip``     called with (line_number, message) for each malformed row, which is skipped
    ``on_note``     called with informational messages (e.g. a missing header)

    The first non-blank line is the header. A feed without one (``tail -f detector.csv``) is accepted if
    its first field is a time: the VDS column order is assumed, with a note. A header line repeated later
    (files concatenated) switches to its column order. Blank lines carry no data and are ignored.
    """

    def __init__(self, columns: Sequence[str], *, date_column: str = DATE_COLUMN,
                 date_format: str = DATE_FORMAT, source: str = "csv",
                 on_skip: Callable[[int, str], None] | None = None,
                 on_note: Callable[[str], None] | None = None):
        self.columns = list(columns)
        self.date_column = date_column
        self.date_format = date_format
        self.source = source
        self.on_skip = on_skip
        self.on_note = on_note
        self.header: list[str] | None = None
        self._idx: list[int] = []
        self._date_idx = 0
        self._width = 0
        self.skipped = 0
        self.rows = 0
        self.lines = 0
        self._last_line = 0

    # -- header ------------------------------------------------------------------------------------
    def _set_header(self, fields: list[str], line: int) -> None:
        fields = [f.strip().lstrip("\ufeff") for f in fields]
        self._date_idx, *self._idx = match_columns(fields, [self.date_column, *self.columns], self.source, line)
        self.header = fields
        self._width = len(fields)

    def _looks_like_time(self, text: str) -> bool:
        try:
            parse_time(text, self.date_format)
            return True
        except ValueError:
            return False

    # -- rows ----------------------------------------------------------------------------------------
    def _skip(self, line: int, msg: str) -> None:
        self.skipped += 1
        if self.on_skip is not None:
            self.on_skip(line, msg)

    def feed(self, fields: list[str], line: int) -> Row | None:
        """One CSV record (already split into fields) at ``line`` → a Row, or None (header, blank, skipped)."""
        self.lines = line
        if not fields or all(not f.strip() for f in fields):
            return None
        if self.header is None:
            first = fields[0].strip().lstrip("\ufeff")
            if self._looks_like_time(first) and len(fields) == len(VDS_COLUMNS):
                if self.on_note is not None:
                    self.on_note(f"{self.source}: no header line; assuming the VDS columns "
                                 f"{','.join(VDS_COLUMNS)}")
                self._set_header(list(VDS_COLUMNS), line)
            else:
                self._set_header(fields, line)
                return None
        date_text = fields[self._date_idx].strip() if self._date_idx < len(fields) else ""
        if column_key(date_text) == column_key(self.date_column) and not self._looks_like_time(date_text):
            self._set_header(fields, line)                       # a repeated header
            if self.on_note is not None:
                self.on_note(f"{self.source}: line {line}: a header line again; reading its column order")
            return None
        if len(fields) != self._width:
            self._skip(line, f"the row has {len(fields)} fields, the header has {self._width}")
            return None
        try:
            t = parse_time(date_text, self.date_format)
        except ValueError:
            self._skip(line, f"column {self.header[self._date_idx]!r}: {date_text!r} is not a "
                             f"{describe_format(self.date_format)} time")
            return None
        values = np.empty(len(self._idx), dtype=np.float64)
        for k, i in enumerate(self._idx):
            text = fields[i].strip()
            try:
                v = float(text)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                what = "is empty" if not text else f"{text!r} is not a number"
                self._skip(line, f"column {self.header[i]!r}: {what}")
                return None
            values[k] = v
        self.rows += 1
        return Row(line, t, values)

    def parse(self, lines: Iterable[str], first_line: int = 1) -> Iterator[Row]:
        """Parse text lines (with or without line endings; CRLF is fine) as they come."""
        line_no = first_line - 1
        for text in lines:
            line_no += 1
            try:
                fields = next(csv.reader([text.rstrip("\r\n")]))
            except StopIteration:
                fields = []
            except csv.Error as e:
                self.lines = line_no
                self._skip(line_no, f"not a CSV row ({e})")
                continue
            row = self.feed(fields, line_no)
            if row is not None:
                yield row
        self.lines = line_no


def read_rows(path: str, columns: Sequence[str], *, date_column: str = DATE_COLUMN,
              date_format: str = DATE_FORMAT, strict: bool = True) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A whole detector CSV → (times (N,) epoch seconds, values (N, len(columns)), line numbers).

    ``strict``: the first malformed row is a one-line error naming the file, line and column; otherwise
    malformed rows are skipped (their count is ``len`` of the skipped lines, see :class:`RowParser`).
    """
    def fail(line: int, msg: str) -> None:
        raise EdgekitError(f"{path}: line {line}: {msg}")

    parser = RowParser(columns, date_column=date_column, date_format=date_format, source=path,
                       on_skip=fail if strict else None)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(parser.parse(f))
    except FileNotFoundError:
        raise EdgekitError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EdgekitError(f"{path}: cannot read it as a text CSV ({e})") from None
    if parser.header is None:
        raise EdgekitError(f"{path}: the file is empty (expected a header line {','.join(VDS_COLUMNS)} and "
                           "5-minute rows)")
    t = np.array([r.t for r in rows], dtype=np.float64)
    v = np.array([r.values for r in rows], dtype=np.float64).reshape(len(rows), len(columns))
    return t, v, [r.line for r in rows]


# -- continuity: the same rules in training and on the device ------------------------------------------

class Continuity:
    """Decides how each new row continues the series: ``start``, ``next``, ``fill``, ``gap`` or ``back``.

    :meth:`advance` returns the kind, the number of missing rows before this one, and the filled-in rows
    (``fill`` only). It remembers the row only if it is accepted (every kind but ``back``).
    """

    def __init__(self, step_seconds: float = STEP_SECONDS, fill: str | None = None,
                 max_fill_rows: int = MAX_FILL_ROWS):
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
