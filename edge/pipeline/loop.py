"""The streaming loop: source → task inputs → front end → model → post-processing → sink, timed per stage.

One loop for every task and for ``edgekit bench``. The task (:mod:`edgekit.edge.tasks`) turns its source
into raw inputs and results; everything else is written once here: the NaN/inf check, timing, Ctrl-C, the
end of the source, the error when nothing reached the model, and the common part of the summary.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge import tasks
from edgekit.edge.errors import EdgekitError
from edgekit.edge.pipeline.postprocess import postprocessor
from edgekit.edge.pipeline.stats import StageTimes
from edgekit.edge.pipeline.step import timed_step


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
    front, post = fe.build(spec), postprocessor(spec)
    answers = invalid = 0
    interrupted = False
    try:
        for item in run.inputs():
            if not np.isfinite(item.x).all():
                invalid += 1
                sink.warn(run.invalid(item))
                continue
            try:
                answer, lat = timed_step(model, front, post, item.x)
            except EdgekitError as e:
                if run.skip(item, e.message):
                    continue
                raise
            if item.extra_ms:
                lat = {**item.extra_ms, **lat}
            times.add(lat)
            answers += 1
            sink.result(run.result(item, answer, {k: round(v, 4) for k, v in lat.items()}))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        run.close()
    if answers == 0 and not interrupted:
        raise run.empty(invalid)
    head = {"source": run.source_name, "model": str(model.path), "backend": model.backend.name,
            "precision": model.precision}
    return {**head, **run.summary(times, interrupted=interrupted, invalid=invalid),
            "latency_ms": times.summary()}
