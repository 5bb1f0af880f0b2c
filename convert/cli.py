"""``edgekit convert``."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edgekit.edge.core.errors import EdgekitError

from . import onnx as onnx_defaults
from .deploy import FORMATS, KERAS_SUFFIXES, PRECISIONS
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
@click.argument("run_dir", metavar="DIR|MODEL.keras", type=click.Path())
@click.option("--to", "fmt", type=click.Choice(["tflite", "onnx"]), multiple=True,
              help="Format [default: tflite; with MODEL.keras, repeat it: default both].")
@click.option("--precision", type=click.Choice(["float32", "dynamic", "int8"]), multiple=True,
              help="Precision [default: float32; with MODEL.keras, repeat it: default float32 and int8].")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Output file (default DIR/<stft|traffic|mnist>_<precision>.<format>); with MODEL.keras the run "
                   "directory to write (default MODEL-edgekit beside the model).")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), default=None,
              help="MODEL.keras only: its spec (the format of spec.json, without hashes, versions, quantization).")
@click.option("--data", type=click.Path(), default=None,
              help="MODEL.keras only: labelled data to verify on (what 'edgekit compare --data' reads); int8 is "
                   "calibrated on a seeded share of it unless --calib-data is given.")
@click.option("--calib-data", type=click.Path(), default=None,
              help="MODEL.keras only: training windows to calibrate int8 on (the formats of --data).")
@click.option("--label-regex", default=None,
              help="MODEL.keras with --data FOLDER: the label is this regex's first group in each file name.")
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
def convert(run_dir, fmt, precision, output, spec_path, data, calib_data, label_regex, calib, opset, quant_format,
            calibration, per_channel, activations, reduce_range, as_json):
    """Convert the model trained in DIR to TFLite or ONNX and verify it against Keras; or MODEL.keras (a model made
    elsewhere) with --spec and --data: a run directory and its verified artifacts, as deploy() writes them."""
    log = (lambda *a, **k: click.echo(*a, err=True)) if as_json else click.echo
    onnx = dict(opset=opset, quant_format=quant_format, calibration=calibration, per_channel=per_channel,
                activation_type=activations, reduce_range=reduce_range)
    if Path(run_dir).suffix.lower() in KERAS_SUFFIXES and not Path(run_dir).is_dir():
        from .deploy import convert_keras_file
        rep = convert_keras_file(run_dir, spec_path, data, calib_data=calib_data, label_regex=label_regex,
                                 formats=fmt or FORMATS, precisions=precision or PRECISIONS, out=output, calib=calib,
                                 onnx_options=onnx, check_onnx=_onnx_options, log=log)
        if as_json:
            click.echo(json.dumps(rep, indent=2))
        return
    given = [flag for flag, v in (("--spec", spec_path), ("--data", data), ("--calib-data", calib_data),
                                  ("--label-regex", label_regex)) if v is not None]
    if given:
        raise EdgekitError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to a Keras model file "
                           f"(edgekit convert MODEL.keras --spec SPEC.json --data DATA); {run_dir} is a run directory")
    if len(fmt) > 1 or len(precision) > 1:
        raise EdgekitError("edgekit convert DIR writes one artifact: give --to and --precision once each (repeat them "
                           "only with MODEL.keras)")
    fmt, precision = (fmt or ("tflite",))[0], (precision or ("float32",))[0]
    onnx_options = _onnx_options(fmt, precision, **onnx)
    rep = convert_run(run_dir, fmt, precision, output, calib, log=log, onnx_options=onnx_options)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        print_report(rep, log)
