"""The event detector on hand-built score sequences, the energy gate and the detection settings."""
import math

import numpy as np
import pytest

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.pipeline.detect import (DBFS_FLOOR, DEFAULTS, MAX_HISTORY, Detector, Gate, dbfs,
                                          detection_settings)

LABELS = ("silence", "unknown", "yes", "no")


def one_hot(label, p=1.0):
    """Scores with ``p`` on ``label`` and the rest spread evenly."""
    s = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1))
    s[LABELS.index(label)] = p
    return s


def feed(det, seq, t0=0.0, hop=0.1):
    """Push a list of score vectors at t0, t0 + hop, ...; the events (with the index that fired)."""
    out = []
    for k, s in enumerate(seq):
        ev = det.push(t0 + k * hop, s)
        if ev is not None:
            out.append((k, ev))
    return out


def test_defaults_follow_recognize_commands():
    assert DEFAULTS["average"] == 1.0 and DEFAULTS["min_count"] == 3
    assert DEFAULTS["threshold"] == 0.7 and DEFAULTS["suppression"] == 1.0
    assert DEFAULTS["nothing"] == ["silence", "unknown"] and DEFAULTS["gate_dbfs"] is None


def test_fires_at_the_third_result_with_its_time_label_and_average():
    det = Detector(LABELS)
    evs = feed(det, [one_hot("yes", 0.9)] * 5)
    assert len(evs) == 1
    k, ev = evs[0]
    assert k == 2                              # min_count 3: the third result
    assert ev["event"] == "yes" and ev["t"] == pytest.approx(0.2) and ev["score"] == pytest.approx(0.9)


def test_the_average_not_one_window_decides():
    det = Detector(LABELS, min_count=1)
    # 0.9, 0.5, 0.5 → running averages 0.9 (fires), then suppressed; a fresh detector on 0.5, 0.5, 0.9
    assert [k for k, _ in feed(det, [one_hot("yes", 0.9), one_hot("yes", 0.5), one_hot("yes", 0.5)])] == [0]
    det = Detector(LABELS, min_count=1)
    assert feed(det, [one_hot("yes", 0.5), one_hot("yes", 0.5), one_hot("yes", 0.9)]) == []   # mean 0.633
    det = Detector(LABELS, min_count=1)
    evs = feed(det, [one_hot("yes", 0.5), one_hot("yes", 0.5), one_hot("yes", 0.9), one_hot("yes", 0.9)])
    assert [k for k, _ in evs] == [3] and evs[0][1]["score"] == pytest.approx(0.7)     # mean exactly 0.7


def test_threshold_edges():
    for p, fires in [(0.7, True), (0.7 - 1e-6, False), (0.71, True), (0.69, False)]:
        det = Detector(LABELS, threshold=0.7)
        assert bool(feed(det, [one_hot("no", p)] * 3)) is fires, p
    det = Detector(LABELS, threshold=0.0)            # 0 still needs a top label that is not "nothing"
    assert feed(det, [one_hot("silence", 0.4)] * 3) == []
    det = Detector(LABELS, threshold=1.0)
    assert [k for k, _ in feed(det, [one_hot("no", 1.0)] * 3)] == [2]


def test_min_count_counts_results_inside_the_averaging_window():
    # results 0.4 s apart with a 1 s average: at most 3 in the window (t-1.0 .. t inclusive)
    det = Detector(LABELS, min_count=3)
    evs = feed(det, [one_hot("yes")] * 4, hop=0.4)
    assert [k for k, _ in evs] == [2]                # t=0.8 holds 0, 0.4, 0.8
    det = Detector(LABELS, min_count=4)
    assert feed(det, [one_hot("yes")] * 10, hop=0.4) == []       # never 4 results within 1 s
    det = Detector(LABELS, min_count=4, suppression=100)
    assert [k for k, _ in feed(det, [one_hot("yes")] * 10, hop=1 / 3)] == [3]   # 0, 1/3, 2/3, 1 (edge kept)


def test_old_results_leave_the_average():
    det = Detector(LABELS, min_count=1, suppression=0.0)
    # a burst of "no" then "yes": once the "no" results are older than 1 s the average turns to "yes"
    seq = [one_hot("no")] * 3 + [one_hot("yes")] * 12
    evs = feed(det, seq, hop=0.1)
    labels = [ev["event"] for _, ev in evs]
    assert labels[0] == "no" and "yes" in labels
    first_yes = next(k for k, ev in evs if ev["event"] == "yes")
    # at k the window holds k-10..k; yes wins its mean >= 0.7 once at most 3 "no" of 11 remain... compute it
    for k in range(3, 15):
        lo = max(0, k - 10)
        n_no = sum(1 for i in range(lo, k + 1) if i < 3)
        n = k + 1 - lo
        yes = (n - n_no) / n
        if yes >= 0.7:
            assert first_yes == k
            break
    assert len(det) == 11                           # 1.0 s at 0.1 s: t-1.0 .. t


def test_suppression_blocks_every_label_for_its_time():
    det = Detector(LABELS, min_count=1, suppression=1.0, average=0.1)
    seq = [one_hot("yes")] * 5 + [one_hot("no")] * 20       # hop 0.1: average holds 2 results
    evs = feed(det, seq, hop=0.1)
    assert [(k, ev["event"]) for k, ev in evs][:2] == [(0, "yes"), (10, "no")]   # "no" waits 1.0 s
    assert all(b[0] - a[0] >= 10 for a, b in zip(evs, evs[1:]))
    det = Detector(LABELS, min_count=1, suppression=0.5)
    ks = [k for k, _ in feed(det, [one_hot("yes")] * 12, hop=0.1)]
    assert ks == [0, 5, 10]                          # a held score fires every suppression seconds


def test_nothing_labels_never_fire():
    det = Detector(LABELS, min_count=1, suppression=0.0, threshold=0.0)
    assert feed(det, [one_hot("silence")] * 20 + [one_hot("unknown")] * 20) == []
    det = Detector(("_silence_", "_unknown_", "go"), min_count=1)
    assert det.push(0.0, [1, 0, 0]) is None and det.push(0.1, [0, 1, 0]) is None
    assert det.push(0.2, [0, 0, 1]) is None             # average over 3: go 1/3
    det = Detector(("noise", "go"), nothing=["noise"], min_count=1)
    assert det.push(0, [1.0, 0.0]) is None
    det = Detector(("silence", "go"), nothing=[], min_count=1)
    assert det.push(0, [1.0, 0.0])["event"] == "silence"


def test_reset_no_average_spans_a_gap():
    det = Detector(LABELS, min_count=3, suppression=0.0)
    assert feed(det, [one_hot("yes", 0.9)] * 2) == []
    det.reset()                                      # the stream broke: those two must not count
    assert len(det) == 0
    assert det.push(0.25, one_hot("yes", 0.9)) is None
    assert det.push(0.35, one_hot("yes", 0.9)) is None
    assert det.push(0.45, one_hot("yes", 0.9))["event"] == "yes"
    # without the reset the third result would have fired
    det = Detector(LABELS, min_count=3, suppression=0.0)
    feed(det, [one_hot("yes", 0.9)] * 2)
    assert det.push(0.25, one_hot("yes", 0.9)) is not None


def test_reset_keeps_the_suppression_clock():
    det = Detector(LABELS, min_count=1, suppression=1.0)
    assert det.push(0.0, one_hot("yes")) is not None
    det.reset()
    assert det.push(0.5, one_hot("yes")) is None     # 0.5 s after the event
    assert det.push(1.0, one_hot("yes")) is not None


def test_history_is_bounded_by_time_and_count():
    det = Detector(LABELS, average=1.0, min_count=1, suppression=0.0)
    for k in range(5000):
        det.push(k * 0.01, one_hot("yes"))
    assert len(det) == 101                           # t-1.0 .. t at 10 ms
    det = Detector(LABELS, average=60.0, min_count=1)
    for k in range(MAX_HISTORY + 500):
        det.push(k * 1e-4, one_hot("no"))
    assert len(det) == MAX_HISTORY


def test_bad_pushes_are_programming_errors():
    det = Detector(LABELS)
    with pytest.raises(ValueError, match="4 labels"):
        det.push(0.0, [1.0, 0.0])
    det.push(1.0, one_hot("yes"))
    with pytest.raises(ValueError, match="backwards"):
        det.push(0.5, one_hot("yes"))


def test_dbfs_of_known_signals():
    t = np.arange(8000) / 8000
    sine = np.sin(2 * np.pi * 100 * t)
    assert dbfs(sine) == pytest.approx(-3.0103, abs=1e-3)
    assert dbfs(0.5 * sine) == pytest.approx(-3.0103 - 6.0206, abs=1e-3)
    assert dbfs(np.ones(100)) == pytest.approx(0.0)
    assert dbfs(np.full(100, -0.1, np.float32)) == pytest.approx(-20.0, abs=1e-5)
    rng = np.random.default_rng(0)
    x = 0.01 * rng.standard_normal(100_000)
    assert dbfs(x) == pytest.approx(20 * math.log10(np.sqrt(np.mean(x ** 2))), abs=1e-9)
    assert dbfs(np.zeros(512, np.float32)) == DBFS_FLOOR == -120.0
    assert dbfs(np.array([])) == DBFS_FLOOR
    assert dbfs(np.full(10, 1e-9)) == DBFS_FLOOR     # -180 dB clamps to the floor
    assert dbfs(np.int16([0, 0])) == DBFS_FLOOR
    assert not math.isnan(dbfs(np.array([np.nan, 1.0])))


def test_gate():
    t = np.arange(800) / 8000
    quiet, loud = 0.001 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 440 * t)
    gate = Gate(-40.0)
    assert gate(quiet) and not gate(loud)            # -63 dBFS and -13.5 dBFS
    assert gate(np.zeros(800))
    assert not Gate(None)(np.zeros(800))
    assert not Gate(-60)(np.full(10, 10 ** (-60 / 20)))   # exactly at the gate level passes


def test_detection_settings_defaults_and_overrides():
    assert detection_settings(None) == DEFAULTS
    s = detection_settings({"threshold": 0.85, "min_count": 2, "nothing": ["_background_"], "gate_dbfs": -50})
    assert s == {**DEFAULTS, "threshold": 0.85, "min_count": 2, "nothing": ["_background_"], "gate_dbfs": -50.0}
    det = Detector.from_settings(("_background_", "go"), s)
    assert det.threshold == 0.85 and det.min_count == 2
    assert det.push(0, [1, 0]) is None and det.push(0.1, [1, 0]) is None
    s = detection_settings({})
    s["nothing"].append("x")
    assert DEFAULTS["nothing"] == ["silence", "unknown"]   # the constant is not shared


@pytest.mark.parametrize("d, message", [
    ([0.7], "expected an object"),
    ({"thresold": 0.7}, "unknown key 'thresold'"),
    ({"threshold": 1.5}, "'threshold' must be in [0, 1], got 1.5"),
    ({"threshold": "high"}, "'threshold' must be a finite number"),
    ({"threshold": float("nan")}, "'threshold' must be a finite number"),
    ({"average": 0}, "'average' must be in (0, 60]"),
    ({"suppression": -1}, "'suppression' must be in [0, 3600]"),
    ({"min_count": 0}, "'min_count' must be an integer in [1, 4096]"),
    ({"min_count": 2.5}, "'min_count' must be an integer"),
    ({"min_count": True}, "'min_count' must be an integer"),
    ({"gate_dbfs": 3}, "'gate_dbfs' must be in [-120, 0]"),
    ({"nothing": "silence"}, "'nothing' must be a list of label names"),
    ({"nothing": ["a\nb"]}, "'nothing' must be a list of label names"),
])
def test_detection_settings_errors_are_one_line(d, message):
    with pytest.raises(EdgekitError) as e:
        detection_settings(d, "kws.tflite (embedded metadata)")
    msg = e.value.message
    assert msg.startswith("kws.tflite (embedded metadata): invalid 'detection' settings: ")
    assert message in msg and "\n" not in msg
