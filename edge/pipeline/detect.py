"""Events from a stream of classifier scores: average over the last second, top label, threshold, suppression.

The keyword/acoustic-event rule of tflite-micro's ``RecognizeCommands``: each window's score vector is kept with its
time for ``average`` seconds (a deque capped by time, and by :data:`MAX_HISTORY` entries, so memory never grows with the
stream), the kept vectors are averaged, and the top label of the average is an event
``{"event": label, "t": t, "score": avg}`` when all of these hold:

* ``avg >= threshold`` (to 1e-9: the mean of three 0.7 scores is 0.6999999999999998);
* at least ``min_count`` results lie in the averaging window (a stream that has just started, or restarted
  after :meth:`Detector.reset`, does not fire on one lucky window);
* the label is not a "nothing" label (``silence``, ``unknown`` by default; compared without surrounding
  underscores and case, so Speech Commands' ``_silence_``/``_unknown_`` are the same);
* ``suppression`` seconds have passed since the previous event, **whatever its label**.

The last rule is a deliberate departure: RecognizeCommands also fires at once when the top label differs from the
previous event's. On one utterance the running average of a confused model can cross from one label to another (``five``
then ``nine``), and that rule turns one word into two events, one of them a wrong label or a false alarm; a keyword
detector that stays quiet for a second after an event costs only a second word spoken within that second, which people
do not do to a device.

Defaults (:data:`DEFAULTS`) follow RecognizeCommands (``average_window_duration_ms=1000``,
``suppression_ms=1500``, ``minimum_count=3``; its threshold, 200 of 255 on uint8 scores, is 0.78): a 1 s
average spans one keyword; 0.7 because averaging over the whole second lowers the peak score of a short word that fills
only part of it; 1.0 s of suppression because it now blocks every label (see above), and 1.5 s would swallow a second
word said a second after the first; 3 results so that one window never fires alone. A model's spec may override any of
them with a ``detection`` object (:func:`detection_settings`): ``edgekit train audio`` writes its own (``DETECTION`` in
:mod:`edgekit.train.audio`, chosen on validation streams), and edge-run's
``--average``/``--threshold``/``--suppression``/``--min-count``/``--gate-dbfs`` override the spec.

:func:`dbfs` and :class:`Gate` are the energy gate: a window quieter than ``gate_dbfs`` (RMS level of float
samples in [-1, 1], so a full-scale sine is -3.01 dBFS) need not reach the model; it is not fed to the detector either,
whose averaging window forgets old results by time alone.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any, Sequence

import numpy as np

from edgekit.edge.core.detection import DBFS_FLOOR, DEFAULTS, MAX_HISTORY, detection_settings
from edgekit.edge.core.spec import Spec
from edgekit.edge.tasks.base import Run

_EPS_T = 1e-9                # seconds: float slack when comparing times
_EPS_SCORE = 1e-9            # an average of equal scores may round just below them (3 × 0.7 / 3 < 0.7)


def _nothing_key(label: str) -> str:
    return str(label).strip("_").lower()


class Detector:
    """Fed ``(t_seconds, scores)`` per window with :meth:`push`; returns an event dict or None."""

    def __init__(self, labels: Sequence[str], *, average: float = DEFAULTS["average"],
                 threshold: float = DEFAULTS["threshold"], suppression: float = DEFAULTS["suppression"],
                 min_count: int = DEFAULTS["min_count"], nothing: Sequence[str] = tuple(DEFAULTS["nothing"])):
        self.labels = tuple(str(x) for x in labels)
        if len(self.labels) < 1:
            raise ValueError("a detector needs labels")
        self.average, self.threshold = float(average), float(threshold)
        self.suppression, self.min_count = float(suppression), int(min_count)
        quiet = {_nothing_key(x) for x in nothing}
        self._fires = np.array([_nothing_key(x) not in quiet for x in self.labels])
        self._times: deque[float] = deque(maxlen=MAX_HISTORY)
        self._scores: deque[np.ndarray] = deque(maxlen=MAX_HISTORY)
        self._last_t = -math.inf          # the latest result's time (times never go backwards)
        self.last_event_t: float | None = None
        self.events = 0

    @classmethod
    def from_settings(cls, labels: Sequence[str], settings: dict[str, Any]) -> "Detector":
        """A detector with :func:`detection_settings`' output (``gate_dbfs`` is the caller's, see :class:`Gate`)."""
        s = {**DEFAULTS, **settings}
        return cls(labels, average=s["average"], threshold=s["threshold"], suppression=s["suppression"],
                   min_count=s["min_count"], nothing=s["nothing"])

    @property
    def keywords(self) -> tuple[str, ...]:
        """The labels that can fire an event (all but the 'nothing' labels)."""
        return tuple(label for label, fires in zip(self.labels, self._fires) if fires)

    def __len__(self) -> int:
        """Results in the averaging window now."""
        return len(self._times)

    def reset(self) -> None:
        """A gap in the stream (dropped audio, a new file): forget the results so no average spans it. The
        suppression clock keeps running, so dropped audio in the middle of a word does not fire it twice."""
        self._times.clear()
        self._scores.clear()

    def push(self, t: float, scores) -> dict[str, Any] | None:
        """Add the scores of the window that ended at ``t`` seconds; the event it completes, or None."""
        t = float(t)
        p = np.asarray(scores, dtype=np.float64).reshape(-1)
        if p.size != len(self.labels):
            raise ValueError(f"{p.size} scores for {len(self.labels)} labels")
        if not t >= self._last_t:
            raise ValueError(f"result at t={t} after one at t={self._last_t}: times must not go backwards")
        self._last_t = t
        times, kept = self._times, self._scores
        times.append(t)
        kept.append(p)
        limit = t - self.average - _EPS_T
        while times[0] < limit:
            times.popleft()
            kept.popleft()
        if len(times) < self.min_count:
            return None
        avg = np.add.reduce(kept) / len(kept) if len(kept) > 1 else kept[0]
        i = int(np.argmax(avg))
        score = float(avg[i])
        if score < self.threshold - _EPS_SCORE or not self._fires[i]:
            return None
        if self.last_event_t is not None and t - self.last_event_t < self.suppression - _EPS_T:
            return None
        self.last_event_t = t
        self.events += 1
        return {"event": self.labels[i], "t": t, "score": score}


def dbfs(x) -> float:
    """RMS level of float samples in [-1, 1] in dB relative to full scale (a full-scale sine: -3.01);
    digital silence, an empty window and anything below it give :data:`DBFS_FLOOR`, never -inf or NaN."""
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if a.size == 0:
        return DBFS_FLOOR
    ms = float(np.dot(a, a)) / a.size
    if not ms > 0:               # 0, or NaN from bad samples: the floor (the loop counts NaN windows itself)
        return DBFS_FLOOR
    return max(DBFS_FLOOR, 10.0 * math.log10(ms))


class Gate:
    """The energy gate: ``gate(x)`` is True when window ``x`` is below ``gate_dbfs`` (None: never)."""

    def __init__(self, gate_dbfs: float | None):
        self.gate_dbfs = None if gate_dbfs is None else float(gate_dbfs)

    def __call__(self, x) -> bool:
        return self.gate_dbfs is not None and dbfs(x) < self.gate_dbfs

    def level(self, x) -> float | None:
        """The window's level in dBFS when it is below the gate, else None."""
        if self.gate_dbfs is None:
            return None
        v = dbfs(x)
        return v if v < self.gate_dbfs else None


def stream_detector(spec: Spec, run: Run) -> tuple["Detector | None", Any, dict[str, Any] | None]:
    """(detector, gate, settings) for one stream: ``gate(x)`` gives the level of a window below the gate, else None.

    A classifier stream whose inputs are a stretch of time (the task's ``Run.timed``) gets the detector when its spec
    carries ``detection`` settings (set at training) or edge-run was given a detection flag
    (:attr:`edgekit.edge.tasks.base.Options.detection`, over the spec's) or ``--events-only``; otherwise nothing
    changes. An anomaly model's timed stream always gets it: one label, ``anomaly``, whose score is the window's
    anomaly score, firing when their average reaches the spec's ``anomaly.threshold`` (edge-run's ``--threshold``
    is that threshold, set in the spec before the stream starts)."""
    opt = run.opt
    flags = (opt.detection if opt is not None else None) or {}
    if spec.kind == "anomaly":
        if not run.timed:
            return None, None, None
        flags = {k: v for k, v in flags.items() if k != "threshold"}
        labels: Sequence[str] = ("anomaly",)
    else:
        wanted = spec.detection is not None or flags or (opt is not None and opt.events_only)
        if spec.kind != "classification" or not run.timed or not wanted:
            return None, None, None
        labels = spec.labels
    settings = detection_settings({**(spec.detection or {}), **flags}, "detection settings")
    if spec.kind == "anomaly":
        settings.update(threshold=float(spec.anomaly["threshold"]), nothing=[])
    g = Gate(settings["gate_dbfs"])
    return Detector.from_settings(labels, settings), (g.level if g.gate_dbfs is not None else None), settings
