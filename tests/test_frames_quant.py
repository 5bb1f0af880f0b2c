import numpy as np
import pytest

from edgekit.edge.frontend.frames import Framer
from edgekit.edge.model.quant import TensorInfo, dequantize, quantize


@pytest.mark.parametrize("window, hop", [(5, 5), (5, 3), (5, 1), (5, 7), (10000, 10000), (100, 37)])
def test_framer_equals_slicing_for_any_block_sizes(window, hop):
    rng = np.random.default_rng(window * 31 + hop)
    x = rng.standard_normal(5 * window + 17).astype(np.float32)
    f = Framer(window, hop)
    got, i = [], 0
    while i < len(x):
        n = int(rng.integers(0, 2 * window + 3))
        got += [(s, w.copy()) for s, w in f.push(x[i:i + n])]
        i += n
    starts = list(range(0, len(x) - window + 1, hop))
    assert [s for s, _ in got] == starts
    for s, w in got:
        np.testing.assert_array_equal(w, x[s:s + window])
    assert f.position == len(x)


def test_framer_reset_drops_history():
    f = Framer(4, 4)
    assert list(f.push(np.arange(3))) == []
    f.reset()
    out = list(f.push(np.arange(10, 14)))
    assert [s for s, _ in out] == [3] and out[0][1].tolist() == [10, 11, 12, 13]


def test_quantize_round_trip_and_saturation():
    info = TensorInfo("x", (1, 4), np.dtype(np.int8), scale=0.05, zero_point=-3)
    x = np.array([0.0, 0.05, -1.0, 100.0], np.float32)
    q = quantize(x, info)
    assert q.dtype == np.int8
    assert q.tolist() == [-3, -2, -23, 127]
    np.testing.assert_allclose(dequantize(q, info)[:3], x[:3], atol=0.025)


def test_float_tensors_pass_through():
    info = TensorInfo("x", (1, 2), np.dtype(np.float32))
    x = np.array([1.5, -2.0])
    assert quantize(x, info).dtype == np.float32
    assert not info.quantized
