"""A deterministic synthetic vehicle-detector feed, in the VDS export's layout.

Columns ``Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate``, a row every 5 minutes, ``YYYY-MM-DD H:MM`` dates, CRLF line
endings, as the real detector's file (``../shared/data/vds/vds.csv``). Training on the built-in feed reads these very
lines through the device's row parser, so it sees the rows the written file gives. Demand follows a daily profile (quiet
nights; weekdays a sharp morning and a broader evening rush hour, weekends one midday bump) times a weekly factor, with
AR(1) day-to-day noise; volumes are Poisson around it; speed is free-flow minus a congestion dip that grows steeply near
capacity, plus noise; occupancy rises with volume and falls with speed. Same ``seed``, same rows.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.rows import VDS_COLUMNS
from edgekit.edge.frontend.rows import STEP_SECONDS

START = "2017-04-02 00:00"        # a Sunday, as in vds.csv


def _daily_profile(hour: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """Demand as a fraction of capacity at each hour of day (0–24)."""
    def bump(centre, width):
        d = (hour - centre + 12) % 24 - 12
        return np.exp(-0.5 * (d / width) ** 2)
    base = 0.06 + 0.30 * bump(13.0, 4.5)                        # daytime level
    weekday = base + 0.62 * bump(8.0, 0.9) + 0.50 * bump(18.0, 1.4)
    weekend_p = 0.05 + 0.42 * bump(14.0, 3.5)
    return np.where(weekend, weekend_p, weekday)


def synthetic_traffic(days: int = 28, seed: int = 0, start: str = START,
                      step_seconds: float = STEP_SECONDS) -> dict[str, np.ndarray]:
    """``days`` days of detector rows → column name → array (``Date`` as text, the rest as numbers)."""
    if days < 1:
        raise ValueError("days must be positive")
    rng = np.random.default_rng(seed)
    per_day = int(round(86400 / step_seconds))
    n = days * per_day
    t0 = datetime.strptime(start, "%Y-%m-%d %H:%M")
    k = np.arange(n)
    hour = (k % per_day) * step_seconds / 3600.0
    dow = (t0.weekday() + k // per_day) % 7                      # Monday = 0
    weekend = dow >= 5
    weekly = np.array([1.00, 1.02, 1.03, 1.02, 1.06, 0.80, 0.72])[dow]

    def ar1(phi: float, sigma: float) -> np.ndarray:
        e = rng.normal(0.0, sigma, n)
        out = np.empty(n)
        acc = 0.0
        for i in range(n):
            acc = phi * acc + e[i]
            out[i] = acc
        return out

    day_level = np.repeat(rng.normal(1.0, 0.05, days), per_day)   # some days are busier
    demand = np.clip(_daily_profile(hour, weekend) * weekly * day_level * (1 + ar1(0.97, 0.02)), 0.02, 1.2)
    capacity = 330.0                                               # vehicles per 5 minutes
    to_vol = rng.poisson(demand * capacity * 0.92).astype(np.int64) + 4
    shares = np.stack([np.full(n, 0.74), np.full(n, 0.22 + 0.06 * (~weekend)), np.full(n, 0.04)], axis=1)
    shares /= shares.sum(axis=1, keepdims=True)
    parts = np.array([rng.multinomial(v, s) for v, s in zip(to_vol, shares)])
    sm, me, la = parts[:, 0], parts[:, 1], parts[:, 2]
    congestion = 40.0 * np.clip((demand - 0.5) / 0.5, 0.0, 1.0) ** 1.4
    speed = np.clip(62.0 - 16.0 * demand - congestion + ar1(0.9, 1.2) + rng.normal(0.0, 2.5, n), 8.0, 95.0)
    occ = np.clip(to_vol / np.maximum(speed, 5.0) * 0.9 * (1 + rng.normal(0.0, 0.05, n)), 0.2, 90.0)
    stamps = [t0 + timedelta(seconds=float(i * step_seconds)) for i in range(n)]
    dates = np.array([f"{d:%Y-%m-%d} {d.hour}:{d:%M}" for d in stamps])
    return {"Date": dates, "ToVol": to_vol, "SmVol": sm, "MeVol": me, "LaVol": la,
            "Speed": np.round(speed, 1), "Occ.Rate": np.round(occ, 2)}


def drop_gaps(table: dict[str, np.ndarray], n_gaps: int, seed: int = 0, max_rows: int = 6) -> dict:
    """Remove ``n_gaps`` runs of 1–``max_rows`` rows (a detector that went quiet), seeded."""
    if n_gaps <= 0:
        return table
    rng = np.random.default_rng(seed + 7919)
    n = len(table["Date"])
    keep = np.ones(n, bool)
    for start in rng.choice(np.arange(1, n - max_rows - 1), size=min(n_gaps, max(0, n // 20)), replace=False):
        keep[start:start + int(rng.integers(1, max_rows + 1))] = False
    return {k: v[keep] for k, v in table.items()}


def traffic_csv_lines(table: dict[str, np.ndarray], occ_header: str = "Occ.Rate") -> list[str]:
    """A detector table as the VDS export's text lines (header first, no line endings, plain numbers).
    ``occ_header`` names the last column (``Occ.Rate``, or ``OccRate`` as another export spells it)."""
    header = [c if c != "Occ.Rate" else occ_header for c in VDS_COLUMNS]
    cols = [table[c] for c in VDS_COLUMNS]
    return [",".join(header)] + [",".join(_fmt(c[i]) for c in cols) for i in range(len(cols[0]))]


def write_traffic_csv(path: str | Path, table: dict[str, np.ndarray], occ_header: str = "Occ.Rate") -> Path:
    """Write a detector table as the VDS export does (:func:`traffic_csv_lines`): CRLF line endings, a
    final CRLF."""
    path = Path(path)
    lines = traffic_csv_lines(table, occ_header)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))
    except OSError as e:
        raise EdgekitError(f"{path}: cannot write ({e.strerror or e})") from None
    return path


def _fmt(v) -> str:
    if isinstance(v, (str, np.str_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):g}"

