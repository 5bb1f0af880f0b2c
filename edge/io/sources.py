"""Sources: where samples come from. Each yields :class:`Block`s of float32 mono samples at the model's
sample rate (resampling and mixing down as needed), with the true label when the source knows it.

``SRC`` strings: ``synthetic``, ``wav:PATH``, ``pkl:PATH``, ``stdin``, ``mic``.
"""
from __future__ import annotations

import queue
import sys
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from edgekit.edge.errors import EdgekitError, MissingExtraError, SourceLost

BLOCK = 4096


@dataclass
class Block:
    data: np.ndarray                 # float32 (n,), at the model's sample rate
    label: str | None = None         # ground truth, when the source knows it
    reset: bool = False              # a discontinuity before this block (new recording, dropped audio)
    lost: int = 0                    # samples (model rate) lost just before this block: dropped audio


@dataclass
class Source:
    name: str
    notes: list[str] = field(default_factory=list)   # e.g. "resampling 44100 Hz → 12800 Hz"
    dropped_blocks: int = 0
    dropped_samples: int = 0         # at the model's sample rate
    overflows: int = 0

    def blocks(self) -> Iterator[Block]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _to_mono(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 1 else x.mean(axis=1, dtype=np.float32)


class SyntheticSource(Source):
    def __init__(self, spec, seed: int = 0):
        super().__init__("synthetic")
        self.spec, self.seed = spec, seed

    def blocks(self) -> Iterator[Block]:
        from edgekit.edge.io.synth import vibration_stream
        labels = self.spec.labels
        truth = labels if tuple(labels) == ("A", "B") else None
        for signal, k in vibration_stream(seed=self.seed, fs=self.spec.sample_rate, length=self.spec.window):
            yield Block(np.asarray(signal, np.float32), truth[k] if truth else None)


class WavSource(Source):
    def __init__(self, path: str, fs: float):
        super().__init__(f"wav:{path}")
        from edgekit.edge.io.wav import WavReader
        self._reader = WavReader(path)
        self.fs = fs
        r = self._reader
        if r.frames == 0:
            raise EdgekitError(f"{path}: the WAV file has no samples")
        if r.channels > 1:
            self.notes.append(f"mixing {r.channels} channels down to mono")
        self._resampler = None
        if r.fs != fs:
            from edgekit.edge.frontend.resample import StreamResampler
            self._resampler = StreamResampler(r.fs, fs)
            self.notes.append(f"resampling {r.fs} Hz → {fs:g} Hz")
        if r.truncated:
            self.notes.append(f"the header declares {r.declared_frames} frames, the file holds {r.frames}; "
                              f"reading {r.frames}")

    def blocks(self) -> Iterator[Block]:
        while True:
            x = self._reader.read(BLOCK)
            if len(x) == 0:
                break
            x = _to_mono(x)
            yield Block(self._resampler.process(x) if self._resampler else x)
        if self._resampler:
            yield Block(self._resampler.flush())

    def close(self) -> None:
        self._reader.close()


class PickleSource(Source):
    """The course format, replayed signal by signal (each signal a recording of its own); a signal is
    scored only when its label name is one of the model's ``labels`` (all, when not given)."""

    def __init__(self, path: str, fs: float, labels=None):
        super().__init__(f"pkl:{path}")
        from edgekit.edge.io.course import load_course_pickle
        from edgekit.edge.io.labels import known_truths
        self.data = load_course_pickle(path)
        self.fs = fs
        names = self.data.label_names
        self.known = set(names) if labels is None else known_truths(
            names, tuple(labels), f"label names in {path}", self.notes)
        if self.data.fs != fs:
            self.notes.append(f"resampling {self.data.fs:g} Hz → {fs:g} Hz")

    def blocks(self) -> Iterator[Block]:
        from edgekit.edge.frontend.resample import resample
        for x, k in zip(self.data.signals, self.data.labels):
            if self.data.fs != self.fs:
                x = resample(x, self.data.fs, self.fs)
            name = self.data.label_names[k]
            yield Block(np.asarray(x, np.float32), name if name in self.known else None, reset=True)


class StdinSource(Source):
    """Raw little-endian PCM (int16 or float32, mono) at the model's sample rate."""

    def __init__(self, fmt: str = "int16", stream=None):
        super().__init__("stdin")
        if fmt not in ("int16", "float32"):
            raise EdgekitError(f"--format {fmt}: stdin takes int16 or float32 PCM")
        self.dtype = np.dtype("<i2" if fmt == "int16" else "<f4")
        self.stream = stream if stream is not None else sys.stdin.buffer

    def blocks(self) -> Iterator[Block]:
        size = self.dtype.itemsize
        rest = b""
        while True:
            chunk = self.stream.read1(BLOCK * size) if hasattr(self.stream, "read1") else \
                self.stream.read(BLOCK * size)
            if not chunk:
                break
            chunk = rest + chunk
            n = len(chunk) // size * size
            rest = chunk[n:]
            x = np.frombuffer(chunk[:n], dtype=self.dtype)
            yield Block(x.astype(np.float32) / 32768.0 if self.dtype.kind == "i" else x.astype(np.float32))
        if rest:
            self.notes.append(f"ignored {len(rest)} trailing byte(s): not a whole {self.dtype.name} sample")


def _sounddevice():
    try:
        import sounddevice as sd
    except ImportError:
        raise MissingExtraError("--source mic", "sounddevice", "mic") from None
    except OSError:
        raise EdgekitError("--source mic needs the PortAudio library: apt-get install libportaudio2") from None
    return sd


def list_devices() -> str:
    sd = _sounddevice()
    devices = sd.query_devices()
    lines = [f"{i:3d}  {d['name']}  ({d['max_input_channels']} in, {d['default_samplerate']:g} Hz)"
             for i, d in enumerate(devices) if d["max_input_channels"] > 0]
    return "\n".join(lines) if lines else "no audio input devices found"


class MicSource(Source):
    """Live audio from sounddevice; blocks that the pipeline could not take in time are counted as dropped."""

    def __init__(self, fs: float, device=None, queue_blocks: int = 64):
        super().__init__("mic")
        sd = self._sd = _sounddevice()
        self.fs = fs
        self._q: queue.Queue = queue.Queue(maxsize=queue_blocks)
        self.silence_limit = 2.0         # seconds without a block from a running stream: the input is lost
        self._resampler = None
        try:
            info = sd.query_devices(device, kind="input")
        except (sd.PortAudioError, ValueError) as e:
            raise EdgekitError(f"--source mic: no usable audio input device ({e}); see edge-run --list-devices") from None
        rate = self._rate = fs
        try:
            sd.check_input_settings(device=device, samplerate=fs, channels=1, dtype="float32")
        except (sd.PortAudioError, ValueError):
            rate = self._rate = float(info["default_samplerate"])
            from edgekit.edge.frontend.resample import StreamResampler
            self._resampler = StreamResampler(rate, fs)
            self.notes.append(f"device records at {rate:g} Hz; resampling to {fs:g} Hz")
        try:
            self._stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32", device=device,
                                          blocksize=BLOCK, callback=self._callback)
            self._stream.start()
        except sd.PortAudioError as e:
            raise EdgekitError(f"--source mic: cannot open the audio input ({e}); see edge-run --list-devices") from None

    def _callback(self, indata, frames, time_info, status) -> None:
        if status and status.input_overflow:
            self.overflows += 1
        try:
            self._q.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.dropped_blocks += 1
            self.dropped_samples += int(round(frames * self.fs / self._rate))   # device rate → model rate

    def blocks(self) -> Iterator[Block]:
        seen_drops = seen_samples = 0
        waited = 0.0
        while True:
            try:
                x = self._q.get(timeout=0.25)
            except queue.Empty:
                # a device unplugged or an audio server gone: the stream stops, or no audio comes any more
                waited += 0.25
                if not self._stream.active or waited >= self.silence_limit:
                    why = "stopped" if not self._stream.active else f"sent no audio for {waited:.1f} s"
                    raise SourceLost(f"--source mic: the audio input {why} (device unplugged or audio server "
                                     "gone?); see edge-run --list-devices") from None
                continue
            waited = 0.0
            drops, lost = self.dropped_blocks, self.dropped_samples
            reset = drops != seen_drops
            yield Block(self._resampler.process(x) if self._resampler else x, reset=reset,
                        lost=lost - seen_samples if reset else 0)
            seen_drops, seen_samples = drops, lost

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def open_source(src: str, spec, *, seed: int = 0, device=None, pcm_format: str = "int16") -> Source:
    kind, _, arg = src.partition(":")
    if kind == "synthetic" and not arg:
        return SyntheticSource(spec, seed)
    if kind == "wav" and arg:
        return WavSource(arg, spec.sample_rate)
    if kind == "pkl" and arg:
        return PickleSource(arg, spec.sample_rate, spec.labels)
    if kind == "stdin" and not arg:
        return StdinSource(pcm_format)
    if kind == "mic" and not arg:
        return MicSource(spec.sample_rate, device=device)
    raise EdgekitError(f"--source {src!r} is not understood; use synthetic, wav:PATH, pkl:PATH, stdin or mic")
