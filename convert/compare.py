"""``edgekit compare``: float against quantized on the same test data — task metric, agreement with the
float reference, size, latency per window and peak memory, for any mix of .keras/.tflite/.onnx; and,
with ``--layers``, which layers of an int8 model lose the most to quantization.

The reference is the first ``.keras`` model given, else the first float32 artifact, else the first one.
Every artifact must belong to the reference's task (same task, kind, labels/target, window, sample rate
and input shape); anything else — a file that is not a model, a model without edgekit metadata, a model
of another task — is a one-line error, never a row.

Metrics
-------
classification  ``value`` = accuracy in [0, 1], ``macro_f1``, ``confusion`` (rows = truth), ``agreement`` =
                top-1 agreement with the reference.
regression      ``value`` = MSE in the model's (normalised) output space, ``mae`` likewise, and
                ``mse_physical`` / ``mae_physical`` after inverting the spec's target scaling
                (``spec.target["scaling"]``). The recorded test targets ``y`` are in the model's output
                space, as ``edgekit convert`` verifies them. ``agreement`` = share of test windows whose
                output is within 1 % of the reference outputs' range of the reference output.
both            ``max_abs_diff`` / ``mean_abs_diff`` of the raw float outputs against the reference,
                ``latency_ms`` (p50, p90, p99, mean, ... of one window: front end + model + argmax),
                ``peak_rss_mb`` (the process's high-water mark while running that artifact).
"""
from __future__ import annotations

import csv
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.bench import peak_rss_mb as _peak_rss_mb, reset_peak_rss as _peak_rss_reset
from edgekit.edge.errors import EdgekitError
from edgekit.edge.model.spec import Spec
from edgekit.edge.pipeline.stats import summarize

REGRESSION_AGREEMENT_TOL = 0.01     # fraction of the reference outputs' range
LAYER_WINDOWS = 128                 # test windows used for the per-layer analysis
UNIFORM_RMSE_OVER_SCALE = 1 / math.sqrt(12)   # rounding error alone, in quantization steps


@dataclass
class Artifact:
    path: Path
    format: str
    precision: str
    backend: str
    size_bytes: int
    spec: Spec
    predict: Callable[[np.ndarray], np.ndarray]     # float features (N, ...) → float outputs (N, C)
    model: Any = field(default=None, repr=False)    # the edgekit Model (tflite/onnx) or the Keras model


# -- loading -------------------------------------------------------------------------------------------

def _keras_spec(p: Path) -> Spec:
    spec_file = p.parent / "spec.json"
    if not spec_file.is_file():
        raise EdgekitError(f"{p}: no spec.json next to it, so its front end and labels are unknown; compare the "
                           "model.keras of a run directory written by 'edgekit train'")
    return Spec.load(spec_file)


def load_artifact(path: str | Path) -> Artifact:
    """Load one model file for comparison; a one-line :class:`EdgekitError` if it is not a usable model."""
    p = Path(path)
    if p.is_dir():
        raise EdgekitError(f"{p}: is a directory; give model files (.keras, .tflite, .onnx), e.g. "
                           f"{p / 'model.keras'}")
    if not p.exists():
        raise EdgekitError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".keras":
        with open(p, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise EdgekitError(f"{p}: not a Keras model (a .keras file is a zip archive)")
        spec = _keras_spec(p)
        from edgekit.train.fit import quiet_tensorflow
        quiet_tensorflow()
        import keras
        try:
            model = keras.models.load_model(p, compile=False)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise EdgekitError(f"{p}: cannot load the Keras model ({type(e).__name__}: {first[:200]})") from None
        shape = tuple(int(s) for s in model.input_shape[1:] if s is not None)
        if shape != tuple(spec.input_shape):
            raise EdgekitError(f"{p}: the model takes {list(shape)} but {p.parent / 'spec.json'} says "
                               f"{list(spec.input_shape)}; the spec belongs to another model")
        import tensorflow as tf

        def predict(x: np.ndarray) -> np.ndarray:
            return np.asarray(model(x, training=False), dtype=np.float32)
        return Artifact(p, "keras", "float32", f"keras {keras.__version__} (tensorflow {tf.__version__})",
                        p.stat().st_size, spec, predict, model)
    if suffix in (".tflite", ".onnx"):
        from edgekit.edge.model.model import Model
        m = Model(p)
        if m.spec is None:
            raise EdgekitError(f"{p}: carries no edgekit metadata, so its task and test data are unknown; "
                               "compare models exported by 'edgekit convert'")
        return Artifact(p, m.format, m.precision, m.backend.name, m.file.size_bytes, m.spec, m.predict, m)
    raise EdgekitError(f"{p}: not a model (give .keras, .tflite or .onnx files)")


def _task_difference(a: Spec, b: Spec) -> str | None:
    """What makes spec ``a`` another task than ``b`` (None if they are the same task)."""
    checks = (("task", a.task, b.task), ("kind", a.kind, b.kind), ("labels", list(a.labels), list(b.labels)),
              ("window", a.window, b.window), ("sample rate", a.sample_rate, b.sample_rate),
              ("input shape", list(a.input_shape), list(b.input_shape)),
              ("target", (a.target or {}).get("column"), (b.target or {}).get("column")))
    for name, x, y in checks:
        if x != y:
            return f"{name} {x} vs {y}"
    return None


def _same_task(a: Spec, b: Spec) -> bool:
    return _task_difference(a, b) is None


def pick_reference(arts: list[Artifact]) -> Artifact:
    return next((a for a in arts if a.format == "keras"), None) or \
        next((a for a in arts if a.precision == "float32"), arts[0])


# -- test data -------------------------------------------------------------------------------------------

def load_test_data(arts: list[Artifact], data: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(raw windows x, targets y, where they came from): ``--data`` (a .npz with x and y, or a training
    run directory), else the test split recorded next to the first artifact that has one."""
    if data:
        f = Path(data)
        f = f / "test.npz" if f.is_dir() else f
        if not f.is_file() or f.suffix.lower() != ".npz":
            raise EdgekitError(f"--data {data}: give a test .npz (arrays x and y) or a training run directory "
                               "holding test.npz")
        candidates = [f]
    else:
        candidates = [a.path.parent / "test.npz" for a in arts]
    for f in candidates:
        if f.is_file():
            try:
                with np.load(f, allow_pickle=False) as z:
                    x, y = z["x"], z["y"]
            except (KeyError, ValueError, OSError, EOFError) as e:
                raise EdgekitError(f"{f}: not a test split (needs arrays x and y): {e}") from None
            if len(x) == 0 or len(x) != len(y):
                raise EdgekitError(f"{f}: the test split has {len(x)} windows and {len(y)} targets; need as "
                                   "many targets as windows, at least one")
            return x, y, str(f)
    raise EdgekitError("no test data found next to the artifacts; give --data DIR/test.npz (arrays x, y)")


def _check_targets(spec: Spec, y: np.ndarray, source: str) -> np.ndarray:
    if spec.kind == "classification":
        yi = np.asarray(y)
        if yi.ndim != 1 or not np.issubdtype(yi.dtype, np.number) or not np.all(np.isfinite(yi)) \
                or not np.all(yi == np.round(yi)):
            raise EdgekitError(f"{source}: y must hold class indices for a classifier")
        yi = yi.astype(np.int64)
        bad = (yi < 0) | (yi >= len(spec.labels))
        if bad.any():
            raise EdgekitError(f"{source}: {int(bad.sum())} target(s) outside the model's {len(spec.labels)} "
                               f"classes ({', '.join(spec.labels)})")
        return yi
    yf = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(yf)):
        raise EdgekitError(f"{source}: y holds NaN/inf targets")
    return yf


def _features(spec: Spec, x_raw: np.ndarray, cache: dict) -> np.ndarray:
    """Front-end features of the test windows for this spec (cached per front end + normalisation)."""
    key = json.dumps([spec.features, spec.normalization, list(spec.input_shape)], sort_keys=True)
    if key not in cache:
        front = fe.build(spec)
        cache[key] = np.concatenate([front(x_raw[i:i + 256]) for i in range(0, len(x_raw), 256)])
    return cache[key]


# -- metrics -------------------------------------------------------------------------------------------

def macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean of the per-class F1 scores (a class absent from both truth and prediction
    counts as 0, as scikit-learn's ``zero_division=0``)."""
    f1s = []
    for c in range(n_classes):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def _confusion(y, pred, n):
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (np.asarray(y, int), np.asarray(pred, int)), 1)
    return m.tolist()


def _regression_metrics(spec: Spec, out: np.ndarray, ref: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    o = out.reshape(len(out), -1).astype(np.float64)
    r = ref.reshape(len(ref), -1).astype(np.float64)
    t = np.asarray(y, np.float64).reshape(len(y), -1)
    if t.shape[1] != o.shape[1]:
        raise EdgekitError(f"the test targets have {t.shape[1]} value(s) per window but the model outputs "
                           f"{o.shape[1]}")
    scaling = (spec.target or {}).get("scaling") or {"type": "none"}
    op, tp = fe.denormalize(o, scaling), fe.denormalize(t, scaling)
    span = float(r.max() - r.min()) or 1.0
    within = np.all(np.abs(o - r) <= REGRESSION_AGREEMENT_TOL * span, axis=1)
    return {"metric": "mse", "value": float(((o - t) ** 2).mean()), "mse": float(((o - t) ** 2).mean()),
            "mae": float(np.abs(o - t).mean()), "mse_physical": float(((op - tp) ** 2).mean()),
            "mae_physical": float(np.abs(op - tp).mean()),
            "unit": _target_units(spec),
            "agreement": float(within.mean())}


def _target_units(spec: Spec) -> str:
    t = spec.target or {}
    return str(t.get("units") or t.get("unit") or t.get("column") or "")


def _latency(art: Artifact, front, windows: np.ndarray, runs: int, warmup: int = 10) -> dict[str, float]:
    """One window at a time: front end → model → argmax, ``runs`` timed after ``warmup``."""
    pc = time.perf_counter
    samples = []
    for i in range(-warmup, runs):
        t0 = pc()
        out = art.predict(front(windows[i % len(windows)])[None])
        int(np.argmax(out))
        if i >= 0:
            samples.append((pc() - t0) * 1e3)
    return summarize(samples)


def _finite(v: Any) -> Any:
    """NaN/inf → None so that the JSON stays valid (an artifact that outputs NaN shows as null)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


# -- the comparison ------------------------------------------------------------------------------------

def compare(paths: list[str], data: str | None = None, runs: int = 100, log=print, layers: bool = False,
            outputs: dict | None = None) -> dict[str, Any]:
    """Compare the artifacts on one test set; a JSON-ready report ``{"rows": [...], ...}``.

    ``layers=True`` adds, for every int8 artifact, ``row["layers"]``: the per-layer quantization error
    (see :func:`tflite_layer_errors` / :func:`onnx_layer_errors`). ``outputs``, if given, receives the raw
    float outputs per artifact path (used for the plot).
    """
    if not paths:
        raise EdgekitError("give at least one artifact (.keras, .tflite or .onnx)")
    if runs < 1:
        raise EdgekitError(f"--runs must be at least 1, got {runs}")
    seen = set()
    for p in paths:
        key = os.path.realpath(p)
        if key in seen:
            raise EdgekitError(f"{p}: given twice; list each artifact once")
        seen.add(key)
    arts = [load_artifact(p) for p in paths]
    ref = pick_reference(arts)
    for a in arts:
        diff = _task_difference(a.spec, ref.spec)
        if diff:
            raise EdgekitError(f"{a.path}: belongs to another task than {ref.path} ({diff}); compare artifacts "
                               "of one model")
    notes = []
    short = dict(zip((id(a) for a in arts), _short_names([a.path for a in arts])))
    for a in arts:
        if a.spec.model_sha256 and ref.spec.model_sha256 and a.spec.model_sha256 != ref.spec.model_sha256:
            what = "is another model" if a.format == "keras" else "was converted from another model"
            notes.append(f"{short[id(a)]} {what} than the reference {short[id(ref)]} (different model_sha256): "
                         "its agreement is between two models, not a conversion check")
    int8 = [a for a in arts if a.precision == "int8"]
    if layers and not int8:
        raise EdgekitError("--layers reports the quantization error of int8 models; none of the artifacts is "
                           "int8")
    if layers:                        # fail before the long part, not after it
        for a in int8:
            if a.format == "tflite":
                _find_run_dir(a, arts)
            elif a.format == "onnx":
                _check_qdq(a.path)
    x_raw, y, source = load_test_data(arts, data)
    spec = ref.spec
    y = _check_targets(spec, y, source)
    cache: dict = {}
    noun = "images" if spec.task == "image" else "windows"
    log(f"test data: {len(x_raw)} {noun} from {source}; reference {short[id(ref)]}")
    for n in notes:
        log(f"note: {n}")
    outs: dict[Path, np.ndarray] = {}
    rows = []
    for a in [ref] + [a for a in arts if a is not ref]:
        x = _features(a.spec, x_raw, cache)
        can_reset = _peak_rss_reset()
        out = np.concatenate([a.predict(x[i:i + 64]) for i in range(0, len(x), 64)])
        lat = _latency(a, fe.build(a.spec), x_raw, runs)
        peak = _peak_rss_mb() if can_reset else None
        outs[a.path] = out
        ro = outs[ref.path]
        d = np.abs(out.astype(np.float64) - ro.astype(np.float64))
        row: dict[str, Any] = {
            "artifact": str(a.path), "format": a.format, "precision": a.precision, "backend": a.backend,
            "size_bytes": a.size_bytes, "reference": a is ref, "n_test": int(len(x)),
            "max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
            "latency_ms": {k: lat[k] for k in ("p50", "p90", "p99", "mean", "std", "min", "max")},
            "latency_runs": runs, "peak_rss_mb": peak, "nan_outputs": int((~np.isfinite(out)).sum()),
        }
        if spec.kind == "classification":
            pred = out.argmax(1)
            row.update(metric="accuracy", value=float((pred == y).mean()),
                       macro_f1=macro_f1(y, pred, len(spec.labels)),
                       agreement=float((pred == ro.argmax(1)).mean()),
                       confusion=_confusion(y, pred, len(spec.labels)))
        else:
            row.update(_regression_metrics(spec, out, ro, y))
        rows.append(row)
    ref_row = rows[0]
    for r in rows:
        r["delta"] = r["value"] - ref_row["value"]
        r["size_ratio"] = r["size_bytes"] / ref_row["size_bytes"]
        r["speedup_p50"] = ref_row["latency_ms"]["p50"] / r["latency_ms"]["p50"] if r["latency_ms"]["p50"] else None
    if layers:
        by_path = {str(a.path): a for a in arts}
        for r in rows:
            a = by_path[r["artifact"]]
            if a.precision != "int8":
                continue
            log(f"per-layer quantization error of {a.path.name} ...")
            x = _features(a.spec, x_raw, cache)[:LAYER_WINDOWS]
            if a.format == "tflite":
                r["layers"] = tflite_layer_errors(a, arts, x, log=log)
            elif a.format == "onnx":
                r["layers"] = onnx_layer_errors(a, arts, x, log=log)
    if outputs is not None:
        outputs.update({str(k): v for k, v in outs.items()})
    return _finite({"reference": str(ref.path), "test_data": source, "n_test": int(len(x_raw)),
                    "task": spec.task, "kind": spec.kind, "labels": list(spec.labels), "target": spec.target,
                    "notes": notes,
                    "rows": rows})


def compare_artifacts(paths: list[str], data: str | None = None, runs: int = 100,
                      log=print, layers: bool = False) -> list[dict[str, Any]]:
    """The rows of :func:`compare` (one dict per artifact, the reference first)."""
    return compare(paths, data, runs, log, layers)["rows"]


# -- output --------------------------------------------------------------------------------------------

def _short_names(paths: list) -> list[str]:
    names = [Path(p).name for p in paths]
    if len(set(names)) < len(names):       # same file name in different directories: show more
        names = [Path(p).parent.name + "/" + Path(p).name for p in paths]
    return names


def _display_names(rows: list[dict[str, Any]]) -> list[str]:
    names = _short_names([r["artifact"] for r in rows])
    return [n + (" *" if r["reference"] else "") for n, r in zip(names, rows)]


def _table(header: list[str], body: list[list[str]], left: int) -> list[str]:
    """Aligned text columns: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    head = line(header)
    return [head, "─" * len(head)] + [line(b) for b in body]


def _fmt(v, spec: str, none: str = "n/a") -> str:
    return none if v is None else format(v, spec)


def print_table(rows: list[dict[str, Any]], log=print) -> None:
    """The terminal table: aligned columns, the float reference marked with *, deltas against it."""
    ref = next(r for r in rows if r["reference"])
    classification = ref["metric"] == "accuracy"
    names = _display_names(rows)
    if classification:
        header = ["artifact", "format", "precision", "size MB", "×ref", "accuracy", "Δ pp", "macro-F1",
                  "agreement", "max|Δout|", "p50 ms", "p99 ms", "speed-up", "peak MB"]
    else:
        unit = ref.get("unit") or "units"
        header = ["artifact", "format", "precision", "size MB", "×ref", "MSE", "Δ MSE", "MAE",
                  f"MAE [{unit}]", "agreement", "max|Δout|", "p50 ms", "p99 ms", "speed-up", "peak MB"]
    body = []
    for n, r in zip(names, rows):
        is_ref = r["reference"]
        cells = [n, r["format"], r["precision"], f"{r['size_bytes'] / 1e6:.2f}",
                 "—" if is_ref else f"{r['size_ratio']:.2f}"]
        if classification:
            cells += [_fmt(r["value"], ".4f"), "—" if is_ref else _fmt(None if r["delta"] is None
                                                                        else r["delta"] * 100, "+.2f"),
                      _fmt(r.get("macro_f1"), ".4f")]
        else:
            cells += [_fmt(r["value"], ".5f"), "—" if is_ref else _fmt(r["delta"], "+.5f"),
                      _fmt(r.get("mae"), ".5f"), _fmt(r.get("mae_physical"), ".3f")]
        lat = r["latency_ms"]
        cells += [_fmt(r["agreement"], ".2%"), _fmt(r["max_abs_diff"], ".2e"), _fmt(lat["p50"], ".3f"),
                  _fmt(lat["p99"], ".3f"), "—" if is_ref else _fmt(r["speedup_p50"], ".1f") + "×",
                  _fmt(r["peak_rss_mb"], ".0f")]
        body.append(cells)
    for line in _table(header, body, left=3):
        log(line)
    what = "top-1 agreement" if classification else \
        f"share of windows within {REGRESSION_AGREEMENT_TOL:.0%} of the reference's output range"
    kind = "float reference" if ref["precision"] == "float32" else \
        f"reference ({ref['precision']}: no float32 artifact was given)"
    log(f"* {kind}. Δ and ×ref against it; agreement = {what}; max|Δout| = largest output "
        f"difference; latency = one window, front end + model, {ref.get('latency_runs', '?')} runs; peak MB = "
        "process peak RSS while running it.")
    for r in rows:
        if r.get("nan_outputs"):
            log(f"warning: {Path(r['artifact']).name} produced {r['nan_outputs']} NaN/inf output values")


def print_layers(rows: list[dict[str, Any]], top: int = 10, log=print) -> None:
    """The ``top`` layers with the largest quantization error of every int8 artifact."""
    for r in rows:
        info = r.get("layers")
        if not info:
            continue
        log("")
        log(f"per-layer quantization error: {Path(r['artifact']).name} ({info['tool']}, {info['windows']} "
            f"test windows)")
        layers = info["layers"]
        if not layers:
            log("  no quantized layers were found")
            continue
        shown = layers[:top]
        if info["format"] == "tflite":
            header = ["#", "op", "tensor", "scale", "rmse/scale", "mean err/scale", "max|err|/scale"]
            body = [[str(i + 1), L["op"], _short(L["tensor"]), f"{L['scale']:.3g}", f"{L['rmse_over_scale']:.3f}",
                     f"{L['mean_error_over_scale']:+.3f}", f"{L['max_abs_error_over_scale']:.2f}"]
                    for i, L in enumerate(shown)]
        else:
            header = ["#", "op", "node", "scale", "drop dB", "SQNR dB", "QDQ SQNR dB", "rmse/scale", "clipped"]
            body = [[str(i + 1), L["op"], _short(L["node"]), f"{L['scale']:.3g}", _fmt(L.get("sqnr_drop_db"), "+.1f", "—"),
                     _fmt(L.get("sqnr_db"), ".1f", "—"), f"{L['qdq_sqnr_db']:.1f}",
                     _fmt(L["rmse_over_scale"], ".3f", "—"), f"{L['clipped_fraction']:.2%}"]
                    for i, L in enumerate(shown)]
        for line in _table(header, body, left=3):
            log("  " + line)
        if len(layers) > top:
            log(f"  ... {len(layers) - top} more layer(s) in --json")
        log("  " + info["explanation"])
        if info.get("weights"):
            log("  weights with the lowest SQNR: " + ", ".join(
                f"{_short(w['weight'], 40)} ({w['op']}) {w['sqnr_db']:.1f} dB" for w in info["weights"][:3]))
        worst = layers[0]
        log(f"  worst: {worst['op']} {_short(worst.get('node') or worst['tensor'])}; {info['keep_in_float']}")


def _short(name: str, width: int = 48) -> str:
    name = name.split(";")[0]
    return name if len(name) <= width else "…" + name[-(width - 1):]


CSV_FIELDS = ["artifact", "format", "precision", "backend", "reference", "size_bytes", "size_ratio", "metric",
              "value", "delta", "macro_f1", "mse", "mae", "mse_physical", "mae_physical", "unit", "agreement",
              "max_abs_diff", "mean_abs_diff", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
              "latency_mean_ms", "speedup_p50", "peak_rss_mb", "n_test"]


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """One line per artifact with the scalar columns of the JSON rows (latency flattened)."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            flat = dict(r)
            for k, v in r["latency_ms"].items():
                flat[f"latency_{k}_ms"] = v
            w.writerow({k: ("" if flat.get(k) is None else flat.get(k)) for k in CSV_FIELDS})
    return path


def write_plot(report: dict[str, Any], path: str | Path, outputs: dict[str, np.ndarray] | None = None,
               y: np.ndarray | None = None) -> Path:
    """A PNG: the task metric against latency (p50) and against file size, one point per artifact; for
    classifiers the confusion matrix of every artifact, for regression predicted against true values."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    names = [n.rstrip(" *") for n in _display_names(rows)]
    classification = report["kind"] == "classification"
    n = len(rows)
    ncols = min(max(n, 2), 5)
    nconf = math.ceil(n / ncols) if classification else 1
    fig = plt.figure(figsize=(max(11.0, 3.3 * ncols), 4.4 + 3.4 * nconf), layout="constrained")
    gs = fig.add_gridspec(2, 1, height_ratios=[4.4, 3.4 * nconf])
    top = gs[0].subgridspec(1, 2)
    if classification:
        metric = [r["value"] * 100 if r["value"] is not None else np.nan for r in rows]
        ylabel = "accuracy on the test split (%)"
    else:
        metric = [r.get("mae_physical") if r.get("mae_physical") is not None else np.nan for r in rows]
        ylabel = f"MAE [{rows[0].get('unit') or 'units'}] (lower is better)"
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = {"keras": "*", "tflite": "o", "onnx": "s"}
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    for k, (xkey, xlabel) in enumerate((("lat", "latency per window, p50 (ms)"), ("size", "file size (MB)"))):
        ax = fig.add_subplot(top[0, k])
        xs = [r["latency_ms"]["p50"] if xkey == "lat" else r["size_bytes"] / 1e6 for r in rows]
        placed: list[tuple[float, float]] = []
        for i, (x, yv, name, r) in enumerate(zip(xs, metric, names, rows)):
            ax.scatter([x], [yv], s=160 if r["reference"] else 70, marker=markers.get(r["format"], "o"),
                       color=colors[i % len(colors)], edgecolors="black", linewidths=0.6, zorder=3,
                       label=f"{i + 1}  {name} ({r['format']} {r['precision']})"
                             + (" — reference" if r["reference"] else ""))
            # number labels; points at the same place get their labels stacked instead of overprinted
            dup = sum(1 for (px, py) in placed if abs(px - x) <= 0.04 * max(abs(x), 1e-9)
                      and (abs(py - yv) < 1e-9 or (np.isnan(py) and np.isnan(yv))))
            placed.append((x, yv))
            ax.annotate(str(i + 1), (x, yv), textcoords="offset points", xytext=(7, 5 + 11 * dup), fontsize=9,
                        fontweight="bold")
        if max(xs) > 10 * max(min(xs), 1e-9):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        lo, hi = np.nanmin(metric), np.nanmax(metric)
        pad = max((hi - lo) * 0.3, abs(hi) * 0.01, 1e-6)
        ax.set_ylim(lo - pad, hi + pad * 2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3, which="both")
        ax.set_title(f"{'accuracy' if classification else 'error'} vs {'latency' if xkey == 'lat' else 'size'}")
        if k == 0:
            ax.legend(fontsize=7, loc="best", framealpha=0.85)
    labels = report.get("labels") or []
    if classification:
        conf = gs[1].subgridspec(nconf, ncols)
        for i, (r, name) in enumerate(zip(rows, names)):
            ax = fig.add_subplot(conf[i // ncols, i % ncols])
            m = np.asarray(r["confusion"])
            ax.imshow(m, cmap="Blues")
            for (a, b), v in np.ndenumerate(m):
                ax.text(b, a, str(v), ha="center", va="center", fontsize=9,
                        color="white" if v > m.max() / 2 else "black")
            ticks = range(len(labels))
            ax.set_xticks(ticks, labels if len(labels) <= 12 else [str(t) for t in ticks], fontsize=8)
            ax.set_yticks(ticks, labels if len(labels) <= 12 else [str(t) for t in ticks], fontsize=8)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{name}\naccuracy {r['value']:.2%}" if r["value"] is not None else name, fontsize=9)
    else:
        ax = fig.add_subplot(gs[1])
        scaling = (report.get("target") or {}).get("scaling") or {"type": "none"}
        unit = rows[0].get("unit") or "units"
        if outputs is not None and y is not None:
            t = fe.denormalize(np.asarray(y, np.float64).reshape(len(y), -1)[:, 0], scaling)
            for i, (r, name) in enumerate(zip(rows, names)):
                o = fe.denormalize(np.asarray(outputs[r["artifact"]], np.float64).reshape(len(y), -1)[:, 0],
                                   scaling)
                ax.scatter(t, o, s=8, alpha=0.5, color=colors[i % len(colors)], label=name)
            lo, hi = float(t.min()), float(t.max())
            ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="ideal")
            ax.legend(fontsize=8)
        ax.set_xlabel(f"true [{unit}]")
        ax.set_ylabel(f"predicted [{unit}]")
        ax.set_title("predicted vs true on the test split")
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"edgekit compare — task {report['task']}, {report['n_test']} test windows", fontsize=12)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- per-layer quantization error ------------------------------------------------------------------------

def _find_run_dir(art: Artifact, arts: list[Artifact]) -> Path:
    """The training run the artifact was converted from: model.keras whose sha256 is in its spec, with
    calibration.npz. Looked for next to the given .keras artifacts and next to the artifact itself."""
    from edgekit.edge.model.spec import file_sha256

    candidates = [a.path.parent for a in arts if a.format == "keras"] + [art.path.parent]
    tried = []
    for d in dict.fromkeys(candidates):
        mk = d / "model.keras"
        if not mk.is_file():
            tried.append(f"{d} (no model.keras)")
            continue
        if art.spec.model_sha256 and file_sha256(mk) != art.spec.model_sha256:
            tried.append(f"{d} (another model)")
            continue
        if not (d / "calibration.npz").is_file():
            tried.append(f"{d} (no calibration.npz)")
            continue
        return d
    raise EdgekitError(f"--layers for {art.path.name} needs the training run it was converted from "
                       f"(model.keras and calibration.npz); tried {', '.join(tried)}")


def tflite_layer_errors(art: Artifact, arts: list[Artifact], x: np.ndarray, log=print) -> dict[str, Any]:
    """Per-op error of an int8 TFLite model with ``tf.lite.experimental.QuantizationDebugger``.

    The debugger re-quantizes the Keras model with the artifact's calibration (the run's calibration.npz
    through the front end, as many windows as the artifact's spec records) and runs every quantized op next
    to its float twin on the same (dequantized) inputs, over the test windows ``x``. The error of each op is
    reported in units of its output's quantization step: rmse/scale ≈ 0.29 (1/√12) is pure rounding, much
    more means the op loses information and is a candidate for staying in float.
    """
    from edgekit.train.fit import quiet_tensorflow
    quiet_tensorflow()
    import contextlib
    import io

    import tensorflow as tf
    from edgekit.edge._quiet import captured_stderr
    from edgekit.train.artifacts import open_run
    from .calibration import calibration_features

    run = open_run(_find_run_dir(art, arts))
    n_cal = int((art.spec.quantization or {}).get("calibration_samples", 300))
    rep = calibration_features(run, n_cal, log=lambda *a: None).astype(np.float32)
    model = run.load_model()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rep[i:i + 1]] for i in range(len(rep)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    xs = np.asarray(x, np.float32)
    try:
        # the converter prints "Saved artifact at ..." on stdout, which would corrupt --json
        with captured_stderr() as cap, contextlib.redirect_stdout(io.StringIO()):
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=conv, debug_dataset=lambda: ([xs[i:i + 1]] for i in range(len(xs))))
            debugger.run()
            buf = io.StringIO()
            debugger.layer_statistics_dump(buf)
    except Exception as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else cap.last_line()
        raise EdgekitError(f"{art.path}: the TFLite quantization debugger failed ({detail[:200]})") from None
    buf.seek(0)
    layers = []
    for rec in csv.DictReader(buf):
        scale = float(rec["scale"])
        if not scale > 0:
            continue
        layers.append({
            "op": rec["op_name"], "tensor": rec["tensor_name"], "tensor_index": int(rec["tensor_idx"]),
            "scale": scale, "zero_point": int(float(rec["zero_point"])),
            "rmse_over_scale": math.sqrt(max(float(rec["mean_squared_error"]), 0.0)) / scale,
            "mean_error_over_scale": float(rec["mean_error"]) / scale,
            "max_abs_error_over_scale": float(rec["max_abs_error"]) / scale,
            "range": 255.0 * scale, "num_elements": int(float(rec["num_elements"])),
        })
    layers.sort(key=lambda L: -L["rmse_over_scale"])
    for L in layers:
        L["error"] = L["rmse_over_scale"]
    return {"format": "tflite", "tool": "tf.lite.experimental.QuantizationDebugger", "windows": int(len(xs)),
            "calibration_windows": int(len(rep)), "error_metric": "rmse_over_scale", "layers": layers,
            "explanation": f"rmse/scale: each op against its float twin on the same inputs, in quantization "
                           f"steps; {UNIFORM_RMSE_OVER_SCALE:.2f} is rounding alone, larger values lose more",
            "keep_in_float": "keep it in float with QuantizationDebugOptions(denylisted_nodes=[...]) or a "
                             "selective-quantization converter"}


def _float_onnx_for(art: Artifact, arts: list[Artifact], tmp: Path, log=print) -> tuple[Path | None, str]:
    """A float32 ONNX model of the same Keras model: a given artifact, a sibling file, or a fresh export
    of the run's model.keras (when the ONNX exporter is installed). (None, why) if there is none."""
    from edgekit.edge.model.metadata import read_spec

    sha = art.spec.model_sha256
    for a in arts:
        if a.format == "onnx" and a.precision == "float32" and a.spec.model_sha256 == sha:
            return a.path, f"float reference {a.path.name}"
    for p in sorted(art.path.parent.glob("*.onnx")):
        if p == art.path:
            continue
        try:
            s = read_spec(p)
        except EdgekitError:
            continue
        if s is not None and s.model_sha256 == sha and (s.quantization or {}).get("precision", "float32") == "float32":
            return p, f"float reference {p.name}"
    try:
        run_dir = _find_run_dir(art, arts)
        import importlib
        to_onnx = importlib.import_module("edgekit.convert.onnx").to_onnx
    except (EdgekitError, ImportError, AttributeError) as e:
        return None, f"no float32 ONNX model of the same run found ({getattr(e, 'message', e)})"
    from edgekit.train.artifacts import open_run
    run = open_run(run_dir)
    out = tmp / "float32.onnx"
    log(f"exporting {run_dir / 'model.keras'} to float32 ONNX for the comparison ...")
    import contextlib
    import io

    from edgekit.edge._quiet import captured_stderr
    from edgekit.train.fit import quiet_tensorflow
    quiet_tensorflow()
    try:
        with captured_stderr(), contextlib.redirect_stdout(io.StringIO()):
            to_onnx(run.load_model(), run.spec(), "float32", out, None)
    except EdgekitError as e:
        return None, f"the float32 ONNX export failed ({e.message})"
    return out, f"float export of {run_dir / 'model.keras'}"


def _onnx_qparams(proto) -> tuple[dict[str, tuple[float, int, int, int]], dict[str, Any]]:
    """Per activation tensor quantized in a QDQ graph: (scale, zero point, qmin, qmax); and the initializers."""
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    qparams = {}
    for n in proto.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in inits or n.input[1] not in inits:
            continue
        scale = numpy_helper.to_array(inits[n.input[1]]).reshape(-1)
        zp_t = inits.get(n.input[2]) if len(n.input) > 2 else None
        zp = numpy_helper.to_array(zp_t).reshape(-1) if zp_t is not None else np.zeros(1, np.uint8)
        if scale.size != 1:          # per-channel activations: not produced by quantize_static
            continue
        info = np.iinfo(zp.dtype)
        qparams[n.input[0]] = (float(scale[0]), int(zp[0]) if zp.size else 0, int(info.min), int(info.max))
    return qparams, inits


def _onnx_weight_errors(qdq_proto, float_path: Path) -> list[dict[str, Any]]:
    """SQNR (dB) of every int8 weight of the QDQ model against the float model's weight of the same name.

    This is ``qdq_loss_debug.create_weight_matching`` + ``compute_weight_error``, except that the
    dequantization is done in float64: the library subtracts the zero point in the weights' own int8
    dtype, which wraps around (onnxruntime 1.32) and reports nonsense for per-tensor int8 biases.
    """
    import onnx
    from onnx import numpy_helper

    fl = {i.name: i for i in onnx.load(str(float_path)).graph.initializer}
    inits = {i.name: i for i in qdq_proto.graph.initializer}
    consumer = {i: n for n in qdq_proto.graph.node for i in n.input}
    out = []
    for n in qdq_proto.graph.node:
        if n.op_type != "DequantizeLinear" or n.input[0] not in inits or not n.input[0].endswith("_quantized"):
            continue
        name = n.input[0][:-len("_quantized")]
        if name not in fl or n.input[1] not in inits:
            continue
        q = numpy_helper.to_array(inits[n.input[0]]).astype(np.float64)
        s = numpy_helper.to_array(inits[n.input[1]]).astype(np.float64)
        z = (numpy_helper.to_array(inits[n.input[2]]).astype(np.float64) if len(n.input) > 2
             and n.input[2] in inits else np.zeros_like(s))
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        if s.size > 1:               # per-channel: broadcast along the quantization axis
            shape = [1] * q.ndim
            shape[axis % q.ndim] = -1
            s, z = s.reshape(shape), z.reshape(shape)
        deq = (q - z) * s
        f = numpy_helper.to_array(fl[name]).astype(np.float64)
        if f.shape != deq.shape:
            continue
        eps = np.finfo(float).eps
        sq = 20 * math.log10(max(np.linalg.norm(f), eps) / max(np.linalg.norm(f - deq), eps))
        user = consumer.get(n.output[0])
        out.append({"weight": name, "op": user.op_type if user is not None else "?",
                    "node": user.name if user is not None else "", "per_channel": bool(s.size > 1),
                    "sqnr_db": sq})
    out.sort(key=lambda w: w["sqnr_db"])
    return out


def _check_qdq(path: Path) -> None:
    """--layers on ONNX needs the QDQ format (QuantizeLinear/DequantizeLinear around float operators)."""
    from edgekit.edge.model.metadata import file_info

    ops = file_info(path).operators
    qop = sorted(o for o in ops if o.split(".")[-1].startswith("QLinear") or o.split(".")[-1].endswith("Integer"))
    if qop or not ops.get("QuantizeLinear") or not ops.get("DequantizeLinear"):
        has = f"quantized operators ({', '.join(qop[:4])})" if qop else f"operators {', '.join(sorted(ops)[:6])}"
        raise EdgekitError(f"{path}: --layers needs an ONNX model in QDQ format (QuantizeLinear/DequantizeLinear "
                           f"around float operators: 'edgekit convert --quant-format qdq'); this one has {has}")


def onnx_layer_errors(art: Artifact, arts: list[Artifact], x: np.ndarray, log=print,
                      batch: int = 8) -> dict[str, Any]:
    """Per-tensor error of an int8 (QDQ) ONNX model with ``onnxruntime.quantization.qdq_loss_debug``.

    Every tensor of the QDQ model is exposed (``modify_model_output_intermediate_tensors``) and paired
    before and after its QuantizeLinear → DequantizeLinear (``create_activation_matching``); given a
    float32 ONNX model of the same network (an artifact, a sibling file, or a fresh export of the run's
    model.keras), also with the float model's tensor of the same name. Over the test windows ``x``, in
    batches, with statistics accumulated so that memory stays flat:

    * ``sqnr_db``: signal-to-quantization-noise ratio of the QDQ tensor against the float tensor — the error
      accumulated up to that point (lower is worse);
    * ``sqnr_drop_db``: how much SQNR the producing node loses against its own inputs — the error that
      layer adds (its weights and its output rounding); the ranking key, so the layer that hurts comes
      first;
    * ``qdq_sqnr_db`` / ``rmse_over_scale`` / ``clipped_fraction``: the tensor's own rounding and clipping
      (rmse/scale 0.29 = rounding alone; clipping = the calibrated range is too narrow). A range that
      starts at exactly 0 is a fused ReLU, so values below 0 count as intended, not as clipped;
    * per weight, the SQNR of the int8 weight against the float one.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization.qdq_loss_debug import (create_activation_matching,
                                                         modify_model_output_intermediate_tensors)
    from onnxruntime.quantization.quant_utils import DEQUANT_OUTPUT_SUFFIX, QUANT_INPUT_SUFFIX

    from edgekit.edge.model.quant import quantize

    _check_qdq(art.path)
    proto = onnx.load(str(art.path))
    qparams, _ = _onnx_qparams(proto)
    producer = {o: n for n in proto.graph.node for o in n.output}
    # a graph output T is written as  op → T_QuantizeLinear_Input → Q → DQ → T : key both by T
    for t in list(qparams):
        if t.endswith(QUANT_INPUT_SUFFIX):
            base = t[:-len(QUANT_INPUT_SUFFIX)]
            qparams.setdefault(base, qparams[t])
            if t in producer:
                producer[base] = producer[t]
    model_input = art.model.backend.input if art.model is not None else None
    dtypes = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}
    suffix = "_ReshapedSavedOutput"

    def feed(sess, xb: np.ndarray) -> dict[str, np.ndarray]:
        inp = sess.get_inputs()[0]
        dt = np.dtype(dtypes.get(inp.type, np.float32))
        if model_input is not None and model_input.quantized and dt == np.dtype(model_input.dtype):
            return {inp.name: quantize(xb, model_input)}
        return {inp.name: xb.astype(dt)}

    acc: dict[str, dict[str, float]] = {}
    n_float_matched = 0
    weights: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-layers-") as tmpd:
        tmp = Path(tmpd)
        float_path, float_note = _float_onnx_for(art, arts, tmp, log=log)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL   # keep every tensor
        so.log_severity_level = 3
        sessions = {}
        for key, src in (("qdq", art.path), ("float", float_path)):
            if src is None:
                continue
            aug = tmp / f"{key}_augmented.onnx"
            modify_model_output_intermediate_tensors(str(src), str(aug))
            sessions[key] = ort.InferenceSession(str(aug), sess_options=so, providers=["CPUExecutionProvider"])
        for i in range(0, len(x), batch):
            xb = np.asarray(x[i:i + batch], np.float32)
            acts = {}
            for key, sess in sessions.items():
                res = sess.run(None, feed(sess, xb))
                acts[key] = {o.name[:-len(suffix)]: [v] for o, v in zip(sess.get_outputs(), res)
                             if o.name.endswith(suffix)}
            match = create_activation_matching(acts["qdq"], acts.get("float"))
            n_float_matched = max(n_float_matched, sum("float" in m for m in match.values()))
            for name, m in match.items():
                pre = np.asarray(m["pre_qdq"][0], np.float64)
                post = np.asarray(m["post_qdq"][0], np.float64)
                if pre.shape != post.shape:
                    continue
                a = acc.setdefault(name, dict.fromkeys(("sig", "noise", "n", "clip", "fsig", "fnoise", "fn"), 0.0))
                if name in qparams:
                    s, zp, qmin, qmax = qparams[name]
                    lo, hi = s * (qmin - zp), s * (qmax - zp)
                    if abs(lo) < s / 2:          # range starts at 0: a fused ReLU, not clipping
                        pre = np.maximum(pre, 0.0)
                    a["clip"] += int(((pre < lo - s / 2) | (pre > hi + s / 2)).sum())
                a["sig"] += float((pre ** 2).sum())
                a["noise"] += float(((pre - post) ** 2).sum())
                a["n"] += pre.size
                if "float" in m:
                    f = np.asarray(m["float"][0], np.float64)
                    if f.shape == post.shape:
                        a["fsig"] += float((f ** 2).sum())
                        a["fnoise"] += float(((f - post) ** 2).sum())
                        a["fn"] += f.size
        if float_path is not None:
            weights = _onnx_weight_errors(proto, float_path)

    def sqnr(sig: float, noise: float) -> float:
        # qdq_loss_debug.compute_signal_to_quantization_noice_ratio, from accumulated sums of squares
        eps = np.finfo(float).eps
        return 20 * math.log10(max(math.sqrt(sig), eps) / max(math.sqrt(noise), eps))

    layers: dict[str, dict[str, Any]] = {}
    for name, a in acc.items():
        if not a["n"]:
            continue
        s = qparams.get(name, (0.0, 0, 0, 0))[0]
        prod = producer.get(name)
        L = {"tensor": name, "op": prod.op_type if prod is not None else "input",
             "node": prod.name if prod is not None else name, "scale": s,
             "qdq_sqnr_db": sqnr(a["sig"], a["noise"]),
             "rmse_over_scale": math.sqrt(a["noise"] / a["n"]) / s if s > 0 else None,
             "clipped_fraction": a["clip"] / a["n"], "num_elements": int(a["n"] // max(len(x), 1))}
        if a["fn"]:
            L["sqnr_db"] = sqnr(a["fsig"], a["fnoise"])
        layers[name] = L
    # the SQNR a node loses against its inputs (the tensors feeding it through DequantizeLinear)
    for name, L in layers.items():
        prod = producer.get(name)
        if prod is None or "sqnr_db" not in L:
            continue
        ins = [i[:-len(DEQUANT_OUTPUT_SUFFIX)] if i.endswith(DEQUANT_OUTPUT_SUFFIX) else i for i in prod.input]
        in_sqnr = [layers[i]["sqnr_db"] for i in ins if i in layers and "sqnr_db" in layers[i] and i != name]
        if in_sqnr:
            L["input_sqnr_db"] = min(in_sqnr)
            L["sqnr_drop_db"] = min(in_sqnr) - L["sqnr_db"]
    out = list(layers.values())
    has_float = any("sqnr_db" in L for L in out)
    if has_float:
        out.sort(key=lambda L: (-L.get("sqnr_drop_db", -math.inf), L.get("sqnr_db", math.inf)))
        for L in out:
            L["error"] = L.get("sqnr_drop_db")
    else:
        out.sort(key=lambda L: L["qdq_sqnr_db"])
        for L in out:
            L["error"] = -L["qdq_sqnr_db"]
    expl = ("drop dB: SQNR the layer loses against its inputs (its weights + output rounding; the ranking); "
            "SQNR dB: the QDQ tensor against the float model's (accumulated); QDQ SQNR / rmse/scale / "
            f"clipped: the tensor's own rounding and clipping ({UNIFORM_RMSE_OVER_SCALE:.2f} steps = rounding "
            "alone)")
    if not has_float:
        expl += f"; no float comparison: {float_note}"
    return {"format": "onnx", "tool": "onnxruntime.quantization.qdq_loss_debug", "windows": int(len(x)),
            "float_model": float_note, "float_tensors_matched": n_float_matched,
            "error_metric": "sqnr_drop_db" if has_float else "qdq_sqnr_db", "layers": out, "weights": weights,
            "explanation": expl,
            "keep_in_float": "keep it in float with quantize_static(..., nodes_to_exclude=[its node name])"}


# -- the command -----------------------------------------------------------------------------------------

def _check_output_path(opt: str, path: str | None, suffix: str | None = None) -> None:
    if path is None:
        return
    p = Path(path)
    if suffix and p.suffix.lower() != suffix:
        raise EdgekitError(f"{opt} {path}: give a {suffix} file name")
    if p.is_dir():
        raise EdgekitError(f"{opt} {path}: is a directory; give a file name")
    if not p.parent.is_dir():
        raise EdgekitError(f"{opt} {path}: the directory {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise EdgekitError(f"{opt} {path}: cannot write to {p.parent}")


@click.command("compare")
@click.argument("artifacts", metavar="ARTIFACT...", nargs=-1, required=True, type=click.Path())
@click.option("--data", type=click.Path(), default=None,
              help="Test data: a .npz with x (raw windows) and y, or a run directory (default: the test split "
                   "recorded at training, next to the artifacts).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with a 'rows' list.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the table as CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a PNG: metric vs latency and size, confusion matrices.")
@click.option("--layers", is_flag=True, help="Per-layer quantization error of the int8 models.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Layers shown per model with --layers.")
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Single-window runs timed per artifact.")
def compare_cmd(artifacts, data, as_json, csv_path, plot_path, layers, top, runs):
    """Compare float and quantized models (.keras, .tflite, .onnx) on the same test data: task metric,
    agreement with the float reference, size, latency per window, peak memory; --layers shows which
    layers of an int8 model lose the most."""
    _check_output_path("--csv", csv_path)
    _check_output_path("--plot", plot_path, ".png")
    if plot_path:
        import matplotlib  # noqa: F401 -- before the long part: without it, a one-line error naming the extra
    log = (lambda *a, **k: click.echo(*a, err=True)) if as_json else click.echo
    outputs: dict[str, np.ndarray] = {}
    report = compare(list(artifacts), data, runs, log=log, layers=layers, outputs=outputs)
    if csv_path:
        write_csv(report["rows"], csv_path)
        log(f"wrote {csv_path}")
    if plot_path:
        y = None
        if report["kind"] == "regression":
            with np.load(report["test_data"], allow_pickle=False) as z:
                y = z["y"]
        write_plot(report, plot_path, outputs, y)
        log(f"wrote {plot_path}")
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    print_table(report["rows"], log)
    if layers:
        print_layers(report["rows"], top, log)
