"""Synthetic speakers for the ``audio`` task: each keyword spoken by seeded espeak-ng voices.

With two or three real speakers, a keyword spotter learns their voices rather than the words: on FSDD's three
folds (benchmarks/README.md, "Keyword spotting") a second training speaker adds 24 pp on the unseen one.
Synthetic speech is a cheap source of more voices (Lin et al., "Training keyword spotters with limited and
synthesized speech data", ICASSP 2020, did it with a neural TTS; espeak-ng is a formant synthesiser, far from
natural, but it varies the cues a small model must learn to ignore: accent, pitch, formants, speaking rate).

A *voice* is an accent of the language (``en-us``, ``en-gb-scotland``, ...; MBROLA voices are skipped, they
need more packages) with a voice variant (``+m3``, ``+f2``, ``+croak``, ...), a pitch, a speaking rate and an
amplitude, drawn from a generator seeded by ``seed``; every voice says every keyword once. Each voice is a
group (``espeak-ng/0``, ``espeak-ng/1``, ...; :func:`edgekit.train.audio_data.add_spoken`): about a tenth of
the voices join the validation split whole, so early stopping watches voices the model has not heard (the
real training speakers' held-out clips alone tell it little about an unseen voice); the rest go to
training; none ever goes to the test split, so the reported accuracy stays on real speech.

espeak-ng is a workstation tool here (Debian: ``apt-get install espeak-ng``); the device never needs it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from edgekit.edge.errors import EdgekitError

MAX_VOICES = 1000
PITCH = (25, 75)          # espeak-ng -p (0-99, default 50)
RATE = (120, 200)         # words per minute (-s, default 175)
AMPLITUDE = (80, 120)     # -a (default 100)


@dataclass(frozen=True)
class Voice:
    accent: str
    variant: str
    pitch: int
    rate: int
    amplitude: int

    def args(self) -> list[str]:
        return ["-v", f"{self.accent}+{self.variant}", "-p", str(self.pitch), "-s", str(self.rate),
                "-a", str(self.amplitude)]

    def to_dict(self) -> dict:
        return {"voice": f"{self.accent}+{self.variant}", "pitch": self.pitch, "rate": self.rate,
                "amplitude": self.amplitude}


def espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EdgekitError("--tts-voices needs espeak-ng, which is not installed (Debian/Ubuntu: apt-get install "
                           "espeak-ng); install it or leave out --tts-voices")
    return exe


def _listing(exe: str, what: str) -> list[list[str]]:
    p = subprocess.run([exe, f"--voices={what}"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise EdgekitError(f"espeak-ng --voices={what} failed ({(p.stderr or p.stdout).strip()[:200]})")
    return [line.split() for line in p.stdout.splitlines()[1:] if len(line.split()) >= 5]


def accents(exe: str, language: str) -> list[str]:
    """The installed espeak-ng voices of ``language`` (``en`` → en-us, en-gb, en-gb-scotland, ...), sorted;
    MBROLA voices (files ``mb/...``) are left out."""
    found = {row[1] for row in _listing(exe, language)
             if not row[4].startswith("mb/") and (row[1] == language or row[1].startswith(language + "-"))}
    return sorted(found)


def variants(exe: str) -> list[str]:
    """The installed voice variants (``m1`` … ``f5``, ``croak``, ``adam``, ...), sorted."""
    return sorted({row[4].split("/")[-1] for row in _listing(exe, "variant")})


def voices(n: int, seed: int, language: str = "en", exe: str | None = None) -> list[Voice]:
    """``n`` seeded voices (the same installed espeak-ng and seed give the same voices)."""
    exe = exe or espeak()
    acc, var = accents(exe, language), variants(exe)
    if not acc:
        raise EdgekitError(f"--tts-language {language}: espeak-ng has no such voice (see espeak-ng --voices)")
    if not var:
        var = ["m1"]
    rng = np.random.default_rng([17, seed])
    return [Voice(acc[int(rng.integers(len(acc)))], var[int(rng.integers(len(var)))],
                  int(rng.integers(PITCH[0], PITCH[1] + 1)), int(rng.integers(RATE[0], RATE[1] + 1)),
                  int(rng.integers(AMPLITUDE[0], AMPLITUDE[1] + 1))) for _ in range(n)]


def say(exe: str, voice: Voice, text: str, fs: float, tmp: str) -> np.ndarray:
    """``text`` spoken by ``voice``: float32 mono samples at ``fs``."""
    from .audio_data import read_clip

    fd, path = tempfile.mkstemp(suffix=".wav", dir=tmp)
    os.close(fd)
    try:
        p = subprocess.run([exe, *voice.args(), "-w", path, "--", text], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            raise EdgekitError(f"espeak-ng failed for {text!r} ({(p.stderr or p.stdout).strip()[:200]})")
        x = read_clip(path, fs, f" (espeak-ng saying {text!r}); check --tts-words")
    finally:
        os.unlink(path)
    return np.clip(x, -1.0, 1.0)       # the resampler's overshoot past full scale


def parse_words(text: str | None, labels: Sequence[str]) -> dict[str, str]:
    """``"0=zero,1=one"`` → {label: text}; a label not named is spoken as written ("_" as a space)."""
    words = {lab: lab.replace("_", " ") for lab in labels}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        lab, eq, said = item.partition("=")
        lab, said = lab.strip(), said.strip()
        if not eq or not said:
            raise EdgekitError(f"--tts-words {item.strip()!r}: give label=text, e.g. 0=zero")
        if lab not in words:
            raise EdgekitError(f"--tts-words: {lab!r} is not a keyword ({', '.join(labels)})")
        words[lab] = said
    return words


def synthesize(words: Mapping[str, str], n_voices: int, fs: float, seed: int = 0, language: str = "en",
               workers: int = 2) -> tuple[list[tuple[str, int, np.ndarray]], list[Voice]]:
    """Every label of ``words`` said by ``n_voices`` voices: ``[(label, voice index, samples), ...]`` (voice
    by voice, labels in the given order) and the voices."""
    if not 0 < n_voices <= MAX_VOICES:
        raise EdgekitError(f"--tts-voices {n_voices}: give 1 to {MAX_VOICES}")
    exe = espeak()
    vs = voices(n_voices, seed, language, exe)
    jobs = [(v, k, lab, said) for k, v in enumerate(vs) for lab, said in words.items()]
    with tempfile.TemporaryDirectory(prefix="edgekit-tts-") as tmp, ThreadPoolExecutor(max(1, workers)) as pool:
        audio = list(pool.map(lambda j: say(exe, j[0], j[3], fs, tmp), jobs))
    return [(lab, k, x) for (_, k, lab, _), x in zip(jobs, audio)], vs


def version() -> str:
    p = subprocess.run([espeak(), "--version"], capture_output=True, text=True, timeout=30)
    text = p.stdout.strip().splitlines()[0] if p.stdout.strip() else "espeak-ng"
    return text.split("  Data at")[0].strip()
