"""Task ``anomaly``: learn a machine's normal vibration or sound from normal windows alone, flag what is not.

Data (:func:`load_recordings`): what the other tasks read, each signal or file a *recording* with its label --
built-in synthetic vibration (A = healthy is normal, B = bearing fault), a course ``.pkl`` or an ``.npz`` (one
signal per row; one class, or ``normal_label`` naming the normal one), a WAV file (one long recording of the
normal machine), or a folder of WAVs (label sub-folders, file names with ``label_regex``, or a flat folder such
as ``edge-run --record`` writes: all normal). Recordings become windows as the device makes them: cut into
consecutive windows (a recording shorter than one is fitted by the clip policy), the files of a folder of clips
fitted to one window each (:class:`edgekit.edge.tasks.anomaly.AnomalyRun`).

Split (:func:`split`): the normal recordings into training (60 %), validation (10 %: early stopping), threshold
calibration (15 %) and test (15 %), whole recordings to one part when there are at least :data:`MIN_RECORDINGS` of
them, else each recording cut in time into those four stretches: no window straddles two parts. Every window of
another label is an anomaly, tested only.

The model (:func:`edgekit.train.models.anomaly_ae`) is a dense autoencoder on the window's mean spectrum whose output
is the score (the mean squared reconstruction error), trained to output 0 on normal windows. The threshold
(:func:`choose_threshold`) is a quantile of the scores of the calibration windows, which training neither fitted nor
validated on (``quantile``, default 0.99), or the quantile that allows ``false_alarms_per_hour`` at one window per
window length, or ``threshold`` itself; it goes into the spec (:mod:`edgekit.edge.core.anomaly`).

The int8 calibration windows (``calibration.npz``) are normal training windows, each at one of the levels
:data:`CALIB_GAINS` in turn (-20 to +20 dB): a machine louder or quieter than normal is the plainest anomaly, and its
errors give the int8 ranges, the score's above all, room above the normal ones. Calibrated on the normal level only,
an int8 score saturates near the largest normal score and strong anomalies tie (benchmarks/README.md).
"""
from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.convert.compare.metrics import auc, pauc
from edgekit.convert.rundir import prepare_out, save_run
from edgekit.convert.tf import batched, keras_outputs, quiet_tensorflow
from edgekit.edge import frontend as fe
from edgekit.edge.core.anomaly import check_threshold, scores
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend.clip import fit_clip
from edgekit.edge.tasks import checked
from edgekit.edge.tasks.anomaly import DEFAULT_CLIP, detection_for
from edgekit.edge.tasks.audio import MAX_CLIP_WINDOWS

from .fit import PATIENCE

FEATURES = ("spectrogram", "logmel")
PARTS = ("train", "val", "calibration", "test")
FRACTIONS = (0.6, 0.1, 0.15, 0.15)
MIN_RECORDINGS = 20          # fewer normal recordings: each is split in time instead of given whole to one part
MIN_WINDOWS = {"train": 10, "val": 2, "calibration": 5, "test": 1}
MIN_NORMAL = 30              # normal windows at the least, over all four parts
CALIB_KEEP = 500             # raw normal training windows kept for int8 calibration, ...
CALIB_GAINS = (1.0, 0.1, 0.316, 3.16, 10.0)   # ... each at one of these levels in turn (0, ±10, ±20 dB)
TEST_KEEP = 4000             # raw test windows kept in test.npz
SYNTHETIC_N = 1000           # synthetic signals without --data (half of them healthy)
QUANTILE = 0.99


@dataclass
class Recording:
    """One recording: float32 samples at the data's rate, its label, and whether it is a clip (one window)."""

    x: np.ndarray
    label: str
    clip: bool = False


def load_recordings(data: str | None, *, fs: float | None = None, label_regex: str | None = None, n: int = SYNTHETIC_N,
                    seed: int = 0) -> tuple[list[Recording], float, str, str | None, list[str]]:
    """(recordings, sample rate, where they came from, the normal label the data implies or None, its class
    names: a .pkl's or .npz's as it declares them, else the labels found)."""
    if data is None:
        if label_regex:
            raise EdgekitError("--label-regex needs --data (a folder of WAV files)")
        from .datasets import load_signals
        ds = load_signals(None, fs=fs, seed=seed, n=n)
        return ([Recording(x, ds.label_names[k]) for x, k in zip(ds.signals, ds.labels)], ds.fs,
                f"synthetic vibration ({n} signals, seed {seed})", "A", list(ds.label_names))
    p = Path(data)
    if not p.exists():
        raise EdgekitError(f"{data}: no such file or folder; check the path")
    if p.is_dir():
        return _folder(p, fs, label_regex)
    if label_regex:
        raise EdgekitError(f"{data}: --label-regex applies to a folder of WAV files, not to {p.suffix or 'this file'}")
    if p.suffix.lower() == ".wav":
        from edgekit.edge.formats.audio import audio_rate, load_audio
        rate = float(fs or audio_rate(p))
        return [Recording(load_audio(p, rate), "normal")], rate, str(p), "normal", ["normal"]
    from .datasets import load_signals
    ds = load_signals(str(p), fs=fs, min_classes=1)
    return ([Recording(x, ds.label_names[k]) for x, k in zip(ds.signals, ds.labels)], ds.fs, ds.source, None,
            list(ds.label_names))


def _folder(root: Path, fs: float | None, label_regex: str | None):
    """The recordings of a folder of WAVs (labelled by sub-folder or ``label_regex``, else all normal), each a clip."""
    from edgekit.edge.formats.audio import audio_rate, load_audio
    from edgekit.edge.formats.clips import list_clips
    loose = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() == ".wav" and f.name[0] != ".")
    labelled = label_regex is not None or any(d.is_dir() and d.name[0] not in "._" for d in root.iterdir())
    clips = list_clips(root, label_regex, min_labels=1) if labelled else [(f, "normal", None) for f in loose]
    if not clips:
        raise EdgekitError(f"{root}: no WAV files; give a folder of WAV files (label sub-folders, --label-regex, or "
                           "a flat folder of normal recordings)")
    rate = float(fs or audio_rate(clips[0][0]))
    return ([Recording(load_audio(f, rate, hint="; remove it from the data"), str(label), clip=True)
             for f, label, _ in clips], rate, str(root), None if labelled else "normal",
            sorted({str(c[1]) for c in clips}))


def windows_of(rec: Recording, window: int, policy: dict) -> np.ndarray:
    """A recording's windows as the device makes them: consecutive windows (the tail that does not fill one is left
    out), one fitted window for a clip (a file of a clip folder up to :data:`MAX_CLIP_WINDOWS` windows) or a
    recording shorter than a window."""
    x = np.asarray(rec.x, np.float32)
    if len(x) < window or (rec.clip and len(x) <= MAX_CLIP_WINDOWS * window):
        return fit_clip(x, window, policy).astype(np.float32, copy=False)[None]
    k = len(x) // window
    return x[:k * window].reshape(k, window)


def split(recs: list[Recording], normal: str, window: int, policy: dict, seed: int = 0
          ) -> tuple[dict[str, np.ndarray], np.ndarray, list[str], str]:
    """(raw windows per part of the normal data, the anomalous windows, their labels, how it was split)."""
    normal_recs = [r for r in recs if r.label == normal]
    parts: dict[str, list[np.ndarray]] = {p: [] for p in PARTS}
    bounds = np.cumsum(FRACTIONS)
    if len(normal_recs) >= MIN_RECORDINGS:
        wins = [windows_of(r, window, policy) for r in normal_recs]
        order = np.random.default_rng(seed).permutation(len(wins))
        sizes = np.array([len(wins[i]) for i in order], np.float64)
        middle = (np.cumsum(sizes) - sizes / 2) / sizes.sum()
        for i, part in zip(order, np.searchsorted(bounds, middle, side="right")):
            parts[PARTS[min(int(part), 3)]].append(wins[i])
        how = f"{len(normal_recs)} normal recordings, each whole in one part (seed {seed})"
    else:
        for r in normal_recs:
            cut = (np.r_[0.0, bounds] * len(r.x)).astype(int)
            for part, a, b in zip(PARTS, cut[:-1], cut[1:]):
                seg = Recording(r.x[a:b], r.label)
                parts[part].append(windows_of(seg, window, policy) if b - a >= window else
                                   np.zeros((0, window), np.float32))
        how = f"{len(normal_recs)} normal recording(s), each cut in time 60/10/15/15 %"
    out = {p: np.concatenate(v) if v else np.zeros((0, window), np.float32) for p, v in parts.items()}
    bad = [(windows_of(r, window, policy), r.label) for r in recs if r.label != normal]
    x_bad = np.concatenate([w for w, _ in bad]) if bad else np.zeros((0, window), np.float32)
    labels = [label for w, label in bad for _ in range(len(w))]
    return out, x_bad, labels, how


def choose_threshold(scores: np.ndarray, *, quantile: float | None = None, false_alarms_per_hour: float | None = None,
                     threshold: float | None = None, window_seconds: float = 1.0) -> dict[str, Any]:
    """The spec's ``anomaly`` settings for calibration ``scores``: ``threshold`` as given, else the quantile
    (``quantile``, or 1 - ``false_alarms_per_hour`` windows per hour of windows) read from the scores when at least
    one window lies beyond it (n · (1 - q) >= 1), else from a log-normal fitted to them."""
    s = np.asarray(scores, np.float64)
    n = len(s)
    if threshold is not None:
        return {"threshold": check_threshold(threshold, "--threshold"), "score": "mse", "method": "given",
                "calibration_windows": n}
    if false_alarms_per_hour is not None:
        q = 1.0 - false_alarms_per_hour * window_seconds / 3600.0
        if not q > 0:
            raise EdgekitError(f"--false-alarms-per-hour {false_alarms_per_hour:g} allows more alarms than there are "
                               f"windows of {window_seconds:g} s in an hour; give a smaller budget")
        out = {"method": "false_alarms_per_hour", "false_alarms_per_hour": float(false_alarms_per_hour)}
    else:
        q = QUANTILE if quantile is None else float(quantile)
        out = {"method": "quantile"}
    if n * (1 - q) >= 1:
        value, fit = float(np.quantile(s, q)), "empirical"
    else:
        from scipy.special import ndtri
        logs = np.log(np.maximum(s, 1e-30))
        value, fit = float(np.exp(logs.mean() + logs.std(ddof=1) * ndtri(q))), "lognormal"
    if not (math.isfinite(value) and value > 0):
        raise EdgekitError(f"the calibration scores give the threshold {value!r}; the model reconstructs the normal "
                           "windows exactly or not at all: give more varied normal data or --threshold")
    return {"threshold": value, "score": "mse", **out, "quantile": q, "fit": fit, "calibration_windows": n}


def distribution(s: np.ndarray) -> dict[str, Any]:
    """Count, mean and percentiles of a list of scores (metrics.json's normal score distribution)."""
    s = np.asarray(s, np.float64)
    if not len(s):
        return {"n": 0}
    q = np.percentile(s, (1, 10, 50, 90, 95, 99))
    return {"n": int(len(s)), "mean": float(s.mean()), "min": float(s.min()),
            **{f"p{k}": float(v) for k, v in zip((1, 10, 50, 90, 95, 99), q)}, "max": float(s.max())}


def make_spec(fs: float, window: int, normal: str, features: str) -> tuple[Spec, int]:
    """The spec (threshold still to come) and the axis of time in a batch of its features."""
    if features == "spectrogram":
        feats = fe.spectrogram_features()
        if feats["nperseg"] > window:
            raise EdgekitError(f"a window of {window} samples is shorter than one {feats['nperseg']}-sample "
                               "spectrogram segment; give a longer --window")
        shape, time_axis = fe.spectrogram_shape(window, feats), 2
    elif features == "logmel":
        from .audio import feature_dict
        feats = {**feature_dict("logmel", fs, cmvn=False, top_db=80.0), "clip": DEFAULT_CLIP}
        if feats["n_fft"] > window:
            raise EdgekitError(f"a window of {window} samples is shorter than one {feats['n_fft']}-sample frame; "
                               "give a longer --window")
        shape, time_axis = fe.logmel.logmel_shape(window, feats), 1
    else:
        raise EdgekitError(f"--features {features}: use one of {', '.join(FEATURES)}")
    spec = Spec(task="anomaly", kind="anomaly", sample_rate=float(fs), window=int(window), input_shape=tuple(shape),
                features=feats, normalization={"type": "none"}, labels=(normal,), anomaly={"threshold": 1.0},
                detection=detection_for(window / fs))
    return spec, time_axis


def _normal_label(names: list[str], given: str | None, implied: str | None, where: str) -> str:
    """The normal class: ``--normal-label`` if it names one, else the data's own (synthetic A), else the only one."""
    if given is not None:
        if given not in names:
            raise EdgekitError(f"--normal-label {given!r} names no class of {where} (its classes: "
                               f"{', '.join(names)}); give one of them")
        return given
    if implied is not None and implied in names:
        return implied
    if len(names) == 1:
        return names[0]
    raise EdgekitError(f"{where} has the classes {', '.join(names)}: say which is the normal one with "
                       "--normal-label NAME (the others are kept as anomalies for the test)")


def train_anomaly(out: str | Path, data: str | None = None, *, normal_label: str | None = None,
                  label_regex: str | None = None, features: str | None = None, window: float | None = None,
                  fs: float | None = None, quantile: float | None = None, false_alarms_per_hour: float | None = None,
                  threshold: float | None = None, hidden: int = 64, bottleneck: int = 8, epochs: int = 300,
                  patience: int | None = PATIENCE, batch_size: int = 32, lr: float = 1e-3, seed: int = 0,
                  n: int = SYNTHETIC_N, verbose: int = 1, log=print) -> dict[str, Any]:
    """Train the anomaly model on normal windows, choose its threshold, write the run directory; returns
    metrics.json's content."""
    given = [f for f, v in (("--quantile", quantile), ("--false-alarms-per-hour", false_alarms_per_hour),
                            ("--threshold", threshold)) if v is not None]
    if len(given) > 1:
        raise EdgekitError(f"{' and '.join(given)}: give one way of choosing the threshold")
    if threshold is not None:
        check_threshold(threshold, "--threshold")
    if false_alarms_per_hour is not None:
        check_threshold(false_alarms_per_hour, "--false-alarms-per-hour")
    if features is not None and features not in FEATURES:
        raise EdgekitError(f"--features {features}: use one of {', '.join(FEATURES)}")
    prepare_out(out)
    recs, rate, where, implied, names = load_recordings(data, fs=fs, label_regex=label_regex, n=n, seed=seed)
    normal = _normal_label(names, normal_label, implied, where)
    wav = data is not None and (Path(data).is_dir() or Path(data).suffix.lower() == ".wav")
    features = features or ("logmel" if wav else "spectrogram")
    lengths = sorted({len(r.x) for r in recs})
    win = int(round(window * rate)) if window is not None else (int(round(rate)) if wav else lengths[0])
    if win < 2:
        raise EdgekitError(f"--window {window}: shorter than two samples at {rate:g} Hz")
    spec, time_axis = make_spec(rate, win, normal, features)
    policy = DEFAULT_CLIP
    total = sum(len(windows_of(r, win, policy)) for r in recs if r.label == normal)
    if total == 0:
        raise EdgekitError(f"{where}: no normal windows (no recording labelled {normal!r}); give normal data")
    few = f"{where}: {total} normal windows of {win / rate:g} s"
    if total < MIN_NORMAL:
        raise EdgekitError(f"{few} are too few to fit and calibrate: give at least {MIN_NORMAL} (more normal data "
                           "or a shorter --window)")
    parts, x_bad, bad_labels, how = split(recs, normal, win, policy, seed)
    counts = {p: len(v) for p, v in parts.items()}
    if any(counts[p] < MIN_WINDOWS[p] for p in PARTS):
        raise EdgekitError(f"{few} split into train {counts['train']} / val {counts['val']} / threshold "
                           f"{counts['calibration']} / test {counts['test']} ({how}), too few to fit and calibrate: "
                           f"give more normal data, at least {', '.join(f'{v} {k}' for k, v in MIN_WINDOWS.items())}")
    log(f"data: {len(recs)} recordings at {rate:g} Hz ({where}); normal {normal!r}, "
        f"{len(x_bad)} anomalous windows of {', '.join(sorted(set(bad_labels))) or 'no other label'} (test only)")
    spec = checked(Spec.from_dict(spec.to_dict(), source="the anomaly spec"), "the anomaly spec")
    spec = spec.with_(normalization=fe.fit_standard(batched(fe.build(spec).raw, parts["train"], 256)))
    front = fe.build(spec)
    x = {p: batched(front, v, 256) for p, v in parts.items()}
    xb = batched(front, x_bad, 256) if len(x_bad) else np.zeros((0, *spec.input_shape), np.float32)
    log(f"features: {features} {list(spec.input_shape)} per {win / rate:g} s window; normal windows train "
        f"{counts['train']} / val {counts['val']} / threshold {counts['calibration']} / test {counts['test']} ({how})")

    quiet_tensorflow()
    import keras
    from .fit import fit, seed_everything
    from .models import anomaly_ae, macs

    seed_everything(seed)
    model = anomaly_ae(spec.input_shape, time_axis, hidden=hidden, bottleneck=bottleneck)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mae")   # the output is the score: its mean, to 0
    zeros = {p: np.zeros((len(v), *model.output_shape[1:]), np.float32) for p, v in x.items()}
    result = fit(model, x["train"], zeros["train"], x["val"], zeros["val"], epochs=epochs, batch_size=batch_size,
                 verbose=verbose, patience=patience)
    score = {p: scores(keras_outputs(model, v)) for p, v in x.items()}
    s_bad = scores(keras_outputs(model, xb)) if len(xb) else np.zeros(0)
    settings = choose_threshold(score["calibration"], quantile=quantile, false_alarms_per_hour=false_alarms_per_hour,
                                threshold=threshold, window_seconds=win / rate)
    spec = spec.with_(anomaly=settings)
    thr = settings["threshold"]
    flagged = {normal: float(np.mean(score["test"] >= thr))}
    bad_arr = np.array(bad_labels, dtype=object)
    for label in sorted(set(bad_labels)):
        flagged[label] = float(np.mean(s_bad[bad_arr == label] >= thr))
    metrics = {
        "task": "anomaly", "normal_label": normal, "features": features, "window_seconds": win / rate,
        "sample_rate": rate, "data": where, "split": how, "n_train": counts["train"], "n_val": counts["val"],
        "n_calibration": counts["calibration"], "n_test": counts["test"] + len(x_bad),
        "n_test_normal": counts["test"], "n_test_anomalous": int(len(x_bad)), "threshold": settings,
        "scores": {"train": distribution(score["train"]), "calibration": distribution(score["calibration"]),
                   "test_normal": distribution(score["test"]), "test_anomalous": distribution(s_bad)},
        "test_auc": auc(score["test"], s_bad), "test_pauc": pauc(score["test"], s_bad),
        "flagged_share": flagged, "hidden": hidden, "bottleneck": bottleneck, "epochs": epochs, "seed": seed,
        "learning_rate": lr, "parameters": int(model.count_params()), "macs": macs(model),
        "machine": platform.machine(), **result,
    }
    x_test = np.concatenate([parts["test"], x_bad])
    y_test = np.r_[np.zeros(counts["test"], np.int64), np.ones(len(x_bad), np.int64)]
    if len(x_test) > TEST_KEEP:
        from .splits import stratified_sample
        keep = np.sort(stratified_sample(y_test, TEST_KEEP, seed))
        x_test, y_test = x_test[keep], y_test[keep]
    calib = parts["train"]
    if len(calib) > CALIB_KEEP:
        calib = calib[np.sort(np.random.default_rng(seed).choice(len(calib), CALIB_KEEP, replace=False))]
    calib = calib * np.resize(np.array(CALIB_GAINS, np.float32), len(calib))[:, None]
    save_run(out, model, spec, x_test, y_test, calib, metrics)
    a = metrics["test_auc"]
    quality = f"test AUC {a:.4f}, pAUC {metrics['test_pauc']:.4f} ({len(x_bad)} anomalous windows); " \
        if a is not None else "no anomalous test windows (AUC needs some); "
    log(f"kept the weights of epoch {result['best_epoch']} of {result['epochs_run']} (lowest validation score); "
        f"threshold {thr:.6g} ({settings['method']}{', ' + settings['fit'] if 'fit' in settings else ''}, "
        f"{counts['calibration']} normal windows training did not see); {quality}flagged at it: "
        + ", ".join(f"{k} {v:.1%}" for k, v in flagged.items())
        + f"; {metrics['parameters']:,} parameters; wrote {out}")
    return metrics
