"""The spec's post-processor (edge/pipeline/postprocess.py); the timed step is in test_device_path.py."""
import numpy as np
import pytest

from edgekit.edge.pipeline.postprocess import postprocessor
from edgekit.edge.core.spec import Spec


def _spec(**kw):
    base = dict(task="stft", kind="classification", sample_rate=100.0, window=10, input_shape=(10,),
                features={"type": "none"}, normalization={"type": "none"}, labels=("A", "B", "C"))
    base.update(kw)
    return Spec(**base)


def test_postprocessor_classifies_and_regresses():
    post = postprocessor(_spec())
    label, score, index, vector = post(np.array([0.1, 0.7, 0.2]))
    assert (label, score, index) == ("B", pytest.approx(0.7), 1) and vector.tolist() == [0.1, 0.7, 0.2]
    reg = _spec(task="traffic", kind="regression", labels=(),
                target={"name": "Speed", "units": "km/h", "scaling": {"type": "minmax", "min": 10.0, "max": 110.0}})
    assert postprocessor(reg)(np.array([0.5])) == pytest.approx(60.0)
