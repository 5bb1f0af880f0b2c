"""One conversion: a training run → a verified, self-describing artifact."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError

from .tf import batched, keras_outputs, quiet_tensorflow
from .verify import NOT_WRITTEN, verify_artifact

FORMATS = {"tflite": ".tflite", "onnx": ".onnx"}
STEMS = {"image": "mnist"}   # default names follow the training command: `edgekit train mnist` → mnist_int8.tflite


def convert_run(run_dir: str | Path, fmt: str = "tflite", precision: str = "float32",
                output: str | Path | None = None, calib: int | None = None, log=print,
                onnx_options: dict[str, Any] | None = None) -> dict[str, Any]:
    quiet_tensorflow()
    from .calibration import calibration_features
    from .rundir import open_run

    run = open_run(run_dir)
    spec = run.spec()
    model = run.load_model()
    out = Path(output) if output else run.path / f"{STEMS.get(spec.task, spec.task)}_{precision}{FORMATS[fmt]}"
    if out.suffix.lower() != FORMATS[fmt]:
        raise EdgekitError(f"-o {out}: a {fmt} model needs the {FORMATS[fmt]} extension")
    # Convert into a temporary file beside the output (with its extension: the backend is chosen by it) and
    # move it into place only once it has passed verification: a failed or interrupted conversion leaves an
    # existing artifact as it was.
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=out.suffix)
    except OSError as e:
        raise EdgekitError(f"{out}: cannot write there ({e.strerror or e}); choose another -o") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        x_raw, y = run.test_split()
        x = batched(fe.build(spec), x_raw, 256)
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
            from edgekit.edge.model.metadata import read_spec
            from .onnx import to_onnx
            tmp.write_bytes(to_onnx(model, spec, precision, rep_data, **(onnx_options or {})))
            quant.update(read_spec(tmp).quantization)    # the facts the file carries
        report = verify_artifact(tmp, precision, spec, x, y, reference, int(model.count_params()), name=out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as e:            # a full disk, the folder removed: the old artifact, if any, is untouched
        raise EdgekitError(f"{out}: cannot write it ({e.strerror or e}) {NOT_WRITTEN}") from None
    finally:
        tmp.unlink(missing_ok=True)
    report["quantization"] = quant
    return report


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
    if "spearman" in rep:
        labelled = f", AUC {rep['auc']:.4f} (Keras {rep['reference_auc']:.4f})" if rep["auc"] is not None else ""
        log(f"verified on {rep['n_test']} test windows: scores rank as Keras's (Spearman {rep['spearman']:.4f})"
            f"{labelled}, {rep['flag_agreement']:.2%} flagged alike at the threshold, max |Δ| "
            f"{rep['max_abs_diff']:.2e}")
    elif "agreement" in rep:
        log(f"verified on {rep['n_test']} test windows: accuracy {rep['accuracy']:.4f} (Keras "
            f"{rep['reference_accuracy']:.4f}), top-1 agreement {rep['agreement']:.2%}, max |Δ| "
            f"{rep['max_abs_diff']:.2e}")
    else:
        log(f"verified on {rep['n_test']} test windows: MAE {rep['mae']:.5f} (Keras {rep['reference_mae']:.5f}, "
            f"{rep['mae_increase']:+.1%}), max |Δ| {rep['max_abs_diff']:.2e}")
        if rep.get("per_horizon"):
            log("  per horizon: " + ", ".join(f"+{h['horizon_minutes']:g} min MAE {h['mae']:.5f} (Keras "
                                               f"{h['reference_mae']:.5f}, {h['mae_increase']:+.1%})"
                                               for h in rep["per_horizon"]))
