"""``edgekit compare``: float against quantized on the same test data — task metric, agreement with the
float reference, size, latency per window and peak memory, for any mix of .keras/.tflite/.onnx; and,
with ``--layers``, which layers of an int8 model lose the most to quantization.

The reference is the first ``.keras`` model given, else the first float32 artifact, else the first one.
Every artifact must belong to the reference's task (same task, kind, labels/target, window, sample rate
and input shape); anything else — a file that is not a model, a model without edgekit metadata, a model
of another task — is a one-line error, never a row.

Metrics
-------
classification  ``value`` = accuracy in [0, 1], ``macro_f1``, ``confusion`` (rows = truth), ``agreement`` =
                top-1 agreement with the reference.
regression      ``value`` = MSE in the model's (normalised) output space, ``mae`` likewise, and
                ``mse_physical`` / ``mae_physical`` after inverting the spec's target scaling
                (``spec.target["scaling"]``). The recorded test targets ``y`` are in the model's output
                space, as ``edgekit convert`` verifies them. ``agreement`` = share of test windows whose
                output is within 1 % of the reference outputs' range of the reference output.
both            ``max_abs_diff`` / ``mean_abs_diff`` of the raw float outputs against the reference,
                ``latency_ms`` (p50, p90, p99, mean, ... of one window: front end + model + argmax),
                ``peak_rss_mb`` (the process's high-water mark while running that artifact).

Modules: ``data`` (artifacts, training run, test split, features), ``metrics``, ``latency``, ``layers``
(``--layers``), ``report`` (tables, CSV, plot, JSON-safe values), ``comparison`` (the rows), ``cli`` (the
command).
"""
from __future__ import annotations

from .cli import compare_cmd
from .comparison import compare, compare_artifacts
from .data import Artifact, load_artifact, load_test_data, pick_reference
from .layers import onnx_layer_errors, tflite_layer_errors
from .metrics import macro_f1
from .report import print_layers, print_table, write_csv, write_plot

__all__ = ["Artifact", "compare", "compare_artifacts", "compare_cmd", "load_artifact", "load_test_data",
           "macro_f1", "onnx_layer_errors", "pick_reference", "print_layers", "print_table",
           "tflite_layer_errors", "write_csv", "write_plot"]
