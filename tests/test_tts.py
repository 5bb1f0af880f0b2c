"""Synthetic speakers (``edgekit train audio --tts-voices / --tts-flite-voices``): real espeak-ng and flite
voices, seeded, at the training rate, in training and validation (whole voices), never in the test; bad flags
and a missing espeak-ng or flite are one-line errors."""
import json
import os
import shutil
import sys

import numpy as np
import pytest

from conftest import bin_path, run

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (make test installs it: apt-get install espeak-ng)")
needs_flite = pytest.mark.skipif(shutil.which("flite") is None,
                                 reason="flite is not installed (make test installs it: apt-get install flite)")
FSDD_LABEL, FSDD_GROUP = r"^(\d+)_", r"^\d+_([a-z]+)_"


@needs_espeak
def test_voices_are_seeded_and_differ():
    from edgekit.train import tts

    a, b, c = tts.voices(30, 0), tts.voices(30, 0), tts.voices(30, 1)
    assert a == b and a != c
    assert len({v.accent for v in a}) > 2 and len({v.variant for v in a}) > 5
    for v in a:
        assert tts.PITCH[0] <= v.pitch <= tts.PITCH[1] and tts.RATE[0] <= v.rate <= tts.RATE[1]
        assert v.accent.startswith("en")
    assert "en-us" in tts.accents(tts.espeak(), "en") and "m3" in tts.variants(tts.espeak())


@needs_espeak
def test_every_voice_says_every_word_at_the_training_rate():
    from edgekit.train import tts

    spoken, vs = tts.synthesize({"7": "7", "yes": "yes"}, 3, 8000.0, seed=4)
    assert len(vs) == 3 and [lab for lab, _, _ in spoken] == ["7", "yes"] * 3
    assert [k for _, k, _ in spoken] == ["espeak-ng/0", "espeak-ng/0", "espeak-ng/1", "espeak-ng/1",
                                         "espeak-ng/2", "espeak-ng/2"]
    for _, _, x in spoken:
        assert x.dtype == np.float32 and 0.2 * 8000 < len(x) < 3 * 8000
        assert 1e-3 < float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) and np.abs(x).max() <= 1.0
    # voices differ, a voice is repeatable
    assert not np.array_equal(spoken[0][2][:2000], spoken[2][2][:2000])
    again, _ = tts.synthesize({"7": "7"}, 1, 8000.0, seed=4)
    np.testing.assert_array_equal(again[0][2], spoken[0][2])
    # the same voice at 16 kHz: twice the samples, and its energy sits in the same band (speech, not noise)
    hi, _ = tts.synthesize({"7": "7"}, 1, 16000.0, seed=4)
    assert abs(len(hi[0][2]) / len(spoken[0][2]) - 2) < 0.01
    spec = np.abs(np.fft.rfft(hi[0][2])) ** 2
    f = np.fft.rfftfreq(len(hi[0][2]), 1 / 16000)
    assert spec[(f > 80) & (f < 4000)].sum() > 0.8 * spec.sum()


@needs_flite
def test_flite_voices_are_seeded_recorded_voices_at_the_training_rate():
    from edgekit.train import tts

    a, b, c = tts.flite_voices(40, 0), tts.flite_voices(40, 0), tts.flite_voices(40, 1)
    assert a == b and a != c
    assert {v.voice for v in a} == set(tts.FLITE_VOICES)           # all five built-in voices are drawn
    for v in a:
        if tts.FLITE_VOICES[v.voice] is None:                        # rms keeps its own pitch
            assert v.f0 is None and v.f0_std is None and "int_f0_target_mean" not in " ".join(v.args())
            continue
        lo, hi = tts.FLITE_VOICES[v.voice]
        assert lo <= v.f0 <= hi and tts.F0_STD[0] <= v.f0_std <= tts.F0_STD[1]
        assert tts.STRETCH[0] <= v.stretch <= tts.STRETCH[1]
    assert tts.flite_version().startswith("flite-2")
    spoken, vs = tts.synthesize({"7": "seven", "2": "two"}, 1, 8000.0, seed=3, n_flite=2)
    assert [g for _, g, _ in spoken] == ["espeak-ng/0", "espeak-ng/0", "flite/0", "flite/0", "flite/1", "flite/1"]
    assert [type(v).__name__ for v in vs] == ["Voice", "FliteVoice", "FliteVoice"]
    for _, _, x in spoken:
        assert x.dtype == np.float32 and 0.2 * 8000 < len(x) < 3 * 8000 and np.abs(x).max() <= 1.0
        assert float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) > 1e-3
    # a lower pitch is a lower fundamental: the same voice and word at two target pitches
    low, high = (tts.say_flite(tts.flite(), tts.FliteVoice("kal16", f0, 5, 1.0), "two", 8000.0, "/tmp")
                 for f0 in (90, 180))

    def f0_of(x):
        x = x - x.mean()
        r = np.correlate(x, x, "full")[len(x) - 1:]
        lags = np.arange(len(r))
        ok = (lags >= 8000 // 400) & (lags <= 8000 // 60)           # 60-400 Hz
        return 8000 / lags[ok][np.argmax(r[ok])]
    assert f0_of(low) < 0.75 * f0_of(high)
    # flite only: its voices alone, no espeak-ng needed
    only, vs = tts.synthesize({"7": "seven"}, 0, 8000.0, seed=3, n_flite=2)
    assert [g for _, g, _ in only] == ["flite/0", "flite/1"] and len(vs) == 2
    np.testing.assert_array_equal(only[0][2], spoken[2][2])        # a flite voice is repeatable


def test_words_parse_and_bad_words_are_errors():
    from edgekit.edge.core.errors import EdgekitError
    from edgekit.train.tts import parse_words

    assert parse_words("0=zero, 1 = one", ["0", "1", "go_on"]) == {"0": "zero", "1": "one", "go_on": "go on"}
    assert parse_words(None, ["a"]) == {"a": "a"}
    for bad, says in (("0", "give label=text"), ("0=", "give label=text"), ("x=ex", "not a keyword")):
        with pytest.raises(EdgekitError, match=says):
            parse_words(bad, ["0", "1"])


@needs_espeak
def test_synthetic_voices_are_never_tested_and_validate_whole(shared_data):
    from edgekit.train import tts
    from edgekit.train.classes import add_extra_classes, add_spoken, is_synthetic
    from edgekit.train.clips import load_clips
    from edgekit.train.splits import group_split

    d = shared_data / "fsdd" / "recordings"
    if not d.is_dir():
        pytest.skip("FSDD recordings are not present")
    cs = load_clips(d, label_regex=FSDD_LABEL, group_regex=FSDD_GROUP)
    spoken, _ = tts.synthesize({n: n for n in cs.names}, 20, cs.fs, seed=0)
    cs = add_spoken(cs, spoken)
    cs, _ = add_extra_classes(cs, [], seed=0)
    g = cs.groups
    synth = set(np.flatnonzero(is_synthetic(g)).tolist())
    assert len(synth) >= 200 and len({g[i] for i in synth}) == 20
    with pytest.raises(Exception, match="is not <engine>/<k>"):
        add_spoken(cs, [(cs.names[0], "jackson", spoken[0][2])])
    for test in (["theo"], None):
        tr, va, te, info = group_split(cs, test, seed=1)
        assert synth.isdisjoint(te.tolist()) and synth <= set(np.r_[tr, va].tolist())
        assert sorted(np.r_[tr, va, te].tolist()) == list(range(len(cs)))
        train_voices = {g[i] for i in tr if i in synth}
        val_voices = {g[i] for i in va if i in synth}
        assert len(val_voices) == 2 and len(train_voices) == 18 and train_voices.isdisjoint(val_voices)
        assert info["synthetic_voices"] == 20 and info["synthetic_val_voices"] == 2
        assert "espeak-ng" in info["train_groups"] and "espeak-ng" in info["val_groups"]
        assert "espeak-ng" not in info["test_groups"]
        assert info["n_synthetic_train"] + info["n_synthetic_val"] == len(synth)
    # the real clips split as they would without synthetic ones
    real = load_clips(d, label_regex=FSDD_LABEL, group_regex=FSDD_GROUP)
    _, _, te0, info0 = group_split(real, ["theo"], seed=1)
    assert info0["test_groups"] == ["theo"]
    # without groups (a stratified split) the voices stay out of the test too
    flat = add_spoken(load_clips(d, label_regex=FSDD_LABEL), spoken)
    tr, va, te, _ = group_split(flat, None, seed=0)
    assert set(np.flatnonzero(is_synthetic(flat.groups)).tolist()).isdisjoint(te.tolist())


@needs_espeak
@needs_flite
def test_train_audio_with_synthetic_voices_records_them(shared_data, tmp_path):
    src = shared_data / "fsdd" / "recordings"
    if not src.is_dir():
        pytest.skip("FSDD recordings are not present")
    d = tmp_path / "clips"
    d.mkdir()
    for p in sorted(src.glob("[0-2]_*.wav")):
        if int(p.stem.split("_")[2]) < 8:
            (d / p.name).symlink_to(p)
    out = tmp_path / "run"
    p = run(bin_path("edgekit"), "train", "audio", "--data", str(d), "--label-regex", FSDD_LABEL,
            "--group-regex", FSDD_GROUP, "--test-groups", "theo", "--tts-voices", "4", "--tts-flite-voices", "2",
            "--tts-words", "0=zero", "--epochs", "1", "--out", str(out))
    assert "synthetic speech: 18 clips, 4 espeak-ng voices, 2 flite voices" in p.stdout
    m = json.loads((out / "metrics.json").read_text())
    t = m["tts"]
    assert t["voices"] == 4 and t["flite_voices"] == 2 and t["clips"] == 18 and len(t["voice_list"]) == 6
    assert [v.get("engine") for v in t["voice_list"]] == [None] * 4 + ["flite"] * 2
    assert t["words"] == {"0": "zero", "1": "1", "2": "2"} and "1.5" in t["engine"] and "2.2" in t["flite"]
    assert m["groups"]["train_groups"] == ["espeak-ng", "flite", "jackson", "nicolas"]
    assert m["groups"]["test_groups"] == ["theo"] and m["groups"]["synthetic_val_voices"] == 1
    assert len(set(m["groups"]["val_groups"]) & {"espeak-ng", "flite"}) == 1
    cc = m["class_counts"]
    words = ("0", "1", "2")
    assert sum(cc["test"][w] for w in words) == 3 * 8                       # theo's clips, nothing synthetic
    assert sum(cc["train"][w] + cc["val"][w] for w in words) == 2 * 3 * 8 + 18
    assert all(f.split("_")[1] in ("jackson", "nicolas") for f in m["val_files"])
    assert set(m["accuracy_by_group"]) == {"theo"}


def _one_line_error(p, *says):
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, p.stderr
    for s in says:
        assert s in lines[0], lines[0]


def test_tts_flag_errors(tmp_path):
    edgekit = bin_path("edgekit")
    _one_line_error(run(edgekit, "train", "audio", "--tts-words", "0=zero", "--out", str(tmp_path / "a"),
                        check=False), "--tts-words needs --tts-voices N or --tts-flite-voices N")
    _one_line_error(run(edgekit, "train", "audio", "--tts-flite-voices", "-1", "--out", str(tmp_path / "f"),
                        check=False), "--tts-flite-voices")
    _one_line_error(run(edgekit, "train", "audio", "--tts-voices", "1001", "--out", str(tmp_path / "b"),
                        check=False), "--tts-voices")
    # no espeak-ng on the PATH: says what to install
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    if shutil.which("espeak-ng", path=env["PATH"]) is None:
        _one_line_error(run(edgekit, "train", "audio", "--tts-voices", "2", "--out", str(tmp_path / "c"),
                            check=False, env=env), "needs espeak-ng", "apt-get install espeak-ng")
    if shutil.which("flite", path=env["PATH"]) is None:
        _one_line_error(run(edgekit, "train", "audio", "--tts-flite-voices", "2", "--out", str(tmp_path / "d"),
                            check=False, env=env), "--tts-flite-voices needs flite", "apt-get install flite")
