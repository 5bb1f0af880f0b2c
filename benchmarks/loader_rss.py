"""Peak memory of ``edgekit train audio`` as the clip folder grows: the streaming loader's bound.

Clips are read and featurised lazily, batch by batch (``train.batches.batches``); only the file list,
the labels, at most ``TEST_KEEP`` raw test windows and ``CALIB_KEEP`` calibration windows are held. This
makes folders of N = 1,500 (FSDD itself), 10,000 and 100,000 clips — symbolic links to the FSDD recordings
(``{digit}_{speaker}_{take}_{copy}.wav``: the data are never copied) — trains one epoch on each
(``edgekit train audio --data DIR --label-regex '^(\\d+)_' --epochs 1``) and records each process's peak RSS
as the kernel reports it (``ru_maxrss`` from ``wait4``), the wall time, and the slope in MB per 1,000 clips.

Usage: python benchmarks/loader_rss.py [--data ../shared/data/fsdd/recordings] [--sizes 1500,10000,100000]
Writes benchmarks/results/loader_rss.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "fsdd" / "recordings"


def folder(src: Path, n: int, root: Path) -> Path:
    files = sorted(p for p in src.iterdir() if p.suffix == ".wav")
    d = root / f"clips{n}"
    d.mkdir()
    for k in range(n):
        f = files[k % len(files)]
        os.symlink(f.resolve(), d / f"{f.stem}_{k // len(files)}.wav")
    return d


def train(data: Path, out: Path) -> dict:
    exe = str(Path(sys.executable).with_name("edgekit"))
    t0 = time.perf_counter()
    p = subprocess.Popen([exe, "train", "audio", "--data", str(data), "--label-regex", r"^(\d+)_", "--epochs", "1",
                          "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise SystemExit(f"edgekit train audio failed:\n{text[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(time.perf_counter() - t0, 1),
            "n_train": metrics.get("n_train"), "n_val": metrics.get("n_val"), "n_test": metrics.get("n_test")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--sizes", default="1500,10000,100000")
    ap.add_argument("--out", default=str(HERE / "results" / "loader_rss.json"))
    args = ap.parse_args()
    src = Path(args.data)
    if not src.is_dir():
        raise SystemExit(f"{src}: no such folder (the FSDD recordings)")
    root = Path(tempfile.mkdtemp())
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        r = {"clips": n, **train(folder(src, n, root), root / f"run{n}")}
        rows.append(r)
        print(json.dumps(r), flush=True)
    result = summarise(rows, str(src))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"peak RSS {rows[0]['peak_rss_mb']} MB at {rows[0]['clips']} clips, {rows[-1]['peak_rss_mb']} MB at "
          f"{rows[-1]['clips']}; between the two largest folders {result['mb_per_1000_clips_largest']:.3f} MB "
          "per 1,000 clips")


def summarise(rows: list[dict], data: str) -> dict:
    """The growth from the smallest to the largest folder, and between the two largest: once the decoded-clip
    cache (``ClipSet.cache_bytes``, 256 MB) and the ``TEST_KEEP`` test windows are full, only the file list
    grows."""
    def slope(a, b):
        return round((b["peak_rss_mb"] - a["peak_rss_mb"]) / max(1, b["clips"] - a["clips"]) * 1000, 3)
    return {"data": data, "rows": rows, "mb_per_1000_clips_overall": slope(rows[0], rows[-1]),
            "mb_per_1000_clips_largest": slope(rows[-2], rows[-1]) if len(rows) > 1 else None,
            "largest_over_smallest": round(rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"], 3)}


if __name__ == "__main__":
    main()
