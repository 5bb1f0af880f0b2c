"""The synthetic vibration generator: deterministic, balanced, and physically a bearing fault."""
import itertools

import numpy as np
import pytest

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.sources.synth import vibration, vibration_stream

FS = 12800.0


@pytest.fixture(scope="module")
def data():
    return vibration(200, seed=0)


def test_shapes_dtypes_range(data):
    x, y = data
    assert x.shape == (200, 10000) and x.dtype == np.float32
    assert y.shape == (200,) and y.dtype == np.int64
    assert np.isfinite(x).all()
    assert np.abs(x).max() <= 0.95 + 1e-6                            # inside full scale
    rms = np.sqrt((x.astype(np.float64) ** 2).mean(axis=1))
    assert rms.min() > 0.005


def test_balanced_and_shuffled(data):
    _, y = data
    assert set(y.tolist()) == {0, 1} and (y == 0).sum() == 100 == (y == 1).sum()
    assert not np.array_equal(y, np.sort(y))
    _, y = vibration(41, seed=3)
    assert (y == 0).sum() == 20 and (y == 1).sum() == 21
    _, y = vibration(200, seed=3, balanced=False)
    assert set(y.tolist()) <= {0, 1} and 60 < (y == 1).sum() < 140


def test_deterministic(data):
    x, y = vibration(200, seed=0)
    assert x.tobytes() == data[0].tobytes() and np.array_equal(y, data[1])
    x1, y1 = vibration(200, seed=1)
    assert not np.array_equal(x1, x) and not np.array_equal(y1, y)
    x2, _ = vibration(20, seed=0, length=5000, fs=16000.0)
    assert x2.shape == (20, 5000)
    assert vibration(0)[0].shape == (0, 10000)
    x3, _ = vibration(4, seed=0, fs=8000.0)                          # lower rates: the band shrinks
    assert np.isfinite(x3).all() and x3.shape == (4, 10000)


def _band_fraction(x, lo, hi):
    spec = np.abs(np.fft.rfft(x.astype(np.float64), axis=1)) ** 2
    f = np.fft.rfftfreq(x.shape[1], 1 / FS)
    return spec[:, (f >= lo) & (f <= hi)].sum(1) / spec.sum(1)


def _highpass_kurtosis(x, cutoff=1500.0):
    spec = np.fft.rfft(x.astype(np.float64), axis=1)
    spec[:, np.fft.rfftfreq(x.shape[1], 1 / FS) < cutoff] = 0
    h = np.fft.irfft(spec, x.shape[1], axis=1)
    h -= h.mean(1, keepdims=True)
    return (h ** 4).mean(1) / (h ** 2).mean(1) ** 2


def test_fault_physics(data):
    """B = A + impacts ringing a 2–5 kHz resonance: more resonance-band energy, impulsive (kurtosis)."""
    x, y = data
    band = np.log(_band_fraction(x, 1900.0, 5200.0))
    assert np.median(band[y == 1]) > np.median(band[y == 0]) + 1.0
    k = _highpass_kurtosis(x)
    assert np.median(k[y == 0]) < 3.6                                # healthy: ~Gaussian noise + tones
    assert np.median(k[y == 1]) > np.median(k[y == 0]) + 0.5         # fault: impulsive
    # low frequencies hold the shaft harmonics in both classes: not a giveaway
    low = _band_fraction(x, 10.0, 150.0)
    assert np.median(low[y == 0]) > 0.5 and np.median(low[y == 1]) > 0.3


def test_not_trivial(data):
    """No single energy threshold separates the classes (random gain, noise level and resonance)."""
    x, y = data
    xf = x.astype(np.float64)
    for feature in ((xf ** 2).sum(1), _band_fraction(x, 1900.0, 5200.0) * (xf ** 2).sum(1)):
        best = max(((feature > t) == y).mean() for t in np.unique(feature))
        assert best < 0.97, best


def test_stream_is_deterministic_and_endless():
    a = list(itertools.islice(vibration_stream(seed=7), 70))         # crosses two chunk boundaries
    b = list(itertools.islice(vibration_stream(seed=7), 70))
    c = list(itertools.islice(vibration_stream(seed=8), 3))
    assert all(s.shape == (10000,) and s.dtype == np.float32 for s, _ in a)
    assert all(isinstance(k, int) and k in (0, 1) for _, k in a)
    assert all(np.array_equal(s, t) and k == m for (s, k), (t, m) in zip(a, b))
    assert not np.array_equal(a[0][0], c[0][0])
    assert {k for _, k in a} == {0, 1}
    signals = np.stack([s for s, _ in a])
    assert len({s.tobytes() for s in signals}) == 70                 # no window repeats
    s, _ = next(vibration_stream(seed=1, fs=16000.0, length=4000))
    assert s.shape == (4000,)


@pytest.mark.parametrize("kwargs, words", [
    ({"n": -1}, "n must be"), ({"n": 4, "length": 0}, "length"), ({"n": 4, "fs": 3000.0}, "sample rate"),
    ({"n": 4, "classes": ("A", "B", "C")}, "two"),
])
def test_bad_arguments(kwargs, words):
    with pytest.raises(EdgekitError, match=words):
        vibration(**kwargs)


def _digest(*arrays) -> str:
    import hashlib
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()[:16]


def test_outputs_are_pinned():
    """The generator's outputs, to the bit (digests taken before the machine parameters and the rendering were split
    into functions of their own for the developing-fault stream)."""
    assert _digest(*vibration(300, seed=0)) == "316c0b4249ee4cdd"
    assert _digest(*vibration(41, seed=5, fs=16000.0, length=4000, balanced=False)) == "f4011d1d81dc25dd"
    assert _digest(*vibration(7, seed=2, fs=8000.0)) == "0cbc17a1097f52d7"
    s = list(itertools.islice(vibration_stream(seed=3), 9))
    assert _digest(*[a for a, _ in s], np.array([k for _, k in s])) == "2e94bf420dfdc8c0"


def test_a_developing_fault_is_one_machine_getting_worse():
    from edgekit.edge.sources.synth import HEALTHY_SECONDS, developing_fault, fault_severity, fault_stream
    x, y, sev = developing_fault(120, seed=1)
    assert x.shape == (120, 10000) and x.dtype == np.float32 and np.isfinite(x).all()
    t = np.arange(120) * 10000 / FS
    assert np.array_equal(y, (t >= HEALTHY_SECONDS).astype(np.int64)) and np.array_equal(sev, fault_severity(t))
    assert sev[y == 0].max() == 0 and np.all(np.diff(sev[y == 1]) >= 0)            # it only grows
    assert sev[y == 1][0] == pytest.approx(3.0, rel=0.05) and sev[-1] == pytest.approx(100.0)  # class B's range
    band = np.log(_band_fraction(x, 1900.0, 5200.0))
    assert band[-10:].mean() > band[:30].mean() + 1.0                               # the fault's ringing band
    assert band[:30].std() < 0.5                                                   # one machine while healthy
    k = _highpass_kurtosis(x)
    assert np.median(k[-10:]) > np.median(k[:30]) + 0.5
    # the same machine throughout: its shaft tones at the same frequency in every window
    peak = np.abs(np.fft.rfft(x.astype(np.float64), axis=1))[:, 5:200].argmax(1)
    assert len(set(peak.tolist())) == 1
    again = developing_fault(120, seed=1)
    assert x.tobytes() == again[0].tobytes()
    assert not np.array_equal(developing_fault(3, seed=2)[0], x[:3])
    first = next(fault_stream(seed=1))
    assert np.array_equal(first[0], x[0]) and first[1:] == (0, 0.0)
    assert developing_fault(0)[0].shape == (0, 10000)
