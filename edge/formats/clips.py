"""Labelled clip folders: WAV files whose label is their sub-folder's name or a part of their file name.

Two layouts:

* **sub-folders** (no ``label_regex``): ``PATH/<label>/**.wav``, e.g. Speech Commands. Folders whose names
  start with ``.`` or ``_`` are skipped (Speech Commands' ``_background_noise_`` is not a label), and so are
  WAV files lying directly in ``PATH``.
* **flat** (``label_regex`` given): ``PATH/*.wav``, the label the regex's first group, searched in the file
  name, e.g. ``'^(\\d+)_'`` for the Free Spoken Digit Dataset's ``{digit}_{speaker}_{take}.wav``.

``group_regex`` (either layout) takes a group from the file name the same way, e.g. the speaker
(``'^\\d+_([a-z]+)_'``), so that splits and reports can keep a speaker's clips together; without it the group is None. A
``.wav`` suffix matches in any case; hidden files (``.``) are skipped. The list is sorted by path, so it is the same on
every machine.
"""
from __future__ import annotations

import re
from pathlib import Path

from edgekit.edge.core.errors import EdgekitError

Clip = tuple[Path, str, "str | None"]


def _compile(pattern: str, name: str) -> re.Pattern:
    if not isinstance(pattern, str):
        raise EdgekitError(f"{name} must be a regular expression string, got {pattern!r}")
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise EdgekitError(f"{name} {pattern!r} is not a valid regular expression ({e}); fix the pattern") \
            from None
    if rx.groups < 1:
        raise EdgekitError(f"{name} {pattern!r} has no group; put the part of the file name it takes in "
                           f"parentheses, e.g. '^(\\d+)_'")
    return rx


def _is_wav(p: Path) -> bool:
    return p.suffix.lower() == ".wav" and not p.name.startswith(".") and p.is_file()


def _take(rx: re.Pattern, paths: list[Path], name: str, where: Path) -> list[str]:
    """The first group of ``rx`` in each file name; an error when any name gives none."""
    out, bad = [], []
    for p in paths:
        m = rx.search(p.name)
        value = m.group(1) if m else None
        if not value:
            bad.append(p.name)
        out.append(value)
    if bad:
        raise EdgekitError(f"{name} {rx.pattern!r} does not match {len(bad)} of {len(paths)} file names in "
                           f"{where} (e.g. {bad[0]!r}); fix the pattern or move those files")
    return out


def list_clips(path, label_regex: str | None = None, group_regex: str | None = None,
               min_labels: int = 2) -> list[Clip]:
    """``[(path, label, group), ...]`` for the WAV files of a labelled clip folder (at least ``min_labels`` labels:
    a classifier's 2; an anomaly model's normal clips may be one), sorted by path."""
    root = Path(path)
    if not root.is_dir():
        raise EdgekitError(f"{root}: no such folder; give a folder of labelled WAV clips")
    label_rx = None if label_regex is None else _compile(label_regex, "label_regex")
    group_rx = None if group_regex is None else _compile(group_regex, "group_regex")
    if label_rx is not None:
        files = sorted(filter(_is_wav, root.iterdir()))
        if not files:
            raise EdgekitError(f"{root}: no WAV files in the folder; a flat clip folder holds *.wav files")
        labels = _take(label_rx, files, "label_regex", root)
    else:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
        files, labels = [], []
        for folder in folders:
            found = sorted(filter(_is_wav, folder.rglob("*")))
            files += found
            labels += [folder.name] * len(found)
        if not files:
            loose = list(filter(_is_wav, root.iterdir()))
            hint = (f"it holds {len(loose)} WAV files but no label sub-folders; give a label_regex that takes "
                    f"the label from the file name, e.g. '^(\\d+)_'") if loose else \
                "give a folder of sub-folders named by label, each holding WAV files"
            raise EdgekitError(f"{root}: no WAV files in label sub-folders; {hint}")
        order = sorted(range(len(files)), key=lambda i: str(files[i]))
        files, labels = [files[i] for i in order], [labels[i] for i in order]
    groups = _take(group_rx, files, "group_regex", root) if group_rx is not None else [None] * len(files)
    distinct = sorted(set(labels))
    if len(distinct) < min_labels:
        raise EdgekitError(f"{root}: all {len(files)} WAV files have the label {distinct[0]!r}; a classifier "
                           "needs clips of at least 2 labels")
    return list(zip(files, labels, groups))
