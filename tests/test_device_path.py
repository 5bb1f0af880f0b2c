"""The device path at its floor: the in-place front end equals the reference path bit for bit, incremental
frames equal recomputing (across resets, drops and new files), bound buffers, fixed-memory percentiles."""
import math

import numpy as np
import pytest

from conftest import bin_path, run
from edgekit.edge import frontend as fe
from edgekit.edge.frontend.frames import Framer
from edgekit.edge.frontend.stream import StreamFeatures
from edgekit.edge.sources.synth import vibration
from edgekit.edge.model.model import Model
from edgekit.edge.model.quant import quantize
from edgekit.edge.core.spec import Spec
from edgekit.edge.tasks import checked
from edgekit.edge.core import histogram
from edgekit.edge.pipeline import stats
from edgekit.edge.pipeline.step import STAGES, NonFiniteFeatures, Step


def _features(model, hop=None):
    info = model.backend.input
    return StreamFeatures(model.spec, info.dtype, info.scale if info.quantized else 0.0, info.zero_point, hop)


@pytest.fixture(scope="module")
def models(tiny_run):
    run_dir = tiny_run / "stft"
    onnx = run_dir / "stft_int8.onnx"
    if not onnx.exists():
        run(bin_path("edgekit"), "convert", str(run_dir), "--to", "onnx", "--precision", "int8", "--json")
    return {name: Model(run_dir / name, threads=1)
            for name in ("stft_int8.tflite", "stft_float32.tflite", "stft_int8.onnx")}


@pytest.mark.parametrize("name", ["stft_int8.tflite", "stft_float32.tflite", "stft_int8.onnx"])
def test_the_stream_input_tensor_is_the_reference_paths_bit_for_bit(models, name):
    m = models[name]
    info, front = m.backend.input, fe.build(m.spec)
    feats = _features(m)
    out = np.empty(m.spec.input_shape, dtype=info.dtype)
    x, _ = vibration(12, seed=4)
    x = np.concatenate([x, 10.0 * x[:2], 1e-6 * x[:2], np.zeros((1, x.shape[1]), np.float32)])  # saturating, tiny, silent
    for w in x:
        assert feats.into(w, out)
        assert np.array_equal(out, quantize(front(w)[None], info)[0])


@pytest.mark.parametrize("name", ["stft_int8.tflite", "stft_float32.tflite", "stft_int8.onnx"])
def test_the_step_answers_as_quantize_invoke_dequantize_does(models, name):
    m = models[name]
    step, front = Step(m), fe.build(m.spec)
    for w in vibration(6, seed=9)[0]:
        (label, score, index, _), lat = step(w)
        ref = m.predict(front(w)[None])[0]
        assert index == int(np.argmax(ref)) and label == m.spec.labels[index]
        assert score == pytest.approx(float(ref[index]), abs=1e-6)
        assert tuple(lat) == STAGES and all(v >= 0 for v in lat.values())
        assert lat["total"] == pytest.approx(sum(lat[k] for k in STAGES[:-1]), rel=1e-9, abs=1e-9)


def test_non_finite_features_are_refused_not_fed_to_the_model(models):
    m = models["stft_int8.tflite"]
    bad = checked(Spec.from_dict({**m.spec.to_dict(), "normalization": {"type": "scale", "scale": 1e38, "offset": 0.0}}))
    m2 = Model(m.path, threads=1, spec=bad)
    with pytest.raises(NonFiniteFeatures):
        Step(m2)(vibration(1, seed=1)[0][0])


def _stream(spec, hop, signal, resets=()):
    """(start, window copy) of every window a Framer cuts from ``signal``, with framing restarts at
    ``resets`` (sample index → samples lost), as the stft task does on a gap."""
    framer, out, i = Framer(spec.window, hop), [], 0
    bounds = sorted(resets) + [len(signal)]
    for b in bounds:
        for start, w in framer.push(signal[i:b]):
            out.append((start, w.copy()))
        if b in resets:
            framer.reset(framer.position + resets[b])
        i = b
    return out


@pytest.mark.parametrize("name", ["stft_int8.tflite", "stft_float32.tflite"])
def test_incremental_frames_equal_recomputing_across_resets_and_drops(models, name):
    m = models[name]
    spec = m.spec
    plan = fe.FEATURE_TYPES["spectrogram"].framewise(spec)
    hop = 11 * plan.step                                    # about a quarter window
    sig = vibration(10, seed=2)[0].reshape(-1)
    sig[30000:30400] = 0.0                                  # a stretch of silence inside the stream
    windows = _stream(spec, hop, sig, resets={41000: 0, 63001: 777})   # a new file, then dropped audio
    inc, ref = _features(m, hop), _features(m)
    assert inc.incremental and not ref.incremental
    a = np.empty(spec.input_shape, m.backend.input.dtype)
    b = np.empty_like(a)
    for _, w in windows:
        assert inc.into(w, a) and ref.into(w, b)
        assert np.array_equal(a, b)
    # most frames were reused; every reset (and the first window) recomputed a whole window
    assert inc.reused_frames > 0.7 * inc.computed_frames
    whole = [i for i, (s, _) in enumerate(windows) if i == 0 or s - windows[i - 1][0] != hop]
    assert len(whole) == 3
    n = len(windows)
    assert inc.computed_frames == len(whole) * plan.n_frames + (n - len(whole)) * (hop // plan.step)


def test_incremental_frames_check_the_samples_not_the_hop(models):
    """A window that does not continue the last one (same hop, other samples) is recomputed whole."""
    m = models["stft_int8.tflite"]
    plan = fe.FEATURE_TYPES["spectrogram"].framewise(m.spec)
    inc, ref = _features(m, 11 * plan.step), _features(m)
    a = np.empty(m.spec.input_shape, m.backend.input.dtype)
    b = np.empty_like(a)
    for w in vibration(4, seed=7)[0]:                       # unrelated windows
        inc.into(w, a), ref.into(w, b)
        assert np.array_equal(a, b)
    assert inc.reused_frames == 0


@pytest.mark.parametrize("hop_frames, applies", [(11, True), (1, True), (43, True), (44, False)])
def test_when_incremental_frames_apply(models, hop_frames, applies):
    m = models["stft_int8.tflite"]
    plan = fe.FEATURE_TYPES["spectrogram"].framewise(m.spec)
    assert _features(m, hop_frames * plan.step).incremental is applies
    assert not _features(m, hop_frames * plan.step + 1).incremental     # not a multiple of the frame step
    assert not _features(m, m.spec.window).incremental


def test_edge_run_with_a_quarter_hop_gives_the_labels_of_recomputing(tiny_run, tmp_path):
    """End to end: the same windows through edge-run with overlapping hops equal a stream of the same
    windows one by one (no overlap to reuse), label and score."""
    import json
    from edgekit.edge.formats.wav import write_wav
    model = tiny_run / "stft" / "stft_int8.tflite"
    spec = Model(model).spec
    plan = fe.FEATURE_TYPES["spectrogram"].framewise(spec)
    hop = 11 * plan.step
    sig = vibration(4, seed=11)[0].reshape(-1)
    wav = tmp_path / "s.wav"
    write_wav(wav, sig, int(spec.sample_rate), 4, format="float")
    p = run(bin_path("edge-run"), "--model", str(model), "--source", f"wav:{wav}", "--hop", repr(hop / spec.sample_rate),
            "--json")
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    results, summary = lines[:-1], lines[-1]["summary"]
    assert len(results) == (len(sig) - spec.window) // hop + 1 == summary["windows"]
    m = Model(model, threads=1)
    front = fe.build(spec)
    for r, start in zip(results, range(0, len(sig), hop)):
        ref = m.predict(front(sig[start:start + spec.window])[None])[0]
        assert r["label"] == spec.labels[int(np.argmax(ref))]
        assert r["score"] == pytest.approx(float(ref.max()), abs=1e-5)


# -- fixed-memory percentiles ---------------------------------------------------------------------------

def test_histogram_percentiles_are_within_the_stated_bound():
    rng = np.random.default_rng(0)
    for a in (rng.lognormal(-1.5, 0.6, 50_000), rng.uniform(0.05, 0.07, 9_999), np.array([0.3]),
              np.concatenate([rng.lognormal(-2, 0.1, 10_000), rng.lognormal(3, 0.1, 100)])):
        h = histogram.Histogram()
        for v in a:
            h.add(float(v))
        s = h.summary()
        srt = np.sort(a)
        for q in histogram.PERCENTILES:
            exact = srt[max(1, math.ceil(q / 100 * a.size)) - 1]
            assert abs(s[f"p{q}"] - exact) <= histogram.RELATIVE_ERROR * exact * (1 + 1e-9), (q, s[f"p{q}"], exact)
        assert s["n"] == a.size and s["min"] == a.min() and s["max"] == a.max()
        assert s["mean"] == pytest.approx(a.mean(), rel=1e-9) and s["std"] == pytest.approx(a.std(), rel=1e-6, abs=1e-9)
    assert histogram.RELATIVE_ERROR < 0.005


def test_stage_times_stay_the_same_size_however_long_the_stream():
    t = stats.StageTimes()
    t.add({k: 0.1 for k in STAGES})
    sizes = None
    for i in range(200_000):
        t.add({k: 0.1 + (i % 97) * 1e-3 for k in STAGES})
        if i == 10_000:
            sizes = [(h.counts.nbytes, len(h.pending)) for h in t._hist.values()]
    assert all(nbytes == histogram.N_BUCKETS * 8 for nbytes, _ in sizes)
    assert all(len(h.pending) < 4096 and h.counts.nbytes == histogram.N_BUCKETS * 8 for h in t._hist.values())
    s = t.summary()
    assert s["total"]["n"] == 200_001
    assert t.total_seconds() == pytest.approx(s["total"]["mean"] * 200_001 / 1e3)
    assert histogram.Histogram().summary()["n"] == 0


def test_out_of_range_latencies_land_in_the_end_buckets():
    h = histogram.Histogram()
    for v in (0.0, 1e-12, 5e9):
        h.add(v)
    s = h.summary()
    assert s["min"] == 0.0 and s["max"] == 5e9 and s["p50"] <= 1e-6 * 1.01
