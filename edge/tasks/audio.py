"""The ``audio`` task: keywords or acoustic events in sound (log-mel / MFCC features), a label per window and events
from the stream detector.

Sources and framing are the :mod:`.stft` task's (``synthetic``, ``wav:PATH``, ``pkl:PATH``, ``stdin``, ``mic``), with
two differences, both so that the device sees what training saw:

* **clips are fitted as training fitted them.** The files of a ``wav:FOLDER`` are clips: each is made exactly
  one window by the spec's pad/crop policy (``features.clip``, :func:`edgekit.edge.frontend.clip.fit_clip`:
  the part with the most energy, centred, padded) and scored once against its label; any other recording
  shorter than one window is padded the same way instead of dropped;
* **windows overlap by default**: ``--hop`` defaults to ``average / (min_count + 1)`` of the detector settings
  (0.25 s with the defaults: a 1 s average then always holds at least ``min_count`` = 3 results, and a word
  is seen by about four windows), at most one window.

The detector (:mod:`edgekit.edge.pipeline.detect`) runs on every stream of an audio model: the spec carries its settings
from training.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from edgekit.edge.core.detection import detection_settings
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend.clip import check_clip_policy, fit_clip
from edgekit.edge.tasks.base import Input, Options, Sink
from edgekit.edge.tasks.stft import StftRun, StftTask

DEFAULT_CLIP = {"align": "energy", "pad": "zeros"}   # the policy of a spec that records none
MAX_CLIP_WINDOWS = 30      # a file of a clip folder longer than this many windows is streamed, not fitted


def clip_policy(spec: Spec) -> dict[str, Any]:
    """The pad/crop policy training recorded in the spec's features (complete, checked)."""
    return check_clip_policy(spec.features.get("clip") or DEFAULT_CLIP)


def default_hop(spec: Spec) -> float:
    """Seconds between windows when --hop is not given (see the module docstring)."""
    d = detection_settings(spec.detection, "the spec")
    return min(d["average"] / (d["min_count"] + 1), spec.window_seconds)


class AudioRun(StftRun):
    """One sound stream of the audio task: overlapping windows, or the clips of a folder fitted one by one."""

    def __init__(self, spec: Spec, source: Any, sink: Sink, opt: Options):
        if opt.hop is None:
            from dataclasses import replace
            opt = replace(opt, hop=default_hop(spec))
        super().__init__(spec, source, sink, opt)
        self.policy = clip_policy(spec)
        self.clips = bool(getattr(source, "clips", False))
        self.timed = not self.clips         # clips are scored one by one: no stream to detect events in
        self.fit_short = self._fit

    def _fit(self, parts: list[np.ndarray], start: int, label: Any) -> Input:
        x = np.concatenate(parts) if len(parts) != 1 else parts[0]
        return Input(fit_clip(x, self.spec.window, self.policy).astype(np.float32, copy=False),
                     {"start": start, "truth": label}, fresh=True)

    def inputs(self) -> Iterator[Input]:
        if not self.clips:
            yield from super().inputs()       # with fit_short: a recording shorter than a window is fitted
            return
        # a clip folder: every file is one window, fitted by the policy
        source, framer, window = self.source, self.framer, self.spec.window
        for note in source.notes:
            self.sink.note(note)
        parts: list[np.ndarray] = []
        label, start, n, reported = None, 0, 0, 0
        for block in source.blocks():
            reported = self._report_skipped(reported)
            if block.reset and parts:
                yield self._fit(parts, start, label)
                parts, n = [], 0
            if block.reset:
                framer.reset(framer.position)
                label, start = block.label, framer.position
            parts.append(block.data)
            n += len(block.data)
            framer.position += len(block.data)
            if n > MAX_CLIP_WINDOWS * window:
                raise EdgekitError(f"{source.name}: a file longer than {MAX_CLIP_WINDOWS} windows is not a clip; "
                                   "stream it on its own with wav:FILE")
            if self.limit is not None and framer.position >= self.limit:
                self.stopped_by = f"--duration {self.duration:g} s"
                break
        if parts:
            yield self._fit(parts, start, label)
        self._report_skipped(reported)


class AudioTask(StftTask):
    """The stft task's sources, framing and text, with clips fitted as training fitted them and overlapping
    windows by default."""

    name = "audio"
    run_class = AudioRun

    def bench_windows(self, spec: Spec, n: int, seed: int) -> tuple[np.ndarray, str]:
        """Quiet noise with a tone burst in every other window, at the spec's rate and window."""
        rng = np.random.default_rng(seed)
        x = 0.01 * rng.standard_normal((n, spec.window)).cumsum(1) / np.sqrt(np.arange(1, spec.window + 1))
        t = np.arange(spec.window) / spec.sample_rate
        x[::2] += 0.3 * np.sin(2 * np.pi * 440.0 * t) * np.hanning(spec.window)
        return x.astype(np.float32), "noise and tone bursts"

    # (probe_input is the stft task's: a chirp at -20 dBFS is cheap, and it reaches every mel band)

    def seconds_per_answer(self, spec: Spec) -> float:
        """One hop of signal per answer (windows overlap by default)."""
        return default_hop(spec)

    def clip_policy(self, spec: Spec) -> dict[str, Any]:
        """The policy training recorded (:func:`clip_policy`)."""
        return clip_policy(spec)
