"""Soak: a 24-hour-equivalent stream through edge-run in fixed memory, every window accounted for.

Streams ``--hours`` (default 24) of the synthetic source through ``edge-run --json`` on the STFT int8 model,
as fast as the machine goes, reads every result line, and samples the process's RSS (``/proc/PID/status``)
twice a second. Checks: RSS at the end is within ``--max-growth-mb`` (2) of RSS once the stream is warm
(see below); the number of result lines equals the summary's ``windows`` and the windows
the duration holds (``floor(seconds × rate / window)``); no window dropped or invalid; timestamps
consecutive. Writes benchmarks/results/soak.json; exits 1 when a check fails.

Usage: python benchmarks/soak.py [--model M.tflite] [--hours H]   (``make soak``)
Without --model it trains a small STFT model first (under a minute).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def rss_mb(pid: int) -> float | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help=".tflite model (default: train a small STFT model, int8)")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--max-growth-mb", type=float, default=2.0)
    ap.add_argument("--out", default=str(HERE / "results" / "soak.json"))
    args = ap.parse_args()

    model = args.model
    if model is None:
        d = Path(tempfile.mkdtemp())
        data = d / "data.pkl"
        subprocess.run([BIN / "edgekit", "data", "synth", "stft", "--n", "200", "--seed", "3", "--out", data],
                       check=True, capture_output=True)
        subprocess.run([BIN / "edgekit", "train", "stft", "--data", data, "--epochs", "3", "--out", d / "stft"],
                       check=True, capture_output=True)
        subprocess.run([BIN / "edgekit", "convert", d / "stft", "--to", "tflite", "--precision", "int8"],
                       check=True, capture_output=True)
        model = str(d / "stft" / "stft_int8.tflite")
    seconds = args.hours * 3600
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN / "edge-run", "--model", model, "--source", "synthetic", "--duration", repr(seconds),
                          "--threads", "1", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int, float]] = []     # (seconds, windows so far, RSS MB)
    count = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.5):
            r = rss_mb(p.pid)
            if r is not None:
                samples.append((time.perf_counter() - t0, count[0], r))
    threading.Thread(target=sample, daemon=True).start()
    summary, last_t, gaps = None, None, 0
    for line in p.stdout:
        obj = json.loads(line)
        if "summary" in obj:
            summary = obj["summary"]
            continue
        count[0] += 1
        if last_t is not None and abs(obj["t"] - last_t - 10000 / 12800) > 1e-6 and summary is None:
            gaps += 1
        last_t = obj["t"]
    done.set()
    err = p.stderr.read()
    code = p.wait()
    wall = time.perf_counter() - t0
    if summary is None:
        raise SystemExit(f"edge-run gave no summary (exit {code}): {err.strip()[-300:]}")
    expected = int(seconds * 12800 // 10000)
    n = count[0]
    # RSS once warm (after the first 10 % of windows): the allocator's own noise (the synthetic source frees
    # and re-allocates MB-sized buffers) moves RSS by about 2 MB either way, so growth is measured as the
    # change of the median from the first to the last fifth of the stream, and as a straight-line fit
    # over all of it extrapolated to the whole stream; a leak shows in both.
    warm = [(c, r) for _, c, r in samples if c >= 0.1 * expected]
    if len(warm) >= 10:
        import numpy as np
        c_, r_ = np.array(warm, dtype=float).T
        fifth = len(r_) // 5
        growth = float(np.median(r_[-fifth:]) - np.median(r_[:fifth]))
        fitted = float(np.polyfit(c_, r_, 1)[0] * expected)
        start_rss, end_rss, peak_rss, low_rss = float(r_[0]), float(r_[-1]), float(r_.max()), float(r_.min())
    else:
        growth = fitted = start_rss = end_rss = peak_rss = low_rss = None
    checks = {
        "exit_code_0": code == 0,
        "lines_equal_summary_windows": n == summary["windows"],
        "windows_equal_duration": summary["windows"] == expected,
        "no_dropped_or_invalid": summary["dropped_windows"] == 0 and summary["invalid_windows"] == 0,
        "timestamps_consecutive": gaps == 0,
        "rss_growth_within_limit": growth is not None and max(growth, fitted) <= args.max_growth_mb,
    }
    out = {"benchmark": "soak", "date": time.strftime("%Y-%m-%d"), "model": model, "hours": args.hours,
           "windows_expected": expected, "result_lines": n, "summary_windows": summary["windows"],
           "wall_seconds": round(wall, 1), "rss_mb": {"warm": start_rss, "end": end_rss, "peak": peak_rss,
                                                      "low": low_rss, "growth_median": growth,
                                                      "growth_fitted": fitted},
           "rss_samples": [(round(t, 1), c, round(r, 2)) for t, c, r in samples[:: max(1, len(samples) // 200)]],
           "latency_total_ms": summary["latency_ms"]["total"], "checks": checks}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    if growth is not None:
        print(f"{n} windows ({args.hours:g} h of signal) in {wall:.0f} s; RSS once warm {low_rss:.1f}-{peak_rss:.1f} "
              f"MB, growth {growth:+.2f} MB (medians of the first and last fifth), {fitted:+.2f} MB (fitted)")
    for k, v in checks.items():
        print(f"{'ok  ' if v else 'FAIL'}  {k}")
    print(f"wrote {args.out}", file=sys.stderr)
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
