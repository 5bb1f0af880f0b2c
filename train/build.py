"""``edgekit build TASK``: from data to every deployable artifact in one step, verified and compared.

Writes into ``--out``: ``run/`` (the training run and the four artifacts), ``compare.json``, ``compare.csv``,
``compare.png`` (with matplotlib) and ``report.md`` (data, split, metrics, sizes, latency here, the int8 layers
that lose the most).
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import click

TASKS = ("stft", "audio", "traffic", "mnist", "anomaly")
ARTIFACTS = (("tflite", "float32"), ("tflite", "int8"), ("onnx", "float32"), ("onnx", "int8"))


@click.command("build", context_settings={"ignore_unknown_options": True})
@click.argument("task", type=click.Choice(TASKS))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Single-window runs timed per artifact in the comparison.")
@click.argument("train_args", nargs=-1, type=click.UNPROCESSED)
def build(task, out, runs, train_args):
    """Train TASK (TRAIN_ARGS are `edgekit train TASK`'s options, e.g. --data PATH --epochs N), convert to
    TFLite and ONNX in float32 and int8, verify and compare them, and write report.md into --out."""
    from edgekit.convert.rundir import prepare_out
    from edgekit.edge.core.errors import EdgekitError

    if "--out" in train_args:
        raise EdgekitError("give --out to edgekit build (it trains into OUT/run), not among the training options")
    prepare_out(out)
    b = build_all(task, Path(out), list(train_args), runs=runs)
    click.echo(f"\nbuild finished in {b['seconds']:.0f} s: {out}/report.md, compare.json, "
               f"{len(b['artifacts'])} verified artifacts in {b['run_dir']}/")


def build_all(task: str, out: Path, train_args: list[str], *, runs: int = 100, run_name: str = "run",
              step=lambda title: click.echo(f"── {title}")) -> dict:
    """What ``edgekit build`` does (``edgekit demo`` too): train into ``out/run_name``, the four verified artifacts, the
    comparison and report.md in ``out``. Returns {"run_dir", "artifacts" (paths, in
    :data:`ARTIFACTS` order), "report" (compare's), "metrics", "seconds"}. ``step`` titles each stage."""
    from edgekit.convert.compare import compare
    from edgekit.convert.compare.comparison import TARGETS
    from edgekit.convert.compare.report import print_layers, print_table, write_csv, write_plot
    from edgekit.convert.export import convert_run, print_report
    from .cli import train

    t0 = time.perf_counter()
    run_dir = out / run_name
    step(f"train: edgekit train {task} {' '.join(train_args)} --out {run_dir}")
    train.main(args=[task, *train_args, "--out", str(run_dir)], standalone_mode=False)
    arts = []
    step("convert: edgekit convert --to tflite|onnx --precision float32|int8, each verified against Keras")
    for fmt, precision in ARTIFACTS:
        click.echo(f"-- {fmt} {precision}")
        rep = convert_run(run_dir, fmt, precision, log=click.echo)
        print_report(rep, click.echo)
        arts.append(rep["artifact"])
    step("compare: Keras (reference) against the four artifacts, per-layer int8 error")
    outputs: dict = {}
    report = compare([str(run_dir / "model.keras"), *arts], None, runs, log=click.echo, layers=True, outputs=outputs)
    print_table(report["rows"], click.echo)
    (out / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    write_csv(report["rows"], out / "compare.csv")
    plot = None
    try:
        if report["kind"] in ("classification", "anomaly"):
            write_plot(report, out / "compare.png", outputs, outputs.get(TARGETS))
            plot = "compare.png"
    except ImportError:
        pass
    layers: list[str] = []
    print_layers(report["rows"], 5, layers.append)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    seconds = time.perf_counter() - t0
    (out / "report.md").write_text(_report(task, train_args, metrics, report, "\n".join(layers), plot, seconds))
    return {"run_dir": run_dir, "artifacts": arts, "report": report, "metrics": metrics, "seconds": seconds}


def _report(task, train_args, metrics, report, layers: str, plot, seconds) -> str:
    rows = report["rows"]
    metric = rows[0]["metric"]
    lines = [f"# edgekit build {task}", "",
             f"`edgekit build {task} {' '.join(train_args)}` on {platform.machine()} ({platform.node()}), "
             f"{time.strftime('%Y-%m-%d %H:%M')}, {seconds:.0f} s.", "", "## Data and split", "",
             f"- data: {metrics.get('data')}",
             f"- split: {json.dumps(metrics.get('groups') or metrics.get('split') or 'stratified')}",
             f"- train / val / test: {metrics.get('n_train')} / {metrics.get('n_val')} / {metrics.get('n_test')}",
             "", "## Training", ""]
    lines += [f"- {k}: {metrics[k]}" for k in ("test_accuracy", "keyword_accuracy", "test_mse", "test_mae", "test_auc",
                                               "test_pauc", "arch", "parameters", "macs", "best_epoch", "epochs_run")
              if metrics.get(k) is not None]
    lines += ["", "## Artifacts (each verified against Keras on the test split)", "",
              f"| artifact | size | {metric} | agreement | max abs Δ | p50 ms | p99 ms | peak RSS MB |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lat = r["latency_ms"]
        ag = r.get("agreement")
        value = "—" if r["value"] is None else f"{r['value']:.4f}"
        agree = "—" if ag is None else f"{ag:.4f}" if metric == "auc" else f"{ag:.2%}"
        lines.append(f"| {Path(r['artifact']).name} | {r['size_bytes']:,} | {value} | {agree} |"
                     f" {r['max_abs_diff']:.3g} | {lat['p50']:.3f} | "
                     f"{lat['p99']:.3f} | {r.get('peak_rss_mb') or 0:.0f} |")
    lines += ["", f"Test data: {report['test_data']}; latency: one window at a time, front end + model, on this "
                  "machine."]
    if plot:
        lines += ["", f"![comparison]({plot})"]
    lines += ["", "## Per-layer int8 error (the five layers that lose the most)", "", "```", layers.strip(), "```", ""]
    return "\n".join(lines)
