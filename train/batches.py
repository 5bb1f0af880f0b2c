"""The ``audio`` task's loader: raw windows of clips, and Keras batches read, augmented and featurised on demand."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .augment import Augment, augment, spec_augment
from .classes import SILENCE, UNKNOWN
from .clips import ClipSet


def windows(cs: ClipSet, idx: np.ndarray, fit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The un-augmented raw windows of clips ``idx`` (float32, len(idx) × window)."""
    return np.stack([np.asarray(fit(cs.read(int(i))), np.float32) for i in idx]) if len(idx) else \
        np.zeros((0, 0), np.float32)


def batches(cs: ClipSet, idx: np.ndarray, front, fit, *, batch_size: int, aug: Augment | None = None, seed: int = 0):
    """A ``keras.utils.PyDataset`` over clips ``idx``: each batch read, fitted to the window, augmented (when ``aug``;
    the clip order is reshuffled every epoch; ``aug.partial`` of the keyword clips become partial-word ``unknown``
    windows when the set has that class) and featurised by ``front`` on demand."""
    import keras

    y_all = cs.labels
    unknown = cs.names.index(UNKNOWN) if UNKNOWN in cs.names else None
    is_word = np.array([c.make is None and cs.names[c.label] not in (UNKNOWN, SILENCE) for c in cs.clips])
    partial = aug.partial if aug is not None and unknown is not None else 0.0

    class ClipBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.order = np.array(idx, dtype=np.int64)
            self.epoch = 0
            if aug is not None:
                self.order = np.random.default_rng([seed, 0]).permutation(self.order)

        def __len__(self):
            return (len(self.order) + batch_size - 1) // batch_size

        def __getitem__(self, b):
            part = self.order[b * batch_size:(b + 1) * batch_size]
            y = y_all[part].copy()
            if aug is None:
                w = windows(cs, part, fit)
            else:
                rows = []
                for j, i in enumerate(part):
                    rng = np.random.default_rng([seed, self.epoch, int(i)])
                    cut = bool(partial and is_word[i] and rng.random() < partial)
                    rows.append(augment(cs.read(int(i)), rng, cs.fs, aug, fit, partial=cut))
                    if cut:
                        y[j] = unknown
                w = np.stack(rows)
            x = front(w)
            if aug is not None and (aug.time_mask or aug.freq_mask) and x.ndim == 4:
                spec_augment(x, np.random.default_rng([seed, self.epoch, b, 1]), aug)
            return x, y

        def on_epoch_end(self):
            if aug is not None:
                self.epoch += 1
                self.order = np.random.default_rng([seed, self.epoch]).permutation(self.order)

    return ClipBatches()
