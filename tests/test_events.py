"""Events on a stream: the loop's detector and energy gate (edge/pipeline/loop.py + detect.py) with the
spec's settings and edge-run's flags; a dead microphone is silence, not a healthy machine."""
import json

import numpy as np
import pytest

from conftest import StandIn, bin_path, run
from edgekit.edge import frontend as fe
from edgekit.edge import tasks
from edgekit.edge.tasks.base import Options
from edgekit.edge.sources.signal import Block
from edgekit.edge.core.spec import Spec
from edgekit.edge.pipeline.loop import run_stream

FS, WIN = 1000.0, 200


def _spec(**kw):
    feats = fe.spectrogram_features(nperseg=64, noverlap=0)
    d = dict(task="stft", kind="classification", sample_rate=FS, window=WIN,
             input_shape=fe.spectrogram_shape(WIN, feats), features=feats, normalization={"type": "none"},
             labels=("silence", "go", "stop"))
    d.update(kw)
    return Spec(**d)


class Blocks:
    name, notes, dropped_blocks, dropped_samples, overflows = "test", [], 0, 0, 0

    def __init__(self, blocks):
        self._b = blocks

    def blocks(self):
        yield from self._b

    def close(self):
        pass


class Collect:
    def __init__(self):
        self.results, self.events, self.warnings = [], [], []

    def result(self, r):
        self.results.append(r)

    def event(self, e):
        self.events.append(e)

    def warn(self, m):
        self.warnings.append(m)

    note = warn


def _model(spec, calls):
    """'go' when the window's mean feature is high (a loud window), else 'silence'; counts its calls."""
    def fn(x):
        calls.append(1)
        return np.array([[0.05, 0.9, 0.05]] if float(np.mean(x)) > -10 else [[0.9, 0.05, 0.05]], np.float32)
    return StandIn(spec, fn)


def _signal(loud_windows, n):
    rng = np.random.default_rng(0)
    x = np.zeros(n * WIN, np.float32)
    for i in loud_windows:
        x[i * WIN:(i + 1) * WIN] = 0.5 * rng.standard_normal(WIN)
    return x


def _run(spec, blocks, **opt):
    calls = []
    sink = Collect()
    o = Options(hop=opt.pop("hop", WIN / FS / 2), **opt)
    r = tasks.get("stft").run(spec, Blocks(blocks), sink, o)
    s = run_stream(_model(spec, calls), None, sink, run=r)
    return s, sink, calls


def test_a_spec_with_detection_settings_gives_events_and_counts_them():
    spec = _spec(detection={"average": 0.3, "threshold": 0.6, "min_count": 3, "suppression": 1.0})
    x = _signal(range(4, 9), 20)                              # 'go' from 0.8 s to 1.8 s
    s, sink, calls = _run(spec, [Block(x)])
    assert [e["event"] for e in sink.events] == ["go"]
    ev = sink.events[0]
    assert 0.8 < ev["t"] <= 1.8 and ev["score"] >= 0.6 and set(ev) == {"event", "t", "score"}
    assert s["events"] == {"go": 1} and s["detection"]["average"] == 0.3
    assert len(sink.results) == s["windows"] == len(calls)       # every window printed and modelled


def test_without_settings_or_flags_nothing_changes():
    s, sink, _ = _run(_spec(), [Block(_signal(range(4, 9), 20))])
    assert sink.events == [] and "events" not in s


def test_events_only_prints_no_windows_and_flags_override_the_spec():
    spec = _spec(detection={"threshold": 0.99})                  # the spec's threshold would never fire
    x = _signal(range(4, 9), 20)
    s, sink, _ = _run(spec, [Block(x)], events_only=True)
    assert sink.results == [] and sink.events == [] and s["windows"] > 0
    s, sink, _ = _run(spec, [Block(x)], events_only=True, detection={"threshold": 0.6})
    assert sink.results == [] and [e["event"] for e in sink.events] == ["go"] and s["detection"]["threshold"] == 0.6


def test_the_gate_makes_quiet_windows_silence_without_the_model():
    spec = _spec(detection={"gate_dbfs": -50.0, "average": 0.3, "threshold": 0.6})
    x = _signal(range(4, 9), 20)                              # digital silence elsewhere: a dead microphone
    s, sink, calls = _run(spec, [Block(x)])
    gated = [r for r in sink.results if r.get("gated_dbfs") is not None]
    assert gated and all(r["label"] == "silence" and r["score"] is None and r["gated_dbfs"] == -120.0 for r in gated)
    assert s["gated_windows"] == len(gated) == s["windows"] - len(calls)
    assert s["labels"]["silence"] >= len(gated) and s["events"] == {"go": 1}
    assert s["gated_seconds"] == pytest.approx(len(gated) * WIN / 2 / FS)


def test_a_new_recording_restarts_the_average():
    """Two loud files of 1.5 windows give two windows each: min_count 3 is reached only if the average ran on
    across the file boundary (four 'go' results within the 2 s average), so the reset is what keeps it quiet."""
    spec = _spec(detection={"average": 2.0, "threshold": 0.6, "min_count": 3})
    loud = _signal([0, 1], 2)[:3 * WIN // 2]
    s, sink, calls = _run(spec, [Block(loud), Block(loud, reset=True)])
    assert len(calls) == 4 and s["labels"] == {"go": 4}
    assert sink.events == []
    s, sink, calls = _run(spec, [Block(np.concatenate([loud, loud]))])       # one recording: it fires
    assert [e["event"] for e in sink.events] == ["go"]


def test_edge_run_detection_flags_and_their_errors(tiny_run):
    model = str(tiny_run / "stft" / "stft_int8.tflite")
    p = run(bin_path("edge-run"), "--model", model, "--source", "synthetic", "--duration", "8", "--hop", "0.175",
            "--events-only", "--json", "--threshold", "0.6")
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    events, summary = lines[:-1], lines[-1]["summary"]
    assert events and all(set(e) == {"event", "t", "score"} and e["score"] >= 0.6 for e in events)
    assert sum(summary["events"].values()) == len(events) and summary["detection"]["threshold"] == 0.6
    assert all(b["t"] - a["t"] >= summary["detection"]["suppression"] - 1e-9 for a, b in zip(events, events[1:]))
    for args, msg in ((["--threshold", "2"], "'threshold' must be in [0, 1]"),
                      (["--gate-dbfs", "3"], "'gate_dbfs' must be in [-120, 0]"),
                      (["--min-count", "0"], "--min-count")):
        p = run(bin_path("edge-run"), "--model", model, *args, check=False)
        assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
