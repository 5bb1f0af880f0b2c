"""The device runtime after the restructuring of issue 25 against the code before it: same-process A/B.

    python benchmarks/house_ab.py [--rounds 9] [--windows 300] [--old COMMIT]

The device runtime of ``--old`` (default ``7e5ee74``, the last commit before the restructuring) is read from
git history into a temporary package ``edgekit_old.edge`` (its imports renamed, nothing else), so both run in
one process on the same model files and inputs. Trains three small models in a temporary directory (STFT CNN
on synthetic vibration, the DS-CNN on synthetic audio events, the traffic Conv1D on synthetic rows; a few
epochs: speed, not accuracy, is measured), converts them to int8 TFLite, and times, interleaved in rounds in a
new random order each round, at one thread:

stream    the whole streaming loop, source to sink (``run_stream`` with each version's own task, front end,
          step and detector; pre-made blocks or rows, a sink that keeps the answers);
frontend  each feature type's front end on a batch of windows (``frontend.build(spec)``: spectrogram, MFCC,
          detector rows), and the per-window front end of the device (``StreamFeatures.into``).

Every case first checks that both versions give the same answers (labels and scores, forecasts, features to
the bit): behaviour unchanged. The figure is the median over rounds of new seconds ÷ old seconds; ≤ 1 means
no slower. Results: ``benchmarks/results/house_ab.json``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OLD_COMMIT = "7e5ee74"


def old_edge(commit: str, where: Path):
    """The ``edge/`` folder of ``commit`` as the package ``edgekit_old.edge`` under ``where`` (on sys.path)."""
    root = where / "edgekit_old"
    root.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, "edge"], check=True,
                             capture_output=True).stdout
    tar = where / "old.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(root, filter="data")
    for p in (root / "edge").rglob("*.py"):
        p.write_text(re.sub(r"\bedgekit\.edge\b", "edgekit_old.edge", p.read_text()))
    (root / "__init__.py").write_text('"""The device runtime of an earlier commit, for A/B benchmarks."""\n')
    sys.path.insert(0, str(where))
    return importlib.import_module("edgekit_old.edge")


class Keep:
    """A sink that keeps each answer (label and score, or forecast) and prints nothing."""

    def __init__(self):
        self.answers: list = []

    def result(self, r):
        self.answers.append((r.get("label"), r.get("score"), r.get("forecast")))

    def event(self, e):
        self.answers.append(("event", e["event"], e["t"]))

    def note(self, m):
        pass

    def warn(self, m):
        pass

    def skipped(self, n, r):
        pass


class Blocks:
    """Pre-made blocks of samples: the source costs nothing."""

    def __init__(self, block_cls, blocks):
        self._blocks = [block_cls(b) for b in blocks]
        self.name, self.notes = "bench", []
        self.dropped_blocks = self.dropped_samples = self.overflows = 0

    def blocks(self):
        yield from self._blocks

    def close(self):
        pass


class Rows:
    """Pre-read CSV lines."""

    def __init__(self, lines):
        self._lines, self.name, self.notes = lines, "bench", []

    def lines(self):
        return iter(self._lines)

    def close(self):
        pass


def sh(*args):
    subprocess.run([str(a) for a in args], check=True, capture_output=True)


def models(tmp: Path) -> dict[str, Path]:
    """Three int8 TFLite models, trained now in ``tmp``."""
    bin_ = Path(sys.executable).parent
    sh(bin_ / "edgekit", "data", "synth", "stft", "--n", "120", "--out", tmp / "v.pkl")
    sh(bin_ / "edgekit", "train", "stft", "--data", tmp / "v.pkl", "--epochs", "2", "--out", tmp / "s")
    sh(bin_ / "edgekit", "convert", tmp / "s", "--to", "tflite", "--precision", "int8")
    sh(bin_ / "edgekit", "train", "audio", "--epochs", "2", "--out", tmp / "a")
    sh(bin_ / "edgekit", "convert", tmp / "a", "--to", "tflite", "--precision", "int8")
    sh(bin_ / "edgekit", "data", "synth", "traffic", "--days", "14", "--out", tmp / "r.csv")
    sh(bin_ / "edgekit", "train", "traffic", "--data", tmp / "r.csv", "--look-back", "36", "--epochs", "2",
       "--out", tmp / "r")
    sh(bin_ / "edgekit", "convert", tmp / "r", "--to", "tflite", "--precision", "int8")
    return {"stft": tmp / "s" / "stft_int8.tflite", "audio": next((tmp / "a").glob("*_int8.tflite")),
            "traffic": tmp / "r" / "traffic_int8.tflite"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--windows", type=int, default=300)
    ap.add_argument("--old", default=OLD_COMMIT, help="the commit to compare with")
    a = ap.parse_args()

    import edgekit.edge as new
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        old = old_edge(a.old, tmp)
        paths = models(tmp)
        versions = {}
        for name, pkg in (("new", new.__name__), ("old", old.__name__)):
            m = lambda mod: importlib.import_module(f"{pkg}.{mod}")  # noqa: E731
            try:
                block = m("sources.signal").Block
            except ImportError:
                block = m("io.sources").Block
            versions[name] = {"Model": m("model.model").Model, "run_stream": m("pipeline.loop").run_stream,
                              "frontend": m("frontend"), "stream": m("frontend.stream"), "Block": block}

        rng = np.random.default_rng(1)
        specs = {k: versions["new"]["Model"](p, threads=1).spec for k, p in paths.items()}
        from edgekit.edge.sources.synth import vibration
        signal, _ = vibration(a.windows // 4, seed=1, fs=specs["stft"].sample_rate, length=specs["stft"].window)
        audio_s = specs["audio"]
        audio = (0.05 * rng.standard_normal(a.windows * audio_s.window // 4)).astype(np.float32)
        audio[::7] += 0.3                      # clicks, so that the scores move
        lines = (tmp / "r.csv").read_text().splitlines()[:a.windows + specs["traffic"].window + 1]
        blocks = {"stft": [w for w in signal], "audio": np.array_split(audio, len(audio) // 4096)}

        cases, checks = {}, {}
        for name, v in versions.items():
            mods = {k: v["Model"](p, threads=1) for k, p in paths.items()}
            for task in ("stft", "audio"):
                cases["stream", task, name] = (lambda v=v, m=mods[task], b=blocks[task]:
                                               v["run_stream"](m, Blocks(v["Block"], b), Keep()))
            cases["stream", "traffic", name] = (lambda v=v, m=mods["traffic"]:
                                                v["run_stream"](m, Rows(lines), Keep()))
            for task in ("stft", "audio", "traffic"):
                spec = mods[task].spec
                fe = v["frontend"].build(spec)
                if task == "traffic":
                    x = np.stack([np.array([[float(c) for c in ln.split(",")[1:][:1]] for ln in lines[1:1 + spec.window]],
                                           np.float64)] * 64)
                    x = x.reshape(64, spec.window, -1)[..., :len(spec.features["columns"])]
                else:
                    x = np.stack([np.resize(audio if task == "audio" else signal.reshape(-1), spec.window)] * 64)
                cases["frontend", task, name] = lambda fe=fe, x=x: fe(x)
                info = mods[task].backend.input
                sf = v["stream"].StreamFeatures(spec, info.dtype, info.scale if info.quantized else 0.0,
                                                info.zero_point)
                out = np.zeros(spec.input_shape, info.dtype)
                one = x[0]
                cases["window", task, name] = lambda sf=sf, one=one, out=out: (sf.into(one, out), out.copy())[1]

        # behaviour unchanged: the same features and input tensors, to the bit ...
        for key in sorted({k[:2] for k in cases if k[0] != "stream"}):
            same = np.array_equal(np.asarray(cases[(*key, "new")]()), np.asarray(cases[(*key, "old")]()))
            checks[key] = bool(same)
            if not same:
                raise SystemExit(f"{' '.join(key)}: the new code gives other values than the old one")
        # ... and the same answers, window by window, from every stream
        for task in ("stft", "audio", "traffic"):
            kept = {}
            for name, v in versions.items():
                sink = Keep()
                m = v["Model"](paths[task], threads=1)
                src = Rows(lines) if task == "traffic" else Blocks(v["Block"], blocks[task])
                v["run_stream"](m, src, sink)
                kept[name] = sink.answers
            if kept["new"] != kept["old"]:
                raise SystemExit(f"{task}: the streams' answers differ between the new and the old code")
            checks["stream", task] = len(kept["new"])

        secs: dict = {k: [] for k in cases}
        order = list(cases)
        for _ in range(a.rounds):
            random.shuffle(order)
            for k in order:
                t0 = time.perf_counter()
                reps = 20 if k[0] == "window" else 1
                for _ in range(reps):
                    cases[k]()
                secs[k].append((time.perf_counter() - t0) / reps)

    out = {"commit_old": a.old, "rounds": a.rounds, "windows": a.windows, "load_average": os.getloadavg(),
           "same_answers": {" ".join(map(str, k)): v for k, v in checks.items()}, "cases": {}}
    for key in sorted({k[:2] for k in secs}):
        n, o = np.array(secs[(*key, "new")]), np.array(secs[(*key, "old")])
        r = n / o
        out["cases"][" ".join(key)] = {"new_ms": round(float(np.median(n)) * 1e3, 4),
                                       "old_ms": round(float(np.median(o)) * 1e3, 4),
                                       "ratio_new_over_old": round(float(np.median(r)), 3),
                                       "ratio_spread": [round(float(r.min()), 3), round(float(r.max()), 3)]}
        c = out["cases"][" ".join(key)]
        print(f"{key[0]:8} {key[1]:8} new {c['new_ms']:9.3f} ms  old {c['old_ms']:9.3f} ms  new/old "
              f"{c['ratio_new_over_old']:.3f} (rounds {c['ratio_spread'][0]:.3f}-{c['ratio_spread'][1]:.3f})")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "house_ab.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
