"""The streaming loop: source → task inputs → front end → model → post-processing → sink, timed per stage.

One loop for every task and for ``edgekit bench``. The task (:mod:`edgekit.edge.tasks`) turns its source into raw inputs
and results; everything else is written once here: the NaN/inf check, timing, the energy gate and the event detector of
classifier streams (:mod:`.detect`), stop signals (:mod:`.signals`: a result is counted only with its line written), a
closed output (``| head``), a source that dies mid-stream (its error goes into the summary), the end of the source, the
error when nothing reached the model, and the common part of the summary.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from edgekit.edge import tasks
from edgekit.edge.tasks.base import Options, Run
from edgekit.edge.core.errors import EdgekitError, SourceLost
from edgekit.edge.outputs.sinks import OutputClosed
from edgekit.edge.pipeline import signals
from edgekit.edge.pipeline.stats import StageTimes
from edgekit.edge.pipeline.detect import stream_detector
from edgekit.edge.pipeline.step import NonFiniteFeatures, Step


def run_stream(model, source, sink, *, hop_seconds: float | None = None, duration: float | None = None,
               rate: float | None = None, run: Run | None = None, times=None, observers=()) -> dict[str, Any]:
    """Stream ``source`` through ``model``; results go to ``sink`` as they are produced; returns the summary.

    ``run`` is the task's per-stream state (:class:`~edgekit.edge.tasks.base.Run`; default: what the model's
    task's ``run`` makes of this source and these options); ``times`` collects the per-stage latencies (default:
    :class:`StageTimes`). ``observers`` see every answered window after its result is made and before it is written
    (``start(run)``, ``observe(item, answer, result, event)``, ``summary()`` under their
    ``name``): the shadow model (:mod:`.shadow`), the recorder (:mod:`edgekit.edge.outputs.record`).
    """
    spec = model.spec
    if run is None:
        opt = Options(hop=hop_seconds, duration=duration, rate=rate)
        run = tasks.get(spec.task).run(spec, source, sink, opt)
    times = StageTimes() if times is None else times
    step = Step(model, hop=run.hop)
    detector, gate, settings = stream_detector(spec, run)
    events: Counter = Counter()
    answers = invalid = gated = 0
    state = signals.state
    stopped = None                    # why the stream ended early, if it did
    failure = None
    events_only = bool(run.opt is not None and run.opt.events_only and detector is not None)
    for obs in observers:
        obs.start(run)
    try:
        check_input, isfinite = run.check_input, np.isfinite
        result, emit, record = run.result, sink.result, times.add      # (locals: the hot path)
        for item in run.inputs():
            if check_input and not isfinite(item.x).all():
                invalid += 1
                sink.warn(f"{run.where(item)} holds NaN/inf samples; skipped (counted in the summary)")
                continue
            if item.fresh:                     # a break in the stream: no frame is shared with the last window
                step.reset()
            level = gate(item.x) if gate is not None else None
            if level is not None:              # below the gate: silence, without the model
                answer, lat = ("silence", None, None, None, level), {}
                gated += 1
            else:
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
            event = None
            if detector is not None:
                if item.fresh:
                    detector.reset()
                if level is None:
                    event = detector.push(run.time_of(item), answer[3])
            state.deferring = True            # a stop signal now waits until the line is written
            try:
                r = result(item, answer, {k: round(v, 4) for k, v in lat.items()})
                for obs in observers:
                    obs.observe(item, answer, r, event)
                if not events_only:
                    emit(r)
                if event is not None:
                    sink.event({**event, "t": round(event["t"], 6), "score": round(event["score"], 6)})
                    events[event["event"]] += 1
                if lat:
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
        # The stream is over: from here until the caller has written the summary (edge-run: after the
        # final flush to a broker), a stop signal waits instead of costing it; signals.handled() ends this.
        state.deferring = True
        run.close()
    if answers == 0 and stopped is None:
        raise run.empty(invalid)
    head = {"source": run.source_name, "model": str(model.path), "backend": model.backend.name,
            "precision": model.precision}
    summary = {**head, **run.summary(times, stopped=stopped, invalid=invalid)}
    if detector is not None or gate is not None:
        summary.update({"events": dict(events), "gated_windows": gated,
                        "gated_seconds": round(gated * run.hop / spec.sample_rate, 3) if run.hop else None,
                        "detection": settings})
    for obs in observers:
        summary[obs.name] = obs.summary()
    summary["latency_ms"] = times.summary()
    if failure is not None:
        summary["error"] = failure
    return summary
