"""Task ``image``: the course's MNIST CNNs, through the same train → convert (int8) → device path.

Data (``--data``; raw pixels in [0, 255], which the spec's front end scales to [0, 1]): MNIST's IDX files (gzipped or
raw; an images file with its labels next to it, or a folder with the ``train`` and/or ``t10k`` pairs), Keras's
``mnist.npz`` (read without pickle), or a folder with one sub-folder of pictures per label (decoded with Pillow,
``edgekit[images]``, and resized to 28×28 by the numpy code the device runs; files that are not images are reported,
skipped and counted). With an official train/test split it is used; otherwise (e.g. the 10k test set alone, what
``../shared/data/mnist`` holds) a stratified, seeded 80/20 split — ``metrics.json`` says which. Without ``--data``:
``$EDGEKIT_MNIST``, else ``../shared/data/mnist``; no download and no synthetic stand-in, since digit accuracy only
means something on real digits.

``--arch course`` (421,642 parameters, Adam) or ``keras`` (131,242, RMSprop), sparse categorical cross-entropy. Training
images are shifted by up to ±2 pixels afresh each epoch (``--shift``; on 8,000 training images this lifts the course
model from about 97.6 % to about 98.4 % test accuracy). A tenth of the training part is held out for validation
(monitoring only); the test part is only looked at after training.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from edgekit.convert.rundir import prepare_out, save_run
from edgekit.convert.tf import batched, quiet_tensorflow
from edgekit.edge import frontend as fe
from edgekit.edge.formats import idx
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec

from .splits import stratified_holdout, stratified_sample

ARCHS = {"course": ("mnist_course", "adam"), "keras": ("mnist_keras", "rmsprop")}
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
CALIB_KEEP = 512            # raw training images kept for int8 calibration
MAX_VALUE = 255.0
SIDE = 28
IDX_SETS = ("train", "t10k")


@dataclass
class ImageData:
    """Raw pictures (N, H, W) float32 in [0, 255] and class indices into ``label_names``; ``x_test`` /
    ``y_test`` are set when the source has its own test set."""

    x: np.ndarray
    y: np.ndarray
    label_names: tuple[str, ...]
    source: str
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    skipped: int = 0

    @property
    def has_test_set(self) -> bool:
        return self.x_test is not None


def _indexed(y_sets: list[np.ndarray]) -> tuple[list[np.ndarray], tuple[str, ...]]:
    """Integer labels → class indices 0..K-1 (sorted label values) and their names."""
    values = np.unique(np.concatenate(y_sets))
    if len(values) < 2:
        raise EdgekitError(f"the data holds a single class ({values.tolist()}); a classifier needs at least two")
    return [np.searchsorted(values, y).astype(np.int64) for y in y_sets], tuple(str(int(v)) for v in values)


def _check_images(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim != 3 or 0 in x.shape:
        raise EdgekitError(f"{where}: expected grayscale images (count, height, width), got shape {list(x.shape)}")
    if x.dtype.kind not in "uif":
        raise EdgekitError(f"{where}: pixels must be numbers, got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise EdgekitError(f"{where}: pixels contain NaN or infinity")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > MAX_VALUE:
        raise EdgekitError(f"{where}: pixels must be in [0, 255] (8-bit), found [{lo:g}, {hi:g}]")
    if hi <= 1.0:
        raise EdgekitError(f"{where}: pixels are already in [0, 1]; give raw 8-bit pixels (0-255), the spec "
                           "scales them")
    return x


def _find_idx(folder: Path, name: str) -> Path | None:
    names = (f"{name}-images-idx3-ubyte.gz", f"{name}-images-idx3-ubyte", f"{name}-images.idx3-ubyte")
    return next((folder / n for n in names if (folder / n).is_file()), None)


def load_idx(path: str | Path) -> ImageData:
    """An IDX images file (labels next to it), or a folder with the train and/or t10k IDX pairs."""
    path = Path(path)
    if path.is_dir():
        found = {s: _find_idx(path, s) for s in IDX_SETS}
        if not any(found.values()):
            raise EdgekitError(f"{path}: no MNIST IDX files (train-images-idx3-ubyte.gz, "
                               "t10k-images-idx3-ubyte.gz) here")
        pairs = {s: idx.read_pair(p) for s, p in found.items() if p is not None}
    else:
        pairs = {"file": idx.read_pair(path)}
    for x, _ in pairs.values():
        _check_images(x, str(path))
    if "train" in pairs and "t10k" in pairs:
        return _with_test_set(*pairs["train"], *pairs["t10k"], path, "IDX")
    (name, (x, y)), = pairs.items()
    (y,), names = _indexed([y])
    what = "the official 10k test set only" if name == "t10k" else "one IDX file"
    return ImageData(x.astype(np.float32), y, names, f"IDX {path} ({what})")


def load_npz(path: str | Path) -> ImageData:
    """Keras's ``mnist.npz``: x_train, y_train, x_test, y_test (no pickled objects allowed)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z.files]
            if missing:
                raise EdgekitError(f"{path}: not Keras's mnist.npz: missing {', '.join(missing)} (has "
                                   f"{', '.join(z.files) or 'nothing'})")
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (ValueError, OSError) as e:
        raise EdgekitError(f"{path}: unreadable .npz ({str(e).splitlines()[0]})") from None
    x, xt = (_check_images(arrays[k], f"{path}:{k}") for k in ("x_train", "x_test"))
    y, yt = arrays["y_train"], arrays["y_test"]
    for k, a, imgs in (("y_train", y, x), ("y_test", yt, xt)):
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise EdgekitError(f"{path}:{k}: labels must be a 1-D integer array, got {a.dtype} {list(a.shape)}")
        if len(a) != len(imgs):
            raise EdgekitError(f"{path}: {len(imgs):,} images but {len(a):,} labels in {k}; the arrays do not "
                               "belong together")
    return _with_test_set(x, y, xt, yt, path, "Keras npz")


def _with_test_set(x, y, xt, yt, path: Path, what: str) -> ImageData:
    if x.shape[1:] != xt.shape[1:]:
        raise EdgekitError(f"{path}: training and test images differ in size ({x.shape[1:]} vs {xt.shape[1:]})")
    (y, yt), names = _indexed([y, yt])
    return ImageData(x.astype(np.float32, copy=False), y, names, f"{what} {path} (official train/test split)",
                     xt.astype(np.float32, copy=False), yt)


def load_folder(path: str | Path, spec: Spec, log=print) -> ImageData:
    """One sub-folder of pictures per label; each picture decoded as the device decodes it, then resized
    to the spec's size by the front end's own resampling. Unusable files are reported and counted."""
    from edgekit.edge.sources.images import ImageError, decode_image, decode_options

    path = Path(path)
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise EdgekitError(f"{path}: a folder of images needs one sub-folder per label (at least two), found "
                           f"{len(classes)}")
    loose = [p.name for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    if loose:
        log(f"note: ignored {len(loose)} file(s) directly in {path} (only files in label sub-folders are used)")
    opts = decode_options(spec)
    h, w, _ = spec.input_shape
    method = spec.features.get("resize", "area")
    images, labels, skipped = [], [], 0
    for k, name in enumerate(classes):
        for f in sorted(p for p in (path / name).rglob("*") if p.is_file()):
            if any(part.startswith(".") for part in f.relative_to(path).parts):
                continue
            try:
                img = decode_image(f, **opts)
            except ImageError as e:
                log(f"skipped {f.relative_to(path)}: {e.message.removeprefix(f'{f}: ')}")
                skipped += 1
                continue
            images.append(fe.resize_images(img[None], h, w, method)[0].astype(np.float32))
            labels.append(k)
    y = np.asarray(labels, dtype=np.int64)
    empty = [c for k, c in enumerate(classes) if not (y == k).any()]
    if empty:
        raise EdgekitError(f"{path}: no usable images for label(s) {', '.join(empty)} ({skipped} file(s) skipped)")
    if skipped:
        log(f"note: skipped {skipped} file(s) that are not usable images")
    return ImageData(np.stack(images), y, tuple(classes), f"folder {path}", skipped=skipped)


def default_data() -> Path:
    """Where the MNIST data is when --data is not given (no network access is ever attempted)."""
    env = os.environ.get("EDGEKIT_MNIST")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]
    for base in (here.parent, Path.cwd().parent, Path.cwd()):
        cand = base / "shared" / "data" / "mnist"
        if _find_idx(cand, "t10k") or _find_idx(cand, "train"):
            return cand
    raise EdgekitError("no MNIST data found (looked in $EDGEKIT_MNIST and ../shared/data/mnist); give --data: "
                       "IDX files, Keras's mnist.npz or a folder of images with one sub-folder per label")


def load_images(data: str | Path | None, spec: Spec, log=print) -> ImageData:
    """Dispatch on what ``data`` is: .npz, an IDX file or folder, or a folder of labelled pictures."""
    path = Path(data) if data is not None else default_data()
    if not path.exists():
        raise EdgekitError(f"--data {path}: no such file or folder")
    if path.is_dir():
        return load_idx(path) if any(_find_idx(path, s) for s in IDX_SETS) else load_folder(path, spec, log=log)
    if path.suffix == ".npz":
        return load_npz(path)
    from edgekit.edge.sources.images import is_idx
    if is_idx(path):
        return load_idx(path)
    raise EdgekitError(f"--data {path}: not an IDX file, an .npz or a folder; give MNIST IDX files, Keras's "
                       "mnist.npz or a folder of images with one sub-folder per label")


def make_spec(labels, height: int = SIDE, width: int = SIDE, invert: bool = False, resize: str = "area") -> Spec:
    """The spec of an MNIST-style classifier: grayscale pictures resized to height×width, optionally
    inverted, scaled from [0, 255] to [0, 1]."""
    feats = fe.image_features(height, width, grayscale=True, invert=invert, max_value=MAX_VALUE, resize=resize)
    return Spec(task="image", kind="classification", sample_rate=1.0, window=1,
                input_shape=fe.image_shape(feats), features=feats,
                normalization={"type": "scale", "scale": 1.0 / MAX_VALUE, "offset": 0.0}, labels=tuple(labels))


def _subsample(x, y, n: int | None, seed: int):
    if n is None or n >= len(y):
        return x, y
    keep = np.sort(stratified_sample(y, n, seed))
    return x[keep], y[keep]


def shift_images(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image of (N, H, W, C) moved by a random whole number of pixels in [-max_shift, max_shift]
    along both axes, the uncovered border filled with 0 (the background after the front end)."""
    if max_shift <= 0:
        return x
    n, h, w = x.shape[:3]
    m = int(max_shift)
    padded = np.pad(x, ((0, 0), (m, m), (m, m)) + ((0, 0),) * (x.ndim - 3))
    dy, dx = rng.integers(0, 2 * m + 1, size=(2, n))
    rows = dy[:, None] + np.arange(h)[None]
    cols = dx[:, None] + np.arange(w)[None]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def fit_shifted(model, x_train, y_train, x_val, y_val, *, epochs: int, batch_size: int, max_shift: int,
                seed: int, verbose: int = 2, patience: int | None = None) -> dict[str, Any]:
    """Keras fit with a fresh random shift of every training image each epoch (``max_shift`` 0: plain fit), stopping
    after ``patience`` epochs without a lower validation loss (``epochs`` is the cap) and keeping the best epoch's
    weights. Same result format as :func:`edgekit.train.fit.fit`."""
    import time
    from .fit import PATIENCE
    patience = PATIENCE if patience is None else patience
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    best, best_epoch, best_weights = np.inf, 0, None
    for e in range(epochs):
        hist = model.fit(shift_images(x_train, max_shift, rng), y_train, initial_epoch=e, epochs=e + 1,
                         batch_size=batch_size, shuffle=True, verbose=verbose,
                         validation_data=(x_val, y_val) if len(x_val) else None)
        for k, vs in hist.history.items():
            history.setdefault(k, []).extend(float(v) for v in vs)
        loss = history.get("val_loss", [np.inf])[-1]
        if loss < best:
            best, best_epoch, best_weights = loss, e + 1, model.get_weights()
        elif patience and e + 1 - best_epoch >= patience:
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    return {"history": history, "train_seconds": round(time.perf_counter() - t0, 2),
            "best_epoch": best_epoch or len(history.get("loss", [])), "epochs_run": len(history.get("loss", []))}


def train_mnist(out: str | Path, data: str | Path | None = None, arch: str = "course", epochs: int = 10,
                seed: int = 0, n: int | None = None, batch_size: int = 32, invert: bool = False,
                shift: int = 2, val_fraction: float = VAL_FRACTION, verbose: int = 2, patience: int | None = None,
                log=print) -> dict[str, Any]:
    """Train ``arch`` on MNIST-style data, write the run directory and return the metrics. ``n`` caps the
    images used (a stratified sample; with an official split, n training and n/4 test images)."""
    if arch not in ARCHS:
        raise EdgekitError(f"--arch {arch!r}: use one of {', '.join(ARCHS)}")
    if not 0 <= val_fraction < 1:
        raise EdgekitError(f"validation fraction {val_fraction} must be in [0, 1)")
    if not 0 <= shift <= 8:
        raise EdgekitError(f"--shift {shift}: give 0 (no augmentation) to 8 pixels")
    prepare_out(out)                                  # an unwritable --out fails now, not after training
    probe = make_spec(("0", "1"), invert=invert)      # decoding/resizing options for a folder of pictures
    ds = load_images(data, probe, log=log)            # bad data fails before TensorFlow is imported
    quiet_tensorflow()
    from . import models
    from .fit import class_counts, seed_everything
    if ds.has_test_set:
        x_pool, y_pool = _subsample(ds.x, ds.y, n, seed)
        n_test = None if n is None else max(len(ds.label_names), n // 4)
        x_test, y_test = _subsample(ds.x_test, ds.y_test, n_test, seed)
        split = (f"the source's own train/test split ({len(y_pool):,} / {len(y_test):,} images); validation: a "
                 f"stratified, seeded {val_fraction:.0%} of the training part")
    else:
        x_all, y_all = _subsample(ds.x, ds.y, n, seed)
        keep, held = stratified_holdout(y_all, TEST_FRACTION, seed)
        x_pool, y_pool, x_test, y_test = x_all[keep], y_all[keep], x_all[held], y_all[held]
        split = (f"stratified, seeded {1 - TEST_FRACTION:.0%}/{TEST_FRACTION:.0%} train/test split of the "
                 f"{len(y_all):,} images of {ds.source}; validation: a stratified, seeded "
                 f"{val_fraction:.0%} of the training part")
    tr, va = stratified_holdout(y_pool, val_fraction, seed + 1)          # (val_fraction 0: all in training)
    h, w = ds.x.shape[1:]
    spec = make_spec(ds.label_names, h, w, invert=invert)
    log(f"data: {len(ds.y) + (len(ds.y_test) if ds.has_test_set else 0):,} images of {h}×{w}, classes "
        f"{', '.join(ds.label_names)} ({ds.source}); split train {len(tr):,} / val {len(va):,} / test {len(y_test):,}")
    front = fe.build(spec)
    feats = lambda x: batched(front, x, 1024)  # noqa: E731
    x_tr, x_te = feats(x_pool[tr]), feats(x_test)
    x_va = feats(x_pool[va]) if len(va) else x_pool[:0, ..., None]
    y_tr, y_va = y_pool[tr], y_pool[va]

    seed_everything(seed)
    builder, optimizer = ARCHS[arch]
    model = getattr(models, builder)(spec.input_shape, len(ds.label_names))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    log(f"model: --arch {arch} ({model.count_params():,} parameters, {optimizer}), {epochs} epoch(s), batch "
        f"{batch_size}, random shifts of up to {shift} px")
    result = fit_shifted(model, x_tr, y_tr, x_va, y_va, epochs=epochs, batch_size=batch_size, max_shift=shift,
                         seed=seed, verbose=verbose, patience=patience)
    if result["epochs_run"] < epochs or result["best_epoch"] < result["epochs_run"]:
        log(f"kept the weights of epoch {result['best_epoch']} of {result['epochs_run']} (lowest validation loss)")
    test_loss, test_acc = model.evaluate(x_te, y_test, batch_size=256, verbose=0)
    calib = x_pool[tr][stratified_sample(y_tr, CALIB_KEEP, seed)]
    names = ds.label_names
    metrics = {
        "task": "image", "arch": arch, "optimizer": optimizer, "test_accuracy": float(test_acc),
        "test_loss": float(test_loss), "n_train": int(len(tr)), "n_val": int(len(va)), "n_test": int(len(y_test)),
        "split": split, "class_counts": {"train": class_counts(y_tr, names), "val": class_counts(y_va, names),
                                         "test": class_counts(y_test, names)},
        "labels": list(names), "data": ds.source, "skipped_files": ds.skipped, "epochs": epochs,
        "batch_size": batch_size, "augmentation": {"max_shift_px": shift}, "seed": seed,
        "parameters": int(model.count_params()), "machine": platform.machine(), **result,
    }
    save_run(out, model, spec, x_test, y_test, calib, metrics)
    log(f"test accuracy {test_acc:.4f} (loss {test_loss:.4f}) on {len(y_test):,} images; wrote {out}")
    return metrics


@click.command("mnist")
@click.option("--data", type=click.Path(), default=None,
              help="MNIST IDX file or folder, Keras mnist.npz, or a folder with one sub-folder of images per "
                   "label; default: $EDGEKIT_MNIST or ../shared/data/mnist (the 10k test set, split 80/20).")
@click.option("--arch", type=click.Choice(list(ARCHS)), default="course", show_default=True,
              help="course: 421,642 parameters, Adam; keras: 131,242 parameters, RMSprop.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="At most this many (training stops earlier on convergence: --patience).")
@click.option("--patience", type=click.IntRange(min=0), default=None,
              help="Stop after this many epochs without a lower validation loss; the best epoch's weights "
                   "are kept (default 8; 0: run all epochs).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--n", "n", type=click.IntRange(min=20), default=None,
              help="Use a stratified sample of N images (quick experiments).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--shift", type=click.IntRange(min=0, max=8), default=2, show_default=True,
              help="Augmentation: move training images by up to this many pixels, afresh each epoch (0: off).")
@click.option("--invert/--no-invert", default=False, show_default=True,
              help="The pictures are dark on light (photos of handwriting): invert them. Stored in the spec, "
                   "so the device inverts too.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
def mnist_cmd(**options):
    """The course's MNIST CNNs (digits 0-9, or any folder of labelled pictures)."""
    train_mnist(**options, log=click.echo)
