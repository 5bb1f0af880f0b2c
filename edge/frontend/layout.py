"""Model input layouts: which ``input_shape`` a front end's feature matrix may be reshaped to.

A front end computes a matrix (``a`` × ``b``: frames × coefficients, or coefficients × frames, as its ``layout``
says) and :class:`~edgekit.edge.frontend.FrontEnd` reshapes it, in that order, to the spec's ``input_shape``. Only
shapes that keep the matrix as it is are allowed: ``(a, b)`` or ``(a * b,)`` with any axes of size 1 added
(``[1, 1960]``, ``[49, 10, 1]``, ``[30, 1, 40]``, channels-first ``[1, 49, 10]``). ``[10, 49, 1]`` for a 49 × 10
time-major matrix is refused, not silently reshaped into other features."""
from __future__ import annotations

import math
from typing import Sequence


def fits(input_shape: Sequence[int], natural: Sequence[int]) -> bool:
    """True if ``input_shape`` is the ``natural`` shape's matrix with axes of size 1 added or removed, or flattened."""
    core = [int(n) for n in natural if n != 1]
    given = [int(n) for n in input_shape if n != 1]
    return given == core or given == [math.prod(core)]


def describe(natural: Sequence[int]) -> str:
    """The natural shape for an error message, with the flat form."""
    return f"{list(natural)}, or {[math.prod(natural)]} flattened, axes of size 1 added or removed"
