"""The --record folder as a store (issue 28): names no other run makes, files written whole under a temporary name
and published without replacing anything, a budget that removes only the store's own recordings, two writers into
one folder, links planted in the folder not followed, and a full disk or a removed folder ending the recording,
not the stream."""
import errno
import json
import os
import select
import shutil
import struct
import subprocess
import time
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import bin_path, run
from edgekit.edge.formats.wav import read_wav, write_wav
from edgekit.edge.outputs import record
from edgekit.edge.outputs.record import Recorder

WINDOW = 10000                       # samples of the tiny STFT model's window (12800 Hz)


# -- the store driven directly (a stand-in for the stream) ----------------------------------------------------------

class _Sink:
    """What the recorder may tell the stream: warnings, kept in a list."""

    def __init__(self):
        self.warnings = []

    def warn(self, msg):
        """Keep a warning."""
        self.warnings.append(msg)

    def note(self, msg):
        """Ignore a note."""


def _store(folder, tmp_path, max_mb=100.0, rate=1000):
    """A recorder started on a timed classifier stream of ``rate`` Hz, and the sink it warns through."""
    model = tmp_path / "model.tflite"
    if not model.exists():
        model.write_bytes(b"not really a model")
    rec = Recorder(folder, model, ("events",), max_mb)
    sink = _Sink()
    rec.start(SimpleNamespace(timed=True, spec=SimpleNamespace(sample_rate=rate, kind="classification"), sink=sink))
    return rec, sink


def _window(seed, n=1000):
    return np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)


def _observe(rec, t, x, label="hum", rate=1000):
    """One window at stream time ``t`` that fired an event; the result object as the stream would print it."""
    item = SimpleNamespace(x=x, meta={"start": int(round(t * rate))}, fresh=False)
    r = {"t": round(t, 6), "label": label, "score": 0.9}
    rec.observe(item, (label, 0.9, None, None), r, {"event": label, "t": t, "score": 0.9})
    return r


def _wavs(folder):
    return sorted(p for p in folder.glob("*.wav"))


def _complete(wav):
    """True if the file is a whole WAV: the RIFF size and the data chunk's size agree with the file's size."""
    b = wav.read_bytes()
    if len(b) < 12 or b[:4] != b"RIFF" or struct.unpack("<I", b[4:8])[0] + 8 != len(b):
        return False
    pos = 12
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack("<I", b[pos + 4:pos + 8])[0]
        if cid == b"data":
            return pos + 8 + size + (size & 1) == len(b)
        pos += 8 + size + (size & 1)
    return False


def _on_disk(folder, names):
    """Recordings of ``names`` (WAV file names) still in ``folder``, and their bytes (WAV + JSON)."""
    kept = [n for n in names if (folder / n).is_file()]
    size = sum((folder / n).stat().st_size + (folder / (n[:-4] + ".json")).stat().st_size for n in kept)
    return len(kept), size


def _summary_matches_disk(s, folder, names):
    assert (s["kept"], s["bytes"]) == _on_disk(folder, names)


def test_the_budget_removes_only_its_own_recordings(tmp_path):
    """A user's own WAV and JSON files in the folder (older than any recording) survive the budget."""
    folder = tmp_path / "rec"
    folder.mkdir()
    own = {}
    for i in range(5):
        write_wav(folder / f"field_recording_{i}.wav", _window(100 + i), 1000, 4, format="float")
        (folder / f"field_recording_{i}.json").write_text(json.dumps({"where": "pump 3", "i": i}))
        own[f"field_recording_{i}.wav"] = (folder / f"field_recording_{i}.wav").read_bytes()
        own[f"field_recording_{i}.json"] = (folder / f"field_recording_{i}.json").read_bytes()
    (folder / "notes.txt").write_text("mine")
    for p in folder.iterdir():
        os.utime(p, (1e9, 1e9))                     # 2001: the oldest files in the folder by far
    one = 1000 * 4 + 58 + 700                        # a recording: WAV and its sidecar, about
    rec, sink = _store(folder, tmp_path, max_mb=3.5 * one / 1e6)
    results = [_observe(rec, k * 1.0, _window(k)) for k in range(10)]
    for name, data in own.items():
        assert (folder / name).read_bytes() == data, f"{name} was touched"
    assert (folder / "notes.txt").read_text() == "mine"
    s = rec.summary()
    names = [r["recorded"] for r in results]
    assert s["saved"] == 10 and 2 <= s["kept"] <= 4 and s["deleted_oldest"] == 10 - s["kept"]
    assert [w.name for w in _wavs(folder) if w.name not in own] == names[-s["kept"]:]     # the newest are kept
    _summary_matches_disk(s, folder, names)
    assert s["bytes"] <= 3.5 * one and sink.warnings == []


def test_two_runs_into_one_folder_keep_both(tmp_path):
    """A second run (a restart: the same stream times and labels) writes beside the first, never over it."""
    folder = tmp_path / "rec"
    first, _ = _store(folder, tmp_path)
    r1 = [_observe(first, k * 0.5, _window(k)) for k in range(3)]
    s1 = first.summary()
    second, _ = _store(folder, tmp_path)
    r2 = [_observe(second, k * 0.5, _window(10 + k)) for k in range(3)]
    s2 = second.summary()
    names1, names2 = [r["recorded"] for r in r1], [r["recorded"] for r in r2]
    assert len(_wavs(folder)) == 6 and not set(names1) & set(names2)
    for names, seeds in ((names1, range(3)), (names2, range(10, 13))):
        for name, seed in zip(names, seeds):
            x, fs = read_wav(folder / name)
            assert fs == 1000 and np.array_equal(x[:, 0], _window(seed))
    _summary_matches_disk(s1, folder, names1)
    _summary_matches_disk(s2, folder, names2)
    assert s1["kept"] == s2["kept"] == 3


def test_windows_closer_than_a_millisecond_each_keep_their_file(tmp_path):
    folder = tmp_path / "rec"
    rec, _ = _store(folder, tmp_path, rate=100000)
    results = [_observe(rec, 2.0 + k * 1e-4, _window(k, 100), rate=100000) for k in range(12)]
    names = [r["recorded"] for r in results]
    assert len(set(names)) == 12 and [w.name for w in _wavs(folder)] == names      # name order is stream order
    for name, k in zip(names, range(12)):
        assert np.array_equal(read_wav(folder / name)[0][:, 0], _window(k, 100))
        assert json.loads((folder / (name[:-4] + ".json")).read_text())["t"] == round(2.0 + k * 1e-4, 6)
    _summary_matches_disk(rec.summary(), folder, names)


@pytest.mark.parametrize("hard_links", [True, False], ids=["link", "no-hard-links"])
def test_a_planted_link_is_not_followed(tmp_path, monkeypatch, hard_links):
    """Symbolic links planted under the names the store would write next (the old names, the next recording's, its
    temporary file's, the write test's) point at a file of the user's: it stays as it was, the window is recorded.
    Also where the file system has no hard links (FAT: os.link fails with EPERM)."""
    if not hard_links:
        def no_link(*args, **kw):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM))
        monkeypatch.setattr(os, "link", no_link)
    tokens = iter(["planted"] + [f"fresh{i}" for i in range(1000)])
    monkeypatch.setattr(record, "_temp_token", lambda: next(tokens), raising=False)
    folder = tmp_path / "rec"
    folder.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("the user's file")
    plant = ["t0001.000s_hum.wav", "t0001.000s_hum.json", ".edgekit-write-test", ".edgekit-tmp-planted"]
    for name in plant:
        (folder / name).symlink_to(target)
    rec, _ = _store(folder, tmp_path)
    if hasattr(rec, "stem"):                          # the store's next names: the recording's and its sidecar's
        plant += [f"{rec.stem(0, 1.0, 'hum')}.wav", f"{rec.stem(1, 1.0, 'hum')}.json"]
        for name in plant[-2:]:
            (folder / name).symlink_to(target)
    r = _observe(rec, 1.0, _window(1))
    assert target.read_text() == "the user's file"
    assert all((folder / name).is_symlink() for name in plant)
    wav = folder / r["recorded"]
    assert not wav.is_symlink() and np.array_equal(read_wav(wav)[0][:, 0], _window(1))
    assert rec.summary()["kept"] == 1 and not [p for p in folder.iterdir() if p.name.startswith(".edgekit-tmp-f")]


def _fill_disk_after(monkeypatch, folder, budget):
    """os.write into files under ``folder`` fails with ENOSPC once ``budget`` bytes went in (a part first)."""
    real = os.write
    left = [budget]

    def write(fd, data):
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            where = ""
        if not where.startswith(str(folder)):
            return real(fd, data)
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = real(fd, bytes(data)[:left[0]])
        left[0] -= n
        return n
    monkeypatch.setattr(os, "write", write)


def test_a_full_disk_stops_the_recording_not_the_stream(tmp_path, monkeypatch):
    """(ENOSPC simulated in os.write; the end-to-end test below fills a real tmpfs.)"""
    folder = tmp_path / "rec"
    rec, sink = _store(folder, tmp_path)
    _fill_disk_after(monkeypatch, folder.resolve(), 2 * (4058 + 700) + 2500)   # two recordings, and half a WAV
    results = [_observe(rec, k * 1.0, _window(k)) for k in range(6)]
    monkeypatch.undo()
    assert len(sink.warnings) == 1 and "--record" in sink.warnings[0] and "No space left" in sink.warnings[0]
    assert "stopped" in sink.warnings[0]
    names = [r["recorded"] for r in results if "recorded" in r]
    assert len(names) == 2 and [w.name for w in _wavs(folder)] == names
    assert all(_complete(w) for w in _wavs(folder)) and sorted(p.name for p in folder.iterdir()) == sorted(
        [*names, *(n[:-4] + ".json" for n in names)])                   # no temporary or half-written file
    s = rec.summary()
    assert s["saved"] == 2 and "No space left" in s["stopped"] and s["missed"] == 4
    _summary_matches_disk(s, folder, names)


def test_a_removed_folder_stops_the_recording_not_the_stream(tmp_path):
    folder = tmp_path / "rec"
    rec, sink = _store(folder, tmp_path)
    names = [_observe(rec, k * 1.0, _window(k))["recorded"] for k in range(2)]
    shutil.rmtree(folder)
    later = [_observe(rec, k * 1.0, _window(k)) for k in range(2, 5)]
    assert all("recorded" not in r for r in later)
    assert len(sink.warnings) == 1 and "stopped" in sink.warnings[0] and "No such file" in sink.warnings[0]
    s = rec.summary()
    assert (s["saved"], s["kept"], s["bytes"], s["missed"]) == (2, 0, 0, 3) and not folder.exists()
    assert names


# -- the real edge-run ---------------------------------------------------------------------------------------------

def _edge_run_args(tiny_run, rec, *more):
    return [bin_path("edge-run"), "--model", str(tiny_run / "stft" / "stft_int8.tflite"), "--json", "--record",
            str(rec), "--record-when", "uncertain", "--record-uncertain", "1.0", *more]   # every window recorded


def _lines(stdout):
    lines = [json.loads(x) for x in stdout.splitlines()]
    return lines[:-1], lines[-1]["summary"]


@pytest.mark.parametrize("budget", [None, 40], ids=["keep-all", "budget"])
def test_two_processes_into_one_folder(tiny_run, tmp_path, budget):
    """Two edge-run processes at once into one folder (a user's file in it too): without a budget every window of
    both is kept; with one of ``budget`` recordings, the folder ends within it (the run that ends last applies it to
    the whole folder: mid-run, a recording the other writer publishes while one writes is seen at the next update),
    and what each removed adds up to what both wrote less what is there. (Each summary is the disk when its run
    ended: with a budget, the other run may remove some of its recordings later.)"""
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "field_recording_1.wav").write_bytes(b"RIFF mine")
    os.utime(rec / "field_recording_1.wav", (1e9, 1e9))
    n, one = 40, WINDOW * 4 + 58 + 400
    more = [] if budget is None else ["--record-max-mb", str(budget * one / 1e6)]
    procs = [subprocess.Popen(_edge_run_args(tiny_run, rec, "--source", "synthetic", "--seed", str(seed),
                                             "--duration", str(n * WINDOW / 12800), *more),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    assert (rec / "field_recording_1.wav").read_bytes() == b"RIFF mine"
    wavs = [w for w in _wavs(rec) if w.name.startswith("edgekit-")]
    assert all(_complete(w) for w in wavs) and not [p for p in rec.iterdir() if p.name.startswith(".")]
    summaries = []
    for (out, _), seed in zip(outs, (1, 2)):
        results, s = _lines(out)
        s = s["recorded"]
        summaries.append(s)
        names = [r["recorded"] for r in results]
        assert len(set(names)) == n == s["saved"]
        if budget is None:
            _summary_matches_disk(s, rec, names)
            assert s["kept"] == n and s["deleted_oldest"] == 0
            from edgekit.edge.sources.synth import vibration_stream
            first = next(vibration_stream(seed=seed))[0]
            assert np.array_equal(read_wav(rec / names[0])[0][:, 0], first)      # each its own windows
        else:
            kept, size = _on_disk(rec, names)
            assert s["kept"] >= kept and s["bytes"] >= size
    assert sum(s["deleted_oldest"] for s in summaries) == 2 * n - len(wavs)
    if budget is None:
        assert len(wavs) == 2 * n
    else:
        on_disk = sum(w.stat().st_size + (rec / (w.name[:-4] + ".json")).stat().st_size for w in wavs)
        assert budget - 1 <= len(wavs) <= budget and on_disk <= float(more[1]) * 1e6


@pytest.fixture
def small_disk(tmp_path):
    """A 200 KB tmpfs (about four recordings of the tiny model); skipped where this process cannot mount one."""
    d = tmp_path / "small"
    d.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(d)], capture_output=True, text=True,
                       check=False)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({p.stderr.strip()}); the simulated ENOSPC test covers the store")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], capture_output=True, check=False)


def test_a_full_disk_ends_with_the_summary(tiny_run, small_disk):
    rec = small_disk / "rec"
    p = run(*_edge_run_args(tiny_run, rec, "--source", "synthetic", "--duration", str(20 * WINDOW / 12800)),
            check=False)
    assert p.returncode == 0, p.stderr
    results, s = _lines(p.stdout)
    assert len(results) == 20 and s["windows"] == 20
    warnings = [x for x in p.stderr.splitlines() if x.startswith("warning: --record")]
    assert len(warnings) == 1 and "No space left" in warnings[0], p.stderr
    names = [r["recorded"] for r in results if "recorded" in r]
    wavs = _wavs(rec)
    assert 1 <= len(names) < 20 and [w.name for w in wavs] == names and all(_complete(w) for w in wavs)
    assert sorted(x.name for x in rec.iterdir()) == sorted([*names, *(n[:-4] + ".json" for n in names)])
    assert s["recorded"]["saved"] == len(names) and s["recorded"]["missed"] == 20 - len(names)
    _summary_matches_disk(s["recorded"], rec, names)


def _read_lines(proc, want, timeout=120.0):
    """Lines of ``proc``'s stdout until ``want`` of them came (or the time is up)."""
    lines, buf, deadline = [], b"", time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while len(lines) < want and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines += [json.loads(x) for x in done if x]
    return lines, buf


def test_a_removed_folder_ends_with_the_summary(tiny_run, tmp_path):
    """PCM on stdin: three windows are recorded, the folder is removed, three more windows come; edge-run warns,
    records no more and ends with its summary."""
    rec = tmp_path / "rec"
    proc = subprocess.Popen(_edge_run_args(tiny_run, rec, "--source", "stdin"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pcm = (np.random.default_rng(0).uniform(-0.5, 0.5, 6 * WINDOW) * 32767).astype("<i2").tobytes()
    try:
        proc.stdin.write(pcm[:3 * WINDOW * 2])
        proc.stdin.flush()
        first, rest = _read_lines(proc, 3)
        assert len(first) == 3 and all("recorded" in r for r in first)
        shutil.rmtree(rec)
        out, err = proc.communicate(pcm[3 * WINDOW * 2:], timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    results, s = _lines((rest + out).decode())
    assert len(results) == 3 and all("recorded" not in r for r in results) and s["windows"] == 6
    warnings = [x for x in err.decode().splitlines() if x.startswith("warning: --record")]
    assert len(warnings) == 1 and "stopped" in warnings[0]
    assert (s["recorded"]["saved"], s["recorded"]["kept"], s["recorded"]["bytes"]) == (3, 0, 0)
    assert not rec.exists()
