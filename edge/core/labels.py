"""Label names from specs and files: printable text only, and matched by name against a model's labels."""
from __future__ import annotations

import unicodedata

from edgekit.edge.core.errors import EdgekitError

_UNPRINTABLE = ("Cc", "Cf", "Cs", "Co", "Cn")   # control, format, surrogate, private use, unassigned


def unprintable(s: str) -> str | None:
    """The first control/format/surrogate/private-use/unassigned character of ``s`` as ``U+XXXX``, or None
    (a newline or an escape sequence in a label would forge lines or reach the terminal)."""
    if s.isprintable():                             # the fast path: no such character
        return None
    bad = next((c for c in s if unicodedata.category(c) in _UNPRINTABLE), None)
    return None if bad is None else f"U+{ord(bad):04X}"


def check_names(names, what: str, where: str) -> None:
    """Refuse names holding a character :func:`unprintable` finds: one line naming the name and the character."""
    for n in names:
        bad = unprintable(n)
        if bad:
            raise EdgekitError(f"{where}: {what} {ascii(n)[:80]} holds the unprintable character {bad}; rename it")


def known_truths(names, labels, what: str, notes: list[str]) -> set[str]:
    """The ``names`` (sub-folder names, a pickle's label names, ...) that are among the model's ``labels``,
    so only those are used as ground truth; a note names the others, whose inputs are not scored."""
    names = sorted(set(names))
    unknown = [n for n in names if n not in labels]
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        notes.append(f"{what} ({shown}) are not among the model's labels ({', '.join(labels[:10])}"
                     f"{', ...' if len(labels) > 10 else ''}); "
                     + ("accuracy is not scored" if len(unknown) == len(names) else "those inputs are not scored"))
    return set(names) - set(unknown)
