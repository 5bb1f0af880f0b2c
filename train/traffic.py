"""Task ``traffic``: forecast the next 5-minute value (mean speed by default) at a road detector.

Data: a detector CSV (``Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate``; ``OccRate`` accepted) or the synthetic feed of
:mod:`edgekit.train.traffic_data`, read by the device's row parser and continuity rules
(:func:`edgekit.edge.formats.rows.read_table`, :class:`~edgekit.edge.frontend.rows.Continuity`), so training finds the
malformed rows ``edge-run`` finds (a wrong field count, a value that is not a number, a bad time, a row not after the
previous one). The first is a one-line error naming file, line and column (a training set should be clean), unless
``malformed="skip"`` skips and counts them as ``edge-run`` does on a stream.

Windows: ``look_back`` rows predict the next row's target, assembled as the device assembles them, so no window spans a
time gap unless ``fill`` fills it (filled rows are never targets); they stay raw (float64) and reach the model through
the spec's front end, the very call the device makes. Split: chronological by target row (test the last 20 % of the
rows, validation the 10 % before, training the rest); the min-max scalers are fitted on the training rows only. Model:
the course's Conv1D(32, 6) → Flatten → Dense(16) → Dense(1), Adam, MSE; the metrics compare it with persistence (next =
last) on the same test windows.

Several horizons (``horizons``, minutes): each window predicts the rows that far ahead (all real, in its segment), one
output each; a window belongs to a part only if all its targets do (windows straddling a boundary are left out). The
forecaster (:func:`edgekit.train.models.traffic_forecaster`) also reads columns derived from each row's time (harmonics
of the time of day and week, the target's mean by time of day over the training rows: ``features.time`` and
``features.profile``, computed by the device's :func:`~edgekit.edge.frontend.rows.time_values`); the metrics add, per
horizon, the baselines of :mod:`edgekit.train.traffic_horizons`.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit.convert.rundir import prepare_out, save_run
from edgekit.convert.tf import quiet_tensorflow
from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.rows import (DATE_COLUMN, DATE_FORMAT, VDS_COLUMNS, RowTable, column_key, parse_table,
                                  read_table, units_of)
from edgekit.edge.frontend.rows import MAX_FILL_ROWS, STEP_SECONDS, Continuity, Series, assemble, format_time
from edgekit.edge.core.spec import Spec

from .traffic_horizons import BASELINE_NOTES, DEFAULT_TIME, fit_profile, parse_horizons, parse_time, rows_ahead

DEFAULT_LOOK_BACK = 288          # one day of 5-minute rows
TEST_FRACTION = 0.2
VAL_FRACTION = 0.1
CALIB_KEEP = 1000                # raw training windows kept (shuffled) for int8 calibration
SYNTH_DAYS = 28
MALFORMED = ("error", "skip")    # what a malformed row does: stop training, or skip it as the device does
ARCHS = ("course", "forecaster")  # the course's Conv1D, or the forecaster of several horizons (models.py)


# -- loading ----------------------------------------------------------------------------------------

@dataclass
class DetectorData:
    """Detector rows as the device accepts them: times (epoch seconds), numeric columns by canonical name,
    source line numbers, and the malformed rows skipped."""

    source: str
    times: np.ndarray                    # (N,) float64
    columns: dict[str, np.ndarray]       # canonical name → (N,) float64
    lines: np.ndarray                    # (N,) file line of each row (header = line 1)
    date_column: str = DATE_COLUMN
    date_format: str = DATE_FORMAT
    skipped: list[tuple[int, str]] = field(default_factory=list)   # (line, why) of each skipped row
    notes: list[str] = field(default_factory=list)                 # the parser's notes (a repeated header)

    def __len__(self) -> int:
        return len(self.times)

    def resolve(self, name: str, what: str) -> str:
        """A user-given column name → the canonical one (``occrate`` → ``Occ.Rate``)."""
        for c in self.columns:
            if column_key(c) == column_key(name):
                return c
        raise EdgekitError(f"{what} {name!r} is not a column of {self.source} (columns: {', '.join(self.columns)})")

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        return np.stack([self.columns[n] for n in names], axis=1)


def _canonical(header: str) -> str:
    """A header name → the VDS spelling when it is one of the VDS columns (``OccRate`` → ``Occ.Rate``)."""
    return next((c for c in VDS_COLUMNS if column_key(c) == column_key(header)), header.strip())


def load_detector_csv(path: str | Path, columns: Sequence[str] | None = None,
                      date_column: str = DATE_COLUMN, date_format: str = DATE_FORMAT,
                      malformed: str = "error") -> DetectorData:
    """Read a detector CSV as the device does; ``columns``: the numeric ones needed (any spelling; default
    all), ``malformed``: ``error`` (the first is a one-line error) or ``skip`` (listed in ``skipped``)."""
    if malformed not in MALFORMED:
        raise ValueError(f"malformed={malformed!r}: use one of {MALFORMED}")
    table = read_table(str(path), columns, date_column=date_column, date_format=date_format,
                       strict=malformed == "error")
    return _accept(table, str(path), date_format, strict=malformed == "error")


def _accept(table: RowTable, source: str, date_format: str, strict: bool) -> DetectorData:
    """The parsed rows the device would accept: a row not after the previous accepted one (the device's
    :class:`~edgekit.edge.frontend.rows.Continuity` says ``back``) is malformed — an error, or skipped."""
    order = Continuity()
    keep = np.ones(len(table.times), bool)
    skipped = list(table.skipped)
    for i, (t, line) in enumerate(zip(table.times, table.lines)):
        prev = order.last_t
        if order.advance(t, table.values[i])[0] != "back":
            continue
        if strict:
            raise EdgekitError(f"{source}: line {line}, column {table.date_column!r}: {format_time(t)} is not after "
                               f"the previous row's {format_time(prev)}; sort the rows and remove duplicates")
        skipped.append((line, f"time {format_time(t)} is not after the previous row's {format_time(prev)}"))
        keep[i] = False
    skipped.sort()
    if not keep.any():
        why = f" ({len(skipped)} malformed row(s) skipped; the first: line {skipped[0][0]}: {skipped[0][1]})" \
            if skipped else ""
        raise EdgekitError(f"{source}: line {table.header_line} is a header but no data rows follow{why}")
    cols = {_canonical(name): table.values[keep, k] for k, name in enumerate(table.columns)}
    return DetectorData(source, table.times[keep], cols, np.asarray(table.lines, np.int64)[keep],
                        date_column=table.date_column, date_format=date_format, skipped=skipped,
                        notes=list(table.notes))


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


def synthetic_detector(days: int = SYNTH_DAYS, seed: int = 0) -> DetectorData:
    """The built-in synthetic feed (see :mod:`edgekit.train.traffic_data`): its CSV lines, read as a file
    written by ``edgekit data synth traffic`` is read."""
    from .traffic_data import synthetic_traffic, traffic_csv_lines

    source = f"synthetic ({days} days, seed {seed})"
    table = parse_table(traffic_csv_lines(synthetic_traffic(days, seed)), None, source=source)
    return _accept(table, source, DATE_FORMAT, strict=True)


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
    return {"type": "minmax", "min": [float(v) for v in x.min(axis=0)], "max": [float(v) for v in x.max(axis=0)]}


@dataclass
class Prepared:
    """Everything training needs: the spec and the raw windows / scaled targets of each part."""

    spec: Spec
    series: Series
    x: dict[str, np.ndarray]               # part → raw windows (n, look_back, C) float64, as parsed
    y: dict[str, np.ndarray]               # part → scaled target (n,) float32
    last: dict[str, np.ndarray]            # part → raw target value of each window's last row (persistence)
    target_times: dict[str, np.ndarray]    # part → epoch seconds of each window's target row
    boundaries: dict[str, float]           # val / test: first target time of the part
    columns: list[str]
    target: str

    def inputs(self, part: str) -> np.ndarray:
        """A part's model inputs (float32): its raw windows through the spec's front end — the call the
        device makes on each window it forms, with the same min-max scaler."""
        return fe.build(self.spec)(self.x[part])


def make_windows(series: Series, look_back: int, target_col: int, columns_idx: Sequence[int],
                 ahead: Sequence[int] = (1,), derived: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Windows of ``look_back`` rows inside one segment, each predicting the rows ``ahead`` of its last one (default:
    the next), which must be real rows of the same segment: raw windows (n, look_back, C), the raw target (n,), or (n,
    len(ahead)) for several, the last row's target value (n,) and the first target rows' indices in the series.
    ``derived``: (rows, k) columns derived from each row's time, appended to the window's columns."""
    origins = series.window_ends(look_back)                    # rows i-look_back+1 … i in one segment
    origins = origins[origins + max(ahead) < len(series.times)]
    for a in ahead:                                            # every target row real, in the window's segment
        same = series.segment_start[origins + a] == series.segment_start[origins]
        origins = origins[series.real[origins + a] & same]
    idx = origins[:, None] - look_back + 1 + np.arange(look_back)[None, :]
    vals = series.values
    x = vals[idx][:, :, list(columns_idx)]
    if derived is not None and derived.shape[1]:
        x = np.concatenate([x, derived[idx]], axis=2)
    y = vals[origins[:, None] + np.asarray(ahead)[None, :], target_col]
    last = vals[origins, target_col]
    return x, (y[:, 0] if len(ahead) == 1 else y), last, origins + ahead[0]


def prepare(data: DetectorData, look_back: int = DEFAULT_LOOK_BACK, target: str = "Speed",
            features: Sequence[str] | str | None = None, fill: str | None = None,
            max_fill_rows: int = MAX_FILL_ROWS, step_seconds: float | None = None,
            test_fraction: float = TEST_FRACTION, val_fraction: float = VAL_FRACTION,
            horizons: Sequence[float] | None = None, time: dict[str, int] | None = None,
            profile: bool = False) -> Prepared:
    """Detector rows → spec (scalers fitted on training rows) and chronological train/val/test windows. ``horizons``
    (minutes): one target per horizon (default: the next row); ``time``: harmonics of the time of day / week per row;
    ``profile``: the target's mean by time of day over the training rows, at each row and each horizon ahead."""
    target = data.resolve(target, "--target")
    names = feature_names(features)
    names = list(data.columns) if names is None else names
    columns = list(dict.fromkeys([target, *(data.resolve(n, "--features") for n in names)]))
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 0.9:
        raise EdgekitError("the test and validation fractions must leave most rows for training")
    if look_back < 1:
        raise EdgekitError(f"--look-back {look_back}: give at least one row")
    step = float(step_seconds or infer_step(data.times))
    ahead = [1] if horizons is None else rows_ahead(horizons, step)
    everything = [target] + [c for c in data.columns if c != target and c in columns]
    series = assemble(data.times, data.matrix(everything), step_seconds=step, fill=fill,
                      max_fill_rows=max_fill_rows, lines=data.lines, source=data.source)
    n_rows = len(data)
    n_test, n_val = int(round(n_rows * test_fraction)), int(round(n_rows * val_fraction))
    t_test = data.times[n_rows - n_test] if n_test else np.inf
    t_val = data.times[n_rows - n_test - n_val] if n_val else t_test
    train_rows = series.real & (series.times < t_val)               # the scalers are fitted on training rows only
    rows = series.values[train_rows]
    tscale = {"type": "minmax", "min": float(rows[:, 0].min()), "max": float(rows[:, 0].max())}
    prof = fit_profile(series.times[train_rows], rows[:, 0], step, [0, *ahead]) if profile else None
    feat = fe.rows_features(columns, target, step, fill, max_fill_rows, DATE_COLUMN, data.date_format, time, prof)
    col_idx = [everything.index(c) for c in columns]
    x, y_raw, last, ends = make_windows(series, look_back, 0, col_idx, ahead,
                                        fe.rows.time_values(series.times, feat, step))
    if len(x) == 0:
        plus = "a next row" if horizons is None else f"the row {ahead[-1]} ahead"
        raise EdgekitError(f"{data.source}: no window of {look_back} consecutive rows plus {plus} "
                           f"({n_rows} rows, {len(series.gaps)} gap(s)); use a shorter --look-back"
                           f"{', shorter --horizons' if horizons else ''} or --fill")
    if horizons is not None:
        y_raw = y_raw.reshape(len(y_raw), -1)                       # one column per horizon
    tt = series.times[ends]                                         # the first target of each window
    t_last = series.times[ends + ahead[-1] - ahead[0]]              # and the last: no part sees another's rows
    part_of = np.where(tt >= t_test, 2, np.where(tt >= t_val, np.where(t_last < t_test, 1, -1),
                                                 np.where(t_last < t_val, 0, -1)))
    names = ("train", "val", "test")
    counts = {p: int((part_of == i).sum()) for i, p in enumerate(names)}
    if counts["train"] < 2 or counts["test"] < 1:
        raise EdgekitError(f"{data.source}: {n_rows} rows give {counts['train']} training and {counts['test']} "
                           f"test windows of {look_back} rows; give more data or a shorter --look-back")
    norm = fit_minmax(rows[:, col_idx])
    for name in fe.rows.time_columns(feat):            # sin/cos in [-1, 1]; the profile in the target's range
        lo, hi = (tscale["min"], tscale["max"]) if name.startswith("profile") else (-1.0, 1.0)
        norm["min"].append(lo)
        norm["max"].append(hi)
    target_spec = {"column": target, "units": units_of(target, step), "scaling": tscale}
    if horizons is not None:
        target_spec["horizons"] = [int(m) if float(m).is_integer() else float(m) for m in horizons]
    spec = Spec(task="traffic", kind="regression", sample_rate=1.0 / step, window=int(look_back),
                input_shape=(int(look_back), x.shape[2]), normalization=norm, features=feat, target=target_spec)
    y_scaled = fe.normalize(y_raw, tscale)
    out = Prepared(spec, series, {}, {}, {}, {}, {"val": float(t_val), "test": float(t_test)}, columns, target)
    for i, p in enumerate(names):
        m = part_of == i
        out.x[p] = x[m]
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
                  verbose: int = 2, log=print, malformed: str = "error", horizons: Sequence[float] | str | None = None,
                  time: dict[str, int] | str | None = "default", profile: bool | None = None,
                  arch: str | None = None) -> dict[str, Any]:
    """Train the course's traffic CNN, or the forecaster of several horizons, and write the run directory; returns the
    metrics. ``data``: a detector CSV, or None for the synthetic feed (``days`` days, ``seed``). ``patience``: stop
    after that many epochs without a lower validation loss and keep the best epoch's weights (None: all ``epochs``,
    the last's). ``horizons``: minutes ahead, one output each (default: the next row); ``arch``: ``course`` or
    ``forecaster`` (default: the forecaster with ``horizons``); ``time`` (harmonics of the time of day / week, e.g.
    ``"day,week"``) and ``profile`` (the historical average as inputs) default to the forecaster's choice."""
    horizons = parse_horizons(horizons) if horizons is None or isinstance(horizons, str) else list(horizons)
    arch = arch or ("forecaster" if horizons else "course")
    if arch not in ARCHS:
        raise EdgekitError(f"--arch {arch}: use one of {', '.join(ARCHS)}")
    time = DEFAULT_TIME if time == "default" and arch == "forecaster" else None if time == "default" else \
        parse_time(time) if time is None or isinstance(time, str) else dict(time)
    profile = arch == "forecaster" if profile is None else bool(profile)
    if profile and arch != "forecaster":
        raise EdgekitError("--profile feeds the historical average to the forecaster, which predicts the difference "
                           "from it; use it with --arch forecaster (or give --no-profile)")
    prepare_out(out)                    # an unwritable --out fails now, not after training
    # Data first: a bad file is reported before TensorFlow takes seconds to start.
    ds = synthetic_detector(days, seed) if data is None else \
        load_detector_csv(data, needed_columns(target, features), malformed=malformed)
    step = infer_step(ds.times)
    prep = prepare(ds, look_back, target, features, fill, max_fill_rows, step, horizons=horizons, time=time,
                   profile=profile)
    log(f"data: {len(ds)} rows every {step / 60:g} min from {ds.source}, columns {', '.join(ds.columns)}")
    for note in ds.notes[:5]:
        log(f"note: {note}")
    if ds.skipped:
        first = "; ".join(f"line {line}: {why}" for line, why in ds.skipped[:3])
        log(f"malformed: {len(ds.skipped)} row(s) skipped, as edge-run skips them ({first}"
            f"{'; …' if len(ds.skipped) > 3 else ''})")

    quiet_tensorflow()
    from .fit import fit, seed_everything
    from .models import traffic_cnn, traffic_forecaster
    spec = prep.spec
    g = prep.series.gaps
    if g:
        filled = sum(x["missing"] for x in g if x["filled"])
        how = f"{filled} filled ({fill}, gaps of at most {max_fill_rows} rows)" if fill else "none filled"
        log(f"gaps: {len(g)} ({sum(x['missing'] for x in g)} missing rows; {how}; no window spans an unfilled gap)")
    n = {p: len(prep.x[p]) for p in prep.x}
    derived = fe.rows.time_columns(spec.features)
    what = f"+{', +'.join(f'{m:g}' for m in horizons)} min of" if horizons else "next"
    log(f"windows: {look_back} rows × {len(prep.columns)} column(s) ({', '.join(prep.columns)}"
        f"{f' and {len(derived)} from the time: ' + ', '.join(derived) if derived else ''}) → {what} "
        f"{prep.target}; chronological split train {n['train']} / val {n['val']} / test {n['test']} "
        f"(test from {_fmt_t(prep.boundaries['test'])}); scaler fitted on the training rows")

    x = {p: prep.inputs(p) for p in prep.x}
    seed_everything(seed)
    n_out = len(horizons or [1])
    if arch == "course":
        model = traffic_cnn(look_back, spec.input_shape[-1], n_out)
    else:
        n_prof = len(spec.features["profile"]["ahead_rows"]) if profile else 0
        model = traffic_forecaster(look_back, len(prep.columns), len(derived) - n_prof, n_prof, n_out)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    result = fit(model, x["train"], prep.y["train"], x["val"], prep.y["val"], epochs=epochs, batch_size=batch_size,
                 verbose=verbose, patience=patience, keep_best=False)

    tscale = spec.target["scaling"]
    pred = model.predict(x["test"], batch_size=256, verbose=0)
    cnn = regression_metrics(pred.reshape(-1), prep.y["test"], tscale)
    last = fe.normalize(prep.last["test"], tscale)
    persist = regression_metrics(np.repeat(last[:, None], n_out, axis=1) if horizons else last, prep.y["test"], tscale)
    calib = prep.x["train"][np.random.default_rng(seed).permutation(n["train"])[:CALIB_KEEP]]
    units = spec.target["units"]
    metrics = {
        "task": "traffic", "target": prep.target, "units": units, "columns": prep.columns,
        "look_back": int(look_back), "step_seconds": step, "fill": fill, **cnn, "persistence": persist,
        "beats_persistence": bool(cnn["test_mse"] < persist["test_mse"]),
        "n_rows": int(len(ds)), "malformed_rows": len(ds.skipped), "gaps": len(g),
        "missing_rows": int(sum(x["missing"] for x in g)), "filled_rows": int((~prep.series.real).sum()),
        "n_train": n["train"], "n_val": n["val"], "n_test": n["test"],
        "test_from": _fmt_t(prep.boundaries["test"]), "val_from": _fmt_t(prep.boundaries["val"]),
        "scaler": {"fitted_on": "training rows", "normalization": spec.normalization, "target": tscale},
        "data": ds.source, "epochs": epochs, "batch_size": batch_size, "seed": seed,
        "parameters": int(model.count_params()), "machine": platform.machine(), **result,
    }
    if horizons or derived or arch != "course":
        metrics.update(arch=arch, time_inputs=derived)
    if horizons:
        from .traffic_horizons import course_baselines, horizon_metrics, log_horizons
        course = course_baselines(prep, x, epochs=epochs, batch_size=batch_size, patience=patience, seed=seed, log=log)
        metrics.update(horizons=spec.target["horizons"], by_horizon=horizon_metrics(prep, pred, course),
                       baselines=BASELINE_NOTES)
    save_run(out, model, spec, prep.x["test"], prep.y["test"], calib, metrics)
    verdict = "beats" if metrics["beats_persistence"] else "does NOT beat"
    log(f"test MSE {cnn['test_mse']:.5f}, MAE {cnn['test_mae']:.5f} (scaled); MAE {cnn['test_mae_units']:.2f} "
        f"{units}, RMSE {cnn['test_rmse_units']:.2f} {units} on {n['test']} windows"
        f"{' (all horizons)' * bool(horizons)}")
    if horizons:
        log_horizons(metrics["by_horizon"], units, n["test"], log)
        log(f"wrote {out}")
    else:
        log(f"persistence (next = last): MSE {persist['test_mse']:.5f}, MAE {persist['test_mae_units']:.2f} {units}, "
            f"RMSE {persist['test_rmse_units']:.2f} {units} — the CNN {verdict} persistence; wrote {out}")
    return metrics


def _fmt_t(t: float) -> str:
    return format_time(t) if np.isfinite(t) else "-"
