"""Task ``audio``: a keyword / acoustic-event spotter on one-window clips (log-mel or MFCC features, DS-CNN).

Clips (:mod:`.clips`) are fitted to the window by the recorded pad/crop policy
(:func:`edgekit.edge.frontend.clip.fit_clip`, the device applies the same one), featurised by the device's numpy front
end (:func:`edgekit.edge.frontend.build`), normalised by statistics fitted on the training split, and streamed to Keras
in batches made on demand, with seeded augmentation on the training split only.
"""
from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgekit.convert.compare.metrics import confusion
from edgekit.convert.rundir import prepare_out, save_run
from edgekit.convert.tf import quiet_tensorflow
from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.tasks import checked
from edgekit.edge.tasks.audio import DEFAULT_CLIP   # energy-centred, zero-padded (features.clip records it)

CALIB_KEEP = 512        # raw training windows kept for int8 calibration
TEST_KEEP = 4000        # raw test windows stored in test.npz (the accuracy is measured on every test clip)
NORM_FIT = 2000         # training clips the normalisation is fitted on
FEATURES = ("mfcc", "logmel")
ARCHS = ("dscnn", "course")
# The stream detector's settings written into the spec (edge/pipeline/detect.py says what each does). Chosen
# on FSDD validation streams (the training speakers' held-out clips, never the test speaker): a 1 s average
# over a 0.4 s word holds windows that see only part of it and drags a right word under 0.7 (24 % detected);
# 0.5 s of results every 0.125 s (hop = average / (min_count + 1)), 3 of them, threshold 0.5: 96-97 %
# detected, no false alarm. benchmarks/fsdd_folds.py measures it on the unseen speaker.
DETECTION = {"average": 0.5, "threshold": 0.5, "suppression": 1.0, "min_count": 3, "nothing": ["silence", "unknown"]}


def feature_dict(kind: str, fs: float, n_mfcc: int = 13, n_mels: int = 40, cmvn: bool = True,
                 top_db: float | None = None) -> dict[str, Any]:
    """The ``features`` of a spec: 32 ms frames every 20 ms (256/160 samples at 8 kHz), 40 mel bands,
    ``n_mfcc`` cepstra for ``mfcc``; ``cmvn``: per-window mean/variance normalisation per coefficient."""
    from edgekit.edge.frontend.frames import frame_samples
    common = dict(**frame_samples(fs, 32, 20), n_mels=n_mels, cmvn=cmvn, top_db=top_db, layout="time_freq")
    if kind == "mfcc":
        return fe.mfcc.mfcc_features(n_mfcc=n_mfcc, **common)
    if kind == "logmel":
        return fe.logmel.logmel_features(**common)
    raise EdgekitError(f"--features {kind}: use one of {', '.join(FEATURES)}")


def make_spec(fs: float, window: int, labels, features: dict, clip: dict, detection: dict | None) -> Spec:
    if features["n_fft"] > window:
        raise EdgekitError(f"--window of {window} samples is shorter than one {features['n_fft']}-sample frame; "
                           "give a longer --window")
    spec = Spec(task="audio", kind="classification", sample_rate=float(fs), window=int(window),
                input_shape=tuple(fe.logmel.logmel_shape(int(window), features)), features={**features, "clip": clip},
                normalization={"type": "none"}, labels=tuple(labels), detection=detection)
    checked(Spec.from_dict(spec.to_dict(), source="the audio spec"), "the audio spec")   # the device's checks, now
    return spec


def train_audio(out: str | Path, data: str | None = None, *, label_regex: str | None = None,
                group_regex: str | None = None, test_groups: Sequence[str] | None = None,
                keywords: Sequence[str] | None = None, window: float = 1.0, fs: float | None = None,
                features: str = "mfcc", n_mfcc: int = 13, cmvn: bool = True, top_db: float | None = None,
                arch: str = "dscnn", clip: dict | None = None, augment: bool | dict = True, silence: bool = True,
                unknown: str = "auto", tts_voices: int = 0, tts_words: str | None = None, tts_language: str = "en",
                tts_flite_voices: int = 0, epochs: int = 40, patience: int = 8, batch_size: int = 32, lr: float = 3e-3,
                lr_schedule: str | None = "plateau", seed: int = 0, n: int = 120, verbose: int = 1,
                log=print) -> dict[str, Any]:
    """Train, evaluate and write the run directory (``convert/rundir.py``); returns metrics.json's content."""
    from edgekit.edge.frontend.clip import check_clip_policy, fit_clip

    from .augment import Augment
    from .batches import batches, windows
    from .classes import SYNTHETIC_GROUPS, add_extra_classes, add_spoken, is_synthetic, select_keywords
    from .clips import check_regex, load_clips
    from .splits import group_split, stratified_sample
    from .synthetic_events import SYNTH_KEYWORDS, synthetic_events

    prepare_out(out)
    check_regex(label_regex, "--label-regex")
    check_regex(group_regex, "--group-regex")
    if features not in FEATURES:
        raise EdgekitError(f"--features {features}: use one of {', '.join(FEATURES)}")
    if arch not in ARCHS:
        raise EdgekitError(f"--arch {arch}: use one of {', '.join(ARCHS)}")
    if data is None:                            # the built-in synthetic events, their keywords by default
        if label_regex or group_regex:
            raise EdgekitError("--label-regex/--group-regex need --data (a folder of clips)")
        cs, keywords = synthetic_events(n, seed=seed), keywords or list(SYNTH_KEYWORDS)
    else:
        cs = load_clips(data, fs=fs, label_regex=label_regex, group_regex=group_regex)
    cs, held = select_keywords(cs, keywords)
    if is_synthetic(cs.groups).any():
        raise EdgekitError(f"--group-regex gave a group named {'/... or '.join(SYNTHETIC_GROUPS)}/..., the names "
                           f"edgekit keeps for synthetic speech; rename those files or change the regex")
    tts = None
    if tts_voices or tts_flite_voices:
        from .tts import flite_version, parse_words, synthesize, version
        words = parse_words(tts_words, cs.names)
        spoken, voices = synthesize(words, tts_voices, cs.fs, seed=seed, language=tts_language,
                                    n_flite=tts_flite_voices)
        cs = add_spoken(cs, spoken)
        tts = {"engine": version() if tts_voices else None, "voices": tts_voices, "clips": len(spoken),
               "language": tts_language, "words": words, "voice_list": [v.to_dict() for v in voices],
               "flite": flite_version() if tts_flite_voices else None, "flite_voices": tts_flite_voices}
        said = ", ".join(f"{n} {e} voices" for n, e in ((tts_voices, "espeak-ng"), (tts_flite_voices, "flite")) if n)
        log(f"synthetic speech: {len(spoken)} clips, {said} saying "
            f"{', '.join(repr(w) for w in words.values())} (training and validation, never the test)")
    elif tts_words:
        raise EdgekitError("--tts-words needs --tts-voices N or --tts-flite-voices N (how many synthetic voices "
                           "say them)")
    cs, extra = add_extra_classes(cs, held, silence=silence, unknown=unknown, seed=seed)
    fs = cs.fs
    win = int(round(window * fs))
    if win < 2:
        raise EdgekitError(f"--window {window}: shorter than two samples at {fs:g} Hz")
    cs.silence_seconds = window
    clip = check_clip_policy(DEFAULT_CLIP if clip is None else clip)
    log(f"data: {len(cs)} clips at {fs:g} Hz, classes {', '.join(cs.names)} ({cs.source}); {extra}")
    tr, va, te, split = group_split(cs, test_groups, seed=seed)
    if not len(tr) or not len(te):
        raise EdgekitError("the split left no training or no test clips; give more data or other --test-groups")

    spec = make_spec(fs, win, cs.names, feature_dict(features, fs, n_mfcc=n_mfcc, cmvn=cmvn, top_db=top_db),
                     clip, DETECTION)

    def fit(x):
        return fit_clip(x, win, clip)

    quiet_tensorflow()
    from .fit import class_counts, fit as fit_model, seed_everything
    from .models import dscnn, macs, stft_cnn

    y = cs.labels
    sample = tr if len(tr) <= NORM_FIT else np.sort(np.random.default_rng(seed).choice(tr, NORM_FIT, replace=False))
    spec = spec.with_(normalization=fe.fit_standard(fe.build(spec).raw(windows(cs, sample, fit))))
    front = fe.build(spec)
    how = (f"group-wise, test {', '.join(split['test_groups'])}, train {', '.join(split['train_groups'])}"
           if split["split"] == "group" else "stratified")
    log(f"features: {features} {list(spec.input_shape)} per {window:g} s window; split train {len(tr)} / "
        f"val {len(va)} / test {len(te)} ({how}, seed {split['seed']})")

    seed_everything(seed)
    import keras
    model = (dscnn if arch == "dscnn" else stft_cnn)(spec.input_shape, len(cs.names))
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    aug = augment if isinstance(augment, Augment) else Augment(**augment) if isinstance(augment, dict) else \
        Augment() if augment else None
    train_b = batches(cs, tr, front, fit, batch_size=batch_size, aug=aug, seed=seed)
    val_b = batches(cs, va, front, fit, batch_size=256)
    result = fit_model(model, train_b, None, val_b, None, epochs=epochs, batch_size=batch_size,
                       verbose=verbose, patience=patience, lr_schedule=lr_schedule)

    probs = model.predict(batches(cs, te, front, fit, batch_size=256), verbose=0)
    pred = probs.argmax(1)
    yt = y[te]
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(te)), yt], 1e-7, 1))))
    acc = float(np.mean(pred == yt))
    kw = ~np.isin(yt, [cs.names.index(k) for k in ("silence", "unknown") if k in cs.names])    # keyword clips
    groups = cs.groups
    per_group = {str(g): float(np.mean(pred[groups[te] == g] == yt[groups[te] == g]))
                 for g in sorted(set(groups[te]))} if cs.has_groups else {}
    keep = np.arange(len(te)) if len(te) <= TEST_KEEP else np.sort(stratified_sample(yt, TEST_KEEP, seed))
    calib = tr[stratified_sample(y[tr], CALIB_KEEP, seed)]
    metrics = {
        "task": "audio", "test_accuracy": acc, "test_loss": loss,
        "keyword_accuracy": float(np.mean(pred[kw] == yt[kw])) if kw.any() else None,
        "accuracy_by_group": per_group, "confusion": confusion(yt, pred, len(cs.names)),
        "val_files": sorted(Path(cs.clips[i].path).name for i in va if cs.clips[i].path),
        "n_test": int(len(te)), "n_train": int(len(tr)), "n_val": int(len(va)), "n_test_stored": int(len(keep)),
        "class_counts": {p: class_counts(y[i], cs.names) for p, i in (("train", tr), ("val", va), ("test", te))},
        "labels": list(cs.names), "sample_rate": fs, "data": cs.source, "extra_classes": extra,
        "groups": split, "window_seconds": window, "clip": clip, "detection": DETECTION, "features": features,
        "arch": arch, "tts": tts, "augmentation": aug.to_dict() if aug else None, "epochs": epochs,
        "patience": patience, "learning_rate": lr, "lr_schedule": lr_schedule, "seed": seed,
        "parameters": int(model.count_params()), "macs": macs(model), "machine": platform.machine(), **result,
    }
    save_run(out, model, spec, windows(cs, te[keep], fit), yt[keep], windows(cs, calib, fit), metrics)
    kwa = f", keywords {metrics['keyword_accuracy']:.4f}" if metrics["keyword_accuracy"] is not None else ""
    log(f"kept the weights of epoch {result['best_epoch']} of {result['epochs_run']} (lowest validation loss); "
        f"test accuracy {acc:.4f}{kwa} (loss {loss:.4f}) on {len(te)} clips; {metrics['parameters']:,} "
        f"parameters, {metrics['macs']:,} MACs per window; wrote {out}")
    return metrics
