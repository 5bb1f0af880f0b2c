"""The comparison itself: every artifact on the same test windows, one row each (metrics, agreement with
the reference, size, latency, memory, and with ``layers`` the per-layer error of the int8 ones)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.pipeline.stats import peak_rss_mb, reset_peak_rss
from edgekit.edge.core.errors import EdgekitError

from .data import check_targets, features, load_artifact, load_test_data, pick_reference, task_difference
from .layers import LAYER_WINDOWS, check_layers, layer_errors
from .metrics import latency, task_metrics
from .report import finite, short_names

INPUT_NOUNS = {"image": "images"}     # what one test input is called, by front end (else "windows")
TARGETS = "targets"                   # the key of the test targets among the raw ``outputs`` (for the plot)


def compare(paths: list[str], data: str | None = None, runs: int = 100, log=print, layers: bool = False,
            outputs: dict | None = None, label_regex: str | None = None) -> dict[str, Any]:
    """Compare the artifacts on one test set; a JSON-ready report ``{"rows": [...], ...}`` (the reference's row first).
    ``layers=True`` adds ``row["layers"]`` to every int8 artifact's row (:func:`.layers.layer_errors`);
    ``outputs``, if given, receives the raw float outputs per artifact path and the test targets under
    :data:`TARGETS` (for the plot)."""
    if not paths:
        raise EdgekitError("give at least one artifact (.keras, .tflite or .onnx)")
    if runs < 1:
        raise EdgekitError(f"--runs must be at least 1, got {runs}")
    real = [os.path.realpath(p) for p in paths]
    for i, p in enumerate(paths):
        if real[i] in real[:i]:
            raise EdgekitError(f"{p}: given twice; list each artifact once")
    arts = [load_artifact(p) for p in paths]
    ref = pick_reference(arts)
    for a in arts:
        diff = task_difference(a.spec, ref.spec)
        if diff:
            raise EdgekitError(f"{a.path}: belongs to another task than {ref.path} ({diff}); compare artifacts "
                               "of one model")
    notes = []
    short = dict(zip((id(a) for a in arts), short_names([a.path for a in arts])))
    for a in arts:
        if a.spec.model_sha256 and ref.spec.model_sha256 and a.spec.model_sha256 != ref.spec.model_sha256:
            what = "is another model" if a.format == "keras" else "was converted from another model"
            notes.append(f"{short[id(a)]} {what} than the reference {short[id(ref)]} (different model_sha256): "
                         "its agreement is between two models, not a conversion check")
    int8 = [a for a in arts if a.precision == "int8"]
    if layers and not int8:
        raise EdgekitError("--layers reports the quantization error of int8 models; none of the artifacts is int8")
    if layers:
        check_layers(int8, arts)
    x_raw, y, source = load_test_data(arts, data, label_regex)
    spec = ref.spec
    y = check_targets(spec, y, source)
    cache: dict = {}
    noun = INPUT_NOUNS.get(spec.features["type"], "windows")
    log(f"test data: {len(x_raw)} {noun} from {source}; reference {short[id(ref)]}")
    for n in notes:
        log(f"note: {n}")
    outs: dict[Path, np.ndarray] = {}
    rows = []
    order = [ref] + [a for a in arts if a is not ref]
    for a in order:
        x = features(a.spec, x_raw, cache)
        can_reset = reset_peak_rss()
        out = a.predict(x)                            # (in batches)
        lat = latency(a, fe.build(a.spec), x_raw, runs)
        peak = peak_rss_mb() if can_reset else None
        outs[a.path] = out
        ro = outs[ref.path]
        d = np.abs(out.astype(np.float64) - ro.astype(np.float64))
        row: dict[str, Any] = {
            "artifact": str(a.path), "format": a.format, "precision": a.precision, "backend": a.backend,
            "size_bytes": a.size_bytes, "reference": a is ref, "n_test": int(len(x)),
            "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
            "latency_ms": lat, "latency_runs": runs, "peak_rss_mb": peak, "nan_outputs": int((~np.isfinite(out)).sum()),
        }
        row.update(task_metrics(spec, out, ro, y))
        rows.append(row)
    ref_row = rows[0]
    for r in rows:
        r["delta"] = None if r["value"] is None or ref_row["value"] is None else r["value"] - ref_row["value"]
        r["size_ratio"] = r["size_bytes"] / ref_row["size_bytes"]
        r["speedup_p50"] = ref_row["latency_ms"]["p50"] / r["latency_ms"]["p50"] if r["latency_ms"]["p50"] else None
    for a, r in zip(order, rows):
        if layers and a.precision == "int8":
            log(f"per-layer quantization error of {a.path.name} ...")
            r["layers"] = layer_errors(a, arts, features(a.spec, x_raw, cache)[:LAYER_WINDOWS], log=log)
    if outputs is not None:
        outputs.update({str(k): v for k, v in outs.items()})
        outputs[TARGETS] = y
    return finite({"reference": str(ref.path), "test_data": source, "n_test": int(len(x_raw)),
                   "task": spec.task, "kind": spec.kind, "labels": list(spec.labels), "target": spec.target,
                   "notes": notes, "rows": rows})

