"""Audio at a given rate: the one place where a file's samples become the mono float32 signal a model hears.

Training, ``edgekit compare``, ``stream-eval`` and the device's sources all read audio here, so the device sees what
training saw (five decoders would be five chances of train/serve skew):

:func:`load_audio`   a whole file → mono float32 at ``sample_rate`` (read, mix down, resample; an empty file or
                     NaN/inf samples are a one-line error)
:func:`audio_rate`   a file's own rate, from its header
:class:`AudioStream` a file read block by block → mono float32 blocks at ``sample_rate`` (a long recording in
                     fixed memory), equal to :func:`load_audio` of the whole
:func:`at_rate`      a signal already in memory (a course pickle's) → ``sample_rate``
:func:`to_mono`      ``(frames, channels)`` → ``(frames,)``: the mean of the channels

Mixing and resampling are computed in float64 and rounded to float32 once, at the end.
"""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.wav import WavReader
from edgekit.edge.frontend.resample import StreamResampler, resample

BLOCK = 4096                       # frames read at a time by an AudioStream


def to_mono(x: np.ndarray) -> np.ndarray:
    """Samples ``(frames, channels)`` (or already ``(frames,)``) → float64 ``(frames,)``, the channels' mean."""
    x = np.asarray(x)
    if x.ndim == 1:
        return x.astype(np.float64, copy=False)
    return x[:, 0].astype(np.float64) if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float64)


def at_rate(x: np.ndarray, file_rate: float, sample_rate: float) -> np.ndarray:
    """A 1-D signal at ``file_rate`` Hz → float32 at ``sample_rate`` Hz
    (:func:`edgekit.edge.frontend.resample.resample`; equal rates only convert)."""
    x = np.asarray(x)
    if float(file_rate) != float(sample_rate):
        x = resample(x.astype(np.float64, copy=False), file_rate, sample_rate)
    return np.asarray(x, np.float32)


def audio_rate(path: str | os.PathLike) -> int:
    """The sample rate of WAV file ``path`` (its header only)."""
    with WavReader(path) as r:
        return r.fs


def load_audio(path: str | os.PathLike, sample_rate: float | None = None, *, hint: str = "") -> np.ndarray:
    """WAV file ``path`` as float32 mono samples at ``sample_rate`` Hz (None: the file's own rate), mixed down and
    resampled as needed. An empty file or NaN/inf samples are a one-line error ending in ``hint`` (e.g.
    ``"; remove it from the data"``)."""
    with WavReader(path) as r:
        data, file_rate = r.read(), r.fs
    if data.shape[0] == 0:
        raise EdgekitError(f"{path}: the WAV file has no samples{hint}")
    x = to_mono(data)
    if not np.isfinite(x).all():
        raise EdgekitError(f"{path}: the WAV file has NaN/inf samples{hint}")
    return at_rate(x, file_rate, file_rate if sample_rate is None else sample_rate)


class AudioStream:
    """WAV file ``path`` read in blocks of :data:`BLOCK` frames as float32 mono at ``sample_rate`` Hz.

    ``notes`` says what was done to it (mixed down, resampled, a header that declares more frames than the
    file holds); an empty file is a one-line error. Use as an iterator of blocks, then :meth:`close`."""

    def __init__(self, path: str | os.PathLike, sample_rate: float):
        self.path = path
        self._reader = r = WavReader(path)
        self.notes: list[str] = []
        if r.frames == 0:
            r.close()
            raise EdgekitError(f"{path}: the WAV file has no samples")
        if r.channels > 1:
            self.notes.append(f"mixing {r.channels} channels down to mono")
        self._resampler = None
        if r.fs != sample_rate:
            self._resampler = StreamResampler(r.fs, sample_rate)
            self.notes.append(f"resampling {r.fs} Hz → {sample_rate:g} Hz")
        if r.truncated:
            self.notes.append(f"the header declares {r.declared_frames} frames, the file holds {r.frames}; "
                              f"reading {r.frames}")

    def __iter__(self) -> Iterator[np.ndarray]:
        resampler = self._resampler
        while True:
            x = self._reader.read(BLOCK)
            if len(x) == 0:
                break
            x = to_mono(x)
            yield resampler.process(x) if resampler is not None else x.astype(np.float32)
        if resampler is not None:
            yield resampler.flush()

    def close(self) -> None:
        self._reader.close()
