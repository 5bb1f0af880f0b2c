"""One conversion: a training run → a verified, self-describing artifact."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError

from .verify import verify_artifact

FORMATS = {"tflite": ".tflite", "onnx": ".onnx"}


# Default file names follow the training command (`edgekit train mnist` → mnist_int8.tflite).
STEMS = {"image": "mnist"}


def default_output(run_dir: Path, task: str, fmt: str, precision: str) -> Path:
    return run_dir / f"{STEMS.get(task, task)}_{precision}{FORMATS[fmt]}"


def _temp_beside(path: Path, suffix: str) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder (created if missing), as ``mkstemp`` returns it; a folder
    that cannot be written is a one-line error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    except OSError as e:
        raise EdgekitError(f"{path}: cannot write there ({e.strerror or e}); choose another -o") from None


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder: ``path`` is either the old
    file or the complete new one, never half of one."""
    fd, tmp = _temp_beside(path, path.suffix + ".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert_run(run_dir: str | Path, fmt: str = "tflite", precision: str = "float32",
                output: str | Path | None = None, calib: int = 300, log=print,
                onnx_options: dict[str, Any] | None = None) -> dict[str, Any]:
    from edgekit.train.fit import quiet_tensorflow
    quiet_tensorflow()
    from edgekit.train.artifacts import open_run
    from .calibration import calibration_features

    run = open_run(run_dir)
    spec = run.spec()
    model = run.load_model()
    out = Path(output) if output else default_output(run.path, spec.task, fmt, precision)
    if out.suffix.lower() != FORMATS[fmt]:
        raise EdgekitError(f"-o {out}: a {fmt} model needs the {FORMATS[fmt]} extension")
    # Convert into a temporary file beside the output and move it into place only once it has passed
    # verification: a failed or interrupted conversion leaves an existing artifact as it was.
    fd, tmp_name = _temp_beside(out, out.suffix)     # keeps the extension: the backend is chosen by it
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        front = fe.build(spec)
        x_raw, y = run.test_split()
        x = np.concatenate([front(x_raw[i:i + 256]) for i in range(0, len(x_raw), 256)])
        reference = keras_outputs(model, x)
        rep_data = calibration_features(run, calib, log=log) if precision == "int8" else None
        quant = {"precision": precision}
        if rep_data is not None:
            quant["calibration_samples"] = int(len(rep_data))

        if fmt == "tflite":
            from .tflite import to_tflite
            from .metadata import embed_tflite
            blob = to_tflite(model, precision, rep_data)
            tmp.write_bytes(blob)                        # (tmp is ours alone: no second temporary file)
            quant.update(_io_quantization(tmp))
            tmp.write_bytes(embed_tflite(blob, spec.with_(quantization=quant)))
        else:
            from .onnx import to_onnx
            quant.update(to_onnx(model, spec, precision, tmp, rep_data, **(onnx_options or {})))
        report = verify_artifact(tmp, precision, spec, x, y, reference, int(model.count_params()), name=out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    report["quantization"] = quant
    return report


def keras_outputs(model, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Keras outputs in batches via ``model(x)``: no tf.data pipeline (``model.predict`` builds one per call,
    which is slower for small sets and logs noise)."""
    outs = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def _io_quantization(path: Path) -> dict[str, Any]:
    from edgekit.edge.model.backends import load
    b = load(path)
    d = {}
    for name, t in (("input", b.input), ("output", b.output)):
        d[name] = {"dtype": np.dtype(t.dtype).name}
        if t.quantized:
            d[name].update(scale=float(t.scale), zero_point=int(t.zero_point))
    return d


def print_report(rep: dict[str, Any], log=print) -> None:
    log(f"wrote {rep['artifact']}: {rep['size_bytes'] / 1e6:.2f} MB, {rep['format']} {rep['precision']}, "
        f"runs on {rep['backend']}")
    if "agreement" in rep:
        log(f"verified on {rep['n_test']} test windows: accuracy {rep['accuracy']:.4f} (Keras "
            f"{rep['reference_accuracy']:.4f}), top-1 agreement {rep['agreement']:.2%}, max |Δ| "
            f"{rep['max_abs_diff']:.2e}")
    else:
        log(f"verified on {rep['n_test']} test windows: MAE {rep['mae']:.5f} (Keras {rep['reference_mae']:.5f}, "
            f"{rep['mae_increase']:+.1%}), max |Δ| {rep['max_abs_diff']:.2e}")
