"""The streaming loop: source → task inputs → front end → model → post-processing → sink, timed per stage.

One loop for every task and for ``edgekit bench``. The task (:mod:`edgekit.edge.tasks`) turns its source
into raw inputs and results; everything else is written once here: the NaN/inf check, timing, stop signals
(:mod:`.signals`: a result is counted only with its line written), a closed output (``| head``), a source
that dies mid-stream (its error goes into the summary), the end of the source, the error when nothing
reached the model, and the common part of the summary.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.edge import tasks
from edgekit.edge.errors import EdgekitError, SourceLost
from edgekit.edge.io.sinks import OutputClosed
from edgekit.edge.pipeline import signals
from edgekit.edge.pipeline.stats import StageTimes
from edgekit.edge.pipeline.step import NonFiniteFeatures, Step


def run_stream(model, source, sink, *, hop_seconds: float | None = None, duration: float | None = None,
               rate: float | None = None, run=None, times=None) -> dict[str, Any]:
    """Stream ``source`` through ``model``; results go to ``sink`` as they are produced; returns the summary.

    ``run`` is the task's per-stream state (default: the model's task's ``Run`` for this source and these
    options); ``times`` collects the per-stage latencies (default: :class:`StageTimes`).
    """
    spec = model.spec
    if run is None:
        opt = tasks.Options(hop=hop_seconds, duration=duration, rate=rate)
        run = tasks.get(spec.task).Run(spec, source, sink, opt)
    times = StageTimes() if times is None else times
    step = Step(model, hop=run.hop)
    answers = invalid = 0
    state = signals.state
    stopped = None                    # why the stream ended early, if it did
    failure = None
    try:
        check_input, isfinite = run.check_input, np.isfinite
        result, emit, record = run.result, sink.result, times.add      # (locals: the hot path)
        for item in run.inputs():
            if check_input and not isfinite(item.x).all():
                invalid += 1
                sink.warn(f"{run.where(item)} holds NaN/inf samples; skipped (counted in the summary)")
                continue
            try:
                answer, lat = step(item.x)
            except NonFiniteFeatures:
                invalid += 1
                sink.warn(f"{run.where(item)} gives NaN/inf features; skipped (counted in the summary)")
                continue
            except EdgekitError as e:
                if run.skip(item, e.message):
                    continue
                raise
            if item.extra_ms:
                lat = {**item.extra_ms, **lat}
            state.deferring = True            # a stop signal now waits until the line is written
            try:
                emit(result(item, answer, {k: round(v, 4) for k, v in lat.items()}))
                record(lat)
                answers += 1
            finally:
                state.deferring = False
            if state.pending is not None:
                state.pending = None
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        stopped = signals.stopped_by()
    except OutputClosed:
        stopped = "output closed"
    except SourceLost as e:
        stopped, failure = "source lost", e.message
    finally:
        run.close()
    if answers == 0 and stopped is None:
        raise run.empty(invalid)
    head = {"source": run.source_name, "model": str(model.path), "backend": model.backend.name,
            "precision": model.precision}
    summary = {**head, **run.summary(times, stopped=stopped, invalid=invalid), "latency_ms": times.summary()}
    if failure is not None:
        summary["error"] = failure
    return summary
