"""Forecasts several horizons ahead (``edgekit train traffic --horizons 15,30,60``): the options' parsing, the
historical-average profile the forecaster is fed, and what every horizon is measured against on the same test windows.

Baselines, each in the target's units with MAE, RMSE and MAPE: **persistence** (the last row's value), the **historical
average** by time of week and by time of day (the mean of the rows in the same 5-minute slot of the week, or of the day,
over every row before the test split: training and validation), and the **course's Conv1D** trained for that horizon
alone (one model per horizon, on the same data columns without time inputs, with the same epochs, patience and seed).
MAPE leaves out rows whose true value is 0.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.frontend import denormalize
from edgekit.edge.frontend.rows import MAX_AHEAD, MAX_HARMONICS, PERIODS, profile_at

DEFAULT_TIME = {"day": 2, "week": 1}     # harmonics of the time of day and of week (the forecaster's default)
DAY = 86400.0
BASELINES = ("persistence", "historical_average", "historical_average_day", "course_cnn")
BASELINE_NOTES = {
    "persistence": "the last row's value",
    "historical_average": "the mean of the same time of week (slots of one row step) over every row before the test "
                          "split (training and validation)",
    "historical_average_day": "the mean of the same time of day (slots of one row step) over every row before the "
                              "test split (training and validation)",
    "course_cnn": "the course's Conv1D trained for this horizon alone (data columns, no time inputs)",
    "mae_below_best_baseline": "1 - model MAE / the lower MAE of persistence and historical_average"}
BASELINE_NAMES = {"persistence": "persistence", "historical_average": "historical average (time of week)",
                  "historical_average_day": "historical average (time of day)", "course_cnn": "course Conv1D"}


# -- options -------------------------------------------------------------------------------------------------

def parse_horizons(text: str | None) -> list[float] | None:
    """``--horizons 15,30,60`` → [15.0, 30.0, 60.0] minutes (ascending, each once); None or '' → None (the next row)."""
    if text is None or not str(text).strip():
        return None
    out = []
    for item in str(text).split(","):
        try:
            m = float(item)
        except ValueError:
            m = float("nan")
        if not np.isfinite(m) or m <= 0 or m > 525_600:
            raise EdgekitError(f"--horizons {text}: {item.strip()!r} is not a number of minutes ahead; give positive "
                               "minutes, comma-separated, e.g. --horizons 15,30,60")
        out.append(m)
    if sorted(set(out)) != out:
        raise EdgekitError(f"--horizons {text}: give each horizon once, shortest first, e.g. --horizons 15,30,60")
    if len(out) > MAX_AHEAD - 1:
        raise EdgekitError(f"--horizons {text}: at most {MAX_AHEAD - 1} horizons")
    return out


def parse_time(text: str | None) -> dict[str, int] | None:
    """``--time day,week`` → {"day": 2, "week": 1} (``day=N``: N harmonics); ``none`` → None."""
    if text is None or str(text).strip().lower() == "none":
        return None
    out: dict[str, int] = {}
    for item in str(text).split(","):
        name, _, n = item.strip().lower().partition("=")
        if name not in PERIODS or name in out or (n and not (n.isdigit() and 1 <= int(n) <= MAX_HARMONICS)):
            raise EdgekitError(f"--time {text}: {item.strip()!r} is not a time input; give day and/or week (day=N for "
                               f"N harmonics, 1-{MAX_HARMONICS}), e.g. --time day,week, or none")
        out[name] = int(n) if n else DEFAULT_TIME[name]
    return out or None


def rows_ahead(horizons: Sequence[float], step: float) -> list[int]:
    """Minutes ahead → rows ahead at this row step; each horizon must be a whole number of rows."""
    rows = [m * 60 / step for m in horizons]
    bad = [f"{m:g}" for m, r in zip(horizons, rows) if abs(r - round(r)) > 1e-6 or round(r) < 1]
    if bad:
        raise EdgekitError(f"--horizons: {', '.join(bad)} min is not a whole number of the data's {step / 60:g}-minute "
                           f"rows; give multiples of {step / 60:g}")
    return [int(round(r)) for r in rows]


# -- the historical average -----------------------------------------------------------------------------------

def slot_means(times: np.ndarray, values: np.ndarray, period: float, step: float) -> np.ndarray:
    """The mean of ``values`` in each ``step``-long slot of ``period`` (rows off the grid go to the nearest slot);
    a slot no row falls in is interpolated between its neighbours (around the period)."""
    n = int(round(period / step))
    if abs(n * step - period) > 1e-6:
        raise EdgekitError(f"the {step / 60:g}-minute row step does not divide a {period / 3600:g}-hour period; a "
                           "historical average needs rows on a grid that repeats every day (use --no-profile)")
    slot = np.round(np.mod(np.asarray(times, np.float64), period) / step).astype(np.int64) % n
    count = np.bincount(slot, minlength=n)
    total = np.bincount(slot, weights=np.asarray(values, np.float64), minlength=n)
    have = count > 0
    means = np.where(have, total / np.maximum(count, 1), np.nan)
    if not have.all():
        k = np.flatnonzero(have)
        means = np.interp(np.arange(n), k, means[k], period=n)
    return means


def fit_profile(times: np.ndarray, values: np.ndarray, step: float, ahead_rows: Sequence[int]) -> dict[str, Any]:
    """The spec's ``features.profile``: the target's mean by time of day over the training rows, read at each row
    and ``ahead_rows`` rows later by :func:`edgekit.edge.frontend.rows.time_values`."""
    means = slot_means(times, values, DAY, step)
    return {"period_seconds": DAY, "values": [round(float(v), 4) for v in means],
            "ahead_rows": [int(a) for a in ahead_rows]}


def historical_average(times: np.ndarray, values: np.ndarray, at: np.ndarray, period: float, step: float) -> np.ndarray:
    """The historical-average forecast for the times ``at``: the mean of the rows (``times``, ``values``) in the same
    slot of ``period`` (a week or a day)."""
    return profile_at(at, {"period_seconds": period, "values": slot_means(times, values, period, step).tolist()})


# -- measuring every horizon -----------------------------------------------------------------------------------

def unit_errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and MAPE (%, rows with a true value of 0 left out) of forecasts in the target's units."""
    e = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    nz = np.asarray(true) != 0
    return {"mae": float(np.mean(np.abs(e))), "rmse": float(np.sqrt(np.mean(e ** 2))),
            "mape": float(np.mean(np.abs(e[nz]) / np.abs(np.asarray(true, np.float64)[nz])) * 100) if nz.any()
            else None}


def horizon_metrics(prep, pred: np.ndarray, course: np.ndarray | None) -> dict[str, dict[str, Any]]:
    """Per horizon (minutes, as text): the model's and each baseline's errors on the test windows, in the target's
    units (``pred`` and ``course``: scaled outputs (n, horizons)), and how much lower the model's MAE is than the
    better of persistence and the historical average by time of week."""
    spec = prep.spec
    tscale, step = spec.target["scaling"], 1.0 / spec.sample_rate
    minutes = spec.target["horizons"]
    ahead = rows_ahead(minutes, step)
    series = prep.series
    history = series.real & (series.times < prep.boundaries["test"])       # every row before the test split
    h_t, h_v = series.times[history], series.values[history, 0]
    true = denormalize(np.asarray(prep.y["test"], np.float64), tscale)
    t0 = prep.target_times["test"] - ahead[0] * step                          # each window's last row
    out = {}
    for j, (m, a) in enumerate(zip(minutes, ahead)):
        at = t0 + a * step
        row = {"rows_ahead": a, "model": unit_errors(denormalize(pred[:, j].astype(np.float64), tscale), true[:, j]),
               "persistence": unit_errors(prep.last["test"], true[:, j]),
               "historical_average": unit_errors(historical_average(h_t, h_v, at, PERIODS["week"], step), true[:, j]),
               "historical_average_day": unit_errors(historical_average(h_t, h_v, at, DAY, step), true[:, j]),
               "course_cnn": None if course is None else
               unit_errors(denormalize(course[:, j].astype(np.float64), tscale), true[:, j])}
        best = min(row["persistence"]["mae"], row["historical_average"]["mae"])
        row["mae_below_best_baseline"] = 1.0 - row["model"]["mae"] / best if best > 0 else None
        out[f"{m:g}"] = row
    return out


def course_baselines(prep, x: dict[str, np.ndarray], *, epochs: int, batch_size: int, patience: int | None,
                     seed: int, log: Callable[[str], Any]) -> np.ndarray:
    """The course's Conv1D trained for each horizon alone on the data columns (no time inputs): its scaled test
    outputs (n, horizons)."""
    from edgekit.convert.tf import keras_outputs

    from .fit import fit, seed_everything
    from .models import traffic_cnn

    n_cols = len(prep.columns)
    outs = []
    for j, m in enumerate(prep.spec.target["horizons"]):
        seed_everything(seed)
        model = traffic_cnn(prep.spec.window, n_cols)
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        r = fit(model, x["train"][:, :, :n_cols], prep.y["train"][:, j], x["val"][:, :, :n_cols], prep.y["val"][:, j],
                epochs=epochs, batch_size=batch_size, verbose=0, patience=patience, keep_best=False)
        log(f"baseline: the course's Conv1D for +{m:g} min alone, {r['epochs_run']} epochs (best {r['best_epoch']})")
        outs.append(keras_outputs(model, x["test"][:, :, :n_cols], 256).reshape(-1))
    return np.stack(outs, axis=1)


def log_horizons(by: dict[str, dict[str, Any]], units: str, n_test: int, log: Callable[[str], Any]) -> None:
    """One line per horizon: the model's MAE/RMSE/MAPE, then each baseline's MAE."""
    log(f"per horizon on the {n_test} test windows (MAE / RMSE in {units}, MAPE):")
    for m, r in by.items():
        mod = r["model"]
        base = ", ".join(f"{BASELINE_NAMES[b]} {r[b]['mae']:.2f}" for b in BASELINES if r.get(b) is not None)
        below = r["mae_below_best_baseline"]
        mape = "n/a" if mod["mape"] is None else f"{mod['mape']:.1f} %"
        verdict = "" if below is None else \
            f" | {abs(below):.1%} {'below' if below >= 0 else 'ABOVE'} the better of persistence and the week's average"
        log(f"  +{m} min: MAE {mod['mae']:.2f}, RMSE {mod['rmse']:.2f}, MAPE {mape} | MAE of {base}{verdict}")
