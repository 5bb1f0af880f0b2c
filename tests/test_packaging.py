"""The wheel users install (not the editable install the tests run on) holds every module of the three
folders, mapped under edgekit.*, and its console scripts."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, run

pytestmark = pytest.mark.slow
FOLDERS = {"edge": "edgekit/edge", "train": "edgekit/train", "convert": "edgekit/convert"}


def _tracked_files() -> list[str]:
    p = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("not a git checkout")
    return p.stdout.split()


def test_the_wheel_holds_every_module_and_the_scripts(tmp_path):
    src = tmp_path / "src"
    for name in _tracked_files():          # build from a copy: a build writes build/ and *.egg-info
        dst = src / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes((REPO / name).read_bytes())
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "dist"), str(src))
    wheel = next((tmp_path / "dist").glob("edgekit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"{FOLDERS[Path(f).parts[0]]}/{Path(*Path(f).parts[1:])}" for f in _tracked_files()
                if f.endswith(".py") and Path(f).parts[0] in FOLDERS}
    assert "edgekit/edge/model/backends/litert.py" in expected and "edgekit/convert/compare/cli.py" in expected
    missing = sorted(expected - names)
    assert not missing, f"modules missing from the wheel: {missing}"
    assert not any(n.startswith(("tests/", "benchmarks/", "edge/", "train/", "convert/")) for n in names)
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "edge-run = edgekit.edge.commands.edge_run:main" in text and "edgekit = edgekit.edge.commands.edgekit:main" in text
