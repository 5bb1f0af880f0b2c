"""What a comparison reads: the artifacts (each with its spec and a predict function), the training run
an artifact came from, the test split, and the test windows' front-end features."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec

from ..rundir import RunDir, load_keras
from ..tf import batched, keras_outputs, quiet_tensorflow


@dataclass
class Artifact:
    path: Path
    format: str
    precision: str
    backend: str
    size_bytes: int
    spec: Spec
    predict: Callable[[np.ndarray], np.ndarray]     # float features (N, ...) → float outputs (N, C)
    model: Any = field(default=None, repr=False)    # the edgekit Model (tflite/onnx) or the Keras model


def load_artifact(path: str | Path) -> Artifact:
    """Load one model file for comparison; a one-line :class:`EdgekitError` if it is not a usable model."""
    p = Path(path)
    if p.is_dir():
        raise EdgekitError(f"{p}: is a directory; give model files (.keras, .tflite, .onnx), e.g. {p / 'model.keras'}")
    if not p.exists():
        raise EdgekitError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".keras":
        with open(p, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise EdgekitError(f"{p}: not a Keras model (a .keras file is a zip archive)")
        if not (p.parent / "spec.json").is_file():
            raise EdgekitError(f"{p}: no spec.json next to it, so its front end and labels are unknown; compare "
                               "the model.keras of a run directory written by 'edgekit train'")
        spec = RunDir(p.parent).spec()
        quiet_tensorflow()
        import keras
        model = load_keras(p)
        shape = tuple(int(s) for s in model.input_shape[1:] if s is not None)
        if shape != tuple(spec.input_shape):
            raise EdgekitError(f"{p}: the model takes {list(shape)} but {p.parent / 'spec.json'} says "
                               f"{list(spec.input_shape)}; the spec belongs to another model")
        import tensorflow as tf
        return Artifact(p, "keras", "float32", f"keras {keras.__version__} (tensorflow {tf.__version__})",
                        p.stat().st_size, spec, lambda x: keras_outputs(model, x).astype(np.float32, copy=False), model)
    if suffix in (".tflite", ".onnx"):
        from edgekit.edge.model.model import Model
        m = Model(p)
        if m.spec is None:
            raise EdgekitError(f"{p}: carries no edgekit metadata, so its task and test data are unknown; "
                               "compare models exported by 'edgekit convert'")
        return Artifact(p, m.format, m.precision, m.backend.name, m.file.size_bytes, m.spec, m.predict, m)
    raise EdgekitError(f"{p}: not a model (give .keras, .tflite or .onnx files)")


def task_difference(a: Spec, b: Spec) -> str | None:
    """What makes spec ``a`` another task than ``b`` (None if they are the same task)."""
    checks = (("task", a.task, b.task), ("kind", a.kind, b.kind), ("labels", list(a.labels), list(b.labels)),
              ("window", a.window, b.window), ("sample rate", a.sample_rate, b.sample_rate),
              ("input shape", list(a.input_shape), list(b.input_shape)),
              ("target", (a.target or {}).get("column"), (b.target or {}).get("column")),
              ("horizons", (a.target or {}).get("horizons"), (b.target or {}).get("horizons")))
    return next((f"{name} {x} vs {y}" for name, x, y in checks if x != y), None)


def pick_reference(arts: list[Artifact]) -> Artifact:
    return next((a for a in arts if a.format == "keras"), None) or \
        next((a for a in arts if a.precision == "float32"), arts[0])


def find_run_dir(art: Artifact, arts: list[Artifact]) -> Path:
    """The training run the artifact was converted from: model.keras whose sha256 is in its spec, with
    calibration.npz. Looked for next to the given .keras artifacts and next to the artifact itself."""
    from edgekit.edge.core.spec import file_sha256

    candidates = [a.path.parent for a in arts if a.format == "keras"] + [art.path.parent]
    tried = []
    for d in dict.fromkeys(candidates):
        mk = d / "model.keras"
        why = ("no model.keras" if not mk.is_file() else
               "another model" if art.spec.model_sha256 and file_sha256(mk) != art.spec.model_sha256 else
               "no calibration.npz" if not (d / "calibration.npz").is_file() else None)
        if why is None:
            return d
        tried.append(f"{d} ({why})")
    raise EdgekitError(f"--layers for {art.path.name} needs the training run it was converted from "
                       f"(model.keras and calibration.npz); tried {', '.join(tried)}")


def load_test_data(arts: list[Artifact], data: str | None, label_regex: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray, str]:
    """(raw windows x, targets y, where they came from) for the reference artifact's spec: ``--data`` as
    :func:`read_labelled` reads it, or without it the test split recorded next to the first artifact that has one."""
    spec = pick_reference(arts).spec
    if data:
        return read_labelled(spec, data, label_regex)
    for f in (a.path.parent / "test.npz" for a in arts):
        if f.is_file():
            return _test_npz(spec, f)
    raise EdgekitError("no test data found next to the artifacts; give --data DIR/test.npz (arrays x, y)")


def read_labelled(spec: Spec, data: str, label_regex: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(raw windows x, targets y, where they came from) of ``data`` for ``spec``: a test .npz (``x``/``y``, or
    ``signal``/``label`` as ``train`` reads), a training run directory (its test.npz), a folder of labelled WAV clips
    (label sub-folders, or file names and ``label_regex``) or a course pickle: the formats ``train`` takes, made into
    the spec's windows as the device makes them (:func:`signal_windows`)."""
    f = Path(data)
    if f.is_dir() and not (f / "test.npz").is_file():
        return _clip_folder(spec, f, label_regex)
    if f.is_file() and f.suffix.lower() == ".pkl":
        from edgekit.edge.formats.course import load_course_pickle
        ds = load_course_pickle(str(f), fs=None, min_classes=1 if spec.kind == "anomaly" else 2)
        names = [ds.label_names[i] for i in ds.labels]
        return (*_labelled(spec, list(ds.signals), names, ds.fs, str(f)), str(f))
    f = f / "test.npz" if f.is_dir() else f
    if not f.is_file() or f.suffix.lower() != ".npz":
        raise EdgekitError(f"--data {data}: give a test .npz (arrays x and y), a training run directory, a "
                           "folder of labelled WAV clips or a course .pkl")
    return _test_npz(spec, f)


def _test_npz(spec: Spec, f: Path) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        with np.load(f, allow_pickle=False) as z:
            keys = ("x", "y") if "x" in z.files else ("signal", "label")
            x, y = z[keys[0]], z[keys[1]]
    except (KeyError, ValueError, OSError, EOFError) as e:
        raise EdgekitError(f"{f}: not a test split (needs arrays x and y): {e}") from None
    if len(x) == 0 or len(x) != len(y):
        raise EdgekitError(f"{f}: the test split has {len(x)} windows and {len(y)} targets; need as "
                           "many targets as windows, at least one")
    if x.ndim == 2 and x.shape[1] != spec.window and spec.features["type"] not in ("rows", "image"):
        x = signal_windows(spec, list(x), str(f))             # whole signals: the device's windows
    return x, y, str(f)


def signal_windows(spec: Spec, signals: list, source: str) -> np.ndarray:
    """One window per signal, as the device makes it: the task's pad/crop policy where it has one (audio:
    :func:`edgekit.edge.frontend.clip.fit_clip`), else the first window (a signal shorter than it is an error)."""
    from edgekit.edge import tasks
    policy = tasks.get(spec.task).clip_policy(spec)
    out = np.empty((len(signals), spec.window), np.float32)
    for i, x in enumerate(signals):
        x = np.asarray(x, np.float32).reshape(-1)
        if policy is not None:
            from edgekit.edge.frontend.clip import fit_clip
            out[i] = fit_clip(x, spec.window, policy)
        elif len(x) < spec.window:
            raise EdgekitError(f"{source}: signal {i} has {len(x)} samples, fewer than the model's window of "
                               f"{spec.window}")
        else:
            out[i] = x[:spec.window]
    return out


def _targets(spec: Spec, names: list[str]) -> dict[str, int]:
    """The target of each label name a model can be tested on: a classifier's class index (its own labels only), an
    anomaly model's 0 for its normal label and 1 for every other (every label is an anomaly's truth)."""
    if spec.kind == "anomaly":
        return {n: int(n != spec.labels[0]) for n in names}
    return {name: i for i, name in enumerate(spec.labels)}


def _labelled(spec: Spec, signals: list, names: list[str], fs: float, source: str):
    """Signals at rate ``fs`` with label names → (windows, targets) for this spec; signals whose label
    the model does not know are left out (a one-line error if none is left)."""
    from edgekit.edge.formats.audio import at_rate
    index = _targets(spec, names)
    keep = [i for i, n in enumerate(names) if n in index]
    if not keep:
        raise EdgekitError(f"{source}: none of its labels ({', '.join(sorted(set(names))[:5])}) is one of the "
                           f"model's ({', '.join(spec.labels[:5])})")
    sig = [at_rate(signals[i], fs, spec.sample_rate) for i in keep]
    return signal_windows(spec, sig, source), np.array([index[names[i]] for i in keep], np.int64)


def _clip_folder(spec: Spec, folder: Path, label_regex: str | None):
    from edgekit.edge.formats.audio import load_audio
    from edgekit.edge.formats.clips import list_clips
    clips = list_clips(folder, label_regex, min_labels=1 if spec.kind == "anomaly" else 2)
    index = _targets(spec, [c[1] for c in clips])
    known = [c for c in clips if c[1] in index]
    if not known:
        raise EdgekitError(f"{folder}: none of the clip labels ({', '.join(sorted({c[1] for c in clips})[:5])}) "
                           f"is one of the model's ({', '.join(spec.labels[:5])}); check the folder or --label-regex")
    signals = [load_audio(path, spec.sample_rate) for path, _, _ in known]
    source = f"{folder} ({len(known)} clips" + (f", {len(clips) - len(known)} of unknown labels left out)"
                                               if len(known) < len(clips) else ")")
    return signal_windows(spec, signals, source), np.array([index[c[1]] for c in known], np.int64), source


def check_targets(spec: Spec, y: np.ndarray, source: str) -> np.ndarray:
    """The test targets as the spec's kind needs them (class indices, 0/1 anomalous, values); a one-line error for
    targets of another kind."""
    if spec.kind == "anomaly":
        yi = np.asarray(y)
        if yi.ndim != 1 or not np.issubdtype(yi.dtype, np.number) or not np.all(np.isin(yi, (0, 1))):
            raise EdgekitError(f"{source}: y must be 0 (normal) or 1 (anomalous) per window for an anomaly model")
        return yi.astype(np.int64)
    if spec.kind == "classification":
        yi = np.asarray(y)
        if yi.ndim != 1 or not np.issubdtype(yi.dtype, np.number) or not np.all(np.isfinite(yi)) \
                or not np.all(yi == np.round(yi)):
            raise EdgekitError(f"{source}: y must hold class indices for a classifier")
        yi = yi.astype(np.int64)
        bad = (yi < 0) | (yi >= len(spec.labels))
        if bad.any():
            raise EdgekitError(f"{source}: {int(bad.sum())} target(s) outside the model's {len(spec.labels)} "
                               f"classes ({', '.join(spec.labels)})")
        return yi
    yf = np.asarray(y, dtype=np.float64)
    if not np.all(np.isfinite(yf)):
        raise EdgekitError(f"{source}: y holds NaN/inf targets")
    return yf


def features(spec: Spec, x_raw: np.ndarray, cache: dict) -> np.ndarray:
    """Front-end features of the test windows for this spec (cached per front end + normalisation)."""
    key = json.dumps([spec.features, spec.normalization, list(spec.input_shape)], sort_keys=True)
    if key not in cache:
        cache[key] = batched(fe.build(spec), x_raw, 256)
    return cache[key]
