"""The streaming loop: source → frames → features → model → post-processing → sink, timed per stage."""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError
from edgekit.edge.frontend.frames import Framer
from edgekit.edge.model.model import Model
from edgekit.edge.pipeline.step import timed_step
from edgekit.edge.pipeline.postprocess import postprocessor
from edgekit.edge.pipeline.stats import StageTimes


def run_stream(model: Model, source, sink, *, hop_seconds: float | None = None,
               duration: float | None = None) -> dict[str, Any]:
    spec = model.spec
    fs = spec.sample_rate
    hop = spec.window if hop_seconds is None else int(round(hop_seconds * fs))
    if hop < 1:
        raise EdgekitError(f"--hop {hop_seconds} is shorter than one sample at {fs:g} Hz")
    front, post = fe.build(spec), postprocessor(spec)
    framer = Framer(spec.window, hop)
    times = StageTimes()
    limit = None if duration is None else int(round(duration * fs))
    counts: Counter = Counter()
    windows = labelled = correct = invalid = 0
    lost = 0                                   # samples of dropped audio the framer skipped over
    stopped_by = "end of source"
    for note in source.notes:
        sink.note(note)
    shown_notes = len(source.notes)
    try:
        for block in source.blocks():
            data = block.data
            if block.reset:
                # a new recording, or dropped audio: no window spans it, and time moves on by what was lost
                framer.reset(framer.position + block.lost)
                lost += block.lost
            block_start = framer.position
            if limit is not None:
                data = data[:max(0, limit - framer.position)]
            for start, window in framer.push(data):
                if not np.isfinite(window).all():
                    invalid += 1
                    sink.warn(f"{source.name}: the window at t={start / fs:.2f} s holds NaN/inf samples; "
                              "skipped (counted in the summary)")
                    continue
                (label, score, _), lat = timed_step(model, front, post, window)
                times.add(lat)
                windows += 1
                counts[label] += 1
                result = {"t": round(start / fs, 6), "label": label, "score": round(score, 6),
                          "latency_ms": {k: round(v, 4) for k, v in lat.items()}}
                if block.label is not None and start >= block_start:   # wholly inside one labelled recording
                    result["truth"] = block.label
                    labelled += 1
                    correct += label == block.label
                sink.result(result)
            if limit is not None and framer.position >= limit:
                stopped_by = f"--duration {duration:g} s"
                break
    except KeyboardInterrupt:
        stopped_by = "interrupted"
    finally:
        source.close()
    for note in source.notes[shown_notes:]:    # facts learnt at the end (e.g. trailing bytes on stdin)
        sink.note(note)
    if windows + invalid == 0 and stopped_by != "interrupted":
        have = framer.position
        raise EdgekitError(f"{source.name}: the source ended before one full window ({have} samples; the "
                           f"model needs {spec.window} at {fs:g} Hz = {spec.window_seconds:.2f} s)")
    compute = times.total_seconds()
    signal_seconds = (framer.position - lost) / fs
    dropped_windows = math.ceil(source.dropped_samples / hop) if source.dropped_samples else 0
    return {
        "source": source.name, "model": str(model.path), "backend": model.backend.name,
        "precision": model.precision, "windows": windows, "signal_seconds": round(signal_seconds, 3),
        "stopped_by": stopped_by, "dropped_windows": dropped_windows, "invalid_windows": invalid, "dropped_blocks": source.dropped_blocks,
        "overflows": source.overflows, "labels": dict(counts),
        "labelled_windows": labelled, "accuracy": (correct / labelled) if labelled else None,
        "latency_ms": times.summary(),
        "real_time_factor": round(signal_seconds / compute, 1) if compute > 0 else None,
    }
