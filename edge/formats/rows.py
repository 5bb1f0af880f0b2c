"""Detector rows from CSV text: the header, column matching and a row parser (``csv`` and numpy only).

Vehicle-detector exports (``Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate``, one row every 5 minutes, CRLF line endings,
``YYYY-MM-DD H:MM`` dates) are parsed here by training and by the device alike: the device feeds its stream through
:class:`RowParser`, and training reads a whole file with :func:`read_table` (the same parser, the same file opening), so
both see the same rows. Neither imports pandas.

Columns are matched by a normalised key (case, spaces and punctuation ignored), so ``Occ.Rate`` and ``OccRate`` are the
same column. A line that cannot be parsed is reported (with its line number) and skipped by :class:`RowParser`; the
caller counts it. A missing required column is fatal. What a time gap means (reset or fill) is the front end's business:
:mod:`edgekit.edge.frontend.rows`."""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.frontend.rows import STEP_SECONDS

VDS_COLUMNS = ("Date", "ToVol", "SmVol", "MeVol", "LaVol", "Speed", "Occ.Rate")
DATE_COLUMN = "Date"
DATE_FORMAT = "%Y-%m-%d %H:%M"          # accepts "2017-04-02 0:05" as well as "2017-04-02 00:05"


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
            have = ", ".join(h if h.isprintable() else ascii(h) for h in header if h.strip()) or "nothing"
            raise EdgekitError(f"{source}: line {line} (header): column {w!r} is missing (the header has "
                               f"{have}); export the detector data with a {w} column")
        out.append(i)
    return out


def parse_time(text: str, fmt: str = DATE_FORMAT) -> float:
    """A timestamp → seconds since the epoch. Times are wall-clock detector times, treated as UTC so that
    differences are exact; ValueError if ``text`` does not match ``fmt``."""
    return datetime.strptime(text.strip(), fmt).replace(tzinfo=timezone.utc).timestamp()


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

    ``columns``     the value columns wanted, in order (the model's input columns and the target); None:
                    every named column of the first header but the date, in header order
    ``on_skip``     called with (line_number, message) for each malformed row, which is skipped
    ``on_note``     called with informational messages (e.g. a missing header)

    The first non-blank line is the header. A feed without one (``tail -f detector.csv``) is accepted if its first field
    is a time: the VDS column order is assumed, with a note. A header line repeated later (files concatenated) switches
    to its column order. Blank lines carry no data and are ignored.
    """

    def __init__(self, columns: Sequence[str] | None, *, date_column: str = DATE_COLUMN,
                 date_format: str = DATE_FORMAT, source: str = "csv", on_skip: Callable[[int, str], None] | None = None,
                 on_note: Callable[[str], None] | None = None):
        self.columns = None if columns is None else list(columns)
        self.date_column = date_column
        self.date_format = date_format
        self.source = source
        self.on_skip = on_skip
        self.on_note = on_note
        self.header: list[str] | None = None
        self.header_line = 0                 # line of the first header (0: none yet)
        self.names: list[str] | None = None  # the wanted columns as the first header spells them
        self.date_name = date_column         # the time column as the first header spells it
        self._idx: list[int] = []
        self._date_idx = 0
        self._width = 0
        self.skipped = 0
        self.rows = 0
        self.lines = 0

    # -- header ------------------------------------------------------------------------------------
    def _set_header(self, fields: list[str], line: int) -> None:
        fields = [f.strip().lstrip("\ufeff") for f in fields]
        if self.columns is None:
            date_idx = match_columns(fields, [self.date_column], self.source, line)[0]
            self.columns = [f for i, f in enumerate(fields) if f and i != date_idx]
        self._date_idx, *self._idx = match_columns(fields, [self.date_column, *self.columns], self.source, line)
        if self.header is None:
            self.header_line = line
            self.names = [fields[i] for i in self._idx]
            self.date_name = fields[self._date_idx]
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
                    self.on_note(f"{self.source}: no header line; assuming the VDS columns {','.join(VDS_COLUMNS)}")
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
            lost = [i for i in (self._date_idx, *self._idx) if i >= len(fields)]
            self._skip(line, f"the row has {len(fields)} fields, the header has {self._width}"
                             + (f" (no value for column {self.header[min(lost)]!r})" if lost else ""))
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


@dataclass
class RowTable:
    """A whole detector CSV as :class:`RowParser` reads it: the good rows, and what was skipped."""

    times: np.ndarray                 # (N,) epoch seconds
    values: np.ndarray                # (N, len(columns)) float64
    lines: list[int]                  # source line of each row (header = line 1)
    columns: list[str]                # the value columns as the first header spells them
    date_column: str                  # the time column as the first header spells it
    header_line: int                  # line of the first header (0: none)
    skipped: list[tuple[int, str]]    # (line, message) of each malformed row, in file order
    notes: list[str]                  # informational messages (no header line, a repeated header)


def parse_table(lines: Iterable[str], columns: Sequence[str] | None, *, source: str = "csv",
                date_column: str = DATE_COLUMN, date_format: str = DATE_FORMAT, strict: bool = True,
                ) -> RowTable:
    """CSV text lines → a :class:`RowTable` (``columns``: see :class:`RowParser`). ``strict``: the first malformed row
    is a one-line error naming the source, line and column; otherwise malformed rows are skipped and listed in
    ``skipped``, as the device skips them."""
    skipped: list[tuple[int, str]] = []
    notes: list[str] = []

    def skip(line: int, msg: str) -> None:
        if strict:
            raise EdgekitError(f"{source}: line {line}: {msg}")
        skipped.append((line, msg))

    parser = RowParser(columns, date_column=date_column, date_format=date_format, source=source,
                       on_skip=skip, on_note=notes.append)
    rows = list(parser.parse(lines))
    if parser.header is None:
        raise EdgekitError(f"{source}: the file is empty (line 1: expected the header {','.join(VDS_COLUMNS)} "
                           "followed by 5-minute rows)")
    n_cols = len(parser.columns)
    return RowTable(np.array([r.t for r in rows], dtype=np.float64),
                    np.array([r.values for r in rows], dtype=np.float64).reshape(len(rows), n_cols),
                    [r.line for r in rows], list(parser.names), parser.date_name, parser.header_line, skipped, notes)


def read_table(path: str, columns: Sequence[str] | None = None, *, date_column: str = DATE_COLUMN,
               date_format: str = DATE_FORMAT, strict: bool = True) -> RowTable:
    """A whole detector CSV file → a :class:`RowTable` (see :func:`parse_table`). The file is opened as the device opens
    a ``csv:PATH`` source: UTF-8 with an optional BOM, undecodable bytes kept in their line (which then fails as one
    malformed row)."""
    path = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
            return parse_table(f, columns, source=path, date_column=date_column, date_format=date_format, strict=strict)
    except FileNotFoundError:
        raise EdgekitError(f"{path}: no such file; give a detector CSV ({','.join(VDS_COLUMNS)})") from None
    except OSError as e:
        raise EdgekitError(f"{path}: cannot read it as a text CSV ({e.strerror or e})") from None


def read_rows(path: str, columns: Sequence[str], *, date_column: str = DATE_COLUMN,
              date_format: str = DATE_FORMAT, strict: bool = True) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A whole detector CSV → (times (N,) epoch seconds, values (N, len(columns)), line numbers); see
    :func:`read_table`, which also says what was skipped."""
    t = read_table(path, columns, date_column=date_column, date_format=date_format, strict=strict)
    return t.times, t.values, t.lines
