"""Labelled clip folders: sub-folders named by label, flat folders with the label in the file name, the real
Free Spoken Digit Dataset, and one-line errors for every way a folder can be wrong."""
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.clips import list_clips
from edgekit.edge.formats.wav import read_wav, write_wav


def tone(path: Path, freq: float = 440.0, n: int = 800, fs: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, 0.5 * np.sin(2 * np.pi * freq * np.arange(n) / fs), fs)
    return path


def stdlib_wav(path: Path, n: int = 400, fs: int = 16000) -> Path:
    """A WAV written by the standard library, not by edgekit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(fs)
        w.writeframes((np.arange(n) % 100 * 100).astype("<i2").tobytes())
    return path


def test_sub_folders_named_by_label(tmp_path):
    tone(tmp_path / "yes" / "b_nohash_0.wav")
    tone(tmp_path / "yes" / "a_nohash_0.wav")
    stdlib_wav(tmp_path / "no" / "a_nohash_1.WAV")
    tone(tmp_path / "no" / "deeper" / "c_nohash_0.wav")          # nested below the label folder
    tone(tmp_path / "_background_noise_" / "white.wav")          # not a label
    tone(tmp_path / ".cache" / "x.wav")
    tone(tmp_path / "loose.wav")                                 # beside the label folders: not a clip
    (tmp_path / "yes" / "notes.txt").write_text("not audio")
    tone(tmp_path / "yes" / "._a_nohash_0.wav")                   # macOS resource fork
    clips = list_clips(tmp_path)
    assert clips == [
        (tmp_path / "no" / "a_nohash_1.WAV", "no", None),
        (tmp_path / "no" / "deeper" / "c_nohash_0.wav", "no", None),
        (tmp_path / "yes" / "a_nohash_0.wav", "yes", None),
        (tmp_path / "yes" / "b_nohash_0.wav", "yes", None),
    ]
    groups = list_clips(str(tmp_path), group_regex=r"^([a-z]+)_nohash")
    assert [g for _, _, g in groups] == ["a", "c", "a", "b"]
    for path, _, _ in clips:                                     # every listed clip is a readable WAV
        data, fs = read_wav(path)
        assert len(data) > 0 and fs in (8000, 16000)


def test_flat_folder_label_from_the_file_name(tmp_path):
    for name in ["1_bob_0.wav", "0_bob_1.wav", "0_ann_0.wav", "10_ann_3.wav"]:
        tone(tmp_path / name)
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "sub").mkdir()                                   # folders are ignored in flat mode
    tone(tmp_path / "sub" / "7_x_0.wav")
    clips = list_clips(tmp_path, label_regex=r"^(\d+)_", group_regex=r"^\d+_([a-z]+)_")
    assert [(p.name, label, g) for p, label, g in clips] == [
        ("0_ann_0.wav", "0", "ann"), ("0_bob_1.wav", "0", "bob"), ("10_ann_3.wav", "10", "ann"),
        ("1_bob_0.wav", "1", "bob")]
    assert all(p.parent == tmp_path for p, _, _ in clips)
    # search, not match: the label may sit anywhere in the name; only the first group counts
    clips = list_clips(tmp_path, label_regex=r"_([a-z]+)_(\d)")
    assert [label for _, label, _ in clips] == ["ann", "bob", "ann", "bob"]


def test_the_order_does_not_depend_on_creation_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    names = [f"{k % 3}_s{k % 2}_{k}.wav" for k in range(12)]
    for n in names:
        tone(a / n)
    for n in reversed(names):
        tone(b / n)
    la = list_clips(a, r"^(\d)_", r"_(s\d)_")
    lb = list_clips(b, r"^(\d)_", r"_(s\d)_")
    assert [(p.name, l, g) for p, l, g in la] == [(p.name, l, g) for p, l, g in lb]
    assert [p.name for p, _, _ in la] == sorted(names)


def test_the_real_free_spoken_digit_dataset(shared_data):
    folder = shared_data / "fsdd" / "recordings"
    clips = list_clips(folder, label_regex=r"^(\d+)_", group_regex=r"^\d+_([a-z]+)_")
    assert len(clips) == 1500
    labels = Counter(label for _, label, _ in clips)
    assert labels == {str(d): 150 for d in range(10)}
    assert Counter(g for _, _, g in clips) == {"jackson": 500, "nicolas": 500, "theo": 500}
    for path, label, group in clips[::97]:                    # labels and groups are the file names' own
        digit, speaker, _take = path.stem.split("_")
        assert (label, group) == (digit, speaker)
    assert clips == sorted(clips, key=lambda c: str(c[0]))
    assert clips == list_clips(str(folder), label_regex=r"^(\d+)_", group_regex=r"^\d+_([a-z]+)_")
    data, fs = read_wav(clips[0][0])
    assert fs == 8000 and data.shape[1] == 1


def one_line(call, *needles):
    with pytest.raises(EdgekitError) as e:
        call()
    msg = e.value.message
    assert "\n" not in msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_errors(tmp_path):
    one_line(lambda: list_clips(tmp_path / "nope"), "no such folder")
    (tmp_path / "file.wav").write_bytes(b"")
    one_line(lambda: list_clips(tmp_path / "file.wav"), "no such folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line(lambda: list_clips(empty, r"^(\d)_"), "no WAV files")
    one_line(lambda: list_clips(empty), "no WAV files in label sub-folders")
    flat = tmp_path / "flat"
    for name in ["0_a_0.wav", "1_a_0.wav", "x_a_0.wav", "y_b_0.wav"]:
        tone(flat / name)
    one_line(lambda: list_clips(flat), "holds 4 WAV files but no label sub-folders", "label_regex")
    one_line(lambda: list_clips(flat, r"^(\d+_"), "not a valid regular expression", "'^(\\\\d+_'")
    one_line(lambda: list_clips(flat, r"^\d+_"), "has no group", "parentheses")
    one_line(lambda: list_clips(flat, r"^(\d+)_"), "does not match 2 of 4 file names", "'x_a_0.wav'")
    one_line(lambda: list_clips(flat, r"^(\d*)_"), "does not match 2 of 4")     # an empty label is no label
    one_line(lambda: list_clips(flat, r"^(\w)_", group_regex="(["), "group_regex", "not a valid")
    one_line(lambda: list_clips(flat, r"^(\w)_", group_regex=r"_(b)_"), "group_regex", "does not match 3 of 4")
    one_line(lambda: list_clips(flat, r"_(a|b)_", group_regex=r"x"), "group_regex 'x' has no group")
    one_line(lambda: list_clips(flat, r"_(a)_0"), "does not match 1 of 4", "'y_b_0.wav'")
    single = tmp_path / "single"
    for name in ["3_a_0.wav", "3_b_0.wav"]:
        tone(single / name)
    one_line(lambda: list_clips(single, r"^(\d)_"), "all 2 WAV files have the label '3'", "at least 2 labels")
    one_sub = tmp_path / "one_sub"
    tone(one_sub / "go" / "a.wav")
    tone(one_sub / "_background_noise_" / "b.wav")
    one_line(lambda: list_clips(one_sub), "label 'go'", "at least 2 labels")
    one_line(lambda: list_clips(flat, 3), "label_regex must be a regular expression string")
