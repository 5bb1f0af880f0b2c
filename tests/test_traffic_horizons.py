"""Issue 29: traffic forecasts several horizons ahead — the time columns computed from each row's timestamp (the same
in training and on the device), the spec's checks, the baselines, per-horizon verification and comparison, and
edge-run's forecasts and scores of every horizon."""
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from conftest import StandIn, bin_path, run

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.formats.rows import read_rows
from edgekit.edge.frontend.rows import assemble, format_time, profile_at, time_columns, time_values
from edgekit.edge.tasks import checked

STEP = 300.0


def _t(text: str) -> float:
    """``YYYY-MM-DD HH:MM`` (wall clock, as the device reads it) → epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc).timestamp()


# -- the time columns ------------------------------------------------------------------------------------------

def test_time_columns_are_harmonics_of_the_day_and_week_then_the_profile():
    feat = {"time": {"day": 2, "week": 1},
            "profile": {"period_seconds": 86400.0, "values": [float(v) for v in range(288)], "ahead_rows": [0, 3]}}
    assert time_columns(feat) == ["day_sin1", "day_cos1", "day_sin2", "day_cos2", "week_sin1", "week_cos1",
                                  "profile+0", "profile+3"]
    t = np.array([_t("2017-04-24 00:00"), _t("2017-04-24 06:00"), _t("2017-04-26 12:00"), _t("2017-04-30 23:55")])
    v = time_values(t, feat, STEP)                         # 2017-04-24 is a Monday: the week starts there
    np.testing.assert_allclose(v[:, 0], [0, 1, 0, np.sin(2 * np.pi * 287 / 288)], atol=1e-12)
    np.testing.assert_allclose(v[:, 1], [1, 0, -1, np.cos(2 * np.pi * 287 / 288)], atol=1e-12)
    np.testing.assert_allclose(v[:, 3], [1, -1, 1, np.cos(4 * np.pi * 287 / 288)], atol=1e-12)   # 2nd harmonic
    np.testing.assert_allclose(v[:, 4], [0, np.sin(2 * np.pi / 28), np.sin(2 * np.pi * 2.5 / 7),
                                         np.sin(2 * np.pi * (7 - 1 / 288) / 7)], atol=1e-12)
    assert v[:, 6].tolist() == [0.0, 72.0, 144.0, 287.0]                          # the slot at the row's time
    assert v[:, 7].tolist() == [3.0, 75.0, 147.0, 2.0]                            # 3 rows later (around the day)
    one = np.stack([time_values(np.array([x]), feat, STEP)[0] for x in t])       # the device: a row at a time
    np.testing.assert_array_equal(one, v)


def test_profile_is_linear_between_slot_starts():
    prof = {"period_seconds": 86400.0, "values": [10.0, 20.0, 40.0]}
    at = np.array([0, 14400, 28800, 43200, 72000, 86400 + 28800])
    assert profile_at(at, prof).tolist() == [10.0, 15.0, 20.0, 30.0, 25.0, 20.0]


def _spec(**feat_changes):
    """A valid spec of a 3-horizon forecaster on 12 rows of Speed with time inputs and a profile."""
    feat = fe.rows_features(["Speed"], "Speed", 300.0, time={"day": 1},
                            profile={"period_seconds": 86400.0, "values": [50.0] * 288, "ahead_rows": [0, 3, 6, 12]})
    feat.update(feat_changes.pop("features", {}))
    target = {"column": "Speed", "units": "km/h", "scaling": {"type": "minmax", "min": 0.0, "max": 100.0},
              "horizons": [15, 30, 60], **feat_changes.pop("target", {})}
    width = 1 + len(time_columns(feat))
    return Spec(task="traffic", kind="regression", sample_rate=1 / 300, window=12, input_shape=(12, width),
                features=feat, normalization={"type": "minmax", "min": [0.0] * width, "max": [100.0] * width},
                target=target, **feat_changes)


def test_a_forecaster_spec_is_valid_and_reads_back():
    spec = checked(Spec.from_json(_spec().to_json()))
    assert spec.input_shape == (12, 7) and spec.target["horizons"] == [15, 30, 60]
    assert fe.rows.horizon_rows(spec) == [3, 6, 12]
    assert fe.build(spec)(np.zeros((2, 12, 7))).shape == (2, 12, 7)
    with pytest.raises(EdgekitError, match=r"windows of 12 rows × 7 column\(s\) \(Speed, day_sin1, day_cos1, "
                                           r"profile\+0"):
        fe.build(spec)(np.zeros((2, 12, 1)))


@pytest.mark.parametrize("change, words", [
    ({"target": {"horizons": [15, 7, 60]}}, "whole numbers of the 5-minute row step"),
    ({"target": {"horizons": [30, 15, 60]}}, "ascending order"),
    ({"target": {"horizons": [15, 15, 60]}}, "ascending order"),
    ({"target": {"horizons": "15"}}, "target.horizons must be a list"),
    ({"target": {"horizons": [0, 15, 60]}}, "target.horizons must be a list"),
    ({"features": {"time": {"hour": 1}}}, "features.time must map day and/or week"),
    ({"features": {"time": {"day": 0}}}, "features.time must map day and/or week"),
    ({"features": {"time": {"day": True}}}, "features.time must map day and/or week"),
    ({"features": {"profile": [1, 2]}}, "features.profile must be an object"),
    ({"features": {"profile": {"period_seconds": 0, "values": [1.0], "ahead_rows": [0]}}}, "period_seconds"),
    ({"features": {"profile": {"period_seconds": 86400, "values": [], "ahead_rows": [0]}}}, "profile.values"),
    ({"features": {"profile": {"period_seconds": 86400, "values": [1.0], "ahead_rows": [-1]}}}, "ahead_rows"),
])
def test_bad_forecaster_specs_are_one_line_errors(change, words):
    good = json.loads(_spec().to_json())
    for key, value in change.items():
        good[key].update(value)
    with pytest.raises(EdgekitError, match="invalid edgekit spec") as e:
        checked(Spec.from_dict(good, "m.tflite"), "m.tflite")
    assert words in e.value.message and "\n" not in e.value.message


# -- training: windows, the profile and the baselines ------------------------------------------------------------

def _feed(tmp_path: Path, days: int = 4, gaps: int = 3) -> Path:
    """A synthetic detector CSV of ``days`` days with ``gaps`` short gaps."""
    from edgekit.train.traffic_data import drop_gaps, synthetic_traffic, write_traffic_csv
    return write_traffic_csv(tmp_path / "feed.csv", drop_gaps(synthetic_traffic(days, 5), gaps, 5))


def test_windows_of_several_horizons_have_every_target_real_in_their_segment(tmp_path):
    from edgekit.train.traffic import load_detector_csv, make_windows

    ds = load_detector_csv(_feed(tmp_path))
    s = assemble(ds.times, ds.matrix(["Speed"]))
    x, y, last, ends = make_windows(s, 6, 0, [0], ahead=[1, 3])
    origins = ends - 1
    assert y.shape == (len(x), 2) and len(s.gaps) == 3
    for k in (1, 3):
        assert np.all(s.times[origins + k] - s.times[origins] == k * STEP)       # no gap between
    np.testing.assert_array_equal(y[:, 1], s.values[origins + 3, 0])
    np.testing.assert_array_equal(last, x[:, -1, 0])
    # every window with its targets in one segment is there: the next-row windows but those 2 rows before a gap
    n_next = len(make_windows(s, 6, 0, [0])[0])
    assert len(x) == n_next - 2 * 3 - 2                                            # and 2 at the end of the file


def test_prepare_splits_without_overlap_and_fits_the_profile_on_training_rows(tmp_path):
    from edgekit.train.traffic import load_detector_csv, prepare

    ds = load_detector_csv(_feed(tmp_path, days=6, gaps=0))
    p = prepare(ds, look_back=12, horizons=[15, 60], time={"day": 1}, profile=True)
    feat = p.spec.features
    assert feat["profile"]["ahead_rows"] == [0, 3, 12] and p.spec.input_shape == (12, 1 + 2 + 3)
    t_val, t_test = p.boundaries["val"], p.boundaries["test"]
    first = {k: v for k, v in p.target_times.items()}
    assert first["train"].max() + 9 * STEP < t_val                                # its +60 min target too
    assert first["val"].min() >= t_val and first["val"].max() + 9 * STEP < t_test
    assert first["test"].min() >= t_test and p.y["test"].shape == (len(p.x["test"]), 2)
    # the profile: the mean of the training rows in each 5-minute slot of the day
    train = ds.times < t_val
    slot = (ds.times % 86400 // 300).astype(int)
    speed = ds.columns["Speed"]
    expect = [round(float(speed[train & (slot == k)].mean()), 4) for k in range(288)]
    assert feat["profile"]["values"] == expect
    # the scaler: the data column fitted on training rows, sin/cos in [-1, 1], the profile in the target's range
    tscale = p.spec.target["scaling"]
    assert p.spec.normalization["min"] == [tscale["min"], -1.0, -1.0] + [tscale["min"]] * 3
    # the raw windows carry the time columns as the device computes them from each row's time
    t_last = first["test"] - 3 * STEP
    np.testing.assert_array_equal(p.x["test"][:, -1, 1:], time_values(t_last, feat, STEP))


def test_historical_average_and_the_unit_errors():
    from edgekit.train.traffic_horizons import fit_profile, historical_average, slot_means, unit_errors

    t = np.array([0, 300, 86400, 86400 + 300, 86400 + 900]) + 4 * 86400.0      # a Monday and a Tuesday
    v = np.array([10.0, 20.0, 30.0, 40.0, 90.0])
    means = slot_means(t, v, 86400.0, 300.0)
    assert means[:4].tolist() == [20.0, 30.0, 60.0, 90.0]                        # slot 2 between its neighbours
    week = historical_average(t, v, np.array([4 * 86400.0, 11 * 86400.0 + 300, 12 * 86400.0]), 604800.0, 300.0)
    assert week.tolist() == [10.0, 20.0, 30.0]                                   # a week later, the same slot
    assert fit_profile(t, v, 300.0, [0, 3])["ahead_rows"] == [0, 3]
    with pytest.raises(EdgekitError, match="does not divide"):
        slot_means(t, v, 86400.0, 7 * 60.0)
    e = unit_errors(np.array([11.0, 18.0, 5.0]), np.array([10.0, 20.0, 0.0]))
    assert e["mae"] == pytest.approx(8 / 3) and e["rmse"] == pytest.approx(np.sqrt(30 / 3))
    assert e["mape"] == pytest.approx((10 + 10) / 2)                              # the 0 left out


# -- refusals ------------------------------------------------------------------------------------------------------

def _cli(capsys, *args):
    """``edgekit ARGS`` in this process: (exit status, captured output)."""
    from edgekit.edge.commands.cli import run_cli
    from edgekit.edge.commands.edgekit import group
    with pytest.raises(SystemExit) as e:
        run_cli(group, list(args), "edgekit")
    return e.value.code, capsys.readouterr()


@pytest.mark.parametrize("args, words", [
    (["--horizons", "15,abc"], "--horizons 15,abc: 'abc' is not a number of minutes ahead"),
    (["--horizons", "-5"], "'-5' is not a number of minutes ahead"),
    (["--horizons", "30,15"], "give each horizon once, shortest first"),
    (["--horizons", "15,15"], "give each horizon once, shortest first"),
    (["--horizons", "7,15"], "7 min is not a whole number of the data's 5-minute rows"),
    (["--horizons", "15", "--time", "hour"], "--time hour: 'hour' is not a time input"),
    (["--horizons", "15", "--time", "day=99"], "'day=99' is not a time input"),
    (["--profile", "--arch", "course"], "--profile feeds the historical average to the forecaster"),
    (["--horizons", "15", "--arch", "course", "--profile"], "use it with --arch forecaster"),
])
def test_bad_horizon_options_are_one_line_errors_and_write_nothing(tmp_path, capsys, args, words):
    pytest.importorskip("tensorflow")
    data = _feed(tmp_path, days=3)
    code, out = _cli(capsys, "train", "traffic", "--data", str(data), *args, "--out", str(tmp_path / "o"))
    err = out.err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and words in err[0], out.err
    assert not (tmp_path / "o").exists() and "Traceback" not in out.err


def test_verification_checks_every_horizon():
    from edgekit.convert.verify import VerificationError, check_mae

    rep = {"mae": 0.100, "reference_mae": 0.100, "per_horizon": [
        {"horizon_minutes": 15, "mae": 0.050, "reference_mae": 0.050},
        {"horizon_minutes": 30, "mae": 0.060, "reference_mae": 0.050}]}      # +20 %: hidden in the mean's 0 %
    with pytest.raises(VerificationError, match=r"m_int8.tflite: test MAE at \+30 min 0.06000 is 20.0% above"):
        check_mae(rep, "int8", "m_int8.tflite")
    rep["per_horizon"][1]["mae"] = 0.052
    check_mae(rep, "int8", "m_int8.tflite")
    assert rep["per_horizon"][1]["mae_increase"] == pytest.approx(0.04)


# -- the device: time columns, forecasts and scores of every horizon -------------------------------------------------

class _Collect:
    """A sink that keeps the results and warnings."""

    def __init__(self):
        self.results, self.warnings = [], []

    def note(self, m):
        pass

    def warn(self, m):
        self.warnings.append(m)

    def result(self, r):
        self.results.append(r)


def _replay(path: Path, prep, fill):
    """edge-run's row path (RowParser → Continuity → RollingWindow with the time columns → front end) on ``path`` with
    a stand-in model that forecasts the newest row's value at every horizon; checks that it feeds the model the
    inputs training made, bit for bit, filled rows included. Returns (results, summary)."""
    from edgekit.edge.pipeline.loop import run_stream
    from edgekit.edge.sources.rows import open_rows_source

    spec = Spec.from_json(prep.spec.to_json())
    fed = {}

    def newest(x):
        fed[len(fed)] = x.copy()
        return np.repeat(x[:, -1, :1], len(spec.target.get("horizons") or [1]), axis=1)
    sink = _Collect()
    s = run_stream(StandIn(spec, newest), open_rows_source(f"csv:{path}"), sink)
    by_from = {r["from"]: fed[i][0] for i, r in enumerate(sink.results)}
    parts = ("train", "val", "test")
    ahead = (fe.rows.horizon_rows(spec) or [1])[0]
    origins = [format_time(t - ahead * STEP) for t in np.concatenate([prep.target_times[p] for p in parts])]
    trained = np.concatenate([prep.inputs(p) for p in parts])
    shared = [i for i, o in enumerate(origins) if o in by_from]       # windows ending in a real row
    assert len(shared) > 500 and (fill is None) == (len(shared) == len(origins))
    np.testing.assert_array_equal(np.stack([by_from[origins[i]] for i in shared]), trained[shared])
    return sink.results, s


def test_a_next_row_model_with_time_inputs_is_fed_as_trained_and_answers_as_today(tmp_path):
    from edgekit.train.traffic import load_detector_csv, prepare

    path = _feed(tmp_path)
    prep = prepare(load_detector_csv(path), look_back=12, time={"day": 1})
    assert prep.spec.input_shape == (12, 3) and "horizons" not in prep.spec.target
    res, s = _replay(path, prep, None)
    assert "forecasts" not in res[0] and "by_horizon" not in s and s["scored"] == s["forecasts"] - 4
    assert s["mae"] == pytest.approx(s["persistence"]["mae"], abs=1e-3)


@pytest.mark.parametrize("fill", [None, "linear"])
def test_the_device_feeds_the_windows_training_forms_and_scores_each_horizon(tmp_path, fill):
    """The device's inputs are training's (:func:`_replay`); its stand-in persistence forecasts are scored against
    the row each horizon later, on every window whose row came without a gap between."""
    from edgekit.edge.tasks.traffic import TrafficTask
    from edgekit.train.traffic import load_detector_csv, make_windows, prepare

    path = _feed(tmp_path)
    ds = load_detector_csv(path)
    prep = prepare(ds, look_back=12, horizons=[5, 15], time={"day": 2, "week": 1}, profile=True, fill=fill,
                   max_fill_rows=3)
    res, s = _replay(path, prep, fill)
    assert s["horizons"] == [5, 15] and set(s["by_horizon"]) == {"5", "15"}
    assert all(set(r["forecasts"]) == {"5", "15"} and r["forecast"] == r["forecasts"]["5"] for r in res)
    assert res[0]["t"] == format_time(_t(res[0]["from"].replace(" 0:", " 00:")) + STEP)
    at = {r["from"]: r for r in res}
    for m in ("5", "15"):
        errors = []
        for r in res:
            e = r["errors"][m]
            made = at.get(format_time(_t(r["from"]) - int(m) * 60))
            if e is not None:
                assert r["actual"] is not None and e == pytest.approx(r["actual"] - made["forecasts"][m], abs=1e-5)
                errors.append(e)
        h = s["by_horizon"][m]
        assert h["mae"] == pytest.approx(np.mean(np.abs(errors)), abs=1e-5) and h["scored"] >= len(errors)
        assert h["mae"] == pytest.approx(h["persistence"]["mae"], abs=1e-3)       # the stand-in is persistence
        if fill is None:        # every forecast whose row came in the same segment, and only those
            series = assemble(ds.times, ds.matrix(["Speed"]))
            assert h["scored"] == len(make_windows(series, 12, 0, [0], ahead=[int(m) // 5])[0])
    assert (s["scored"], s["mae"]) == (s["by_horizon"]["5"]["scored"], s["by_horizon"]["5"]["mae"])
    # the text lines: every horizon's forecast, then the errors of the forecasts made for the row that came
    task = TrafficTask()
    line = task.format_result(next(r for r in res if r["errors"]["15"] is not None))
    assert "forecast +5 min" in line and "+15 min" in line and "| actual" in line and "(errors +5 min" in line
    head, _ = task.format_summary({**s, "source": "csv", "model": "m", "backend": "b", "precision": "float32"})
    assert any(x.startswith("  +15 min") and "persistence: MAE" in x for x in head)


# -- end to end: train → convert → verify → edge-run, compare, bench ---------------------------------------------

@pytest.fixture(scope="module")
def horizons_run(tmp_path_factory):
    """6 synthetic days with 2 gaps, a look-back-24 forecaster of +15 and +30 min (``edgekit train traffic
    --horizons 15,30``, in this process), TFLite float32 and int8 (``edgekit convert``)."""
    pytest.importorskip("tensorflow")
    from edgekit.convert.export import convert_run
    from edgekit.train.traffic import train_traffic
    from edgekit.train.traffic_data import drop_gaps, synthetic_traffic, write_traffic_csv

    d = tmp_path_factory.mktemp("horizons")
    write_traffic_csv(d / "feed.csv", drop_gaps(synthetic_traffic(6, 3), 2, 3))
    log: list[str] = []
    train_traffic(d / "run", data=str(d / "feed.csv"), look_back=24, horizons="15,30", epochs=3, seed=1, verbose=0,
                  log=log.append)
    reports = {p: convert_run(d / "run", "tflite", p, log=log.append) for p in ("float32", "int8")}
    return d, "\n".join(log), reports


def test_metrics_hold_every_baseline_per_horizon(horizons_run):
    from edgekit.train.traffic_horizons import unit_errors

    d, log, _ = horizons_run
    m = json.loads((d / "run" / "metrics.json").read_text())
    assert m["horizons"] == [15, 30] and m["arch"] == "forecaster" and set(m["by_horizon"]) == {"15", "30"}
    assert "+15 min: MAE" in log and "course Conv1D" in log and "historical average (time of week)" in log
    spec = Spec.load(d / "run")
    with np.load(d / "run" / "test.npz") as z:
        x, y = z["x"], z["y"]
    true = fe.denormalize(y.astype(np.float64), spec.target["scaling"])
    t_test = _t(m["test_from"])
    times, values, _ = read_rows(str(d / "feed.csv"), ["Speed"])
    before = times < t_test
    origins = [_t(f) for f in _test_origins(d, spec, len(x))]
    for j, (h, r) in enumerate(m["by_horizon"].items()):
        for name in ("model", "persistence", "historical_average", "historical_average_day", "course_cnn"):
            assert r[name]["mae"] > 0 and r[name]["rmse"] >= r[name]["mae"] and r[name]["mape"] > 0, name
        # persistence: the window's last row; the day's average: the same time of day before the test split (the
        # week's has slots no earlier row fills in 6 days: interpolated, tested on its own above)
        persist = unit_errors(x[:, -1, 0].astype(np.float64), true[:, j])          # (x is kept as float32)
        assert r["persistence"] == pytest.approx(persist, rel=1e-6)
        slots = {}
        for t, v in zip(times[before], values[before, 0]):
            slots.setdefault(int(t % 86400 // 300), []).append(v)
        ha = np.array([np.mean(slots[int((t + r["rows_ahead"] * STEP) % 86400 // 300)]) for t in origins])
        assert r["historical_average_day"]["mae"] == pytest.approx(np.mean(np.abs(ha - true[:, j])), rel=1e-6)


def _test_origins(d: Path, spec: Spec, n: int) -> list[str]:
    """The newest row's time of each recorded test window (the last ``n`` windows training formed)."""
    from edgekit.train.traffic import load_detector_csv, prepare
    p = prepare(load_detector_csv(d / "feed.csv"), look_back=spec.window, horizons=spec.target["horizons"],
                time=spec.features["time"], profile=True)
    assert len(p.x["test"]) == n
    return [format_time(t - 3 * STEP) for t in p.target_times["test"]]


def test_a_spec_whose_horizons_are_not_the_model_outputs_is_refused(horizons_run):
    from edgekit.edge.model.model import Model

    d, _, _ = horizons_run
    path = d / "run" / "traffic_float32.tflite"
    spec = Model(path).spec
    three = spec.with_(target={**spec.target, "horizons": [15, 30, 60]})
    with pytest.raises(EdgekitError, match="the model has 2 outputs but the spec names 3 forecast horizons"):
        Model(path).set_spec(three, "spec.json")


def test_convert_verifies_each_horizon(horizons_run, capsys):
    from edgekit.convert.export import print_report

    _, _, reports = horizons_run
    print_report(reports["int8"])
    assert "per horizon: +15 min MAE" in capsys.readouterr().out
    for precision, rep in reports.items():
        assert [h["horizon_minutes"] for h in rep["per_horizon"]] == [15, 30]
        limit = 1e-4 if precision == "float32" else 0.05
        assert all(h["mae_increase"] <= limit for h in rep["per_horizon"]), rep["per_horizon"]


def _keras_forecasts(d: Path) -> dict[str, list[float]]:
    """Keras's forecasts (km/h) for every window the device can form, keyed by the newest row's time."""
    import keras

    spec = Spec.load(d / "run")
    t, v, _ = read_rows(str(d / "feed.csv"), spec.features["columns"])
    s = assemble(t, v, step_seconds=STEP)
    rows = np.concatenate([s.values, time_values(s.times, spec.features, STEP)], axis=1)
    ends = s.window_ends(spec.window)
    windows = np.stack([rows[i - spec.window + 1:i + 1] for i in ends])
    model = keras.models.load_model(d / "run" / "model.keras", compile=False)
    y = np.asarray(model(fe.build(spec)(windows), training=False), np.float64)
    km_h = fe.denormalize(y, spec.target["scaling"])
    return {format_time(s.times[i]): list(f) for i, f in zip(ends, km_h)}


def test_edge_run_forecasts_every_horizon_as_keras_does(horizons_run):
    d, _, _ = horizons_run
    p = run(bin_path("edge-run"), "--model", str(d / "run" / "traffic_float32.tflite"), "--source",
            f"csv:{d / 'feed.csv'}", "--json")
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    res, s = lines[:-1], lines[-1]["summary"]
    keras_f = _keras_forecasts(d)
    assert [r["from"] for r in res] == list(keras_f)
    got = np.array([[r["forecasts"]["15"], r["forecasts"]["30"]] for r in res])
    assert np.abs(got - np.array(list(keras_f.values()))).max() < 2e-4
    assert s["gaps"] == 2 and s["resets"] == 2 and set(s["by_horizon"]) == {"15", "30"}
    assert s["by_horizon"]["30"]["scored"] < s["by_horizon"]["15"]["scored"] < s["forecasts"]
    warnings = [w for w in p.stderr.splitlines() if w.startswith("warning:")]
    assert len(warnings) == 2 and all("window reset" in w for w in warnings)


def test_edge_run_text_shadow_compare_bench_and_info(horizons_run, tmp_path):
    d, _, _ = horizons_run
    f32, i8 = str(d / "run" / "traffic_float32.tflite"), str(d / "run" / "traffic_int8.tflite")
    lines = (d / "feed.csv").read_bytes().split(b"\r\n")[:80]
    lines[40] = lines[40].replace(b",", b";", 2)                                  # a malformed row
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\r\n".join(lines) + b"\r\n")
    p = run(bin_path("edge-run"), "--model", i8, "--source", f"csv:{bad}", "--shadow", f32)
    out = p.stdout.splitlines()
    assert "forecast +15 min" in out[0] and "+30 min" in out[0] and "[shadow" in out[0]
    assert "line 41: the row has 5 fields" in p.stderr and "1 malformed rows; 1 gaps" in p.stdout
    assert any(x.startswith("  +30 min") and "MAE" in x for x in out)
    p = run(bin_path("edge-run"), "--model", i8, "--source", f"csv:{bad}", "--shadow", f32, "--json")
    first = json.loads(p.stdout.splitlines()[0])
    assert len(first["shadow"]["values"]) == 2 and first["shadow"]["delta"] >= 0
    rep = json.loads(run(bin_path("edgekit"), "compare", f32, i8, "--runs", "5", "--json").stdout)
    assert all(set(r["by_horizon"]) == {"15", "30"} for r in rep["rows"])
    h = rep["rows"][1]["by_horizon"]["30"]
    assert h["mae_physical"] > 0 and h["rmse_physical"] >= h["mae_physical"]
    table = run(bin_path("edgekit"), "compare", f32, i8, "--runs", "5").stdout
    assert "+15 min" in table and "+30 min" in table
    b = json.loads(run(bin_path("edgekit"), "bench", i8, "--runs", "5", "--json").stdout)
    assert "forecasts 15, 30 min ahead" in b["what"] and b["input_shape"] == [24, 10]
    info = run(bin_path("edgekit"), "info", i8).stdout
    assert "forecasts 15, 30 min ahead" in info and "... 288 values" in info
