"""The device runtime works where TensorFlow, Keras and scipy cannot be imported."""
import json

import pytest

from conftest import device_python


def test_edge_modules_import_without_tensorflow():
    p = device_python("""
        import importlib, pkgutil, sys
        import edgekit.edge as e
        for m in pkgutil.walk_packages(e.__path__, "edgekit.edge."):
            importlib.import_module(m.name)
        bad = sorted(k for k in sys.modules if k.split(".")[0] in BLOCKED)
        print("loaded-blocked:", bad)
    """)
    assert "loaded-blocked: []" in p.stdout


def test_edge_run_and_info_without_tensorflow(tiny_run):
    model = str(tiny_run / "stft" / "stft_int8.tflite")
    p = device_python("""
        import sys
        from edgekit.edge.commands.edge_run import main
        main(sys.argv[1:])
    """, "--model", model, "--source", "synthetic", "--duration", "4", "--json")
    summary = json.loads(p.stdout.splitlines()[-1])["summary"]
    assert summary["windows"] == 5 and "litert" in summary["backend"]
    p = device_python("""
        import sys
        from edgekit.edge.commands.edgekit import main
        main(sys.argv[1:])
    """, "info", model)
    assert "int8" in p.stdout and "labels A, B" in p.stdout


@pytest.mark.parametrize("args, subject", [
    (["train", "stft", "--out", "{tmp}/x"], "'edgekit train'"),
    (["convert", "{run}"], "'edgekit convert'"),
    (["demo", "--out", "{tmp}/demo"], "'edgekit demo'"),
])
def test_workstation_command_names_the_missing_extra(tiny_run, tmp_path, args, subject):
    """On the runtime-only install a workstation command is one line naming the command and the extra,
    and it writes nothing first."""
    args = [a.format(tmp=tmp_path, run=tiny_run / "stft") for a in args]
    p = device_python("""
        from edgekit.edge.commands.edgekit import main
        main(sys.argv[1:])
    """, *args, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {subject} needs the "), p.stderr
    assert err[0].endswith("pip install 'edgekit[train]'"), p.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_lists_every_command_on_the_runtime_only_install():
    p = device_python("""
        from edgekit.edge.commands.edgekit import main
        main(["--help"])
    """)
    for name in ("bench", "compare", "convert", "data", "demo", "info", "run", "train"):
        assert f"  {name} " in p.stdout, name


def test_interpreter_order_and_the_error_when_none_is_installed(tiny_run):
    """LiteRT first; without it tflite-runtime/tensorflow.lite; with none, edge-run names the pip package."""
    p = device_python("""
        from edgekit.edge.model.backends.litert import interpreter_class
        cls, label = interpreter_class()
        print(cls.__module__, label)
    """)
    assert p.stdout.startswith("ai_edge_litert") and "ai-edge-litert" in p.stdout
    model = str(tiny_run / "stft" / "stft_int8.tflite")
    p = device_python("""
        BLOCKED.update({"ai_edge_litert", "tflite_runtime"})
        from edgekit.edge.commands.edge_run import main
        main(sys.argv[1:])
    """, "--model", model, "--duration", "1", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "no TFLite interpreter is installed: pip install ai-edge-litert" in err[0], p.stderr
