"""The device path against its floor, in one run: per-window latency, incremental frames, cold start, peak RSS.

Measured side by side on the STFT int8 model of ``edgekit train stft`` (1 thread), every ratio against a
baseline of the same run:

latency      naive (``scipy.signal.spectrogram`` + Keras ``model(x)``), edgekit's device step (front end,
             quantize, invoke, dequantize, post-process: what edge-run times), bare LiteRT
             ``set_tensor``/``invoke``/``get_tensor`` on the same model, edgekit's front end alone and
             scipy's spectrogram alone; interleaved in rounds so that machine noise hits all alike
incremental  front-end time per window with hop = 11 frame steps (0.246 of the window, the multiple of the
             frame step nearest a quarter) against hop = window, over the same stream
cold start   launch to the first prediction on stdout: ``edge-run`` against the TensorFlow script a user
             would write (import TensorFlow, load the Keras model, scipy spectrogram, predict), medians
peak RSS     ``edge-run`` (a WAV file, and the synthetic source) against python + numpy + LiteRT + the model,
             as the kernel reports it (``ru_maxrss`` of each child)

Usage: python benchmarks/device.py [--run DIR] [--rounds R] [--windows N] [--starts K]
Without --run it trains the default ``edgekit train stft`` model first (about a minute). Writes
benchmarks/results/device.json and prints each target with its measured ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def pct(a, q) -> float:
    return float(np.percentile(np.asarray(a) * 1e3, q))


def _hwm_mb(pid: int) -> float | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def child(args, first_line: bool = False) -> tuple[float, float, float]:
    """Run a command; (seconds to its first stdout line or to its end, peak RSS in MB, seconds in all).

    Peak RSS is the child's own ``VmHWM`` (its address space after exec), polled every 5 ms until it exits:
    ``ru_maxrss`` of a child is useless here, since Linux carries it over from the parent at fork (this
    process holds TensorFlow: 1.1 GB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    peak = [0.0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            v = _hwm_mb(p.pid)
            if v is not None:
                peak[0] = max(peak[0], v)
            done.wait(0.005)
    th = threading.Thread(target=poll, daemon=True)
    th.start()
    first = None
    for _ in p.stdout:
        if first is None:
            first = time.perf_counter() - t0
            if first_line:
                break
    p.stdout.close()
    code = p.wait()
    total = time.perf_counter() - t0
    done.set()
    th.join()
    if not first_line and code != 0:
        raise SystemExit(f"{args[0]} failed")
    return (first if first is not None else total), peak[0], total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", help="training run directory (default: train `edgekit train stft`'s model)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--windows", type=int, default=300, help="windows per path per round")
    ap.add_argument("--starts", type=int, default=5, help="cold starts per command")
    ap.add_argument("--out", default=str(HERE / "results" / "device.json"))
    args = ap.parse_args()

    from edgekit.convert.tf import quiet_tensorflow
    quiet_tensorflow()
    import keras
    import scipy.signal
    from edgekit.edge import frontend as fe
    from edgekit.edge.frontend.frames import Framer
    from edgekit.edge.sources.synth import vibration
    from edgekit.edge.formats.wav import write_wav
    from edgekit.edge.model.model import Model
    from edgekit.edge.core.spec import Spec
    from edgekit.edge.pipeline.step import Step
    from stft_model import stft_int8_run

    tmp = Path(tempfile.mkdtemp())
    run_dir = stft_int8_run(args.run)
    model_path = run_dir / "stft_int8.tflite"
    spec = Spec.load(run_dir)
    feat, norm = spec.features, spec.normalization
    keras_model = keras.models.load_model(run_dir / "model.keras", compile=False)
    model = Model(model_path, threads=1)
    step = Step(model)
    windows, _ = vibration(64, seed=123)

    # -- per-window latency ------------------------------------------------------------------------
    interp = model.backend._interp
    i_in, i_out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    q_in = np.ascontiguousarray(model.quantize(fe.build(spec)(windows[0])[None]))
    front_only = step.features
    buf = np.empty(spec.input_shape, model.backend.input.dtype)

    def bare(w):
        interp.set_tensor(i_in, q_in)
        interp.invoke()
        return interp.get_tensor(i_out)

    def naive(w):
        _, _, s = scipy.signal.spectrogram(w, spec.sample_rate, window=tuple(feat["window"]),
                                           nperseg=feat["nperseg"], noverlap=feat["noverlap"],
                                           detrend=feat["detrend"], scaling=feat["scaling"], mode=feat["mode"])
        x = ((np.log(s + feat["log_eps"]) - norm["mean"]) / norm["std"]).astype(np.float32)[None, ..., None]
        return int(np.argmax(np.asarray(keras_model(x, training=False))[0]))

    def scipy_stft(w):
        return scipy.signal.spectrogram(w, spec.sample_rate, window=tuple(feat["window"]), nperseg=feat["nperseg"],
                                        noverlap=feat["noverlap"], mode="magnitude")

    paths = {"device_step": lambda w: step(w), "bare_invoke": bare, "naive_scipy_keras": naive,
             "front_end": lambda w: front_only.into(w, buf), "scipy_spectrogram": scipy_stft}
    agree = float(np.mean([step(w)[0][2] == naive(w) for w in windows]))
    samples: dict[str, list[float]] = {k: [] for k in paths}
    pc = time.perf_counter
    for fn in paths.values():
        for w in windows[:5]:
            fn(w)
    for _ in range(args.rounds):
        for name, fn in paths.items():
            acc = samples[name]
            for i in range(args.windows if name != "naive_scipy_keras" else max(30, args.windows // 5)):
                w = windows[i % len(windows)]
                t0 = pc()
                fn(w)
                acc.append(pc() - t0)
    lat = {k: {"p50_ms": pct(v, 50), "p99_ms": pct(v, 99), "n": len(v)} for k, v in samples.items()}

    # -- incremental frames: the front end over one stream at hop = 11 frame steps and hop = window --
    plan = fe.FEATURE_TYPES["spectrogram"].framewise(spec)
    hop_inc = 11 * plan.step
    stream = vibration(40, seed=5)[0].reshape(-1)
    per_window = {}
    for name, hop in (("hop_window", spec.window), ("hop_11_frames", hop_inc)):
        feats = Step(model, hop=hop).features
        ws = [w.copy() for _, w in Framer(spec.window, hop).push(stream)]
        best = []
        for _ in range(args.rounds):
            t0 = pc()
            for w in ws:
                feats.into(w, buf)
            best.append((pc() - t0) / len(ws))
        per_window[name] = {"median_ms": float(np.median(best) * 1e3), "windows": len(ws),
                            "incremental": feats.incremental}

    # -- cold start and peak RSS ---------------------------------------------------------------------
    wav = tmp / "vib.wav"
    write_wav(wav, vibration(8, seed=6)[0].reshape(-1), int(spec.sample_rate))
    one_window = f"{spec.window_seconds:.6f}"
    edge = [str(BIN / "edge-run"), "--model", str(model_path), "--source", f"wav:{wav}", "--threads", "1"]
    tf_script = f"""
import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, scipy.signal, tensorflow as tf
from scipy.io import wavfile
m = tf.keras.models.load_model({str(run_dir / 'model.keras')!r}, compile=False)
fs, x = wavfile.read({str(wav)!r}); w = x[:{spec.window}].astype(np.float32) / 32768
_, _, s = scipy.signal.spectrogram(w, fs, window=('tukey', 0.25), nperseg={feat['nperseg']}, noverlap={feat['noverlap']}, mode='magnitude')
x = ((np.log(s + {feat['log_eps']}) - {norm['mean']}) / {norm['std']}).astype(np.float32)[None, ..., None]
print(int(np.argmax(m(x, training=False)[0])), flush=True)
"""
    bare_script = f"""
import numpy as np
from ai_edge_litert.interpreter import Interpreter
i = Interpreter(model_path={str(model_path)!r}, num_threads=1); i.allocate_tensors()
d = i.get_input_details()[0]; i.set_tensor(d['index'], np.zeros(d['shape'], d['dtype'])); i.invoke()
print(int(np.argmax(i.get_tensor(i.get_output_details()[0]['index']))), flush=True)
"""
    cold = {"edge_run": [], "tensorflow_script": [], "bare_litert": []}
    for _ in range(args.starts):
        cold["edge_run"].append(child([*edge, "--duration", one_window], first_line=True)[0])
        cold["tensorflow_script"].append(child([sys.executable, "-c", tf_script], first_line=True)[0])
        cold["bare_litert"].append(child([sys.executable, "-c", bare_script], first_line=True)[0])
    cold_s = {k: float(np.median(v)) for k, v in cold.items()}
    rss = {"edge_run_wav": child([*edge, "--quiet"])[1],
           "edge_run_synthetic": child([*edge[:4], "synthetic", "--threads", "1", "--duration", "60", "--quiet"])[1],
           "bare_litert": child([sys.executable, "-c", bare_script])[1]}

    ratios = {
        "device_step_over_bare_invoke_p50": lat["device_step"]["p50_ms"] / lat["bare_invoke"]["p50_ms"],
        "naive_over_device_step_p50": lat["naive_scipy_keras"]["p50_ms"] / lat["device_step"]["p50_ms"],
        "naive_over_device_step_p99": lat["naive_scipy_keras"]["p99_ms"] / lat["device_step"]["p99_ms"],
        "front_end_over_scipy_spectrogram_p50": lat["front_end"]["p50_ms"] / lat["scipy_spectrogram"]["p50_ms"],
        "front_end_hop_11_frames_over_hop_window": per_window["hop_11_frames"]["median_ms"]
        / per_window["hop_window"]["median_ms"],
        "tensorflow_script_over_edge_run_cold_start": cold_s["tensorflow_script"] / cold_s["edge_run"],
    }
    targets = [
        ("device step ÷ bare invoke, p50", ratios["device_step_over_bare_invoke_p50"], "<=", 1.3),
        ("naive ÷ device step, p50", ratios["naive_over_device_step_p50"], ">=", 50),
        ("naive ÷ device step, p99", ratios["naive_over_device_step_p99"], ">=", 30),
        ("front end, hop ≈ ¼ window ÷ hop = window", ratios["front_end_hop_11_frames_over_hop_window"], "<=", 0.35),
        ("peak RSS of edge-run (WAV source), MB", rss["edge_run_wav"], "<=", 60),
        ("peak RSS of edge-run (synthetic source), MB", rss["edge_run_synthetic"], "<=", 60),
        ("cold start of edge-run to the first prediction, s", cold_s["edge_run"], "<=", 0.25),
        ("TensorFlow script ÷ edge-run, cold start", ratios["tensorflow_script_over_edge_run_cold_start"], ">=", 20),
    ]
    sys.path.insert(0, str(HERE))
    from run import machine              # the suite's machine description (benchmarks/run.py)
    out = {"benchmark": "device", "date": time.strftime("%Y-%m-%d"), "machine": machine(),
           "model": str(model_path), "model_bytes": model_path.stat().st_size, "threads": 1,
           "rounds": args.rounds, "windows_per_round": args.windows,
           "top1_agreement_device_vs_naive": agree, "latency": lat, "front_end_per_window": per_window,
           "cold_start_s": cold_s, "peak_rss_mb": rss, "ratios": ratios,
           "targets": [{"what": w, "measured": round(v, 4), "target": f"{op} {t}",
                        "met": bool(v <= t if op == "<=" else v >= t)} for w, v, op, t in targets]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    w = max(len(k) for k in lat)
    print(f"{'path':<{w}}   p50 ms   p99 ms")
    for k, v in lat.items():
        print(f"{k:<{w}}  {v['p50_ms']:7.3f}  {v['p99_ms']:7.3f}")
    print(f"front end per window: hop = window {per_window['hop_window']['median_ms']:.4f} ms, "
          f"hop = 11 frames {per_window['hop_11_frames']['median_ms']:.4f} ms")
    print(f"cold start (median of {args.starts}): " + ", ".join(f"{k} {v:.3f} s" for k, v in cold_s.items()))
    print("peak RSS: " + ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items()))
    for t in out["targets"]:
        print(f"{'met ' if t['met'] else 'MISS'}  {t['what']}: {t['measured']:g} (target {t['target']})")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
