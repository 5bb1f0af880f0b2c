"""Synthetic speakers for the ``audio`` task: each keyword spoken by seeded espeak-ng and flite voices.

With two or three real speakers, a keyword spotter learns their voices rather than the words: on FSDD's three folds
(benchmarks/README.md, "Keyword spotting") a second training speaker adds 24 pp on the unseen one. Synthetic speech is a
cheap source of more voices (Lin et al., "Training keyword spotters with limited and synthesized speech data", ICASSP
2020, did it with a neural TTS; espeak-ng is a formant synthesiser, far from natural, but it varies the cues a small
model must learn to ignore: accent, pitch, formants, speaking rate).

A *voice* is an accent of the language (``en-us``, ``en-gb-scotland``, ...; MBROLA voices are skipped, they need more
packages) with a voice variant (``+m3``, ``+f2``, ``+croak``, ...), a pitch, a speaking rate and an amplitude, drawn
from a generator seeded by ``seed``; every voice says every keyword once. Each voice is a group (``espeak-ng/0``,
``espeak-ng/1``, ...; :func:`edgekit.train.classes.add_spoken`): about a tenth of the voices join the validation split
whole, so early stopping watches voices the model has not heard (the real training speakers' held-out clips alone tell
it little about an unseen voice); the rest go to training; none ever goes to the test split, so the reported accuracy
stays on real speech.

flite (``--tts-flite-voices``) adds voices of another kind: its five built-in voices (kal, kal16, awb, rms, slt: four
men and a woman, US and Scottish English) are diphone and clustergen voices built from recordings of real people, closer
to natural speech than espeak-ng's formants; a flite voice is one of them with a seeded mean pitch, pitch range (not
rms: it keeps its own) and duration stretch. Its groups are ``flite/0``,
``flite/1``, ... and split the same way. On FSDD's folds, 50 flite voices on top of 100 espeak-ng ones added
2.2 pp (benchmarks/README.md).

espeak-ng and flite are workstation tools here (Debian: ``apt-get install espeak-ng flite``); the device never needs
them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from edgekit.edge.core.errors import EdgekitError

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


@dataclass(frozen=True)
class FliteVoice:
    voice: str
    f0: int | None      # mean pitch, Hz (int_f0_target_mean); None: the voice's own (rms ignores a target)
    f0_std: int | None  # pitch range, Hz (int_f0_target_stddev)
    stretch: float      # duration_stretch: > 1 speaks slower

    def args(self) -> list[str]:
        pitch = [] if self.f0 is None else ["--setf", f"int_f0_target_mean={self.f0}", "--setf",
                                            f"int_f0_target_stddev={self.f0_std}"]
        return ["-voice", self.voice, *pitch, "--setf", f"duration_stretch={self.stretch}"]

    def to_dict(self) -> dict:
        return {"engine": "flite", "voice": self.voice, "f0": self.f0, "f0_std": self.f0_std, "stretch": self.stretch}


# flite's built-in voices and the mean pitch range each is drawn from (Hz): men 80-170, the woman 140-260; rms
# (a clustergen voice) keeps its own pitch whatever the target (measured: the same samples), so its is None
FLITE_VOICES = {"awb": (80, 170), "kal": (80, 170), "kal16": (80, 170), "rms": None, "slt": (140, 260)}
F0_STD = (5, 35)
STRETCH = (0.8, 1.4)


def _installed(engine: str, flag: str) -> str:
    """The path of the synthesiser ``engine`` that ``flag`` needs, or a one-line error saying how to get it."""
    exe = shutil.which(engine)
    if exe is None:
        raise EdgekitError(f"{flag} needs {engine}, which is not installed (Debian/Ubuntu: apt-get install "
                           f"{engine}); install it or leave out {flag}")
    return exe


def espeak() -> str:
    return _installed("espeak-ng", "--tts-voices")


def _listing(exe: str, what: str) -> list[list[str]]:
    p = subprocess.run([exe, f"--voices={what}"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise EdgekitError(f"espeak-ng --voices={what} failed ({(p.stderr or p.stdout).strip()[:200]})")
    return [line.split() for line in p.stdout.splitlines()[1:] if len(line.split()) >= 5]


def accents(exe: str, language: str) -> list[str]:
    """The installed espeak-ng voices of ``language`` (``en`` → en-us, en-gb, en-gb-scotland, ...), sorted;
    MBROLA voices (files ``mb/...``) are left out."""
    return sorted({row[1] for row in _listing(exe, language)
                   if not row[4].startswith("mb/") and (row[1] == language or row[1].startswith(language + "-"))})


def variants(exe: str) -> list[str]:
    """The installed voice variants (``m1`` … ``f5``, ``croak``, ``adam``, ...), sorted."""
    return sorted({row[4].split("/")[-1] for row in _listing(exe, "variant")})


def voices(n: int, seed: int, language: str = "en", exe: str | None = None) -> list[Voice]:
    """``n`` seeded voices (the same installed espeak-ng and seed give the same voices)."""
    exe = exe or espeak()
    acc, var = accents(exe, language), variants(exe) or ["m1"]
    if not acc:
        raise EdgekitError(f"--tts-language {language}: espeak-ng has no such voice (see espeak-ng --voices)")
    rng = np.random.default_rng([17, seed])
    return [Voice(acc[int(rng.integers(len(acc)))], var[int(rng.integers(len(var)))],
                  int(rng.integers(PITCH[0], PITCH[1] + 1)), int(rng.integers(RATE[0], RATE[1] + 1)),
                  int(rng.integers(AMPLITUDE[0], AMPLITUDE[1] + 1))) for _ in range(n)]


def _speak(engine: str, argv: Callable[[str], list[str]], text: str, fs: float, tmp: str) -> np.ndarray:
    """Run a synthesiser that writes ``text`` to the WAV file ``argv(path)`` names: float32 mono samples
    at ``fs``."""
    from edgekit.edge.formats.audio import load_audio

    fd, path = tempfile.mkstemp(suffix=".wav", dir=tmp)
    os.close(fd)
    try:
        p = subprocess.run(argv(path), capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise EdgekitError(f"{engine} failed for {text!r} ({(p.stderr or p.stdout).strip()[:200]})")
        x = load_audio(path, fs, hint=f" ({engine} saying {text!r}); check --tts-words")
    finally:
        os.unlink(path)
    return np.clip(x, -1.0, 1.0)       # the resampler's overshoot past full scale


def say(exe: str, voice: Voice, text: str, fs: float, tmp: str) -> np.ndarray:
    """``text`` spoken by an espeak-ng ``voice``: float32 mono samples at ``fs``."""
    return _speak("espeak-ng", lambda path: [exe, *voice.args(), "-w", path, "--", text], text, fs, tmp)


def flite() -> str:
    return _installed("flite", "--tts-flite-voices")


def flite_voices(n: int, seed: int, exe: str | None = None) -> list[FliteVoice]:
    """``n`` seeded flite voices among the installed ones of :data:`FLITE_VOICES`."""
    exe = exe or flite()
    p = subprocess.run([exe, "-lv"], capture_output=True, text=True, timeout=30)
    have = set(p.stdout.replace("Voices available:", " ").split())
    names = sorted(v for v in FLITE_VOICES if v in have)
    if not names:
        raise EdgekitError(f"flite has none of the voices {', '.join(FLITE_VOICES)} (flite -lv: "
                           f"{p.stdout.strip()[:200]!r}); install Debian's flite package")
    rng = np.random.default_rng([19, seed])
    out = []
    for _ in range(n):
        v = names[int(rng.integers(len(names)))]
        lo, hi = FLITE_VOICES[v] or (80, 170)
        f0, f0_std = int(rng.integers(lo, hi + 1)), int(rng.integers(F0_STD[0], F0_STD[1] + 1))
        if FLITE_VOICES[v] is None:
            f0 = f0_std = None
        out.append(FliteVoice(v, f0, f0_std, round(float(rng.uniform(*STRETCH)), 3)))
    return out


def say_flite(exe: str, voice: FliteVoice, text: str, fs: float, tmp: str) -> np.ndarray:
    """``text`` spoken by a flite ``voice``: float32 mono samples at ``fs``."""
    return _speak("flite", lambda path: [exe, *voice.args(), "-t", text, "-o", path], text, fs, tmp)


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
               workers: int = 2, n_flite: int = 0
               ) -> tuple[list[tuple[str, str, np.ndarray]], list[Voice | FliteVoice]]:
    """Every label of ``words`` said by ``n_voices`` espeak-ng voices and ``n_flite`` flite voices:
    ``[(label, group, samples), ...]`` (group ``espeak-ng/<k>`` or ``flite/<k>``; voice by voice, labels in the given
    order) and the voices (espeak-ng's first)."""
    for n, flag in ((n_voices, "--tts-voices"), (n_flite, "--tts-flite-voices")):
        if not 0 <= n <= MAX_VOICES:
            raise EdgekitError(f"{flag} {n}: give 0 to {MAX_VOICES}")
    if not n_voices + n_flite:
        raise EdgekitError("no synthetic voices asked for: give --tts-voices N and/or --tts-flite-voices N")
    engines = []                                    # (group prefix, speak, executable, voices)
    if n_voices:
        exe = espeak()
        engines.append(("espeak-ng", say, exe, voices(n_voices, seed, language, exe)))
    if n_flite:
        exe = flite()
        engines.append(("flite", say_flite, exe, flite_voices(n_flite, seed, exe)))
    jobs = [(speak, exe, v, f"{name}/{k}", lab, said) for name, speak, exe, vs in engines
            for k, v in enumerate(vs) for lab, said in words.items()]
    with tempfile.TemporaryDirectory(prefix="edgekit-tts-") as tmp, ThreadPoolExecutor(max(1, workers)) as pool:
        audio = list(pool.map(lambda j: j[0](j[1], j[2], j[5], fs, tmp), jobs))
    return [(lab, group, x) for (_, _, _, group, lab, _), x in zip(jobs, audio)], [v for *_, vs in engines for v in vs]


def version() -> str:
    p = subprocess.run([espeak(), "--version"], capture_output=True, text=True, timeout=30)
    text = p.stdout.strip().splitlines()[0] if p.stdout.strip() else "espeak-ng"
    return text.split("  Data at")[0].strip()


def flite_version() -> str:
    p = subprocess.run([flite(), "--version"], capture_output=True, text=True, timeout=30)
    for line in (p.stdout + p.stderr).splitlines():     # "  version: flite-2.2-current Sep 2018 (...)"
        if "version:" in line:
            return line.split("version:", 1)[1].split("(")[0].strip()
    return "flite"
