"""Bring your own model: a Keras model from a notebook (or a ``.keras``/``.h5`` file) and its spec → a run directory and
verified TFLite/ONNX artifacts, float32 and int8, each carrying its spec and labels.

``deploy(model, spec, calibration=..., test=(x, y))`` is what ``edgekit train`` + ``edgekit convert`` do for models
edgekit trained: the spec is completed (defaults of its front end, the model's input shape) and checked against the
model (input shape, outputs against labels); the test and calibration windows are RAW, as the device will see them, so
every artifact is verified through edgekit's own front end; the run directory (``model.keras``, ``spec.json``,
``test.npz``, ``calibration.npz``, ``metrics.json``) makes ``edgekit compare``, ``bench`` and ``edge-run`` work on it.
Everything is written in a staging folder beside ``out`` and moved into place only when every artifact has passed:
a failure leaves ``out`` as it was. ``features=`` (the notebook's own features of the test windows) checks that
edgekit's front end reproduces them, and names the spec fields most likely wrong when it does not.
"""
from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import SCHEMA_VERSION, Spec, edgekit_version

from .tf import batched, keras_outputs, quiet_tensorflow

FORMATS = ("tflite", "onnx")
PRECISIONS = ("float32", "int8")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
MAX_CALIBRATION = 1000        # calibration windows kept in the run directory (seeded sample)
FEATURE_TOLERANCE = 1e-3      # --features check: largest difference allowed, relative to the features' spread
FILLED = ("model_sha256", "quantization", "schema_version", "edgekit_version")   # what edgekit writes itself

# The spec fields that decide a front end's output shape, and those that decide its values (in the error of the
# ``features=`` check).
SHAPE_FIELDS = {"spectrogram": "window, features.nperseg, features.noverlap, features.nfft",
                "logmel": "window, features.frame_length, features.hop_length, features.n_fft, features.n_mels",
                "mfcc": "window, features.frame_length, features.hop_length, features.n_fft, features.n_mfcc",
                "microfrontend": "window, sample_rate, features.window_size_ms, features.window_step_ms, "
                                 "features.num_channels"}
VALUE_FIELDS = {"spectrogram": "features.window, features.detrend, features.scaling, features.mode, features.log, "
                               "features.log_eps, sample_rate",
                "logmel": "features.convention, features.window, features.fmin, features.fmax, features.htk, "
                          "features.norm, features.amin, features.top_db, features.cmvn, sample_rate",
                "mfcc": "features.convention, features.n_mels, features.fmin, features.fmax, features.htk, "
                        "features.norm, features.top_db, features.cmvn, sample_rate",
                "microfrontend": "features.lower_band_limit, features.upper_band_limit, features.enable_pcan, "
                                 "features.out_scale, sample_rate"}


def deploy(model: Any, spec: dict[str, Any] | str | Path | Spec, calibration: Any = None, test: Any = None,
           out: str | Path = "runs/deployed", formats: Sequence[str] = FORMATS,
           precisions: Sequence[str] = PRECISIONS, features: Any = None,
           log: Callable[[str], None] | None = print, onnx_options: dict[str, Any] | None = None,
           calib: int | None = None) -> dict[str, Any]:
    """Convert ``model`` to every format × precision asked, each verified against Keras on ``test``; returns the report.

    model        a Keras model, or the path of a ``.keras``/``.h5`` file
    spec         the spec (a dict, a ``spec.json`` path or a :class:`Spec`) without what edgekit fills in (hashes,
                 versions, quantization); missing front-end parameters take their defaults, a missing
                 ``input_shape`` the model's; ``normalization`` defaults to none
    calibration  raw training windows (N, *window) for int8 calibration (a few hundred; at most
                 :data:`MAX_CALIBRATION` are kept)
    test         (raw windows, targets): class indices or one-hot rows for a classifier, the model's outputs' units
                 for regression
    out          the run directory to write (a new or empty folder, or one an earlier ``deploy``/``train`` wrote)
    features     the notebook's own features of the test windows (what the model was trained on): checked against
                 edgekit's front end, a one-line error naming the likely wrong spec fields when they differ
    onnx_options, calib   as ``edgekit convert``'s ONNX int8 options and ``--calib`` (windows calibrated on)
    """
    say = log or (lambda *_: None)
    formats, precisions = _choices(formats, FORMATS, "formats"), _choices(precisions, PRECISIONS, "precisions")
    quiet_tensorflow()
    keras_model = keras_model_of(model)
    spec = complete_spec(spec, keras_model)
    task = _task(spec)
    if test is None:
        raise EdgekitError("deploy needs test=(raw_windows, labels): the artifacts are verified against Keras on them")
    x_test, y_test = _test_pair(spec, task, test)
    x_calib = None
    if "int8" in precisions:
        if calibration is None:
            raise EdgekitError("int8 needs calibration=raw_training_windows (a few hundred windows as the device sees "
                               "them); or ask precisions=('float32',)")
        x_calib = _windows(spec, task, calibration, "calibration")
        if len(x_calib) > MAX_CALIBRATION:
            pick = np.sort(np.random.default_rng(0).choice(len(x_calib), MAX_CALIBRATION, replace=False))
            x_calib = x_calib[pick]
    out = Path(out)
    _check_out(out)
    x_feat = batched(fe.build(spec), x_test, 256)
    if not np.all(np.isfinite(x_feat)):
        raise EdgekitError("the front end gives NaN/inf features for some test windows; check the windows and the "
                           "spec's features")
    report: dict[str, Any] = {"out": str(out), "task": spec.task, "kind": spec.kind,
                              "input_shape": list(spec.input_shape), "n_test": int(len(x_test))}
    if features is not None:
        report["features"] = check_features(spec, x_feat, features)
        say(f"front end: edgekit's features match yours within {report['features']['max_abs_diff']:.2e} "
            f"(tolerance {report['features']['tolerance']:.2e})")
    reference = keras_outputs(keras_model, x_feat)
    report["keras"] = _metrics(spec, reference, y_test)
    staged = _stage(out)
    try:
        metrics = {"source": "deploy", **{f"test_{k}": v for k, v in report["keras"].items()},
                   "n_test": int(len(x_test)), "n_calibration": 0 if x_calib is None else int(len(x_calib))}
        from .rundir import keras_problem, save_run
        try:
            save_run(staged, keras_model, spec, x_test, y_test, x_test[:0] if x_calib is None else x_calib, metrics)
        except EdgekitError:
            raise
        except Exception as e:                      # Keras cannot serialise the model (an unregistered custom layer)
            raise EdgekitError(f"model: {keras_problem(e)}") from None
        from .export import convert_run
        arts = []
        for fmt in formats:
            for precision in precisions:
                try:
                    rep = convert_run(staged, fmt, precision, calib=calib, log=say,
                                      onnx_options={k: v for k, v in (onnx_options or {}).items() if v is not None}
                                      if fmt == "onnx" else None)
                except EdgekitError as e:           # named by the paths the staged files were to have
                    e.message = e.message.replace(str(staged), str(out))
                    e.args = (e.message,)
                    raise
                rep["artifact"] = str(out / Path(rep["artifact"]).name)
                arts.append(rep)
                _say_artifact(rep, say)
        report["artifacts"] = arts
        metrics["artifacts"] = arts
        (staged / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        _publish(staged, out)
        say(f"wrote {out}: model.keras, spec.json, test.npz, calibration.npz, metrics.json and {len(arts)} verified "
            "artifact(s)")
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return report


def convert_keras_file(model_path: str, spec_path: str | None, data: str | None, *, calib_data: str | None = None,
                       label_regex: str | None = None, formats: Sequence[str] = FORMATS,
                       precisions: Sequence[str] = PRECISIONS, out: str | None = None, calib: int | None = None,
                       onnx_options: dict[str, Any] | None = None, check_onnx=None, log=print) -> dict[str, Any]:
    """``edgekit convert MODEL.keras --spec SPEC.json --data DATA``: :func:`deploy` from the shell. DATA is read as
    ``edgekit compare --data`` reads it; without ``calib_data``, int8 is calibrated on a seeded third of it (at most
    300 windows) and verified on the rest."""
    missing = [flag for flag, v in (("--spec SPEC.json", spec_path), ("--data DATA", data)) if v is None]
    if missing:
        raise EdgekitError(f"{model_path}: a Keras model file needs {' and '.join(missing)} (its front end and labels, "
                           "and labelled data to verify the artifacts on)")
    formats, precisions = _choices(formats, FORMATS, "--to"), _choices(precisions, PRECISIONS, "--precision")
    if check_onnx is not None:       # the ONNX options given must apply to what is converted
        check_onnx("onnx" if "onnx" in formats else "tflite", "int8" if "int8" in precisions else "float32",
                   **(onnx_options or {}))
    quiet_tensorflow()
    keras_model = keras_model_of(model_path)
    spec = complete_spec(spec_path, keras_model)
    from .compare.data import read_labelled
    x, y, source = read_labelled(spec, data, label_regex)
    cal = None
    if "int8" in precisions:
        if calib_data is not None:
            cal = read_labelled(spec, calib_data, label_regex)[0]
        else:
            order = np.random.default_rng(0).permutation(len(x))
            n_cal = min(300, len(x) // 3)
            if n_cal < 1 or len(x) - n_cal < 1:
                raise EdgekitError(f"--data {data}: {len(x)} window(s) are too few to calibrate int8 and verify; give "
                                   "more, or --calib-data")
            cal, keep = x[order[:n_cal]], np.sort(order[n_cal:])
            x, y = x[keep], y[keep]
            log(f"int8 is calibrated on {n_cal} windows of {source} and verified on the other {len(x)} (give "
                "--calib-data for training windows)")
    out_dir = Path(out) if out else Path(model_path).with_name(Path(model_path).stem + "-edgekit")
    return deploy(keras_model, spec, calibration=cal, test=(x, y), out=out_dir, formats=formats,
                  precisions=precisions, log=log, onnx_options=onnx_options, calib=calib)


# -- the model and its spec ------------------------------------------------------------------------------------

def keras_model_of(model: Any):
    """A Keras model object as given, or loaded from a ``.keras``/``.h5`` path (a one-line error otherwise)."""
    import keras
    if isinstance(model, keras.Model):
        return model
    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        if p.suffix.lower() not in KERAS_SUFFIXES:
            raise EdgekitError(f"{p}: give a Keras model file ({', '.join(KERAS_SUFFIXES)}); for a .tflite/.onnx "
                               "model use 'edgekit attach MODEL --spec SPEC.json'")
        if not p.is_file():
            raise EdgekitError(f"{p}: no such file")
        from .rundir import load_keras
        return load_keras(p)
    raise EdgekitError(f"model must be a Keras model or the path of a .keras/.h5 file, got {type(model).__name__}")


def _spec_dict(spec: Any) -> dict[str, Any]:
    if isinstance(spec, Spec):
        return spec.to_dict()
    if isinstance(spec, dict):
        return dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        p = Path(spec)
        try:
            d = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError) as e:
            raise EdgekitError(f"spec {p}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
        except ValueError as e:
            raise EdgekitError(f"spec {p}: not valid JSON ({e})") from None
        if not isinstance(d, dict):
            raise EdgekitError(f"spec {p}: expected a JSON object, got {type(d).__name__}")
        return d
    raise EdgekitError(f"spec must be a dict, a spec.json path or a Spec, got {type(spec).__name__}")


def _feature_builders() -> dict[str, Callable[..., dict[str, Any]]]:
    """The defaults of each feature type (the ``*_features`` builders; rows have required columns, so none)."""
    from edgekit.edge.frontend import image, logmel, mfcc, spectrogram
    out = {"spectrogram": spectrogram.spectrogram_features, "logmel": logmel.logmel_features,
           "mfcc": mfcc.mfcc_features, "image": image.image_features}
    for name, module, builder in (("microfrontend", "microfrontend", "microfrontend_features"),
                                  ("raw", "raw", "raw_features")):
        if name in fe.FEATURE_TYPES:
            out[name] = getattr(fe.FEATURE_TYPES[name], builder)
    return out


def complete_features(feat: dict[str, Any]) -> dict[str, Any]:
    """A features dict with its type's defaults for the parameters not given (as the type's builder fills them)."""
    builder = _feature_builders().get(feat.get("type"))
    if builder is None:
        return feat
    params = inspect.signature(builder).parameters
    given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in feat.items() if k in params}
    try:
        full = builder(**given)
    except (TypeError, ValueError) as e:
        raise EdgekitError(f"spec: invalid features ({e})") from None
    full = {**full, **feat}
    if feat.get("type") in ("logmel", "mfcc") and feat.get("convention") == "tf":
        from edgekit.edge.frontend.tf_signal import tf_features
        full = {**tf_features(full, feat.get("log_offset", 1e-6), feat.get("power", 1.0)), **feat}
    return full


def complete_spec(spec: Any, keras_model=None) -> Spec:
    """The checked :class:`Spec` of ``spec`` (dict, path or Spec) for ``keras_model``: the fields edgekit writes
    itself set, front-end defaults and the model's input shape filled in, then checked against the model (its input
    shape against the front end's, its outputs against the labels). Missing required fields are listed in one line."""
    d = {k: v for k, v in _spec_dict(spec).items() if k not in FILLED}
    kind = d.get("kind")
    required = ["task", "kind", "sample_rate", "window", "features"]
    required += ["labels"] if kind == "classification" else ["target"] if kind == "regression" else []
    missing = [k for k in required if k not in d]
    if isinstance(d.get("features"), dict) and "type" not in d["features"]:
        missing.append("features.type")
    if missing:
        raise EdgekitError(f"spec: missing field(s) {', '.join(missing)}; see README 'Bring your own model' for the "
                           "spec format")
    if not isinstance(d["features"], dict):
        raise EdgekitError(f"spec: 'features' must be an object with a 'type', got {type(d['features']).__name__}")
    d["features"] = complete_features(dict(d["features"]))
    d.setdefault("normalization", {"type": "none"})
    model_in = _model_input(keras_model) if keras_model is not None else None
    if "input_shape" not in d and model_in is not None:
        d["input_shape"] = list(model_in)
    d.update(schema_version=SCHEMA_VERSION, edgekit_version=edgekit_version())
    from edgekit.edge.tasks import checked
    try:
        out = checked(Spec.from_dict(d, source="spec"), "spec")
    except EdgekitError as e:
        if "input_shape" not in e.message or model_in is None or d.get("input_shape") != list(model_in):
            raise
        spec = Spec.from_dict(d, source="spec")       # the front end's own shape, to name both
        gives = _front_end_shape(spec)
        raise EdgekitError(f"spec: the front end gives {list(gives) if gives else 'another shape'} "
                           f"({spec.features['type']} of a {spec.window}-sample window) but the model takes "
                           f"{list(model_in)}; fix the spec's "
                           f"{SHAPE_FIELDS.get(spec.features['type'], 'window and features')}") from None
    if keras_model is not None:
        if model_in is not None and tuple(model_in) != tuple(out.input_shape):
            raise EdgekitError(f"spec: the front end gives {list(out.input_shape)} ({out.features['type']} of a "
                               f"{out.window}-sample window) but the model takes {list(model_in)}; fix the spec's "
                               f"{SHAPE_FIELDS.get(out.features['type'], 'window and features')} or input_shape")
        n_out = _model_outputs(keras_model)
        if out.kind == "classification" and n_out != len(out.labels):
            raise EdgekitError(f"spec: {len(out.labels)} labels ({', '.join(out.labels[:4])}"
                               f"{', ...' if len(out.labels) > 4 else ''}) but the model has {n_out} outputs; give one "
                               "label per output, in output order")
    return out


def _front_end_shape(spec: Spec) -> tuple[int, ...] | None:
    """The shape the spec's front end gives one window (its fields otherwise valid), or None if unknown."""
    shape = _task(spec).raw_shape(spec)
    if shape is None:
        return None
    try:
        raw, _ = fe.FEATURE_TYPES[spec.features["type"]].front_end(spec)
        return tuple(raw(np.zeros((1, *shape), np.float32)).shape[1:])
    except Exception:
        return None


def _model_input(keras_model) -> tuple[int, ...]:
    shapes = keras_model.input_shape
    if isinstance(shapes, list) or (shapes and isinstance(shapes[0], (tuple, list))):
        raise EdgekitError(f"the model has {len(shapes)} inputs; edgekit deploys models with one input (the "
                           "front end's features)")
    dims = shapes[1:]
    if any(s is None for s in dims):
        raise EdgekitError(f"the model's input {list(shapes)} has free axes besides the batch; give it a fixed "
                           "input shape (keras.Input(shape=...))")
    return tuple(int(s) for s in dims)


def _model_outputs(keras_model) -> int:
    shapes = keras_model.output_shape
    if isinstance(shapes, list) or (shapes and isinstance(shapes[0], (tuple, list))):
        raise EdgekitError(f"the model has {len(shapes)} outputs; edgekit deploys models with one output")
    return int(np.prod([s for s in shapes[1:] if s is not None])) if len(shapes) > 1 else 1


# -- the data ------------------------------------------------------------------------------------------------

def _task(spec: Spec):
    from edgekit.edge import tasks
    return tasks.get(spec.task)


def _windows(spec: Spec, task, x: Any, what: str) -> np.ndarray:
    """Raw windows as an array, their shape checked against what the device reads."""
    try:
        a = np.asarray(x)
    except ValueError:
        raise EdgekitError(f"{what}: the windows have different shapes; give an array (N, *window)") from None
    if a.dtype.kind not in "biuf":
        raise EdgekitError(f"{what}: windows must be numbers, got dtype {a.dtype}")
    if a.ndim == 0 or len(a) == 0:
        raise EdgekitError(f"{what}: no windows")
    shape = task.raw_shape(spec)
    if shape is not None and tuple(a.shape[1:]) != tuple(shape):
        hint = " (these look like features: give the raw windows the front end takes)" \
            if tuple(a.shape[1:]) == tuple(spec.input_shape) else ""
        raise EdgekitError(f"{what}: windows of shape {list(a.shape[1:])}, but the spec's window is {list(shape)} "
                           f"({spec.window} {'rows' if len(shape) > 1 else 'samples'}){hint}")
    if not np.all(np.isfinite(a)):
        raise EdgekitError(f"{what}: windows hold NaN/inf")
    return a.astype(np.float32) if a.dtype.kind == "f" else a


def _test_pair(spec: Spec, task, test: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(test, (tuple, list)) or len(test) != 2:
        raise EdgekitError("test must be a pair (raw_windows, labels)")
    x = _windows(spec, task, test[0], "test")
    y = np.asarray(test[1])
    if len(y) != len(x):
        raise EdgekitError(f"test: {len(x)} windows but {len(y)} targets")
    if spec.kind == "classification" and y.ndim == 2 and y.shape[1] == len(spec.labels) and y.shape[1] > 1:
        y = y.argmax(axis=1)                                    # one-hot rows
    from .compare.data import check_targets
    return x, check_targets(spec, y, "test")


def _metrics(spec: Spec, outputs: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    if spec.kind == "anomaly":
        from edgekit.edge.core.anomaly import scores
        from .compare.metrics import auc
        s, bad = scores(outputs), np.asarray(y).astype(bool)
        return {"auc": auc(s[~bad], s[bad])}
    if spec.kind == "classification":
        return {"accuracy": float((outputs.argmax(axis=1) == y).mean())}
    err = outputs.reshape(len(y), -1)[:, 0].astype(np.float64) - y.reshape(len(y), -1)[:, 0]
    return {"mae": float(np.abs(err).mean()), "mse": float((err ** 2).mean())}


def check_features(spec: Spec, ours: np.ndarray, theirs: Any) -> dict[str, Any]:
    """edgekit's features ``ours`` of the test windows against the notebook's ``theirs``: the largest difference, or a
    one-line error naming the spec fields most likely wrong."""
    t = spec.features["type"]
    theirs = np.asarray(theirs, dtype=np.float64)
    ours = np.asarray(ours, dtype=np.float64)
    if theirs.size != ours.size or len(theirs) != len(ours):
        raise EdgekitError(f"features: yours have shape {list(theirs.shape)}, edgekit's front end gives "
                           f"{list(ours.shape)} for the same windows; check the spec's "
                           f"{SHAPE_FIELDS.get(t, 'window and features')}")
    theirs = theirs.reshape(ours.shape)
    lo, hi = np.percentile(theirs, [1, 99])
    tol = FEATURE_TOLERANCE * max(float(hi - lo), float(np.abs(theirs).max()) * 1e-3, 1e-12)
    diff = np.abs(ours - theirs)
    rep = {"max_abs_diff": float(diff.max()), "tolerance": tol, "share_within": float((diff <= tol).mean())}
    if rep["max_abs_diff"] <= tol:
        return rep
    raise EdgekitError(f"features: edgekit's front end differs from yours by up to {rep['max_abs_diff']:.3g} "
                       f"(tolerance {tol:.2g}; {rep['share_within']:.1%} of values within it): "
                       f"{_likely_wrong(spec, ours, theirs, tol)}")


def _likely_wrong(spec: Spec, ours: np.ndarray, theirs: np.ndarray, tol: float) -> str:
    """Which spec fields would explain the difference."""
    t = spec.features["type"]
    n = len(ours)
    if ours.ndim >= 3:
        per = ours.reshape(n, *ours.shape[1:3], -1)[..., 0]
        flipped = theirs.reshape(n, per.shape[2], per.shape[1])
        if np.abs(np.swapaxes(per, 1, 2) - flipped).max() <= tol:
            return "yours are the transpose of edgekit's: check features.layout and input_shape"
    a, b = ours.reshape(-1), theirs.reshape(-1)
    fit = np.polyfit(a, b, 1) if np.ptp(a) > 0 else None
    if fit is not None and np.abs(np.polyval(fit, a) - b).max() <= tol * 10:
        return (f"yours are {fit[0]:.4g} × edgekit's {fit[1]:+.4g}: check the spec's normalization (type scale, "
                f"or standard with your mean/std){' and features.log' if t == 'spectrogram' else ''}")
    if t == "spectrogram":
        pos = a - a.min() + 1e-12
        for name, g in (("log", np.log(pos)), ("exp", np.exp(np.clip(a, -50, 50)))):
            if np.corrcoef(g, b)[0, 1] > 0.999:
                return (f"yours look like the {name} of edgekit's: check features.log and features.log_eps "
                        "(and the normalization)")
    return f"check the spec's {VALUE_FIELDS.get(t, 'features')} and normalization"


# -- the output folder -----------------------------------------------------------------------------------------

def _check_out(out: Path) -> None:
    """``out`` is new, empty, or a run directory edgekit wrote (whose files are replaced); anything else is refused
    before any work (edgekit never overwrites files it did not write)."""
    from .rundir import prepare_out
    prepare_out(out)
    if out.is_dir() and any(out.iterdir()) and not ((out / "spec.json").is_file() and (out / "model.keras").is_file()):
        raise EdgekitError(f"out {out}: a folder with other files in it; give a new or empty folder (edgekit does not "
                           "write among files it did not write)")


def _stage(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.deploying-"))
    except OSError as e:
        raise EdgekitError(f"out {out}: cannot write there ({e.strerror or e}); choose another folder") from None
    umask = os.umask(0o22)
    os.umask(umask)
    os.chmod(staged, 0o777 & ~umask)            # mkdtemp's 0700 would stay on the run directory it becomes
    return staged


def _publish(staged: Path, out: Path) -> None:
    """Move the staged run into ``out``: renamed whole when ``out`` does not exist, else file by file."""
    if not out.exists():
        os.rename(staged, out)
        return
    for f in staged.iterdir():
        if f.is_file():
            os.replace(f, out / f.name)


def _choices(given: Sequence[str], allowed: Sequence[str], name: str) -> tuple[str, ...]:
    given = (given,) if isinstance(given, str) else tuple(given)
    bad = [g for g in given if g not in allowed]
    if bad or not given:
        raise EdgekitError(f"{name} must be some of {', '.join(allowed)}, got {', '.join(map(str, bad)) or 'none'}")
    return tuple(dict.fromkeys(given))


def _say_artifact(rep: dict[str, Any], say) -> None:
    if "spearman" in rep:
        auc = "n/a" if rep["auc"] is None else f"{rep['auc']:.4f} (Keras {rep['reference_auc']:.4f})"
        say(f"{rep['artifact']}: {rep['size_bytes'] / 1e3:.1f} kB, scores' Spearman with Keras {rep['spearman']:.4f}, "
            f"AUC {auc}")
    elif "agreement" in rep:
        say(f"{rep['artifact']}: {rep['size_bytes'] / 1e3:.1f} kB, accuracy {rep['accuracy']:.4f} (Keras "
            f"{rep['reference_accuracy']:.4f}), agreement {rep['agreement']:.2%}")
    else:
        say(f"{rep['artifact']}: {rep['size_bytes'] / 1e3:.1f} kB, MAE {rep['mae']:.5f} (Keras "
            f"{rep['reference_mae']:.5f})")
