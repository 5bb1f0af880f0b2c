"""Sinks: where results go. One line (text or JSON) per result, flushed as produced, and a summary.

The text sink asks the task how a result and its summary read (``format_result``/``format_summary``); the JSON sink
writes every result as one compact object and the summary as ``{"summary": {...}}``. Notes (``# ...``), warnings
(``warning: ...``) and skipped inputs (``skipped NAME: ...``) go to stderr.

Every line is written whole with one ``write`` on the file descriptor (a line of at most ``PIPE_BUF`` bytes reaches a
pipe whole or not at all), flushed as produced; a closed output (``edge-run ... | head``) raises :class:`OutputClosed`,
which ends the stream quietly."""
from __future__ import annotations

import errno
import json
import os
import sys
import time
from typing import IO, Any, Callable, Protocol

from edgekit.edge.outputs.publish import STATUS_EVERY, Publisher
from edgekit.edge.outputs.text import latency_table, plural


class OutputClosed(Exception):
    """Standard output was closed by its reader (a pipe to ``head``) or went away (a closed terminal)."""


def write_line(text: str, stream: IO[str]) -> None:
    """``text`` and a newline, whole, on ``stream``'s file descriptor (or through ``stream`` if it has none)."""
    data = (text + "\n").encode("utf-8", "backslashreplace")
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):     # a StringIO, pytest's capture
        stream.write(data.decode("utf-8"))
        stream.flush()
        return
    try:
        stream.flush()                                # whatever was printed before goes first
        while data:
            data = data[os.write(fd, data):]
    except OSError as e:
        if e.errno in (errno.EPIPE, errno.EIO, errno.EBADF):
            raise OutputClosed from None
        raise


class _Sink:
    def __init__(self, out: IO[str] | None = None):
        self.out = out or sys.stdout
        self.closed = False

    def _line(self, text: str, stream: IO[str] | None = None) -> None:
        if stream is None and self.closed:
            return
        try:
            write_line(text, stream or self.out)
        except OutputClosed:
            if stream is not None:       # stderr gone too: nothing to tell anyone
                return
            self.closed = True
            raise

    def note(self, msg: str) -> None:
        self._line(f"# {msg}", sys.stderr)

    def warn(self, msg: str) -> None:
        """A problem with the input that the stream survives (a skipped row, a gap): one stderr line."""
        self._line(f"warning: {msg}", sys.stderr)

    def skipped(self, name: str, reason: str) -> None:
        self._line(f"skipped {name}: {reason}", sys.stderr)


class Formats(Protocol):
    """How a task's results and summary read as text (a :class:`edgekit.edge.tasks.base.Task` does)."""

    def format_result(self, r: dict[str, Any]) -> str: ...

    def format_summary(self, s: dict[str, Any]) -> tuple[list[str], list[str]]: ...


class TextSink(_Sink):
    """Aligned text: one line per result (none with ``quiet``), then the summary with the latency table."""

    def __init__(self, task: Formats, out: IO[str] | None = None, quiet: bool = False):
        super().__init__(out)
        self.quiet = quiet
        self._format_result: Callable[[dict[str, Any]], str] = task.format_result
        self._format_summary: Callable[[dict[str, Any]], tuple[list[str], list[str]]] = task.format_summary

    def result(self, r: dict[str, Any]) -> None:
        if not self.quiet:
            line = self._format_result(r)
            sh = r.get("shadow")
            if sh is not None:
                line += f"  [shadow {sh.get('label', sh.get('value'))} |Δ| {sh['delta']:.3g}]"
            self._line(line)

    def event(self, e: dict[str, Any]) -> None:
        """A detected event ({"event", "t", "score"}): one line, marked so it stands out among windows."""
        if not self.quiet:
            self._line(f"t={e['t']:8.2f}s  >>> {e['event']}  {e['score']:.3f}")

    def summary(self, s: dict[str, Any]) -> None:
        before, after = self._format_summary(s)
        sh, rec = s.get("shadow"), s.get("recorded")
        if sh is not None:
            if not sh["windows"]:
                before.append(f"  shadow   {sh['model']}: no window compared")
            else:
                own = sh["latency_ms"].get("total", {}).get("p50")
                before.append(f"  shadow   {sh['model']} ({sh['precision']}): top-1 agreement {sh['agreement']:.2%} on "
                              f"{plural(sh['windows'], 'window')}, mean |Δ| {sh['mean_delta']:.3g}, max |Δ| "
                              f"{sh['max_delta']:.3g}, {sh['disagreements']} disagreeing"
                              + (f"; its own time {own:.3f} ms p50 (not in the latency below)" if own else ""))
        if rec is not None:
            before.append(f"  recorded {plural(rec['saved'], 'window')} into {rec['dir']} "
                          f"({', '.join(rec['when'])}; {rec['deleted_oldest']} oldest removed, "
                          f"{rec['bytes'] / 1e6:.1f} MB of this run's there)"
                          + (f"; recording stopped: {rec['stopped']}, {rec.get('missed', 0)} not recorded after"
                             if rec.get("stopped") else ""))
        pub = s.get("publish")
        if pub is not None:
            before.append(f"  published {pub['published']} to {pub['to']} (QoS {pub['qos']}): {pub['dropped']} dropped, "
                          f"{pub['pending']} pending")
        table = latency_table(s["latency_ms"]) if s.get("latency_ms") else []
        self._line("\n".join(["", *before, *table, *after]))


class JsonSink(_Sink):
    """One compact JSON object per result and a final ``{"summary": ...}`` object on stdout."""

    def __init__(self, task=None, out: IO[str] | None = None):
        super().__init__(out)

    def result(self, r: dict[str, Any]) -> None:
        self._line(json.dumps(r, separators=(",", ":")))

    event = result                          # an event is one compact object too

    def summary(self, s: dict[str, Any]) -> None:
        self._line(json.dumps({"summary": s}, separators=(",", ":")))


class NullSink(_Sink):
    """Discards results (``edgekit bench`` times the loop, it does not print it)."""

    def _discard(self, *_: Any) -> None:
        pass

    result = event = note = warn = _discard


class PublishingSink:
    """A sink that also publishes every result and event it writes (the JSON objects ``--json`` prints) and
    says on stderr, once per change, when the broker cannot be reached or comes back."""

    def __init__(self, sink, publisher: Publisher, status_every: float = STATUS_EVERY):
        self.inner, self.publisher = sink, publisher
        self.where = publisher.where
        self._up: bool | None = None          # None: not connected yet, nor failed
        self.status_every = status_every
        self._t0 = time.monotonic()
        self._next_status = self._t0 + status_every
        self._results = 0
        self._events: dict[str, int] = {}

    def __getattr__(self, name: str):         # note, warn, skipped, closed, ...: the inner sink's
        return getattr(self.inner, name)

    def result(self, r: dict[str, Any]) -> None:
        self.inner.result(r)
        self.publisher.publish(r)
        self._results += 1
        self._watch()

    def event(self, e: dict[str, Any]) -> None:
        self.inner.event(e)
        self.publisher.publish(e, urgent=True)
        self._events[e["event"]] = self._events.get(e["event"], 0) + 1
        self._watch()

    def running_summary(self) -> dict[str, Any]:
        """What the retained status says while the stream runs: results and events so far, delivery."""
        return {"running_s": round(time.monotonic() - self._t0, 1), "results": self._results,
                "events": dict(self._events), "publish": self.publisher.stats()}

    def _watch(self) -> None:
        p = self.publisher
        if time.monotonic() >= self._next_status:        # the retained status: the stream so far
            self._next_status = time.monotonic() + self.status_every
            p.update_status(self.running_summary())
        up = p.connected
        if up == self._up or (not up and self._up is None and not p.failed_connects):
            return
        if up:
            self.inner.note(f"--publish: connected to {self.where}" + (" again" if self._up is False else ""))
        elif self._up:
            self.inner.warn(f"--publish: lost the broker at {self.where}; results wait in a queue of "
                            f"{p.queue_size} (the oldest dropped beyond it, counted) while it reconnects")
        else:
            self.inner.warn(f"--publish: {p.last_error or 'cannot reach the broker'}; results wait in a queue of "
                            f"{p.queue_size} (the oldest dropped beyond it, counted) while it retries")
        self._up = up
