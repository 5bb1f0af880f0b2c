"""Measure ONNX Runtime static int8 options on a trained STFT run (writes JSON; see onnx_int8_options.md).

Usage: python benchmarks/onnx_int8_options.py RUN_DIR OUT_JSON [--extra N] [--runs R]
Every combination of quant format × calibration × per-channel × activation type is quantized from the same
float32 export and calibration windows, then compared with Keras (top-1 agreement, max/mean |Δ| of the
softmax outputs) on the run's test split and on N extra fresh synthetic windows, and timed on ORT CPU with
one thread: single-window inference, interleaved in rounds over all models, median/p90 of R runs each.
"""
import argparse, itertools, json, os, platform, sys, tempfile, time
from pathlib import Path
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ap = argparse.ArgumentParser()
ap.add_argument("run"); ap.add_argument("out")
ap.add_argument("--extra", type=int, default=1000); ap.add_argument("--runs", type=int, default=300)
ap.add_argument("--rounds", type=int, default=6); ap.add_argument("--calib", type=int, default=300)
a = ap.parse_args()

from edgekit.convert.tf import quiet_tensorflow; quiet_tensorflow()
import onnx, onnxruntime, tf2onnx
from importlib.metadata import version
from edgekit.convert.rundir import open_run
from edgekit.convert.calibration import calibration_features
from edgekit.convert import onnx as cx
from edgekit.convert.tflite import to_tflite
from edgekit.edge import frontend as fe
from edgekit.edge.sources.synth import vibration
from edgekit.edge.model.backends.onnx import OnnxBackend
from edgekit.edge.model.backends.litert import LiteRTBackend
from edgekit.edge.model.quant import quantize, dequantize

run = open_run(a.run); spec = run.spec(); model = run.load_model(); front = fe.build(spec)
feat = lambda raw: np.concatenate([front(raw[i:i + 128]) for i in range(0, len(raw), 128)])
x_test = feat(run.test_split()[0])
x_extra = feat(vibration(a.extra, seed=12345)[0]) if a.extra else x_test[:0]
sets = {"test": x_test, "extra": x_extra}
ref = {k: np.asarray(model.predict(v, batch_size=64, verbose=0)) for k, v in sets.items()}
rep = calibration_features(run, a.calib, log=lambda *_: None)

tmp = Path(tempfile.mkdtemp(prefix="onnx-int8-bench-"))
models = {}
t0 = time.perf_counter(); float_proto = cx.keras_to_onnx(model, cx.DEFAULT_OPSET)
onnx.save(float_proto, str(tmp / "float32.onnx"))
models["onnx float32"] = (tmp / "float32.onnx", {"export_s": time.perf_counter() - t0})
for fmt, cal, pc, act in itertools.product(cx.QUANT_FORMATS, cx.CALIBRATIONS, (True, False), cx.ACTIVATION_TYPES):
    name = f"{fmt} {cal} {'per-channel' if pc else 'per-tensor'} act-{act}"
    t0 = time.perf_counter()
    q = cx.quantize_int8(float_proto, rep, quant_format=fmt, calibration=cal, per_channel=pc, activation_type=act)
    dt = time.perf_counter() - t0
    p = tmp / f"{fmt}_{cal}_{int(pc)}_{act}.onnx"; onnx.save(q, str(p))
    models[name] = (p, {"quant_format": fmt, "calibration": cal, "per_channel": pc, "activations": act,
                        "quantize_s": round(dt, 2)})
    print(name, f"{dt:.1f}s", file=sys.stderr, flush=True)
for prec in ("float32", "int8"):
    p = tmp / f"tflite_{prec}.tflite"; p.write_bytes(to_tflite(model, prec, rep if prec == "int8" else None))
    models[f"tflite {prec}"] = (p, {})

def backend(p): return LiteRTBackend(p, threads=1) if p.suffix == ".tflite" else OnnxBackend(p, threads=1)
def predict(b, x):
    return np.concatenate([dequantize(b.run(quantize(x[i:i + 32], b.input)), b.output) for i in range(0, len(x), 32)])

rows = {}
backends = {}
for name, (p, info) in models.items():
    b = backends[name] = backend(p)
    row = {"model": name, **info, "size_bytes": p.stat().st_size,
           "operators": len(onnx.load(str(p)).graph.node) if p.suffix == ".onnx" else None}
    for k, x in sets.items():
        if not len(x): continue
        out = predict(b, x); d = np.abs(out.astype(np.float64) - ref[k])
        row[f"agreement_{k}"] = float((out.argmax(1) == ref[k].argmax(1)).mean())
        row[f"max_abs_diff_{k}"] = float(d.max()); row[f"mean_abs_diff_{k}"] = float(d.mean())
    rows[name] = row

# latency: single windows, interleaved rounds so machine noise hits all models alike
lat = {n: [] for n in backends}
per_round = a.runs // a.rounds
for r in range(a.rounds):
    for n, b in backends.items():
        xs = [quantize(x_test[i % len(x_test)][None], b.input) for i in range(per_round + 10)]
        for i, x in enumerate(xs):
            t = time.perf_counter(); b.run(x); dt = time.perf_counter() - t
            if i >= 10: lat[n].append(dt * 1e3)
for n, v in lat.items():
    rows[n].update(latency_median_ms=float(np.median(v)), latency_p90_ms=float(np.percentile(v, 90)),
                   latency_runs=len(v))

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "")
flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
result = {
    "what": "ONNX Runtime static int8 options for the STFT CNN, compared with Keras float32",
    "run": {"dir": str(a.run), "input_shape": list(spec.input_shape), "labels": list(spec.labels),
            "parameters": int(model.count_params()), "n_test": len(x_test), "n_extra": len(x_extra),
            "calibration_windows": len(rep), "test_accuracy_keras": run.metrics().get("test_accuracy")},
    "timing": {"threads": 1, "runs_per_model": a.runs, "rounds": a.rounds, "unit": "ms per single window",
               "what": "backend.run (ORT session.run incl. its internal quantize/dequantize)"},
    "machine": {"cpu": cpu, "cores": os.cpu_count(), "vnni": "avx512_vnni" in flags or "avx_vnni" in flags,
                "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
                "tf2onnx": tf2onnx.__version__, "onnx": onnx.__version__, "tensorflow": version("tensorflow"),
                "ai-edge-litert": version("ai-edge-litert")},
    "defaults": {"quant_format": cx.DEFAULT_QUANT_FORMAT, "calibration": cx.DEFAULT_CALIBRATION,
                 "per_channel": cx.DEFAULT_PER_CHANNEL, "activations": cx.DEFAULT_ACTIVATION_TYPE,
                 "opset": cx.DEFAULT_OPSET},
    "rows": list(rows.values()),
}
Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
for r in rows.values():
    print(f"{r['model']:<44} {r['size_bytes']/1e6:6.2f}MB agr {r['agreement_test']:.3f}/{r.get('agreement_extra', float('nan')):.4f} "
          f"maxd {r['max_abs_diff_extra']:.4f} meand {r['mean_abs_diff_extra']:.5f} lat {r['latency_median_ms']:.3f} p90 {r['latency_p90_ms']:.3f} q {r.get('quantize_s','')}")
import shutil; shutil.rmtree(tmp)
