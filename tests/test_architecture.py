"""The shape of the house: arrows train → convert → edge only, no import circle between modules or between
edge's sub-packages, no branch on a task's name outside the task modules, a first docstring line everywhere."""
import ast
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


def _layer(m: str) -> str:
    """edgekit.edge.io.wav → io; edgekit.edge.errors → base; edgekit.edge.run → commands."""
    parts = m.split(".")
    if len(parts) > 3 or MODULES[m].name == "__init__.py":
        return parts[2]
    return "base" if parts[2] in ("errors", "_quiet") else "commands"


def test_no_circle_between_the_sub_packages_of_edge():
    layers: dict[str, set[str]] = {}
    for a, deps in GRAPH.items():
        if a.startswith("edgekit.edge."):
            for b in deps:
                if b.startswith("edgekit.edge.") and _layer(a) != _layer(b):
                    layers.setdefault(_layer(a), set()).add(_layer(b))
    assert _cycles(layers) == [], layers
    assert "base" not in layers                                  # errors and _quiet import nothing of ours
    assert not any("commands" in deps for layer, deps in layers.items() if layer != "commands"), layers


def test_the_device_runtime_is_grouped_by_concern():
    flat = sorted(p.name for p in (REPO / "edge").glob("*.py"))
    assert flat == ["__init__.py", "_cli.py", "_quiet.py", "bench.py", "cli.py", "errors.py", "run.py",
                    "service.py", "stream_eval.py"]
    for sub in ("io", "frontend", "model", "pipeline", "tasks"):
        assert (REPO / "edge" / sub / "__init__.py").is_file()


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


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_says_what_it_is(name):
    doc = ast.get_docstring(ast.parse(MODULES[name].read_text()))
    assert doc and len(doc.splitlines()[0]) > 10, f"{MODULES[name]}: no first docstring line"
