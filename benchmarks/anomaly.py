"""Anomaly detection (issue 27): the targets, measured. Writes ``benchmarks/results/anomaly.json``.

    .venv/bin/python benchmarks/anomaly.py [--parts synthetic,stream,fsdd,bench,ablation] [--machines 10]
        [--fsdd ../shared/data/fsdd/recordings] [--rounds 5]
        # a subset of --parts re-runs those parts and keeps the others in the JSON

``synthetic``  ``edgekit train anomaly`` with its defaults (1,000 synthetic signals, seed 0: the 500 healthy ones,
               A, split 300 / 50 / 75 / 75 into training / validation / threshold / test; the faulty ones, B, never
               seen), converted to TFLite and ONNX, float32 and int8 (each verified by ``edgekit convert``), then
               scored by ``edgekit compare --data`` on 2,000 other machines (``vibration(2000, seed=99)``: 1,000 A,
               1,000 B): AUC, pAUC (FPR <= 0.1), the shares flagged at the spec's threshold, Spearman against
               Keras. Target: AUC >= 0.99 float32 and int8.
``stream``     that model's float32 and int8 TFLite files through ``edge-run --source synthetic --seed K --json``
               for ``--machines`` machines (K = 0, 1, ...): each healthy for 30 s, then its bearing fault appears at
               class B's faintest strength and grows for 60 s, 120 s in all (39 healthy windows, 114 faulty).
               Per machine and pooled: the share of faulty windows flagged, of healthy windows flagged, events
               during the healthy part, seconds from the fault's onset to the first event. Target: >= 90 %
               of faulty windows flagged with <= 5 % of healthy ones.
``fsdd``       a real public set: the Free Spoken Digit Dataset, each speaker in turn the normal one (its 500 clips
               split 300 / 50 / 75 / 75), the other two speakers' 1,000 clips the anomalies (log-mel, 1 s windows,
               clips fitted as edge-run fits them); float32 and int8 TFLite (and ONNX) AUC and pAUC on the run's
               test split (75 normal, 1,000 anomalous).
``bench``      ``edgekit bench`` of the anomaly model's int8 (and float32) TFLite file against the course STFT CNN's
               (``edgekit train stft``, 3 epochs: the timing does not depend on its accuracy), same 16 windows of
               synthetic vibration, ``--rounds`` rounds of 200 windows each, alternating; the ratio of the medians
               of the per-round p50 totals. Target: the anomaly window costs no more than the CNN's (ratio <= 1).
``ablation``   the design choices, measured on the synthetic split and on FSDD (jackson, nicolas normal), Keras and
               TFLite int8: (a) a per-frame autoencoder (the same layers on every frame of the spectrogram, score
               the mean over frames) against the mean-spectrum one; (b) the score's mean taken inside the graph (one
               int8 output: edgekit's) against on the device (the per-band squared error as output); (c) int8
               calibrated on the normal windows at five levels (-20 to +20 dB: edgekit's) against at their own level
               only.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "anomaly.json"
FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"
SPEAKERS = ("jackson", "nicolas", "theo")
PARTS = ("synthetic", "stream", "fsdd", "bench", "ablation")
ARTIFACTS = (("tflite", "float32"), ("tflite", "int8"), ("onnx", "float32"), ("onnx", "int8"))


def log(msg: str) -> None:
    """A timestamped progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def quiet(*_a, **_k) -> None:
    """A log that says nothing."""
    pass


def train_and_convert(out: Path, **options) -> tuple[dict[str, Any], dict[str, str]]:
    """``edgekit train anomaly`` with ``options`` into ``out``, and the four verified artifacts."""
    from edgekit.convert.export import convert_run
    from edgekit.train.anomaly import train_anomaly
    t0 = time.perf_counter()
    metrics = train_anomaly(out, verbose=0, log=log, **options)
    arts = {f"{fmt} {p}": convert_run(out, fmt, p, log=quiet)["artifact"] for fmt, p in ARTIFACTS}
    log(f"trained and converted in {time.perf_counter() - t0:.0f} s")
    return metrics, arts


def rows_of(report: dict[str, Any]) -> dict[str, Any]:
    """The anomaly fields of a comparison's rows, by artifact file name."""
    keys = ("precision", "format", "value", "pauc", "tpr", "fpr", "agreement", "n_normal", "n_anomalous")
    return {Path(r["artifact"]).name: {k: r.get(k) for k in keys} for r in report["rows"]}


def part_synthetic(work: Path) -> dict[str, Any]:
    """Train on synthetic A with the defaults, convert, compare on 2,000 other machines (see the module docstring)."""
    from edgekit.convert.compare import compare
    from edgekit.train.datasets import load_signals, save_course_pickle
    metrics, arts = train_and_convert(work / "synthetic")
    save_course_pickle(work / "other-machines.pkl", load_signals(None, seed=99, n=2000))
    report = compare([str(work / "synthetic" / "model.keras"), *arts.values()], str(work / "other-machines.pkl"),
                     runs=20, log=quiet)
    rows = rows_of(report)
    for name, r in rows.items():
        log(f"synthetic {name}: AUC {r['value']:.4f} pAUC {r['pauc']:.4f} TPR {r['tpr']:.3f} FPR {r['fpr']:.3f} "
            f"Spearman {r['agreement']:.4f}")
    return {"train": {k: metrics[k] for k in ("parameters", "macs", "threshold", "test_auc", "test_pauc",
                                              "flagged_share", "n_train", "n_val", "n_calibration", "n_test_normal",
                                              "n_test_anomalous", "best_epoch", "epochs_run", "train_seconds")},
            "test": "vibration(2000, seed=99): 1000 A, 1000 B", "rows": rows, "artifacts": arts}


def stream_shares(model: str, seed: int, seconds: float) -> dict[str, Any]:
    """One machine through edge-run: flagged shares of healthy and faulty windows, events, delay to the first."""
    exe = str(Path(sys.executable).with_name("edge-run"))
    p = subprocess.run([exe, "--model", model, "--source", "synthetic", "--seed", str(seed), "--duration",
                        f"{seconds:g}", "--json"], capture_output=True, text=True, check=True)
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    wins = [x for x in lines if "anomaly" in x]
    events = [x["t"] for x in lines if "event" in x]
    onset = min(w["t"] for w in wins if w["truth"] == "B")
    healthy = [w["anomaly"] for w in wins if w["truth"] == "A"]
    faulty = [w["anomaly"] for w in wins if w["truth"] == "B"]
    after = [t for t in events if t > onset]
    return {"seed": seed, "healthy_windows": len(healthy), "healthy_flagged": int(sum(healthy)),
            "faulty_windows": len(faulty), "faulty_flagged": int(sum(faulty)),
            "healthy_events": sum(t <= onset for t in events), "events": len(events),
            "first_event_after_onset_s": round(after[0] - onset, 3) if after else None,
            "median_score_healthy": float(np.median([w["score"] for w in wins if w["truth"] == "A"])),
            "median_score_faulty_last_10": float(np.median([w["score"] for w in wins if w["truth"] == "B"][-10:]))}


def part_stream(results: dict[str, Any], machines: int, seconds: float = 120.0) -> dict[str, Any]:
    """The synthetic model's float32 and int8 TFLite files on ``machines`` developing-fault streams, pooled."""
    arts = results["synthetic"]["artifacts"]
    out: dict[str, Any] = {"machines": machines, "seconds": seconds}
    for key in ("tflite float32", "tflite int8"):
        per = [stream_shares(arts[key], k, seconds) for k in range(machines)]
        pooled = {"faulty_flagged_share": sum(m["faulty_flagged"] for m in per) / sum(m["faulty_windows"] for m in per),
                  "healthy_flagged_share": sum(m["healthy_flagged"] for m in per)
                  / sum(m["healthy_windows"] for m in per),
                  "healthy_events": sum(m["healthy_events"] for m in per),
                  "worst_machine_faulty_share": min(m["faulty_flagged"] / m["faulty_windows"] for m in per),
                  "worst_machine_healthy_share": max(m["healthy_flagged"] / m["healthy_windows"] for m in per),
                  "first_event_delay_s_median": float(np.median([m["first_event_after_onset_s"] for m in per
                                                                 if m["first_event_after_onset_s"] is not None]))}
        log(f"stream {key}: faulty flagged {pooled['faulty_flagged_share']:.3f}, healthy flagged "
            f"{pooled['healthy_flagged_share']:.3f} (worst machine {pooled['worst_machine_faulty_share']:.3f} / "
            f"{pooled['worst_machine_healthy_share']:.3f}), healthy events {pooled['healthy_events']}")
        out[key] = {"pooled": pooled, "machines": per}
    return out


def part_fsdd(work: Path, data: Path) -> dict[str, Any]:
    """Each FSDD speaker in turn the normal one: AUC and pAUC of the four artifacts on the run's test split."""
    from edgekit.convert.compare import compare
    out: dict[str, Any] = {"data": str(data)}
    for speaker in SPEAKERS:
        run = work / f"fsdd-{speaker}"
        metrics, arts = train_and_convert(run, data=str(data), label_regex=r"^\d+_([a-z]+)_", normal_label=speaker)
        report = compare([str(run / "model.keras"), *arts.values()], None, runs=20, log=quiet)
        rows = rows_of(report)
        for name, r in rows.items():
            log(f"fsdd {speaker} {name}: AUC {r['value']:.4f} pAUC {r['pauc']:.4f} TPR {r['tpr']:.3f} "
                f"FPR {r['fpr']:.3f}")
        out[speaker] = {"parameters": metrics["parameters"], "threshold": metrics["threshold"], "rows": rows,
                        "input_shape": json.loads((run / "spec.json").read_text())["input_shape"]}
    for name in out["jackson"]["rows"]:
        out.setdefault("mean_auc", {})[name] = float(np.mean([out[s]["rows"][name]["value"] for s in SPEAKERS]))
    return out


def part_bench(work: Path, results: dict[str, Any], rounds: int) -> dict[str, Any]:
    """``edgekit bench`` of the anomaly model against the course CNN, float32 and int8, in alternating rounds."""
    from edgekit.convert.export import convert_run
    from edgekit.edge.pipeline.bench import bench_model
    from edgekit.train.stft import train_stft
    train_stft(work / "stft", epochs=3, verbose=0, log=quiet)
    cnn = {p: convert_run(work / "stft", "tflite", p, log=quiet)["artifact"] for p in ("float32", "int8")}
    arts = results["synthetic"]["artifacts"]
    models = {"anomaly int8": arts["tflite int8"], "cnn int8": cnn["int8"],
              "anomaly float32": arts["tflite float32"], "cnn float32": cnn["float32"]}
    p50: dict[str, list[float]] = {k: [] for k in models}
    stages: dict[str, dict[str, list[float]]] = {k: {} for k in models}
    for r in range(rounds):
        for name in (list(models) if r % 2 == 0 else list(models)[::-1]):
            rep = bench_model(models[name], runs=200, warmup=20)
            st = rep["results"][0]["stages"]
            p50[name].append(st["total"]["p50"])
            for k, v in st.items():
                stages[name].setdefault(k, []).append(v["p50"])
        log(f"bench round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} ms" for k, v in p50.items()))
    med = {k: float(np.median(v)) for k, v in p50.items()}
    return {"rounds": rounds, "runs_per_round": 200, "p50_total_ms": med, "round_p50_ms": p50,
            "stage_p50_ms": {k: {s: float(np.median(v)) for s, v in st.items()} for k, st in stages.items()},
            "ratio_int8": med["anomaly int8"] / med["cnn int8"],
            "ratio_float32": med["anomaly float32"] / med["cnn float32"]}


def _ablation_data(kind: str, work: Path):
    """(features of the normal parts, of the anomalous windows, spec, raw calibration windows) of one benchmark's
    split, as training made them."""
    from edgekit.convert.rundir import open_run
    from edgekit.convert.tf import batched
    from edgekit.edge import frontend as fe
    from edgekit.train.anomaly import DEFAULT_CLIP, load_recordings, split
    run = open_run(work / kind)
    spec = run.spec()
    if kind == "synthetic":
        recs, *_ = load_recordings(None)
    else:
        recs, *_ = load_recordings(str(FSDD), label_regex=r"^\d+_([a-z]+)_")
    parts, bad, _, _ = split(recs, spec.labels[0], spec.window, DEFAULT_CLIP)
    front = fe.build(spec)
    return ({p: batched(front, v, 256) for p, v in parts.items()}, batched(front, bad, 256), spec,
            run.calibration())


def part_ablation(work: Path) -> dict[str, Any]:
    """The design choices against their alternatives (see the module docstring), Keras and TFLite int8."""
    import keras
    from keras import layers
    from edgekit.convert.compare.metrics import auc, spearman
    from edgekit.convert.tf import batched, keras_outputs
    from edgekit.edge import frontend as fe
    from edgekit.edge.core.anomaly import scores
    from edgekit.edge.model.model import Model
    from edgekit.convert.tflite import to_tflite
    from edgekit.train.fit import fit, seed_everything
    from edgekit.train.models import anomaly_ae
    out: dict[str, Any] = {}
    for kind in ("synthetic", "fsdd-jackson", "fsdd-nicolas"):
        if not (work / kind).is_dir():
            continue
        x, xb, spec, calib_raw = _ablation_data(kind, work)
        front = fe.build(spec)
        calib, own_level = batched(front, calib_raw[:300], 256), batched(front, calib_raw[:1500:5], 256)
        time_axis = 2 if spec.features["type"] == "spectrogram" else 1
        res: dict[str, Any] = {}
        for variant in ("mean spectrum (edgekit)", "per frame"):
            seed_everything(0)
            if variant == "per frame":          # the same layers on every frame, no mean over time
                shape = spec.input_shape
                inp = keras.Input(shape=shape)
                t = layers.Permute((2, 1, 3))(inp) if time_axis == 2 else inp
                frames, bins = (shape[1], shape[0]) if time_axis == 2 else (shape[0], shape[1])
                t = layers.Reshape((frames, bins))(t)
                h = layers.Dense(64, activation="relu")(t)
                h = layers.Dense(8, activation="relu")(h)
                h = layers.Dense(64, activation="relu")(h)
                d = layers.Subtract()([t, layers.Dense(bins)(h)])
                model = keras.Model(inp, layers.Multiply()([d, d]))
            else:
                model = anomaly_ae(spec.input_shape, time_axis)
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
            z = {p: np.zeros((len(v), *model.output_shape[1:]), np.float32) for p, v in x.items()}
            fit(model, x["train"], z["train"], x["val"], z["val"], epochs=100, batch_size=32, verbose=0)
            s_n, s_b = scores(keras_outputs(model, x["test"])), scores(keras_outputs(model, xb))
            res[variant] = {"keras_auc": auc(s_n, s_b)}
            if variant != "per frame":          # (b): the mean inside the graph, one int8 output
                bands = keras.Model(model.input, model.get_layer("squared_error").output)
                for name, m, cal in (("mean in the graph, five levels (edgekit)", model, calib),
                                     ("mean on the device", bands, calib),
                                     ("calibrated at the normal level only", model, own_level)):
                    path = work / f"ablation-{kind}.tflite"
                    path.write_bytes(to_tflite(m, "int8", cal))
                    tm = Model(path)
                    t_n, t_b = scores(tm.predict(x["test"])), scores(tm.predict(xb))
                    res[name] = {"int8_auc": auc(t_n, t_b),
                                 "int8_spearman": spearman(np.r_[t_n, t_b], np.r_[s_n, s_b])}
            log(f"ablation {kind} {variant}: {res}")
        out[kind] = res
    return out


def main() -> None:
    """Run the asked parts and update results/anomaly.json (the parts not run keep their last figures)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--machines", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fsdd", type=Path, default=FSDD)
    ap.add_argument("--keep", type=Path, default=None, help="Keep the runs in this folder (default: a temporary one).")
    a = ap.parse_args()
    parts = [p for p in a.parts.split(",") if p]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise SystemExit(f"--parts: unknown {', '.join(bad)}; use {', '.join(PARTS)}")
    from edgekit.convert.tf import quiet_tensorflow
    quiet_tensorflow()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = a.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if "synthetic" in parts or {"stream", "bench", "ablation"} & set(parts):
            results["synthetic"] = part_synthetic(work)
        if "stream" in parts:
            results["stream"] = part_stream(results, a.machines)
        if ("fsdd" in parts or "ablation" in parts) and a.fsdd.is_dir():
            results["fsdd"] = part_fsdd(work, a.fsdd)
        if "bench" in parts:
            results["bench"] = part_bench(work, results, a.rounds)
        if "ablation" in parts:
            results["ablation"] = part_ablation(work)
    import platform
    from importlib.metadata import version
    results["run"] = {"date": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.perf_counter() - t0),
                      "parts": parts, "machine": platform.machine(), "cpus": os.cpu_count(),
                      "load_average": os.getloadavg(), "tensorflow": version("tensorflow"),
                      "ai-edge-litert": version("ai-edge-litert"), "onnxruntime": version("onnxruntime")}
    for v in results.values():
        if isinstance(v, dict):
            v.pop("artifacts", None)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {RESULTS} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
