"""The task contract: what a model does with a stream, as two abstract base classes a type checker checks.

:class:`Task` (one instance per task, in :data:`edgekit.edge.tasks.REGISTRY`) says which sources the task reads,
opens them, makes one stream's :class:`Run`, formats its results as text, and what ``edgekit bench``,
``edgekit info`` and the start-up probe feed or print for it. :class:`Run` is one stream's state, driven by
:func:`edgekit.edge.pipeline.loop.run_stream`. Also here: what both need (:class:`Options`, :class:`Input`,
:class:`Tally`, :func:`seconds_window_problem`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Protocol

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec

MAX_WINDOW_SECONDS = 600.0   # a window longer than 10 minutes of signal is absurd for these models


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


class Sink(Protocol):
    """What a run tells the stream's sink (:mod:`edgekit.edge.outputs.sinks`) besides results."""

    def note(self, msg: str) -> None: ...

    def warn(self, msg: str) -> None: ...

    def skipped(self, name: str, reason: str) -> None: ...


class Times(Protocol):
    """The loop's stage times (:class:`edgekit.edge.pipeline.stats.StageTimes`), as a summary reads them."""

    def total_seconds(self, stage: str = "total") -> float: ...


class Run(ABC):
    """One stream's state: the task's raw inputs from its source, and its results and summary.

    ``source`` is the task's own kind of source (:meth:`Task.open_source`), with at least ``name`` and
    ``close()``.
    """

    check_input: bool = True     # the loop checks every input for NaN/inf (False: the source cannot give them)
    hop: int | None = None       # samples between consecutive inputs, when they overlap (the front end reuses frames)
    opt: Options | None = None   # what edge-run was asked for (detector settings, --events-only)
    timed: bool = False          # inputs are a stretch of time (time_of): a classifier stream may detect events
    source_name: str
    spec: Spec
    source: Any
    sink: Sink

    def __init__(self, spec: Spec, source: Any, sink: Sink, opt: Options | None = None):
        self.spec, self.source, self.sink, self.opt = spec, source, sink, opt
        self.source_name = source.name

    @abstractmethod
    def inputs(self) -> Iterator[Input]:
        """The raw model inputs, read from the source (skips, gaps and malformed data are warned about through
        the sink and counted here)."""

    @abstractmethod
    def result(self, item: Input, answer: Any, latency_ms: dict[str, float]) -> dict[str, Any] | None:
        """One input's JSON object (``answer``: the post-processor's)."""

    @abstractmethod
    def empty(self, invalid: int) -> EdgekitError:
        """The error when the source ended before one input reached the model (``invalid``: inputs skipped
        for NaN/inf)."""

    @abstractmethod
    def summary(self, times: Times, *, stopped: str | None, invalid: int) -> dict[str, Any]:
        """The task's part of the summary (the loop adds source, model and latency)."""

    def where(self, item: Input) -> str:
        """Which input, in a warning about it (e.g. ``wav:x: the window at t=3.10 s``)."""
        return f"{self.source_name}: an input"

    def skip(self, item: Input, message: str) -> bool:
        """An input the front end or model refused (e.g. a picture of the wrong size): True if the task counts
        and reports it, False to make it an error."""
        return False

    def time_of(self, item: Input) -> float | None:
        """Seconds into the stream at which the input's answer exists (the end of its window), for the
        stream detector; None when inputs are not a stretch of time (pictures, benchmarks)."""
        return None

    def close(self) -> None:
        self.source.close()


class Task(ABC):
    """What a model does with a stream, looked up by the spec's ``task`` (:func:`edgekit.edge.tasks.get`)."""

    name: ClassVar[str]                 # the spec's ``task``
    sources: ClassVar[tuple[str, ...]]  # the ``--source`` kinds it reads, e.g. ``("synthetic", "wav", ...)``
    what: ClassVar[str]                 # what those sources feed, e.g. "signals" (in another task's error)
    source_help: ClassVar[str]          # which sources it reads, in an error about a source it does not
    run_class: ClassVar[type[Run]]      # one stream's state (:meth:`run` makes it)
    kinds: ClassVar[tuple[str, ...]] = ("classification",)   # the spec ``kind``s whose outputs it reads

    def raw_shape(self, spec: Spec) -> tuple[int, ...] | None:
        """The shape of one raw input as the device reads it (before the front end), or None where it varies.
        Default: a 1-D window of ``spec.window`` samples."""
        return (int(spec.window),)

    def window_problem(self, window: int, sample_rate: float) -> str | None:
        """Why a spec's window is absurd for the task, or None (checked by :func:`edgekit.edge.tasks.checked`).
        Default: a window of signal longer than :data:`MAX_WINDOW_SECONDS`."""
        return seconds_window_problem(window, sample_rate)

    @abstractmethod
    def check_options(self, opt: Options) -> None:
        """A one-line error for flags this task does not take."""

    @abstractmethod
    def open_source(self, src: str, spec: Spec, opt: Options) -> Any:
        """The source behind a ``--source`` string."""

    def run(self, spec: Spec, source: Any, sink: Sink, opt: Options) -> Run:
        """One stream's state (a :attr:`run_class`), after :meth:`check_options`."""
        self.check_options(opt)
        return self.run_class(spec, source, sink, opt)

    @abstractmethod
    def format_result(self, r: dict[str, Any]) -> str:
        """One text line for a result."""

    @abstractmethod
    def format_summary(self, s: dict[str, Any]) -> tuple[list[str], list[str]]:
        """(lines before, lines after) the latency table of the text summary."""

    @abstractmethod
    def bench_windows(self, spec: Spec, n: int, seed: int) -> tuple[np.ndarray, str]:
        """``n`` raw inputs that ``edgekit bench`` times, and what they are."""

    def probe_input(self, spec: Spec) -> tuple[np.ndarray, str]:
        """The input of the start-up check of the front end (:mod:`edgekit.edge.model.probe`), and what it is.
        Default: the first bench window."""
        return self.bench_windows(spec, 1, 0)

    @abstractmethod
    def seconds_per_answer(self, spec: Spec) -> float | None:
        """Seconds of signal one answer stands for (None: not a stretch of signal), for the real-time factor."""

    @abstractmethod
    def describe(self, spec: Spec) -> str:
        """How ``edgekit info`` names the rate and window."""

    @abstractmethod
    def bench_what(self, spec: Spec) -> str:
        """What one answer is, in ``edgekit bench``'s report."""

    def clip_policy(self, spec: Spec) -> dict[str, Any] | None:
        """The pad/crop policy that makes a whole recording one window, as training did
        (:func:`edgekit.edge.frontend.clip.fit_clip`), for ``edgekit compare`` on whole signals; None (the default): the
        task has none (a recording is cut to its first window)."""
        return None


class Tally:
    """The labels a classifier gave, and its accuracy on the inputs whose truth the source knows."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
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


def seconds_window_problem(window: int, sample_rate: float) -> str | None:
    """A window of signal longer than :data:`MAX_WINDOW_SECONDS` is absurd."""
    if window / sample_rate > MAX_WINDOW_SECONDS:
        return (f"window of {window} samples at {sample_rate:g} Hz is {window / sample_rate:.0f} s, more than "
                f"{MAX_WINDOW_SECONDS:.0f} s")
    return None
