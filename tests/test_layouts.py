"""Model inputs that are a reshape of the feature matrix (issue 26): [1, 1960] flat, [49, 10, 1] time-major,
[30, 1, 40], channels-first [1, 49, 10]; a shape that would scramble the matrix is refused, naming both."""
from types import SimpleNamespace

import numpy as np
import pytest

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import layout
from edgekit.edge.frontend.logmel import logmel_features, logmel_shape
from edgekit.edge.model.foreign import ForeignFlags, spec_from_flags
from edgekit.edge.tasks import checked


@pytest.mark.parametrize("given, natural, ok", [
    ((1, 1960), (1960,), True), ((49, 40, 1), (1960,), False), ((49, 40, 1), (49, 40, 1), True),
    ((1, 49, 40), (49, 40, 1), True), ((49, 1, 40), (49, 40, 1), True), ((1960,), (49, 40, 1), True),
    ((40, 49, 1), (49, 40, 1), False), ((1, 1, 1960, 1), (40, 49, 1), True), ((98, 20), (49, 40, 1), False),
])
def test_fits(given, natural, ok):
    assert layout.fits(given, natural) is ok


def _spec(order, input_shape, window=16000):
    feat = logmel_features(frame_length=480, hop_length=320, n_fft=512, n_mels=40, layout=order)
    return checked(Spec.from_dict(Spec(task="audio", kind="classification", sample_rate=16000.0, window=window,
                                       input_shape=tuple(input_shape), features=feat,
                                       normalization={"type": "none"}, labels=("a", "b")).to_dict()))


@pytest.mark.parametrize("order, shape", [("time_freq", (49, 1, 40)), ("time_freq", (1, 49, 40)),
                                          ("flat", (1, 1960)), ("freq_time", (1, 40, 49))])
def test_reshaped_inputs_hold_the_same_features(order, shape):
    x = np.random.default_rng(0).standard_normal((3, 16000)).astype(np.float32)
    spec = _spec(order, shape)
    base = _spec(order, logmel_shape(16000, spec.features))
    got, want = fe.build(spec)(x), fe.build(base)(x)
    assert got.shape == (3, *shape)
    assert np.array_equal(got.reshape(3, -1), want.reshape(3, -1))


def test_a_scrambling_shape_is_refused_naming_both():
    with pytest.raises(EdgekitError) as e:
        _spec("time_freq", (40, 49, 1))
    msg = str(e.value)
    assert "input_shape [40, 49, 1] does not match" in msg and "[49, 40, 1]" in msg and "time_freq" in msg


def _backend(shape, n_out=2):
    return SimpleNamespace(input=SimpleNamespace(shape=(1, *shape)), output=SimpleNamespace(shape=(1, n_out)))


@pytest.mark.parametrize("shape, flags, frames, coefs, order", [
    ((1960,), dict(n_mels=40), 49, 40, "flat"),
    ((49, 10, 1), dict(n_mfcc=10, features="mfcc"), 49, 10, "time_freq"),
    ((30, 1, 40), dict(n_mels=40), 30, 40, "time_freq"),
    ((1, 49, 10), dict(n_mfcc=10, features="mfcc"), 49, 10, "time_freq"),
    ((1, 10, 49), dict(n_mfcc=10, features="mfcc", layout="freq_time"), 49, 10, "freq_time"),
])
def test_foreign_flags_read_the_layout_from_the_input(shape, flags, frames, coefs, order):
    f = ForeignFlags(sample_rate=16000.0, labels="a,b", **{"features": "logmel", **flags})
    spec = spec_from_flags("m.tflite", _backend(shape), f)
    assert spec.input_shape == shape and spec.features["layout"] == order
    natural = logmel_shape(spec.window, spec.features)
    assert sorted(n for n in natural if n != 1) == sorted({frames * coefs} if order == "flat" else {frames, coefs})


def test_foreign_flags_refuse_an_input_that_is_no_matrix():
    with pytest.raises(EdgekitError, match="is not a frames × coefficients matrix"):
        spec_from_flags("m.tflite", _backend((4, 49, 10)), ForeignFlags(sample_rate=16000.0, labels="a,b",
                                                                       features="logmel", n_mels=10))


def test_microfrontend_flags_fill_a_micro_speech_input():
    spec = spec_from_flags("m.tflite", _backend((1960,), 4), ForeignFlags(sample_rate=16000.0,
                                                                         labels="silence,unknown,yes,no",
                                                                         features="microfrontend"))
    assert spec.features["type"] == "microfrontend" and spec.window == 480 + 48 * 320
    assert spec.features["out_scale"] == 10 / 256 and fe.build(spec)(np.zeros(spec.window)).shape == (1960,)
