"""The edgekit benchmark suite: per-window latency over task × format × precision × threads, with the
two baselines engineers would otherwise use, measured in the same run on the same windows.

    python benchmarks/run.py                 # everything: about 3 minutes on a busy 2-core machine
    python benchmarks/run.py --tasks stft --rounds 2 --windows 30      # a quick look

For every task whose training code is installed (``stft`` always; ``traffic`` and ``image`` when
``edgekit.train.traffic`` / ``edgekit.train.mnist`` exist) it trains a small model in a temporary directory
— on ``../shared/data`` when present (the VDS detector CSV, the MNIST test set), on edgekit's synthetic
data otherwise — converts it to TFLite and ONNX, float32 and int8 (each verified against Keras by
``edgekit convert``), and times one window at a time, end to end (front end → quantize → invoke →
dequantize → answer), through:

edgekit      the device runtime: ``edgekit.edge`` front end + LiteRT (``ai-edge-litert``) for .tflite,
             ONNX Runtime for .onnx, at each ``--threads`` count;
tf.lite      baseline 1: the same .tflite files on TensorFlow's bundled ``tf.lite.Interpreter`` (same front
             end, same threads), i.e. what a workstation script runs without LiteRT;
naive        baseline 2: the workstation path of the course notebooks: ``scipy.signal.spectrogram`` (stft;
             the other tasks' front ends are plain numpy scaling, used as is) then the Keras model called
             directly (``model(x, training=False)``, faster than ``model.predict`` for one window) on
             TensorFlow's default thread pool.

Each configuration is timed for ``--windows`` windows in each of ``--rounds`` rounds; rounds visit the
configurations in a new random order so that background load hits all of them alike. Reported: the median
of the per-round medians, the spread of the round medians, and pooled p90/p99 — never single timings —
and ratios between medians. Results: ``benchmarks/results/suite.json``; ``--readme`` rewrites the table in
``benchmarks/README.md`` between its result markers.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "data"
README = HERE / "README.md"
START, END = "<!-- suite:start -->", "<!-- suite:end -->"
TASKS = ("stft", "traffic", "image")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def quiet(*_a, **_k) -> None:
    pass


# -- the machine -----------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    cpu, mhz = "", ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("cpu MHz") and not mhz:
                mhz = line.split(":", 1)[1].strip()
    except OSError:
        pass
    mem = ""
    try:
        mem = next(ln.split(":", 1)[1].strip() for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for p in ("edgekit", "numpy", "scipy", "tensorflow", "keras", "ai-edge-litert", "onnxruntime", "tf2onnx",
              "onnx"):
        try:
            versions[p] = version(p)
        except PackageNotFoundError:
            versions[p] = None
    return {"cpu": cpu, "cpu_mhz": mhz, "cores": os.cpu_count(), "memory": mem, "machine": platform.machine(),
            "os": platform.platform(), "python": platform.python_version(), "versions": versions}


# -- training and conversion -------------------------------------------------------------------------------

def available_tasks() -> list[str]:
    have = ["stft"]
    if importlib.util.find_spec("edgekit.train.traffic"):
        have.append("traffic")
    if importlib.util.find_spec("edgekit.train.mnist"):
        have.append("image")
    return have


def train(task: str, out: Path, seed: int) -> str:
    """Train a small model of ``task`` into ``out``; returns a description of the data used."""
    if task == "stft":
        from edgekit.train.stft import train_stft
        m = train_stft(out, n=400, epochs=4, seed=seed, verbose=0, log=quiet)
        return f"synthetic vibration, {m['n_train'] + m['n_val'] + m['n_test']} windows (no vibration " \
               "recordings in ../shared/data)"
    if task == "traffic":
        from edgekit.train.traffic import train_traffic
        csv = SHARED / "vds" / "vds.csv"
        data = str(csv) if csv.is_file() else None
        m = train_traffic(out, data=data, epochs=4, seed=seed, verbose=0, log=quiet)
        return f"{'../shared/data/vds/vds.csv' if data else 'synthetic detector feed'}, {m['n_test']} test windows"
    if task == "image":
        from edgekit.train.mnist import train_mnist
        mn = SHARED / "mnist"
        data = str(mn) if mn.is_dir() else None
        m = train_mnist(out, data=data, epochs=2, seed=seed, n=4000, verbose=0, log=quiet)
        return f"{'../shared/data/mnist (10k test set, 80/20 split)' if data else 'MNIST'}, 4000 images"
    raise ValueError(task)


def convert_all(run_dir: Path, formats: list[str]) -> dict[str, dict[str, Any]]:
    from edgekit.convert.export import convert_run

    reports = {}
    for fmt in formats:
        for precision in ("float32", "int8"):
            rep = convert_run(run_dir, fmt, precision, log=quiet)
            reports[f"{fmt}_{precision}"] = rep
    return reports


# -- timed paths -------------------------------------------------------------------------------------------

class TFLiteInterpreter:
    """The same .tflite file on TensorFlow's bundled interpreter, behind the backend interface."""

    def __init__(self, path: Path, threads: int):
        import tensorflow as tf
        from edgekit.edge.model.quant import TensorInfo

        self.it = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
        self.it.allocate_tensors()
        i, o = self.it.get_input_details()[0], self.it.get_output_details()[0]
        self.i, self.o = i["index"], o["index"]
        mk = lambda d: TensorInfo(d["name"], tuple(d["shape"]), np.dtype(d["dtype"]),  # noqa: E731
                                  float(d["quantization"][0]), int(d["quantization"][1]))
        self.input, self.output = mk(i), mk(o)

    def run(self, x: np.ndarray) -> np.ndarray:
        self.it.set_tensor(self.i, np.ascontiguousarray(x, dtype=self.input.dtype))
        self.it.invoke()
        return self.it.get_tensor(self.o).copy()


def device_path(spec, backend) -> Callable[[np.ndarray], Any]:
    """One window through edge-run's own step (:class:`edgekit.edge.pipeline.step.Step`): the front end
    writing the quantized input into the buffer bound to the backend, invoke, dequantize, answer. The
    windows are unrelated test windows, so no frames are reused between them."""
    from types import SimpleNamespace

    from edgekit.edge.pipeline.step import Step

    step = Step(SimpleNamespace(spec=spec, backend=backend))

    def f(w):
        return step(w)[0]
    return f


def interpreter_path(spec, interpreter) -> Callable[[np.ndarray], Any]:
    """The same front end (written into one input buffer, as edge-run's), then TensorFlow's interpreter."""
    from edgekit.edge.frontend.stream import StreamFeatures
    from edgekit.edge.model.quant import dequantize
    from edgekit.edge.pipeline.postprocess import postprocessor

    inp, out = interpreter.input, interpreter.output
    features = StreamFeatures(spec, inp.dtype, inp.scale if inp.quantized else 0.0, inp.zero_point)
    buf = np.empty((1, *spec.input_shape), dtype=inp.dtype)
    post = postprocessor(spec)

    def f(w):
        features.into(w, buf[0])
        return post(dequantize(interpreter.run(buf), out)[0])
    return f


def naive_path(spec, keras_model) -> Callable[[np.ndarray], Any]:
    """scipy front end (stft) or the numpy scaling (other tasks), then the Keras model called directly."""
    from edgekit.edge import frontend as fe
    from edgekit.edge.pipeline.postprocess import postprocessor

    post = postprocessor(spec)
    if spec.task == "stft":
        import scipy.signal
        feat, norm = spec.features, spec.normalization
        win = tuple(feat["window"]) if isinstance(feat["window"], list) else feat["window"]

        def front(w):
            _, _, s = scipy.signal.spectrogram(w, spec.sample_rate, window=win, nperseg=feat["nperseg"],
                                               noverlap=feat["noverlap"], nfft=feat["nfft"],
                                               detrend=feat["detrend"], scaling=feat["scaling"], mode=feat["mode"])
            if feat.get("log"):
                s = np.log(s + feat.get("log_eps", 1e-8))
            return fe.normalize(s, norm).astype(np.float32)[None, ..., None]
    else:
        fe_np = fe.build(spec)

        def front(w):
            return fe_np(w)[None]

    def f(w):
        return post(np.asarray(keras_model(front(w), training=False))[0])
    return f


def summarize_rounds(rounds: list[list[float]]) -> dict[str, Any]:
    meds = [float(np.median(r)) for r in rounds]
    pooled = np.concatenate([np.asarray(r) for r in rounds])
    med = float(np.median(meds))
    return {"median_ms": med, "round_medians_ms": meds,
            "spread": (max(meds) - min(meds)) / med if med > 0 else None,
            "p90_ms": float(np.percentile(pooled, 90)), "p99_ms": float(np.percentile(pooled, 99)),
            "mean_ms": float(pooled.mean()), "min_ms": float(pooled.min()), "n": int(pooled.size)}


def time_configs(configs: list[dict[str, Any]], windows: np.ndarray, n_windows: int, rounds: int,
                 seed: int, chunk: int = 25) -> None:
    """Fill ``config["samples"]`` (per round, ms per window) for every configuration.

    Within a round the configurations take turns in chunks of ``chunk`` consecutive windows (a new random
    order for every chunk), so a burst of background load is spread over all of them instead of landing on
    one; a chunk is long enough for the model's caches to be warm, as on a device running one model.
    """
    pc = time.perf_counter
    rng = random.Random(seed)
    for c in configs:
        c["samples"] = []
        for w in windows[:5]:            # warm-up: lazy allocations, caches, graph tracing
            c["fn"](w)
    for r in range(rounds):
        per = {id(c): [] for c in configs}
        for start in range(0, n_windows, chunk):
            order = list(configs)
            rng.shuffle(order)
            for c in order:
                fn, s = c["fn"], per[id(c)]
                for i in range(start, min(start + chunk, n_windows)):
                    w = windows[i % len(windows)]
                    t0 = pc()
                    fn(w)
                    s.append((pc() - t0) * 1e3)
        for c in configs:
            c["samples"].append(per[id(c)])
        log(f"  round {r + 1}/{rounds} done")


def bench_task(task: str, run_dir: Path, reports: dict, threads: list[int], n_windows: int,
               rounds: int, seed: int) -> list[dict[str, Any]]:
    import keras
    from edgekit.edge.model.backends import load as load_backend
    from edgekit.convert.rundir import open_run

    run = open_run(run_dir)
    spec = run.spec()
    x, _ = run.test_split()
    windows = x[:max(8, min(len(x), 64))]
    configs: list[dict[str, Any]] = []
    for key, rep in reports.items():
        fmt, precision = key.split("_")
        path = Path(rep["artifact"])
        for t in threads:
            b = load_backend(path, threads=t)
            configs.append({"path": "edgekit", "runtime": b.name, "format": fmt, "precision": precision,
                            "threads": t, "fn": device_path(spec, b)})
            if fmt == "tflite":
                tb = TFLiteInterpreter(path, t)
                configs.append({"path": "tf.lite", "runtime": "tensorflow.lite.Interpreter", "format": fmt,
                                "precision": precision, "threads": t, "fn": interpreter_path(spec, tb)})
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    configs.append({"path": "naive", "runtime": f"{'scipy + ' if spec.task == 'stft' else ''}keras "
                    f"{keras.__version__}", "format": "keras", "precision": "float32", "threads": None,
                    "fn": naive_path(spec, model)})
    log(f"{task}: timing {len(configs)} configurations × {rounds} rounds × {n_windows} windows")
    time_configs(configs, windows, n_windows, rounds, seed)
    out = []
    for c in configs:
        out.append({"task": task, **{k: c[k] for k in ("path", "runtime", "format", "precision", "threads")},
                    **summarize_rounds(c["samples"])})
    naive = next(r for r in out if r["path"] == "naive")["median_ms"]
    for r in out:
        r["speedup_vs_naive"] = naive / r["median_ms"]
    return out


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians against medians, per task and thread count: LiteRT against tf.lite on the same file, int8
    against float32, ONNX Runtime against LiteRT, and edgekit against the naive workstation path."""
    idx = {(r["task"], r["path"], r["format"], r["precision"], r["threads"]): r["median_ms"] for r in results}
    naive = {r["task"]: r["median_ms"] for r in results if r["path"] == "naive"}
    out = []
    for (task, path, fmt, prec, t), med in idx.items():
        if path != "edgekit":
            continue
        if fmt == "tflite" and (tfl := idx.get((task, "tf.lite", fmt, prec, t))):
            out.append({"task": task, "threads": t, "what": f"tf.lite Interpreter ÷ LiteRT ({prec})",
                        "ratio": tfl / med})
        if prec == "int8" and (f32 := idx.get((task, path, fmt, "float32", t))):
            out.append({"task": task, "threads": t, "what": f"{'LiteRT' if fmt == 'tflite' else 'ONNX Runtime'} "
                        "float32 ÷ int8", "ratio": f32 / med})
        if fmt == "onnx" and (lite := idx.get((task, path, "tflite", prec, t))):
            out.append({"task": task, "threads": t, "what": f"ONNX Runtime ÷ LiteRT ({prec})", "ratio": med / lite})
        if fmt == "tflite" and prec == "int8" and task in naive:
            out.append({"task": task, "threads": t, "what": "naive (scipy/numpy + Keras) ÷ edgekit LiteRT int8",
                        "ratio": naive[task] / med})
    return out


# -- report ------------------------------------------------------------------------------------------------

RUNTIME_NAMES = {"edgekit": {"tflite": "edgekit · LiteRT", "onnx": "edgekit · ONNX Runtime"},
                 "tf.lite": {"tflite": "tf.lite.Interpreter"}}


def _path_name(r: dict[str, Any]) -> str:
    if r["path"] == "naive":
        return f"naive · {r['runtime']}"
    return RUNTIME_NAMES[r["path"]].get(r["format"], r["path"])


def markdown(res: dict[str, Any]) -> str:
    """The README section: machine, load, and per task a table of medians (p99) per thread count."""
    m = res["machine"]
    v = m["versions"]
    la = res["load_average"]
    threads = res["settings"]["threads"]
    mem = m["memory"]
    if mem.endswith("kB") and mem.split()[0].isdigit():
        mem = f"{int(mem.split()[0]) / 1024 ** 2:.0f} GB RAM"
    # The start value is other processes' load; the end value includes the suite's own (about one core).
    cores = m["cores"] or 1
    busy = la["start"][0] > 0.5 * cores or la["end"][0] > 1 + 0.5 * cores
    cmd = " ".join(["python benchmarks/run.py", *res["argv"]])
    lines = [f"Measured {res['date']} with `{cmd}` in {res['wall_seconds'] / 60:.1f} min: "
             f"{res['settings']['rounds']} rounds × {res['settings']['windows']} windows per configuration, one "
             "window at a time, end to end (raw window → front end → model → answer).",
             "",
             f"Machine: {m['cpu'] or 'unknown CPU'} ({m['machine']}), {m['cores']} cores, {mem}, {m['os']}; "
             f"Python {m['python']}, numpy {v['numpy']}, scipy {v['scipy']}, TensorFlow {v['tensorflow']}, "
             f"Keras {v['keras']}, ai-edge-litert {v['ai-edge-litert']}, ONNX Runtime {v['onnxruntime']}.",
             "",
             f"Load average {la['start'][0]:.1f} at the start and {la['end'][0]:.1f} at the end "
             + (f"on {m['cores']} cores: **not an idle machine** — other processes shared the cores for at least "
                "part of the run, so individual timings (and p99 especially) are noisy and 2-thread numbers suffer most; "
                "compare the medians of the round medians, and see `spread` in the JSON for how much the round "
                "medians moved." if busy else f"on {m['cores']} cores (the end value includes the suite's own load of "
                "about one core): a quiet machine during this run."),
             ""]
    for task, info in res["tasks"].items():
        def verdict(a: dict[str, Any]) -> str:
            if a.get("agreement") is not None:
                return f" ({a['agreement']:.1%} top-1 agreement with Keras)"
            if a.get("mae_increase") is not None:
                return f" (test MAE {a['mae_increase']:+.1%} vs Keras)"
            return ""
        arts = ", ".join(f"{k.replace('_', ' ')} {a['size_bytes'] / 1e6:.2f} MB{verdict(a)}"
                         for k, a in info["artifacts"].items())
        lines += [f"### {task}", "", f"Data: {info['data']}. Artifacts: {arts}.", ""]
        head = "| path | format | precision | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}: median (p99) ms"
                                                         for t in threads) + " | × naive (1st column) |"
        lines += [head, "|---|---|---|" + "---:|" * (len(threads) + 1)]
        rows = [r for r in res["results"] if r["task"] == task]
        keys = []
        for r in rows:
            k = (r["path"], r["format"], r["precision"])
            if k not in keys:
                keys.append(k)
        keys.sort(key=lambda k: ({"edgekit": 0, "tf.lite": 1, "naive": 2}[k[0]], k[1] != "tflite", k[2]))
        for k in keys:
            same = [x for x in rows if (x["path"], x["format"], x["precision"]) == k]
            if same[0]["threads"] is None:          # Keras on TensorFlow's own thread pool: measured once
                cells = [f"{same[0]['median_ms']:.3f} ({same[0]['p99_ms']:.2f})"] + \
                    ["(TF's own pool)"] * (len(threads) - 1)
            else:
                by_t = {x["threads"]: x for x in same}
                cells = [f"{by_t[t]['median_ms']:.3f} ({by_t[t]['p99_ms']:.2f})" if t in by_t else "—"
                         for t in threads]
            lines.append(f"| {_path_name(same[0])} | {k[1]} | {k[2]} | " + " | ".join(cells)
                         + f" | {same[0]['speedup_vs_naive']:.1f}× |")
        rat = [r for r in res["ratios"] if r["task"] == task]
        if rat:
            lines += ["", "| ratio of medians | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads)
                      + " |", "|---|" + "---:|" * len(threads)]
            for what in dict.fromkeys(r["what"] for r in rat):
                vals = {r["threads"]: r["ratio"] for r in rat if r["what"] == what}
                lines.append(f"| {what} | " + " | ".join(f"{vals[t]:.2f}" if t in vals else "—" for t in threads)
                             + " |")
        lines.append("")
    if res["settings"]["skipped_tasks"]:
        lines.append(f"Skipped (training code not installed): {', '.join(res['settings']['skipped_tasks'])}.")
    return "\n".join(lines).rstrip() + "\n"


def update_readme(text: str, path: Path = README) -> None:
    body = path.read_text() if path.exists() else ""
    if START in body and END in body:
        a, b = body.index(START) + len(START), body.index(END)
        body = body[:a] + "\n" + text + "\n" + body[b:]
    else:
        body += f"\n{START}\n{text}\n{END}\n"
    path.write_text(body)


# -- main --------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(TASKS), help="comma-separated subset of stft,traffic,image "
                    "(tasks whose training code is missing are skipped and reported)")
    ap.add_argument("--threads", default="1,2", help="thread counts for the runtimes (default 1,2)")
    ap.add_argument("--windows", type=int, default=200, help="windows per configuration per round")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (each visits every configuration)")
    ap.add_argument("--formats", default="tflite,onnx", help="artifact formats (onnx needs edgekit.convert.onnx)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "suite.json"))
    ap.add_argument("--readme", action="store_true", help="rewrite the table in benchmarks/README.md")
    ap.add_argument("--keep", default=None, help="keep the trained runs in this directory")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    load_start = os.getloadavg()

    from edgekit.convert.tf import quiet_tensorflow
    quiet_tensorflow()
    import warnings
    warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
    from edgekit.edge.pipeline.bench import parse_threads

    threads = parse_threads(args.threads)
    wanted = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in TASKS]
    if unknown:
        ap.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    have = available_tasks()
    skipped = [t for t in wanted if t not in have]
    for t in skipped:
        log(f"skipping task {t}: its training module is not installed")
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if "onnx" in formats and not importlib.util.find_spec("edgekit.convert.onnx"):
        log("skipping ONNX: edgekit.convert.onnx is not installed")
        formats.remove("onnx")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="edgekit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results, tasks = [], {}
    try:
        for task in [t for t in wanted if t in have]:
            run_dir = work / task
            log(f"{task}: training into {run_dir}")
            data = train(task, run_dir, args.seed)
            log(f"{task}: converting to {', '.join(formats)} × float32, int8 (verified against Keras)")
            reports = convert_all(run_dir, formats)
            tasks[task] = {"data": data, "artifacts": {
                k: {"size_bytes": r["size_bytes"], **({"agreement": r["agreement"]} if "agreement" in r else
                                                     {"mae_increase": r.get("mae_increase")})}
                for k, r in reports.items()}}
            results += bench_task(task, run_dir, reports, threads, args.windows, args.rounds, args.seed)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res = {"benchmark": "suite", "date": time.strftime("%Y-%m-%d %H:%M"), "argv": argv if argv is not None
           else sys.argv[1:], "machine": machine(),
           "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
           "settings": {"tasks": list(tasks), "skipped_tasks": skipped, "formats": formats, "threads": threads,
                        "windows": args.windows, "rounds": args.rounds, "seed": args.seed},
           "tasks": tasks, "results": results, "ratios": ratios(results),
           "wall_seconds": time.perf_counter() - t_start}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    md = markdown(res)
    print(md)
    if args.readme:
        update_readme(md)
        log(f"updated {README}")
    log(f"wrote {out} in {res['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
