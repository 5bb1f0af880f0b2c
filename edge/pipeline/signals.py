"""Stopping a stream cleanly: SIGINT, SIGTERM and SIGHUP end it like Ctrl-C, and never inside a result.

While :func:`handled` is active (``edge-run``), the first of these signals stops the stream — at once if it is waiting
for input or computing, after the line being written if it is writing one, so every line is whole and the summary counts
exactly the results written (the loop marks that stretch with
``state.deferring``), and from the stream's end until the summary is written. A second signal aborts
(:class:`Aborted`); a line of at most ``PIPE_BUF`` bytes written to a pipe is written whole or not at all, so even then
no partial line is left.
"""
from __future__ import annotations

import contextlib
import signal
import threading

NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Aborted(BaseException):
    """A second stop signal: end now, without a summary."""


class _State:
    installed = False
    deferring = False               # inside a result: a first signal waits (the loop sets this inline)
    pending: int | None = None
    received: list[int] = []


state = _State()


def _handler(signum, frame) -> None:
    state.received.append(signum)
    if len(state.received) > 1:
        raise Aborted
    if state.deferring:
        state.pending = signum
        return
    raise KeyboardInterrupt


def stopped_by() -> str:
    """How the first stop signal is named in a summary ('interrupted' for Ctrl-C)."""
    return NAMES.get(state.received[0], "interrupted") if state.received else "interrupted"


@contextlib.contextmanager
def handled():
    """Install the handlers for SIGINT, SIGTERM and SIGHUP (main thread only), and restore them after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _handler) for s in NAMES}
    state.installed, state.deferring, state.received, state.pending = True, False, [], None
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        state.installed = state.deferring = False
        state.pending = None
