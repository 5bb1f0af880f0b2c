"""Labelled clips laid out as one stream, with noise at a chosen SNR: what ``edgekit stream-eval`` plays to a detector
(:mod:`edgekit.edge.pipeline.stream_eval`), and the source that plays a signal held in memory.

:func:`lay_out_stream` lays clips end to end with gaps between them and adds white noise at a given SNR;
:func:`utterance_snr` says what that SNR is for each utterance, whose levels differ."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.sources.signal import Block

Truth = tuple[float, float, str]


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
    """``(signal, truth, powers, noise_power)``: the clips in the order given, each after a gap of ``gap_s`` seconds
    (and one gap after the last), at ``fs`` Hz; ``truth`` is ``[(start_s, end_s, label), ...]`` of the clips in the
    stream.

    ``clips`` are ``(path, label, ...)`` (:func:`edgekit.edge.formats.clips.list_clips`' rows), read with
    :func:`edgekit.edge.formats.audio.load_audio` (mono, at ``fs``). ``fit`` (seconds, e.g. the model's window): a
    longer clip is cut to its loudest ``fit`` seconds; None keeps clips whole. ``snr_db``: white Gaussian noise over the
    whole stream, its power ``snr_db`` below the speech level (the mean power of all clip samples), drawn from ``seed``;
    None adds no noise (gaps are digital silence). The result is float32 clipped to [-1, 1], as an ADC would give it;
    the same arguments give the same stream. ``powers``: each clip's mean power as laid out (before noise),
    ``noise_power`` the noise's (None without noise): :func:`utterance_snr` of the two says what the one noise level
    means for each utterance."""
    from edgekit.edge.formats.audio import load_audio
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
        x = load_audio(path, fs, hint="; remove it from the clip folder")
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
        signal, noise_power = add_noise(signal, energy / max(n_speech, 1), snr_db, seed, "clip")
    np.clip(signal, -1.0, 1.0, out=signal)
    return signal.astype(np.float32, copy=False), truth, powers, noise_power


def add_noise(signal: np.ndarray, speech_power: float, snr_db: float, seed: int, what: str
              ) -> tuple[np.ndarray, float]:
    """``(signal + noise, noise_power)``: white Gaussian noise (float32) ``snr_db`` below ``speech_power``, drawn
    from ``seed``; ``what`` names the speech in the error when it is digital silence."""
    if not speech_power > 0:
        raise EdgekitError(f"every {what} is digital silence; noise at an SNR needs a speech level")
    noise_power = speech_power / 10.0 ** (snr_db / 10.0)
    rng = np.random.default_rng(seed)
    return signal + (math.sqrt(noise_power) * rng.standard_normal(len(signal))).astype(np.float32), noise_power


SNR_FLOOR_DB = -120.0        # an utterance of digital silence, in utterance_snr


def utterance_snr(powers: Sequence[float], noise_power: float | None) -> dict[str, float] | None:
    """The spread of the utterances' own SNRs (dB; ``p10``, ``p50``, ``p90``, ``min``) under one noise of
    ``noise_power``; None without noise. ``--snr`` sets the noise below the *mean* power of all speech, which
    loud utterances dominate: where a speaker's takes differ in level, most utterances are noisier than the nominal SNR,
    and this says by how much (a silent utterance counts as ``SNR_FLOOR_DB``)."""
    if noise_power is None or not len(powers):
        return None
    p = np.asarray(powers, np.float64)
    db = np.maximum(10.0 * np.log10(np.maximum(p, 1e-300) / noise_power), SNR_FLOOR_DB)
    q = np.percentile(db, [10, 50, 90])
    return {"p10": round(float(q[0]), 2), "p50": round(float(q[1]), 2), "p90": round(float(q[2]), 2),
            "min": round(float(db.min()), 2)}


class ArraySource:
    """A signal in memory as a source (``stream-eval``'s built stream): one recording, read in blocks as a device
    would get it."""

    name, dropped_blocks, dropped_samples, overflows = "stream-eval", 0, 0, 0

    def __init__(self, signal: np.ndarray, block: int = 4096):
        self.notes: list[str] = []
        self._x, self._n = signal, block

    def blocks(self):
        for i in range(0, len(self._x), self._n):
            yield Block(self._x[i:i + self._n])

    def close(self) -> None:
        pass
