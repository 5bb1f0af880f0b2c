"""The shape of the house: arrows train → convert → edge only, no import circle, edge's floors (core at the
bottom, commands at the top) importing only downwards, one audio loader, every task a class behind the one
task contract, no branch on a task's name outside the task modules, a first docstring line everywhere and no
placeholder package."""
import ast
import inspect
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"train": "edgekit.train", "convert": "edgekit.convert", "edge": "edgekit.edge"}


def _modules() -> dict[str, Path]:
    mods = {}
    for folder, pkg in ROOTS.items():
        for p in sorted((REPO / folder).rglob("*.py")):
            rel = p.relative_to(REPO / folder).with_suffix("")
            parts = [pkg, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """edgekit modules that ``name`` imports anywhere (lazy imports inside functions included)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[:len(up) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in MODULES else base)
    return {m for m in out if m.startswith("edgekit.") and m != name}


GRAPH = {name: {m for m in _imports(name, p) if m in MODULES} for name, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_arrows_point_from_train_to_convert_to_edge_only():
    bad = [(a, b) for a, deps in GRAPH.items() for b in deps
           if (a.startswith("edgekit.edge") and not b.startswith("edgekit.edge"))
           or (a.startswith("edgekit.convert") and b.startswith("edgekit.train"))]
    assert bad == []


def test_no_import_circle_between_modules():
    assert _cycles(GRAPH) == []


# The device runtime's floors, bottom to top: a module imports only its own sub-package and the floors below
# it. Sub-packages on one floor do not import each other.
FLOORS = [("core",), ("frontend",), ("formats",), ("sources", "outputs"), ("tasks",), ("model",), ("pipeline",),
          ("commands",)]
FLOOR = {pkg: i for i, floor in enumerate(FLOORS) for pkg in floor}


def _package(m: str) -> str:
    """edgekit.edge.formats.wav → formats; edgekit.edge → edge."""
    parts = m.split(".")
    return parts[2] if len(parts) > 2 else "edge"


def test_the_device_runtime_is_grouped_by_concern():
    flat = sorted(p.name for p in (REPO / "edge").glob("*.py"))
    assert flat == ["__init__.py"]
    subs = sorted(p.parent.name for p in (REPO / "edge").glob("*/__init__.py"))
    assert subs == sorted(FLOOR)


def test_each_floor_imports_only_the_floors_below_it():
    bad = []
    for a, deps in GRAPH.items():
        if not a.startswith("edgekit.edge.") or _package(a) == "edge":
            continue
        for b in deps:
            pa, pb = _package(a), _package(b)
            if pb == "edge" or (pa != pb and FLOOR[pb] >= FLOOR[pa]):
                bad.append(f"{a} -> {b}")
    assert bad == []


def test_the_spec_imports_nothing_above_the_shared_contract():
    assert {_package(b) for b in GRAPH["edgekit.edge.core.spec"]} <= {"core"}
    assert all(_package(b) == "core" for m in GRAPH if m.startswith("edgekit.edge.core") for b in GRAPH[m])


# Reading audio: only formats/audio decodes WAV for a signal or resamples; everyone else calls load_audio,
# AudioStream or at_rate, so the device hears what training heard.
AUDIO_DOOR = "edgekit.edge.formats.audio"
DECODERS = {"edgekit.edge.formats.wav": {"read_wav", "WavReader"}, "edgekit.edge.frontend.resample": None}
FOREIGN_DECODERS = ("wave", "soundfile", "scipy.io.wavfile", "librosa", "audioread", "pydub")


def test_one_audio_loader():
    bad = []
    for name, path in MODULES.items():
        if name in (AUDIO_DOOR, *DECODERS):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in DECODERS:
                names = DECODERS[node.module]
                hit = [a.name for a in node.names if names is None or a.name in names]
                if hit:
                    bad.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.module} {hit}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                bad += [f"{path.relative_to(REPO)}:{node.lineno}: {m}" for m in mods
                        if m in FOREIGN_DECODERS or m.split(".")[0] in ("soundfile", "librosa", "audioread")]
    assert bad == []


def test_only_task_modules_branch_on_the_task_name():
    pattern = re.compile(r"""task\s*(==|!=)\s*["']|\.task\s+(not\s+)?in\b|task\s+in\s*\(""")
    offenders = []
    for name, p in MODULES.items():
        if name.startswith("edgekit.edge.tasks"):
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{p.relative_to(REPO)}:{i}: {line.strip()}")
    assert offenders == []


def test_every_task_keeps_the_task_contract():
    """The registry holds Task instances whose run() makes a Run; both contracts are abstract; tasks are
    classes, not modules found by a path string."""
    from edgekit.edge import tasks
    from edgekit.edge.tasks.base import Run, Task

    assert inspect.isabstract(Task) and inspect.isabstract(Run)
    assert {"inputs", "result", "empty", "summary"} <= Run.__abstractmethods__
    assert tasks.REGISTRY and set(tasks.REGISTRY) == {"stft", "audio", "traffic", "image", "anomaly"}
    for name, task in tasks.REGISTRY.items():
        assert isinstance(task, Task) and not inspect.isabstract(type(task)) and task.name == name
        assert tasks.get(name) is task
        run_class = task.run_class
        assert issubclass(run_class, Run) and run_class is not Run and not inspect.isabstract(run_class)
        assert task.sources and task.what and task.source_help
    for name, path in MODULES.items():
        if name.startswith("edgekit.edge.tasks"):
            text = path.read_text()
            assert "importlib" not in text and not re.search(r"""["']edgekit\.edge\.tasks\.""", text), path


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_says_what_it_is(name):
    doc = ast.get_docstring(ast.parse(MODULES[name].read_text()))
    assert doc and len(doc.splitlines()[0]) > 10, f"{MODULES[name]}: no first docstring line"
    assert "placeholder" not in doc.lower() and doc.strip() != f"{name}.", f"{MODULES[name]}: says nothing"
