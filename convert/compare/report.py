"""The report's outputs: the terminal tables (artifacts, per-layer errors), the CSV, the PNG plot, and
JSON-safe values."""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge import frontend as fe

from .metrics import MAX_FPR, REGRESSION_AGREEMENT_TOL


def finite(v: Any) -> Any:
    """NaN/inf → None so that the JSON stays valid (an artifact that outputs NaN shows as null)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


def short_names(paths: list) -> list[str]:
    names = [Path(p).name for p in paths]
    if len(set(names)) < len(names):       # same file name in different directories: show more
        names = [Path(p).parent.name + "/" + Path(p).name for p in paths]
    return names


def _display_names(rows: list[dict[str, Any]]) -> list[str]:
    names = short_names([r["artifact"] for r in rows])
    return [n + (" *" if r["reference"] else "") for n, r in zip(names, rows)]


def _table(header: list[str], body: list[list[str]], left: int) -> list[str]:
    """Aligned text columns: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    head = line(header)
    return [head, "─" * len(head)] + [line(b) for b in body]


def _fmt(v, spec: str, none: str = "n/a") -> str:
    return none if v is None else format(v, spec)


def print_table(rows: list[dict[str, Any]], log=print) -> None:
    """The terminal table: aligned columns, the float reference marked with *, deltas against it."""
    ref = next(r for r in rows if r["reference"])
    classification, anomaly = ref["metric"] == "accuracy", ref["metric"] == "auc"
    names = _display_names(rows)
    horizons = list(ref.get("by_horizon") or ())
    metric = ["accuracy", "Δ pp", "macro-F1"] if classification else ["AUC", "Δ AUC", "pAUC", "TPR", "FPR"] \
        if anomaly else ["MSE", "Δ MSE", "MAE", f"MAE [{ref.get('unit') or 'units'}]", *(f"+{m} min" for m in horizons)]
    header = ["artifact", "format", "precision", "size MB", "×ref", *metric, "agreement", "max|Δout|", "p50 ms",
              "p99 ms", "speed-up", "peak MB"]
    body = []
    for n, r in zip(names, rows):
        is_ref = r["reference"]
        cells = [n, r["format"], r["precision"], f"{r['size_bytes'] / 1e6:.2f}",
                 "—" if is_ref else f"{r['size_ratio']:.2f}"]
        if classification:
            cells += [_fmt(r["value"], ".4f"), "—" if is_ref else _fmt(None if r["delta"] is None
                                                                        else r["delta"] * 100, "+.2f"),
                      _fmt(r.get("macro_f1"), ".4f")]
        elif anomaly:
            cells += [_fmt(r["value"], ".4f"), "—" if is_ref else _fmt(r["delta"], "+.4f"), _fmt(r.get("pauc"), ".4f"),
                      _fmt(r.get("tpr"), ".1%"), _fmt(r.get("fpr"), ".1%")]
        else:
            cells += [_fmt(r["value"], ".5f"), "—" if is_ref else _fmt(r["delta"], "+.5f"),
                      _fmt(r.get("mae"), ".5f"), _fmt(r.get("mae_physical"), ".3f"),
                      *(_fmt(r["by_horizon"][m]["mae_physical"], ".3f") for m in horizons)]
        lat = r["latency_ms"]
        cells += [_fmt(r["agreement"], ".4f" if anomaly else ".2%"), _fmt(r["max_abs_diff"], ".2e"), _fmt(lat["p50"], ".3f"),
                  _fmt(lat["p99"], ".3f"), "—" if is_ref else _fmt(r["speedup_p50"], ".1f") + "×",
                  _fmt(r["peak_rss_mb"], ".0f")]
        body.append(cells)
    for line in _table(header, body, left=3):
        log(line)
    what = "top-1 agreement" if classification else \
        "Spearman's rank correlation of the scores with the reference's; AUC over all test windows, pAUC up to a " \
        f"false-positive rate of {MAX_FPR:g}, TPR/FPR = anomalous/normal windows flagged at the threshold " \
        f"{ref.get('threshold', 0):.6g}" if anomaly else \
        f"share of windows within {REGRESSION_AGREEMENT_TOL:.0%} of the reference's output range"
    kind = "float reference" if ref["precision"] == "float32" else \
        f"reference ({ref['precision']}: no float32 artifact was given)"
    per = f"; +N min = MAE [{ref.get('unit') or 'units'}] at that horizon (the others: all horizons)" * bool(horizons)
    log(f"* {kind}. Δ and ×ref against it; agreement = {what}; max|Δout| = largest output "
        f"difference; latency = one window, front end + model, {ref.get('latency_runs', '?')} runs; peak MB = "
        f"process peak RSS while running it{per}.")
    for r in rows:
        if r.get("nan_outputs"):
            log(f"warning: {Path(r['artifact']).name} produced {r['nan_outputs']} NaN/inf output values")


def print_layers(rows: list[dict[str, Any]], top: int = 10, log=print) -> None:
    """The ``top`` layers with the largest quantization error of every int8 artifact."""
    for r in rows:
        info = r.get("layers")
        if not info:
            continue
        log("")
        log(f"per-layer quantization error: {Path(r['artifact']).name} ({info['tool']}, {info['windows']} "
            f"test windows)")
        layers = info["layers"]
        if not layers:
            log("  no quantized layers were found")
            continue
        shown = layers[:top]
        if info["format"] == "tflite":
            header = ["#", "op", "tensor", "scale", "rmse/scale", "mean err/scale", "max|err|/scale"]
            body = [[str(i + 1), L["op"], _short(L["tensor"]), f"{L['scale']:.3g}", f"{L['rmse_over_scale']:.3f}",
                     f"{L['mean_error_over_scale']:+.3f}", f"{L['max_abs_error_over_scale']:.2f}"]
                    for i, L in enumerate(shown)]
        else:
            header = ["#", "op", "node", "scale", "drop dB", "SQNR dB", "QDQ SQNR dB", "rmse/scale", "clipped"]
            body = [[str(i + 1), L["op"], _short(L["node"]), f"{L['scale']:.3g}",
                     _fmt(L.get("sqnr_drop_db"), "+.1f", "—"), _fmt(L.get("sqnr_db"), ".1f", "—"),
                     f"{L['qdq_sqnr_db']:.1f}", _fmt(L["rmse_over_scale"], ".3f", "—"), f"{L['clipped_fraction']:.2%}"]
                    for i, L in enumerate(shown)]
        for line in _table(header, body, left=3):
            log("  " + line)
        if len(layers) > top:
            log(f"  ... {len(layers) - top} more layer(s) in --json")
        log("  " + info["explanation"])
        if info.get("weights"):
            log("  weights with the lowest SQNR: " + ", ".join(
                f"{_short(w['weight'], 40)} ({w['op']}) {w['sqnr_db']:.1f} dB" for w in info["weights"][:3]))
        worst = layers[0]
        log(f"  worst: {worst['op']} {_short(worst.get('node') or worst['tensor'])}; {info['keep_in_float']}")


def _score_panels(fig, grid, rows, names, outputs, y, ncols: int) -> None:
    """One panel per artifact: histograms of the scores of normal and anomalous test windows (log scale: scores span
    decades) and the threshold, titled with the AUC and the shares flagged."""
    import matplotlib
    from edgekit.edge.core.anomaly import scores
    bad = np.asarray(y if y is not None else [], bool)
    for i, (r, name) in enumerate(zip(rows, names)):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        if outputs is None or y is None or r["artifact"] not in outputs:
            ax.set_axis_off()
            continue
        s = np.maximum(scores(outputs[r["artifact"]]), 1e-12)
        bins = np.geomspace(s.min(), max(s.max(), s.min() * 1.01), 40)
        for part, label, color in ((~bad, "normal", "tab:blue"), (bad, "anomalous", "tab:red")):
            if part.any():
                ax.hist(s[part], bins=bins, alpha=0.55, color=color, label=f"{label} ({int(part.sum())})")
        ax.axvline(r["threshold"], color="black", ls="--", lw=1, label=f"threshold {r['threshold']:.3g}")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set(xlabel="score (log scale)", ylabel="windows")
        auc_text = "n/a" if r["value"] is None else f"{r['value']:.4f}"
        ax.set_title(f"{name}\nAUC {auc_text}; flagged: normal {_fmt(r.get('fpr'), '.1%')},\nanomalous "
                     f"{_fmt(r.get('tpr'), '.1%')}", fontsize=8)
        ax.legend(fontsize=7)


def _short(name: str, width: int = 48) -> str:
    name = name.split(";")[0]
    return name if len(name) <= width else "…" + name[-(width - 1):]


CSV_FIELDS = ["artifact", "format", "precision", "backend", "reference", "size_bytes", "size_ratio", "metric",
              "value", "delta", "macro_f1", "mse", "mae", "mse_physical", "mae_physical", "unit", "agreement",
              "max_abs_diff", "mean_abs_diff", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
              "latency_mean_ms", "speedup_p50", "peak_rss_mb", "n_test"]


def write_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """One line per artifact with the scalar columns of the JSON rows (latency flattened; a forecaster's MAE and RMSE
    in physical units per horizon as ``mae_physical_15min``, ``rmse_physical_15min``, ...)."""
    path = Path(path)
    horizons = list(rows[0].get("by_horizon") or ()) if rows else []
    fields = CSV_FIELDS + [f"{k}_{m}min" for m in horizons for k in ("mae_physical", "rmse_physical")]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            flat = {**r, **{f"latency_{k}_ms": v for k, v in r["latency_ms"].items()},
                    **{f"{k}_{m}min": v for m, h in (r.get("by_horizon") or {}).items() for k, v in h.items()}}
            w.writerow({k: ("" if flat.get(k) is None else flat.get(k)) for k in fields})
    return path


def write_plot(report: dict[str, Any], path: str | Path, outputs: dict[str, np.ndarray] | None = None,
               y: np.ndarray | None = None) -> Path:
    """A PNG: the task metric against latency (p50) and against file size, one point per artifact; for
    classifiers the confusion matrix of every artifact, for regression predicted against true values, for an anomaly
    model the distributions of the scores of normal and anomalous windows under every artifact, with the threshold."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    names = [n.rstrip(" *") for n in _display_names(rows)]
    classification, anomaly = report["kind"] == "classification", report["kind"] == "anomaly"
    n = len(rows)
    ncols = min(max(n, 2), 5)
    nconf = math.ceil(n / ncols) if classification or anomaly else 1
    fig = plt.figure(figsize=(max(11.0, 3.3 * ncols), 4.4 + 3.4 * nconf), layout="constrained")
    gs = fig.add_gridspec(2, 1, height_ratios=[4.4, 3.4 * nconf])
    top = gs[0].subgridspec(1, 2)
    if classification:
        metric = [r["value"] * 100 if r["value"] is not None else np.nan for r in rows]
        ylabel = "accuracy on the test split (%)"
    elif anomaly:
        metric = [r["value"] if r["value"] is not None else np.nan for r in rows]
        ylabel = "AUC on the test windows"
    else:
        metric = [r.get("mae_physical") if r.get("mae_physical") is not None else np.nan for r in rows]
        ylabel = f"MAE [{rows[0].get('unit') or 'units'}] (lower is better)"
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = {"keras": "*", "tflite": "o", "onnx": "s"}
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    for k, (xkey, xlabel) in enumerate((("lat", "latency per window, p50 (ms)"), ("size", "file size (MB)"))):
        ax = fig.add_subplot(top[0, k])
        xs = [r["latency_ms"]["p50"] if xkey == "lat" else r["size_bytes"] / 1e6 for r in rows]
        placed: list[tuple[float, float]] = []
        for i, (x, yv, name, r) in enumerate(zip(xs, metric, names, rows)):
            ax.scatter([x], [yv], s=160 if r["reference"] else 70, marker=markers.get(r["format"], "o"),
                       color=colors[i % len(colors)], edgecolors="black", linewidths=0.6, zorder=3,
                       label=f"{i + 1}  {name} ({r['format']} {r['precision']})"
                             + (" — reference" if r["reference"] else ""))
            # number labels; points at the same place get their labels stacked instead of overprinted
            dup = sum(1 for (px, py) in placed if abs(px - x) <= 0.04 * max(abs(x), 1e-9)
                      and (abs(py - yv) < 1e-9 or (np.isnan(py) and np.isnan(yv))))
            placed.append((x, yv))
            ax.annotate(str(i + 1), (x, yv), textcoords="offset points", xytext=(7, 5 + 11 * dup), fontsize=9,
                        fontweight="bold")
        if max(xs) > 10 * max(min(xs), 1e-9):
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        lo, hi = (np.nanmin(metric), np.nanmax(metric)) if np.isfinite(metric).any() else (0.0, 1.0)
        pad = max((hi - lo) * 0.3, abs(hi) * 0.01, 1e-6)
        ax.set_ylim(lo - pad, hi + pad * 2)
        ax.set(xlabel=xlabel, ylabel=ylabel,
               title=f"{'accuracy' if classification else 'AUC' if anomaly else 'error'} vs "
                     f"{'latency' if xkey == 'lat' else 'size'}")
        ax.grid(True, alpha=0.3, which="both")
        if k == 0:
            ax.legend(fontsize=7, loc="best", framealpha=0.85)
    labels = report.get("labels") or []
    if classification:
        conf = gs[1].subgridspec(nconf, ncols)
        for i, (r, name) in enumerate(zip(rows, names)):
            ax = fig.add_subplot(conf[i // ncols, i % ncols])
            m = np.asarray(r["confusion"])
            ax.imshow(m, cmap="Blues")
            for (a, b), v in np.ndenumerate(m):
                ax.text(b, a, str(v), ha="center", va="center", fontsize=9,
                        color="white" if v > m.max() / 2 else "black")
            ticks = range(len(labels))
            ax.set_xticks(ticks, labels if len(labels) <= 12 else [str(t) for t in ticks], fontsize=8)
            ax.set_yticks(ticks, labels if len(labels) <= 12 else [str(t) for t in ticks], fontsize=8)
            ax.set(xlabel="predicted", ylabel="true")
            ax.set_title(f"{name}\naccuracy {r['value']:.2%}" if r["value"] is not None else name, fontsize=9)
    elif anomaly:
        _score_panels(fig, gs[1].subgridspec(nconf, ncols), rows, names, outputs, y, ncols)
    else:
        ax = fig.add_subplot(gs[1])
        scaling = (report.get("target") or {}).get("scaling") or {"type": "none"}
        unit = rows[0].get("unit") or "units"
        if outputs is not None and y is not None:
            t = fe.denormalize(np.asarray(y, np.float64).reshape(len(y), -1)[:, 0], scaling)
            for i, (r, name) in enumerate(zip(rows, names)):
                o = fe.denormalize(np.asarray(outputs[r["artifact"]], np.float64).reshape(len(y), -1)[:, 0], scaling)
                ax.scatter(t, o, s=8, alpha=0.5, color=colors[i % len(colors)], label=name)
            lo, hi = float(t.min()), float(t.max())
            ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="ideal")
            ax.legend(fontsize=8)
        first = f" (+{list(rows[0]['by_horizon'])[0]} min, the shortest horizon)" if rows[0].get("by_horizon") else ""
        ax.set(xlabel=f"true [{unit}]", ylabel=f"predicted [{unit}]",
               title=f"predicted vs true on the test split{first}")
        ax.grid(True, alpha=0.3)
    fig.suptitle(f"edgekit compare — task {report['task']}, {report['n_test']} test windows", fontsize=12)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
