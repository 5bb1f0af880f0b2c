"""The row sources of ``edge-run``: a detector CSV (``csv:PATH``) or standard input (``stdin``), as text
lines for :class:`edgekit.edge.formats.rows.RowParser`."""
from __future__ import annotations

import sys
from typing import Iterable, Iterator

from edgekit.edge.core.errors import EdgekitError


class RowsSource:
    """Text lines of a detector CSV: a file (``csv:PATH``) or standard input (``stdin``)."""

    def __init__(self, name: str, lines: Iterable[str], close=None):
        self.name = name
        self._lines = lines
        self._close = close
        self.notes: list[str] = []

    def lines(self) -> Iterator[str]:
        return iter(self._lines)

    def close(self) -> None:
        if self._close is not None:
            self._close()


def open_rows_source(src: str, stdin=None) -> RowsSource:
    kind, _, arg = src.partition(":")
    if kind == "csv" and arg:
        try:
            # undecodable bytes stay in their line (as surrogates), which then fails as one malformed row
            f = open(arg, newline="", encoding="utf-8-sig", errors="surrogateescape")
        except FileNotFoundError:
            raise EdgekitError(f"{arg}: no such file; give a detector CSV (--source csv:PATH)") from None
        except OSError as e:
            raise EdgekitError(f"{arg}: cannot open it ({e.strerror or e})") from None
        return RowsSource(f"csv:{arg}", f, f.close)
    if kind == "stdin" and not arg:
        stream = stdin if stdin is not None else sys.stdin
        if stream is None:
            raise EdgekitError("--source stdin: standard input is closed; pipe detector rows into edge-run")
        return RowsSource("stdin", iter(stream.readline, ""))
    raise EdgekitError(f"--source {src!r}: a traffic model reads detector rows; use csv:PATH or stdin "
                       "(make a CSV with 'edgekit data synth traffic --out PATH.csv')")
