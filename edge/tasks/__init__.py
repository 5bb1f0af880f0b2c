"""The task registry: what a model does with a stream, one :class:`~.base.Task` per task, looked up by the spec's
``task``.

The contract is :mod:`.base` (:class:`~.base.Task`, one stream's :class:`~.base.Run`, :class:`~.base.Options`,
:class:`~.base.Input`); the tasks are :class:`~.stft.StftTask` (1-D signals), :class:`~.audio.AudioTask` (sound:
the stft task with clips fitted as training fitted them), :class:`~.traffic.TrafficTask` (detector rows),
:class:`~.image.ImageTask` (pictures) and :class:`~.anomaly.AnomalyTask` (a machine's signal or sound scored against
its normal windows). Here: :data:`REGISTRY` of them by name, :func:`get`, :func:`for_source`
(the task after checking that it reads a ``--source``) and :func:`checked` (a spec's checks that need its task and front end).

Nothing outside the task modules branches on the task's name.
"""
from __future__ import annotations

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import validate_features
from edgekit.edge.tasks.anomaly import AnomalyTask
from edgekit.edge.tasks.audio import AudioTask
from edgekit.edge.tasks.base import Task
from edgekit.edge.tasks.image import ImageTask
from edgekit.edge.tasks.stft import StftTask
from edgekit.edge.tasks.traffic import TrafficTask

REGISTRY: dict[str, Task] = {t.name: t for t in (StftTask(), TrafficTask(), ImageTask(), AudioTask(), AnomalyTask())}


def get(name: str) -> Task:
    """The task of a spec's ``task``."""
    if name not in REGISTRY:
        raise EdgekitError(f"unknown task {name!r}; this edgekit knows {', '.join(REGISTRY)}")
    return REGISTRY[name]


def checked(spec: Spec, source: str = "spec") -> Spec:
    """``spec`` after the checks that need its task and its front end (a spec read by
    :class:`~edgekit.edge.core.spec.Spec` is only checked field by field): a task this edgekit knows, a window
    the task finds sane, front-end parameters the front end accepts. A bad one is a one-line error naming
    ``source``, as the field checks' are."""
    def fail(msg: str) -> EdgekitError:
        return EdgekitError(f"{source}: invalid edgekit spec: {msg}")

    if spec.task not in REGISTRY:
        raise fail(f"'task' must be one of {', '.join(REGISTRY)}, got {spec.task!r}")
    task = REGISTRY[spec.task]
    problem = task.window_problem(spec.window, spec.sample_rate)
    if problem:
        raise fail(problem)
    validate_features(spec, source)
    if spec.kind not in task.kinds:
        raise fail(f"'kind' {spec.kind} does not fit the {spec.task} task, whose model gives "
                   f"{' or '.join(task.kinds)} outputs")
    return spec


def for_source(src: str, spec: Spec) -> Task:
    """The model's task, after checking that it reads this kind of ``--source``; an error names the task
    that does (e.g. ``images:`` given to a vibration model)."""
    task = get(spec.task)
    kind = src.partition(":")[0]
    if kind in task.sources:
        return task
    for name, other in REGISTRY.items():
        if name != spec.task and kind in other.sources and kind not in task.sources:
            raise EdgekitError(f"--source {kind}{':...' if ':' in src else ''} feeds {other.what} to {name} "
                               f"models; this model's task is '{spec.task}' ({task.source_help})")
    return task          # the task's own open_source says what it does read
