"""Sources and the streaming loop, without a trained model: a fake microphone, stdin, synthetic."""
import io
import sys
import threading
import types

import numpy as np
import pytest

from conftest import StandIn
from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError
from edgekit.edge.io.sources import Block, MicSource, StdinSource, SyntheticSource, open_source
from edgekit.edge.model.spec import Spec


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


# -- the streaming loop with a stand-in model ---------------------------------------------------------------

def EnergyModel(spec):
    """Classifies a window as B when its mean feature is above 0: enough to drive run_stream."""
    return StandIn(spec, lambda x: np.array([[0.0, 1.0] if float(np.mean(x)) > 0 else [1.0, 0.0]], np.float32),
                   path="energy.tflite")


class CollectSink:
    def __init__(self):
        self.results, self.notes, self.warnings = [], [], []

    def note(self, m):
        self.notes.append(m)

    def warn(self, m):
        self.warnings.append(m)

    def result(self, r):
        self.results.append(r)


class ListSource:
    def __init__(self, blocks, name="list"):
        self._blocks, self.name = blocks, name
        self.notes, self.dropped_blocks, self.dropped_samples, self.overflows = [], 0, 0, 0

    def blocks(self):
        yield from self._blocks

    def close(self):
        pass


def test_windows_with_nan_samples_are_skipped_counted_and_reported():
    from edgekit.edge.pipeline.loop import run_stream
    rng = np.random.default_rng(0)
    good = [rng.standard_normal(10000).astype(np.float32) for _ in range(3)]
    bad = good[1].copy()
    bad[123] = np.nan
    sink = CollectSink()
    s = run_stream(EnergyModel(stft_spec()), ListSource([Block(good[0]), Block(bad), Block(good[2])]), sink)
    assert s["windows"] == 2 and s["invalid_windows"] == 1
    assert [r["t"] for r in sink.results] == [0.0, 2 * 10000 / 12800]
    assert len(sink.warnings) == 1 and "t=0.78 s holds NaN/inf" in sink.warnings[0]


def test_with_a_short_hop_only_windows_inside_one_recording_are_scored():
    """--hop 0.390625 s (5000 samples) on the synthetic source: every other window straddles two signals
    (possibly of different classes) and must not be scored against either label."""
    from edgekit.edge.pipeline.loop import run_stream
    sink = CollectSink()
    spec = stft_spec()
    s = run_stream(EnergyModel(spec), SyntheticSource(spec, seed=1), sink, hop_seconds=5000 / 12800,
                   duration=8 * 10000 / 12800)
    starts = [round(r["t"] * 12800) for r in sink.results]
    assert starts[:4] == [0, 5000, 10000, 15000]
    assert all(("truth" in r) == (st % 10000 == 0) for r, st in zip(sink.results, starts))
    assert s["labelled_windows"] == sum(st % 10000 == 0 for st in starts)


def test_dropped_audio_moves_time_on_and_notes_from_the_end_are_shown():
    from edgekit.edge.pipeline.loop import run_stream
    x = np.ones(10000, np.float32)
    src = ListSource([Block(x), Block(x, reset=True, lost=2500), Block(x)])
    src.dropped_samples = 2500

    def blocks():
        yield from src._blocks
        src.notes.append("ignored 1 trailing byte(s): not a whole int16 sample")
    src.blocks = blocks
    sink = CollectSink()
    s = run_stream(EnergyModel(stft_spec()), src, sink)
    assert [round(r["t"] * 12800) for r in sink.results] == [0, 12500, 22500]
    assert s["dropped_windows"] == 1 and s["signal_seconds"] == pytest.approx(30000 / 12800, abs=1e-3)
    assert any("trailing byte" in n for n in sink.notes)


def test_mic_counts_dropped_audio_at_the_model_rate(monkeypatch):
    """A 48 kHz device feeding a 12.8 kHz model: 4096 lost device frames are 1092 lost model samples."""
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd(rate_ok=False))
    src = MicSource(12800.0, queue_blocks=8)
    lost = 32 * round(4096 * 12800 / 48000)
    assert src.dropped_blocks == 32 and src.dropped_samples == lost
    first = next(src.blocks())
    assert first.reset and first.lost == lost
    src.close()


def test_a_truncated_wav_is_read_with_a_note(tmp_path):
    from edgekit.edge.io.wav import write_wav
    path = tmp_path / "cut.wav"
    write_wav(path, np.zeros(1000), 12800)
    path.write_bytes(path.read_bytes()[:-500])          # 250 of 1000 frames gone
    src = open_source(f"wav:{path}", stft_spec())
    assert "the header declares 1000 frames, the file holds 750; reading 750" in src.notes
    assert sum(len(b.data) for b in src.blocks()) == 750
    write_wav(path, np.zeros(1000), 12800)
    assert open_source(f"wav:{path}", stft_spec()).notes == []


def _course_pickle(path, names):
    import pickle
    n = len(names)
    path.write_bytes(pickle.dumps({"time": np.arange(8) / 12800.0, "signal": np.zeros((n, 8)),
                                   "label": np.eye(n), "label_names": names}))
    return f"pkl:{path}"


def test_a_pickle_with_other_label_names_is_scored_only_where_the_model_has_them(tmp_path):
    src = open_source(_course_pickle(tmp_path / "four.pkl", ["A", "B", "C", "D"]), stft_spec())
    assert [b.label for b in src.blocks()] == ["A", "B", None, None]
    assert src.notes == [f"label names in {tmp_path / 'four.pkl'} (C, D) are not among the model's labels (A, B); "
                         "those inputs are not scored"]
    src = open_source(_course_pickle(tmp_path / "other.pkl", ["x", "y", "z"]), stft_spec())
    assert [b.label for b in src.blocks()] == [None, None, None]
    assert src.notes[0].endswith("are not among the model's labels (A, B); accuracy is not scored")
    assert open_source(_course_pickle(tmp_path / "ab.pkl", ["A", "B"]), stft_spec()).notes == []
