"""Label files of long recordings: where each utterance is, in the format Audacity exports (File → Export → Export
Labels) and most annotation tools can write.

One region per line: ``start<TAB>end<TAB>label``, times in seconds from the start of the recording (a point label has
``start == end``); commas may stand for the tabs. Blank lines and lines starting with ``#`` are skipped, and so are
Audacity's frequency lines (starting with ``\\``) that follow a region of a spectral selection. Regions are returned
sorted by start; they may not overlap."""
from __future__ import annotations

import math
import os
from pathlib import Path

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.labels import unprintable

MAX_BYTES = 16 << 20          # a label file larger than this is not a label file
Region = tuple[float, float, str]


def _fields(line: str) -> list[str]:
    sep = "\t" if "\t" in line else ","
    return [f.strip() for f in line.split(sep, 2)]


def read_label_track(path) -> list[Region]:
    """``[(start_s, end_s, label), ...]`` of a label file, sorted by start; a one-line error names the file,
    the line and what is wrong with it."""
    p = Path(path)
    try:
        size = os.path.getsize(p)
        if size > MAX_BYTES:
            raise EdgekitError(f"{p}: {size} bytes is too large for a label file (at most {MAX_BYTES >> 20} MB)")
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise EdgekitError(f"--labels {p}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise EdgekitError(f"{p}: not a UTF-8 text file; give a label file (start, end, label per line)") from None
    regions: list[Region] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", "\\")):
            continue
        f = _fields(line)
        where = f"{p} line {n}"
        if len(f) != 3 or not f[2]:
            raise EdgekitError(f"{where}: expected 'start<TAB>end<TAB>label' (seconds, seconds, name), "
                               f"got {ascii(raw)[:80]}")
        try:
            start, end = float(f[0]), float(f[1])
        except ValueError:
            raise EdgekitError(f"{where}: the start and end must be seconds, got {ascii(f[0])[:30]} and "
                               f"{ascii(f[1])[:30]}") from None
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
            raise EdgekitError(f"{where}: need 0 <= start <= end (seconds), got {f[0]} to {f[1]}")
        bad = unprintable(f[2])
        if bad:
            raise EdgekitError(f"{where}: the label holds the unprintable character {bad}; rename it")
        regions.append((start, end, f[2]))
    if not regions:
        raise EdgekitError(f"{p}: no labelled regions; a label file has 'start<TAB>end<TAB>label' lines")
    regions.sort(key=lambda r: (r[0], r[1]))
    for a, b in zip(regions, regions[1:]):
        if b[0] < a[1]:
            raise EdgekitError(f"{p}: the regions '{a[2]}' ({a[0]:g}-{a[1]:g} s) and '{b[2]}' ({b[0]:g}-"
                               f"{b[1]:g} s) overlap; one utterance per stretch of time")
    return regions


def write_label_track(path, regions) -> None:
    """Write ``(start_s, end_s, label)`` regions as a label file :func:`read_label_track` (and Audacity) read."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for start, end, label in regions:
            f.write(f"{start:.6f}\t{end:.6f}\t{label}\n")
