"""The ``stft`` task: a 1-D signal (vibration, acoustic) cut into windows, one label per window.

Sources: ``synthetic``, ``wav:PATH``, ``pkl:PATH``, ``stdin`` (raw PCM), ``mic`` (:mod:`edgekit.edge.sources.signal`).
Windows of ``spec.window`` samples start every ``--hop`` seconds (default: one window, no overlap); a recording boundary
or dropped audio restarts the framing, so no window spans it, and time moves on by what was lost. A window is scored
against the source's label only when it lies wholly inside one labelled recording.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend.frames import Framer
from edgekit.edge.outputs.text import plural, stage_times
from edgekit.edge.tasks.base import Input, Options, Run, Sink, Task, Tally, Times


class StftRun(Run):
    """One signal stream of the stft task: windows of ``spec.window`` samples every ``opt.hop`` seconds."""

    timed = True
    hop: int
    # (blocks, start, label) → Input: a recording shorter than one window (None: dropped)
    fit_short: Callable[[list[np.ndarray], int, Any], Input] | None = None

    def __init__(self, spec: Spec, source: Any, sink: Sink, opt: Options):
        super().__init__(spec, source, sink, opt)
        sample_rate = self.sample_rate = spec.sample_rate
        self.hop = spec.window if opt.hop is None else int(round(opt.hop * sample_rate))
        if self.hop < 1:
            raise EdgekitError(f"--hop {opt.hop} is shorter than one sample at {sample_rate:g} Hz")
        self.framer = Framer(spec.window, self.hop)
        self.duration = opt.duration
        self.limit = None if opt.duration is None else int(round(opt.duration * sample_rate))
        self.tally = Tally()
        self.lost = 0                    # samples of dropped audio the framer skipped over
        self.stopped_by = "end of source"

    def inputs(self) -> Iterator[Input]:
        source, framer, limit = self.source, self.framer, self.limit
        for note in source.notes:
            self.sink.note(note)
        shown = len(source.notes)
        rec_start = framer.position          # where the labelled recording of the current block began
        fit = self.fit_short
        short: list | None = [] if fit else None   # a recording that has not filled a window yet (fit_short)
        short_at = (framer.position, None)
        reported = 0
        for block in source.blocks():
            reported = self._report_skipped(reported)
            data = block.data
            fresh = block.reset
            if block.reset:
                if short and fit:          # (short is a list only with fit)
                    yield fit(short, *short_at)
                short = [] if fit else None
                # a new recording, or dropped audio: no window spans it, and time moves on by what was lost
                framer.reset(framer.position + block.lost)
                self.lost += block.lost
            if not block.continued:
                rec_start = framer.position
            if limit is not None:
                data = data[:max(0, limit - framer.position)]
            if short is not None and not short:
                short_at = (framer.position, block.label)
            filled = False
            for start, window in framer.push(data):
                # the truth only for windows wholly inside one labelled recording
                truth = block.label if block.label is not None and start >= rec_start else None
                yield Input(window, {"start": start, "truth": truth}, fresh=fresh)
                fresh, filled = False, True
            if short is not None:
                short = None if filled else short + [data]
            if limit is not None and framer.position >= limit:
                self.stopped_by = f"--duration {self.duration:g} s"
                break
        if short and fit:
            yield fit(short, *short_at)
        self._report_skipped(reported)
        for note in source.notes[shown:]:     # facts learnt at the end (e.g. trailing bytes on stdin)
            self.sink.note(note)

    def _report_skipped(self, reported: int) -> int:
        """Say on stderr which files the source skipped since the last call (damaged clips); how many it has."""
        skipped = getattr(self.source, "skipped", ())
        for name, why in skipped[reported:]:
            self.sink.skipped(name, why)
        return len(skipped)

    def where(self, item: Input) -> str:
        return f"{self.source.name}: the window at t={item.meta['start'] / self.sample_rate:.2f} s"

    def time_of(self, item: Input) -> float:
        return (item.meta["start"] + self.spec.window) / self.sample_rate

    def result(self, item: Input, answer: Any, latency_ms: dict[str, float]) -> dict[str, Any]:
        label, score = answer[0], answer[1]
        r = {"t": round(item.meta["start"] / self.sample_rate, 6), "label": label,
             "score": None if score is None else round(score, 6), "latency_ms": latency_ms}
        if len(answer) > 4:                 # gated: the level that kept it from the model
            r["gated_dbfs"] = round(answer[4], 1)
        return self.tally.add(r, item.meta["truth"])

    def empty(self, invalid: int) -> EdgekitError:
        skipped = len(getattr(self.source, "skipped", ()))
        if skipped:
            return EdgekitError(f"{self.source.name}: no readable recording ({skipped} file(s) skipped, see above)")
        if invalid:
            return EdgekitError(f"{self.source.name}: every window held NaN/inf samples ({invalid} skipped); "
                                "check the sensor or the file")
        spec = self.spec
        return EdgekitError(f"{self.source.name}: the source ended before one full window "
                            f"({self.framer.position} samples; the model needs {spec.window} at "
                            f"{self.sample_rate:g} Hz = {spec.window_seconds:.2f} s)")

    def summary(self, times: Times, *, stopped: str | None, invalid: int) -> dict[str, Any]:
        source = self.source
        compute = times.total_seconds()
        signal_seconds = (self.framer.position - self.lost) / self.sample_rate
        windows = sum(self.tally.counts.values())
        return {
            "windows": windows, "signal_seconds": round(signal_seconds, 3), "stopped_by": stopped or self.stopped_by,
            "dropped_windows": math.ceil(source.dropped_samples / self.hop) if source.dropped_samples else 0,
            "invalid_windows": invalid, "dropped_blocks": source.dropped_blocks, "overflows": source.overflows,
            "labels": dict(self.tally.counts), "labelled_windows": self.tally.labelled, "accuracy": self.tally.accuracy,
            **({"skipped_files": [{"file": f, "reason": r} for f, r in source.skipped]}
               if getattr(source, "skipped", None) else {}),
            "real_time_factor": round(signal_seconds / compute, 1) if compute > 0 else None,
        }


class StftTask(Task):
    """A 1-D signal cut into windows, one label (or value) per window."""

    name = "stft"
    sources = ("synthetic", "wav", "pkl", "stdin", "mic")
    what = "signals"
    source_help = "a signal model reads synthetic, wav:PATH, pkl:PATH, stdin or mic"
    run_class = StftRun

    def check_options(self, opt: Options) -> None:
        """A one-line error for flags this task does not take."""
        if opt.rate is not None:
            raise EdgekitError("--rate paces detector rows; it applies to traffic models only")

    def open_source(self, src: str, spec: Spec, opt: Options) -> Any:
        from edgekit.edge.sources.signal import open_source as _open
        return _open(src, spec, seed=opt.seed, device=opt.device, pcm_format=opt.pcm_format,
                     label_regex=opt.label_regex)

    def format_result(self, r: dict[str, Any]) -> str:
        truth = f"  (true {r['truth']})" if r.get("truth") is not None else ""
        if r.get("score") is None:
            return f"t={r['t']:8.2f}s  {r['label']:<8}   -    below the gate ({r.get('gated_dbfs', 0):.1f} dBFS){truth}"
        return f"t={r['t']:8.2f}s  {r['label']:<8} {r['score']:.3f}  {stage_times(r['latency_ms'])}{truth}"

    def format_summary(self, s: dict[str, Any]) -> tuple[list[str], list[str]]:
        bad = f", {plural(s['invalid_windows'], 'window')} with NaN/inf samples skipped" \
            if s.get("invalid_windows") else ""
        head = [f"summary: {plural(s['windows'], 'window')} from {s['source']} ({s['signal_seconds']:.1f} s of "
                f"signal, {s['stopped_by']})", f"  model    {s['model']}  [{s['backend']}]",
                f"  dropped  {plural(s['dropped_windows'], 'window')}, {plural(s['overflows'], 'overrun')}{bad}"]
        if s.get("skipped_files"):
            head.append(f"  skipped  {plural(len(s['skipped_files']), 'file')} that could not be read (listed on "
                        "stderr)")
        if s.get("accuracy") is not None:
            head.append(f"  accuracy {s['accuracy']:.4f} on {plural(s['labelled_windows'], 'labelled window')}")
        if s.get("labels"):
            head.append("  labels   " + ", ".join(f"{k}: {v}" for k, v in s["labels"].items()))
        if s.get("events") is not None:
            d = s["detection"]
            head.append("  events   " + (", ".join(f"{k}: {v}" for k, v in s["events"].items()) or "none")
                        + f"  (average {d['average']:g} s, threshold {d['threshold']:g}, suppression "
                          f"{d['suppression']:g} s, min count {d['min_count']})")
        if s.get("gated_windows"):
            head.append(f"  gated    {plural(s['gated_windows'], 'window')} ({s['gated_seconds']:.1f} s) below "
                        f"{s['detection']['gate_dbfs']:g} dBFS: silence, not given to the model")
        tail = []
        if s["real_time_factor"] is not None:
            tail.append(f"  real-time factor  {s['real_time_factor']:.0f}× (seconds of signal per second of compute)")
        return head, tail

    def bench_windows(self, spec: Spec, n: int, seed: int) -> tuple[np.ndarray, str]:
        """Synthetic vibration (:func:`edgekit.edge.sources.synth.vibration`) at the spec's rate and window, half
        healthy and half faulty; white noise when the rate is below what the vibration model needs (12 kHz, e.g. 8 kHz
        speech models)."""
        if spec.sample_rate >= 12000:
            from edgekit.edge.sources.synth import vibration
            x, _ = vibration(n, seed=seed, fs=spec.sample_rate, length=spec.window)
            return x, "synthetic vibration"
        rng = np.random.default_rng(seed)
        return (0.1 * rng.standard_normal((n, spec.window))).astype(np.float32), "random data of the window's shape"

    def probe_input(self, spec: Spec) -> tuple[np.ndarray, str]:
        """A linear chirp from 0 Hz to Nyquist at -20 dBFS: it reaches every frequency bin, and costs nothing to
        make (synthetic vibration, or any use of ``numpy.random``, would add 7-15 MB to every start)."""
        t = np.arange(spec.window) / spec.window
        return (0.1 * np.sin(np.pi * spec.window / 2 * t * t)).astype(np.float32)[None], "a chirp"

    def seconds_per_answer(self, spec: Spec) -> float:
        """A whole window of signal (windows do not overlap by default)."""
        return spec.window_seconds

    def describe(self, spec: Spec) -> str:
        return f"{spec.sample_rate:g} Hz, window {spec.window} ({spec.window_seconds:.3g} s)"

    def bench_what(self, spec: Spec) -> str:
        return f"window {spec.window} = {spec.window_seconds:.4g} s of signal"
