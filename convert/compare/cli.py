"""The ``edgekit compare`` command: options, output files checked before the work, then the report as
a table, JSON, CSV and/or PNG."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click
import numpy as np

from edgekit.edge.core.errors import EdgekitError

from .comparison import TARGETS, compare
from .report import print_layers, print_table, write_csv, write_plot


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
    try:                           # a real probe: /proc passes os.access as root but holds no new file
        tempfile.TemporaryFile(dir=p.parent).close()
    except OSError as e:
        raise EdgekitError(f"{opt} {path}: cannot write to {p.parent} ({e.strerror or e})") from None


@click.command("compare")
@click.argument("artifacts", metavar="ARTIFACT...", nargs=-1, required=True, type=click.Path())
@click.option("--data", type=click.Path(), default=None,
              help="Test data: a .npz with x (raw windows) and y, a run directory, a folder of labelled WAV clips "
                   "(label sub-folders, or --label-regex) or a course .pkl (default: the test split recorded at "
                   "training, next to the artifacts).")
@click.option("--label-regex", default=None, help="--data FOLDER: the label is this regex's first group in each "
                                                   "file name, e.g. '^(\\d+)_'.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with a 'rows' list.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None, help="Also write the table as CSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also write a PNG: metric vs latency and size; confusion matrices, predicted against true values, "
                   "or an anomaly model's score distributions of normal and anomalous windows and its threshold.")
@click.option("--layers", is_flag=True, help="Per-layer quantization error of the int8 models.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Layers shown per model with --layers.")
@click.option("--runs", type=click.IntRange(min=1), default=100, show_default=True,
              help="Single-window runs timed per artifact.")
def compare_cmd(artifacts, data, label_regex, as_json, csv_path, plot_path, layers, top, runs):
    """Compare float and quantized models (.keras, .tflite, .onnx) on the same test data: task metric, agreement with
    the float reference, size, latency per window, peak memory; --layers shows which layers of an int8 model lose the
    most."""
    _check_output_path("--csv", csv_path)
    _check_output_path("--plot", plot_path, ".png")
    if plot_path:
        import matplotlib  # noqa: F401 -- before the long part: without it, a one-line error naming the extra
    log = (lambda *a, **k: click.echo(*a, err=True)) if as_json else click.echo
    outputs: dict[str, np.ndarray] = {}
    report = compare(list(artifacts), data, runs, log=log, layers=layers, outputs=outputs, label_regex=label_regex)
    if csv_path:
        write_csv(report["rows"], csv_path)
        log(f"wrote {csv_path}")
    y = outputs.pop(TARGETS, None)
    if plot_path:
        write_plot(report, plot_path, outputs, y)
        log(f"wrote {plot_path}")
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    print_table(report["rows"], log)
    if layers:
        print_layers(report["rows"], top, log)
