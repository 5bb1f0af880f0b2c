"""Sources: where samples come from. Each yields :class:`Block`s of float32 mono samples at the model's sample rate
(resampling and mixing down as needed), with the true label when the source knows it.

``SRC`` strings: ``synthetic``, ``wav:PATH``, ``pkl:PATH``, ``stdin``, ``mic``."""
from __future__ import annotations

import queue
import sys
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from edgekit.edge.core.errors import EdgekitError, MissingExtraError, SourceLost
from edgekit.edge.core.spec import Spec

BLOCK = 4096


@dataclass
class Block:
    data: np.ndarray                 # float32 (n,), at the model's sample rate
    label: str | None = None         # ground truth, when the source knows it
    reset: bool = False              # a discontinuity before this block (new recording, dropped audio)
    lost: int = 0                    # samples (model rate) lost just before this block: dropped audio
    continued: bool = False          # more of the previous block's labelled recording (a file read in blocks)


@dataclass
class Source:
    name: str
    notes: list[str] = field(default_factory=list)   # e.g. "resampling 44100 Hz → 12800 Hz"
    dropped_blocks: int = 0
    dropped_samples: int = 0         # at the model's sample rate
    overflows: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, why) of files that could not be read

    def blocks(self) -> Iterator[Block]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SyntheticSource(Source):
    """Synthetic vibration (:mod:`edgekit.edge.sources.synth`) at the model's rate and window: healthy and faulty
    machines in a random order, or (``developing``) one machine whose bearing fault appears and grows. A window's
    truth is its class name in ``names`` (healthy, faulty); default A, B for a model whose labels are A, B, else
    none."""

    def __init__(self, spec: Spec, seed: int = 0, developing: bool = False, names: tuple[str, str] | None = None):
        super().__init__("synthetic")
        self.spec, self.seed, self.developing = spec, seed, developing
        self.names = names if names is not None or developing else \
            (("A", "B") if tuple(spec.labels) == ("A", "B") else None)
        if developing:
            from edgekit.edge.sources.synth import HEALTHY_SECONDS, RAMP_SECONDS
            self.notes.append(f"synthetic: one machine, healthy for {HEALTHY_SECONDS:g} s, then a bearing fault "
                              f"that grows for {RAMP_SECONDS:g} s")

    def blocks(self) -> Iterator[Block]:
        from edgekit.edge.sources.synth import fault_stream, vibration_stream
        fs, n, truth = self.spec.sample_rate, self.spec.window, self.names
        stream = (w[:2] for w in fault_stream(self.seed, fs, n)) if self.developing else \
            vibration_stream(seed=self.seed, fs=fs, length=n)
        for signal, k in stream:
            yield Block(np.asarray(signal, np.float32), truth[k] if truth else None)


class WavSource(Source):
    """One WAV file, read in blocks at the model's rate (:class:`edgekit.edge.formats.audio.AudioStream`)."""

    def __init__(self, path: str, sample_rate: float):
        super().__init__(f"wav:{path}")
        from edgekit.edge.formats.audio import AudioStream
        self._audio = AudioStream(path, sample_rate)
        self.notes += self._audio.notes

    def blocks(self) -> Iterator[Block]:
        for x in self._audio:
            yield Block(x)

    def close(self) -> None:
        self._audio.close()


class ClipFolderSource(Source):
    """A folder of labelled WAV clips (:func:`edgekit.edge.formats.clips.list_clips`: label sub-folders, or file names
    and ``label_regex``), streamed file after file in one process: each file starts a new recording (``reset``) with its
    label; a clip whose label the model does not know is played without a truth. The folder holds clips of at least
    ``min_labels`` labels."""

    clips = True     # each file is one clip (a task that fits clips to a window scores each once)

    def __init__(self, path: str, sample_rate: float, labels=None, label_regex: str | None = None, min_labels: int = 2):
        super().__init__(f"wav:{path}")
        from edgekit.edge.formats.clips import list_clips
        self.sample_rate, self._clips = sample_rate, list_clips(path, label_regex, min_labels=min_labels)
        known = set(labels or ())
        self._unknown = sum(1 for _, label, _ in self._clips if known and label not in known)
        self.notes.append(f"{len(self._clips)} clips of {len({c[1] for c in self._clips})} labels")
        if self._unknown:
            self.notes.append(f"{self._unknown} clips have a label the model does not know: played, not scored")
        self._known = known
        self._current: WavSource | None = None

    def blocks(self) -> Iterator[Block]:
        for path, label, _ in self._clips:
            try:
                src = self._current = WavSource(str(path), self.sample_rate)
            except (EdgekitError, OSError) as e:      # one damaged clip: skipped and counted, the stream goes on
                self.skipped.append((str(path), _why(e).removeprefix(f"{path}: ")))
                continue
            for note in src.notes:            # (said once for the folder, or per file when it is the file's own)
                note = note if note.startswith(("resampling", "mixing")) else f"{path.name}: {note}"
                if note not in self.notes:
                    self.notes.append(note)
            truth = label if not self._known or label in self._known else None
            first = True
            try:
                blocks = src.blocks()
                while True:
                    try:
                        b = next(blocks)
                    except StopIteration:
                        break
                    except (EdgekitError, OSError) as e:     # damaged part-way: the rest of the file is skipped
                        self.skipped.append((str(path), _why(e).removeprefix(f"{path}: ")))
                        break
                    yield Block(b.data, truth, reset=first, continued=not first)
                    first = False
            finally:
                src.close()
                self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()


def _why(e: Exception) -> str:
    """The reason a file was skipped, in one line."""
    return e.message if isinstance(e, EdgekitError) else (getattr(e, "strerror", None) or str(e))


class PickleSource(Source):
    """The course format, replayed signal by signal (each signal a recording of its own); a signal is
    scored only when its label name is one of the model's ``labels`` (all, when not given). It holds examples of at
    least ``min_classes`` classes (:func:`~edgekit.edge.formats.course.load_course_pickle`)."""

    def __init__(self, path: str, sample_rate: float, labels=None, min_classes: int = 2):
        super().__init__(f"pkl:{path}")
        from edgekit.edge.formats.course import load_course_pickle
        from edgekit.edge.core.labels import known_truths
        self.data = load_course_pickle(path, min_classes=min_classes)
        self.sample_rate = sample_rate
        names = self.data.label_names
        self.known = set(names) if labels is None else known_truths(
            names, tuple(labels), f"label names in {path}", self.notes)
        if self.data.fs != sample_rate:
            self.notes.append(f"resampling {self.data.fs:g} Hz → {sample_rate:g} Hz")

    def blocks(self) -> Iterator[Block]:
        from edgekit.edge.formats.audio import at_rate
        for x, k in zip(self.data.signals, self.data.labels):
            name = self.data.label_names[k]
            yield Block(at_rate(x, self.data.fs, self.sample_rate), name if name in self.known else None, reset=True)


class StdinSource(Source):
    """Raw little-endian PCM (int16 or float32, mono) at the model's sample rate."""

    def __init__(self, fmt: str = "int16", stream=None):
        super().__init__("stdin")
        if fmt not in ("int16", "float32"):
            raise EdgekitError(f"--format {fmt}: stdin takes int16 or float32 PCM")
        self.dtype = np.dtype("<i2" if fmt == "int16" else "<f4")
        if stream is None and sys.stdin is None:
            raise EdgekitError("--source stdin: standard input is closed; pipe PCM samples into edge-run")
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
    """Live audio from sounddevice; blocks that the pipeline could not take in time are counted as dropped.

    The PortAudio callback queues ``(samples, frames lost just before them)``, so a gap is marked on the first block
    recorded after it, and time moves on by exactly the device frames lost (at the model's rate: the stream's total
    frame count converted once, so rounding never accumulates)."""

    def __init__(self, sample_rate: float, device=None, queue_blocks: int = 64):
        super().__init__("mic")
        sd = _sounddevice()
        self.sample_rate = sample_rate
        self._q: queue.Queue = queue.Queue(maxsize=queue_blocks)
        self.silence_limit = 2.0         # seconds without a block from a running stream: the input is lost
        self.start_limit = 6.0           # ... before its first block (a device or sound server still waking up)
        self._resampler = None
        self._pending = 0                # device frames dropped since the last queued block (callback only)
        self._dropped_frames = 0         # device frames dropped in all
        try:
            info = sd.query_devices(device, kind="input")
        except (sd.PortAudioError, ValueError) as e:
            raise EdgekitError(f"--source mic: no usable audio input device ({e}); see edge-run --list-devices") from None
        rate = self._rate = sample_rate
        try:
            sd.check_input_settings(device=device, samplerate=sample_rate, channels=1, dtype="float32")
        except (sd.PortAudioError, ValueError):
            rate = self._rate = float(info["default_samplerate"])
            from edgekit.edge.formats.audio import StreamResampler
            self._resampler = StreamResampler(rate, sample_rate)
            self.notes.append(f"device records at {rate:g} Hz; resampling to {sample_rate:g} Hz")
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
            self._q.put_nowait((indata[:, 0].copy(), self._pending))
            self._pending = 0
        except queue.Full:
            self._pending += frames
            self._dropped_frames += frames
            self.dropped_blocks += 1
            self.dropped_samples = self._model_samples(self._dropped_frames)

    def _model_samples(self, frames: int) -> int:
        """Device frames → samples at the model's rate."""
        return frames if self._resampler is None else int(round(frames * self.sample_rate / self._rate))

    def blocks(self) -> Iterator[Block]:
        frames = out = 0                 # device frames so far (lost ones too); model samples given out so far
        waited = 0.0
        limit = self.start_limit
        resampler = self._resampler
        while True:
            try:
                x, lost_frames = self._q.get(timeout=0.25)
            except queue.Empty:
                # a device unplugged or an audio server gone: the stream stops, or no audio comes any more
                waited += 0.25
                if not self._stream.active or waited >= limit:
                    why = "stopped" if not self._stream.active else f"sent no audio for {waited:.1f} s"
                    raise SourceLost(f"--source mic: the audio input {why} (device unplugged or audio server "
                                     "gone?); see edge-run --list-devices") from None
                continue
            waited, limit = 0.0, self.silence_limit
            lost = 0
            if lost_frames:
                if resampler is not None:        # the audio before the gap ends there: no filter spans it
                    tail = resampler.flush()
                    if len(tail):
                        out += len(tail)
                        yield Block(tail)
                frames += lost_frames
                lost = max(0, self._model_samples(frames) - out)
            y = resampler.process(x) if resampler is not None else x
            frames += len(x)
            out += lost + len(y)
            yield Block(y, reset=bool(lost_frames), lost=lost)

    def close(self) -> None:
        self._stream.stop()
        self._stream.close()


def open_source(src: str, spec: Spec, *, seed: int = 0, device=None, pcm_format: str = "int16",
                label_regex: str | None = None) -> Source:
    kind, _, arg = src.partition(":")
    if kind == "synthetic" and not arg:
        return SyntheticSource(spec, seed)
    if kind == "wav" and arg:
        import os
        if os.path.isdir(arg):
            return ClipFolderSource(arg, spec.sample_rate, spec.labels, label_regex)
        if label_regex is not None:
            raise EdgekitError("--label-regex labels the clips of a folder; wav: names one file here")
        return WavSource(arg, spec.sample_rate)
    if kind == "pkl" and arg:
        return PickleSource(arg, spec.sample_rate, spec.labels)
    if kind == "stdin" and not arg:
        return StdinSource(pcm_format)
    if kind == "mic" and not arg:
        return MicSource(spec.sample_rate, device=device)
    raise EdgekitError(f"--source {src!r} is not understood; use synthetic, wav:PATH, pkl:PATH, stdin or mic")
