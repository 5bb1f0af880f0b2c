"""Stream evaluation: clips laid out as one noisy stream (positions, resampling, SNR, determinism), events
matched against it (every counter on hand-made event lists), and a real model run end to end."""
import math

import numpy as np
import pytest

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.frontend.resample import resample
from edgekit.edge.formats.clips import list_clips
from edgekit.edge.formats.wav import read_wav, write_wav
from edgekit.edge.pipeline.stream_eval import evaluate, match_events
from edgekit.edge.sources.clip_stream import SNR_FLOOR_DB, build_stream, lay_out_stream, utterance_snr

FS = 8000


def clip(path, n, fs=FS, amp=0.5, freq=300.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, amp * np.sin(2 * np.pi * freq * np.arange(n) / fs), fs)
    return path


@pytest.fixture
def three(tmp_path):
    return [(clip(tmp_path / "a.wav", 800, amp=0.3), "yes", None),
            (clip(tmp_path / "b.wav", 1200, amp=0.15), "no", None), (clip(tmp_path / "c.wav", 400, amp=0.4), "yes", None)]


def test_clips_and_gaps_are_where_the_truth_says(three):
    signal, truth = build_stream(three, FS, gap_s=0.5, snr_db=None, seed=0)
    gap = 4000
    assert len(signal) == 4 * gap + 800 + 1200 + 400 and signal.dtype == np.float32
    assert truth == [(0.5, 0.6, "yes"), (1.1, 1.25, "no"), (1.75, 1.8, "yes")]
    pos = 0
    for (path, _, _), (start, end, _) in zip(three, truth):
        data, _ = read_wav(path)
        a, b = round(start * FS), round(end * FS)
        assert np.all(signal[pos:a] == 0)                       # the gap before: digital silence
        np.testing.assert_array_equal(signal[a:b], data[:, 0])  # the clip, sample for sample
        pos = b
    assert np.all(signal[pos:] == 0) and len(signal) - pos == gap
    signal0, truth0 = build_stream(three, FS, gap_s=0, seed=0)
    assert len(signal0) == 2400 and truth0[1] == (0.1, 0.25, "no")


def test_other_rates_and_stereo_are_resampled_and_mixed(tmp_path):
    x = 0.3 * np.sin(2 * np.pi * 500 * np.arange(1600) / 16000)
    write_wav(tmp_path / "hi.wav", np.stack([x, 0.5 * x], axis=1), 16000, sampwidth=4, format="float")
    clips = [(tmp_path / "hi.wav", "go"), (clip(tmp_path / "lo.wav", 100), "stop")]
    signal, truth = build_stream(clips, FS, gap_s=0.1, seed=0)
    want = resample((0.75 * x).astype(np.float32), 16000, 8000)
    assert len(want) == 800 and truth[0] == (0.1, 0.2, "go")
    np.testing.assert_allclose(signal[800:1600], want, atol=1e-6)


def test_noise_at_the_snr_and_determinism(three):
    clean, _ = build_stream(three * 20, FS, gap_s=0.3, snr_db=None, seed=0)
    a, ta = build_stream(three * 20, FS, gap_s=0.3, snr_db=10.0, seed=7)
    b, tb = build_stream(three * 20, FS, gap_s=0.3, snr_db=10.0, seed=7)
    c, _ = build_stream(three * 20, FS, gap_s=0.3, snr_db=10.0, seed=8)
    np.testing.assert_array_equal(a, b)
    assert ta == tb and not np.array_equal(a, c)
    noise = a.astype(np.float64) - clean
    speech = np.concatenate([read_wav(p)[0][:, 0] for p, _, _ in three * 20]).astype(np.float64)
    snr = 10 * math.log10(np.mean(speech ** 2) / np.mean(noise ** 2))
    assert snr == pytest.approx(10.0, abs=0.1)
    assert abs(np.mean(noise)) < 0.01 and np.std(noise[:2400]) > 0   # noise in the gaps too
    d, _ = build_stream(three * 20, FS, gap_s=0.3, snr_db=30.0, seed=7)
    assert 10 * math.log10(np.mean(noise ** 2) / np.mean((d - clean) ** 2)) == pytest.approx(20.0, abs=0.2)
    loud, _ = build_stream(three, FS, gap_s=0.3, snr_db=-20.0, seed=1)
    assert loud.max() <= 1.0 and loud.min() >= -1.0                   # clipped as an ADC would


def test_each_utterances_snr_under_the_one_noise_level(three, tmp_path):
    """--snr is relative to the mean power of all speech: a quiet clip sits below it, a loud one above, by
    its level against that mean; utterance_snr reports the spread."""
    signal, truth, powers, noise = lay_out_stream(three * 10, FS, gap_s=0.3, snr_db=10.0, seed=7)
    plain, plain_truth = build_stream(three * 10, FS, gap_s=0.3, snr_db=10.0, seed=7)
    np.testing.assert_array_equal(signal, plain)
    assert truth == plain_truth and len(powers) == 30
    x = [read_wav(p)[0][:, 0].astype(np.float64) for p, _, _ in three]
    own = [np.mean(v ** 2) for v in x]
    np.testing.assert_allclose(powers, own * 10, rtol=1e-6)
    mean = sum(np.sum(v ** 2) for v in x) / sum(len(v) for v in x)
    assert noise == pytest.approx(mean / 10, rel=1e-6)
    clean, _ = build_stream(three * 10, FS, gap_s=0.3, snr_db=None, seed=7)
    assert 10 * math.log10(noise / np.mean((signal.astype(np.float64) - clean) ** 2)) == pytest.approx(0, abs=0.1)
    snr = [10 + 10 * math.log10(p / mean) for p in own]          # 0.15 amplitude: 5.2 dB; 0.4: 13.7 dB
    u = utterance_snr(powers, noise)
    assert u["min"] == pytest.approx(min(snr), abs=0.01) and u["p90"] == pytest.approx(max(snr), abs=0.01)
    assert u["p50"] == pytest.approx(sorted(snr)[1], abs=0.01) and u["min"] < 6 < 10 < 13 < u["p90"]
    assert lay_out_stream(three, FS, gap_s=0.3, snr_db=None)[3] is None and utterance_snr(powers, None) is None
    # equal levels: every utterance at the nominal SNR; a silent one at the floor, not -inf
    same = [(clip(tmp_path / f"s{i}.wav", 800, amp=0.3), "yes") for i in range(3)]
    _, _, p2, n2 = lay_out_stream(same, FS, gap_s=0.1, snr_db=20.0)
    assert utterance_snr(p2, n2) == {"p10": 20.0, "p50": 20.0, "p90": 20.0, "min": 20.0}
    write_wav(tmp_path / "zero.wav", np.zeros(100), FS)
    _, _, p3, n3 = lay_out_stream([*same, (tmp_path / "zero.wav", "no")], FS, gap_s=0.1, snr_db=20.0)
    assert utterance_snr(p3, n3)["min"] == SNR_FLOOR_DB


def test_fit_keeps_the_loudest_part(tmp_path):
    loud = 0.5 * (-1.0) ** np.arange(400)
    x = np.concatenate([np.full(1000, 0.01), loud, np.full(1000, 0.01)])
    write_wav(tmp_path / "long.wav", x, FS, sampwidth=4, format="float")
    clips = [(tmp_path / "long.wav", "go"), (clip(tmp_path / "s.wav", 200), "stop")]
    signal, truth = build_stream(clips, FS, gap_s=0.1, seed=0, fit=0.05)
    assert truth == [(0.1, 0.15, "go"), (0.25, 0.275, "stop")]        # 400 samples kept; 200 stays 200
    np.testing.assert_array_equal(signal[800:1200], loud.astype(np.float32))


def test_build_stream_errors(three, tmp_path):
    for kw, needle in [(dict(clips=[]), "no clips"), (dict(fs=0), "sample rate"), (dict(gap_s=-1), "--gap"),
                       (dict(snr_db=float("nan")), "--snr"), (dict(fit=0.0), "fit=")]:
        args = dict(clips=three, fs=FS, gap_s=0.1, snr_db=None, seed=0) | kw
        with pytest.raises(EdgekitError, match=needle):
            build_stream(**args)
    write_wav(tmp_path / "zero.wav", np.zeros(10), FS)
    with pytest.raises(EdgekitError, match="digital silence"):
        build_stream([(tmp_path / "zero.wav", "x")], FS, 0.1, snr_db=10)


def test_the_real_digits_stream(shared_data):
    clips = list_clips(shared_data / "fsdd" / "recordings", r"^(\d+)_", r"^\d+_([a-z]+)_")[::75]
    signal, truth = build_stream(clips, FS, gap_s=1.0, snr_db=20.0, seed=0)
    lengths = [len(read_wav(p)[0]) for p, _, _ in clips]
    assert len(clips) == 20 and len(signal) == sum(lengths) + 21 * FS
    assert [t[2] for t in truth] == [c[1] for c in clips]
    starts = np.array([t[0] for t in truth])
    np.testing.assert_allclose(starts, 1.0 * np.arange(1, 21) + np.cumsum([0] + lengths[:-1]) / FS)
    assert all(t[1] - t[0] == pytest.approx(n / FS) for t, n in zip(truth, lengths))


TRUTH = [(1.0, 1.5, "yes"), (4.0, 4.5, "no"), (7.0, 7.5, "yes"), (10.0, 10.5, "no"), (13.0, 13.5, "go")]


def test_match_events_every_counter():
    events = [
        {"event": "yes", "t": 1.2, "score": 0.9},     # utterance 0: detected, 200 ms
        {"event": "yes", "t": 1.9, "score": 0.9},     # same utterance again (within tolerance): duplicate
        {"event": "go", "t": 2.6, "score": 0.8},      # past 1.5 + 1.0: false alarm
        {"event": "yes", "t": 4.4, "score": 0.8},     # utterance 1 ("no"): wrong label
        {"event": "no", "t": 4.6, "score": 0.8},      # then the right one: still a duplicate, not a detection
        (8.5, "yes"),                                 # utterance 2 at exactly end + tolerance: detected, 1500 ms
        (13.0, "go"),                                 # utterance 4 at its very start: detected, 0 ms
        {"event": "no", "t": 20.0},                   # false alarm
        # utterance 3 gets nothing: missed
    ]
    r = match_events(events, TRUTH, tolerance_s=1.0, duration_s=3600.0)
    assert (r["utterances"], r["events"], r["detected"], r["wrong_label"], r["missed"], r["duplicates"],
            r["false_alarms"]) == (5, 8, 3, 1, 1, 2, 2)
    assert r["detection_rate"] == pytest.approx(0.6)
    assert r["hours"] == pytest.approx(1.0)
    assert r["gap_hours"] == pytest.approx((3600 - 2.5) / 3600)
    assert r["false_alarms_per_hour"] == pytest.approx(2 / ((3600 - 2.5) / 3600))
    assert r["delay_ms"] == {"p50": 200.0, "p90": pytest.approx(1240.0)}   # of 0, 200, 1500 (linear)
    assert r["per_label"] == {
        "go": {"utterances": 1, "detected": 1, "missed": 0, "wrong": 0, "false_alarms": 1},
        "no": {"utterances": 2, "detected": 0, "missed": 1, "wrong": 1, "false_alarms": 1},
        "yes": {"utterances": 2, "detected": 2, "missed": 0, "wrong": 0, "false_alarms": 0},
    }
    # the counters add up
    assert r["detected"] + r["wrong_label"] + r["missed"] == r["utterances"]
    assert r["detected"] + r["wrong_label"] + r["duplicates"] + r["false_alarms"] == r["events"]


def test_match_events_edges():
    # just before the start and just past end + tolerance are false alarms
    r = match_events([(0.999, "yes"), (2.0001, "yes")], [(1.0, 1.5, "yes")], tolerance_s=0.5, duration_s=10)
    assert (r["false_alarms"], r["missed"], r["detected"]) == (2, 1, 0)
    assert r["detection_rate"] == 0.0 and r["delay_ms"] is None
    assert r["false_alarms_per_hour"] == pytest.approx(2 / (9.5 / 3600))
    # unsorted input gives the same answer as sorted
    evs = [(13.2, "go"), (1.1, "yes"), (4.2, "no"), (7.3, "yes"), (10.1, "no")]
    r = match_events(evs, list(reversed(TRUTH)), tolerance_s=0.5)
    assert r["detection_rate"] == 1.0 and r["false_alarms"] == 0 and r["duplicates"] == 0
    assert r["hours"] == pytest.approx(13.5 / 3600)               # duration: the last utterance's end
    assert r["delay_ms"] == {"p50": 200.0, "p90": pytest.approx(260.0)}
    # no events: everything missed, no false alarm rate without events... but gap time is known
    r = match_events([], TRUTH, 0.5, duration_s=20.0)
    assert r["missed"] == 5 and r["false_alarms"] == 0 and r["false_alarms_per_hour"] == 0.0
    # no gap time: no false alarm rate
    r = match_events([(0.5, "x")], [(0.0, 1.0, "x")], 0.0, duration_s=1.0)
    assert r["detected"] == 1 and r["false_alarms_per_hour"] is None
    r = match_events([(0.5, "x")], [], 0.0, duration_s=7200)
    assert r["detection_rate"] is None and r["false_alarms_per_hour"] == 0.5
    with pytest.raises(EdgekitError, match="tolerance"):
        match_events([], TRUTH, -1)


def test_overlapping_tolerance_goes_to_the_utterance_still_waiting():
    truth = [(0.0, 0.5, "yes"), (1.0, 1.5, "no")]
    # tolerance 2 s: an event at 1.2 lies in both; utterance 0 has its event, so it goes to utterance 1
    r = match_events([(0.3, "yes"), (1.2, "no")], truth, tolerance_s=2.0, duration_s=10)
    assert r["detected"] == 2 and r["duplicates"] == 0
    # a late event for utterance 0 after utterance 1 started takes utterance 0 (the earliest waiting)
    r = match_events([(1.2, "yes"), (1.4, "no")], truth, tolerance_s=2.0, duration_s=10)
    assert r["detected"] == 2
    # both have their events: a third is a duplicate, not a false alarm
    r = match_events([(0.3, "yes"), (1.2, "no"), (1.3, "no")], truth, tolerance_s=2.0, duration_s=10)
    assert (r["detected"], r["duplicates"], r["false_alarms"]) == (2, 1, 0)


def vibration_clips(folder, fs, n_per_label, length, seed):
    """Clips of synthetic vibration (the tiny model's training data), in label sub-folders."""
    from edgekit.edge.sources.synth import vibration
    x, y = vibration(2 * n_per_label, seed=seed, fs=fs, length=length)
    for k, (signal, label) in enumerate(zip(x, y)):
        path = folder / "AB"[label] / f"clip{k:02d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, signal / max(1.0, float(np.abs(signal).max())), int(fs), sampwidth=4, format="float")


def reference_events(model, signal, fs, hop, gate_dbfs, avg=1.0, threshold=0.7, suppression=1.0, min_count=3):
    """The detector's rule written out plainly over the whole list of results (no deque, no early exits)."""
    from edgekit.edge import frontend as fe
    from edgekit.edge.model.model import Model
    m = Model(model)
    n = m.spec.window
    starts = [s for s in range(0, len(signal) - n + 1, hop)
              if 10 * math.log10(max(np.mean(signal[s:s + n].astype(np.float64) ** 2), 1e-12)) >= gate_dbfs]
    probs = m.predict(fe.build(m.spec)(np.stack([signal[s:s + n] for s in starts])))
    results = [((s + n) / fs, p) for s, p in zip(starts, probs)]
    events, last = [], None
    for t, _ in results:
        inside = [p for u, p in results if t - avg - 1e-9 <= u <= t]
        if len(inside) < min_count:
            continue
        mean = np.mean(inside, axis=0)
        k = int(np.argmax(mean))
        if mean[k] >= threshold - 1e-9 and (last is None or t - last >= suppression - 1e-9):
            events.append((t, m.spec.labels[k], float(mean[k])))
            last = t
    return events


def test_evaluate_a_real_model_on_a_clip_folder(tiny_run, tmp_path):
    model = tiny_run / "stft" / "stft_int8.tflite"
    vibration_clips(tmp_path / "clips", 12800, 6, 3 * 10000, seed=11)
    r = evaluate(model, tmp_path / "clips", gap_s=2.0, seed=0, detection={"gate_dbfs": -60})
    assert r["utterances"] == r["clips"] == 12
    assert r["hop_s"] == pytest.approx(0.25, abs=1e-4) and r["tolerance_s"] == pytest.approx(10000 / 12800)
    assert sorted(p for *_, p in r["truth"]) == sorted(str(p) for p, _, _ in list_clips(tmp_path / "clips"))
    assert [p for *_, p in r["truth"]] != sorted(p for *_, p in r["truth"])    # shuffled by the seed
    # the same events as the rule written out plainly over the same stream
    clips = [(p, label) for _, _, label, p in r["truth"]]
    signal, truth = build_stream(clips, 12800, 2.0, None, 0)
    assert truth == [t[:3] for t in r["truth"]]
    want = reference_events(model, signal, 12800, 3200, -60)
    got = [(e["t"], e["event"], e["score"]) for e in r["event_list"]]
    assert [g[:2] for g in got] == [w[:2] for w in want] and len(want) >= 12
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], rtol=1e-6)
    # and the same counts as matching them by hand (the gaps are longer than the tolerance: no overlaps)
    tol = r["tolerance_s"]
    first = [next((lab for t, lab, _ in want if a <= t <= b + tol), None) for a, b, _ in truth]
    assert r["detected"] == sum(f == lab for f, (_, _, lab) in zip(first, truth))
    assert r["wrong_label"] == sum(f is not None and f != lab for f, (_, _, lab) in zip(first, truth))
    assert r["missed"] == first.count(None)
    # this 4-epoch model is right on about 80 % of single windows; the detector still finds most clips
    assert r["detection_rate"] >= 0.5 and r["per_label"]["A"]["detected"] and r["per_label"]["B"]["detected"]
    assert r["false_alarms"] == 0 and r["gated_windows"] > 0          # the silent gaps never reach the model
    assert r["delay_ms"]["p50"] >= 2 * 250 - 1          # min_count 3: two hops after the first window on a clip
    assert r["detected"] + r["wrong_label"] + r["duplicates"] + r["false_alarms"] == r["events"]
    # without the gate the model scores the silence too (and this one calls silence "A": false alarms)
    ungated = evaluate(model, tmp_path / "clips", gap_s=2.0, seed=0)
    assert ungated["gated_windows"] == 0 and ungated["windows"] == r["windows"]
    assert [(e["t"], e["event"]) for e in ungated["event_list"]] == \
        [w[:2] for w in reference_events(model, signal, 12800, 3200, -1e9)]
    (tmp_path / "other" / "x").mkdir(parents=True)
    clip(tmp_path / "other" / "x" / "a.wav", 100)
    clip(tmp_path / "other" / "y" / "a.wav", 100)
    with pytest.raises(EdgekitError, match="none of the clip labels"):
        evaluate(model, tmp_path / "other")


def test_a_recording_with_its_label_file_scores_as_the_same_stream_of_clips(tiny_run, tmp_path):
    """The stream a clip folder makes, saved as one WAV with its regions in a label file, gives the same
    events and counts; a region the model has no keyword for is background; the CLI takes both."""
    import json
    import subprocess

    from conftest import bin_path
    from edgekit.edge.formats.label_track import write_label_track
    from edgekit.edge.pipeline.stream_eval import evaluate_recording

    model = tiny_run / "stft" / "stft_int8.tflite"
    vibration_clips(tmp_path / "clips", 12800, 4, 3 * 10000, seed=5)
    r = evaluate(model, tmp_path / "clips", gap_s=2.0, seed=0, detection={"gate_dbfs": -60})
    signal, truth = build_stream([(p, label) for _, _, label, p in r["truth"]], 12800, 2.0, None, 0)
    write_wav(tmp_path / "rec.wav", signal, 12800, 4, format="float")
    cough = (truth[0][1] + 0.5, truth[0][1] + 0.9, "cough")                   # in the first gap
    write_label_track(tmp_path / "rec.txt", [*truth, cough])
    rec = evaluate_recording(model, tmp_path / "rec.wav", tmp_path / "rec.txt", detection={"gate_dbfs": -60})
    assert [(e["t"], e["event"]) for e in rec["event_list"]] == [(e["t"], e["event"]) for e in r["event_list"]]
    for k in ("utterances", "detected", "missed", "wrong_label", "false_alarms", "duplicates", "windows",
              "gated_windows", "detection_rate", "per_label"):
        assert rec[k] == r[k], k
    assert rec["hours"] == pytest.approx(r["hours"], abs=1e-9)
    assert rec["utterances"] == 8 and len(rec["notes"]) == 1 and "cough" in rec["notes"][0]
    # noise at an SNR: seeded, and relative to the utterances' level
    a = evaluate_recording(model, tmp_path / "rec.wav", tmp_path / "rec.txt", snr_db=10, seed=3)
    b = evaluate_recording(model, tmp_path / "rec.wav", tmp_path / "rec.txt", snr_db=10, seed=3)
    assert a["event_list"] == b["event_list"] and a["gated_windows"] == 0
    # each region's own SNR, as the same clips laid out as a stream give it
    noisy = evaluate(model, tmp_path / "clips", gap_s=2.0, seed=0, snr_db=10)
    assert a["utterance_snr_db"] == noisy["utterance_snr_db"] and rec["utterance_snr_db"] is None
    assert r["utterance_snr_db"] is None
    # the command line
    exe = bin_path("edgekit")
    p = subprocess.run([exe, "stream-eval", str(model), "--data", str(tmp_path / "rec.wav"), "--labels",
                        str(tmp_path / "rec.txt"), "--gate-dbfs", "-60", "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["detected"] == r["detected"]
    p = subprocess.run([exe, "stream-eval", str(model), "--data", str(tmp_path / "rec.wav"), "--labels",
                        str(tmp_path / "rec.txt")], capture_output=True, text=True)
    assert p.returncode == 0 and "the recording" in p.stdout and "note:" in p.stdout, p.stderr
    for args, says in ((["--data", str(tmp_path / "rec.wav")], "give --labels FILE"),
                       (["--data", str(tmp_path / "rec.wav"), "--labels", str(tmp_path / "rec.txt"), "--gap", "1"],
                        "--gap is for a clip folder"),
                       (["--data", str(tmp_path / "clips"), "--labels", str(tmp_path / "rec.txt")],
                        "--labels is for a WAV recording"),
                       (["--data", str(tmp_path / "nowhere")], "no such folder or file")):
        p = subprocess.run([exe, "stream-eval", str(model), *args], capture_output=True, text=True)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and says in p.stderr, p.stderr
    # a label file that is not this recording's
    write_label_track(tmp_path / "long.txt", [(0.5, 1.0, "A"), (400.0, 401.0, "B")])
    with pytest.raises(EdgekitError, match="ends at 401 s but .* long"):
        evaluate_recording(model, tmp_path / "rec.wav", tmp_path / "long.txt")
    write_label_track(tmp_path / "none.txt", [(0.5, 1.0, "cough")])
    with pytest.raises(EdgekitError, match="none of the region labels"):
        evaluate_recording(model, tmp_path / "rec.wav", tmp_path / "none.txt")
