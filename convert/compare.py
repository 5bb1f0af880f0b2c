"""``edgekit compare``: float against quantized on the same test data — task metric, agreement with the
float reference, size, latency per window and peak memory, for any mix of .keras/.tflite/.onnx."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError
from edgekit.edge.spec import Spec
from edgekit.edge.stats import summarize


@dataclass
class Artifact:
    path: Path
    format: str
    precision: str
    backend: str
    size_bytes: int
    spec: Spec
    predict: Callable[[np.ndarray], np.ndarray]     # float features (N, ...) → float outputs (N, C)


def load_artifact(path: str | Path) -> Artifact:
    p = Path(path)
    if not p.exists():
        raise EdgekitError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".keras":
        from edgekit.train.artifacts import open_run
        import keras
        run = open_run(p.parent)
        model = run.load_model() if p.name == "model.keras" else keras.models.load_model(p, compile=False)
        return Artifact(p, "keras", "float32", f"keras {keras.__version__}", p.stat().st_size, run.spec(),
                        lambda x: np.asarray(model(x, training=False)))
    if suffix in (".tflite", ".onnx"):
        from edgekit.edge.model import Model
        m = Model(p)
        if m.spec is None:
            raise EdgekitError(f"{p}: carries no edgekit metadata, so its task and test data are unknown")
        return Artifact(p, m.format, m.precision, m.backend.name, m.file.size_bytes, m.spec, m.predict)
    raise EdgekitError(f"{p}: not a model (give .keras, .tflite or .onnx files)")


def _same_task(a: Spec, b: Spec) -> bool:
    return (a.task, a.kind, a.labels, a.window, a.sample_rate, tuple(a.input_shape)) == \
        (b.task, b.kind, b.labels, b.window, b.sample_rate, tuple(b.input_shape))


def load_test_data(arts: list[Artifact], data: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    candidates = [Path(data)] if data else [a.path.parent for a in arts]
    for c in candidates:
        f = c / "test.npz" if c.is_dir() else c
        if f.is_file() and f.suffix == ".npz":
            try:
                with np.load(f, allow_pickle=False) as z:
                    return z["x"], z["y"], str(f)
            except (KeyError, ValueError, OSError) as e:
                raise EdgekitError(f"{f}: not a test split (needs arrays x and y): {e}") from None
        if data:
            raise EdgekitError(f"--data {data}: give a test .npz (x, y) or a training run directory")
    raise EdgekitError("no test data found next to the artifacts; give --data DIR/test.npz")


def macro_f1(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    f1s = []
    for c in range(n_classes):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def _peak_rss_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _latency(art: Artifact, front, windows: np.ndarray, runs: int) -> dict[str, float]:
    pc = time.perf_counter
    samples = []
    for i in range(-10, runs):
        t0 = pc()
        out = art.predict(front(windows[i % len(windows)])[None])
        int(np.argmax(out))
        if i >= 0:
            samples.append((pc() - t0) * 1e3)
    return summarize(samples)


def compare_artifacts(paths: list[str], data: str | None = None, runs: int = 100,
                      log=print) -> list[dict[str, Any]]:
    if not paths:
        raise EdgekitError("give at least one artifact (.keras, .tflite or .onnx)")
    arts = [load_artifact(p) for p in paths]
    ref = next((a for a in arts if a.format == "keras"), None) or \
        next((a for a in arts if a.precision == "float32"), arts[0])
    for a in arts:
        if not _same_task(a.spec, ref.spec):
            raise EdgekitError(f"{a.path}: belongs to another task than {ref.path} ({a.spec.task}, labels "
                               f"{list(a.spec.labels)}); compare artifacts of one model")
    x_raw, y, source = load_test_data(arts, data)
    spec = ref.spec
    front = fe.build(spec)
    x = np.concatenate([front(x_raw[i:i + 256]) for i in range(0, len(x_raw), 256)])
    log(f"test data: {len(x)} windows from {source}; reference {ref.path.name}")
    outputs = {}
    rows = []
    for a in sorted(arts, key=lambda a: a is not ref):   # the reference first
        can_reset = _peak_rss_reset()
        out = np.concatenate([a.predict(x[i:i + 64]) for i in range(0, len(x), 64)])
        lat = _latency(a, front, x_raw, runs)
        peak = _peak_rss_mb() if can_reset else None
        outputs[a.path] = out
        ro = outputs[ref.path]
        diff = np.abs(out.astype(np.float64) - ro.astype(np.float64))
        row: dict[str, Any] = {
            "artifact": str(a.path), "format": a.format, "precision": a.precision, "backend": a.backend,
            "size_bytes": a.size_bytes, "reference": a is ref,
            "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "latency_ms": {k: lat[k] for k in ("p50", "p99", "mean")}, "peak_rss_mb": peak,
        }
        if spec.kind == "classification":
            pred = out.argmax(1)
            row.update(metric="accuracy", value=float((pred == y).mean()),
                       macro_f1=macro_f1(y, pred, len(spec.labels)),
                       agreement=float((pred == ro.argmax(1)).mean()),
                       confusion=_confusion(y, pred, len(spec.labels)))
        else:
            t = np.asarray(y, np.float64).reshape(-1)
            o = out.reshape(-1).astype(np.float64)
            row.update(metric="mse", value=float(((o - t) ** 2).mean()), mae=float(np.abs(o - t).mean()),
                       agreement=float(1.0 - diff.mean()))
        rows.append(row)
    return rows


def _confusion(y, pred, n):
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (np.asarray(y, int), np.asarray(pred, int)), 1)
    return m.tolist()


def print_table(rows: list[dict[str, Any]], log=print) -> None:
    ref = next(r for r in rows if r["reference"])
    metric = ref["metric"]
    head = f"{'artifact':<28} {'format':<7} {'precision':<9} {'size':>9} {metric:>9} {'Δ':>7} " \
           f"{'agreement':>9} {'p50 ms':>7} {'p99 ms':>7}"
    log(head)
    log("─" * len(head))
    for r in rows:
        name = Path(r["artifact"]).name + (" *" if r["reference"] else "")
        delta = "" if r["reference"] else f"{(r['value'] - ref['value']) * (100 if metric == 'accuracy' else 1):+.2f}"
        val = f"{r['value']:.4f}" if metric == "accuracy" else f"{r['value']:.5f}"
        log(f"{name:<28} {r['format']:<7} {r['precision']:<9} {r['size_bytes'] / 1e6:>7.2f}MB {val:>9} "
            f"{delta:>7} {r['agreement']:>9.2%} {r['latency_ms']['p50']:>7.3f} {r['latency_ms']['p99']:>7.3f}")
    log("* float reference; Δ in percentage points (accuracy); latency = one window, front end + model")
