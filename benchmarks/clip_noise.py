"""Clip accuracy of an audio classifier under white noise, with the noise level set two ways.

``edgekit stream-eval --snr DB`` puts one noise level DB below the mean power of all the clips (a fixed
noise floor, as a room gives). Where a speaker's takes differ in level, the loud ones dominate that mean
and most utterances are noisier than DB. This script scores the clips one by one (each fitted to the window
as training fits them, the noise over the whole window) with the noise set by that rule ("stream") and
relative to each clip's own power ("per clip", as training's augmentation sets it), so a stream figure can
be split into what the model loses to noise on single clips and what the detector adds.

    .venv/bin/python benchmarks/clip_noise.py MODEL.tflite --data FOLDER --label-regex '^(\\d+)_' [--json]
"""
from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

import numpy as np

from edgekit.edge.frontend import build
from edgekit.edge.frontend.clip import fit_clip
from edgekit.edge.io.clips import list_clips
from edgekit.edge.io.wav import read_wav
from edgekit.edge.model.model import Model

SNRS = (None, 40, 30, 20, 10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--label-regex", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    model = Model(a.model)
    spec = model.spec
    fe = build(spec)
    clips, ys = [], []
    for path, label, *_ in list_clips(a.data, a.label_regex):
        if label not in spec.labels:
            continue
        x, fs = read_wav(path)
        if fs != spec.sample_rate:
            raise SystemExit(f"{path}: {fs} Hz, the model takes {spec.sample_rate:g} Hz")
        clips.append(x.mean(axis=1).astype(np.float64))
        ys.append(spec.labels.index(label))
    ys = np.array(ys)
    mean_power = sum(float(np.sum(c ** 2)) for c in clips) / sum(len(c) for c in clips)
    policy = spec.features["clip"]
    out = {"model": a.model, "data": a.data, "clips": len(clips), "stream": {}, "per_clip": {}}
    for mode in ("stream", "per_clip"):
        for snr in SNRS:
            if mode == "per_clip" and snr is None:
                continue
            rng = np.random.default_rng(a.seed)
            w = []
            for c in clips:
                win = fit_clip(c, spec.window, policy)
                if snr is not None:
                    p = mean_power if mode == "stream" else float(np.mean(c ** 2))
                    win = win + np.sqrt(p / 10 ** (snr / 10)) * rng.standard_normal(len(win))
                w.append(np.clip(win, -1, 1))
            pred = model.predict(fe(np.array(w, dtype=np.float32))).argmax(1)
            wrong = collections.Counter(spec.labels[p] for p, y in zip(pred, ys) if p != y)
            key = "clean" if snr is None else f"{snr:g}"
            out[mode][key] = {"accuracy": round(float(np.mean(pred == ys)), 4), "wrong_as": dict(wrong.most_common(3))}
            if not a.json:
                level = "no noise" if snr is None else f"{snr:g} dB"
                print(f"{mode:9s} {level:>8s}: accuracy {out[mode][key]['accuracy']:.1%}; most often wrong as "
                      f"{', '.join(f'{k} ({v})' for k, v in wrong.most_common(3))}", flush=True)
    if a.json:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
