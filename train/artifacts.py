"""The training run directory: what ``edgekit train`` writes and ``convert``/``compare`` read.

DIR/model.keras          the trained Keras model
DIR/spec.json            the front end, normalisation and labels (``edgekit.edge.spec.Spec``)
DIR/test.npz             the held-out test split as raw windows (``x``) and targets (``y``)
DIR/calibration.npz      a stratified sample of raw training windows for int8 calibration (``x``)
DIR/metrics.json         test metrics and the run's facts
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge.errors import EdgekitError
from edgekit.edge.spec import Spec

MODEL, TEST, CALIB, METRICS = "model.keras", "test.npz", "calibration.npz", "metrics.json"


@dataclass
class RunDir:
    path: Path

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    def spec(self) -> Spec:
        return Spec.load(self.path)

    def load_model(self):
        import keras
        if not self.model_path.is_file():
            raise EdgekitError(f"{self.path}: no {MODEL} here; give the directory written by 'edgekit train'")
        try:
            return keras.models.load_model(self.model_path, compile=False)
        except Exception as e:
            raise EdgekitError(f"{self.model_path}: cannot load the Keras model ({type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else ''})") from None

    def _npz(self, name: str) -> dict[str, np.ndarray]:
        p = self.path / name
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise EdgekitError(f"{self.path}: no {name} here; give the directory written by 'edgekit train'") \
                from None
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
        raise EdgekitError(f"{path}: no model.keras and spec.json here; give the output directory of "
                           "'edgekit train'")
    return RunDir(p)


def save_run(out: str | Path, model, spec: Spec, test_x, test_y, calib_x, metrics: dict) -> RunDir:
    from edgekit.edge.spec import file_sha256

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Save the architecture and weights only: the optimizer state would triple the file for nothing.
    # (clone_model would carry the optimizer over; a model rebuilt from its config has none.)
    bare = model.__class__.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    bare.save(out / MODEL)
    spec = spec.with_(model_sha256=file_sha256(out / MODEL))
    spec.save(out)
    np.savez_compressed(out / TEST, x=np.asarray(test_x, np.float32), y=np.asarray(test_y))
    np.savez_compressed(out / CALIB, x=np.asarray(calib_x, np.float32))
    (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    return RunDir(out)
