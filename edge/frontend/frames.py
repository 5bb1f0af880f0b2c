"""Frames: a stream of sample blocks → fixed-length windows every ``hop`` samples; and the one conversion of
frame and hop durations to samples (:func:`frame_samples`) that training and foreign-model flags share."""
from __future__ import annotations

from typing import Iterator

import numpy as np


def ms_to_samples(ms: float, sample_rate: float) -> int:
    """``ms`` milliseconds of signal at ``sample_rate`` Hz, in whole samples (the nearest)."""
    return int(round(ms / 1000.0 * sample_rate))


def fft_length(frame_length: int) -> int:
    """The FFT size of a frame: the power of two at least ``frame_length``."""
    return 1 << max(int(frame_length) - 1, 0).bit_length()


def frame_samples(sample_rate: float, frame_ms: float, hop_ms: float, frame_length: int | None = None,
                  hop_length: int | None = None) -> dict[str, int]:
    """``frame_length``, ``hop_length`` and ``n_fft`` in samples for frames of ``frame_ms`` every ``hop_ms``
    milliseconds at ``sample_rate`` Hz (a length given in samples wins over its duration)."""
    frame = int(frame_length or ms_to_samples(frame_ms, sample_rate))
    hop = int(hop_length or ms_to_samples(hop_ms, sample_rate))
    return {"frame_length": frame, "hop_length": hop, "n_fft": fft_length(frame)}


class Framer:
    """Cuts windows of ``window`` samples every ``hop`` samples out of blocks of any size.

    Keeps only the samples a future window still needs. ``position`` counts samples consumed, so a window's start time
    is known exactly; ``reset`` drops the history (a gap, or a new recording)."""

    def __init__(self, window: int, hop: int):
        if window < 1 or hop < 1:
            raise ValueError("window and hop must be positive")
        self.window, self.hop = int(window), int(hop)
        self.position = 0
        self.reset()

    def reset(self, position: int | None = None) -> None:
        if position is not None:
            self.position = int(position)
        self._buf = np.zeros(0, dtype=np.float32)   # the last samples of the stream, ending at position
        self._next = self.position                  # stream index where the next window starts

    def push(self, block: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Add samples; yield (start_sample, window) for every window now complete."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, block]) if self._buf.size else block.copy()
        self.position += block.size
        start = self.position - self._buf.size
        while self._next + self.window <= self.position:
            i = self._next - start
            yield self._next, self._buf[i:i + self.window]
            self._next += self.hop
        drop = min(self._buf.size, self._next - start)   # samples no future window needs
        if drop > 0:
            self._buf = self._buf[drop:]
