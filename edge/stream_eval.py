"""The core of ``edgekit stream-eval``: labelled clips played as one noisy stream, events scored against them.

A classifier tested clip by clip says nothing about what a keyword detector does on a live microphone: how
many words it catches while the audio runs on, how late, and how often it fires on the noise between
words. :func:`build_stream` lays clips end to end with gaps between them and adds noise at a given SNR
(:func:`utterance_snr` says what that SNR is for each utterance, whose levels differ);
:func:`match_events` scores a list of events (:class:`edgekit.edge.pipeline.detect.Detector`'s) against the
stream's truth; :func:`evaluate` does both for a model file and a clip folder (:mod:`edgekit.edge.io.clips`),
:func:`evaluate_recording` for a user's long recording and its label file (:mod:`edgekit.edge.io.label_track`).

Matching rules (:func:`match_events`): an event matches an utterance when ``start <= t <= end + tolerance``.
When that holds for several utterances (a tolerance longer than the gap), the earliest one without an event
yet takes it, else the latest one. The **first** event on an utterance decides it: the right label is a
detection, another a ``wrong_label``; later events on the same utterance are counted as ``duplicates``,
neither a false alarm nor a second detection. An event matching no utterance is a false alarm; false alarms
per hour are per hour of gap time (the stream minus the utterances).
"""
from __future__ import annotations

import json
import math
from bisect import bisect_right
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from edgekit.edge.errors import EdgekitError

Truth = tuple[float, float, str]


def _mono(x: np.ndarray) -> np.ndarray:
    return x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)


def _loudest(x: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` consecutive samples of ``x`` with the most energy (all of ``x`` when it is not longer)."""
    if len(x) <= n:
        return x
    c = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    i = int(np.argmax(c[n:] - c[:-n]))
    return x[i:i + n]


def build_stream(clips: Sequence[tuple], fs: float, gap_s: float = 2.0, snr_db: float | None = None,
                 seed: int = 0, fit: float | None = None) -> tuple[np.ndarray, list[Truth]]:
    """``(signal, truth)``: :func:`lay_out_stream` without the clips' powers."""
    signal, truth, _, _ = lay_out_stream(clips, fs, gap_s, snr_db, seed, fit)
    return signal, truth


def lay_out_stream(clips: Sequence[tuple], fs: float, gap_s: float = 2.0, snr_db: float | None = None,
                   seed: int = 0, fit: float | None = None
                   ) -> tuple[np.ndarray, list[Truth], list[float], float | None]:
    """``(signal, truth, powers, noise_power)``: the clips in the order given, each after a gap of ``gap_s``
    seconds (and one gap after the last), at ``fs`` Hz; ``truth`` is ``[(start_s, end_s, label), ...]`` of the
    clips in the stream.

    ``clips`` are ``(path, label, ...)`` (:func:`edgekit.edge.io.clips.list_clips`' rows), read with
    :mod:`edgekit.edge.io.wav`, mixed to mono and resampled to ``fs`` when their rate differs. ``fit``
    (seconds, e.g. the model's window): a longer clip is cut to its loudest ``fit`` seconds; None keeps clips
    whole. ``snr_db``: white Gaussian noise over the whole stream, its power ``snr_db`` below the speech
    level (the mean power of all clip samples), drawn from ``seed``; None adds no noise (gaps are digital
    silence). The result is float32 clipped to [-1, 1], as an ADC would give it; the same arguments give
    the same stream. ``powers``: each clip's mean power as laid out (before noise), ``noise_power`` the
    noise's (None without noise): :func:`utterance_snr` of the two says what the one noise level means
    for each utterance.
    """
    from edgekit.edge.frontend.resample import resample
    from edgekit.edge.io.wav import read_wav
    if not clips:
        raise EdgekitError("no clips to build a stream from; give a folder with labelled WAV clips")
    if isinstance(fs, bool) or not isinstance(fs, (int, float)) or not math.isfinite(fs) or fs <= 0:
        raise EdgekitError(f"the stream's sample rate must be a positive number of Hz, got {fs!r}")
    if isinstance(gap_s, bool) or not isinstance(gap_s, (int, float)) or not 0 <= gap_s <= 3600:
        raise EdgekitError(f"--gap {gap_s!r}: give the seconds between clips, 0 to 3600")
    if snr_db is not None and (isinstance(snr_db, bool) or not isinstance(snr_db, (int, float))
                               or not -60 <= snr_db <= 120):
        raise EdgekitError(f"--snr {snr_db!r}: give the signal-to-noise ratio in dB, -60 to 120")
    if fit is not None and not (isinstance(fit, (int, float)) and fit * fs >= 1):
        raise EdgekitError(f"fit={fit!r}: give the seconds a clip is cut to (at least one sample)")
    gap = int(round(gap_s * fs))
    pieces, truth = [np.zeros(gap, np.float32)], []
    pos = gap
    energy, n_speech, powers = 0.0, 0, []
    for clip in clips:
        path, label = clip[0], clip[1]
        data, rate = read_wav(path)
        if len(data) == 0:
            raise EdgekitError(f"{path}: the WAV file has no samples; remove it from the clip folder")
        x = _mono(data)
        if rate != fs:
            x = resample(x, rate, fs)
        x = np.asarray(x, np.float32)
        if fit is not None:
            x = _loudest(x, int(round(fit * fs)))
        e = float(np.dot(x.astype(np.float64), x))
        energy += e
        n_speech += len(x)
        powers.append(e / len(x))
        truth.append((pos / fs, (pos + len(x)) / fs, str(label)))
        pieces += [x, np.zeros(gap, np.float32)]
        pos += len(x) + gap
    signal = np.concatenate(pieces)
    noise_power = None
    if snr_db is not None:
        speech_power = energy / max(n_speech, 1)
        if not speech_power > 0:
            raise EdgekitError("every clip is digital silence; noise at an SNR needs a speech level")
        noise_power = speech_power / 10.0 ** (snr_db / 10.0)
        rng = np.random.default_rng(seed)
        signal = signal + (math.sqrt(noise_power) * rng.standard_normal(len(signal))).astype(np.float32)
    np.clip(signal, -1.0, 1.0, out=signal)
    return signal.astype(np.float32, copy=False), truth, powers, noise_power


SNR_FLOOR_DB = -120.0        # an utterance of digital silence, in utterance_snr


def utterance_snr(powers: Sequence[float], noise_power: float | None) -> dict[str, float] | None:
    """The spread of the utterances' own SNRs (dB; ``p10``, ``p50``, ``p90``, ``min``) under one noise of
    ``noise_power``; None without noise. ``--snr`` sets the noise below the *mean* power of all speech, which
    loud utterances dominate: where a speaker's takes differ in level, most utterances are noisier than the
    nominal SNR, and this says by how much (a silent utterance counts as ``SNR_FLOOR_DB``)."""
    if noise_power is None or not len(powers):
        return None
    p = np.asarray(powers, np.float64)
    db = np.maximum(10.0 * np.log10(np.maximum(p, 1e-300) / noise_power), SNR_FLOOR_DB)
    q = np.percentile(db, [10, 50, 90])
    return {"p10": round(float(q[0]), 2), "p50": round(float(q[1]), 2), "p90": round(float(q[2]), 2),
            "min": round(float(db.min()), 2)}


def _event(e: Any) -> tuple[float, str]:
    if isinstance(e, dict):
        return float(e["t"]), str(e["event"])
    t, label = e[0], e[1]
    return float(t), str(label)


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values, np.float64)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p90": round(float(np.percentile(a, 90)), 3)}


def match_events(events: Iterable, truth: Sequence[Truth], tolerance_s: float,
                 duration_s: float | None = None) -> dict[str, Any]:
    """Score ``events`` (the detector's dicts, or ``(t, label)`` pairs) against ``truth`` (the
    ``(start_s, end_s, label)`` of each utterance) with the module's matching rules. ``duration_s``: the
    stream's length (default: the last utterance's end or the last event, whichever is later).

    Returns ``detection_rate`` (utterances whose first event has their label / utterances), ``detected``,
    ``missed``, ``wrong_label``, ``duplicates``, ``false_alarms``, ``false_alarms_per_hour`` (per hour of gap
    time; None without gap time), ``utterances``, ``events``, ``hours`` (the stream), ``gap_hours``,
    ``delay_ms`` (``{"p50", "p90"}`` of first-event time minus utterance start over the detections; None
    without one) and ``per_label`` (by truth label: ``utterances``, ``detected``, ``missed``, ``wrong``;
    by event label: ``false_alarms``).
    """
    tol = float(tolerance_s)
    if not math.isfinite(tol) or tol < 0:
        raise EdgekitError(f"tolerance {tolerance_s!r}: give the seconds an event may come after an utterance")
    order = sorted(range(len(truth)), key=lambda i: truth[i][0])
    utts = [(float(truth[i][0]), float(truth[i][1]), str(truth[i][2])) for i in order]
    starts = [u[0] for u in utts]
    longest = max((u[1] - u[0] for u in utts), default=0.0) + tol
    first: list[tuple[float, str] | None] = [None] * len(utts)
    evs = sorted((_event(e) for e in events), key=lambda e: e[0])
    per_label: dict[str, dict[str, int]] = {}

    def row(label: str) -> dict[str, int]:
        return per_label.setdefault(label, {"utterances": 0, "detected": 0, "missed": 0, "wrong": 0,
                                            "false_alarms": 0})

    false_alarms = duplicates = 0
    for t, label in evs:
        hits = []
        j = bisect_right(starts, t) - 1
        while j >= 0 and starts[j] >= t - longest:
            if t <= utts[j][1] + tol:
                hits.append(j)
            j -= 1
        if not hits:
            false_alarms += 1
            row(label)["false_alarms"] += 1
            continue
        free = [j for j in hits if first[j] is None]
        if free:
            first[min(free)] = (t, label)
        else:
            duplicates += 1
    detected = missed = wrong = 0
    delays = []
    for (start, _end, label), ev in zip(utts, first):
        r = row(label)
        r["utterances"] += 1
        if ev is None:
            missed += 1
            r["missed"] += 1
        elif ev[1] == label:
            detected += 1
            r["detected"] += 1
            delays.append((ev[0] - start) * 1e3)
        else:
            wrong += 1
            r["wrong"] += 1
    if duration_s is None:
        duration_s = max([u[1] for u in utts] + [e[0] for e in evs] + [0.0])
    speech = sum(u[1] - u[0] for u in utts)
    gap_hours = max(0.0, float(duration_s) - speech) / 3600.0
    n = len(utts)
    return {
        "detection_rate": detected / n if n else None,
        "false_alarms_per_hour": false_alarms / gap_hours if gap_hours > 0 else None,
        "detected": detected, "missed": missed, "wrong_label": wrong, "duplicates": duplicates,
        "false_alarms": false_alarms, "utterances": n, "events": len(evs),
        "hours": float(duration_s) / 3600.0, "gap_hours": gap_hours,
        "delay_ms": _percentiles(delays), "per_label": dict(sorted(per_label.items())),
    }


class _Signal:
    """The built stream as a source: one recording, read in blocks as a device would get it."""

    name, dropped_blocks, dropped_samples, overflows = "stream-eval", 0, 0, 0

    def __init__(self, signal: np.ndarray, block: int = 4096):
        self.notes: list[str] = []
        self._x, self._n = signal, block

    def blocks(self):
        from edgekit.edge.io.sources import Block
        for i in range(0, len(self._x), self._n):
            yield Block(self._x[i:i + self._n])

    def close(self) -> None:
        pass


class _Events:
    """A sink that keeps the events and the windows' scores (for --plot), and prints nothing."""

    def __init__(self):
        self.events: list[dict[str, Any]] = []
        self.windows: list[tuple[float, str, float | None]] = []

    def result(self, r: dict[str, Any]) -> None:
        self.windows.append((r["t"], r["label"], r["score"]))

    def event(self, e: dict[str, Any]) -> None:
        self.events.append(e)

    def note(self, msg: str) -> None:
        pass

    warn = note


def _open_model(model_path, threads):
    """(model, its task module) of a classifier of audio windows, else a one-line error."""
    from edgekit.edge import tasks
    from edgekit.edge.model.model import Model

    model = Model(model_path, threads=threads)
    spec = model.spec
    if spec is None:
        raise EdgekitError(f"{model_path}: the model has no edgekit spec; convert it with 'edgekit convert'")
    task = tasks.get(spec.task)
    if spec.kind != "classification" or "wav" not in task.SOURCES:
        raise EdgekitError(f"{model_path}: stream-eval needs a classifier of audio windows; this model's task "
                           f"is '{spec.task}' ({spec.kind})")
    return model, task


def _run_and_match(model, task, signal: np.ndarray, truth: Sequence[Truth], settings: dict[str, Any],
                   hop_s: float | None, tolerance_s: float | None) -> dict[str, Any]:
    """``signal`` through the model as edge-run streams it, the detector's events matched to ``truth``."""
    from edgekit.edge import tasks
    from edgekit.edge.pipeline.loop import run_stream

    spec = model.spec
    fs = spec.sample_rate
    if hop_s is None:          # the averaging window always holds min_count results (edge-run's audio default)
        hop_s = min(settings["average"] / (settings["min_count"] + 1), spec.window_seconds)
    sink = _Events()
    opt = tasks.Options(hop=hop_s, detection=settings, events_only=False)
    run = task.Run(spec, _Signal(signal), sink, opt)
    summary = run_stream(model, None, sink, run=run)
    tol = spec.window_seconds if tolerance_s is None else tolerance_s
    out = match_events(sink.events, truth, tol, duration_s=len(signal) / fs)
    out.update({"windows": summary["windows"], "gated_windows": summary.get("gated_windows", 0),
                "hop_s": run.hop / fs, "tolerance_s": tol, "detection": summary.get("detection", settings),
                "event_list": sink.events, "scores": sink.windows, "latency_ms": summary["latency_ms"]})
    return out


def evaluate(model_path, data, *, label_regex: str | None = None, gap_s: float = 2.0,
             snr_db: float | None = None, seed: int = 0, hop_s: float | None = None,
             tolerance_s: float | None = None, detection: dict | None = None, fit: float | None = None,
             max_clips: int | None = None, threads: int | None = None) -> dict[str, Any]:
    """Stream the clips of folder ``data`` (shuffled by ``seed``, at most ``max_clips``) through the model at
    ``model_path`` exactly as ``edge-run`` does (its task's windows, the one streaming loop, its detector and
    gate), and score the detector's events (:func:`match_events`).

    Windows of the model's length start every ``hop_s`` seconds (default: ``average / (min_count + 1)``, so
    the averaging window always holds ``min_count`` results, at most one window); an
    event's time is the end of the window that fired it, so ``delay_ms`` is what a user waits. Detector
    settings: the spec's ``detection`` (or the defaults), then ``detection``. ``tolerance_s`` defaults to the
    model's window length (an utterance keeps the windows that hold it scoring that long after its end).
    Clips whose label the model does not know are left out (``notes`` says how many). Besides the figures:
    ``event_list``, ``truth`` (``(start_s, end_s, label, path)`` of each clip in stream order) and
    ``scores`` (``(t, label, score)`` of every window, for a plot).
    """
    from edgekit.edge.io.clips import list_clips
    from edgekit.edge.tasks.detection import detection_settings

    model, task = _open_model(model_path, threads)
    spec = model.spec
    settings = detection_settings({**(spec.detection or {}), **(detection or {})}, "detection settings")
    notes = []
    clips = list_clips(data, label_regex)
    known = [c for c in clips if c[1] in spec.labels]
    if not known:
        raise EdgekitError(f"{data}: none of the clip labels ({', '.join(sorted({c[1] for c in clips})[:5])}) "
                           f"is one of the model's ({', '.join(spec.labels[:5])}); check the folder or the regex")
    if len(known) < len(clips):
        notes.append(f"left out {len(clips) - len(known)} clips whose label the model does not know")
    rng = np.random.default_rng(seed)
    known = [known[i] for i in rng.permutation(len(known))]
    if max_clips is not None:
        known = known[:int(max_clips)]
    signal, truth, powers, noise_power = lay_out_stream(known, spec.sample_rate, gap_s, snr_db, seed, fit=fit)
    out = _run_and_match(model, task, signal, truth, settings, hop_s, tolerance_s)
    out.update({"model": str(Path(model_path)), "data": str(data), "clips": len(known), "gap_s": gap_s,
                "snr_db": snr_db, "utterance_snr_db": utterance_snr(powers, noise_power), "seed": seed,
                "notes": notes,
                "truth": [(a, b, label, str(c[0])) for (a, b, label), c in zip(truth, known)]})
    return out


def evaluate_recording(model_path, wav, labels, *, snr_db: float | None = None, seed: int = 0,
                       hop_s: float | None = None, tolerance_s: float | None = None,
                       detection: dict | None = None, threads: int | None = None) -> dict[str, Any]:
    """The same as :func:`evaluate` on a user's long recording ``wav`` whose utterances a label file
    (``labels``, :mod:`edgekit.edge.io.label_track`: Audacity's format) marks.

    The recording is mixed to mono and resampled to the model's rate. A region is an utterance to detect when
    its label is one the model can fire on; every other region (a word that is no keyword, ``unknown``,
    ``silence``, a cough) is background like the unlabelled time: an event there is a false alarm, and
    ``notes`` says how many regions were taken so. ``snr_db`` adds white noise that far below the mean power
    of the utterances (seeded), as for clips. ``truth`` holds ``(start_s, end_s, label, wav)``.
    """
    from edgekit.edge.frontend.resample import resample
    from edgekit.edge.io.label_track import read_label_track
    from edgekit.edge.io.wav import read_wav
    from edgekit.edge.pipeline.detect import Detector
    from edgekit.edge.tasks.detection import detection_settings

    model, task = _open_model(model_path, threads)
    spec = model.spec
    settings = detection_settings({**(spec.detection or {}), **(detection or {})}, "detection settings")
    if snr_db is not None and (isinstance(snr_db, bool) or not isinstance(snr_db, (int, float))
                               or not -60 <= snr_db <= 120):
        raise EdgekitError(f"--snr {snr_db!r}: give the signal-to-noise ratio in dB, -60 to 120")
    regions = read_label_track(labels)
    data, rate = read_wav(wav)
    if len(data) == 0:
        raise EdgekitError(f"{wav}: the WAV file has no samples")
    fs = spec.sample_rate
    x = _mono(data)
    signal = np.asarray(resample(x, rate, fs) if rate != fs else x, np.float32)
    seconds = len(signal) / fs
    last = max(r[1] for r in regions)
    if last > seconds + 1.0 / fs:
        raise EdgekitError(f"{labels}: a region ends at {last:g} s but {wav} is {seconds:.3f} s long; "
                           f"give the label file of this recording")
    keywords = set(Detector.from_settings(spec.labels, settings).keywords)
    truth = [r for r in regions if r[2] in keywords]
    if not truth:
        raise EdgekitError(f"{labels}: none of the region labels ({', '.join(sorted({r[2] for r in regions})[:5])}) "
                           f"is a keyword of the model ({', '.join(sorted(keywords)[:5])}); check the label file")
    notes = []
    if len(truth) < len(regions):
        others = sorted({r[2] for r in regions} - keywords)
        notes.append(f"{len(regions) - len(truth)} regions are no keyword of the model "
                     f"({', '.join(others[:5])}): scored as background (an event on them is a false alarm)")
    noise_power, powers = None, []
    if snr_db is not None:
        parts = [signal[int(a * fs):int(math.ceil(b * fs))].astype(np.float64) for a, b, _ in truth]
        energy = [float(np.dot(u, u)) for u in parts]
        n = sum(len(u) for u in parts)
        power = sum(energy) / n if n else 0.0
        if not power > 0:
            raise EdgekitError("every labelled utterance is digital silence; noise at an SNR needs a speech level")
        powers = [e / len(u) if len(u) else 0.0 for e, u in zip(energy, parts)]
        noise_power = power / 10.0 ** (snr_db / 10.0)
        rng = np.random.default_rng(seed)
        signal = signal + (math.sqrt(noise_power) * rng.standard_normal(len(signal))).astype(np.float32)
        np.clip(signal, -1.0, 1.0, out=signal)
    out = _run_and_match(model, task, signal, truth, settings, hop_s, tolerance_s)
    out.update({"model": str(Path(model_path)), "data": str(wav), "labels": str(labels), "clips": len(truth),
                "gap_s": None, "snr_db": snr_db,
                "utterance_snr_db": utterance_snr(powers, noise_power),
                "seed": seed, "notes": notes,
                "truth": [(a, b, label, str(wav)) for a, b, label in truth]})
    return out


def plot(result: dict[str, Any], path) -> None:
    """Scores of every window over time, the utterances (shaded, labelled) and the events, as a PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from edgekit.edge.errors import MissingExtraError
        raise MissingExtraError("--plot", "matplotlib", "train") from None
    fig, ax = plt.subplots(figsize=(14, 4))
    for a, b, label, _ in result["truth"]:
        ax.axvspan(a, b, color="0.9")
        ax.text((a + b) / 2, 1.02, label, ha="center", fontsize=7)
    t = [w[0] for w in result["scores"] if w[2] is not None]
    ax.plot(t, [w[2] for w in result["scores"] if w[2] is not None], lw=0.6, label="top score of each window")
    for e in result["event_list"]:
        ax.axvline(e["t"], color="tab:red", lw=0.8)
        ax.text(e["t"], 0.02, e["event"], color="tab:red", fontsize=7, rotation=90)
    ax.axhline(result["detection"]["threshold"], color="k", ls=":", lw=0.6, label="threshold")
    ax.set(xlabel="seconds", ylabel="score", ylim=(0, 1.08),
           title=f"{Path(result['model']).name}: {result['detection_rate']:.1%} detected, "
                 f"{result['false_alarms_per_hour']:.1f} false alarms/h")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
