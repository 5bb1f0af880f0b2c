"""The ``audio`` task's classes: keyword selection, the ``silence`` and ``unknown`` classes, synthetic voices.

Extra classes (:func:`add_extra_classes`): ``silence`` = noise alone (white, pink or brown, −70…−30 dBFS, sometimes with
mains hum); ``unknown`` = clips of the labels that ``keywords`` leaves out, or, when every label is a keyword,
time-reversed keyword clips (speech-like spectra and level contours, no keyword). Each extra clip belongs to the group
of the clip it is made from, so a group-wise split stays group-wise.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError

from .clips import Clip, ClipSet

SILENCE, UNKNOWN = "silence", "unknown"
SYNTHETIC_GROUPS = ("espeak-ng", "flite")   # synthetic speech (edgekit.train.tts): groups <engine>/<voice>


def is_synthetic(groups) -> np.ndarray:
    """Which of ``groups`` are synthetic voices (``espeak-ng/<k>``, ``flite/<k>``)."""
    return np.array([str(g).split("/", 1)[0] in SYNTHETIC_GROUPS and "/" in str(g) for g in groups], dtype=bool)


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
    keep = [replace(c, label=new[cs.names[c.label]]) for c in cs.clips if cs.names[c.label] in new]
    held = [replace(c, label=-1) for c in cs.clips if cs.names[c.label] not in new]
    out = ClipSet(keep + held, list(new), cs.fs, cs.source, cs.has_groups, cs.cache_bytes)
    return out, list(range(len(keep), len(keep) + len(held)))


def add_extra_classes(cs: ClipSet, held: list[int], *, silence: bool = True, unknown: str = "auto",
                      seed: int = 0) -> tuple[ClipSet, str]:
    """Append the ``silence`` and ``unknown`` classes (module docstring), each about as large as the mean keyword class.
    ``unknown``: "auto" (held-out labels if any, else reversed), "heldout", "reversed" or "none". Returns the set and a
    description of what was added."""
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
    out = [replace(c, base=remap.get(c.base)) for c in (clips[i] for i in keep) if c.base is None or c.base in remap]
    return ClipSet(out, names, cs.fs, cs.source, cs.has_groups, cs.cache_bytes), "; ".join(notes) or "none"


def add_spoken(cs: ClipSet, spoken: Sequence[tuple[str, int, np.ndarray]]) -> ClipSet:
    """``cs`` with synthetic speech (``[(label, group, samples at cs.fs), ...]``,
    :func:`edgekit.train.tts.synthesize`; the group is the voice, ``espeak-ng/<k>`` or ``flite/<k>``) appended
    as in-memory clips (never in the test split, :func:`edgekit.train.splits.group_split`)."""
    index = {n: k for k, n in enumerate(cs.names)}
    clips = list(cs.clips)
    for lab, group, x in spoken:
        if not is_synthetic([group])[0]:
            raise EdgekitError(f"synthetic group {group!r} is not <engine>/<k> with an engine of "
                               f"{', '.join(SYNTHETIC_GROUPS)}")
        clips.append(Clip(index[lab], str(group), data=np.asarray(x, np.float32)))
    return ClipSet(clips, list(cs.names), cs.fs, cs.source, cs.has_groups, cs.cache_bytes)
