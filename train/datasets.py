"""Loading the vibration (or any 1-D signal) classification data: :func:`load_signals`.

``None``                synthetic vibration data (:func:`edgekit.edge.sources.synth.vibration`), classes A, B.
``*.pkl``/``*.pickle``  the course format, read by :mod:`edgekit.edge.formats.course` (no code runs): ``time``
                        (``(L,)`` or ``(N, L)``; may be left out when ``fs`` is given), ``signal`` (N × L),
                        one-hot ``label`` (N × C, C ≥ 2; column 0 = A, 1 = B, ...), optional ``label_names``.
``*.npz``               ``signal`` (N × L), ``label`` (one-hot N × C or class indices N), optional ``fs``
                        (scalar) or ``time``, optional ``label_names``; loaded with ``allow_pickle=False``.
a directory             ``root/<label>/*.wav``, one class per sub-folder (sorted): every file mixed down to
                        mono, resampled to a common rate (``fs``, else the first file's), then cut or
                        zero-padded at the end to ``length`` samples (default: the median length).

The rate from ``time`` is ``1 / median(diff(time))``, snapped to a whole number of Hz within 0.01 % of one
(``1 / 7.8125e-5`` → 12800.0); a given ``fs`` that disagrees by more than 0.1 % is an error. Every problem is an
:class:`EdgekitError` naming the file.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge.formats.course import (  # noqa: F401  (SignalDataset is re-exported: what load_signals returns)
    FS_TOLERANCE, PICKLE_SUFFIXES, SignalDataset, _check_classes, _labels, _names, _resolve_fs, _signals,
    default_label_names, fs_from_time, load_course_pickle,
)
from edgekit.edge.core.errors import EdgekitError


def _load_npz(path: str, fs: float | None, min_classes: int = 2) -> SignalDataset:
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        raise EdgekitError(f"{path}: not a readable .npz (it is not a zip file); save one with "
                           "numpy.savez(path, signal=..., label=...)")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = [k for k in ("signal", "label") if k not in keys]
            if missing:
                raise EdgekitError(f"{path}: missing array(s) {', '.join(repr(k) for k in missing)} "
                                   f"(arrays: {', '.join(sorted(keys)) or 'none'}); an .npz needs 'signal' and 'label'")
            data = {k: z[k] for k in ("signal", "label", "fs", "time", "label_names") if k in keys}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise EdgekitError(f"{path}: holds object arrays, which need pickle; store plain numeric "
                               f"and string arrays") from None
        raise EdgekitError(f"{path}: not a readable .npz ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise EdgekitError(f"{path}: not a readable .npz file ({type(e).__name__}: {e}); the file "
                           f"is corrupt or truncated") from None
    x = _signals(data["signal"], path)
    labels, n_classes = _labels(data["label"], len(x), path, min_classes)
    names = _names(data.get("label_names"), n_classes, path)
    _check_classes(labels, names, path, min_classes)
    found = None
    if "fs" in data:
        f = np.asarray(data["fs"])
        if f.size != 1 or not np.issubdtype(f.dtype, np.number) or not np.isfinite(f).all() \
                or float(f.reshape(())) <= 0:
            raise EdgekitError(f"{path}: 'fs' must be one positive number of Hz, got {f.tolist()!r}")
        found = float(f.reshape(()))
        if "time" in data:
            ft = fs_from_time(data["time"], len(x), x.shape[1], path)
            if abs(ft - found) > FS_TOLERANCE * found:
                raise EdgekitError(f"{path}: 'fs' ({found:g} Hz) and 'time' ({ft:g} Hz) disagree")
    elif "time" in data:
        found = fs_from_time(data["time"], len(x), x.shape[1], path)
    rate = _resolve_fs(found, fs, path, "no 'fs' or 'time' array")
    return SignalDataset(x, labels, names, rate, path)


def _load_wav_folder(root: str, fs: float | None, length: int | None) -> SignalDataset:
    from edgekit.edge.formats.audio import audio_rate, load_audio

    entries = sorted(p for p in Path(root).iterdir() if not p.name.startswith("."))
    loose = [p.name for p in entries if p.is_file() and p.suffix.lower() == ".wav"]
    if loose:
        raise EdgekitError(f"{root}: WAV files directly in the folder ({loose[0]}, ...) have no label; "
                           f"put them in sub-folders named by label (root/<label>/*.wav)")
    classes = [p for p in entries if p.is_dir()]
    if not classes:
        raise EdgekitError(f"{root}: no class sub-folders; expected root/<label>/*.wav")
    names = [p.name for p in classes]
    files: list[tuple[Path, int]] = []
    for k, d in enumerate(classes):
        wavs = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() == ".wav"
                      and not p.name.startswith("."))
        if not wavs:
            raise EdgekitError(f"{d}: no .wav files in this class folder; add some or remove it")
        files += [(p, k) for p in wavs]
    if len(names) < 2:
        raise EdgekitError(f"{root}: only one class folder ({names[0]}); a classifier needs at least 2 "
                           f"(root/<label>/*.wav)")
    rate = float(audio_rate(files[0][0])) if fs is None else _resolve_fs(None, fs, root, "")   # (a given fs: checked)
    signals = [load_audio(p, rate) for p, _ in files]
    if length is None:
        length = int(np.median([len(s) for s in signals]))
    elif isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise EdgekitError(f"length must be a positive number of samples, got {length!r}")
    out = np.zeros((len(signals), int(length)), dtype=np.float32)
    for i, s in enumerate(signals):
        k = min(len(s), length)
        out[i, :k] = s[:k]
    return SignalDataset(out, np.array([k for _, k in files], dtype=np.int64), names, float(rate), root)


def load_signals(path: str | os.PathLike | None = None, fs: float | None = None, seed: int = 0,
                 n: int = 600, length: int | None = None, min_classes: int = 2) -> SignalDataset:
    """Load a signal classification data set (the formats: the module docstring). ``path`` None → ``n`` synthetic
    signals with ``seed`` at 12800 Hz (or ``fs``); ``fs`` gives or checks the sample rate;
    ``length``: the common length of a WAV folder's signals; a .pkl or .npz must hold examples of at least
    ``min_classes`` classes (an anomaly model's normal data may be one)."""
    if path is None:
        from edgekit.edge.sources.synth import vibration

        rate = 12800.0 if fs is None else float(fs)
        x, y = vibration(n, seed=seed, fs=rate)
        return SignalDataset(x, y, ["A", "B"], rate, "synthetic")
    where = os.fspath(path)
    p = Path(where)
    if p.is_dir():
        return _load_wav_folder(where, fs, length)
    if not p.exists():
        raise EdgekitError(f"{where}: no such file or folder; check the path")
    suffix = p.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return load_course_pickle(where, fs, min_classes)
    if suffix == ".npz":
        return _load_npz(where, fs, min_classes)
    raise EdgekitError(f"{where}: unknown data format '{p.suffix or '(no extension)'}'; give a course "
                       f".pkl/.pickle, an .npz (signal, label) or a folder of WAVs by label")


def save_course_pickle(path: str | os.PathLike, ds: SignalDataset) -> None:
    """Write ``ds`` in the course format (pickle protocol 4): ``time`` = arange(L) / fs (float64),
    ``signal`` (N × L float32), one-hot ``label`` (N × C float64), and ``label_names`` when the names
    are not the default A, B, C, .... :func:`load_signals` reads it back unchanged."""
    x = np.asarray(ds.signals, dtype=np.float32)
    y = np.asarray(ds.labels)
    if x.ndim != 2 or y.shape != (len(x),):
        raise EdgekitError(f"{os.fspath(path)}: cannot save: signals {x.shape} and labels {y.shape} do not match "
                           "(N × L and N)")
    c = len(ds.label_names)
    if len(y) and (y.min() < 0 or y.max() >= c):
        raise EdgekitError(f"{os.fspath(path)}: cannot save: labels outside 0..{c - 1}")
    onehot = np.zeros((len(y), c), dtype=np.float64)
    onehot[np.arange(len(y)), y.astype(np.int64)] = 1.0
    obj: dict[str, Any] = {"time": np.arange(x.shape[1], dtype=np.float64) / float(ds.fs), "signal": x, "label": onehot}
    if list(ds.label_names) != default_label_names(c):
        obj["label_names"] = [str(s) for s in ds.label_names]
    try:
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=4)
    except OSError as e:
        raise EdgekitError(f"{os.fspath(path)}: cannot write ({e.strerror or e})") from None

