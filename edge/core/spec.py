"""The model spec: everything the device needs to turn raw sensor data into a model input and the model output into an
answer, versioned, and shared by training and device.

One JSON object, written next to the Keras model (``spec.json``) and embedded in every exported artifact (TFLite
metadata / ONNX ``metadata_props``). Parsing is strict: metadata comes from files a user may have edited or that may be
corrupt, so every field is type- and range-checked and errors are one line. Nothing in it is ever evaluated.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgekit.edge.core.anomaly import anomaly_settings
from edgekit.edge.core.detection import detection_settings
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.labels import unprintable

SCHEMA_VERSION = "1.0"
SUPPORTED_MAJOR = 1
SPEC_FILENAME = "spec.json"
METADATA_KEY = "edgekit_spec"          # name of the TFLite metadata entry / ONNX metadata_props key

KINDS = ("classification", "regression", "anomaly")
MAX_SAMPLE_RATE = 1_000_000.0
MAX_SPEC_BYTES = 1_000_000             # an embedded spec is a few kB; a larger one is not a spec
MAX_INT = 1 << 53                      # larger integers (exact as float64) make no sense in a spec


def edgekit_version() -> str:
    try:
        from importlib.metadata import version
        return version("edgekit")
    except Exception:  # running from a source tree without an install
        return "0+unknown"


@dataclass(frozen=True)
class Spec:
    """What the model expects and what its output means.

    task            pipeline kind: 'stft' (1-D signal → spectrogram), 'traffic' (detector rows),
                    'image' (pictures), 'audio' (sound), 'anomaly' (signal or sound, normal data only)
    kind            'classification' (labels), 'regression' (target scaling) or 'anomaly' (a score and
                    its threshold)
    sample_rate     Hz of the raw signal (rows per second for traffic: 1/300 for 5-minute rows)
    window          raw samples (or rows) per model input
    input_shape     the model input without the batch axis, e.g. [129, 44, 1]
    features        front-end parameters (see ``edgekit.edge.frontend``)
    normalization   how features are scaled after the front end, fitted on the training set
    labels          class names (classification); the normal data's label, one (anomaly)
    target          target column and its scaling (regression)
    detection       stream-detector defaults set at training (classifiers of audio: average, threshold,
                    suppression, min_count, gate_dbfs, nothing; :mod:`edgekit.edge.pipeline.detect`)
    anomaly         an anomaly model's score and threshold (:mod:`edgekit.edge.core.anomaly`)
    """

    task: str
    kind: str
    sample_rate: float
    window: int
    input_shape: tuple[int, ...]
    features: dict[str, Any]
    normalization: dict[str, Any]
    labels: tuple[str, ...] = ()
    target: dict[str, Any] | None = None
    model_sha256: str | None = None
    quantization: dict[str, Any] | None = None
    detection: dict[str, Any] | None = None
    anomaly: dict[str, Any] | None = None
    schema_version: str = SCHEMA_VERSION
    edgekit_version: str = field(default_factory=edgekit_version)

    # -- derived ---------------------------------------------------------------------------------
    @property
    def window_seconds(self) -> float:
        return self.window / self.sample_rate

    # -- (de)serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["labels"] = list(self.labels)
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "spec") -> "Spec":
        if len(text) > MAX_SPEC_BYTES:
            raise EdgekitError(f"{source}: the edgekit spec is {len(text):,} bytes, more than the limit of "
                               f"{MAX_SPEC_BYTES:,}; re-export the model with 'edgekit convert'")
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            what = "nested too deeply" if isinstance(e, RecursionError) else str(e)
            raise EdgekitError(f"{source}: the edgekit spec is not valid JSON ({what}); re-export the model "
                               "with 'edgekit convert'") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, d: Any, source: str = "spec") -> "Spec":
        return _parse(d, source)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / SPEC_FILENAME
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Spec":
        path = Path(path)
        if path.is_dir():
            path = path / SPEC_FILENAME
        try:
            text = path.read_text()
        except OSError as e:
            raise EdgekitError(f"{path}: cannot read the spec ({e.strerror or e}); train a model first "
                               "with 'edgekit train'") from None
        return cls.from_json(text, source=str(path))

    def with_(self, **changes: Any) -> "Spec":
        return replace(self, **changes)


def file_sha256(path: str | Path) -> str:
    import hashlib            # (here, not at the top: it maps OpenSSL, 4 MB that edge-run never needs)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- strict parsing --------------------------------------------------------------------------------

def _fail(source: str, msg: str) -> EdgekitError:
    return EdgekitError(f"{source}: invalid edgekit spec: {msg}")


def _show(v: Any) -> str:
    """A value for an error message: its repr, cut short."""
    try:
        r = repr(v)
    except ValueError:                                # an int too long to print
        r = f"<{type(v).__name__}>"
    return r if len(r) <= 100 else r[:97] + "..."


def _number(v: Any, name: str, source: str, *, lo: float | None = None, hi: float | None = None,
            positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or \
            not (math.isfinite(v) if isinstance(v, float) else abs(v) <= MAX_INT):
        raise _fail(source, f"'{name}' must be a finite number, got {_show(v)}")
    if positive and v <= 0:
        raise _fail(source, f"'{name}' must be positive, got {v!r}")
    if lo is not None and v < lo:
        raise _fail(source, f"'{name}' must be at least {lo}, got {v!r}")
    if hi is not None and v > hi:
        raise _fail(source, f"'{name}' must be at most {hi}, got {v!r}")
    return float(v)


def _integer(v: Any, name: str, source: str, *, lo: int = 1, hi: int = MAX_INT) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(source, f"'{name}' must be an integer, got {_show(v)}")
    if not lo <= v <= hi:
        raise _fail(source, f"'{name}' must be in [{lo}, {hi}], got {_show(v)}")
    return v


def _string(v: Any, name: str, source: str, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(v, str):
        raise _fail(source, f"'{name}' must be a string, got {_show(v)}")
    if choices is not None and v not in choices:
        raise _fail(source, f"'{name}' must be one of {', '.join(choices)}, got {_show(v)}")
    bad = unprintable(v)
    if bad:     # it would be printed: a newline forges an output line, an escape sequence reaches the terminal
        raise _fail(source, f"'{name}' holds the unprintable character {bad}")
    return v


def _json_value(v: Any, name: str, source: str, depth: int = 0) -> Any:
    """Plain JSON data only: finite numbers, printable strings, bools, None, lists and dicts of them."""
    if depth > 8:
        raise _fail(source, f"'{name}' is nested too deeply")
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        return _string(v, name, source)
    if isinstance(v, (int, float)):
        return _number(v, name, source) if isinstance(v, float) else _integer(v, name, source, lo=-MAX_INT)
    if isinstance(v, list):
        return [_json_value(x, name, source, depth + 1) for x in v]
    if isinstance(v, dict):
        return {_string(k, f"{name} key", source): _json_value(x, f"{name}.{k}", source, depth + 1)
                for k, x in v.items()}
    raise _fail(source, f"'{name}' has an unsupported value {_show(v)}")


def _parse(d: Any, source: str) -> Spec:
    if not isinstance(d, dict):
        raise _fail(source, f"expected a JSON object, got {type(d).__name__}")
    version = d.get("schema_version")
    if not isinstance(version, str) or not re.fullmatch(r"[0-9]{1,9}(\.[0-9A-Za-z_-]{1,20}){0,3}", version):
        raise _fail(source, f"'schema_version' must be a string like '1.0', got {_show(version)}")
    major = int(version.split(".")[0])
    if major != SUPPORTED_MAJOR:
        raise EdgekitError(f"{source}: edgekit spec schema {version} is not supported by this edgekit "
                           f"({edgekit_version()}, schema {SCHEMA_VERSION}); install a matching edgekit or "
                           "re-export the model")
    missing = [k for k in ("task", "kind", "sample_rate", "window", "input_shape", "features",
                           "normalization") if k not in d]
    if missing:
        raise _fail(source, f"missing field(s) {', '.join(missing)}")
    task = _string(d["task"], "task", source)
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", task):       # (which tasks exist is the registry's to say)
        raise _fail(source, f"'task' must be a task name like 'stft', got {_show(task)}")
    kind = _string(d["kind"], "kind", source, KINDS)
    sample_rate = _number(d["sample_rate"], "sample_rate", source, positive=True, hi=MAX_SAMPLE_RATE)
    window = _integer(d["window"], "window", source, lo=1)
    shape = d["input_shape"]
    if not isinstance(shape, list) or not shape or len(shape) > 4:
        raise _fail(source, f"'input_shape' must be a list of 1–4 positive integers, got {_show(shape)}")
    shape = tuple(_integer(s, "input_shape", source, lo=1, hi=1_000_000) for s in shape)
    features = d["features"]
    if not isinstance(features, dict) or not isinstance(features.get("type"), str):
        raise _fail(source, "'features' must be an object with a 'type'")
    normalization = d["normalization"]
    if not isinstance(normalization, dict) or not isinstance(normalization.get("type"), str):
        raise _fail(source, "'normalization' must be an object with a 'type'")
    labels = d.get("labels") or []
    if not isinstance(labels, list):
        raise _fail(source, f"'labels' must be a list of strings, got {_show(labels)}")
    labels = [_string(x, "labels", source) for x in labels]
    if kind == "classification" and len(labels) < 2:
        raise _fail(source, "a classifier needs at least two 'labels'")
    if kind == "anomaly" and len(labels) != 1:
        raise _fail(source, f"an anomaly model has one label, its normal data's, got {len(labels)}")
    if len(labels) > 100_000:
        raise _fail(source, "too many labels")
    target = d.get("target")
    if target is not None and not isinstance(target, dict):
        raise _fail(source, "'target' must be an object")
    if target is not None and not all(isinstance(target.get(k, ""), str) for k in ("column", "name", "units")):
        raise _fail(source, "'target' column, name and units must be strings")
    if kind == "regression" and target is None:
        raise _fail(source, "a regression model needs a 'target' (column and scaling)")
    sha = d.get("model_sha256")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch("[0-9a-fA-F]{64}", sha)):
        raise _fail(source, "'model_sha256' must be a 64-character hex string")
    quant = d.get("quantization")
    if quant is not None and not isinstance(quant, dict):
        raise _fail(source, "'quantization' must be an object")
    detection = d.get("detection")
    if detection is not None:
        detection_settings(detection, source)             # a one-line error for bad settings
        detection = _json_value(detection, "detection", source)
    anomaly = d.get("anomaly")
    if (anomaly is not None) != (kind == "anomaly"):
        raise _fail(source, "an anomaly model needs an 'anomaly' object (its threshold)" if anomaly is None else
                    f"'anomaly' belongs to an anomaly model's spec, not to a {kind} model's")
    if anomaly is not None:
        anomaly = anomaly_settings(anomaly, source)
        if detection is not None and "threshold" in detection:
            raise _fail(source, "an anomaly model's events fire at 'anomaly.threshold'; leave 'threshold' out of "
                                "'detection'")
    ev = d.get("edgekit_version", "unknown")
    spec = Spec(
        task=task, kind=kind, sample_rate=sample_rate, window=window, input_shape=shape,
        features=_json_value(features, "features", source),
        normalization=_json_value(normalization, "normalization", source), labels=tuple(labels),
        target=_json_value(target, "target", source) if target is not None else None, model_sha256=sha,
        quantization=_json_value(quant, "quantization", source) if quant is not None else None, detection=detection,
        anomaly=anomaly, schema_version=version,
        edgekit_version=_string(ev, "edgekit_version", source) if isinstance(ev, str) else "unknown",
    )
    return spec
