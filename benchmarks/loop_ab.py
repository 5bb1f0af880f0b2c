"""The one streaming loop against the loops it replaced: same-process A/B of the cost per window.

    python benchmarks/loop_ab.py [--rounds 7] [--windows 300]

Trains a small STFT model (synthetic vibration) and a small traffic model (synthetic detector rows) in a
temporary directory, converts both to int8 TFLite, and streams the same input through

new   ``edgekit.edge.pipeline.loop.run_stream`` with the tasks (``edgekit.edge.tasks``), and
old   the loops of commit ``187267c`` (``edge/stream.py`` and ``edge/stream_rows.py`` before the task
      modules), read from git history and run against today's modules (their imports mapped to the new
      package layout: the stages they call are the same functions),

interleaved in rounds (a new random order per round), one thread, results to a sink that drops them. Two
figures: the median over rounds of (new seconds ÷ old seconds) for the whole stream, and the loop's own cost
per window — wall time minus the timed step (front end → model → post-process, the same code in both) —
which the model's timing noise does not swamp. ≤ 1.0 / no more µs means the new loop is no slower.
Results: ``benchmarks/results/loop_ab.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OLD_COMMIT = "187267c"
NEW_HOME = {   # where the modules the old loops imported live now
    "frontend": "edgekit.edge.frontend", "errors": "edgekit.edge.core.errors", "frames": "edgekit.edge.frontend.frames",
    "model": "edgekit.edge.model.model", "pipeline": "edgekit.edge.pipeline.step",
    "postprocess": "edgekit.edge.pipeline.postprocess", "stats": "edgekit.edge.pipeline.stats",
    "sinks": "edgekit.edge.outputs.sinks",
}


def old_module(path: str) -> types.ModuleType:
    """``path`` as it was at :data:`OLD_COMMIT`, imports mapped to today's layout."""
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{OLD_COMMIT}:{path}"], check=True,
                         capture_output=True, text=True).stdout

    def sub(m):
        indent, name, rest = m.group(1), m.group(2), m.group(3)
        if name == "rows":       # the row parser and the continuity rules are two modules now
            return (f"{indent}from edgekit.edge.formats.rows import *\n{indent}from edgekit.edge.frontend.rows import *\n"
                    f"{indent}from edgekit.edge.frontend.rows import _TIME_TOLERANCE")
        return f"{indent}from {NEW_HOME[name]} import{rest}"
    src = re.sub(r"^([ \t]*)from \.(\w+) import( \([^)]*\)|.*)$", sub, src, flags=re.M)
    src = re.sub(r"^([ \t]*)from \. import frontend as fe$", r"\1from edgekit.edge import frontend as fe", src, flags=re.M)
    mod = types.ModuleType(f"old_{Path(path).stem}")
    exec(compile(src, f"{OLD_COMMIT}:{path}", "exec"), mod.__dict__)
    return mod


class Drop:
    """A sink that drops everything (both loops call the same methods)."""

    def note(self, m): pass
    def warn(self, m): pass
    def skipped(self, n, r): pass
    def result(self, r): pass
    def forecast(self, r): pass


class Blocks:
    """The same pre-made blocks for both loops: the source costs nothing."""

    def __init__(self, blocks):
        self.blocks_, self.name, self.notes = blocks, "bench", []
        self.dropped_blocks = self.dropped_samples = self.overflows = 0

    def blocks(self):
        yield from self.blocks_

    def close(self):
        pass


def sh(*args):
    subprocess.run(args, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--windows", type=int, default=300)
    a = ap.parse_args()
    from edgekit.edge import frontend as fe
    from edgekit.edge.sources.rows import RowsSource
    from edgekit.edge.sources.signal import Block
    from edgekit.edge.sources.synth import vibration
    from edgekit.edge.model.model import Model
    from edgekit.edge.core.spec import Spec
    from edgekit.edge.pipeline.loop import run_stream

    bin_ = Path(sys.executable).parent
    old_stream, old_rows = old_module("edge/stream.py"), old_module("edge/stream_rows.py")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        sh(bin_ / "edgekit", "data", "synth", "stft", "--n", "120", "--out", str(t / "v.pkl"))
        sh(bin_ / "edgekit", "train", "stft", "--data", str(t / "v.pkl"), "--epochs", "2", "--out", str(t / "s"))
        sh(bin_ / "edgekit", "convert", str(t / "s"), "--to", "tflite", "--precision", "int8")
        sh(bin_ / "edgekit", "data", "synth", "traffic", "--days", "14", "--out", str(t / "r.csv"))
        sh(bin_ / "edgekit", "train", "traffic", "--data", str(t / "r.csv"), "--look-back", "36", "--epochs", "2",
           "--out", str(t / "r"))
        sh(bin_ / "edgekit", "convert", str(t / "r"), "--to", "tflite", "--precision", "int8")
        stft = Model(t / "s" / "stft_int8.tflite", threads=1)
        rows = Model(t / "r" / "traffic_int8.tflite", threads=1)
        x, _ = vibration(a.windows, seed=1, fs=stft.spec.sample_rate, length=stft.spec.window)
        blocks = [Block(w) for w in x]
        lines = (t / "r.csv").read_text().splitlines()[:a.windows + rows.spec.window + 1]

        # a stand-in model that answers at once, on short windows: the loop's own cost is most of the time
        feats = fe.spectrogram_features(nperseg=64)
        tiny = Spec(task="stft", kind="classification", sample_rate=12800.0, window=256,
                    input_shape=fe.spectrogram_shape(256, feats), features=feats, normalization={"type": "none"},
                    labels=("A", "B"))
        answer = np.array([[0.3, 0.7]], np.float32)
        from edgekit.edge.model.quant import TensorInfo
        backend = types.SimpleNamespace(
            name="stand-in", input=TensorInfo("x", (-1, *tiny.input_shape), np.dtype(np.float32)),
            output=TensorInfo("y", (-1, 2), np.dtype(np.float32)),
            bind=lambda shape: (np.zeros(shape, np.float32), lambda: answer))
        stand_in = types.SimpleNamespace(spec=tiny, path="stand-in", precision="float32", backend=backend,
                                         quantize=lambda q: q, invoke=lambda q: answer, dequantize=lambda y: y)
        short = [Block(w) for w in np.random.default_rng(0).standard_normal((4 * a.windows, 256), np.float32)]
        cases = {
            ("stand-in", "new"): lambda: run_stream(stand_in, Blocks(short), Drop()),
            ("stand-in", "old"): lambda: old_stream.run_stream(stand_in, Blocks(short), Drop()),
            ("stft", "new"): lambda: run_stream(stft, Blocks(blocks), Drop()),
            ("stft", "old"): lambda: old_stream.run_stream(stft, Blocks(blocks), Drop()),
            ("traffic", "new"): lambda: run_stream(rows, RowsSource("bench", lines), Drop()),
            ("traffic", "old"): lambda: old_rows.run_rows_stream(rows, old_rows.RowsSource("bench", lines), Drop()),
        }
        for f in cases.values():       # warm up, and check both loops see the same number of windows
            f()
        assert cases["stft", "new"]()["windows"] == cases["stft", "old"]()["windows"]
        assert cases["traffic", "new"]()["forecasts"] == cases["traffic", "old"]()["forecasts"]
        secs: dict = {k: [] for k in cases}
        loop_us: dict = {k: [] for k in cases}
        order = list(cases)
        for _ in range(a.rounds):
            random.shuffle(order)
            for k in order:
                t0 = time.perf_counter()
                s = cases[k]()
                wall = time.perf_counter() - t0
                secs[k].append(wall)
                n, step_ms = s["latency_ms"]["total"]["n"], s["latency_ms"]["total"]["mean"]
                loop_us[k].append((wall / n - step_ms / 1e3) * 1e6)
    out = {"commit_old": OLD_COMMIT, "rounds": a.rounds, "windows": a.windows, "load_average": os.getloadavg(),
           "tasks": {}}
    for task in ("stft", "traffic", "stand-in"):
        new, old = np.array(secs[task, "new"]), np.array(secs[task, "old"])
        n = a.windows * (4 if task == "stand-in" else 1)
        out["tasks"][task] = {"new_ms_per_window": float(np.median(new)) * 1e3 / n,
                              "old_ms_per_window": float(np.median(old)) * 1e3 / n,
                              "ratio_new_over_old": float(np.median(new / old)),
                              "ratio_spread": [float(np.min(new / old)), float(np.max(new / old))],
                              "loop_us_per_window": {"new": float(np.median(loop_us[task, "new"])),
                                                     "old": float(np.median(loop_us[task, "old"]))}}
        r = out["tasks"][task]
        lu = r["loop_us_per_window"]
        print(f"{task:9} new {r['new_ms_per_window']:.3f} ms/window, old {r['old_ms_per_window']:.3f} ms/window, "
              f"new/old {r['ratio_new_over_old']:.3f} (rounds {r['ratio_spread'][0]:.3f}–{r['ratio_spread'][1]:.3f}); "
              f"the loop itself {lu['new']:.1f} µs/window new, {lu['old']:.1f} µs old")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "loop_ab.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
