"""``edgekit convert``."""
from __future__ import annotations

import json

import click

from .export import convert_run, print_report


@click.command()
@click.argument("run_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--to", "fmt", type=click.Choice(["tflite", "onnx"]), default="tflite", show_default=True)
@click.option("--precision", type=click.Choice(["float32", "dynamic", "int8"]), default="float32",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output file (default DIR/<task>_<precision>.<format>).")
@click.option("--calib", type=click.IntRange(min=1), default=300, show_default=True,
              help="Training windows used to calibrate int8.")
@click.option("--json", "as_json", is_flag=True, help="Print the verification report as JSON.")
def convert(run_dir, fmt, precision, output, calib, as_json):
    """Convert the model trained in DIR to TFLite or ONNX and verify it against Keras."""
    log = (lambda *a, **k: click.echo(*a, err=True)) if as_json else click.echo
    rep = convert_run(run_dir, fmt, precision, output, calib, log=log)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        print_report(rep, log)
