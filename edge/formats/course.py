"""The course's data format, readable on the device: a pickle of a dict with ``time`` (sample times, ``(L,)`` or
``(N, L)``), ``signal`` (``N × L``) and one-hot ``label`` (``N × C``; A = [1,0], B = [0,1]).

Loaded with the restricted unpickler (:mod:`edgekit.edge.formats.safe_pickle`), so no code in the file runs. The sample
rate is ``1 / median(diff(time))``, snapped to a whole number of Hz when within 0.01 % of one (``1 / 7.8125e-5`` →
12800.0, and a 12 kHz recording stays 12000). numpy only: ``edge-run --source pkl:PATH`` replays these files, and
training (:mod:`edgekit.train.datasets`) reads them with the same code."""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.labels import check_names
from edgekit.edge.core.spec import MAX_SAMPLE_RATE

PICKLE_SUFFIXES = (".pkl", ".pickle")
FS_TOLERANCE = 1e-3     # relative disagreement allowed between a given fs and the file's
MAX_SAMPLES = 100_000_000   # numbers in one array of a course file (800 MB as float64)
MIN_RATE = 1e-3             # Hz: a course file's slowest sample rate (one sample every 1000 s)


@dataclass
class SignalDataset:
    signals: np.ndarray          # float32 (N, L)
    labels: np.ndarray           # int64 (N,), indices into label_names
    label_names: list[str]
    fs: float                    # Hz
    source: str                  # "synthetic" or the path it was loaded from


def default_label_names(n: int) -> list[str]:
    """A, B, C, ... (then A1, B1, ... past Z)."""
    letters = string.ascii_uppercase
    return [letters[i % 26] + (str(i // 26) if i >= 26 else "") for i in range(n)]


# -- validation helpers ---------------------------------------------------------------------------

def _float_array(value: Any, where: str, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(arr.dtype)
        return arr.astype(np.float64, copy=False)
    except (TypeError, ValueError):
        raise EdgekitError(f"{where}: '{what}' must be numbers (an array, or a list of equal-length "
                           f"arrays), got {type(value).__name__}"
                           + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "")) from None


def _bounded(value: Any, where: str, what: str, depth: int = 2) -> None:
    """Before numpy sees ``value``: at most ``depth`` levels of lists and :data:`MAX_SAMPLES` numbers,
    counting a row each time it is referenced (a small pickle can repeat one row a million times)."""
    memo: dict[int, int] = {}

    def size(v: Any, d: int) -> int:
        if isinstance(v, np.ndarray) and v.ndim <= d:
            return v.size
        if not isinstance(v, (list, tuple, np.ndarray)):
            return 1
        if d == 0:
            raise EdgekitError(f"{where}: '{what}' is nested too deeply; the course format holds arrays of at "
                               f"most {depth} dimension(s)")
        if id(v) not in memo:
            memo[id(v)] = sum(size(x, d - 1) for x in v)
        return memo[id(v)]

    n = size(value, depth)
    if n > MAX_SAMPLES:
        raise EdgekitError(f"{where}: '{what}' holds {n:,} samples, more than the limit of {MAX_SAMPLES:,}; "
                           "split the file")


def _signals(value: Any, where: str) -> np.ndarray:
    _bounded(value, where, "signal")
    if isinstance(value, (list, tuple)) and value:     # rows of numbers or 1-D arrays (checked above)
        lengths = {np.shape(v) if isinstance(v, np.ndarray) else (len(v),) if isinstance(v, (list, tuple))
                   else () for v in value}
        if len(lengths) > 1:
            shown = ", ".join(str(s) for s in sorted(lengths, key=str)[:4])
            raise EdgekitError(f"{where}: the signals in 'signal' have different shapes ({shown}); "
                               f"they must all have the same length")
    x = _float_array(value, where, "signal")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise EdgekitError(f"{where}: 'signal' must be N signals × L samples (2-D, non-empty), got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise EdgekitError(f"{where}: 'signal' has {int(bad.sum())} NaN/inf samples (in {len(rows)} "
                           f"signals, first: signal {rows[0]}); clean or drop them")
    return x.astype(np.float32)


def _labels(value: Any, n: int, where: str, min_classes: int = 2) -> tuple[np.ndarray, int]:
    """One-hot (N, C) or class indices (N,) → (int64 indices, number of columns/classes); one-hot rows need a column
    per class, at least ``min_classes``."""
    y = np.asarray(value)
    if y.dtype == object or not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise EdgekitError(f"{where}: 'label' must be numbers (one-hot rows or class indices), got dtype {y.dtype}")
    if y.ndim == 0 or y.ndim > 2:
        raise EdgekitError(f"{where}: 'label' must be one-hot (N × C) or class indices (N), got shape {y.shape}")
    if len(y) != n:
        raise EdgekitError(f"{where}: {n} signals but {len(y)} labels; 'signal' and 'label' must "
                           f"have one row per example")
    if y.ndim == 2:
        yf = y.astype(np.float64)
        if y.shape[1] < min_classes:
            raise EdgekitError(f"{where}: 'label' has {y.shape[1]} column; one-hot labels need a "
                               f"column per class, at least {min_classes}")
        ok = np.isfinite(yf).all(axis=1) & np.isclose(yf.sum(axis=1), 1.0) \
            & np.all(np.isclose(yf, 0.0) | np.isclose(yf, 1.0), axis=1)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise EdgekitError(f"{where}: 'label' row {i} is {yf[i].tolist()}, not one-hot "
                               f"({int((~ok).sum())} such rows); each row needs a single 1 and 0 elsewhere")
        return yf.argmax(axis=1).astype(np.int64), int(y.shape[1])
    yf = y.astype(np.float64)
    if not (np.isfinite(yf).all() and (yf == np.round(yf)).all() and (yf >= 0).all()):
        raise EdgekitError(f"{where}: 'label' class indices must be whole numbers ≥ 0")
    idx = yf.astype(np.int64)
    return idx, int(idx.max()) + 1 if len(idx) else 0


def _names(value: Any, n_classes: int, where: str) -> list[str]:
    if value is None:
        return default_label_names(n_classes)
    _bounded(value, where, "label_names", 1)
    arr = np.asarray(value)
    if arr.ndim != 1 or not (arr.dtype.kind in "US" or (arr.dtype == object and all(
            isinstance(v, str) for v in arr.tolist()))):
        raise EdgekitError(f"{where}: 'label_names' must be a list of strings")
    names = [v.decode() if isinstance(v, bytes) else str(v) for v in arr.tolist()]
    if len(names) != n_classes:
        raise EdgekitError(f"{where}: 'label_names' has {len(names)} names for {n_classes} classes")
    if len(set(names)) != len(names):
        raise EdgekitError(f"{where}: 'label_names' has duplicates: {names}")
    check_names(names, "label name", where)
    return names


def _check_classes(labels: np.ndarray, names: list[str], where: str, min_classes: int = 2) -> None:
    """Examples of at least ``min_classes`` classes (a classifier's 2; an anomaly model's normal data may be one)."""
    present = np.unique(labels)
    if len(names) < min_classes or len(present) < min_classes:
        raise EdgekitError(f"{where}: the data has {len(present)} class(es) "
                           f"({', '.join(names[i] for i in present) or 'none'}); a classifier needs "
                           f"examples of at least 2")


def _key(k: Any) -> str:
    """A dict key for an error message: its repr cut short, or its type when it cannot be shown (a tuple nested a
    million deep is a RecursionError to repr)."""
    try:
        r = repr(k)
    except (RecursionError, ValueError, MemoryError):
        return f"<{type(k).__name__}>"
    return r if len(r) <= 40 else r[:37] + "..."


def _snap_fs(fs: float) -> float:
    r = round(fs)
    return float(r) if r > 0 and abs(fs - r) <= 1e-4 * fs else float(fs)


def fs_from_time(time: Any, n_signals: int, length: int, where: str) -> float:
    """The sample rate of time vectors ``(L,)`` or ``(N, L)``: 1 / median step, snapped to whole Hz."""
    _bounded(time, where, "time")
    t = _float_array(time, where, "time")
    if t.ndim == 2 and t.shape[0] == 1:
        t = t[0]
    if t.ndim == 1:
        if len(t) != length:
            raise EdgekitError(f"{where}: 'time' has {len(t)} samples but the signals have {length}")
    elif t.ndim == 2:
        if t.shape != (n_signals, length):
            raise EdgekitError(f"{where}: 'time' has shape {t.shape}; expected ({length},) or "
                               f"({n_signals}, {length}) like 'signal'")
    else:
        raise EdgekitError(f"{where}: 'time' must be a vector (L,) or one per signal (N, L), got shape {t.shape}")
    if t.shape[-1] < 2:
        raise EdgekitError(f"{where}: 'time' needs at least 2 samples to give a sample rate; pass fs")
    d = np.diff(t, axis=-1)
    if not np.isfinite(d).all() or not (d > 0).all():
        raise EdgekitError(f"{where}: 'time' must be finite and strictly increasing along each signal")
    with np.errstate(over="ignore", divide="ignore"):
        rate = 1.0 / float(np.median(d))
    if not np.isfinite(rate) or not MIN_RATE <= rate <= MAX_SAMPLE_RATE:
        raise EdgekitError(f"{where}: 'time' steps by {float(np.median(d)):.3g} s, a sample rate of {rate:.3g} Hz; "
                           f"edgekit takes {MIN_RATE:g} to {MAX_SAMPLE_RATE:g} Hz (times in seconds)")
    return _snap_fs(rate)


def _resolve_fs(found: float | None, given: float | None, where: str, what: str) -> float:
    if given is not None:
        given = float(given)
        if not np.isfinite(given) or given <= 0:
            raise EdgekitError(f"fs must be a positive number of Hz, got {given!r}")
    if found is None:
        if given is None:
            raise EdgekitError(f"{where}: {what}; pass the sample rate (fs, --fs)")
        return given
    if given is not None and abs(found - given) > FS_TOLERANCE * given:
        raise EdgekitError(f"{where}: the file says {found:g} Hz but fs = {given:g} Hz was given "
                           f"(they differ by more than 0.1 %); drop fs or fix the file")
    return given if given is not None else found


# -- the loaders ----------------------------------------------------------------------------------

def load_course_pickle(path: str, fs: float | None = None, min_classes: int = 2) -> SignalDataset:
    """Read a course-format pickle (see the module docstring) holding examples of at least ``min_classes`` classes;
    every problem is a one-line error."""
    from edgekit.edge.formats.safe_pickle import safe_load
    path = str(path)
    obj = safe_load(path)
    if not isinstance(obj, dict):
        raise EdgekitError(f"{path}: the course format is a dict with keys 'time', 'signal' and "
                           f"'label', but the pickle holds a {type(obj).__name__}")
    needed = ["signal", "label"] + ([] if fs is not None else ["time"])
    missing = [k for k in needed if k not in obj]
    if missing:
        have = ", ".join(_key(k) for k in list(obj)[:8]) or "none"
        raise EdgekitError(f"{path}: missing key(s) {', '.join(repr(k) for k in missing)} (keys: "
                           f"{have}); the course format needs 'time', 'signal' and 'label'"
                           + ("" if "time" not in missing or len(missing) > 1 else
                              " (or pass fs instead of 'time')"))
    x = _signals(obj["signal"], path)
    _bounded(obj["label"], path, "label")
    if np.ndim(obj["label"]) != 2:
        raise EdgekitError(f"{path}: 'label' must be one-hot rows (N × C) in the course format, got "
                           f"shape {np.shape(obj['label'])}")
    labels, n_classes = _labels(obj["label"], len(x), path, min_classes)
    names = _names(obj.get("label_names"), n_classes, path)
    _check_classes(labels, names, path, min_classes)
    found = fs_from_time(obj["time"], len(x), x.shape[1], path) if "time" in obj else None
    rate = _resolve_fs(found, fs, path, "no 'time'")
    return SignalDataset(x, labels, names, rate, path)
