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

import numpy as np

from edgekit.edge.frontend import build
from edgekit.edge.frontend.clip import fit_clip
from edgekit.edge.formats.clips import list_clips
from edgekit.edge.model.model import Model
from edgekit.edge.sources.clip_stream import lay_out_stream
from edgekit.edge.tasks.audio import clip_policy

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
    known = [c for c in list_clips(a.data, a.label_regex) if c[1] in spec.labels]
    # read, mixed to mono and resampled as stream-eval reads them: one stream with no gaps, cut back apart
    signal, truth, powers, _ = lay_out_stream(known, spec.sample_rate, gap_s=0.0)
    fs = spec.sample_rate
    clips = [signal[round(t0 * fs):round(t1 * fs)].astype(np.float64) for t0, t1, _ in truth]
    ys = np.array([spec.labels.index(label) for _, _, label in truth])
    mean_power = float(np.dot(powers, [len(c) for c in clips]) / sum(len(c) for c in clips))
    policy = clip_policy(spec)
    windows = np.array([fit_clip(c, spec.window, policy) for c in clips])
    out = {"model": a.model, "data": a.data, "clips": len(clips), "stream": {}, "per_clip": {}}
    for mode in ("stream", "per_clip"):
        level = np.full(len(clips), mean_power) if mode == "stream" else np.asarray(powers)
        for snr in SNRS:
            if mode == "per_clip" and snr is None:
                continue
            w = windows
            if snr is not None:
                noise = np.random.default_rng(a.seed).standard_normal(windows.shape)
                w = np.clip(windows + np.sqrt(level / 10 ** (snr / 10))[:, None] * noise, -1, 1)
            pred = model.predict(fe(w.astype(np.float32))).argmax(1)
            wrong = collections.Counter(spec.labels[p] for p, y in zip(pred, ys) if p != y)
            key = "clean" if snr is None else f"{snr:g}"
            out[mode][key] = {"accuracy": round(float(np.mean(pred == ys)), 4), "wrong_as": dict(wrong.most_common(3))}
            if not a.json:
                text = "no noise" if snr is None else f"{snr:g} dB"
                print(f"{mode:9s} {text:>8s}: accuracy {out[mode][key]['accuracy']:.1%}; most often wrong as "
                      f"{', '.join(f'{k} ({v})' for k, v in wrong.most_common(3))}", flush=True)
    if a.json:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
