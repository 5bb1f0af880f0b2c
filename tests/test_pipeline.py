"""The timed device step and the spec's post-processor (edge/pipeline.py, edge/postprocess.py)."""
import numpy as np
import pytest

from edgekit.edge.errors import EdgekitError
from edgekit.edge.pipeline.step import STAGES, timed_step
from edgekit.edge.pipeline.postprocess import postprocessor
from edgekit.edge.model.spec import Spec


class FakeModel:
    """Records the calls; 'quantizes' by ×2, 'invokes' by +1, 'dequantizes' by ÷2."""

    def __init__(self):
        self.calls = []

    def quantize(self, x):
        self.calls.append(("quantize", x.shape))
        return x * 2

    def invoke(self, q):
        self.calls.append(("invoke", q.shape))
        return q + 1

    def dequantize(self, raw):
        self.calls.append(("dequantize", raw.shape))
        return raw / 2


def test_stages_run_in_order_on_a_batch_of_one_and_are_timed():
    m = FakeModel()
    answer, lat = timed_step(m, lambda x: x * 10, lambda y: y.tolist(), np.array([1.0, 2.0]))
    assert answer == [10.5, 20.5]                      # ((x·10)·2 + 1) / 2, batch axis added then dropped
    assert [c[0] for c in m.calls] == ["quantize", "invoke", "dequantize"]
    assert m.calls[0][1] == (1, 2)
    assert tuple(lat) == STAGES
    assert all(v >= 0 for v in lat.values())
    parts = sum(lat[k] for k in STAGES if k != "total")
    assert lat["total"] == pytest.approx(parts, rel=1e-9, abs=1e-9)


def test_errors_of_a_stage_propagate():
    def bad_front(x):
        raise EdgekitError("wrong size")
    with pytest.raises(EdgekitError, match="wrong size"):
        timed_step(FakeModel(), bad_front, lambda y: y, np.zeros(3))


def _spec(**kw):
    base = dict(task="stft", kind="classification", sample_rate=100.0, window=10, input_shape=(10,),
                features={"type": "none"}, normalization={"type": "none"}, labels=("A", "B", "C"))
    base.update(kw)
    return Spec(**base)


def test_postprocessor_classifies_and_regresses():
    post = postprocessor(_spec())
    assert post(np.array([0.1, 0.7, 0.2])) == ("B", pytest.approx(0.7), 1)
    reg = _spec(task="traffic", kind="regression", labels=(),
                target={"name": "Speed", "units": "km/h", "scaling": {"type": "minmax", "min": 10.0, "max": 110.0}})
    assert postprocessor(reg)(np.array([0.5])) == pytest.approx(60.0)
