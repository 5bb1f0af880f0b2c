"""The back-end of ``edgekit stream-eval``: labelled clips played as one noisy stream through the streaming loop, events
scored against them.

A classifier tested clip by clip says nothing about what a keyword detector does on a live microphone: how many words it
catches while the audio runs on, how late, and how often it fires on the noise between words. :func:`evaluate` lays a
clip folder (:mod:`edgekit.edge.formats.clips`) out as one stream (:mod:`edgekit.edge.sources.clip_stream`), runs it
through the model exactly as ``edge-run`` does, and scores the detector's events
(:class:`edgekit.edge.pipeline.detect.Detector`'s) with :func:`match_events`;
:func:`evaluate_recording` does the same for a user's long recording and its label file
(:mod:`edgekit.edge.formats.label_track`).

Matching rules (:func:`match_events`): an event matches an utterance when ``start <= t <= end + tolerance``. When that
holds for several utterances (a tolerance longer than the gap), the earliest one without an event yet takes it, else the
latest one. The **first** event on an utterance decides it: the right label is a detection, another a ``wrong_label``;
later events on the same utterance are counted as ``duplicates``, neither a false alarm nor a second detection. An event
matching no utterance is a false alarm; false alarms per hour are per hour of gap time (the stream minus the
utterances).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.sources.clip_stream import ArraySource, Truth, add_noise, lay_out_stream, utterance_snr


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
    ``(start_s, end_s, label)`` of each utterance) with the module's matching rules. ``duration_s``: the stream's length
    (default: the last utterance's end or the last event, whichever is later).

    Returns ``detection_rate`` (utterances whose first event has their label / utterances), ``detected``,
    ``missed``, ``wrong_label``, ``duplicates``, ``false_alarms``, ``false_alarms_per_hour`` (per hour of gap
    time; None without gap time), ``utterances``, ``events``, ``hours`` (the stream), ``gap_hours``,
    ``delay_ms`` (``{"p50", "p90"}`` of first-event time minus utterance start over the detections; None
    without one) and ``per_label`` (by truth label: ``utterances``, ``detected``, ``missed``, ``wrong``; by event label:
    ``false_alarms``).
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
        return per_label.setdefault(label, {"utterances": 0, "detected": 0, "missed": 0, "wrong": 0, "false_alarms": 0})

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


def _open_model(model_path, threads, detection: dict | None):
    """(model, its task, detector settings: the spec's, then ``detection``) of a classifier of audio windows,
    else a one-line error."""
    from edgekit.edge import tasks
    from edgekit.edge.core.detection import detection_settings
    from edgekit.edge.model.model import Model

    model = Model(model_path, threads=threads)
    spec = model.spec
    if spec is None:
        raise EdgekitError(f"{model_path}: the model has no edgekit spec; convert it with 'edgekit convert'")
    task = tasks.get(spec.task)
    if spec.kind != "classification" or "wav" not in task.sources:
        raise EdgekitError(f"{model_path}: stream-eval needs a classifier of audio windows; this model's task "
                           f"is '{spec.task}' ({spec.kind})")
    return model, task, detection_settings({**(spec.detection or {}), **(detection or {})}, "detection settings")


def _run_and_match(model, task, signal: np.ndarray, truth: Sequence[Truth], settings: dict[str, Any],
                   hop_s: float | None, tolerance_s: float | None) -> dict[str, Any]:
    """``signal`` through the model as edge-run streams it, the detector's events matched to ``truth``."""
    from edgekit.edge.pipeline.loop import run_stream
    from edgekit.edge.tasks.base import Options

    spec = model.spec
    sample_rate = spec.sample_rate
    if hop_s is None:          # the averaging window always holds min_count results (edge-run's audio default)
        hop_s = min(settings["average"] / (settings["min_count"] + 1), spec.window_seconds)
    sink = _Events()
    opt = Options(hop=hop_s, detection=settings, events_only=False)
    run = task.run(spec, ArraySource(signal), sink, opt)
    summary = run_stream(model, None, sink, run=run)
    tol = spec.window_seconds if tolerance_s is None else tolerance_s
    out = match_events(sink.events, truth, tol, duration_s=len(signal) / sample_rate)
    out.update({"windows": summary["windows"], "gated_windows": summary.get("gated_windows", 0),
                "hop_s": run.hop / sample_rate, "tolerance_s": tol, "detection": summary.get("detection", settings),
                "event_list": sink.events, "scores": sink.windows, "latency_ms": summary["latency_ms"]})
    return out


def evaluate(model_path, data, *, label_regex: str | None = None, gap_s: float = 2.0,
             snr_db: float | None = None, seed: int = 0, hop_s: float | None = None,
             tolerance_s: float | None = None, detection: dict | None = None, fit: float | None = None,
             max_clips: int | None = None, threads: int | None = None) -> dict[str, Any]:
    """Stream the clips of folder ``data`` (shuffled by ``seed``, at most ``max_clips``) through the model at
    ``model_path`` exactly as ``edge-run`` does (its task's windows, the one streaming loop, its detector and
    gate), and score the detector's events (:func:`match_events`).

    Windows of the model's length start every ``hop_s`` seconds (default: ``average / (min_count + 1)``, so the
    averaging window always holds ``min_count`` results, at most one window); an event's time is the end of the window
    that fired it, so ``delay_ms`` is what a user waits. Detector settings: the spec's ``detection`` (or the defaults),
    then ``detection``. ``tolerance_s`` defaults to the model's window length (an utterance keeps the windows that hold
    it scoring that long after its end). Clips whose label the model does not know are left out (``notes`` says how
    many). Besides the figures:
    ``event_list``, ``truth`` (``(start_s, end_s, label, path)`` of each clip in stream order) and
    ``scores`` (``(t, label, score)`` of every window, for a plot).
    """
    from edgekit.edge.formats.clips import list_clips

    model, task, settings = _open_model(model_path, threads, detection)
    spec = model.spec
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
                "snr_db": snr_db, "utterance_snr_db": utterance_snr(powers, noise_power), "seed": seed, "notes": notes,
                "truth": [(a, b, label, str(c[0])) for (a, b, label), c in zip(truth, known)]})
    return out


def evaluate_recording(model_path, wav, labels, *, snr_db: float | None = None, seed: int = 0,
                       hop_s: float | None = None, tolerance_s: float | None = None,
                       detection: dict | None = None, threads: int | None = None) -> dict[str, Any]:
    """The same as :func:`evaluate` on a user's long recording ``wav`` whose utterances a label file (``labels``,
    :mod:`edgekit.edge.formats.label_track`: Audacity's format) marks.

    The recording is mixed to mono and resampled to the model's rate. A region is an utterance to detect when its label
    is one the model can fire on; every other region (a word that is no keyword, ``unknown``,
    ``silence``, a cough) is background like the unlabelled time: an event there is a false alarm, and
    ``notes`` says how many regions were taken so. ``snr_db`` adds white noise that far below the mean power
    of the utterances (seeded), as for clips. ``truth`` holds ``(start_s, end_s, label, wav)``.
    """
    from edgekit.edge.formats.audio import load_audio
    from edgekit.edge.formats.label_track import read_label_track
    from edgekit.edge.pipeline.detect import Detector

    model, task, settings = _open_model(model_path, threads, detection)
    spec = model.spec
    if snr_db is not None and (isinstance(snr_db, bool) or not isinstance(snr_db, (int, float))
                               or not -60 <= snr_db <= 120):
        raise EdgekitError(f"--snr {snr_db!r}: give the signal-to-noise ratio in dB, -60 to 120")
    regions = read_label_track(labels)
    sample_rate = spec.sample_rate
    signal = load_audio(wav, sample_rate)
    seconds = len(signal) / sample_rate
    last = max(r[1] for r in regions)
    if last > seconds + 1.0 / sample_rate:
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
        parts = [signal[int(a * sample_rate):int(math.ceil(b * sample_rate))].astype(np.float64) for a, b, _ in truth]
        energy = [float(np.dot(u, u)) for u in parts]
        n = sum(len(u) for u in parts)
        signal, noise_power = add_noise(signal, sum(energy) / n if n else 0.0, snr_db, seed, "labelled utterance")
        powers = [e / len(u) if len(u) else 0.0 for e, u in zip(energy, parts)]
        np.clip(signal, -1.0, 1.0, out=signal)
    out = _run_and_match(model, task, signal, truth, settings, hop_s, tolerance_s)
    out.update({"model": str(Path(model_path)), "data": str(wav), "labels": str(labels), "clips": len(truth),
                "gap_s": None, "snr_db": snr_db, "utterance_snr_db": utterance_snr(powers, noise_power),
                "seed": seed, "notes": notes, "truth": [(a, b, label, str(wav)) for a, b, label in truth]})
    return out
