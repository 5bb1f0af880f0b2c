"""The shadow model: a reference (float32) model run on the same windows as the device's (int8) one, so a user sees on
live data what ``edgekit compare`` shows on test data.

An observer of the streaming loop (:func:`edgekit.edge.pipeline.loop.run_stream`): for every window the primary model
answered, :meth:`Shadow.observe` runs the shadow through its own :class:`~edgekit.edge.pipeline.step.Step` on the same
raw window (the same front end, since the specs must agree: :func:`check_specs`), adds
``r["shadow"] = {"label", "score", "delta"}`` to the window's result (``delta``: the largest absolute
difference of the two output vectors; for a regressor, of the two values, or the largest over the forecast horizons,
whose values it adds; an anomaly model's shadow gives ``{"score", "anomaly", "delta"}``, its flag at the primary's
threshold, and agrees when the flags do), and keeps in fixed memory the agreement, the mean and largest delta, and the
first :data:`KEEP` windows where the labels disagree. Its time is its own (``latency_ms`` of the ``shadow`` summary),
not the primary model's.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.pipeline.stats import StageTimes
from edgekit.edge.pipeline.step import NonFiniteFeatures, Step

KEEP = 100          # disagreeing windows listed in the summary (all are counted)


def check_specs(primary, shadow, shadow_path) -> None:
    """A one-line error unless the shadow reads the same windows the same way and answers the same question."""
    a, b = primary, shadow
    for what, x, y in (("task", a.task, b.task), ("kind", a.kind, b.kind), ("labels", list(a.labels), list(b.labels)),
                       ("sample rate", a.sample_rate, b.sample_rate), ("window", a.window, b.window),
                       ("front end", a.features, b.features), ("normalization", a.normalization, b.normalization)):
        if x != y:
            raise EdgekitError(f"--shadow {shadow_path}: its {what} differs from the model's ({y} vs {x}); a "
                               "shadow must be the same model in another precision (another artifact of the same run)")


class Shadow:
    name = "shadow"

    def __init__(self, model):
        self.model = model
        self.times = StageTimes()
        self.windows = self.agree = 0
        self.sum_delta, self.max_delta = 0.0, 0.0
        self.disagreements: list[dict[str, Any]] = []
        self.n_disagree = 0
        self._step = None

    def start(self, run) -> None:
        check_specs(run.spec, self.model.spec, self.model.path)
        self._step = Step(self.model, hop=run.hop)
        self._classifier = run.spec.kind == "classification"
        self._threshold = run.spec.anomaly["threshold"] if run.spec.kind == "anomaly" else None

    def observe(self, item, answer, r: dict[str, Any], event) -> None:
        if not isinstance(answer, float) and answer[1] is None:     # gated: the primary model did not run
            return
        try:
            s, lat = self._step(item.x)
        except NonFiniteFeatures:
            return
        self.times.add(lat)
        if self._threshold is not None:
            delta = abs(answer[1] - s[1])
            flagged = bool(s[1] >= self._threshold)
            same = flagged == bool(answer[2])
            r["shadow"] = {"score": float(f"{s[1]:.6g}"), "anomaly": flagged, "delta": float(f"{delta:.6g}")}
            s = ("anomaly" if flagged else "normal",)
        elif self._classifier:
            delta = float(np.max(np.abs(np.asarray(answer[3]) - np.asarray(s[3]))))
            same = s[0] == answer[0]
            r["shadow"] = {"label": s[0], "score": round(s[1], 6), "delta": round(delta, 6)}
        else:                                                 # one value, or one per forecast horizon
            a_v, s_v = np.atleast_1d(np.asarray(answer, np.float64)), np.atleast_1d(np.asarray(s, np.float64))
            delta = float(np.max(np.abs(a_v - s_v)))
            same = True
            r["shadow"] = {"value": round(float(s_v[0]), 6), "delta": round(delta, 6)}
            if len(s_v) > 1:
                r["shadow"]["values"] = [round(float(v), 6) for v in s_v]
        self.windows += 1
        self.agree += same
        self.sum_delta += delta
        self.max_delta = max(self.max_delta, delta)
        if not same:
            self.n_disagree += 1
            if len(self.disagreements) < KEEP:
                where = {k: r[k] for k in ("t", "file", "row") if k in r}
                self.disagreements.append({**where, "label": answer[0], "shadow": s[0]})

    def summary(self) -> dict[str, Any]:
        n = self.windows
        return {"model": str(self.model.path), "precision": self.model.precision, "windows": n,
                "agreement": round(self.agree / n, 6) if n else None,
                "mean_delta": round(self.sum_delta / n, 6) if n else None,
                "max_delta": round(self.max_delta, 6) if n else None,
                "disagreements": self.n_disagree, "disagreeing_windows": self.disagreements,
                "latency_ms": self.times.summary()}
