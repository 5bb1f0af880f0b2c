"""Latency of one window through the device path, per stage (front end, quantize, invoke, post-process), the way
``edgekit bench`` reports it: init time, first inference, warm-up, then mean / std / min / p50 / p90 / p99 / max of
every stage and of the total, per thread count, with peak RSS and the real-time factor.

numpy and the runtimes only: this runs on the device install, where TensorFlow cannot be imported.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from edgekit.edge import tasks
from edgekit.edge.tasks.base import Input, Run, Times
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.pipeline.stats import peak_rss_mb, reset_peak_rss, summarize
from edgekit.edge.pipeline.step import STAGES

STAGE_TITLES = {"features": "front end", "quantize": "quantize", "inference": "inference",
                "postprocess": "post-process", "total": "total"}


# -- input windows -----------------------------------------------------------------------------------

def windows_for(spec: Spec, n: int, seed: int = 0) -> np.ndarray:
    """``n`` raw input windows for timing a model of this spec, deterministic for ``seed``: what the task
    says bench feeds it (:meth:`~edgekit.edge.tasks.base.Task.bench_windows`), e.g. synthetic vibration, rows inside the
    trained range, random pixels. Timing does not depend on the values for these models (no data-dependent control
    flow), but realistic ranges keep int8 inputs away from saturation, as on the device."""
    return _windows(spec, n, seed)[0]


def _windows(spec: Spec, n, seed) -> tuple[np.ndarray, str]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise EdgekitError(f"windows_for: n must be a positive integer, got {n!r}")
    return tasks.get(spec.task).bench_windows(spec, int(n), seed)


# -- timing ------------------------------------------------------------------------------------------

class _Replay(Run):
    """The task run of a benchmark: ``warmup + runs`` windows, cycling through ``windows``; no output."""

    def __init__(self, windows: np.ndarray, count: int):
        self.windows, self.count, self.source_name = windows, count, "bench"

    def inputs(self) -> Iterator[Input]:
        for i in range(self.count):
            yield Input(self.windows[i % len(self.windows)])

    def result(self, item: Input, answer: Any, latency_ms: dict[str, float]) -> None:
        return None

    def empty(self, invalid: int) -> EdgekitError:
        return EdgekitError("no benchmark window reached the model")

    def summary(self, times: Times, *, stopped: str | None, invalid: int) -> dict[str, Any]:
        return {"stopped_by": stopped or "end of source"}

    def close(self) -> None:
        pass


class _Times:
    """Every window's stage times, in order (a benchmark is bounded: ``warmup + runs`` windows)."""

    def __init__(self, n: int):
        self.stages = {k: np.empty(n) for k in STAGES}
        self.i = 0

    def add(self, lat: dict[str, float]) -> None:
        for k in STAGES:
            self.stages[k][self.i] = lat[k]
        self.i += 1

    def summary(self) -> dict:
        return {}


def time_window_path(model, windows: np.ndarray, runs: int = 200, warmup: int = 20) -> dict[str, Any]:
    """Run ``warmup`` + ``runs`` windows (cycling through ``windows``) one at a time through the streaming loop (front
    end → quantize → invoke → dequantize + post-process), as edge-run does.

    Returns ``first_ms`` (the very first window, cold caches and lazy allocations included),
    ``warmup_ms`` (stats of the warm-up windows, first one included; n = 0 without warm-up) and, per
    stage in :data:`STAGES`, stats in ms over the ``runs`` timed windows only. With ``warmup=0`` the first window is
    also the first timed one.
    """
    from edgekit.edge.outputs.sinks import NullSink
    from edgekit.edge.pipeline.loop import run_stream

    if runs < 1 or warmup < 0:
        raise EdgekitError(f"need at least one timed run and a non-negative warm-up (got runs {runs}, "
                           f"warm-up {warmup})")
    if len(windows) == 0:
        raise EdgekitError("no input windows to time")
    times = _Times(warmup + runs)
    run_stream(model, None, NullSink(), run=_Replay(windows, warmup + runs), times=times)
    st = times.stages
    return {"first_ms": float(st["total"][0]), "runs": runs, "warmup": warmup,
            "warmup_ms": summarize(st["total"][:warmup]), **{k: summarize(v[warmup:]) for k, v in st.items()}}


# -- the bench command's logic ------------------------------------------------------------------------

def parse_threads(value: str | Iterable[int] | None) -> list[int]:
    """``"1,2,4"`` → ``[1, 2, 4]`` (order kept, duplicates dropped); one-line error for anything else."""
    if value is None:
        return [1]
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[int] = []
    for item in items:
        s = str(item).strip()
        if not s.isdigit() or int(s) < 1 or int(s) > 256:
            raise EdgekitError(f"--threads {value!r}: give thread counts between 1 and 256, comma-separated, "
                               "e.g. --threads 1,2,4")
        if int(s) not in out:
            out.append(int(s))
    if not out:
        raise EdgekitError("--threads: give at least one thread count, e.g. --threads 1,2")
    return out


def bench_model(path, runs: int = 200, warmup: int = 20, threads: Iterable[int] = (1,),
                provider: str | None = None, seed: int = 0, n_windows: int = 16,
                log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Benchmark the model file at ``path`` once per thread count; a JSON-ready report.

    For each thread count: ``init_ms`` (loading the model and allocating the interpreter/session),
    ``first_inference_ms``, the warm-up, then per-stage stats over ``runs`` windows, ``windows_per_second``,
    the real-time factor (seconds of signal per second of compute: window seconds / mean total; None for pictures, which
    are not a stretch of signal), and the peak RSS while loading and running that configuration (the process's
    high-water mark, reset before each one where the kernel allows it).
    """
    from edgekit.edge.model.model import Model

    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise EdgekitError(f"--runs must be at least 1, got {runs!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise EdgekitError(f"--warmup must be 0 or more, got {warmup!r}")
    threads = parse_threads(threads)
    import_ms = _import_runtime(path)
    results = []
    windows = None
    head: dict[str, Any] = {}
    for n_threads in threads:
        can_reset = reset_peak_rss()
        t0 = time.perf_counter()
        model = Model(path, threads=n_threads, provider=provider)
        init_ms = (time.perf_counter() - t0) * 1e3
        spec = model.spec
        if spec is None:
            raise EdgekitError(f"{path}: carries no edgekit metadata, so edgekit bench cannot tell its front "
                               "end and window; export it with 'edgekit convert' (or time it with edge-run "
                               "and the foreign-model flags)")
        task = tasks.get(spec.task)
        if windows is None:
            windows, source = _windows(spec, min(n_windows, runs + warmup), seed)
            head = {"model": str(path), "format": model.format, "precision": model.precision,
                    "backend": model.backend.name, "size_bytes": model.file.size_bytes, "task": spec.task,
                    "kind": spec.kind, "window": spec.window, "window_seconds": spec.window_seconds,
                    "signal_seconds_per_answer": task.seconds_per_answer(spec), "what": task.bench_what(spec),
                    "input_shape": list(spec.input_shape), "windows": f"{len(windows)} windows of "
                    f"{source} (seed {seed}), cycled", "runs": runs, "warmup": warmup, "runtime_import_ms": import_ms}
        timing = time_window_path(model, windows, runs=runs, warmup=warmup)
        total_s = timing["total"]["mean"] / 1e3
        per = task.seconds_per_answer(spec)                # None: a picture is not a stretch of signal
        entry = {
            "threads": n_threads, "init_ms": init_ms, "first_inference_ms": timing["first_ms"],
            "warmup": {"runs": warmup, "total_ms": timing["warmup_ms"]["mean"] * warmup,
                       "mean_ms": timing["warmup_ms"]["mean"]}, "stages": {k: timing[k] for k in STAGES},
            "windows_per_second": 1.0 / total_s if total_s > 0 else None,
            "real_time_factor": per / total_s if total_s > 0 and per else None, "peak_rss_mb": peak_rss_mb(),
            "peak_rss_scope": "this thread count" if can_reset else "process lifetime",
        }
        results.append(entry)
        if log:
            log(f"threads {n_threads}: total p50 {entry['stages']['total']['p50']:.3f} ms")
        del model
    rss = [r["peak_rss_mb"] for r in results if r["peak_rss_mb"] is not None]
    return _rounded({**head, "results": results, "peak_rss_mb": max(rss) if rss else None})


def _import_runtime(path) -> float:
    """Import the runtime the model needs (LiteRT / ONNX Runtime) and return how long that took (ms), so
    that ``init_ms`` measures loading the model, the same for every thread count."""
    from edgekit.edge.model.backends import model_format

    fmt = model_format(path)
    t0 = time.perf_counter()
    if fmt == "tflite":
        from edgekit.edge.model.backends.litert import interpreter_class
        interpreter_class()
    else:
        from edgekit.edge.model.backends.onnx import _ort
        _ort()
    return (time.perf_counter() - t0) * 1e3


_EXACT = {"window_seconds", "signal_seconds_per_answer", "real_time_factor", "sample_rate", "windows_per_second"}


def _rounded(x: Any, digits: int = 4) -> Any:
    """Millisecond and megabyte floats rounded to ``digits`` decimals (0.1 µs) for readable JSON; the
    window length and the real-time factor are kept exact."""
    if isinstance(x, float):
        return round(x, digits)
    if isinstance(x, dict):
        return {k: v if k in _EXACT else _rounded(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v, digits) for v in x]
    return x


def print_bench(report: dict[str, Any], echo: Callable[[str], Any] = print) -> None:
    """The human-readable bench report: one block per thread count."""
    echo(f"{report['model']}: {report['format']} {report['precision']}, {report['size_bytes']:,} bytes, "
         f"on {report['backend']} (runtime import {report['runtime_import_ms']:.0f} ms)")
    echo(f"task {report['task']} ({report['kind']}), {report['what']}, input {report['input_shape']}; "
         f"{report['windows']}")
    cols = ("mean", "std", "min", "p50", "p90", "p99", "max")
    for r in report["results"]:
        echo("")
        w = r["warmup"]
        echo(f"threads {r['threads']}: init {r['init_ms']:.1f} ms, first inference "
             f"{r['first_inference_ms']:.2f} ms, warm-up {w['runs']} runs {w['total_ms']:.1f} ms "
             f"({w['mean_ms']:.3f} ms/run)")
        echo(f"  {'stage':<13}" + "".join(f"{c:>9}" for c in cols) + f"   (ms, {report['runs']} runs)")
        for k in STAGES:
            s = r["stages"][k]
            echo(f"  {STAGE_TITLES[k]:<13}" + "".join(f"{s[c]:>9.3f}" for c in cols))
        rtf = r["real_time_factor"]
        rss = r["peak_rss_mb"]
        wps = r["windows_per_second"]
        if rtf:
            per = report["signal_seconds_per_answer"]
            echo(f"  real-time factor {rtf:,.1f}× ({per:.4g} s of signal per "
                 f"{r['stages']['total']['mean']:.3f} ms of compute); {wps:,.0f} windows/s")
        else:
            echo(f"  throughput {wps:,.0f} answers/s (real-time factor n/a: the input is not a stretch of "
                 "signal)" if wps else "  throughput n/a")
        echo(f"  peak RSS {rss:.1f} MB ({r['peak_rss_scope']})" if rss is not None else "  peak RSS n/a")
