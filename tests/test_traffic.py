"""Issue 5: traffic speed forecasting — data, windows, gaps, scaling, the course model, conversion and the
device's row stream (edge-run --source csv:/stdin)."""
import json
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import bin_path, device_python, run

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.rows import RowParser, column_key, parse_time, read_rows
from edgekit.edge.frontend.rows import Continuity, RollingWindow, assemble, format_time
from edgekit.edge.core.spec import Spec
from edgekit.edge.tasks import checked

HEADERS = {"Occ.Rate": "Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate",
           "OccRate": "Date,ToVol,SmVol,MeVol,LaVol,Speed,OccRate"}
# 12 rows, 5 minutes apart, except two rows missing after 0:25 (a 15-minute step to 0:40).
HAND_ROWS = [
    ("2017-04-02 0:00", 43, 34, 9, 0, 50.3, 1.9),
    ("2017-04-02 0:05", 45, 32, 13, 0, 58.9, 1.84),
    ("2017-04-02 0:10", 46, 34, 12, 0, 50.6, 1.87),
    ("2017-04-02 0:15", 45, 36, 9, 0, 50.9, 1.72),
    ("2017-04-02 0:20", 40, 30, 9, 1, 52.0, 1.6),
    ("2017-04-02 0:25", 38, 30, 8, 0, 54.5, 1.5),
    ("2017-04-02 0:40", 30, 25, 5, 0, 60.1, 1.1),
    ("2017-04-02 0:45", 31, 24, 7, 0, 61.0, 1.2),
    ("2017-04-02 0:50", 29, 22, 7, 0, 59.2, 1.0),
    ("2017-04-02 0:55", 27, 20, 6, 1, 62.4, 0.98),
    ("2017-04-02 1:00", 25, 20, 5, 0, 63.0, 0.9),
    ("2017-04-02 1:05", 24, 18, 6, 0, 63.5, 0.95),
]
SPEED = np.array([r[5] for r in HAND_ROWS])


def write_csv(path: Path, rows=HAND_ROWS, header: str = "Occ.Rate", extra: str = "") -> Path:
    lines = [HEADERS[header]] + [",".join(str(v) for v in r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n" + extra).encode())
    return path


# -- the course model ------------------------------------------------------------------------------------

def test_traffic_cnn_is_the_course_model_with_147713_parameters():
    pytest.importorskip("keras")
    from edgekit.train.models import traffic_cnn

    m = traffic_cnn(288, 1)
    assert m.count_params() == 147_713
    assert [type(layer).__name__ for layer in m.layers] == ["Conv1D", "Flatten", "Dense", "Dense"]
    conv = m.layers[0]
    assert conv.filters == 32 and conv.kernel_size == (6,) and conv.padding == "same"
    assert conv.activation.__name__ == "relu" and m.layers[2].units == 16
    assert m.layers[2].activation.__name__ == "relu" and m.layers[3].activation.__name__ == "linear"
    assert m.output_shape == (None, 1)
    assert traffic_cnn(144, 1).count_params() == 6 * 32 + 32 + 144 * 32 * 16 + 16 + 17
    assert traffic_cnn(288, 3).count_params() == 147_713 + 2 * 6 * 32


# -- parsing: training reads a file with the device's row parser -------------------------------------------

@pytest.mark.parametrize("header", ["Occ.Rate", "OccRate"])
def test_hand_made_csv_parses_the_same_in_training_and_on_the_device(tmp_path, header):
    from edgekit.train.traffic import load_detector_csv

    path = write_csv(tmp_path / "d.csv", header=header)
    assert b"\r\n" in path.read_bytes()
    ds = load_detector_csv(path)
    assert list(ds.columns) == ["ToVol", "SmVol", "MeVol", "LaVol", "Speed", "Occ.Rate"]
    assert ds.lines.tolist() == list(range(2, 14))
    t, v, lines = read_rows(str(path), ["Speed", "Occ.Rate", "ToVol"])
    np.testing.assert_array_equal(t, ds.times)
    np.testing.assert_array_equal(v, ds.matrix(["Speed", "Occ.Rate", "ToVol"]))
    assert lines == list(range(2, 14))
    assert np.diff(t).tolist() == [300.0] * 5 + [900.0] + [300.0] * 5
    assert column_key("Occ.Rate") == column_key("OccRate") == "occrate"


def test_device_parser_agrees_with_training_on_vds_csv(shared_data):
    from edgekit.train.traffic import load_detector_csv

    path = shared_data / "vds" / "vds.csv"
    ds = load_detector_csv(path)
    cols = list(ds.columns)
    t, v, _ = read_rows(str(path), cols)
    assert len(t) == len(ds) == 8064
    np.testing.assert_array_equal(t, ds.times)
    np.testing.assert_array_equal(v, ds.matrix(cols))
    assert np.all(np.diff(t) == 300)
    np.testing.assert_array_equal(ds.columns["ToVol"], ds.columns["SmVol"] + ds.columns["MeVol"]
                                  + ds.columns["LaVol"])


@pytest.mark.parametrize("name, content, words", [
    ("empty.csv", "", ["empty.csv", "empty", "line 1"]),
    ("blank.csv", "\r\n\r\n", ["blank.csv", "empty"]),
    ("header_only.csv", HEADERS["Occ.Rate"] + "\r\n", ["header_only.csv", "line 1", "no data rows"]),
    ("no_speed.csv", "Date,ToVol,SmVol,MeVol,LaVol,Occ.Rate\r\n2017-04-02 0:00,43,34,9,0,1.9\r\n",
     ["no_speed.csv", "line 1", "'Speed'", "missing"]),
    ("text.csv", HEADERS["OccRate"] + "\r\n2017-04-02 0:00,43,34,9,0,50.3,1.9\r\n2017-04-02 0:05,45,32,13,0,"
     "fast,1.84\r\n", ["text.csv", "line 3", "'Speed'", "'fast' is not a number"]),
    ("hole.csv", HEADERS["OccRate"] + "\r\n2017-04-02 0:00,43,34,9,0,,1.9\r\n",
     ["hole.csv", "line 2", "'Speed'", "empty"]),
    ("short.csv", HEADERS["OccRate"] + "\r\n2017-04-02 0:00,43,34,9,0\r\n", ["short.csv", "line 2", "'Speed'"]),
    ("long.csv", HEADERS["OccRate"] + "\r\n2017-04-02 0:00,43,34,9,0,50,1,7\r\n",
     ["long.csv", "line 2", "8 fields", "header has 7"]),
    ("date.csv", HEADERS["OccRate"] + "\r\n2017-04-02 0:00,43,34,9,0,50,1\r\n02/04/2017 0:05,43,34,9,0,50,1\r\n",
     ["date.csv", "line 3", "'Date'", "YYYY-MM-DD H:MM"]),
    ("dup.csv", HEADERS["OccRate"] + "\r\n2017-04-02 0:05,43,34,9,0,50,1\r\n2017-04-02 0:05,43,34,9,0,50,1\r\n",
     ["dup.csv", "line 3", "'Date'", "not after"]),
])
def test_malformed_csvs_are_one_line_errors_naming_file_row_and_column(tmp_path, name, content, words):
    from edgekit.train.traffic import load_detector_csv

    path = tmp_path / name
    path.write_bytes(content.encode())
    with pytest.raises(EdgekitError) as e:
        load_detector_csv(path, ["Speed"])
    msg = e.value.message
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_train_traffic_cli_reports_bad_data_in_one_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes((HEADERS["Occ.Rate"] + "\r\n2017-04-02 0:00,43,34,9,0,n/a,1.9\r\n").encode())
    p = run(bin_path("edgekit"), "train", "traffic", "--data", str(path), "--out", str(tmp_path / "o"),
            check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "line 2" in err[0] and "'Speed'" in err[0]
    assert not (tmp_path / "o").exists()


def test_device_parser_skips_and_counts_malformed_rows_with_line_numbers():
    skipped, notes = [], []
    p = RowParser(["Speed"], source="feed", on_skip=lambda line, msg: skipped.append((line, msg)),
                  on_note=notes.append)
    lines = [HEADERS["OccRate"] + "\r\n",
             "2017-04-02 0:00,43,34,9,0,50.3,1.9\r\n",
             "2017-04-02 0:05,43,34,9,0,oops,1.9\r\n",      # line 3: not a number
             "\r\n",                                          # blank: no data, not counted
             "2017-04-02 0:10,43,34,9\r\n",                   # line 5: too few fields
             "2017-04-02 0:1x,43,34,9,0,50,1.9\r\n",          # line 6: bad time
             HEADERS["Occ.Rate"] + "\r\n",                    # line 7: a repeated header
             "2017-04-02 0:15,43,34,9,0,51.5,1.9\r\n"]
    rows = list(p.parse(lines))
    assert [(r.line, float(r.values[0])) for r in rows] == [(2, 50.3), (8, 51.5)]
    assert [line for line, _ in skipped] == [3, 5, 6] and p.skipped == 3 and p.rows == 2
    assert "'Speed'" in skipped[0][1] and "'oops'" in skipped[0][1] and "fields" in skipped[1][1]
    assert any("header line again" in n for n in notes)


def test_device_parser_accepts_a_feed_without_header():
    notes = []
    p = RowParser(["Speed", "Occ.Rate"], on_note=notes.append)
    rows = list(p.parse(["2017-04-02 0:00,43,34,9,0,50.3,1.9", "2017-04-02 0:05,45,32,13,0,58.9,1.84"]))
    assert [r.values.tolist() for r in rows] == [[50.3, 1.9], [58.9, 1.84]]
    assert len(notes) == 1 and "no header" in notes[0]
    with pytest.raises(EdgekitError, match="'Speed' is missing"):
        list(RowParser(["Speed"], source="x.csv").parse(["Date,ToVol,Occ.Rate", "2017-04-02 0:00,1,2"]))


# -- windows and gaps ---------------------------------------------------------------------------------------

def test_windows_never_span_a_gap_without_fill(tmp_path):
    from edgekit.train.traffic import load_detector_csv, make_windows

    ds = load_detector_csv(write_csv(tmp_path / "d.csv", header="OccRate"))
    s = assemble(ds.times, ds.matrix(["Speed"]))
    assert len(s.gaps) == 1 and s.gaps[0]["missing"] == 2 and not s.gaps[0]["filled"]
    assert s.gaps[0]["line"] == 8 and s.gaps[0]["after"].endswith("00:25")
    assert s.real.all() and s.segment_start.tolist() == [0] * 6 + [6] * 6
    x, y, last, ends = make_windows(s, 3, 0, [0])
    # segment 1: rows 0-5 → targets 3, 4, 5; segment 2: rows 6-11 → targets 9, 10, 11
    assert ends.tolist() == [3, 4, 5, 9, 10, 11]
    np.testing.assert_array_equal(y, SPEED[[3, 4, 5, 9, 10, 11]])
    np.testing.assert_array_equal(x[:, :, 0], SPEED[[[0, 1, 2], [1, 2, 3], [2, 3, 4], [6, 7, 8], [7, 8, 9],
                                                       [8, 9, 10]]])
    np.testing.assert_array_equal(last, x[:, -1, 0])


def test_fill_linear_fills_short_gaps_and_filled_rows_are_never_targets(tmp_path):
    from edgekit.train.traffic import make_windows

    t, v, _ = read_rows(str(write_csv(tmp_path / "d.csv")), ["Speed"])
    s = assemble(t, v, fill="linear", max_fill_rows=2)
    assert len(s.times) == 14 and (~s.real).sum() == 2 and s.gaps[0]["filled"]
    np.testing.assert_allclose(s.values[6:8, 0], [54.5 + (60.1 - 54.5) / 3, 54.5 + 2 * (60.1 - 54.5) / 3])
    assert np.all(np.diff(s.times) == 300)
    x, y, _, ends = make_windows(s, 3, 0, [0])
    assert s.real[ends].all() and len(ends) == 14 - 3 - 2          # every real row after the first 3
    prev = assemble(t, v, fill="previous", max_fill_rows=2)
    assert prev.values[6:8, 0].tolist() == [54.5, 54.5]
    # a gap longer than max_fill_rows still restarts the window
    too_long = assemble(t, v, fill="linear", max_fill_rows=1)
    assert too_long.real.all() and not too_long.gaps[0]["filled"] and too_long.segment_start[-1] == 6


@pytest.mark.parametrize("fill, max_fill", [(None, 12), ("linear", 3), ("previous", 12)])
def test_device_rolling_window_forms_the_windows_training_forms(fill, max_fill):
    """Row by row (Continuity + RollingWindow, as edge-run) = all at once (assemble, as training)."""
    rng = np.random.default_rng(4)
    steps = rng.choice([1] * 20 + [2, 3, 6], size=400)
    t = np.cumsum(steps) * 300.0
    v = rng.normal(size=(400, 2))
    look_back = 5
    s = assemble(t, v, fill=fill, max_fill_rows=max_fill)
    expected = [s.values[i - look_back + 1:i + 1] for i in s.window_ends(look_back) if s.real[i]]
    cont, win, got = Continuity(300, fill, max_fill), RollingWindow(look_back, 2), []
    for ti, vi in zip(t, v):
        kind, _, filled = cont.advance(ti, vi)
        if kind == "gap":
            win.reset()
        for r in (filled if filled is not None else []):
            win.push(r)
        win.push(vi)
        if win.full:
            got.append(win.window().copy())
    assert len(got) == len(expected) > 100
    np.testing.assert_array_equal(np.array(got), np.array(expected))


def test_rolling_window_keeps_the_last_rows():
    w = RollingWindow(3, 1)
    for i in range(20):
        w.push(np.array([i]))
        if i >= 2:
            assert w.window()[:, 0].tolist() == [i - 2, i - 1, i]
    w.reset()
    assert not w.full


# -- split and scaling --------------------------------------------------------------------------------------

def test_split_is_chronological_and_the_scaler_is_fitted_on_training_rows_only():
    from edgekit.train.traffic import DetectorData, prepare

    n = 1000
    t = np.arange(n) * 300.0
    speed = 50 + 10 * np.sin(np.arange(n) / 20.0)
    speed[-200:] += 40                                        # the test part leaves the training range
    ds = DetectorData("test", t, {"Speed": speed, "ToVol": np.arange(n, dtype=float)}, np.arange(n) + 2)
    p = prepare(ds, look_back=10, target="Speed", features="ToVol")
    assert p.columns == ["Speed", "ToVol"] and p.spec.input_shape == (10, 2)
    assert len(p.x["test"]) == 200 and len(p.x["val"]) == 100 and len(p.x["train"]) == 700 - 10
    tt = p.target_times
    assert tt["train"].max() < tt["val"].min() and tt["val"].max() < tt["test"].min()
    assert tt["test"].min() == t[800]                          # test = the last 20 % of the rows
    train_rows = slice(0, 700)
    assert p.spec.normalization["min"] == [speed[train_rows].min(), 0.0]
    assert p.spec.normalization["max"] == [speed[train_rows].max(), 699.0]
    assert p.spec.target["scaling"] == {"type": "minmax", "min": speed[train_rows].min(),
                                        "max": speed[train_rows].max()}
    assert p.y["train"].min() >= 0 and p.y["train"].max() <= 1 and p.y["test"].max() > 1.5
    # the windows are raw; the front end scales them with the spec's scaler
    feats = fe.build(p.spec)(p.x["test"][:4])
    np.testing.assert_allclose(feats[..., 1], (p.x["test"][:4, :, 1]) / 699.0, rtol=1e-6)
    again = Spec.from_json(p.spec.to_json())
    assert again.features["columns"] == ["Speed", "ToVol"] and again.target["units"] == "km/h"


def test_rows_spec_is_validated():
    from edgekit.train.traffic import DetectorData, prepare

    ds = DetectorData("t", np.arange(100) * 300.0, {"Speed": np.linspace(20, 80, 100)}, np.arange(100) + 2)
    d = prepare(ds, look_back=8).spec.to_dict()
    for change, words in [({"input_shape": [8, 2]}, "input_shape"),
                          ({"features": {**d["features"], "columns": []}}, "features.columns"),
                          ({"features": {**d["features"], "fill": "spline"}}, "features.fill"),
                          ({"normalization": {"type": "minmax", "min": [0, 1], "max": [1, 2]}}, "minmax"),
                          ({"target": {"column": "Speed"}}, "target.scaling")]:
        with pytest.raises(EdgekitError, match=words):
            checked(Spec.from_dict({**d, **change}, source="m.tflite"), "m.tflite")
    with pytest.raises(EdgekitError, match="8 rows"):
        fe.build(Spec.from_dict(d))(np.zeros((2, 7, 1)))


# -- parity: the windows training learns from = what the device feeds the model ------------------------

def _messy_csv(path: Path) -> Path:
    """3 synthetic days (OccRate header) made messy: a 2-row gap, malformed rows of every kind (each
    leaving a 1-row hole), a duplicate and an out-of-order row, a blank line, a 10-row gap, an off-grid
    time, and a repeated header (files concatenated) with another column order and spelling."""
    from edgekit.train.traffic_data import synthetic_traffic, traffic_csv_lines

    header, *rows = traffic_csv_lines(synthetic_traffic(3, 3), "OccRate")
    order = [0, 5, 6, 1, 2, 3, 4]                                  # Date,Speed,Occ.Rate,ToVol,...
    out = [header]
    for i, r in enumerate(rows):
        f = r.split(",")
        if i in (100, 101) or 200 <= i < 210:
            continue                                               # gaps: filled (2 rows) / reset (10 rows)
        if i == 150:
            f[5] = "n/a"                                           # Speed not a number
        elif i == 170:
            f = f[:5]                                              # too few fields
        elif i == 180:
            f[0] = "03/04/2017 " + f[0].split()[1]                 # a time in another format
        elif i == 400:
            f[0] = f[0][:-2] + f"{int(f[0][-2:]) + 2:02d}"        # 2 minutes off the 5-minute grid
        elif i == 500:
            f.append("7")                                          # one field too many
        elif i == 600:
            f[6] = "nan"                                           # Occ.Rate not a number
        if i == 300:
            out.append("Date,Speed,Occ.Rate,ToVol,SmVol,MeVol,LaVol")
        if i >= 300:
            f = [f[k] for k in order] if len(f) == 7 else f
        out.append(",".join(f))
        if i == 185:
            out.append("")                                         # a blank line: no data
        if i == 190:
            out.append(out[-1])                                    # the same row again
        if i == 195:
            out.append(rows[120])                                  # a row from the past
    path.write_bytes(("\r\n".join(out) + "\r\n").encode())
    return path


def _device_examples(path: Path, spec: Spec):
    """Replay a CSV as edge-run does, from the device's parts (RowParser → Continuity → RollingWindow →
    fe.build(spec)), and pair each window with the row after it. Returns (examples, skipped lines, gaps);
    an example is (model input, fed: whether edge-run feeds this window to the model, the next row's
    target value, its time). A window whose newest row was filled in is not fed (edge-run forecasts only
    when a real row arrives), but its rolling window holds it then; it is what ``fed=False`` records."""
    feat = spec.features
    columns, target = feat["columns"], spec.target["column"]
    wanted = columns + ([target] if target not in columns else [])
    t_idx, n = wanted.index(target), len(columns)
    skipped = []
    parser = RowParser(wanted, date_column=feat["date_column"], date_format=feat["date_format"],
                       source=str(path), on_skip=lambda line, msg: skipped.append(line))
    cont = Continuity(feat["step_seconds"], feat["fill"], feat["max_fill_rows"])
    window, front = RollingWindow(spec.window, n), fe.build(spec)
    pushes, gaps = [], 0                     # (input or None, real, target value, time); None: a reset
    with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        for row in parser.parse(f):
            prev_t = cont.last_t
            kind, _, filled = cont.advance(row.t, row.values)
            if kind == "back":
                skipped.append(row.line)
                continue
            gaps += kind in ("gap", "fill")
            if kind == "gap":
                window.reset()
                pushes.append(None)
            for j, r in enumerate(filled if filled is not None else []):
                window.push(r[:n])
                pushes.append((front(window.window()) if window.full else None, False, r[t_idx],
                               prev_t + (j + 1) * cont.step))
            window.push(row.values[:n])
            pushes.append((front(window.window()) if window.full else None, True, row.values[t_idx], row.t))
    examples = [(a[0], a[1], b[2], b[3]) for a, b in zip(pushes, pushes[1:])
                if a is not None and b is not None and a[0] is not None and b[1]]
    return examples, sorted(skipped), gaps


@pytest.mark.parametrize("fill, max_fill", [(None, 12), ("linear", 3), ("previous", 3)])
def test_training_windows_are_what_the_device_feeds_the_model(tmp_path, fill, max_fill):
    """Raw rows → front end → model input: training (load_detector_csv → prepare → Prepared.inputs) and the
    device's row by row path give the same float32 arrays, bit for bit, on a CSV with gaps (filled and
    resetting), malformed rows and a repeated header; so do the targets and the skipped rows."""
    from edgekit.train.traffic import load_detector_csv, needed_columns, prepare

    path = _messy_csv(tmp_path / "messy.csv")
    with pytest.raises(EdgekitError, match=r"messy.csv: line 150: column 'Speed': 'n/a' is not a number"):
        load_detector_csv(path, ["Speed", "Occ.Rate"])               # by default a malformed row stops training
    ds = load_detector_csv(path, needed_columns("Speed", "Occ.Rate"), malformed="skip")
    prep = prepare(ds, look_back=12, target="Speed", features="Occ.Rate", fill=fill, max_fill_rows=max_fill)
    spec = Spec.from_json(prep.spec.to_json())                       # as the device loads it
    examples, skipped, gaps = _device_examples(path, spec)

    parts = ("train", "val", "test")
    assert all(len(prep.x[p]) for p in parts)
    got = np.concatenate([prep.inputs(p) for p in parts])
    assert got.dtype == np.float32 and got.shape[1:] == (12, 2)
    np.testing.assert_array_equal(got, np.stack([e[0] for e in examples]))
    np.testing.assert_array_equal(np.concatenate([prep.target_times[p] for p in parts]), [e[3] for e in examples])
    tscale = spec.target["scaling"]
    np.testing.assert_array_equal(np.concatenate([prep.y[p] for p in parts]),
                                  np.asarray(fe.normalize(np.array([e[2] for e in examples]), tscale), np.float32))
    # the same rows skipped (5 malformed, a duplicate, one out of order) and the same gaps
    assert [line for line, _ in ds.skipped] == skipped and len(skipped) == 7
    assert any("header line again" in note for note in ds.notes)
    assert len(prep.series.gaps) == gaps
    fed = sum(e[1] for e in examples)
    assert fed > 600
    if fill:      # training also learns from windows ending in a filled row (the device holds, not feeds, them)
        assert len(examples) - fed == sum(g["filled"] for g in prep.series.gaps) > 0
    else:
        assert fed == len(examples)


def test_train_traffic_cli_skip_malformed_counts_what_it_skips(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes((HEADERS["Occ.Rate"] + "\r\n2017-04-02 0:00,43,34,9,0,n/a,1.9\r\n").encode())
    p = run(bin_path("edgekit"), "train", "traffic", "--data", str(path), "--skip-malformed", "--out",
            str(tmp_path / "o"), check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "no data rows" in err[0] and "1 malformed row(s) skipped" in err[0], p.stderr
    assert "line 2: column 'Speed': 'n/a' is not a number" in err[0]


# -- end to end: train → convert → edge-run ---------------------------------------------------------------

LOOK_BACK = 24


@pytest.fixture(scope="module")
def traffic_run(tmp_path_factory):
    """6 synthetic days with 3 gaps (OccRate header), a tiny look-back-24 model, TFLite float32 and int8."""
    pytest.importorskip("tensorflow")
    d = tmp_path_factory.mktemp("traffic")
    run(bin_path("edgekit"), "data", "synth", "traffic", "--days", "6", "--seed", "2", "--gaps", "3",
        "--header", "OccRate", "--out", str(d / "feed.csv"))
    run(bin_path("edgekit"), "train", "traffic", "--data", str(d / "feed.csv"), "--look-back", str(LOOK_BACK),
        "--epochs", "3", "--seed", "1", "--out", str(d / "run"))
    reports = {}
    for precision in ("float32", "int8"):
        p = run(bin_path("edgekit"), "convert", str(d / "run"), "--to", "tflite", "--precision", precision,
                "--json")
        reports[precision] = json.loads(p.stdout)
    return d, reports


def _edge_run_json(*args, **kw):
    p = run(bin_path("edge-run"), *args, "--json", **kw)
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    return lines[:-1], lines[-1]["summary"], p


def _keras_forecasts(d: Path) -> dict[str, float]:
    """Keras's forecast (km/h) for every window the device can form, keyed by the time forecast."""
    import keras

    spec = Spec.load(d / "run")
    t, v, _ = read_rows(str(d / "feed.csv"), spec.features["columns"])
    s = assemble(t, v, step_seconds=spec.features["step_seconds"])
    ends = s.window_ends(spec.window)
    windows = np.stack([s.values[i - spec.window + 1:i + 1] for i in ends])
    model = keras.models.load_model(d / "run" / "model.keras", compile=False)
    y = model.predict(fe.build(spec)(windows), verbose=0).reshape(-1)
    km_h = fe.denormalize(y.astype(np.float64), spec.target["scaling"])
    return {format_time(s.times[i] + 300): float(f) for i, f in zip(ends, km_h)}


@pytest.mark.slow
def test_train_writes_metrics_with_persistence(traffic_run):
    d, _ = traffic_run
    m = json.loads((d / "run" / "metrics.json").read_text())
    assert m["parameters"] == 6 * 32 + 32 + LOOK_BACK * 32 * 16 + 16 + 17
    for k in ("test_mse", "test_mae", "test_rmse", "test_mae_units", "test_rmse_units"):
        assert m[k] > 0 and m["persistence"][k] > 0, k
    assert m["units"] == "km/h" and m["gaps"] == 3 and m["missing_rows"] == 13
    assert abs(m["test_rmse"] ** 2 - m["test_mse"]) < 1e-9
    assert m["beats_persistence"] == (m["test_mse"] < m["persistence"]["test_mse"])
    assert m["n_test"] > 0 and m["test_from"] > m["val_from"]
    spec = Spec.load(d / "run")
    assert spec.task == "traffic" and spec.kind == "regression" and spec.window == LOOK_BACK
    assert spec.features["columns"] == ["Speed"] and spec.target["units"] == "km/h"
    assert spec.sample_rate == pytest.approx(1 / 300)


@pytest.mark.slow
def test_train_skip_malformed_skips_and_counts_the_rows_edge_run_skips(traffic_run, tmp_path):
    d, _ = traffic_run
    lines = (d / "feed.csv").read_bytes().split(b"\r\n")
    lines[30] = lines[30].replace(b",", b";", 2)                                # line 31: 5 fields
    lines[41] = lines[40]                                                       # line 42: a duplicate time
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\r\n".join(lines))
    p = run(bin_path("edgekit"), "train", "traffic", "--data", str(bad), "--skip-malformed", "--look-back",
            str(LOOK_BACK), "--epochs", "1", "--out", str(tmp_path / "run"))
    assert "malformed: 2 row(s) skipped" in p.stdout and "line 31: the row has 5 fields" in p.stdout
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["malformed_rows"] == 2 and m["n_rows"] == 6 * 288 - 13 - 2
    assert json.loads((d / "run" / "metrics.json").read_text())["malformed_rows"] == 0


@pytest.mark.slow
def test_int8_keeps_the_test_mae_within_5_percent(traffic_run):
    _, reports = traffic_run
    f32, i8 = reports["float32"], reports["int8"]
    assert f32["max_abs_diff"] < 1e-5 and abs(f32["mae_increase"]) < 1e-3
    assert i8["mae"] <= 1.05 * f32["mae"], (i8["mae"], f32["mae"])
    assert i8["quantization"]["input"]["dtype"] == "int8"


@pytest.mark.slow
def test_edge_run_csv_forecasts_match_keras(traffic_run):
    d, _ = traffic_run
    keras_f = _keras_forecasts(d)
    lines, summary, p = _edge_run_json("--model", str(d / "run" / "traffic_float32.tflite"),
                                       "--source", f"csv:{d / 'feed.csv'}")
    got = {r["t"]: r["forecast"] for r in lines}
    assert list(got) == list(keras_f) and len(got) == summary["forecasts"] == summary["windows"]
    diff = np.abs(np.array(list(got.values())) - np.array(list(keras_f.values())))
    assert diff.max() < 2e-4, diff.max()                                       # km/h
    assert {"t", "forecast", "actual", "error", "from", "latency_ms"} <= set(lines[0])
    assert {"features", "inference", "total"} <= set(lines[0]["latency_ms"])
    # three gaps: a warning line each, the window restarts
    warnings = [x for x in p.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 3 and all("gap of" in w and "window reset" in w for w in warnings)
    assert summary["gaps"] == 3 and summary["resets"] == 3 and summary["malformed_rows"] == 0
    assert summary["rows"] == 6 * 288 - 13
    # each line scores the previous forecast against the row that arrived; the summary MAE is theirs
    errors = []
    for prev, cur in zip(lines, lines[1:]):
        if cur["from"] == prev["t"]:
            assert cur["actual"] is not None
            assert cur["error"] == pytest.approx(cur["actual"] - prev["forecast"], abs=1e-5)
            errors.append(cur["error"])
        else:
            assert cur["actual"] is None                                       # after a gap
    assert summary["scored"] == len(errors) == summary["forecasts"] - 4        # 3 gaps + the last one
    assert summary["mae"] == pytest.approx(np.mean(np.abs(errors)), abs=1e-5)
    assert summary["rmse"] == pytest.approx(np.sqrt(np.mean(np.square(errors))), abs=1e-5)
    assert summary["persistence"]["mae"] > 0
    lat = summary["latency_ms"]["total"]
    assert lat["n"] == summary["forecasts"] and lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


@pytest.mark.slow
def test_edge_run_int8_is_close_to_keras(traffic_run):
    d, _ = traffic_run
    keras_f = _keras_forecasts(d)
    lines, summary, _ = _edge_run_json("--model", str(d / "run" / "traffic_int8.tflite"),
                                       "--source", f"csv:{d / 'feed.csv'}")
    got = np.array([r["forecast"] for r in lines])
    ref = np.array([keras_f[r["t"]] for r in lines])
    assert len(got) == len(keras_f) and summary["precision"] == "int8"
    spec = Spec.load(d / "run")
    span = spec.target["scaling"]["max"] - spec.target["scaling"]["min"]
    assert np.abs(got - ref).mean() < 0.02 * span                               # < 2 % of the speed range


@pytest.mark.slow
def test_edge_run_text_output_malformed_rows_and_rate(traffic_run, tmp_path):
    d, _ = traffic_run
    model = str(d / "run" / "traffic_float32.tflite")
    lines = (d / "feed.csv").read_bytes().split(b"\r\n")[:61]                  # header + 60 rows
    lines[30] = lines[30].replace(b",", b";", 2)                                # line 31: 5 fields
    fields = lines[40].split(b",")
    fields[5] = b"abc"                                                          # line 41: Speed not a number
    lines[40] = b",".join(fields)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\r\n".join(lines) + b"\r\n")
    p = run(bin_path("edge-run"), "--model", model, "--source", f"csv:{bad}", "--rate", "200")
    warnings = [x for x in p.stderr.splitlines() if x.startswith("warning:")]
    # a skipped row leaves a hole in time: the next row is a gap and restarts the window
    assert len(warnings) == 4, p.stderr
    assert "line 31: the row has 5 fields" in warnings[0] and "row skipped" in warnings[0]
    assert "line 32: gap of 1 missing row" in warnings[1] and "window reset" in warnings[1]
    assert "line 41: column 'Speed': 'abc' is not a number" in warnings[2] and "row skipped" in warnings[2]
    assert "line 42: gap of 1 missing row" in warnings[3]
    out = p.stdout.splitlines()
    assert out[0].startswith("2017-04-02 ") and "forecast" in out[0] and "km/h" in out[0]
    assert "2 malformed rows; 2 gaps" in p.stdout and "summary: " in p.stdout and "MAE" in p.stdout


def test_edge_run_csv_with_undecodable_bytes_skips_that_row(traffic_run, tmp_path):
    """A line of non-UTF-8 bytes (a corrupted export) is one malformed row: reported, skipped, counted."""
    d, _ = traffic_run
    lines = (d / "feed.csv").read_bytes().split(b"\r\n")[:100]
    lines[20] = b"\xff\xfe bad bytes"
    bad = tmp_path / "latin.csv"
    bad.write_bytes(b"\r\n".join(lines) + b"\r\n")
    p = run(bin_path("edge-run"), "--model", str(d / "run" / "traffic_float32.tflite"), "--source",
            f"csv:{bad}", "--quiet", check=False)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert any(w.startswith("warning:") and "line 21" in w and "row skipped" in w for w in p.stderr.splitlines())
    assert "1 malformed row" in p.stdout


def test_bench_real_time_factor_counts_one_row_per_forecast(traffic_run):
    d, _ = traffic_run
    p = run(bin_path("edgekit"), "bench", str(d / "run" / "traffic_float32.tflite"), "--runs", "20",
            "--threads", "1", "--json")
    rep = json.loads(p.stdout)
    r = rep["results"][0]
    assert rep["signal_seconds_per_answer"] == 300.0
    assert r["real_time_factor"] == pytest.approx(300.0 / (r["stages"]["total"]["mean"] / 1e3), rel=1e-2)


@pytest.mark.slow
def test_edge_run_stdin_is_a_live_feed(traffic_run):
    """Rows piped in one by one (``tail -f``) give forecasts before the feed ends; no header is needed."""
    d, _ = traffic_run
    rows = (d / "feed.csv").read_text().splitlines()[1:LOOK_BACK + 3]
    proc = subprocess.Popen([bin_path("edge-run"), "--model", str(d / "run" / "traffic_int8.tflite"),
                             "--source", "stdin", "--json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        for r in rows[:LOOK_BACK]:
            proc.stdin.write(r + "\r\n")
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())           # arrives while stdin is still open
        newest = parse_time(rows[LOOK_BACK - 1].split(",")[0])
        assert first["actual"] is None and first["from"] == format_time(newest)
        assert first["t"] == format_time(newest + 300)
        proc.stdin.write(rows[LOOK_BACK] + "\r\n")
        proc.stdin.flush()
        second = json.loads(proc.stdout.readline())
        assert second["actual"] == float(rows[LOOK_BACK].split(",")[5])
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    summary = json.loads(out.splitlines()[-1])["summary"]
    assert proc.returncode == 0 and summary["source"] == "stdin" and summary["forecasts"] == 2
    assert "no header line" in err


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["--source", "synthetic"], "csv:PATH or stdin"),
    (["--source", "csv:/nonexistent.csv"], "nonexistent.csv"),
    (["--source", "csv:{empty}"], "empty"),
    (["--source", "csv:{short}"], "before one full window"),
    (["--source", "csv:{feed}", "--hop", "1"], "--hop"),
])
def test_edge_run_traffic_bad_input_is_one_line(traffic_run, tmp_path, args, words):
    d, _ = traffic_run
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "short.csv").write_bytes(b"\r\n".join((d / "feed.csv").read_bytes().split(b"\r\n")[:10]))
    args = [a.format(empty=tmp_path / "empty.csv", short=tmp_path / "short.csv", feed=d / "feed.csv")
            for a in args]
    p = run(bin_path("edge-run"), "--model", str(d / "run" / "traffic_int8.tflite"), *args, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], p.stderr


EDGE_RUN = textwrap.dedent("""
    from edgekit.edge.commands.edge_run import main
    main(sys.argv[1:])
""")


@pytest.mark.slow
def test_edge_run_traffic_needs_neither_tensorflow_nor_pandas(traffic_run):
    d, _ = traffic_run
    p = device_python(EDGE_RUN, "--model", str(d / "run" / "traffic_int8.tflite"),
            "--source", f"csv:{d / 'feed.csv'}", "--json")
    assert json.loads(p.stdout.splitlines()[-1])["summary"]["forecasts"] > 1000


@pytest.mark.slow
def test_onnx_float32_and_int8_stream_like_tflite(traffic_run):
    pytest.importorskip("tf2onnx")
    if not (Path(fe.__file__).parents[2] / "convert" / "onnx.py").exists():
        pytest.skip("ONNX export (convert/onnx.py) has not landed")
    d, reports = traffic_run
    for precision in ("float32", "int8"):
        p = run(bin_path("edgekit"), "convert", str(d / "run"), "--to", "onnx", "--precision", precision,
                "--json")
        rep = json.loads(p.stdout)
        assert rep["mae"] <= 1.05 * reports["float32"]["mae"], (precision, rep["mae"])
    keras_f = _keras_forecasts(d)
    lines, summary, _ = _edge_run_json("--model", str(d / "run" / "traffic_float32.onnx"),
                                       "--source", f"csv:{d / 'feed.csv'}")
    got = np.array([r["forecast"] for r in lines])
    assert np.abs(got - np.array([keras_f[r["t"]] for r in lines])).max() < 2e-4
    assert "onnxruntime" in summary["backend"]


def test_rate_paces_data_lines_without_delaying_the_header(monkeypatch):
    """--rate N: data line k is released no earlier than k/N s after the start (a fake clock: no wall time)."""
    from edgekit.edge.tasks import traffic

    now = [0.0]
    sleeps = []
    monkeypatch.setattr(traffic.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(traffic.time, "sleep", lambda d: (sleeps.append(d), now.__setitem__(0, now[0] + d)))
    run = traffic.TrafficRun.__new__(traffic.TrafficRun)
    run.rate, run.t_start = 200.0, 0.0
    out = list(run._paced(iter(["header", "a", "b", "c"])))
    assert out == ["header", "a", "b", "c"]
    assert sleeps == pytest.approx([1 / 200, 1 / 200, 1 / 200])
    run.rate = None
    assert list(run._paced(iter(["x", "y"]))) == ["x", "y"] and len(sleeps) == 3
