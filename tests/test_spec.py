import json

import pytest

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import SCHEMA_VERSION, Spec
from edgekit.edge.tasks import checked


def make_spec(**over):
    feats = fe.spectrogram_features()
    d = dict(task="stft", kind="classification", sample_rate=12800.0, window=10000,
             input_shape=fe.spectrogram_shape(10000, feats), features=feats,
             normalization={"type": "standard", "mean": -7.5, "std": 2.25}, labels=("A", "B"))
    d.update(over)
    return Spec(**d)


def test_course_shape_is_129_by_44():
    assert make_spec().input_shape == (129, 44, 1)


def test_round_trip_json_and_file(tmp_path):
    s = make_spec(model_sha256="a" * 64, quantization={"precision": "int8", "input": {"scale": 0.1}})
    again = checked(Spec.from_json(s.to_json()))
    assert again == s
    path = s.save(tmp_path)
    assert path.name == "spec.json"
    assert Spec.load(tmp_path) == s
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def _tampered(**changes):
    d = make_spec().to_dict()
    d.update(changes)
    return json.dumps(d)


@pytest.mark.parametrize("changes, words", [
    ({"sample_rate": -12800}, "sample_rate"),
    ({"sample_rate": "12800"}, "sample_rate"),
    ({"sample_rate": True}, "sample_rate"),
    ({"window": 10000 * 12800}, "window"),
    ({"window": 0}, "window"),
    ({"window": 1.5}, "window"),
    ({"labels": ["A"]}, "labels"),
    ({"labels": "AB"}, "labels"),
    ({"input_shape": [129, 43, 1]}, "input_shape"),
    ({"task": "__import__('os').system('x')"}, "task"),
    ({"features": {"type": "spectrogram", "nperseg": 256, "noverlap": 300, "nfft": 256}}, "noverlap"),
    ({"normalization": {"type": "standard", "mean": 0, "std": 0}}, "std"),
    ({"normalization": {"type": "eval"}}, "normalization"),
    ({"schema_version": 1}, "schema_version"),
    ({"normalization": {"type": "minmax", "min": ["a"], "max": ["b"]}}, "finite numbers"),
    ({"normalization": {"type": "minmax", "min": [0, 0, 0], "max": [1, 1, 1]}}, "for 1 channel"),
    ({"normalization": {"type": "scale", "scale": 1, "offset": "x"}}, "finite 'offset'"),
    ({"normalization": {"type": "standard", "mean": 1e400, "std": 1}}, "finite number"),
    ({"features": {**fe.spectrogram_features(), "window": ["evilw", 0.25]}}, "features.window"),
    ({"kind": "regression", "target": {"name": "Speed", "scaling": {"type": "standard"}}}, "target.scaling"),
    # JSON allows these: huge integers, Unicode digits, a one-element list for the target's min
    ({"window": 10 ** 400}, "'window'"),
    ({"sample_rate": 10 ** 400}, "sample_rate"),
    ({"normalization": {"type": "standard", "mean": 10 ** 400, "std": 1}}, "normalization.mean"),
    ({"features": {**fe.spectrogram_features(), "log_eps": 10 ** 400}}, "log_eps"),
    ({"schema_version": "\u00b2.0"}, "schema_version"),
    ({"schema_version": "1" + "0" * 5000}, "schema_version"),
    ({"kind": "regression", "target": {"name": "Speed", "scaling": {"type": "minmax", "min": [0], "max": 1}}},
     "not lists"),
    # values that parse but give NaN or constant features
    ({"features": {**fe.spectrogram_features(), "window": ["kaiser", 1e308]}}, "non-finite"),
    ({"normalization": {"type": "standard", "mean": 0, "std": 5e-324}}, "1/std finite"),
    ({"features": {**fe.spectrogram_features(), "log_eps": 1e308}}, "log_eps must be in (0, 1000]"),
    # text that is printed: no control characters, lone surrogates or escape sequences
    ({"labels": ["A", "\ud800"]}, "'labels' holds the unprintable character U+D800"),
    ({"labels": ["A", "B\nerror: forged"]}, "U+000A"),
    ({"labels": ["A", "\x1b[2J"]}, "U+001B"),
    ({"kind": "regression", "target": {"name": "Sp\u202eeed", "scaling": {"type": "none"}}}, "target.name"),
    ({"kind": "regression", "target": {"units": "\x07", "scaling": {"type": "none"}}}, "target.units"),
    ({"kind": "regression", "target": {"units": 5, "scaling": {"type": "none"}}}, "must be strings"),
    ({"quantization": {"precision": "int8\r"}}, "quantization.precision"),
    ({"edgekit_version": "1.0\x1b]0;x\x07"}, "edgekit_version"),
    ({"model_sha256": "z" * 64}, "hex"),
])
def test_tampered_values_are_one_line_errors(changes, words):
    with pytest.raises(EdgekitError) as e:
        checked(Spec.from_json(_tampered(**changes), source="m.tflite"), "m.tflite")
    msg = e.value.message
    assert "\n" not in msg and msg.startswith("m.tflite") and words in msg


def test_an_oversized_spec_is_refused_before_it_is_parsed(monkeypatch):
    import edgekit.edge.core.spec as spec_module
    text = _tampered(labels=["A", "B" * 2_000_000])
    monkeypatch.setattr(spec_module.json, "loads", lambda *a, **k: pytest.fail("parsed"))
    with pytest.raises(EdgekitError, match=r"m.onnx: the edgekit spec is 2,0\d\d,\d\d\d bytes, more than the limit "
                                           r"of 1,000,000"):
        checked(Spec.from_json(text, source="m.onnx"), "m.onnx")


def test_probe_finds_features_that_are_not_finite_or_constant():
    from edgekit.edge.model.probe import probe
    assert probe(make_spec()) is None
    inf = probe(make_spec(normalization={"type": "scale", "scale": 1e38, "offset": 0.0}))
    assert "NaN/inf value(s)" in inf and "(a chirp)" in inf
    flat = probe(make_spec(normalization={"type": "standard", "mean": 1e30, "std": 1.0}))
    assert "the same value (-1e+30) for every feature" in flat


def test_missing_field():
    d = make_spec().to_dict()
    del d["window"]
    with pytest.raises(EdgekitError, match="missing field.*window"):
        checked(Spec.from_dict(d))


def test_invalid_json_and_non_object():
    for text in ("{not json", "[1, 2]", "null", b"\xff\xfe", "[" * 100_000 + "]" * 100_000):
        with pytest.raises(EdgekitError):
            checked(Spec.from_json(text))


def test_unknown_major_schema_refused_minor_accepted():
    with pytest.raises(EdgekitError, match="schema 2.0 is not supported"):
        checked(Spec.from_json(_tampered(schema_version="2.0")))
    assert checked(Spec.from_json(_tampered(schema_version="1.7"))).schema_version == "1.7"


def test_nan_is_not_valid_json_in_a_spec():
    with pytest.raises(EdgekitError):
        checked(Spec.from_json(_tampered().replace('"mean": -7.5', '"mean": NaN')))


def test_missing_spec_file(tmp_path):
    with pytest.raises(EdgekitError, match="cannot read the spec"):
        Spec.load(tmp_path)


# -- anomaly models: the score's threshold travels in the spec, parsed as strictly as the rest ----------------

ANOMALY = {"threshold": 0.125, "score": "mse", "method": "quantile", "quantile": 0.99, "fit": "empirical",
           "calibration_windows": 45}


def _anomaly(**over) -> dict:
    d = make_spec(task="anomaly", kind="anomaly", labels=("A",), anomaly=dict(ANOMALY),
                  detection={"average": 2.0, "min_count": 3, "suppression": 10.0}).to_dict()
    d.update(over)
    return d


def test_an_anomaly_spec_round_trips_and_old_specs_stay_valid():
    s = Spec.from_dict(_anomaly())
    assert s.kind == "anomaly" and s.anomaly == ANOMALY and s.labels == ("A",)
    assert Spec.from_json(s.to_json()) == s
    old = make_spec().to_dict()
    del old["anomaly"]                                     # a spec written before the field existed
    assert Spec.from_dict(old).anomaly is None
    given = Spec.from_dict(_anomaly(anomaly={"threshold": 2}))
    assert given.anomaly == {"threshold": 2.0, "score": "mse", "method": "given"}


@pytest.mark.parametrize("changes, words", [
    ({"anomaly": None}, "needs an 'anomaly' object"),
    ({"anomaly": {**ANOMALY, "threshold": float("nan")}}, "'threshold' must be a finite positive number"),
    ({"anomaly": {**ANOMALY, "threshold": float("inf")}}, "'threshold' must be a finite positive number"),
    ({"anomaly": {**ANOMALY, "threshold": -1.0}}, "'threshold' must be a finite positive number"),
    ({"anomaly": {**ANOMALY, "threshold": 0}}, "'threshold' must be a finite positive number"),
    ({"anomaly": {**ANOMALY, "threshold": "0.1"}}, "'threshold' must be a finite positive number"),
    ({"anomaly": {**ANOMALY, "threshold": True}}, "'threshold' must be a finite positive number"),
    ({"anomaly": {k: v for k, v in ANOMALY.items() if k != "threshold"}}, "needs a 'threshold'"),
    ({"anomaly": {**ANOMALY, "exec": 1}}, "'anomaly': unknown key 'exec'"),
    ({"anomaly": {**ANOMALY, "score": "mae"}}, "'score' must be one of mse"),
    ({"anomaly": {**ANOMALY, "method": "guess"}}, "'method' must be one of"),
    ({"anomaly": {**ANOMALY, "quantile": 1.0}}, "'quantile' must be a number between 0 and 1"),
    ({"anomaly": {**ANOMALY, "method": "false_alarms_per_hour"}}, "needs 'false_alarms_per_hour'"),
    ({"anomaly": {**ANOMALY, "false_alarms_per_hour": -2}}, "'false_alarms_per_hour' must be"),
    ({"anomaly": {**ANOMALY, "calibration_windows": 0}}, "'calibration_windows' must be a positive integer"),
    ({"anomaly": [0.1]}, "'anomaly': expected an object like"),
    ({"labels": ["A", "B"]}, "one label, its normal data's, got 2"),
    ({"detection": {"threshold": 0.5}}, "leave 'threshold' out of 'detection'"),
])
def test_a_bad_anomaly_spec_is_one_line(changes, words):
    with pytest.raises(EdgekitError, match=words) as e:
        Spec.from_json(json.dumps(_anomaly(**changes)), source="m.tflite")
    assert "\n" not in e.value.message and e.value.message.startswith("m.tflite: invalid edgekit spec")


def test_anomaly_settings_belong_to_anomaly_models_only():
    with pytest.raises(EdgekitError, match="'anomaly' belongs to an anomaly model's spec, not to a classification"):
        Spec.from_dict({**make_spec().to_dict(), "anomaly": ANOMALY})
    with pytest.raises(EdgekitError, match="invalid edgekit spec"):       # JSON's NaN is not a number here
        Spec.from_json(json.dumps(_anomaly()).replace("0.125", "NaN"))
