"""``edgekit convert``."""
from __future__ import annotations

import json

import click

from edgekit.edge.core.errors import EdgekitError

from . import onnx as onnx_defaults
from .export import convert_run, print_report

_FLAGS = {"opset": "--opset", "quant_format": "--quant-format", "calibration": "--calibration",
          "per_channel": "--per-channel/--per-tensor", "activation_type": "--activations",
          "reduce_range": "--reduce-range/--full-range"}


def _onnx_options(fmt: str, precision: str, **given) -> dict | None:
    """The ONNX options actually given, checked against --to/--precision before any work is done
    (an option that would be ignored is an error, not silently dropped)."""
    given = {k: v for k, v in given.items() if v is not None}
    if fmt != "onnx":
        if given:
            raise EdgekitError(f"{', '.join(_FLAGS[k] for k in given)} {'applies' if len(given) == 1 else 'apply'}"
                               " only to --to onnx")
        return None
    if precision not in onnx_defaults.PRECISIONS:
        raise EdgekitError(f"--to onnx supports --precision float32 or int8, not {precision} (dynamic-range "
                           "quantization is TFLite-only; use --precision int8 for a quantized ONNX model)")
    int8_only = [_FLAGS[k] for k in given if k != "opset"]
    if precision != "int8" and int8_only:
        raise EdgekitError(f"{', '.join(int8_only)} {'applies' if len(int8_only) == 1 else 'apply'} only to "
                           "--precision int8")
    onnx_defaults.check_options(precision, **given)   # e.g. an --opset tf2onnx cannot export
    return given


@click.command()
@click.argument("run_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--to", "fmt", type=click.Choice(["tflite", "onnx"]), default="tflite", show_default=True)
@click.option("--precision", type=click.Choice(["float32", "dynamic", "int8"]), default="float32", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output file (default DIR/<stft|traffic|mnist>_<precision>.<format>).")
@click.option("--calib", type=click.IntRange(min=1), default=None,
              help="Training windows used to calibrate int8 [default: 300, or all the run kept if fewer].")
@click.option("--opset", type=int, default=None,
              help=f"ONNX only: opset of the export [default: {onnx_defaults.DEFAULT_OPSET}].")
@click.option("--quant-format", type=click.Choice(onnx_defaults.QUANT_FORMATS), default=None,
              help=f"ONNX int8 only: QDQ pairs or QOperator (QLinearConv ...) graph "
                   f"[default: {onnx_defaults.DEFAULT_QUANT_FORMAT}].")
@click.option("--calibration", type=click.Choice(onnx_defaults.CALIBRATIONS), default=None,
              help=f"ONNX int8 only: how activation ranges are chosen "
                   f"[default: {onnx_defaults.DEFAULT_CALIBRATION}].")
@click.option("--per-channel/--per-tensor", "per_channel", default=None,
              help=f"ONNX int8 only: weight scales per output channel or per tensor "
                   f"[default: {'--per-channel' if onnx_defaults.DEFAULT_PER_CHANNEL else '--per-tensor'}].")
@click.option("--activations", type=click.Choice(onnx_defaults.ACTIVATION_TYPES), default=None,
              help=f"ONNX int8 only: activation type; int8 (symmetric) for TensorRT on a Jetson "
                   f"[default: {onnx_defaults.DEFAULT_ACTIVATION_TYPE}].")
@click.option("--reduce-range/--full-range", "reduce_range", default=None,
              help="ONNX int8 only: 7-bit weights, which ONNX Runtime computes right on every CPU, or the full "
                   "8 bits, which saturate on x86 CPUs without VNNI [default: --reduce-range].")
@click.option("--json", "as_json", is_flag=True, help="Print the verification report as JSON.")
def convert(run_dir, fmt, precision, output, calib, opset, quant_format, calibration, per_channel, activations,
            reduce_range, as_json):
    """Convert the model trained in DIR to TFLite or ONNX and verify it against Keras."""
    log = (lambda *a, **k: click.echo(*a, err=True)) if as_json else click.echo
    onnx_options = _onnx_options(fmt, precision, opset=opset, quant_format=quant_format,
                                 calibration=calibration, per_channel=per_channel, activation_type=activations,
                                 reduce_range=reduce_range)
    rep = convert_run(run_dir, fmt, precision, output, calib, log=log, onnx_options=onnx_options)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        print_report(rep, log)
