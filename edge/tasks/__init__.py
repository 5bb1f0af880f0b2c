"""The task registry: what a model does with a stream, one module per task, looked up by the spec's ``task``.

A task module (:mod:`.stft`, :mod:`.traffic`, :mod:`.image`) provides:

``SOURCES``                     the ``--source`` kinds it reads, e.g. ``("synthetic", "wav", ...)``
``open_source(src, spec, opt)`` the source behind a ``--source`` string (``opt``: :class:`Options`)
``Run(spec, source, sink, opt)`` one stream's state, driven by :func:`edgekit.edge.pipeline.loop.run_stream`:
    ``where(item)``            which input, in a warning (e.g. ``wav:x: the window at t=3.1 s``)
    ``inputs()``              the raw model inputs (:class:`Input`), read from the source (skips, gaps and
                              malformed data are warned about through the sink and counted here)
    ``result(item, answer, latency_ms)``  one input's JSON object (``answer``: the post-processor's)
    ``skip(item, message)``   an input the front end or model refused (e.g. a picture of the wrong size):
                              return True if the task counts and reports it, False to make it an error
    ``summary(times, stopped=, invalid=)``  the task's part of the summary (the loop adds source, model and latency)
    ``empty()``               the error when the source ended before one input reached the model
    ``close()``
``format_result(r)``            one text line for a result
``format_summary(s)``           (lines before, lines after) the latency table of the text summary
``bench_windows(spec, n, seed)``  n raw inputs that ``edgekit bench`` times
``probe_input(spec)``           optional: the cheap input of the start-up check (default: one bench window)
``seconds_per_answer(spec)``    seconds of signal one answer stands for (None: not a stretch of signal)
``describe(spec)``              how ``edgekit info`` names the rate and window
``window_problem(window, rate)``  why a spec's window is absurd for the task (checked when a spec is parsed)

Nothing outside the task modules branches on the task's name.
"""
from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError

MAX_WINDOW_SECONDS = 600.0   # a window longer than 10 minutes of signal is absurd for these models
TASKS = {"stft": "edgekit.edge.tasks.stft", "traffic": "edgekit.edge.tasks.traffic",
         "image": "edgekit.edge.tasks.image", "audio": "edgekit.edge.tasks.audio"}


@dataclass
class Options:
    """What ``edge-run`` was asked for beyond the model and the source string."""

    hop: float | None = None          # seconds between window starts
    duration: float | None = None     # seconds of signal, then stop
    rate: float | None = None         # rows per second (replay pace)
    seed: int = 0
    device: Any = None                # microphone index or name
    pcm_format: str = "int16"
    detection: dict[str, Any] | None = None   # detector settings from flags (over the spec's `detection`)
    events_only: bool = False         # print events, not a line per window
    label_regex: str | None = None    # wav:FOLDER of clips labelled by file name


@dataclass(slots=True)
class Input:
    """One raw model input and what the task knows about it (time, truth, file name, ...)."""

    x: np.ndarray
    meta: dict[str, Any] | None = None
    extra_ms: dict[str, float] | None = None   # stages before the front end (decode)
    fresh: bool = False               # the first input after a break (a new file, dropped audio): no history


class BaseRun:
    """What a task's ``Run`` does unless it says otherwise."""

    check_input = True     # the loop checks every input for NaN/inf (False: the source cannot give them)
    hop: int | None = None  # samples between consecutive inputs, when they overlap (the front end reuses frames)
    opt: "Options | None" = None   # what edge-run was asked for (detector settings, --events-only)
    timed = False           # inputs are a stretch of time (time_of): a classifier stream may detect events

    def time_of(self, item: Input) -> float | None:
        """Seconds into the stream at which the input's answer exists (the end of its window), for the
        stream detector; None when inputs are not a stretch of time (pictures, benchmarks)."""
        return None

    def __init__(self, spec, source, sink):
        self.spec, self.source, self.sink = spec, source, sink
        self.source_name = source.name

    def where(self, item: Input) -> str:
        """Which input, in a warning about it."""
        return f"{self.source_name}: an input"

    def skip(self, item: Input, message: str) -> bool:
        return False

    def close(self) -> None:
        self.source.close()


class Tally:
    """The labels a classifier gave, and its accuracy on the inputs whose truth the source knows."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.labelled = self.correct = 0

    def add(self, r: dict[str, Any], truth: str | None) -> dict[str, Any]:
        """Count result ``r`` (which has its ``label``), adding ``truth`` to it when known."""
        self.counts[r["label"]] += 1
        if truth is not None:
            r["truth"] = truth
            self.labelled += 1
            self.correct += r["label"] == truth
        return r

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None


def get(name: str) -> ModuleType:
    """The task module for a spec's ``task``."""
    if name not in TASKS:
        raise EdgekitError(f"unknown task {name!r}; this edgekit knows {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name])


def checked(spec, source: str = "spec"):
    """``spec`` after the checks that need its task and its front end (a spec read by
    :class:`~edgekit.edge.core.spec.Spec` is only checked field by field): a task this edgekit knows, a window
    the task finds sane, front-end parameters the front end accepts. A bad one is a one-line error naming
    ``source``, as the field checks' are."""
    from edgekit.edge.frontend import validate_features

    def fail(msg: str) -> EdgekitError:
        return EdgekitError(f"{source}: invalid edgekit spec: {msg}")

    if spec.task not in TASKS:
        raise fail(f"'task' must be one of {', '.join(TASKS)}, got {spec.task!r}")
    problem = get(spec.task).window_problem(spec.window, spec.sample_rate)
    if problem:
        raise fail(problem)
    validate_features(spec, source)
    return spec


def probe_input(spec) -> tuple[np.ndarray, str]:
    """One raw input for the start-up check of a spec's front end (:mod:`edgekit.edge.model.probe`)."""
    task = get(spec.task)
    own = getattr(task, "probe_input", None)
    return own(spec) if own is not None else task.bench_windows(spec, 1, 0)


def for_source(src: str, spec) -> ModuleType:
    """The model's task, after checking that it reads this kind of ``--source``; an error names the task
    that does (e.g. ``images:`` given to a vibration model)."""
    task = get(spec.task)
    kind = src.partition(":")[0]
    if kind in task.SOURCES:
        return task
    for name in TASKS:
        other = get(name)
        if name != spec.task and kind in other.SOURCES and kind not in task.SOURCES:
            raise EdgekitError(f"--source {kind}{':...' if ':' in src else ''} feeds {other.WHAT} to {name} "
                               f"models; this model's task is '{spec.task}' ({task.SOURCE_HELP})")
    return task          # the task's own open_source says what it does read


def seconds_window_problem(window: int, sample_rate: float) -> str | None:
    """A window of signal longer than :data:`MAX_WINDOW_SECONDS` is absurd."""
    if window / sample_rate > MAX_WINDOW_SECONDS:
        return (f"window of {window} samples at {sample_rate:g} Hz is {window / sample_rate:.0f} s, more than "
                f"{MAX_WINDOW_SECONDS:.0f} s")
    return None
