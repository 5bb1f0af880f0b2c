"""Sources and the streaming loop, without a trained model: a fake microphone, stdin, synthetic."""
import io
import sys
import threading
import types

import numpy as np
import pytest

from conftest import StandIn
from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.sources.signal import Block, MicSource, StdinSource, SyntheticSource, open_source
from edgekit.edge.core.spec import Spec


def stft_spec():
    feats = fe.spectrogram_features()
    return Spec(task="stft", kind="classification", sample_rate=12800.0, window=10000,
                input_shape=fe.spectrogram_shape(10000, feats), features=feats,
                normalization={"type": "none"}, labels=("A", "B"))


class FakeStream:
    """Calls the callback from a thread, as PortAudio would; block ``i`` holds the device frame numbers
    ``i * blocksize ...``, so a sample's value says when it was recorded. Blocks before ``pause_at`` come at
    once (what the queue cannot hold is dropped); the rest come one at a time whenever the queue has room,
    then the stream stops (``active`` False)."""

    n_blocks, pause_at = 40, None

    def __init__(self, samplerate, channels, dtype, device, blocksize, callback):
        self.cb, self.blocksize, self.rate = callback, blocksize, samplerate
        self.active = True

    def _feed(self, i):
        frames = (i * self.blocksize + np.arange(self.blocksize, dtype=np.float32))[:, None]
        self.cb(frames, self.blocksize, None, types.SimpleNamespace(input_overflow=False))

    def start(self):
        first = self.n_blocks if self.pause_at is None else self.pause_at
        for i in range(first):
            self._feed(i)
        if first < self.n_blocks:
            q = self.cb.__self__._q

            def paced():
                for i in range(first, self.n_blocks):
                    while q.full():
                        threading.Event().wait(0.001)
                    self._feed(i)
                self.active = False
            self.t = threading.Thread(target=paced, daemon=True)
            self.t.start()
        else:
            self.active = False

    def stop(self):
        pass

    def close(self):
        pass


def fake_sd(rate_ok=True, n_blocks=40, pause_at=None):
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
    sd.InputStream = type("Stream", (FakeStream,), {"n_blocks": n_blocks, "pause_at": pause_at})
    return sd


def test_mic_counts_dropped_blocks_and_marks_no_block_before_the_gap(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd())
    src = MicSource(12800.0, queue_blocks=8)   # 40 blocks arrive before anyone reads: 32 are dropped
    assert src.dropped_blocks == 32 and src.dropped_samples == 32 * 4096
    blocks = list(_until_lost(src))
    assert [int(b.data[0]) for b in blocks] == [i * 4096 for i in range(8)]
    assert not any(b.reset or b.lost for b in blocks)   # the gap came after them: no block was recorded after it
    src.close()


def _until_lost(src):
    from edgekit.edge.core.errors import SourceLost
    try:
        yield from src.blocks()
    except SourceLost:
        pass


def _windows(src, spec, hop=None):
    """(start, window) pairs of the stft task's framing of ``src``, until the fake stream stops."""
    from edgekit.edge.core.errors import SourceLost
    from edgekit.edge.tasks.base import Options
    from edgekit.edge.tasks.stft import StftRun
    out = []
    try:
        for item in StftRun(spec, src, CollectSink(), Options(hop=hop)).inputs():
            out.append((item.meta["start"], item.x.copy()))
    except SourceLost:
        pass
    return out


def test_mic_marks_dropped_audio_on_the_first_block_recorded_after_the_gap(monkeypatch):
    """Blocks 0-7 fill the queue, 8-10 are dropped, 11-19 follow as the reader makes room: the reset and the
    3 lost blocks sit on block 11, and every window holds exactly the frames its timestamp says."""
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd(n_blocks=20, pause_at=11))
    src = MicSource(12800.0, queue_blocks=8)
    blocks = list(_until_lost(src))
    assert [int(b.data[0]) // 4096 for b in blocks] == [*range(8), *range(11, 20)]
    assert [(int(b.data[0]) // 4096, b.lost) for b in blocks if b.reset] == [(11, 3 * 4096)]
    assert src.dropped_blocks == 3 and src.dropped_samples == 3 * 4096

    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd(n_blocks=20, pause_at=11))
    windows = _windows(MicSource(12800.0, queue_blocks=8), stft_spec())
    assert [s for s, _ in windows] == [0, 10000, 20000, 45056, 55056, 65056]   # 45056 = block 11 × 4096
    for start, w in windows:     # the window at sample s holds frames s ... s + 9999: none from across the gap
        np.testing.assert_array_equal(w, np.arange(start, start + 10000, dtype=np.float32))


def test_mic_dropped_audio_through_the_stream_loop_moves_time_on_and_ends_with_the_lost_error(monkeypatch):
    from edgekit.edge.pipeline.loop import run_stream
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd(n_blocks=20, pause_at=11))
    src = MicSource(12800.0, queue_blocks=8)
    src.silence_limit = 0.5
    sink = CollectSink()
    s = run_stream(EnergyModel(stft_spec()), src, sink)
    assert [round(r["t"] * 12800) for r in sink.results] == [0, 10000, 20000, 45056, 55056, 65056]
    assert s["dropped_blocks"] == 3 and s["dropped_windows"] == 2 and s["stopped_by"] == "source lost"
    assert s["signal_seconds"] == pytest.approx(17 * 4096 / 12800, abs=1e-3)   # 17 blocks recorded
    assert "the audio input stopped" in s["error"]


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
    """A 48 kHz device feeding a 12.8 kHz model: blocks 0-15 queued, 16-18 dropped, 19-59 paced. Time after
    the gap restarts at frame 19 × 4096 (48 kHz) = sample 20753.07 (12.8 kHz), rounded, and the resampled
    windows hold the frame numbers at 48000 / 12800 per model sample."""
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd(rate_ok=False, n_blocks=60, pause_at=19))
    src = MicSource(12800.0, queue_blocks=16)
    blocks = list(_until_lost(src))
    assert src.dropped_blocks == 3 and src.dropped_samples == round(3 * 4096 * 12800 / 48000)
    gap = [i for i, b in enumerate(blocks) if b.reset]
    assert len(gap) == 1
    before = sum(len(b.data) for b in blocks[:gap[0]])          # all of blocks 0-15, the filter's tail flushed
    assert before == -(-16 * 4096 * 12800 // 48000)
    assert before + blocks[gap[0]].lost == round(19 * 4096 * 12800 / 48000)

    monkeypatch.setitem(sys.modules, "sounddevice", fake_sd(rate_ok=False, n_blocks=60, pause_at=19))
    windows = _windows(MicSource(12800.0, queue_blocks=16), stft_spec())
    first_after = round(19 * 4096 * 12800 / 48000)
    assert [s for s, _ in windows] == [0, *(first_after + k * 10000 for k in range(4))]
    for start, w in windows:
        seg0 = 0 if start == 0 else 19 * 4096                    # first device frame of this stretch
        t = seg0 + (np.arange(10000) + start - (0 if start == 0 else first_after)) * 48000 / 12800
        inner = slice(20, 10000 - 20) if start else slice(20, None)   # away from the filter's onset ramp
        np.testing.assert_allclose(w[inner], t[inner], rtol=2e-3)


def test_a_truncated_wav_is_read_with_a_note(tmp_path):
    from edgekit.edge.formats.wav import write_wav
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
