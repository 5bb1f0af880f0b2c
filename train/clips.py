"""The ``audio`` task's clips: a clip set (files read on demand, in-memory signals, recipes) and loading one.

Data (:func:`load_clips`): a folder of WAV clips (:mod:`edgekit.edge.formats.clips`: ``root/<label>/*.wav``, or flat
with ``label_regex``, e.g. ``'^(\\d+)_'`` for FSDD; ``group_regex``, e.g. ``'^\\d+_([a-z]+)_'``, names each clip's
group, the speaker), read from disk when a batch needs them (a bounded cache keeps the decoded ones), so the size of the
data set does not bound memory; or a ``*.pkl`` / ``*.npz`` of :mod:`edgekit.train.datasets` (one clip per row, no
groups). Without data the task trains on :mod:`edgekit.train.synthetic_events`.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.audio import audio_rate, load_audio
from edgekit.edge.formats.clips import list_clips

from .augment import coloured_noise


@dataclass
class Clip:
    """One clip: a file (``path``) or an in-memory signal (``data``), or a recipe (``make``) applied to
    another clip (``base``) or to nothing (silence, with a seed)."""

    label: int
    group: str = ""
    path: str | None = None
    data: np.ndarray | None = None
    make: str | None = None          # None, "reverse", "silence"
    base: int | None = None          # index of the clip a recipe uses
    seed: int = 0


@dataclass
class ClipSet:
    clips: list[Clip]
    names: list[str]
    fs: float
    source: str
    has_groups: bool = False
    cache_bytes: int = 256 << 20
    silence_seconds: float = 1.0     # length of a silence clip (set to the window)
    _cache: "OrderedDict[int, np.ndarray]" = field(default_factory=OrderedDict, repr=False)
    _cached: int = 0

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def labels(self) -> np.ndarray:
        return np.array([c.label for c in self.clips], dtype=np.int64)

    @property
    def groups(self) -> np.ndarray:
        return np.array([c.group for c in self.clips], dtype=object)

    def read(self, i: int) -> np.ndarray:
        """Clip ``i`` as float32 mono samples at ``fs`` (full length, not yet fitted to the window)."""
        c = self.clips[i]
        if c.make == "reverse":
            return self.read(c.base)[::-1].copy()
        if c.make == "silence":
            return silence_clip(np.random.default_rng([7, c.seed]), max(1, int(round(self.silence_seconds * self.fs))),
                                self.fs)
        if c.data is not None:
            return c.data
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        x = load_audio(c.path, self.fs, hint="; remove it from the data")
        self._cache[i] = x
        self._cached += x.nbytes
        while self._cached > self.cache_bytes and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cached -= old.nbytes
        return x


def silence_clip(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    colour = ("white", "pink", "brown")[rng.integers(3)]
    level = 10 ** (rng.uniform(-70, -30) / 20)
    x = level * coloured_noise(rng, n, colour)
    if rng.random() < 0.3:                      # mains hum
        t = np.arange(n) / fs
        x += level * rng.uniform(0.3, 2) * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t + rng.uniform(0, 6.3))
    return x.astype(np.float32)


def load_clips(data: str | os.PathLike, *, fs: float | None = None, label_regex: str | None = None,
               group_regex: str | None = None) -> ClipSet:
    """The clips of ``data`` (see the module docstring), labels sorted by name."""
    where = os.fspath(data)
    p = Path(where)
    if not p.exists():
        raise EdgekitError(f"{where}: no such file or folder; check the path")
    if p.is_dir():
        found = list_clips(where, label_regex=label_regex, group_regex=group_regex)
        if not found:
            raise EdgekitError(f"{where}: no .wav clips found; give root/<label>/*.wav or a flat folder "
                               f"with --label-regex")
        names = sorted({str(lab) for _, lab, _ in found})
        if len(names) < 2:
            raise EdgekitError(f"{where}: only one label ({names[0]}); a classifier needs at least 2")
        index = {n: k for k, n in enumerate(names)}
        clips = [Clip(index[str(lab)], "" if grp is None else str(grp), path=str(path)) for path, lab, grp in found]
        fs = audio_rate(found[0][0]) if fs is None else fs
        return ClipSet(clips, names, float(fs), where, has_groups=group_regex is not None)
    if label_regex or group_regex:
        raise EdgekitError(f"{where}: --label-regex/--group-regex apply to a folder of WAV clips, not to "
                           f"{p.suffix or 'this file'}")
    from .datasets import load_signals
    ds = load_signals(where, fs=fs)
    clips = [Clip(int(k), data=np.asarray(x, np.float32)) for x, k in zip(ds.signals, ds.labels)]
    return ClipSet(clips, list(ds.label_names), float(ds.fs), ds.source)


def check_regex(rx: str | None, flag: str) -> None:
    if rx is None:
        return
    try:
        c = re.compile(rx)
    except re.error as e:
        raise EdgekitError(f"{flag} {rx!r} is not a regular expression ({e})") from None
    if c.groups < 1:
        raise EdgekitError(f"{flag} {rx!r} needs a capture group, e.g. '^(\\d+)_'")
