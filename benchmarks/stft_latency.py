"""Per-window latency: the device path against the naive workstation path, measured in one run.

device path : numpy STFT front end (edgekit.edge.frontend.spectrogram) → int8 quantize → LiteRT invoke → dequantize
naive path  : scipy.signal.spectrogram → log/standardise → Keras ``model(x)`` (float32)
also        : the numpy front end + float32 LiteRT, and numpy vs scipy STFT alone

Both paths see the same windows, interleaved in rounds so that machine noise hits both alike.
Usage: python benchmarks/stft_latency.py [--run DIR] [--windows N] [--rounds R] [--threads T]
Without --run it trains a small model on synthetic data first (a minute). Writes
benchmarks/results/stft_latency.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from importlib.metadata import version
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "machine": platform.machine(), "numpy": np.__version__,
            **{p: version(p) for p in ("tensorflow", "ai-edge-litert", "scipy")}}


def stats(a) -> dict:
    a = np.asarray(a) * 1e3
    return {"median_ms": float(np.median(a)), "p99_ms": float(np.percentile(a, 99)),
            "mean_ms": float(a.mean()), "n": int(a.size)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", help="training run directory (default: train a small one)")
    ap.add_argument("--windows", type=int, default=300, help="windows per path per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "stft_latency.json"))
    args = ap.parse_args()

    from edgekit.convert.tf import quiet_tensorflow
    quiet_tensorflow()
    import keras
    import scipy.signal
    from edgekit.convert.export import convert_run
    from edgekit.edge.frontend import dsp as F
    from edgekit.edge import frontend as fe
    from edgekit.edge.model.model import Model
    from edgekit.edge.model.spec import Spec
    from edgekit.edge.io.synth import vibration
    from edgekit.train.stft import train_stft

    run_dir = Path(args.run) if args.run else Path(tempfile.mkdtemp()) / "stft"
    if not args.run:
        train_stft(run_dir, n=300, epochs=3, verbose=0, log=lambda *a: None)
    paths = {}
    for precision in ("float32", "int8"):
        p = run_dir / f"stft_{precision}.tflite"
        if not p.exists():
            convert_run(run_dir, "tflite", precision, log=lambda *a: None)
        paths[precision] = p
    spec = Spec.load(run_dir)
    feat, norm = spec.features, spec.normalization
    keras_model = keras.models.load_model(run_dir / "model.keras", compile=False)
    models = {k: Model(p, threads=args.threads) for k, p in paths.items()}
    front = fe.build(spec)
    windows, _ = vibration(64, seed=123)

    def device(model, w):
        out = model.dequantize(model.invoke(model.quantize(front(w)[None])))
        return int(np.argmax(out[0]))

    def naive(w):
        _, _, s = scipy.signal.spectrogram(w, spec.sample_rate, window=tuple(feat["window"]),
                                           nperseg=feat["nperseg"], noverlap=feat["noverlap"],
                                           detrend=feat["detrend"], scaling=feat["scaling"], mode=feat["mode"])
        x = ((np.log(s + feat["log_eps"]) - norm["mean"]) / norm["std"]).astype(np.float32)[None, ..., None]
        return int(np.argmax(np.asarray(keras_model(x, training=False))[0]))

    def stft_numpy(w):
        return F.spectrogram(w, spec.sample_rate, window=tuple(feat["window"]), nperseg=feat["nperseg"],
                             noverlap=feat["noverlap"])

    def stft_scipy(w):
        return scipy.signal.spectrogram(w, spec.sample_rate, window=tuple(feat["window"]),
                                        nperseg=feat["nperseg"], noverlap=feat["noverlap"], mode="magnitude")

    paths_fn = {
        "device_int8_litert": lambda w: device(models["int8"], w),
        "device_float32_litert": lambda w: device(models["float32"], w),
        "naive_scipy_keras": naive,
        "stft_numpy": stft_numpy,
        "stft_scipy": stft_scipy,
    }
    # agreement of the two paths on these windows (the benchmark compares equal work)
    agree = np.mean([device(models["int8"], w) == naive(w) for w in windows])
    samples = {k: [] for k in paths_fn}
    for _ in range(3):                                   # warm-up
        for fn in paths_fn.values():
            fn(windows[0])
    pc = time.perf_counter
    for r in range(args.rounds):
        for name, fn in paths_fn.items():
            for i in range(args.windows):
                w = windows[i % len(windows)]
                t0 = pc()
                fn(w)
                samples[name].append(pc() - t0)
    res = {k: stats(v) for k, v in samples.items()}
    base = res["naive_scipy_keras"]["median_ms"]
    ratios = {
        "naive_over_device_int8_median": base / res["device_int8_litert"]["median_ms"],
        "naive_over_device_int8_p99": res["naive_scipy_keras"]["p99_ms"] / res["device_int8_litert"]["p99_ms"],
        "naive_over_device_float32_median": base / res["device_float32_litert"]["median_ms"],
        "scipy_over_numpy_stft_median": res["stft_scipy"]["median_ms"] / res["stft_numpy"]["median_ms"],
    }
    out = {"benchmark": "stft_latency", "date": time.strftime("%Y-%m-%d"), "machine": machine(),
           "threads": args.threads, "windows_per_round": args.windows, "rounds": args.rounds,
           "top1_agreement_device_int8_vs_naive": float(agree), "results": res, "ratios": ratios}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    w = max(len(k) for k in res)
    print(f"{'path':<{w}}  median ms   p99 ms")
    for k, v in res.items():
        print(f"{k:<{w}}  {v['median_ms']:9.3f}  {v['p99_ms']:7.3f}")
    for k, v in ratios.items():
        print(f"{k}: {v:.1f}×")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
