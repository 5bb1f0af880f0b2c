"""The ``anomaly`` task: a machine's vibration or sound scored against what its normal windows looked like in training;
a score per window, ``anomaly`` when it reaches the spec's threshold, and events from the stream detector.

Sources, framing and clips are the :mod:`.audio` task's (``synthetic``, ``wav:PATH``, ``pkl:PATH``, ``stdin``,
``mic``; a clip folder's files fitted to one window each, a recording shorter than a window fitted the same way), with
three differences:

* windows do not overlap by default (``--hop`` defaults to one window), as in the :mod:`.stft` task: a machine's
  sound is stationary, not a word to catch;
* ``--source synthetic`` is one machine whose bearing fault appears after 30 s and grows
  (:func:`edgekit.edge.sources.synth.fault_stream`; truth A while healthy, B once faulty, for a model whose
  normal label is A);
* the truth of a labelled source (``pkl:``, a ``wav:`` folder) is the recording's own label, whatever it is: the
  normal label or the anomaly's.

Each result: ``t``, ``score`` (the model's output, the window's reconstruction error), ``anomaly`` (score >= the
threshold: the spec's, or ``edge-run --threshold``), ``latency_ms``, and ``truth`` when the source knows it. The
detector averages the scores of the last :func:`detection_for` seconds and fires ``{"event": "anomaly", "t",
"score"}`` when the average reaches the threshold (at least ``min_count`` windows in it, ``suppression`` seconds
apart). The summary: how many windows were anomalous, score percentiles (in fixed memory), and per truth label the
share flagged.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from edgekit.edge.core.histogram import Histogram
from edgekit.edge.core.spec import Spec
from edgekit.edge.outputs.text import plural, stage_times
from edgekit.edge.tasks.audio import DEFAULT_CLIP, AudioRun, AudioTask
from edgekit.edge.tasks.base import Input, Options, Sink, Times
from edgekit.edge.tasks.stft import StftTask

__all__ = ["DEFAULT_CLIP", "AnomalyRun", "AnomalyTask", "detection_for"]

EVENT_WINDOWS = 2.5      # the detector averages the scores of this many windows (3 results at one per window) ...
MIN_COUNT = 3            # ... and needs this many in the average
SUPPRESSION = 10.0       # seconds between events of a fault that persists


def detection_for(window_seconds: float) -> dict[str, Any]:
    """The detector settings training writes into an anomaly model's spec for windows of ``window_seconds``."""
    return {"average": round(min(60.0, EVENT_WINDOWS * window_seconds), 6), "min_count": MIN_COUNT,
            "suppression": SUPPRESSION, "nothing": []}


def _sig(v: float) -> float:
    """A score for JSON: six significant digits (scores span decades)."""
    return float(f"{v:.6g}")


class AnomalyRun(AudioRun):
    """One stream of an anomaly model: the audio task's windows (one window apart by default), a score each."""

    def __init__(self, spec: Spec, source: Any, sink: Sink, opt: Options):
        if opt.hop is None:
            opt = replace(opt, hop=spec.window_seconds)
        super().__init__(spec, source, sink, opt)
        self.threshold = float(spec.anomaly["threshold"])
        self.scores = Histogram()
        self.answered = self.anomalous = 0
        self.by_truth: dict[str, list[int]] = {}        # truth label → [windows, anomalous]

    def result(self, item: Input, answer: Any, latency_ms: dict[str, float]) -> dict[str, Any]:
        """``t``, ``score``, ``anomaly``, ``latency_ms`` and ``truth`` when known; counted for the summary."""
        score = answer[1]
        r: dict[str, Any] = {"t": round(item.meta["start"] / self.sample_rate, 6)}
        self.answered += 1
        if score is None:                   # gated: the level that kept it from the model
            r.update(score=None, anomaly=None, latency_ms=latency_ms, gated_dbfs=round(answer[4], 1))
        else:
            flag = bool(score >= self.threshold)
            r.update(score=_sig(score), anomaly=flag, latency_ms=latency_ms)
            self.scores.add(max(float(score), 0.0))
            self.anomalous += flag
        truth = item.meta["truth"]
        if truth is not None:
            r["truth"] = truth
            if score is not None:
                tally = self.by_truth.setdefault(str(truth), [0, 0])
                tally[0] += 1
                tally[1] += r["anomaly"]
        return r

    def summary(self, times: Times, *, stopped: str | None, invalid: int) -> dict[str, Any]:
        """The stft task's summary without a classifier's labels and accuracy, with the threshold, the anomalous
        windows, score percentiles and the share flagged per truth label."""
        s = super().summary(times, stopped=stopped, invalid=invalid)
        for key in ("labels", "labelled_windows", "accuracy"):
            s.pop(key, None)
        hist = self.scores.summary()
        scored = hist["n"]
        s.update(windows=self.answered, threshold=self.threshold, anomalous=self.anomalous,
                 anomalous_share=round(self.anomalous / scored, 6) if scored else None,
                 scores={k: _sig(v) if isinstance(v, float) else v for k, v in hist.items()},
                 by_truth={k: {"windows": w, "anomalous": a, "share": round(a / w, 6)}
                           for k, (w, a) in sorted(self.by_truth.items())})
        return s


class AnomalyTask(AudioTask):
    """The audio task's sources and framing, one window apart by default, a score per window."""

    name = "anomaly"
    kinds = ("anomaly",)
    run_class = AnomalyRun

    def open_source(self, src: str, spec: Spec, opt: Options) -> Any:
        """The stft task's sources, with the developing fault as ``synthetic`` and every label of a ``pkl:`` or
        ``wav:`` folder kept as its truth."""
        from edgekit.edge.sources import signal
        kind, _, arg = src.partition(":")
        if kind == "synthetic" and not arg:
            names = ("A", "B") if spec.labels[0] == "A" else None
            return signal.SyntheticSource(spec, opt.seed, developing=True, names=names)
        if kind == "pkl" and arg:
            return signal.PickleSource(arg, spec.sample_rate, None, min_classes=1)
        if kind == "wav" and arg and os.path.isdir(arg):
            return signal.ClipFolderSource(arg, spec.sample_rate, None, opt.label_regex, min_labels=1)
        return super().open_source(src, spec, opt)

    def format_result(self, r: dict[str, Any]) -> str:
        """One text line: time, score, ANOMALY or normal, stage times, truth."""
        truth = f"  (true {r['truth']})" if r.get("truth") is not None else ""
        if r.get("score") is None:
            return f"t={r['t']:8.2f}s  score    -      below the gate ({r.get('gated_dbfs', 0):.1f} dBFS){truth}"
        flag = "ANOMALY" if r["anomaly"] else "normal "
        return f"t={r['t']:8.2f}s  score {r['score']:9.4g}  {flag}  {stage_times(r['latency_ms'])}{truth}"

    def format_summary(self, s: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The stft task's summary lines with the anomalous share, the score percentiles and the shares per truth."""
        head, tail = super().format_summary(s)
        share = s.get("anomalous_share")
        lines = [f"  anomaly  {s['anomalous']} of {plural(s['windows'], 'window')} "
                 f"({'n/a' if share is None else f'{share:.1%}'}) at threshold {s['threshold']:.6g}"]
        sc = s.get("scores") or {}
        if sc.get("n"):
            lines.append(f"  scores   p50 {sc['p50']:.4g}  p90 {sc['p90']:.4g}  p99 {sc['p99']:.4g}  max "
                         f"{sc['max']:.4g}  (min {sc['min']:.4g}, mean {sc['mean']:.4g})")
        if s.get("by_truth"):
            lines.append("  by truth " + ", ".join(f"{k}: {v['anomalous']} of {v['windows']} anomalous "
                                                   f"({v['share']:.1%})" for k, v in s["by_truth"].items()))
        return head[:3] + lines + head[3:], tail

    def bench_windows(self, spec: Spec, n: int, seed: int) -> tuple[np.ndarray, str]:
        """The stft task's: synthetic vibration where the rate allows it (the course CNN's windows), else noise."""
        return StftTask.bench_windows(self, spec, n, seed)

    def seconds_per_answer(self, spec: Spec) -> float:
        """A whole window of signal (windows do not overlap by default)."""
        return spec.window_seconds
