"""edgekit.edge.frontend.resample: equal to scipy.signal.resample_poly, whole-signal and streamed."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.signal as ss

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.frontend.resample import StreamResampler, design_filter, rational_factors, resample

RATES = [(8000, 12800), (44100, 12800), (48000, 16000), (12800, 8000), (16000, 16000)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def scipy_ref(x: np.ndarray, fs_in: float, fs_out: float, axis: int = -1) -> np.ndarray:
    up, down = rational_factors(fs_in, fs_out)
    return ss.resample_poly(x, up, down, axis=axis)


def test_rational_factors():
    assert rational_factors(44100, 12800) == (128, 441)
    assert rational_factors(8000, 12800) == (8, 5)
    assert rational_factors(48000, 16000) == (1, 3)
    assert rational_factors(16000, 16000) == (1, 1)
    assert rational_factors(12800.0, 8000.0) == (5, 8)  # integral floats are exact
    f = Fraction(8000 / 12345.6).limit_denominator(1000)
    assert rational_factors(12345.6, 8000) == (f.numerator, f.denominator)


@pytest.mark.parametrize("up, down", [(8, 5), (128, 441), (1, 3), (5, 8), (3, 1)])
def test_design_filter_matches_firwin(up, down):
    h, half_len = design_filter(up, down)
    ref = up * ss.firwin(2 * half_len + 1, 1.0 / max(up, down), window=("kaiser", 5.0))
    assert half_len == 10 * max(up, down)
    np.testing.assert_allclose(h, ref, rtol=1e-12, atol=1e-15 * np.abs(ref).max())


@pytest.mark.parametrize("fs_in, fs_out", RATES)
@pytest.mark.parametrize("n", [1, 7, 1000, 20000])  # short signals take the gather path, long ones the phase loop
def test_resample_1d_matches_scipy(rng, fs_in, fs_out, n):
    x = rng.standard_normal(n)
    y = resample(x, fs_in, fs_out)
    ref = scipy_ref(x, fs_in, fs_out)
    assert y.shape == ref.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fs_in, fs_out", RATES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_resample_2d_matches_scipy(rng, fs_in, fs_out, axis):
    shape = [3, 3]
    shape[axis] = 4000
    x = rng.standard_normal(shape)
    y = resample(x, fs_in, fs_out, axis=axis)
    ref = scipy_ref(x, fs_in, fs_out, axis=axis)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-12)


def test_resample_3d_and_float32(rng):
    x = rng.standard_normal((2, 3, 3000)).astype(np.float32)
    y = resample(x, 44100, 12800)
    ref = scipy_ref(x, 44100, 12800)
    assert y.dtype == ref.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-5)  # scipy filters float32 in single precision


def test_odd_rates(rng):
    x = rng.standard_normal(5000)
    for fs_in, fs_out in [(1000, 44100), (44100, 48000), (11025.5, 8000)]:
        y = resample(x, fs_in, fs_out)
        np.testing.assert_allclose(y, scipy_ref(x, fs_in, fs_out), rtol=1e-9, atol=1e-12)


def test_equal_rates_return_input():
    x32 = np.arange(10, dtype=np.float32)
    assert resample(x32, 16000, 16000) is x32
    x64 = np.arange(10, dtype=np.float64)
    assert resample(x64, 16000, 16000.0) is x64
    xi = np.arange(10, dtype=np.int16)
    out = resample(xi, 8000, 8000)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, xi)


def test_integer_input_is_float64(rng):
    x = rng.integers(-1000, 1000, 3000).astype(np.int16)
    y = resample(x, 8000, 12800)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, scipy_ref(x, 8000, 12800), rtol=1e-9, atol=1e-9)


def test_empty_signal():
    assert resample(np.zeros(0), 8000, 12800).shape == (0,)
    assert resample(np.zeros((0, 50)), 8000, 12800).shape == (0, 80)


def test_resamples_a_tone_correctly():
    fs_in, fs_out, f0 = 44100, 12800, 440.0
    x = np.sin(2 * np.pi * f0 * np.arange(44100) / fs_in)
    y = resample(x, fs_in, fs_out)
    expected = np.sin(2 * np.pi * f0 * np.arange(len(y)) / fs_out)
    np.testing.assert_allclose(y[200:-200], expected[200:-200], atol=2e-3)  # no delay, unit gain


@pytest.mark.parametrize("fs_in, fs_out, x, words", [
    (0, 8000, np.zeros(10), "fs_in"),
    (8000, -1, np.zeros(10), "fs_out"),
    (float("nan"), 8000, np.zeros(10), "fs_in"),
    ("8000", 8000, np.zeros(10), "fs_in"),
    (8000, 12800, np.zeros(10, dtype=complex), "real"),
    (8000, 12800, np.float64(1.0), "scalar"),
])
def test_resample_errors(fs_in, fs_out, x, words):
    with pytest.raises(EdgekitError, match=words):
        resample(x, fs_in, fs_out)
    with pytest.raises(EdgekitError, match="axis"):
        resample(np.zeros((3, 10)), 8000, 12800, axis=2)


# ---------------------------------------------------------------------------------------------
# streaming
# ---------------------------------------------------------------------------------------------
def stream(rs: StreamResampler, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    out, i = [], 0
    for k in sizes:
        y = rs.process(x[i : i + k])
        assert y.dtype == np.float32 and y.ndim == 1
        out.append(y)
        i += k
    assert i >= len(x)
    out.append(rs.flush())
    return np.concatenate(out)


def random_sizes(rng: np.random.Generator, n: int) -> list[int]:
    sizes, total = [], 0
    while total < n:
        k = int(rng.choice([0, 1, 1, 2, 3, 17, 160, 441, 1000, 4096]))
        sizes.append(k)
        total += k
    return sizes


@pytest.mark.parametrize("fs_in, fs_out", RATES + [(1000, 44100), (44100, 48000)])
def test_stream_equals_whole(rng, fs_in, fs_out):
    x = rng.uniform(-1, 1, 12345).astype(np.float32)
    ref = resample(x, fs_in, fs_out)
    rs = StreamResampler(fs_in, fs_out)
    for _ in range(3):  # also checks that flush() resets for a new stream
        y = stream(rs, x, random_sizes(rng, len(x)))
        assert y.shape == ref.shape
        np.testing.assert_allclose(y, ref, atol=1e-5, rtol=0)


def test_stream_sample_by_sample(rng):
    x = rng.uniform(-1, 1, 700)
    y = stream(StreamResampler(8000, 12800), x, [1] * len(x))
    np.testing.assert_allclose(y, scipy_ref(x, 8000, 12800), atol=1e-5, rtol=0)


def test_stream_latency_and_bounded_memory(rng):
    rs = StreamResampler(44100, 12800)
    latency = rs._engine.half_len / rs.up   # input samples an output's time must be followed by
    assert latency == pytest.approx(4410 / 128)
    assert len(rs.process(np.zeros(30, np.float32))) == 0  # not enough look-ahead yet
    total_in, total_out = 30, 0
    for _ in range(200):
        block = rng.uniform(-1, 1, 1024)
        total_out += len(rs.process(block))
        total_in += len(block)
        assert rs._buf.shape[1] < 200  # only the filter's history is kept
    # everything up to the latency has been produced
    expected_ready = int(np.ceil((total_in - latency) * 128 / 441))
    assert total_out == expected_ready
    assert total_out + len(rs.flush()) == int(np.ceil(total_in * 128 / 441))


def test_stream_equal_rates_passthrough():
    rs = StreamResampler(16000, 16000)
    x = np.arange(5, dtype=np.float64)
    y = rs.process(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)
    assert rs.flush().size == 0


def test_stream_errors():
    rs = StreamResampler(8000, 12800)
    with pytest.raises(EdgekitError, match="1-D"):
        rs.process(np.zeros((10, 2)))
    with pytest.raises(EdgekitError):
        StreamResampler(0, 8000)
