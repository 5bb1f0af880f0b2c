"""Clips for the ``audio`` task: loading, the silence and unknown classes, group-wise splits, seeded
augmentation and a lazy batch loader that featurises through the device's numpy front end.

Data (:func:`load_clips`):

``None``                 :func:`synthetic_events`: knocks, chirps, hums and speech-like bursts (keywords)
                         and beeps (held out: the unknown class) in noise, 8 kHz, five recording "rooms"
                         as groups; deterministic for a seed.
a folder                 :func:`edgekit.edge.formats.clips.list_clips`: ``root/<label>/*.wav``, or a flat folder
                         with ``label_regex`` (e.g. ``'^(\\d+)_'`` for FSDD); ``group_regex`` (e.g.
                         ``'^\\d+_([a-z]+)_'``) names each clip's group (speaker). Clips are read from disk
                         when a batch needs them (a bounded cache keeps the decoded ones), so the size of
                         the data set does not bound memory.
``*.pkl`` / ``*.npz``    the signal formats of :mod:`edgekit.train.datasets` (one clip per row, no groups).

Extra classes (:func:`add_extra_classes`): ``silence`` = noise alone (white, pink or brown, −70…−30 dBFS,
sometimes with mains hum); ``unknown`` = clips of the labels that ``keywords`` leaves out, or, when every
label is a keyword, time-reversed keyword clips (speech-like spectra and level contours, no keyword). Each
extra clip belongs to the group of the clip it is made from, so a group-wise split stays group-wise.

Augmentation (:func:`augment`, training split only, seeded by (seed, epoch, clip)): speed 0.85–1.15
(resampling: pitch and formants, a crude other speaker), time shift ±350 ms (a stream's windows hold a word
anywhere, not centred; the shift is shortened when it would push more than 10 % of the clip's energy out of
the window), gain ±12 dB, additive noise at 5–35 dB SNR over the whole window (so the padding is noise, as on
a stream). ``partial``: that fraction of the keyword clips becomes, each epoch, an ``unknown`` window holding
only the start or the end of the word (5–50 % of its energy): the windows a stream shows while a word enters
or leaves them, which must not fire as a keyword. Tempo change (WSOLA) and SpecAugment masks are available
(``stretch``, ``time_mask``, ``freq_mask``) but off: on the three FSDD folds they cost stream detection
(benchmarks/README.md, "Keyword spotting").
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.audio import load_audio

SILENCE, UNKNOWN = "silence", "unknown"
SYNTHETIC_GROUPS = ("espeak-ng", "flite")   # synthetic speech (edgekit.train.tts): groups <engine>/<voice>,
                                            # never tested
SYNTH_FS = 8000.0


def is_synthetic(groups) -> np.ndarray:
    """Which of ``groups`` are synthetic voices (``espeak-ng/<k>``, ``flite/<k>``)."""
    return np.array([str(g).split("/", 1)[0] in SYNTHETIC_GROUPS and "/" in str(g) for g in groups], dtype=bool)


# -- the clip set ----------------------------------------------------------------------------------

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


def load_clips(data: str | os.PathLike | None, *, fs: float | None = None, label_regex: str | None = None,
               group_regex: str | None = None, seed: int = 0, n_per_class: int = 120) -> ClipSet:
    """The clips of ``data`` (see the module docstring), labels sorted by name."""
    if data is None:
        if label_regex or group_regex:
            raise EdgekitError("--label-regex/--group-regex need --data (a folder of clips)")
        return synthetic_events(n_per_class, seed=seed)
    where = os.fspath(data)
    p = Path(where)
    if not p.exists():
        raise EdgekitError(f"{where}: no such file or folder; check the path")
    if p.is_dir():
        from edgekit.edge.formats.clips import list_clips
        from edgekit.edge.formats.audio import audio_rate

        found = list_clips(where, label_regex=label_regex, group_regex=group_regex)
        if not found:
            raise EdgekitError(f"{where}: no .wav clips found; give root/<label>/*.wav or a flat folder "
                               f"with --label-regex")
        names = sorted({str(lab) for _, lab, _ in found})
        if len(names) < 2:
            raise EdgekitError(f"{where}: only one label ({names[0]}); a classifier needs at least 2")
        index = {n: k for k, n in enumerate(names)}
        if fs is None:
            fs = float(audio_rate(found[0][0]))
        clips = [Clip(index[str(lab)], "" if grp is None else str(grp), path=str(path))
                 for path, lab, grp in found]
        return ClipSet(clips, names, float(fs), where, has_groups=group_regex is not None)
    if label_regex or group_regex:
        raise EdgekitError(f"{where}: --label-regex/--group-regex apply to a folder of WAV clips, not to "
                           f"{p.suffix or 'this file'}")
    from .datasets import load_signals
    ds = load_signals(where, fs=fs)
    clips = [Clip(int(k), data=np.asarray(x, np.float32)) for x, k in zip(ds.signals, ds.labels)]
    return ClipSet(clips, list(ds.label_names), float(ds.fs), ds.source)


def select_keywords(cs: ClipSet, keywords: Sequence[str] | None) -> tuple[ClipSet, list[int]]:
    """Keep ``keywords`` as classes (all labels when None); returns the new set and the indices of clips
    whose label was left out (candidates for ``unknown``), which are removed from it."""
    if not keywords:
        return cs, []
    missing = [k for k in keywords if k not in cs.names]
    if missing:
        raise EdgekitError(f"--keywords {','.join(keywords)}: {', '.join(missing)} not among the labels "
                           f"({', '.join(cs.names)})")
    new = {k: i for i, k in enumerate(sorted(set(keywords), key=cs.names.index))}
    keep, held = [], []
    for c in cs.clips:
        name = cs.names[c.label]
        if name in new:
            keep.append(Clip(new[name], c.group, c.path, c.data, c.make, c.base, c.seed))
        else:
            held.append(Clip(-1, c.group, c.path, c.data, c.make, c.base, c.seed))
    out = ClipSet(keep + held, list(new), cs.fs, cs.source, cs.has_groups, cs.cache_bytes)
    return out, list(range(len(keep), len(keep) + len(held)))


def add_extra_classes(cs: ClipSet, held: list[int], *, silence: bool = True, unknown: str = "auto",
                      seed: int = 0) -> tuple[ClipSet, str]:
    """Append the ``silence`` and ``unknown`` classes (module docstring), each about as large as the mean
    keyword class. ``unknown``: "auto" (held-out labels if any, else reversed), "heldout", "reversed" or
    "none". Returns the set and a description of what was added."""
    rng = np.random.default_rng([11, seed])
    names = list(cs.names)
    clips = list(cs.clips)
    keyword_idx = [i for i, c in enumerate(clips) if c.label >= 0]
    per_class = max(1, round(len(keyword_idx) / max(1, len(names))))
    notes = []
    mode = ("heldout" if held else "reversed") if unknown == "auto" else unknown
    if mode == "heldout" and not held:
        raise EdgekitError("--unknown heldout needs --keywords that leave some labels out")
    if mode != "none":
        names.append(UNKNOWN)
        k = len(names) - 1
        if mode == "heldout":
            take = rng.choice(held, size=min(len(held), per_class), replace=False)
            for i in take:
                clips[i] = Clip(k, clips[i].group, clips[i].path, clips[i].data)
            notes.append(f"{UNKNOWN}: {len(take)} clips of the labels left out of --keywords")
        else:
            for i in rng.choice(keyword_idx, size=min(len(keyword_idx), per_class), replace=False):
                clips.append(Clip(k, clips[i].group, make="reverse", base=int(i)))
            notes.append(f"{UNKNOWN}: {per_class} time-reversed keyword clips")
    if silence:
        names.append(SILENCE)
        k = len(names) - 1
        for j, i in enumerate(rng.choice(keyword_idx, size=per_class, replace=True)):
            clips.append(Clip(k, clips[i].group, make="silence", seed=seed * 1_000_003 + j))
        notes.append(f"{SILENCE}: {per_class} clips of noise alone")
    # clips of left-out labels not used as unknown are dropped; indices of recipes point into `clips`
    keep = [i for i, c in enumerate(clips) if c.label >= 0]
    remap = {old: new for new, old in enumerate(keep)}
    out = []
    for i in keep:
        c = clips[i]
        if c.base is not None and c.base not in remap:
            continue
        out.append(Clip(c.label, c.group, c.path, c.data, c.make, remap.get(c.base) if c.base is not None else None,
                        c.seed))
    return ClipSet(out, names, cs.fs, cs.source, cs.has_groups, cs.cache_bytes), "; ".join(notes) or "none"


def add_spoken(cs: ClipSet, spoken: Sequence[tuple[str, int, np.ndarray]]) -> ClipSet:
    """``cs`` with synthetic speech (``[(label, group, samples at cs.fs), ...]``,
    :func:`edgekit.train.tts.synthesize`; the group is the voice, ``espeak-ng/<k>`` or ``flite/<k>``) appended
    as in-memory clips (never in the test split, :func:`group_split`)."""
    index = {n: k for k, n in enumerate(cs.names)}
    clips = list(cs.clips)
    for lab, group, x in spoken:
        if not is_synthetic([group])[0]:
            raise EdgekitError(f"synthetic group {group!r} is not <engine>/<k> with an engine of "
                               f"{', '.join(SYNTHETIC_GROUPS)}")
        clips.append(Clip(index[lab], str(group), data=np.asarray(x, np.float32)))
    return ClipSet(clips, list(cs.names), cs.fs, cs.source, cs.has_groups, cs.cache_bytes)


# -- splits ----------------------------------------------------------------------------------------

def group_split(cs: ClipSet, test_groups: Sequence[str] | None = None, val_fraction: float = 0.1,
                test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(train, val, test) indices and a description. With groups: the test part is every clip of
    ``test_groups`` (default: a seeded choice of about ``test_fraction`` of the groups), so no test group is
    heard in training; validation is a stratified ``val_fraction`` of the rest. Without: stratified.
    Synthetic voices (groups ``espeak-ng/<k>``, ``flite/<k>``, :func:`add_spoken`) are never tested: the split is made on
    the real clips, then a seeded ``val_fraction`` of the voices (at least one, when there are two or more)
    joins validation whole and the others join training."""
    synth = is_synthetic(cs.groups)
    if synth.any():
        real = np.flatnonzero(~synth)
        sub = ClipSet([cs.clips[i] for i in real], cs.names, cs.fs, cs.source, cs.has_groups)
        tr, va, te, split = group_split(sub, test_groups, val_fraction, test_fraction, seed)
        g = cs.groups
        voices = sorted({str(x) for x in g[synth]}, key=lambda v: (v.split("/")[0], int(v.rsplit("/", 1)[1])))
        n_val = min(len(voices) - 1, max(1, round(val_fraction * len(voices))))
        val_voices = set(np.random.default_rng([23, seed]).choice(voices, size=n_val, replace=False).tolist()) \
            if n_val > 0 else set()
        to_val = synth & np.isin(g, list(val_voices))
        tr = np.sort(np.concatenate([real[tr], np.flatnonzero(synth & ~to_val)]))
        va = np.sort(np.concatenate([real[va], np.flatnonzero(to_val)]))
        split = {**split, "synthetic_voices": len(voices), "synthetic_val_voices": len(val_voices),
                 "n_synthetic_train": int((synth & ~to_val).sum()), "n_synthetic_val": int(to_val.sum())}
        if "train_groups" in split:
            engines = lambda vs: {v.split("/")[0] for v in vs}                      # noqa: E731
            split["train_groups"] = sorted({*split["train_groups"], *engines(set(voices) - val_voices)})
            split["val_groups"] = sorted({*split["val_groups"], *engines(val_voices)})
        return tr, va, real[te], split
    from .splits import stratified_holdout, stratified_split

    y = cs.labels
    if not cs.has_groups:
        if test_groups:
            raise EdgekitError("--test-groups needs --group-regex (which group each clip belongs to)")
        tr, va, te = stratified_split(y, (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
        return tr, va, te, {"split": "stratified", "seed": seed}
    g = cs.groups
    groups = sorted(set(g))
    if len(groups) < 2:
        raise EdgekitError(f"--group-regex found one group only ({groups[0]!r}); a group-wise split needs "
                           f"at least 2")
    if test_groups:
        bad = [t for t in test_groups if t not in groups]
        if bad:
            raise EdgekitError(f"--test-groups: {', '.join(bad)} not among the groups ({', '.join(groups)})")
        chosen = sorted(set(test_groups))
        if len(chosen) == len(groups):
            raise EdgekitError("--test-groups names every group; leave at least one for training")
    else:
        n = max(1, min(len(groups) - 1, round(test_fraction * len(groups))))
        chosen = sorted(np.random.default_rng(seed).choice(groups, size=n, replace=False).tolist())
    is_test = np.isin(g, chosen)
    te = np.flatnonzero(is_test)
    rest = np.flatnonzero(~is_test)
    keep, held = stratified_holdout(y[rest], val_fraction, seed)
    tr, va = np.sort(rest[keep]), np.sort(rest[held])
    return tr, va, te, {"split": "group", "seed": seed, "test_groups": chosen,
                        "train_groups": sorted(set(g[tr])), "val_groups": sorted(set(g[va]))}


# -- silence, augmentation --------------------------------------------------------------------------

def coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    """Unit-RMS noise, power ∝ f^0 (white), f^-1 (pink) or f^-2 (brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    spec *= f ** {"white": 0.0, "pink": -0.5, "brown": -1.0}[colour]
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def silence_clip(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    colour = ("white", "pink", "brown")[rng.integers(3)]
    level = 10 ** (rng.uniform(-70, -30) / 20)
    x = level * coloured_noise(rng, n, colour)
    if rng.random() < 0.3:                      # mains hum
        t = np.arange(n) / fs
        x += level * rng.uniform(0.3, 2) * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t + rng.uniform(0, 6.3))
    return x.astype(np.float32)


@dataclass(frozen=True)
class Augment:
    """Ranges of the training-split augmentation; each is applied with probability ``p``."""

    speed: tuple[float, float] | None = (0.85, 1.15)
    shift: float | None = 0.35                    # seconds, ±
    gain_db: tuple[float, float] | None = (-12.0, 12.0)
    snr_db: tuple[float, float] | None = (5.0, 35.0)
    p: float = 0.8
    stretch: tuple[float, float] | None = None    # tempo only (WSOLA), pitch kept: speaking rate
    time_mask: int = 0                            # SpecAugment: up to this many frames masked, twice
    freq_mask: int = 0                            # ... and this many coefficients, once
    partial: float = 0.15                         # keyword clips made partial-word 'unknown' windows
    keep_energy: float = 0.9                      # a shift keeps at least this fraction of the clip's energy

    def to_dict(self) -> dict[str, Any]:
        return {"speed": self.speed, "shift_s": self.shift, "gain_db": self.gain_db, "snr_db": self.snr_db,
                "p": self.p, "stretch": self.stretch, "time_mask": self.time_mask, "freq_mask": self.freq_mask,
                "partial": self.partial, "keep_energy": self.keep_energy}


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``x`` ``factor`` times faster (pitch and tempo together), by linear interpolation."""
    n = max(1, int(round(len(x) / factor)))
    return np.interp(np.arange(n) * factor, np.arange(len(x)), x).astype(np.float32)


def time_stretch(x: np.ndarray, rate: float, frame: int = 256, hop: int = 64, tolerance: int = 64) -> np.ndarray:
    """``x`` played ``rate`` times faster at the same pitch (WSOLA: Hann frames overlap-added every ``hop``
    samples, each taken within ±``tolerance`` of its ideal place where it best continues the previous one)."""
    x = np.asarray(x, np.float64)
    if len(x) < frame + 2 * tolerance or rate == 1.0:
        return x.astype(np.float32)
    xp = np.pad(x, (tolerance, frame + tolerance))
    n_out = max(1, int(round(len(x) / rate)))
    n_frames = n_out // hop + 1
    win = np.hanning(frame)
    out = np.zeros(n_frames * hop + frame)
    norm = np.zeros_like(out)
    prev = tolerance                       # where the previous frame came from (padded coordinates)
    for k in range(n_frames):
        ideal = tolerance + int(round(k * hop * rate))
        if ideal + frame + tolerance > len(xp):
            break
        if k == 0:
            pos = ideal
        else:
            target = xp[prev + hop: prev + hop + frame]          # the natural continuation
            lo = ideal - tolerance
            seg = xp[lo: lo + frame + 2 * tolerance]
            corr = np.correlate(seg, target, mode="valid")
            pos = lo + int(np.argmax(corr))
        out[k * hop: k * hop + frame] += win * xp[pos: pos + frame]
        norm[k * hop: k * hop + frame] += win
        prev = pos
    y = out / np.maximum(norm, 1e-3)
    return y[frame // 2: frame // 2 + n_out].astype(np.float32) if n_out + frame // 2 <= len(y) else \
        y[:n_out].astype(np.float32)


def shift_window(w: np.ndarray, s: int) -> np.ndarray:
    """``w`` moved ``s`` samples later (earlier when negative), zeros shifted in."""
    out = np.zeros_like(w)
    if s >= 0:
        out[s:] = w[:len(w) - s]
    else:
        out[:s] = w[-s:]
    return out


def _kept_shift(w: np.ndarray, s: int, keep: float) -> int:
    """``s`` halved until shifting ``w`` by it keeps at least ``keep`` of its energy in the window."""
    e = np.square(w, dtype=np.float64)
    total = float(e.sum())
    if total <= 0:
        return s
    c = np.concatenate([[0.0], np.cumsum(e)])
    n = len(w)
    while s and (c[n - s] if s > 0 else total - c[-s]) < keep * total:
        s = int(s / 2)
    return s


def partial_word(x: np.ndarray, rng: np.random.Generator, n: int, lo: float = 0.05,
                 hi: float = 0.5) -> np.ndarray:
    """A window of ``n`` samples holding only the start of clip ``x`` (at the window's end) or its end (at
    the window's start), a ``lo``…``hi`` fraction of the clip's energy: what a stream's window shows while a
    word enters or leaves it."""
    x = np.asarray(x, np.float32)
    e = np.square(x, dtype=np.float64)
    c = np.cumsum(e)
    total = float(c[-1]) if len(c) else 0.0
    w = np.zeros(n, np.float32)
    if total <= 0:
        return w
    frac = c / total                                   # energy of x[:k + 1]
    start = rng.random() < 0.5
    ok = np.flatnonzero((frac >= lo) & (frac <= hi)) if start else np.flatnonzero((1 - frac >= lo) &
                                                                                  (1 - frac <= hi))
    if not len(ok):
        k = int(np.searchsorted(frac, 0.25))
    else:
        k = int(ok[rng.integers(len(ok))])
    piece = x[:k + 1] if start else x[k + 1:]
    piece = piece[-n:] if start else piece[:n]
    if start:
        w[n - len(piece):] = piece
    else:
        w[:len(piece)] = piece
    return w


def augment(x: np.ndarray, rng: np.random.Generator, fs: float, aug: Augment,
            fit: Callable[[np.ndarray], np.ndarray], partial: bool = False) -> np.ndarray:
    """One augmented window from clip ``x``: speed → ``fit`` (the recorded pad/crop) → shift → gain →
    noise at an SNR relative to the clip's power. ``partial``: instead of fit and shift, only the start
    or the end of the clip (:func:`partial_word`)."""
    if aug.stretch and rng.random() < aug.p:
        x = time_stretch(x, rng.uniform(*aug.stretch))
    if aug.speed and rng.random() < aug.p:
        x = change_speed(x, rng.uniform(*aug.speed))
    power = float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0
    w = np.array(fit(x), dtype=np.float32)
    if partial:
        w = partial_word(x, rng, len(w))
    elif aug.shift and rng.random() < aug.p:
        s = int(rng.integers(-int(aug.shift * fs), int(aug.shift * fs) + 1))
        w = shift_window(w, _kept_shift(w, s, aug.keep_energy))
    if aug.gain_db and rng.random() < aug.p:
        g = 10 ** (rng.uniform(*aug.gain_db) / 20)
        w *= g
        power *= g * g
    if aug.snr_db and rng.random() < aug.p and power > 0:
        snr = rng.uniform(*aug.snr_db)
        colour = ("white", "pink", "brown")[rng.integers(3)]
        w += np.sqrt(power / 10 ** (snr / 10)) * coloured_noise(rng, len(w), colour)
    return np.clip(w, -1.0, 1.0)


def spec_augment(x: np.ndarray, rng: np.random.Generator, aug: Augment) -> None:
    """SpecAugment in place on (batch, frames, coefficients, 1) features: two time masks of up to
    ``time_mask`` frames and one frequency mask of up to ``freq_mask`` coefficients, set to 0 (the mean
    after normalisation)."""
    n, t, f = x.shape[:3]
    for i in range(n):
        for _ in range(2 if aug.time_mask else 0):
            w = int(rng.integers(0, aug.time_mask + 1))
            s = int(rng.integers(0, max(1, t - w)))
            x[i, s:s + w] = 0
        if aug.freq_mask:
            w = int(rng.integers(0, aug.freq_mask + 1))
            s = int(rng.integers(0, max(1, f - w)))
            x[i, :, s:s + w] = 0


# -- batches ---------------------------------------------------------------------------------------

def windows(cs: ClipSet, idx: np.ndarray, fit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The un-augmented raw windows of clips ``idx`` (float32, len(idx) × window)."""
    return np.stack([np.asarray(fit(cs.read(int(i))), np.float32) for i in idx]) if len(idx) else \
        np.zeros((0, 0), np.float32)


def batches(cs: ClipSet, idx: np.ndarray, front, fit, *, batch_size: int, aug: Augment | None = None,
            seed: int = 0):
    """A ``keras.utils.PyDataset`` over clips ``idx``: each batch read, fitted to the window, augmented
    (when ``aug``; the clip order is reshuffled every epoch; ``aug.partial`` of the keyword clips become
    partial-word ``unknown`` windows when the set has that class) and featurised by ``front`` on demand."""
    import keras

    y_all = cs.labels
    unknown = cs.names.index(UNKNOWN) if UNKNOWN in cs.names else None
    is_word = np.array([c.make is None and cs.names[c.label] not in (UNKNOWN, SILENCE) for c in cs.clips])
    partial = aug.partial if aug is not None and unknown is not None else 0.0

    class ClipBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.order = np.array(idx, dtype=np.int64)
            self.epoch = 0
            if aug is not None:
                self.order = np.random.default_rng([seed, 0]).permutation(self.order)

        def __len__(self):
            return (len(self.order) + batch_size - 1) // batch_size

        def __getitem__(self, b):
            part = self.order[b * batch_size:(b + 1) * batch_size]
            y = y_all[part].copy()
            if aug is None:
                w = windows(cs, part, fit)
            else:
                rows = []
                for j, i in enumerate(part):
                    rng = np.random.default_rng([seed, self.epoch, int(i)])
                    cut = bool(partial and is_word[i] and rng.random() < partial)
                    rows.append(augment(cs.read(int(i)), rng, cs.fs, aug, fit, partial=cut))
                    if cut:
                        y[j] = unknown
                w = np.stack(rows)
            x = front(w)
            if aug is not None and (aug.time_mask or aug.freq_mask) and x.ndim == 4:
                spec_augment(x, np.random.default_rng([seed, self.epoch, b, 1]), aug)
            return x, y

        def on_epoch_end(self):
            if aug is not None:
                self.epoch += 1
                self.order = np.random.default_rng([seed, self.epoch]).permutation(self.order)

    return ClipBatches()


# -- the built-in synthetic set --------------------------------------------------------------------

SYNTH_KEYWORDS = ("chirp", "hum", "knock", "speech")
SYNTH_OTHER = "beep"


def _envelope(n: int, attack: int, release: int) -> np.ndarray:
    e = np.ones(n)
    a, r = max(1, min(attack, n // 2)), max(1, min(release, n // 2))
    e[:a] = np.linspace(0, 1, a)
    e[n - r:] = np.linspace(1, 0, r)
    return e


def _event(kind: str, rng: np.random.Generator, fs: float, room: dict) -> np.ndarray:
    t_len = {"knock": rng.uniform(0.15, 0.5), "chirp": rng.uniform(0.25, 0.6), "hum": rng.uniform(0.5, 0.9),
             "speech": rng.uniform(0.35, 0.8), "beep": rng.uniform(0.15, 0.5)}[kind]
    n = int(t_len * fs)
    t = np.arange(n) / fs
    if kind == "knock":                         # 1-3 decaying resonant impacts
        x = np.zeros(n)
        for _ in range(rng.integers(1, 4)):
            at = int(rng.uniform(0, 0.6) * n)
            tt = t[: n - at]
            f = rng.uniform(200, 1500) * room["pitch"]
            x[at:] += rng.uniform(0.5, 1) * np.exp(-tt / rng.uniform(0.01, 0.04)) * np.sin(2 * np.pi * f * tt)
    elif kind == "chirp":                       # rising sweep
        f0, f1 = rng.uniform(300, 800) * room["pitch"], rng.uniform(1500, 3200)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * t_len))
        x = np.sin(phase) * _envelope(n, n // 10, n // 10)
    elif kind == "hum":                         # steady harmonic tone
        f0 = rng.uniform(60, 200) * room["pitch"]
        x = sum(rng.uniform(0.2, 1) / h * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6.3))
                for h in range(1, 6) if h * f0 < fs / 2)
        x = x * _envelope(n, n // 20, n // 20)
    elif kind == "speech":                      # syllables: harmonics of a gliding f0 shaped by two formants
        x = np.zeros(n)
        k = rng.integers(2, 5)
        edges = np.sort(rng.uniform(0, n, k - 1)).astype(int)
        for a, b in zip(np.r_[0, edges], np.r_[edges, n]):
            m = b - a
            if m < 8:
                continue
            ts = np.arange(m) / fs
            f0 = rng.uniform(90, 250) * room["pitch"] * (1 + rng.uniform(-0.15, 0.15) * ts / max(ts[-1], 1e-3))
            ph = 2 * np.pi * np.cumsum(f0) / fs
            F1, F2 = rng.uniform(300, 900), rng.uniform(900, 2500)
            seg = np.zeros(m)
            for h in range(1, int(3800 / f0.mean())):
                fh = h * f0.mean()
                amp = np.exp(-((fh - F1) / 150) ** 2) + 0.6 * np.exp(-((fh - F2) / 250) ** 2) + 0.02
                seg += amp * np.sin(h * ph)
            x[a:b] = seg * _envelope(m, m // 4, m // 3)
    else:                                       # beep: a pure tone, sometimes two
        x = sum(np.sin(2 * np.pi * rng.uniform(500, 3000) * t) for _ in range(rng.integers(1, 3)))
        x = x * _envelope(n, n // 30, n // 30)
    x = np.asarray(x, np.float64)
    return x / (np.abs(x).max() + 1e-12)


def synthetic_events(n_per_class: int = 120, seed: int = 0, fs: float = SYNTH_FS,
                     length: float = 1.0, rooms: int = 5) -> ClipSet:
    """Deterministic acoustic events in noise: ``n_per_class`` each of chirp, hum, knock, speech and beep,
    one event per ``length``-second clip at a random place and level (−30…−6 dBFS peak) over room noise
    (colour and level per room, SNR 10–30 dB); groups ``room0`` … (each room also shifts the events'
    pitch by up to ±10 %)."""
    rng = np.random.default_rng([3, seed])
    room_info = [{"pitch": rng.uniform(0.9, 1.1), "colour": ("white", "pink", "brown")[r % 3]}
                 for r in range(rooms)]
    kinds = (*SYNTH_KEYWORDS, SYNTH_OTHER)
    names = sorted(kinds)
    n = int(length * fs)
    clips = []
    for j in range(n_per_class):
        for kind in kinds:
            r = int(rng.integers(rooms))
            room = room_info[r]
            ev = _event(kind, rng, fs, room)[:n] * 10 ** (rng.uniform(-30, -6) / 20)
            x = np.zeros(n)
            at = int(rng.integers(0, n - len(ev) + 1))
            x[at:at + len(ev)] = ev
            p = np.mean(ev ** 2)
            x += np.sqrt(p / 10 ** (rng.uniform(10, 30) / 10)) * coloured_noise(rng, n, room["colour"])
            clips.append(Clip(names.index(kind), f"room{r}", data=np.clip(x, -1, 1).astype(np.float32)))
    return ClipSet(clips, names, float(fs), "synthetic", has_groups=True)


def parse_list(text: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]`` (None or empty → None)."""
    if not text:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


def check_regex(rx: str | None, flag: str) -> None:
    if rx is None:
        return
    try:
        c = re.compile(rx)
    except re.error as e:
        raise EdgekitError(f"{flag} {rx!r} is not a regular expression ({e})") from None
    if c.groups < 1:
        raise EdgekitError(f"{flag} {rx!r} needs a capture group, e.g. '^(\\d+)_'")
