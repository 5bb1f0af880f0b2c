"""Recording what the device hears: the raw samples of chosen windows as WAV files, each with a JSON sidecar.

``edge-run --record DIR --record-when events,disagree,uncertain`` keeps the windows that matter for retraining: those
that fired an event, those where the shadow model disagreed, those the model was unsure of (top score below
``--record-uncertain``, default 0.6). Each is ``DIR/<t>_<label>.wav`` (float32 at the model's rate, the window as the
model saw it) and ``.json`` (time, label, score, why, shadow's answer, the model file's sha256). The folder is bounded
by ``--record-max-mb``: the oldest recordings go first, including those an earlier run left there. Sorted into label
folders by a person, it is ``--data`` for ``edgekit train audio``."""
from __future__ import annotations

import json
import math
from collections import deque
from pathlib import Path
from typing import Any

from edgekit.edge.core.errors import EdgekitError

WHEN = ("events", "disagree", "uncertain")


def parse_when(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in parts if p not in WHEN]
    if bad or not parts:
        raise EdgekitError(f"--record-when {text!r}: use one or more of {', '.join(WHEN)}, comma-separated")
    return parts


class Recorder:
    """An observer of the streaming loop that saves chosen windows (see the module docstring)."""

    name = "recorded"

    def __init__(self, folder: str | Path, model_path, when=("events",), max_mb: float = 100.0, uncertain: float = 0.6):
        self.dir = Path(folder)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe = self.dir / ".edgekit-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise EdgekitError(f"--record {folder}: cannot write there ({e.strerror or e})") from None
        if not (0 < max_mb <= 1e6) or not math.isfinite(max_mb):
            raise EdgekitError(f"--record-max-mb {max_mb:g}: give a size in MB, above 0")
        self.when, self.max_bytes, self.uncertain = tuple(when), int(max_mb * 1e6), float(uncertain)
        self.model_path = str(model_path)
        self._sha = None
        self.saved = self.deleted = 0
        # what is there already, oldest first: the budget covers earlier runs' recordings too
        old = sorted(self.dir.glob("*.wav"), key=lambda p: (p.stat().st_mtime, p.name))
        self._files: deque[tuple[Path, int]] = deque((p, _size(p)) for p in old)
        self._bytes = sum(n for _, n in self._files)

    def start(self, run) -> None:
        if not getattr(run, "timed", False):
            raise EdgekitError("--record saves windows of a signal stream; this source has none (clips one by "
                               "one, pictures or rows)")
        self.sample_rate = int(round(run.spec.sample_rate))
        self._kind = run.spec.kind

    def _why(self, answer, r, event) -> str | None:
        if "events" in self.when and event is not None:
            return "event"
        shadow = r.get("shadow") or {}
        if "disagree" in self.when and (shadow.get("label") not in (None, r.get("label"))
                                        or shadow.get("anomaly", r.get("anomaly")) != r.get("anomaly")):
            return "disagree"
        if "uncertain" in self.when and self._kind == "classification" and answer[1] is not None \
                and answer[1] < self.uncertain:
            return "uncertain"
        return None

    def observe(self, item, answer, r: dict[str, Any], event) -> None:
        why = self._why(answer, r, event)
        if why is None:
            return
        from edgekit.edge.formats.wav import write_wav
        if self._sha is None:
            import hashlib
            with open(self.model_path, "rb") as f:
                self._sha = hashlib.sha256(f.read()).hexdigest()
        kind = ("anomaly" if r["anomaly"] else "normal") if "anomaly" in r else "value"
        label = str(event["event"] if event is not None else r.get("label", kind))
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40]
        stem = f"t{r['t']:010.3f}s_{safe}"          # (the time's dot is not a suffix: names built whole)
        wav, side_path = self.dir / f"{stem}.wav", self.dir / f"{stem}.json"
        try:
            write_wav(wav, item.x, self.sample_rate, 4, format="float")
            side = {"t": r["t"], "label": r.get("label"), "score": r.get("score"), "why": why, "event": event,
                    "shadow": r.get("shadow"), "sample_rate": self.sample_rate, "model": self.model_path,
                    "model_sha256": self._sha}
            if "anomaly" in r:
                side["anomaly"] = r["anomaly"]
            side_path.write_text(json.dumps(side, indent=1) + "\n")
        except OSError as e:
            raise EdgekitError(f"--record {self.dir}: cannot write {wav.name} ({e.strerror or e})") from None
        n = _size(wav)
        self._files.append((wav, n))
        self._bytes += n
        self.saved += 1
        while self._bytes > self.max_bytes and len(self._files) > 1:      # oldest first out
            old, m = self._files.popleft()
            for p in (old, _sidecar(old)):
                try:
                    p.unlink()
                except OSError:
                    pass
            self._bytes -= m
            self.deleted += 1
        r["recorded"] = wav.name

    def summary(self) -> dict[str, Any]:
        return {"dir": str(self.dir), "saved": self.saved, "deleted_oldest": self.deleted,
                "bytes": self._bytes, "when": list(self.when)}


def _size(wav: Path) -> int:
    """Bytes of a recording: the WAV file and its JSON sidecar."""
    n = 0
    for p in (wav, _sidecar(wav)):
        try:
            n += p.stat().st_size
        except OSError:
            pass
    return n


def _sidecar(wav: Path) -> Path:
    return wav.parent / (wav.name[:-4] + ".json")
