"""The training run directory format: what ``edgekit train`` writes and ``convert``/``compare`` read.

DIR/model.keras          the trained Keras model
DIR/spec.json            the front end, normalisation and labels (``edgekit.edge.core.spec.Spec``)
DIR/test.npz             the held-out test split as raw windows (``x``) and targets (``y``)
DIR/calibration.npz      a stratified sample of raw training windows for int8 calibration (``x``; an anomaly
                         model's: normal windows at five levels)
DIR/metrics.json         test metrics and the run's facts
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec

MODEL, TEST, CALIB, METRICS = "model.keras", "test.npz", "calibration.npz", "metrics.json"


def load_keras(path: Path):
    """A Keras model file (without its optimizer state); a file Keras cannot load is a one-line error."""
    import keras
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:
        raise EdgekitError(f"{path}: {keras_problem(e)}") from None


def keras_problem(e: Exception) -> str:
    """Why Keras could not load or save a model, in one line: a custom layer it cannot rebuild says what to do."""
    text = " ".join(str(e).split())
    if "Could not locate" in text or "Unknown layer" in text or "custom_objects" in text:
        return ("the model uses a custom layer or function Keras cannot rebuild from the file; decorate it with "
                "@keras.saving.register_keras_serializable() and import it before converting, or build the model "
                f"from Keras's own layers ({text[:160]})")
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"cannot load the Keras model ({type(e).__name__}: {first[:200]})"


@dataclass
class RunDir:
    path: Path

    def spec(self) -> Spec:
        from edgekit.edge.tasks import checked
        return checked(Spec.load(self.path), str(self.path / "spec.json"))

    def load_model(self):
        if not (self.path / MODEL).is_file():
            raise EdgekitError(f"{self.path}: no {MODEL} here; give the directory written by 'edgekit train'")
        return load_keras(self.path / MODEL)

    def _npz(self, name: str) -> dict[str, np.ndarray]:
        p = self.path / name
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise EdgekitError(f"{self.path}: no {name} here; give the directory written by 'edgekit train'") from None
        except (ValueError, OSError) as e:
            raise EdgekitError(f"{p}: unreadable ({e})") from None

    def test_split(self) -> tuple[np.ndarray, np.ndarray]:
        z = self._npz(TEST)
        return z["x"], z["y"]

    def calibration(self) -> np.ndarray:
        return self._npz(CALIB)["x"]

    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / METRICS).read_text())


def open_run(path: str | Path) -> RunDir:
    p = Path(path)
    if not p.is_dir():
        raise EdgekitError(f"{path}: not a directory; give the output directory of 'edgekit train'")
    if not (p / "spec.json").is_file() or not (p / MODEL).is_file():
        raise EdgekitError(f"{path}: no model.keras and spec.json here; give the output directory of 'edgekit train'")
    return RunDir(p)


def prepare_out(out: str | Path) -> Path:
    """Check, before any long work and without creating anything, that the output directory can be
    written: a bad --out is a one-line error at once, not a traceback after training."""
    out = Path(out)
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe == out and not out.is_dir():
        raise EdgekitError(f"--out {out}: exists and is not a directory; choose another --out")
    if not probe.is_dir():
        raise EdgekitError(f"--out {out}: {probe} is not a directory; choose another --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise EdgekitError(f"--out {out}: {probe} is not writable; choose another --out")
    return out


def save_run(out: str | Path, model, spec: Spec, test_x, test_y, calib_x, metrics: dict) -> RunDir:
    """Write the run directory. The files are written in a staging folder inside ``out`` and moved into
    place together at the end: a failure part-way leaves the previous run's files, not a mix."""
    from edgekit.edge.core.spec import file_sha256

    out = prepare_out(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(dir=out, prefix=".saving-"))
    except OSError as e:
        raise EdgekitError(f"--out {out}: cannot write there ({e.strerror or e}); choose another --out") from None
    try:
        # Save the architecture and weights only: the optimizer state would triple the file for nothing.
        # (clone_model would carry the optimizer over; a model rebuilt from its config has none.)
        bare = model.__class__.from_config(model.get_config())
        bare.set_weights(model.get_weights())
        bare.save(stage / MODEL)
        spec = spec.with_(model_sha256=file_sha256(stage / MODEL))
        spec.save(stage)
        np.savez_compressed(stage / TEST, x=np.asarray(test_x, np.float32), y=np.asarray(test_y))
        np.savez_compressed(stage / CALIB, x=np.asarray(calib_x, np.float32))
        (stage / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
        for f in stage.iterdir():
            os.replace(f, out / f.name)
    except OSError as e:
        raise EdgekitError(f"--out {out}: writing the run failed ({e.strerror or e})") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return RunDir(out)
