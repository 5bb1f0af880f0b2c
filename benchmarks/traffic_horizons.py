"""Traffic forecasts 15, 30 and 60 minutes ahead on the VDS detector (issue 29), three seeds.

For each seed: ``edgekit train traffic --data vds.csv --horizons 15,30,60 --seed S`` (the forecaster; its metrics.json
holds the baselines on the same test windows: persistence, the historical average by time of week and of day, the
course's Conv1D trained per horizon), then ``edgekit convert`` to TFLite float32 and int8 (each verified horizon by
horizon), whose forecasts on the recorded test windows are scored here in km/h (MAE, RMSE, MAPE) through the device
runtime; and the course's own setting, ``edgekit train traffic --data vds.csv --seed S`` (next 5-minute row, the
course's Conv1D), for its test MSE, beside the forecaster trained for that one horizon (``--horizons 5``).

Usage: python benchmarks/traffic_horizons.py [--data ../shared/data/vds/vds.csv] [--seeds 0,1,2] [--horizons 15,30,60]
Writes benchmarks/results/traffic_horizons.json and prints the tables of benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "vds" / "vds.csv"
BASELINES = ("persistence", "historical_average", "historical_average_day", "course_cnn")


def artifact_errors(run: Path, precision: str) -> dict[str, dict[str, float]]:
    """Per horizon: MAE, RMSE, MAPE in the target's units of the converted model on the run's test windows."""
    from edgekit.convert.export import convert_run
    from edgekit.edge import frontend as fe
    from edgekit.edge.model.model import Model
    from edgekit.train.traffic_horizons import unit_errors

    rep = convert_run(run, "tflite", precision, log=lambda *a, **k: None)
    model = Model(rep["artifact"])
    spec = model.spec
    with np.load(run / "test.npz") as z:
        x, y = z["x"], z["y"]
    out = model.predict(fe.build(spec)(x)).reshape(len(x), -1).astype(np.float64)
    scaling = spec.target["scaling"]
    pred, true = fe.denormalize(out, scaling), fe.denormalize(np.asarray(y, np.float64).reshape(len(y), -1), scaling)
    per = {f"{m:g}": unit_errors(pred[:, j], true[:, j]) for j, m in enumerate(spec.target["horizons"])}
    for h, v in zip(per.values(), rep["per_horizon"]):
        h["mae_increase_vs_keras"] = v["mae_increase"]
    return per


def one_seed(data: str, seed: int, horizons: str, root: Path) -> dict:
    """The forecaster (float32 and int8), its baselines, and the course setting, for one seed."""
    from edgekit.train.traffic import train_traffic

    quiet = lambda *a, **k: None  # noqa: E731
    t0 = time.perf_counter()
    m = train_traffic(root / f"h{seed}", data=data, horizons=horizons, seed=seed, verbose=0, log=quiet)
    res = {"seed": seed, "train_seconds": round(time.perf_counter() - t0, 1), "parameters": m["parameters"],
           "best_epoch": m["best_epoch"], "epochs_run": m["epochs_run"], "n_test": m["n_test"],
           "test_from": m["test_from"], "keras": {k: v["model"] for k, v in m["by_horizon"].items()},
           "baselines": {k: {b: v[b] for b in BASELINES} for k, v in m["by_horizon"].items()},
           "mae_below_best_baseline": {k: v["mae_below_best_baseline"] for k, v in m["by_horizon"].items()}}
    for precision in ("float32", "int8"):
        res[precision] = artifact_errors(root / f"h{seed}", precision)
    course = train_traffic(root / f"c{seed}", data=data, seed=seed, verbose=0, log=quiet)
    five = train_traffic(root / f"f{seed}", data=data, horizons="5", seed=seed, verbose=0, log=quiet)
    res["course_setting"] = {"test_mse": course["test_mse"], "test_mae_units": course["test_mae_units"],
                             "n_test": course["n_test"], "persistence_mse": course["persistence"]["test_mse"]}
    res["forecaster_5min"] = {"test_mse": five["test_mse"], "test_mae_units": five["test_mae_units"],
                              "n_test": five["n_test"],
                              "course_cnn_mae_units": five["by_horizon"]["5"]["course_cnn"]["mae"]}
    return res


def tables(results: list[dict]) -> list[str]:
    """The README's tables: per horizon and seed, MAE / RMSE / MAPE of every forecast; the course setting's MSE."""
    lines = ["| horizon | seed | forecaster Keras | TFLite float32 | TFLite int8 (vs float32) | persistence | "
             "hist. avg. (week) | hist. avg. (day) | course Conv1D | below the better baseline |",
             "|---|---:|---|---|---|---|---|---|---|---:|"]
    fmt = lambda e: f"{e['mae']:.2f} / {e['rmse']:.2f} / {e['mape']:.1f} %"  # noqa: E731
    for h in results[0]["keras"]:
        for r in results:
            b = r["baselines"][h]
            i8 = r["int8"][h]
            rel = i8["mae"] / r["float32"][h]["mae"] - 1
            lines.append(f"| +{h} min | {r['seed']} | {fmt(r['keras'][h])} | {fmt(r['float32'][h])} | {fmt(i8)} "
                         f"({rel:+.1%}) | {fmt(b['persistence'])} | {fmt(b['historical_average'])} | "
                         f"{fmt(b['historical_average_day'])} | {fmt(b['course_cnn'])} | "
                         f"{r['mae_below_best_baseline'][h]:.1%} |")
    lines += ["", "| seed | course setting: test MSE (MAE km/h) | persistence MSE | forecaster, +5 min only: test MSE "
                  "(MAE km/h) | course Conv1D on those windows: MAE km/h |", "|---:|---:|---:|---:|---:|"]
    for r in results:
        c, f = r["course_setting"], r["forecaster_5min"]
        lines.append(f"| {r['seed']} | {c['test_mse']:.5f} ({c['test_mae_units']:.2f}) | {c['persistence_mse']:.5f} | "
                     f"{f['test_mse']:.5f} ({f['test_mae_units']:.2f}) | {f['course_cnn_mae_units']:.2f} |")
    return lines


def main() -> None:
    """Every seed, then the JSON and the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--horizons", default="15,30,60")
    ap.add_argument("--out", default=str(HERE / "results" / "traffic_horizons.json"))
    args = ap.parse_args()
    if not Path(args.data).is_file():
        raise SystemExit(f"{args.data}: no such file (the VDS detector CSV)")
    from edgekit.convert.tf import quiet_tensorflow
    quiet_tensorflow()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            results.append(one_seed(args.data, seed, args.horizons, Path(tmp)))
            print(f"seed {seed} done in {results[-1]['train_seconds']} s of training", flush=True)
    report = {"data": args.data, "horizons": args.horizons, "machine": platform.machine(),
              "date": time.strftime("%Y-%m-%d"), "seeds": results}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print("\n".join(tables(results)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
