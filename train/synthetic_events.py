"""The ``audio`` task's built-in data: synthetic acoustic events in noise, deterministic for a seed.

Knocks, chirps, hums and speech-like bursts (the keywords) and beeps (held out: the unknown class), 8 kHz, five
recording "rooms" as groups: ``edgekit train audio`` without ``--data``. The other synthetic data: traffic's detector
feed (:mod:`edgekit.train.traffic_data`) and the device's vibration (``edge/sources/synth.py``).
"""
from __future__ import annotations

import numpy as np

from .augment import coloured_noise
from .clips import Clip, ClipSet

SYNTH_FS = 8000.0
SYNTH_KEYWORDS = ("chirp", "hum", "knock", "speech")
SYNTH_OTHER = "beep"


def _envelope(n: int, attack: int, release: int) -> np.ndarray:
    e = np.ones(n)
    a, r = max(1, min(attack, n // 2)), max(1, min(release, n // 2))
    e[:a] = np.linspace(0, 1, a)
    e[n - r:] = np.linspace(1, 0, r)
    return e


def _event(kind: str, rng: np.random.Generator, fs: float, room: dict) -> np.ndarray:
    t_len = {"knock": rng.uniform(0.15, 0.5), "chirp": rng.uniform(0.25, 0.6), "hum": rng.uniform(0.5, 0.9),
             "speech": rng.uniform(0.35, 0.8), "beep": rng.uniform(0.15, 0.5)}[kind]
    n = int(t_len * fs)
    t = np.arange(n) / fs
    if kind == "knock":                         # 1-3 decaying resonant impacts
        x = np.zeros(n)
        for _ in range(rng.integers(1, 4)):
            at = int(rng.uniform(0, 0.6) * n)
            tt = t[: n - at]
            f = rng.uniform(200, 1500) * room["pitch"]
            x[at:] += rng.uniform(0.5, 1) * np.exp(-tt / rng.uniform(0.01, 0.04)) * np.sin(2 * np.pi * f * tt)
    elif kind == "chirp":                       # rising sweep
        f0, f1 = rng.uniform(300, 800) * room["pitch"], rng.uniform(1500, 3200)
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * t_len))
        x = np.sin(phase) * _envelope(n, n // 10, n // 10)
    elif kind == "hum":                         # steady harmonic tone
        f0 = rng.uniform(60, 200) * room["pitch"]
        x = sum(rng.uniform(0.2, 1) / h * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6.3))
                for h in range(1, 6) if h * f0 < fs / 2)
        x = x * _envelope(n, n // 20, n // 20)
    elif kind == "speech":                      # syllables: harmonics of a gliding f0 shaped by two formants
        x = np.zeros(n)
        k = rng.integers(2, 5)
        edges = np.sort(rng.uniform(0, n, k - 1)).astype(int)
        for a, b in zip(np.r_[0, edges], np.r_[edges, n]):
            m = b - a
            if m < 8:
                continue
            ts = np.arange(m) / fs
            f0 = rng.uniform(90, 250) * room["pitch"] * (1 + rng.uniform(-0.15, 0.15) * ts / max(ts[-1], 1e-3))
            ph = 2 * np.pi * np.cumsum(f0) / fs
            F1, F2 = rng.uniform(300, 900), rng.uniform(900, 2500)
            seg = np.zeros(m)
            for h in range(1, int(3800 / f0.mean())):
                fh = h * f0.mean()
                amp = np.exp(-((fh - F1) / 150) ** 2) + 0.6 * np.exp(-((fh - F2) / 250) ** 2) + 0.02
                seg += amp * np.sin(h * ph)
            x[a:b] = seg * _envelope(m, m // 4, m // 3)
    else:                                       # beep: a pure tone, sometimes two
        x = sum(np.sin(2 * np.pi * rng.uniform(500, 3000) * t) for _ in range(rng.integers(1, 3)))
        x = x * _envelope(n, n // 30, n // 30)
    x = np.asarray(x, np.float64)
    return x / (np.abs(x).max() + 1e-12)


def synthetic_events(n_per_class: int = 120, seed: int = 0, fs: float = SYNTH_FS,
                     length: float = 1.0, rooms: int = 5) -> ClipSet:
    """Deterministic acoustic events in noise: ``n_per_class`` of each kind, one per ``length``-second clip at a random
    place and level (−30…−6 dBFS peak) over its room's noise (colour and level per room, SNR 10–30 dB); groups ``room0``
    …, each room shifting the events' pitch by up to ±10 %."""
    rng = np.random.default_rng([3, seed])
    room_info = [{"pitch": rng.uniform(0.9, 1.1), "colour": ("white", "pink", "brown")[r % 3]} for r in range(rooms)]
    kinds = (*SYNTH_KEYWORDS, SYNTH_OTHER)
    names = sorted(kinds)
    n = int(length * fs)
    clips = []
    for j in range(n_per_class):
        for kind in kinds:
            r = int(rng.integers(rooms))
            room = room_info[r]
            ev = _event(kind, rng, fs, room)[:n] * 10 ** (rng.uniform(-30, -6) / 20)
            x = np.zeros(n)
            at = int(rng.integers(0, n - len(ev) + 1))
            x[at:at + len(ev)] = ev
            x += np.sqrt(np.mean(ev ** 2) / 10 ** (rng.uniform(10, 30) / 10)) * coloured_noise(rng, n, room["colour"])
            clips.append(Clip(names.index(kind), f"room{r}", data=np.clip(x, -1, 1).astype(np.float32)))
    return ClipSet(clips, names, float(fs), "synthetic", has_groups=True)
