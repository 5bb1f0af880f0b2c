"""Frames: a stream of sample blocks → fixed-length windows every ``hop`` samples."""
from __future__ import annotations

from typing import Iterator

import numpy as np


class Framer:
    """Cuts windows of ``window`` samples every ``hop`` samples out of blocks of any size.

    Keeps only the samples a future window still needs. ``position`` counts samples consumed, so a
    window's start time is known exactly; ``reset`` drops the history (a gap, or a new recording).
    """

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
