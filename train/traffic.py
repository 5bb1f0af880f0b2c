"""Task ``traffic``: forecast the next 5-minute value (mean speed by default) at a road detector.

Data: a vehicle-detector CSV (``Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate``; ``OccRate`` accepted),
parsed with pandas and validated (a missing column, a non-numeric value or an empty file is a one-line
error naming the file, line and column), or the deterministic synthetic feed of
:mod:`edgekit.train.traffic_data`.

Windows: ``look_back`` consecutive rows predict the next row's target. Rows are assembled with
:func:`edgekit.edge.io.rows.assemble` — the code the device uses row by row — so no window spans a time gap
unless ``fill`` says how to fill it (and filled rows are never targets).

Split: chronological, no shuffling: a window belongs to the part its *target* row falls in; the test
part is the last 20 % of the rows, validation the 10 % before it, training the rest. The min-max scaler
(inputs and target) is fitted on the training rows only and stored in the spec, so the device scales
and un-scales the same way.

Model: the course's Conv1D(32, 6) → Flatten → Dense(16) → Dense(1), Adam, MSE, MAE metric. Metrics
compare it with persistence (next = last) on the same test windows.
"""
from __future__ import annotations

import platform
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError
from edgekit.edge.io.rows import (DATE_COLUMN, DATE_FORMAT, MAX_FILL_ROWS, STEP_SECONDS, VDS_COLUMNS,
                               Series, assemble, column_key, describe_format, units_of)
from edgekit.edge.model.spec import Spec

DEFAULT_LOOK_BACK = 288          # one day of 5-minute rows
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
CALIB_KEEP = 1000                # raw training windows kept (shuffled) for int8 calibration
SYNTH_DAYS = 28


# -- loading ----------------------------------------------------------------------------------------

@dataclass
class DetectorData:
    """Detector rows: times (epoch seconds), numeric columns by canonical name, source line numbers."""

    source: str
    times: np.ndarray                    # (N,) float64
    columns: dict[str, np.ndarray]       # canonical name → (N,) float64
    lines: np.ndarray                    # (N,) file line of each row (header = line 1)
    date_column: str = DATE_COLUMN
    date_format: str = DATE_FORMAT

    def __len__(self) -> int:
        return len(self.times)

    def resolve(self, name: str, what: str) -> str:
        """A user-given column name → the canonical one (``occrate`` → ``Occ.Rate``)."""
        for c in self.columns:
            if column_key(c) == column_key(name):
                return c
        raise EdgekitError(f"{what} {name!r} is not a column of {self.source} (columns: "
                           f"{', '.join(self.columns)})")

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        return np.stack([self.columns[n] for n in names], axis=1)


def _canonical(header: str) -> str:
    """A header name → the VDS spelling when it is one of the VDS columns (``OccRate`` → ``Occ.Rate``)."""
    for c in VDS_COLUMNS:
        if column_key(c) == column_key(header):
            return c
    return header.strip()


def load_detector_csv(path: str | Path, columns: Sequence[str] | None = None,
                      date_column: str = DATE_COLUMN, date_format: str = DATE_FORMAT) -> DetectorData:
    """Parse and validate a detector CSV with pandas.

    ``columns``: the numeric columns needed (canonical or any spelling); default every column but the
    date. Errors are one line naming the file, the line (header = line 1) and the column.
    """
    import pandas as pd

    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise EdgekitError(f"{src}: no such file; give a detector CSV ({','.join(VDS_COLUMNS)})")
    if path.stat().st_size == 0 or not path.read_bytes().strip():
        raise EdgekitError(f"{src}: the file is empty (line 1: expected the header {','.join(VDS_COLUMNS)} "
                           "followed by 5-minute rows)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # index_col=False: a first data row with an extra field must not become an index column
            df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False,
                             skipinitialspace=True, encoding="utf-8-sig", index_col=False)
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
            _raise_bad_width(path)
    except pd.errors.ParserError as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise EdgekitError(f"{src}: line {m.group(2)}: the row has {m.group(3)} fields, the header has "
                               f"{m.group(1)}") from None
        raise EdgekitError(f"{src}: not a well-formed CSV ({msg})") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise EdgekitError(f"{src}: cannot read it as a text CSV ({e})") from None
    header = [str(h).strip() for h in df.columns]
    by_key: dict[str, str] = {}
    for h in header:
        if column_key(h) in by_key:
            raise EdgekitError(f"{src}: line 1 (header): columns {by_key[column_key(h)]!r} and {h!r} are the "
                               "same column; rename one")
        by_key[column_key(h)] = h
    df.columns = header
    lines = np.arange(len(df)) + 2                      # the header is line 1
    blank = np.ones(len(df), bool)
    for h in header:
        blank &= df[h].astype(str).str.strip().eq("").to_numpy() | df[h].isna().to_numpy()
    df, lines = df[~blank], lines[~blank]
    if len(df) == 0:
        raise EdgekitError(f"{src}: line 1 is a header but no data rows follow")

    def require(name: str) -> str:
        h = by_key.get(column_key(name))
        if h is None:
            raise EdgekitError(f"{src}: line 1 (header): column {name!r} is missing (the header has "
                               f"{', '.join(header)}); export the detector data with a {name} column")
        return h

    date_h = require(date_column)
    wanted = [c for c in header if c != date_h] if columns is None else [require(c) for c in columns]
    # Rows with too few fields come back with NaN in the missing cells.
    for h in [date_h, *wanted]:
        miss = df[h].isna().to_numpy()
        if miss.any():
            i = int(np.argmax(miss))
            raise EdgekitError(f"{src}: line {lines[i]}, column {h!r}: the row has fewer fields than the header")
    text_t = df[date_h].astype(str).str.strip()
    times = pd.to_datetime(text_t, format=date_format, errors="coerce")
    bad = times.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise EdgekitError(f"{src}: line {lines[i]}, column {date_h!r}: {text_t.iloc[i]!r} is not a "
                           f"{describe_format(date_format)} time")
    t = (times.to_numpy().astype("datetime64[ns]").astype(np.int64) / 1e9).astype(np.float64)
    cols: dict[str, np.ndarray] = {}
    for h in wanted:
        text = df[h].astype(str).str.strip()
        v = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.argmax(bad))
            what = "is empty (a missing value, or a row with fewer fields than the header)" \
                if not text.iloc[i] else f"{text.iloc[i]!r} is not a number"
            raise EdgekitError(f"{src}: line {lines[i]}, column {h!r}: {what}")
        cols[_canonical(h)] = v
    back = np.flatnonzero(np.diff(t) <= 0)
    if back.size:
        i = int(back[0]) + 1
        raise EdgekitError(f"{src}: line {lines[i]}, column {date_h!r}: {text_t.iloc[i]} is not after the "
                           f"previous row's {text_t.iloc[i - 1]}; sort the rows and remove duplicates")
    return DetectorData(src, t, cols, lines, date_column=date_h, date_format=date_format)


def feature_names(features: Sequence[str] | str | None) -> list[str] | None:
    """``--features`` → column names ([] for none; None for 'all')."""
    if features is None or features == "":
        return []
    names = [f.strip() for f in features.split(",")] if isinstance(features, str) else [str(f) for f in features]
    names = [n for n in names if n]
    return None if [column_key(n) for n in names] == ["all"] else names


def needed_columns(target: str, features: Sequence[str] | str | None) -> list[str] | None:
    """The numeric columns a run reads (and validates) from the CSV; None: all of them."""
    names = feature_names(features)
    return None if names is None else list(dict.fromkeys([target, *names]))


def _raise_bad_width(path: Path) -> None:
    """pandas only warns about rows with more fields than the header; find the first one and say where."""
    import csv
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = csv.reader(f)
        width = len(next(rows, []))
        for fields in rows:
            if fields and len(fields) > width:
                raise EdgekitError(f"{path}: line {rows.line_num}: the row has {len(fields)} fields, the header "
                                   f"has {width}")
    raise EdgekitError(f"{path}: rows have more fields than the header")


def synthetic_detector(days: int = SYNTH_DAYS, seed: int = 0) -> DetectorData:
    """The built-in synthetic feed (see :mod:`edgekit.train.traffic_data`) as DetectorData."""
    from .traffic_data import synthetic_times, synthetic_traffic

    table = synthetic_traffic(days, seed)
    cols = {c: np.asarray(table[c], np.float64) for c in VDS_COLUMNS[1:]}
    n = len(table["Date"])
    return DetectorData(f"synthetic ({days} days, seed {seed})", synthetic_times(table), cols,
                        np.arange(n) + 2)


def infer_step(times: np.ndarray) -> float:
    """The row interval: the most common difference between consecutive timestamps."""
    if len(times) < 2:
        return STEP_SECONDS
    d, counts = np.unique(np.round(np.diff(times), 3), return_counts=True)
    return float(d[np.argmax(counts)])


# -- windows, split, scaling ----------------------------------------------------------------------------

def fit_minmax(x: np.ndarray) -> dict[str, Any]:
    """Per-column min-max scaler of (N, C) rows (fitted on training rows only)."""
    x = np.asarray(x, np.float64)
    return {"type": "minmax", "min": [float(v) for v in x.min(axis=0)],
            "max": [float(v) for v in x.max(axis=0)]}


@dataclass
class Prepared:
    """Everything training needs: the spec and the raw windows / scaled targets of each part."""

    spec: Spec
    series: Series
    x: dict[str, np.ndarray]               # part → raw windows (n, look_back, C) float32
    y: dict[str, np.ndarray]               # part → scaled target (n,) float32
    last: dict[str, np.ndarray]            # part → raw target value of each window's last row (persistence)
    target_times: dict[str, np.ndarray]    # part → epoch seconds of each window's target row
    boundaries: dict[str, float]           # val / test: first target time of the part
    columns: list[str]
    target: str


def make_windows(series: Series, look_back: int, target_col: int,
                 columns_idx: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Windows of ``look_back`` rows inside one segment, each predicting the next row, which must be real.

    Returns raw windows (n, look_back, C), the target's raw value (n,), the last row's target value
    (n,) and the target rows' indices in the series.
    """
    ends = series.window_ends(look_back + 1)                   # rows i-look_back … i in one segment
    ends = ends[series.real[ends]]                             # the target row itself is real
    idx = ends[:, None] - look_back + np.arange(look_back)[None, :]
    vals = series.values
    x = vals[idx][:, :, list(columns_idx)]
    y = vals[ends, target_col]
    last = vals[ends - 1, target_col]
    return x, y, last, ends


def prepare(data: DetectorData, look_back: int = DEFAULT_LOOK_BACK, target: str = "Speed",
            features: Sequence[str] | str | None = None, fill: str | None = None,
            max_fill_rows: int = MAX_FILL_ROWS, step_seconds: float | None = None,
            test_fraction: float = TEST_FRACTION, val_fraction: float = VAL_FRACTION) -> Prepared:
    """Detector rows → spec (scalers fitted on training rows) and chronological train/val/test windows."""
    target = data.resolve(target, "--target")
    names = feature_names(features)
    names = list(data.columns) if names is None else names
    columns = list(dict.fromkeys([target, *(data.resolve(n, "--features") for n in names)]))
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 0.9:
        raise EdgekitError("the test and validation fractions must leave most rows for training")
    if look_back < 1:
        raise EdgekitError(f"--look-back {look_back}: give at least one row")
    step = float(step_seconds or infer_step(data.times))
    everything = [target] + [c for c in data.columns if c != target and c in columns]
    series = assemble(data.times, data.matrix(everything), step_seconds=step, fill=fill,
                      max_fill_rows=max_fill_rows, lines=data.lines, source=data.source)
    col_idx = [everything.index(c) for c in columns]
    x, y_raw, last, ends = make_windows(series, look_back, 0, col_idx)
    n_rows = len(data)
    if len(x) == 0:
        raise EdgekitError(f"{data.source}: no window of {look_back} consecutive rows plus a next row "
                           f"({n_rows} rows, {len(series.gaps)} gap(s)); use a shorter --look-back or --fill")
    real_times = data.times
    n_test = int(round(n_rows * test_fraction))
    n_val = int(round(n_rows * val_fraction))
    t_test = real_times[n_rows - n_test] if n_test else np.inf
    t_val = real_times[n_rows - n_test - n_val] if n_val else t_test
    tt = series.times[ends]
    part_of = np.where(tt >= t_test, 2, np.where(tt >= t_val, 1, 0))
    names = ("train", "val", "test")
    counts = {p: int((part_of == i).sum()) for i, p in enumerate(names)}
    if counts["train"] < 2 or counts["test"] < 1:
        raise EdgekitError(f"{data.source}: {n_rows} rows give {counts['train']} training and {counts['test']} "
                           f"test windows of {look_back} rows; give more data or a shorter --look-back")
    # Scalers: the training rows only (real rows before the validation part).
    train_rows = series.real & (series.times < t_val)
    scaler = fit_minmax(series.values[train_rows][:, col_idx])
    tscale = fit_minmax(series.values[train_rows][:, [0]])
    tscale = {"type": "minmax", "min": tscale["min"][0], "max": tscale["max"][0]}
    units = units_of(target, step)
    spec = Spec(task="traffic", kind="regression", sample_rate=1.0 / step, window=int(look_back),
                input_shape=(int(look_back), len(columns)),
                features=fe.rows_features(columns, target, step, fill, max_fill_rows, DATE_COLUMN,
                                          data.date_format),
                normalization=scaler,
                target={"column": target, "units": units, "scaling": tscale})
    y_scaled = fe.normalize(y_raw, tscale)
    out = Prepared(spec, series, {}, {}, {}, {}, {"val": float(t_val), "test": float(t_test)}, columns, target)
    for i, p in enumerate(names):
        m = part_of == i
        out.x[p] = x[m].astype(np.float32)
        out.y[p] = np.asarray(y_scaled[m], np.float32)
        out.last[p] = last[m]
        out.target_times[p] = tt[m]
    return out


def regression_metrics(pred_scaled: np.ndarray, y_scaled: np.ndarray, tscale: dict) -> dict[str, float]:
    """MSE/MAE/RMSE on the scaled values and MAE/RMSE in the target's units."""
    p = np.asarray(pred_scaled, np.float64).reshape(-1)
    t = np.asarray(y_scaled, np.float64).reshape(-1)
    e = p - t
    eu = fe.denormalize(p, tscale) - fe.denormalize(t, tscale)
    return {"test_mse": float(np.mean(e ** 2)), "test_mae": float(np.mean(np.abs(e))),
            "test_rmse": float(np.sqrt(np.mean(e ** 2))),
            "test_mae_units": float(np.mean(np.abs(eu))), "test_rmse_units": float(np.sqrt(np.mean(eu ** 2)))}


# -- training -------------------------------------------------------------------------------------------

def train_traffic(out: str | Path, data: str | None = None, look_back: int = DEFAULT_LOOK_BACK,
                  target: str = "Speed", features: Sequence[str] | str | None = None, epochs: int = 30,
                  seed: int = 0, fill: str | None = None, max_fill_rows: int = MAX_FILL_ROWS,
                  batch_size: int = 32, patience: int | None = 8, days: int = SYNTH_DAYS,
                  verbose: int = 2, log=print) -> dict[str, Any]:
    """Train the course's traffic CNN and write the run directory (see ``edgekit.train.artifacts``).

    ``data``: a detector CSV, or None for the synthetic feed (``days`` days, ``seed``). ``patience``:
    stop when the validation loss has not improved for that many epochs and keep the best epoch's
    weights (None: train all ``epochs``). Returns the metrics written to metrics.json.
    """
    from .artifacts import prepare_out
    prepare_out(out)                    # an unwritable --out fails now, not after training
    # Data first: a bad file is reported before TensorFlow takes seconds to start.
    ds = synthetic_detector(days, seed) if data is None else \
        load_detector_csv(data, needed_columns(target, features))
    step = infer_step(ds.times)
    prep = prepare(ds, look_back, target, features, fill, max_fill_rows, step)
    log(f"data: {len(ds)} rows every {step / 60:g} min from {ds.source}, columns {', '.join(ds.columns)}")

    from .fit import quiet_tensorflow
    quiet_tensorflow()
    import keras

    from .artifacts import save_run
    from .fit import seed_everything
    from .models import traffic_cnn
    spec = prep.spec
    g = prep.series.gaps
    if g:
        filled = sum(x["missing"] for x in g if x["filled"])
        how = f"{filled} filled ({fill}, gaps of at most {max_fill_rows} rows)" if fill else "none filled"
        log(f"gaps: {len(g)} ({sum(x['missing'] for x in g)} missing rows; {how}; no window spans an "
            "unfilled gap)")
    n = {p: len(prep.x[p]) for p in prep.x}
    log(f"windows: {look_back} rows × {len(prep.columns)} column(s) ({', '.join(prep.columns)}) → next "
        f"{prep.target}; chronological split train {n['train']} / val {n['val']} / test {n['test']} "
        f"(test from {_fmt_t(prep.boundaries['test'])}); scaler fitted on the training rows")

    front = fe.build(spec)
    x = {p: front(prep.x[p]) if len(prep.x[p]) else np.zeros((0, *spec.input_shape), np.float32)
         for p in prep.x}
    seed_everything(seed)
    model = traffic_cnn(look_back, len(prep.columns))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    callbacks = []
    has_val = n["val"] > 0
    if patience is not None and has_val:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                                       restore_best_weights=True))
    import time
    t0 = time.perf_counter()
    hist = model.fit(x["train"], prep.y["train"], validation_data=(x["val"], prep.y["val"]) if has_val else None,
                     epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose, callbacks=callbacks)
    train_seconds = round(time.perf_counter() - t0, 2)
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    epochs_run = len(history.get("loss", []))
    best_epoch = int(np.argmin(history["val_loss"])) + 1 if "val_loss" in history else epochs_run

    tscale = spec.target["scaling"]
    pred = model.predict(x["test"], batch_size=256, verbose=0).reshape(-1)
    cnn = regression_metrics(pred, prep.y["test"], tscale)
    persist = regression_metrics(fe.normalize(prep.last["test"], tscale), prep.y["test"], tscale)
    rng = np.random.default_rng(seed)
    calib = prep.x["train"][rng.permutation(n["train"])[:CALIB_KEEP]]
    units = spec.target["units"]
    metrics = {
        "task": "traffic", "target": prep.target, "units": units, "columns": prep.columns,
        "look_back": int(look_back), "step_seconds": step, "fill": fill,
        **cnn,
        "persistence": persist,
        "beats_persistence": bool(cnn["test_mse"] < persist["test_mse"]),
        "n_rows": int(len(ds)), "gaps": len(g), "missing_rows": int(sum(x["missing"] for x in g)),
        "filled_rows": int((~prep.series.real).sum()),
        "n_train": n["train"], "n_val": n["val"], "n_test": n["test"],
        "test_from": _fmt_t(prep.boundaries["test"]), "val_from": _fmt_t(prep.boundaries["val"]),
        "scaler": {"fitted_on": "training rows", "normalization": spec.normalization, "target": tscale},
        "data": ds.source, "epochs": epochs, "epochs_run": epochs_run, "best_epoch": best_epoch,
        "batch_size": batch_size, "seed": seed, "parameters": int(model.count_params()),
        "machine": platform.machine(), "history": history, "train_seconds": train_seconds,
    }
    save_run(out, model, spec, prep.x["test"], prep.y["test"], calib, metrics)
    verdict = "beats" if metrics["beats_persistence"] else "does NOT beat"
    log(f"test MSE {cnn['test_mse']:.5f}, MAE {cnn['test_mae']:.5f} (scaled); MAE {cnn['test_mae_units']:.2f} "
        f"{units}, RMSE {cnn['test_rmse_units']:.2f} {units} on {n['test']} windows")
    log(f"persistence (next = last): MSE {persist['test_mse']:.5f}, MAE {persist['test_mae_units']:.2f} {units}, "
        f"RMSE {persist['test_rmse_units']:.2f} {units} — the CNN {verdict} persistence; wrote {out}")
    return metrics


def _fmt_t(t: float) -> str:
    from edgekit.edge.io.rows import format_time
    return format_time(t) if np.isfinite(t) else "-"
