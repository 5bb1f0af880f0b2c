import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def bin_path(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def run(*args, check=True, timeout=600, **kw):
    p = subprocess.run([*args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


# Prepended to `python -c` code: the workstation-only packages cannot be imported, as on a runtime-only
# install (the device runtime must work there).
BLOCKER = textwrap.dedent("""
    import sys
    BLOCKED = {"tensorflow", "keras", "scipy", "tf2onnx", "onnx", "pandas", "tf_keras", "matplotlib"}
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: {name}", name=name)
    sys.meta_path.insert(0, Blocker())
""")


def device_python(code: str, *args: str, check: bool = True):
    """Run ``code`` in a fresh interpreter where the workstation packages cannot be imported."""
    return run(sys.executable, "-c", BLOCKER + textwrap.dedent(code), *args, check=check)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny STFT model trained on synthetic data, converted to float32 and int8 TFLite."""
    d = tmp_path_factory.mktemp("run")
    data = d / "data.pkl"
    run(bin_path("edgekit"), "data", "synth", "stft", "--n", "200", "--seed", "3", "--out", str(data))
    run(bin_path("edgekit"), "train", "stft", "--data", str(data), "--epochs", "4", "--seed", "1",
        "--out", str(d / "stft"))
    for precision in ("float32", "int8"):
        run(bin_path("edgekit"), "convert", str(d / "stft"), "--to", "tflite", "--precision", precision,
            "--json")
    return d




class StandIn:
    """A model without a model file: ``fn(float input batch) -> output batch`` behind the Backend protocol
    (``input``/``output`` tensors, ``bind``), for driving the streaming loop in tests."""

    def __init__(self, spec, fn, path="stand-in.tflite"):
        import types
        import numpy as np
        from edgekit.edge.model.quant import TensorInfo
        self.spec, self.path, self.precision, self._fn = spec, path, "float32", fn
        n_out = len(spec.labels) if spec.labels else 1

        def bind(shape):
            x = np.zeros(shape, np.float32)
            return x, lambda: np.asarray(fn(x), np.float32)
        self.backend = types.SimpleNamespace(
            name="stand-in", format="tflite", bind=bind, run=lambda x: np.asarray(fn(x), np.float32),
            input=TensorInfo("x", (-1, *spec.input_shape), np.dtype(np.float32)),
            output=TensorInfo("y", (-1, n_out), np.dtype(np.float32)))

    def quantize(self, feats):
        return feats

    def invoke(self, x):
        return self.backend.run(x)

    def dequantize(self, y):
        return y
