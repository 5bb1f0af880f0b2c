"""Task ``stft``: classify vibration (or acoustic) windows from their spectrograms."""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from edgekit.convert.rundir import prepare_out, save_run
from edgekit.convert.tf import batched, quiet_tensorflow
from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec

from .fit import PATIENCE

CALIB_KEEP = 512   # raw training windows kept for int8 calibration
ARCHS = ("course", "dscnn")


def make_spec(fs: float, window: int, labels, normalization: dict | None = None, **feature_args) -> Spec:
    feats = fe.spectrogram_features(**feature_args)
    return Spec(task="stft", kind="classification", sample_rate=float(fs), window=int(window),
                input_shape=fe.spectrogram_shape(window, feats), features=feats,
                normalization=normalization or {"type": "none"}, labels=tuple(labels))


def train_stft(out: str | Path, data: str | None = None, fs: float | None = None, epochs: int = 10,
               seed: int = 0, n: int = 600, batch_size: int = 32, verbose: int = 1,
               patience: int | None = PATIENCE, arch: str = "course", log=print) -> dict[str, Any]:
    """Train the STFT classifier (``arch``: ``course``, the course's CNN, or ``dscnn``, the depthwise-separable
    CNN of the audio task) and write the run directory; early stopping on validation loss, ``epochs`` the cap."""
    if arch not in ARCHS:
        raise EdgekitError(f"--arch {arch!r}: use one of {', '.join(ARCHS)}")
    prepare_out(out)                    # an unwritable --out fails now, not after training
    quiet_tensorflow()
    from .datasets import load_signals
    from .fit import class_counts, fit, seed_everything
    from .models import dscnn, macs, stft_cnn
    from .splits import stratified_sample, stratified_split

    ds = load_signals(data, fs=fs, seed=seed, n=n)
    log(f"data: {len(ds.signals)} signals × {ds.signals.shape[1]} samples at {ds.fs:g} Hz, classes "
        f"{', '.join(ds.label_names)} ({ds.source})")
    tr, va, te = stratified_split(ds.labels, seed=seed)

    # Fit the normalisation on the training part only, through the same front end the device runs.
    spec = make_spec(ds.fs, ds.signals.shape[1], ds.label_names)
    spec = spec.with_(normalization=fe.fit_standard(batched(fe.build(spec).raw, ds.signals[tr], 256)))
    front = fe.build(spec)
    x = {k: batched(front, ds.signals[idx], 256) for k, idx in (("train", tr), ("val", va), ("test", te))}
    y = {k: ds.labels[idx] for k, idx in (("train", tr), ("val", va), ("test", te))}
    log(f"features: {list(spec.input_shape)} per window; split train {len(tr)} / val {len(va)} / "
        f"test {len(te)} (stratified, seed {seed})")

    seed_everything(seed)
    model = (dscnn if arch == "dscnn" else stft_cnn)(spec.input_shape, len(ds.label_names))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    result = fit(model, x["train"], y["train"], x["val"], y["val"], epochs=epochs, batch_size=batch_size,
                 verbose=verbose, patience=patience)
    test_loss, test_acc = model.evaluate(x["test"], y["test"], verbose=0)
    calib = ds.signals[tr][stratified_sample(y["train"], CALIB_KEEP, seed)]
    metrics = {
        "task": "stft", "test_accuracy": float(test_acc), "test_loss": float(test_loss),
        "n_test": int(len(te)), "n_train": int(len(tr)), "n_val": int(len(va)),
        "class_counts": {part: class_counts(labels, ds.label_names) for part, labels in y.items()},
        "labels": list(ds.label_names), "sample_rate": ds.fs, "data": ds.source, "epochs": epochs,
        "arch": arch, "parameters": int(model.count_params()), "macs": macs(model), "seed": seed,
        "machine": platform.machine(), **result,
    }
    save_run(out, model, spec, ds.signals[te], y["test"], calib, metrics)
    log(f"kept the weights of epoch {result['best_epoch']} (lowest validation loss); test accuracy "
        f"{test_acc:.4f} (loss {test_loss:.4f}) on {len(te)} windows; wrote {out}")
    return metrics
