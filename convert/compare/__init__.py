"""``edgekit compare``: float against quantized on the same test data — task metric, agreement with the
float reference, size, latency per window and peak memory, for any mix of .keras/.tflite/.onnx; and, with ``--layers``,
which layers of an int8 model lose the most to quantization.

The reference is the first ``.keras`` model given, else the first float32 artifact, else the first one. Every artifact
must belong to the reference's task (task, kind, labels/target, window, sample rate, input shape); anything else — not a
model, no edgekit metadata, another task — is a one-line error, never a row.

Row fields: classification ``value`` = accuracy, ``macro_f1``, ``confusion`` (rows = truth), ``agreement`` = top-1
agreement with the reference; regression ``value`` = MSE in the model's (normalised) output space, as the recorded ``y``
is, ``mae``, ``mse_physical``/``mae_physical`` (``spec.target["scaling"]`` inverted), ``agreement`` = share of windows
within 1 % of the reference outputs' range of it; a forecaster of several horizons keeps one row per artifact, those
figures over all horizons, and adds ``by_horizon`` (minutes → ``mse``, ``mae``, ``mae_physical``, ``rmse_physical``),
shown as one MAE column per horizon; anomaly ``value`` = AUC of the scores (``y`` 1 = anomalous), ``pauc``
(FPR <= 0.1), ``tpr``/``fpr`` (shares flagged at the spec's threshold), ``agreement`` = Spearman's rank correlation
with the reference's scores; all ``max_abs_diff``/``mean_abs_diff``,
``latency_ms`` (one window: front end + model + argmax), ``peak_rss_mb`` (the process's high-water mark).
"""
from .cli import compare_cmd  # noqa: F401  (the command's entry point)
from .comparison import compare  # noqa: F401
