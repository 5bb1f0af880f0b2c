"""Sources and the streaming loop, without a trained model: a fake microphone, stdin, synthetic."""
import io
import sys
import threading
import types

import numpy as np
import pytest

from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError
from edgekit.edge.sources import Block, MicSource, StdinSource, SyntheticSource, open_source
from edgekit.edge.spec import Spec


def stft_spec():
    feats = fe.spectrogram_features()
    return Spec(task="stft", kind="classification", sample_rate=12800.0, window=10000,
                input_shape=fe.spectrogram_shape(10000, feats), features=feats,
                normalization={"type": "none"}, labels=("A", "B"))


class FakeStream:
    """Calls the callback from a thread with `blocks` blocks, as PortAudio would."""

    def __init__(self, samplerate, channels, dtype, device, blocksize, callback, n_blocks=40):
        self.cb, self.blocksize, self.n = callback, blocksize, n_blocks
        self.rate = samplerate

    def start(self):
        def feed():
            status = types.SimpleNamespace(input_overflow=False)
            for i in range(self.n):
                self.cb(np.full((self.blocksize, 1), i, np.float32), self.blocksize, None, status)
        self.t = threading.Thread(target=feed)
        self.t.start()
        self.t.join()

    def stop(self):
        pass

    def close(self):
        pass


def fake_sd(rate_ok=True):
    sd = types.ModuleType("sounddevice")

    class PortAudioError(Exception):
        pass

    sd.PortAudioError = PortAudioError
    sd.query_devices = lambda device=None, kind=None: {"name": "fake", "default_samplerate": 48000.0,
                                                        "max_input_channels": 1}

    def check(device=None, samplerate=None, channels=None, dtype=None):
        if not rate_ok:
            raise PortAudioError("Invalid sample rate")
    sd.check_input_settings = check
    sd.InputStream = FakeStream
    return sd


def test_mic_counts_dropped_blocks_and_marks_the_gap(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd())
    src = MicSource(12800.0, queue_blocks=8)   # 40 blocks arrive before anyone reads: 32 are dropped
    assert src.dropped_blocks == 32 and src.dropped_samples == 32 * 4096
    it = src.blocks()
    first = [next(it) for _ in range(8)]
    assert [int(b.data[0]) for b in first] == list(range(8))
    assert first[0].reset                       # drops happened before the first block was read
    assert not any(b.reset for b in first[1:])
    src.close()


def test_mic_resamples_when_the_device_refuses_the_model_rate(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd(rate_ok=False))
    src = MicSource(12800.0, queue_blocks=64)
    assert any("48000 Hz" in n for n in src.notes)
    it = src.blocks()
    total = sum(len(next(it).data) for _ in range(40))
    # every 48 kHz sample becomes 12800/48000 of one, less the filter's look-ahead (a few samples)
    assert 0 <= 40 * 4096 * 12800 / 48000 - total <= 40


def test_mic_without_a_device_is_a_one_line_error(monkeypatch):
    sd = fake_sd()

    def no_device(device=None, kind=None):
        raise sd.PortAudioError("Error querying device -1")
    sd.query_devices = no_device
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    with pytest.raises(EdgekitError, match="--source mic: no usable audio input device"):
        MicSource(12800.0)


def test_stdin_int16_and_float32_with_partial_samples():
    x = (np.arange(10000) % 100).astype("<i2")
    src = StdinSource("int16", stream=io.BytesIO(x.tobytes() + b"\x01"))
    data = np.concatenate([b.data for b in src.blocks()])
    np.testing.assert_allclose(data, x / 32768.0)
    assert any("trailing byte" in n for n in src.notes)
    f = np.linspace(-1, 1, 5000).astype("<f4")
    src = StdinSource("float32", stream=io.BytesIO(f.tobytes()))
    np.testing.assert_array_equal(np.concatenate([b.data for b in src.blocks()]), f)
    with pytest.raises(EdgekitError):
        StdinSource("int24")


def test_synthetic_source_is_deterministic_and_labelled():
    spec = stft_spec()
    a = SyntheticSource(spec, seed=3).blocks()
    b = SyntheticSource(spec, seed=3).blocks()
    for _ in range(3):
        x, y = next(a), next(b)
        assert isinstance(x, Block) and x.label in ("A", "B") and x.label == y.label
        np.testing.assert_array_equal(x.data, y.data)
        assert x.data.shape == (10000,)


@pytest.mark.parametrize("src", ["wav:", "pkl:", "mic:3", "nope", "synthetic:1"])
def test_unknown_sources(src):
    with pytest.raises(EdgekitError):
        open_source(src, stft_spec())
