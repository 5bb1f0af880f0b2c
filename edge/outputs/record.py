"""Recording what the device hears: the raw samples of chosen windows as WAV files, each with a JSON sidecar.

``edge-run --record DIR --record-when events,disagree,uncertain`` keeps the windows that matter for retraining: those
that fired an event, those where the shadow model disagreed, those the model was unsure of (top score below
``--record-uncertain``, default 0.6). Each is a WAV file (float32 at the model's rate, the window as the model saw it)
and a ``.json`` sidecar (time, label, score, why, shadow's answer, the model file's sha256, the run). Sorted into label
folders by a person, they are ``--data`` for ``edgekit train audio``.

The folder is a store that shares its place with other files and other writers:

* **Names no other run makes**: ``edgekit-<run>-<n>-t<t>s-<label>.wav``, ``<run>`` the run's UTC start and 32 random
  bits (``20250102T030405Z-9f3a61c2``), ``<n>`` the run's recordings counted from 0 (8 digits: a run's names sort in
  stream order), ``<t>`` the window's stream time at full precision (``repr`` of the float). A restart, a second run
  or a second process into the folder writes beside the earlier recordings, never over them.
* **Whole files only**: each file is written under a hidden temporary name (``.edgekit-tmp-<run>-<random>``, created
  with ``O_CREAT|O_EXCL|O_NOFOLLOW``: a link planted there is refused, not followed), synced, then published under
  its name by ``os.link``, which never replaces anything (a name taken, even by a dangling link, is skipped for the
  next number); where the file system has no hard links (FAT), an empty file created exclusively under the name is
  replaced by rename. The sidecar goes first, the WAV last: a ``.wav`` under a store name is a complete recording.
* **The budget** (``--record-max-mb``) counts and removes store recordings only: regular files matching the name
  pattern above (the WAV and its sidecar), any run's, oldest first (modification time, then name), never the one just
  written. A user's own files, temporary files (another writer's work in progress) and links are never counted or
  removed. With several writers in one folder, each brings its list up to date before it counts: when the folder
  changed since its own last write (the folder's modification time) and at least once a second (only the names are
  listed again; new ones are looked at). A recording another writer publishes while one writes its own is seen at
  the next update: the folder may hold a few recordings more than the budget meanwhile. At the end of the stream
  the whole folder is listed and the budget applied once more.
* **A write that fails** (disk full, folder removed, permissions) leaves no partial file: a warning, the recording
  stops, the stream goes on to its summary. The summary's ``kept`` and ``bytes`` are this run's recordings still on
  disk when the stream ended (counted there), ``deleted_oldest``/``deleted_bytes`` what the budget removed,
  ``folder_bytes`` all store recordings in the folder, ``stopped`` the error that ended the recording (or null) and
  ``missed`` the chosen windows not recorded after it."""
from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import stat
import struct
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.wav import WAVE_FORMAT_IEEE_FLOAT

WHEN = ("events", "disagree", "uncertain")
PREFIX = "edgekit-"
TEMP_PREFIX = ".edgekit-tmp-"
# A store recording's WAV name; group 1 is its run.
NAME = re.compile(r"edgekit-(\d{8}T\d{6}Z-[0-9a-f]{8})-\d{8,}-t[0-9.eE+-]+s-[A-Za-z0-9_-]{0,40}\.wav")
RESCAN_SECONDS = 1.0                # the folder is listed again at least this often while recording (other writers)
_TRIES = 100                        # names tried for one file before giving up (each one taken: planted or raced)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}


def parse_when(text: str) -> tuple[str, ...]:
    """The ``--record-when`` list (``events,disagree,uncertain``), checked."""
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in parts if p not in WHEN]
    if bad or not parts:
        raise EdgekitError(f"--record-when {text!r}: use one or more of {', '.join(WHEN)}, comma-separated")
    return parts


class Recorder:
    """An observer of the streaming loop that saves chosen windows into a store (see the module docstring)."""

    name = "recorded"

    def __init__(self, folder: str | Path, model_path, when=("events",), max_mb: float = 100.0, uncertain: float = 0.6):
        if not (0 < max_mb <= 1e6) or not math.isfinite(max_mb):
            raise EdgekitError(f"--record-max-mb {max_mb:g}: give a size in MB, above 0")
        self.dir = Path(folder)
        self.when, self.max_bytes, self.uncertain = tuple(when), int(max_mb * 1e6), float(uncertain)
        self.model_path = str(model_path)
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(4)}"
        self._sha: str | None = None
        self._seq = 0                   # the number in the next recording's name
        self._last: str | None = None   # this run's latest recording
        self.saved = self.deleted = self.deleted_bytes = self.missed = 0
        self.error: str | None = None   # why the recording stopped
        self._warn = _stderr_warning
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, probe = self._temp()
            os.close(fd)
            os.unlink(probe)
            # what is there already, oldest first: the budget covers earlier runs' recordings too
            self._files: deque[tuple[int, str, int]] = deque()      # (mtime ns, WAV name, bytes with the sidecar)
            self._bytes, self._listed = 0, 0.0                     # (bytes listed, and when)
            self._seen: int | None = None                           # the folder's time after this writer's last change
            self._refresh()
        except OSError as e:
            raise EdgekitError(f"--record {folder}: cannot write there ({e.strerror or e})") from None

    def start(self, run) -> None:
        """Check the stream has windows of signal; take its rate and its sink (for warnings)."""
        if not getattr(run, "timed", False):
            raise EdgekitError("--record saves windows of a signal stream; this source has none (clips one by "
                               "one, pictures or rows)")
        self.sample_rate = int(round(run.spec.sample_rate))
        self._rate = float(run.spec.sample_rate)
        self._kind = run.spec.kind
        sink = getattr(run, "sink", None)
        if sink is not None:
            self._warn = sink.warn

    def stem(self, seq: int, t: float, label: str) -> str:
        """The name (without suffix) of this run's recording number ``seq`` at stream time ``t`` (s) of ``label``
        (letters, digits, ``-`` and ``_``, at most 40)."""
        return f"{PREFIX}{self.run_id}-{seq:08d}-t{float(t)!r}s-{label}"

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
        """Record the window if it is one of those chosen; a write that fails stops the recording (a warning)."""
        why = self._why(answer, r, event)
        if why is None:
            return
        if self.error is not None:
            self.missed += 1
            return
        wav = _wav_bytes(item.x, self.sample_rate)
        if wav is None:
            self.missed += 1
            self._warn(f"--record: the window at t={r.get('t')} holds NaN/inf samples or has no frames; not recorded")
            return
        if self._sha is None:
            import hashlib
            try:
                with open(self.model_path, "rb") as f:
                    self._sha = hashlib.sha256(f.read()).hexdigest()
            except OSError:                     # (the model file went away since it was loaded)
                self._sha = ""
        kind = ("anomaly" if r["anomaly"] else "normal") if "anomaly" in r else "value"
        label = str(event["event"] if event is not None else r.get("label", kind))
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:40]
        side = {"t": r["t"], "label": r.get("label"), "score": r.get("score"), "why": why,
                "event": event, "shadow": r.get("shadow"), "sample_rate": self.sample_rate,
                "model": self.model_path, "model_sha256": self._sha or None, "run": self.run_id}
        if "anomaly" in r:
            side["anomaly"] = r["anomaly"]
        meta = getattr(item, "meta", None)
        start = meta.get("start") if isinstance(meta, dict) else None      # (the window's first sample)
        t = float(r["t"])                                                  # (rounded to the microsecond)
        if isinstance(start, (int, np.integer)) and not isinstance(start, bool):
            t = int(start) / self._rate                                    # full precision
            side["start_sample"] = int(start)
        moved = self._folder_time() != self._seen          # another writer (or a person) changed the folder
        try:
            name, size = self._put(t, safe, wav, (json.dumps(side, indent=1) + "\n").encode())
        except OSError as e:
            self.error = f"{e.strerror or e}"
            self.missed += 1
            self._warn(f"--record {self.dir}: cannot write the window at t={r['t']} ({self.error}); recording "
                       f"stopped, the stream goes on ({_plural(self.saved, 'recording')} of this run written before)")
            return
        self.saved += 1
        self._last = r["recorded"] = name
        try:
            if moved or time.monotonic() - self._listed >= RESCAN_SECONDS:
                self._refresh()
            else:
                self._files.append((os.lstat(self.dir / name).st_mtime_ns, name, size))
                self._bytes += size
            self._evict(name)
            self._seen = self._folder_time()
        except OSError:                         # the folder went away: the next write says so
            pass

    def _put(self, t: float, label: str, wav: bytes, side: bytes) -> tuple[str, int]:
        """Publish a recording under the next free name: the sidecar, then the WAV. Its WAV name and bytes."""
        for _ in range(_TRIES):
            stem = self.stem(self._seq, t, label)
            self._seq += 1
            if not self._publish(f"{stem}.json", side):
                continue                        # the name is taken (a planted file or link): the next number
            try:
                if self._publish(f"{stem}.wav", wav):
                    return f"{stem}.wav", len(wav) + len(side)
            except OSError:
                _remove(self.dir / f"{stem}.json")
                raise
            _remove(self.dir / f"{stem}.json")
        raise OSError(errno.EEXIST, f"{_TRIES} names in a row were taken")

    def _publish(self, name: str, data: bytes) -> bool:
        """Write ``data`` whole under a temporary name, then give it ``name`` if no file (or link) has that name:
        True if it has it now, False if the name was taken. Nothing is left behind when writing fails."""
        fd, tmp = self._temp()
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            final = self.dir / name
            try:
                os.link(tmp, final, follow_symlinks=False)      # fails if the name exists: nothing is replaced
            except FileExistsError:
                return False
            except OSError as e:
                if e.errno not in _NO_HARD_LINKS:
                    raise
                try:                            # no hard links here: take the name exclusively, then rename onto it
                    os.close(os.open(final, _CREATE, 0o666))
                except FileExistsError:
                    return False
                try:
                    os.replace(tmp, final)
                except OSError:
                    _remove(final)              # (the empty stand-in)
                    raise
            return True
        finally:
            _remove(tmp)

    def _temp(self) -> tuple[int, Path]:
        """A new temporary file of this run in the folder, open for writing (created, never an existing one)."""
        for _ in range(_TRIES):
            path = self.dir / f"{TEMP_PREFIX}{self.run_id}-{_temp_token()}"
            try:
                return os.open(path, _CREATE, 0o666), path
            except FileExistsError:
                continue
        raise OSError(errno.EEXIST, f"{_TRIES} temporary names in a row were taken")

    def _refresh(self, full: bool = False) -> None:
        """Bring the list of the store's recordings (any run's, oldest first) up to date with the folder: those
        gone out, new ones in (looked at: regular files only, with their sidecars). ``full``: look at all again."""
        listed = time.monotonic()
        names = {n for n in os.listdir(self.dir) if NAME.fullmatch(n)}
        files = [] if full else [f for f in self._files if f[1] in names]
        known = {f[1] for f in files}
        for name in names - known:
            try:
                st = os.lstat(self.dir / name)
            except OSError:                     # removed meanwhile (by another writer's budget)
                continue
            if stat.S_ISREG(st.st_mode):
                files.append((st.st_mtime_ns, name, st.st_size + _file_size(self.dir / _sidecar(name))))
        files.sort()
        self._files, self._bytes = deque(files), sum(f[2] for f in files)
        self._listed = listed
        self._seen = self._folder_time()

    def _folder_time(self) -> int | None:
        """The folder's modification time (ns): it changes with every file made, renamed or removed there."""
        try:
            return os.stat(self.dir).st_mtime_ns
        except OSError:
            return None

    def _evict(self, newest: str) -> None:
        """Remove the oldest store recordings until the folder is within the budget (never ``newest``)."""
        while self._bytes > self.max_bytes and self._files and self._files[0][1] != newest:
            _, name, n = self._files.popleft()
            self._bytes -= n
            try:
                os.unlink(self.dir / name)      # the WAV first: without it the sidecar is no recording
            except OSError:                     # gone already (another writer's budget), or not ours to remove
                continue
            _remove(self.dir / _sidecar(name))
            self.deleted += 1
            self.deleted_bytes += n

    def summary(self) -> dict[str, Any]:
        """The budget applied to the whole folder once more; what this run recorded and what of it is on disk now
        (counted in the folder), and what the budget removed."""
        kept = mine = total = 0
        try:
            self._refresh(full=True)
            if self._last is not None:
                self._evict(self._last)
            total = self._bytes
            for _, name, n in self._files:
                m = NAME.fullmatch(name)
                if m is not None and m.group(1) == self.run_id:
                    kept, mine = kept + 1, mine + n
        except OSError:                         # the folder is gone
            pass
        return {"dir": str(self.dir), "run": self.run_id, "when": list(self.when), "saved": self.saved,
                "kept": kept, "bytes": mine, "deleted_oldest": self.deleted, "deleted_bytes": self.deleted_bytes,
                "folder_bytes": total, "stopped": self.error, "missed": self.missed}


def _temp_token() -> str:
    """The random part of a temporary file's name."""
    return secrets.token_hex(8)


def _wav_bytes(x, rate: int) -> bytes | None:
    """``x`` (``(n,)`` or ``(n, channels)``) as a float32 WAV file, as :func:`edgekit.edge.formats.wav.write_wav`
    writes it; None if it cannot be one (NaN/inf samples, no frames, another shape)."""
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or not a.size or a.shape[1] > 0xFFFF or not np.issubdtype(a.dtype, np.floating) \
            or not np.isfinite(a).all():
        return None
    frames, channels = a.shape
    align = 4 * channels
    data = np.ascontiguousarray(a, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHHH", WAVE_FORMAT_IEEE_FLOAT, channels, rate, rate * align, align, 32, 0)
    fact = b"fact" + struct.pack("<II", 4, frames)
    riff = 4 + 8 + len(fmt) + len(fact) + 8 + len(data)
    return b"".join((b"RIFF", struct.pack("<I", riff), b"WAVE", b"fmt ", struct.pack("<I", len(fmt)), fmt, fact,
                     b"data", struct.pack("<I", len(data)), data))


def _file_size(path: Path) -> int:
    """Bytes of a regular file; 0 if there is none (or it is a link)."""
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _remove(path: Path) -> None:
    """Unlink ``path`` if it is there."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _sidecar(wav_name: str) -> str:
    """The JSON sidecar's name of a WAV name."""
    return wav_name[:-4] + ".json"


def _plural(n: int, word: str) -> str:
    """``1 recording``, ``2 recordings``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _stderr_warning(msg: str) -> None:
    """A warning line on stderr (before the stream gives its sink)."""
    print(f"warning: {msg}", file=sys.stderr)
