"""Bring your own model (issue 26): the course notebook's model (plain Keras on scipy spectrograms) through
``deploy(...)`` to int8 TFLite and ONNX that edge-run streams on the runtime-only install as Keras answers; ``edgekit
convert MODEL.keras --spec --data``; and every bad input a one-line error that writes nothing."""
import json
import subprocess

import numpy as np
import pytest

from conftest import bin_path, device_python
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.sources.synth import vibration

keras = pytest.importorskip("keras", reason="deploy is the workstation side ([train] extra)")
scipy_signal = pytest.importorskip("scipy.signal", reason="the notebook's features are scipy's")

FS, WINDOW = 12800.0, 10000


def notebook_features(x, noverlap=32, log=True):
    """What the course notebook feeds its CNN: scipy's magnitude spectrogram, log, a channel axis."""
    _, _, s = scipy_signal.spectrogram(x, FS, window=("tukey", 0.25), nperseg=256, noverlap=noverlap,
                                       detrend="constant", scaling="spectrum", mode="magnitude")
    return (np.log(s + 1e-8) if log else s)[..., None]


def notebook_spec(mean, std, **changes):
    spec = {"task": "stft", "kind": "classification", "sample_rate": FS, "window": WINDOW,
            "features": {"type": "spectrogram", "nperseg": 256, "noverlap": 32, "log": True},
            "normalization": {"type": "standard", "mean": mean, "std": std}, "labels": ["A", "B"]}
    spec.update(changes)
    return spec


@pytest.fixture(scope="module")
def notebook():
    """The course notebook, played: synthetic vibration, scipy features, a Sequential CNN fitted with model.fit."""
    x, y = vibration(300, seed=0)
    f = notebook_features(x)
    tr, te = slice(0, 200), slice(200, 300)
    mean, std = float(f[tr].mean()), float(f[tr].std())
    f = (f - mean) / std
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(f.shape[1:]), keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(), keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(f[tr], y[tr], epochs=3, batch_size=32, verbose=0)
    return {"model": model, "x": x, "y": y, "f": f, "tr": tr, "te": te, "spec": notebook_spec(mean, std)}


@pytest.fixture(scope="module")
def deployed(notebook, tmp_path_factory):
    from edgekit.convert import deploy
    nb = notebook
    out = tmp_path_factory.mktemp("deploy") / "run"
    rep = deploy(nb["model"], nb["spec"], calibration=nb["x"][nb["tr"]], test=(nb["x"][nb["te"]], nb["y"][nb["te"]]),
                 out=out, features=nb["f"][nb["te"]], log=None)
    return out, rep


def test_deploy_writes_a_run_directory_and_four_verified_artifacts(deployed, notebook):
    out, rep = deployed
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "model.keras", "spec.json", "test.npz", "calibration.npz", "metrics.json", "stft_float32.tflite",
        "stft_int8.tflite", "stft_float32.onnx", "stft_int8.onnx"])
    assert [(a["format"], a["precision"]) for a in rep["artifacts"]] == [
        ("tflite", "float32"), ("tflite", "int8"), ("onnx", "float32"), ("onnx", "int8")]
    assert all(a["agreement"] >= 0.97 and a["artifact"].startswith(str(out)) for a in rep["artifacts"])
    assert rep["features"]["max_abs_diff"] <= rep["features"]["tolerance"]
    assert rep["keras"]["accuracy"] >= 0.9
    spec = json.loads((out / "spec.json").read_text())
    assert spec["features"]["detrend"] == "constant" and spec["input_shape"] == [129, 44, 1]   # filled in
    assert len(spec["model_sha256"]) == 64
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] == rep["keras"]["accuracy"]
    assert oct(out.stat().st_mode & 0o777) != "0o700"        # not mkdtemp's private mode


@pytest.mark.parametrize("name", ["stft_int8.tflite", "stft_int8.onnx"])
def test_int8_artifacts_stream_as_keras_answers_on_the_runtime_only_install(deployed, notebook, tmp_path, name):
    """The notebook's test windows, as a course pickle, through edge-run without TensorFlow, Keras or scipy: within
    1 pp of Keras's accuracy on the same windows."""
    from edgekit.train.datasets import SignalDataset, save_course_pickle
    out, rep = deployed
    nb = notebook
    x, y = nb["x"][nb["te"]], nb["y"][nb["te"]]
    save_course_pickle(tmp_path / "test.pkl", SignalDataset(x, y, ("A", "B"), FS, "notebook"))
    p = device_python("""
        import sys
        from edgekit.edge.commands.edge_run import main
        main(sys.argv[1:])
    """, "--model", str(out / name), "--source", f"pkl:{tmp_path / 'test.pkl'}", "--json")
    lines = [json.loads(s) for s in p.stdout.splitlines()]
    results = [r for r in lines if "label" in r]
    assert len(results) == len(x)
    keras_pred = np.asarray(nb["model"](nb["f"][nb["te"]], training=False)).argmax(1)
    device = np.array([["A", "B"].index(r["label"]) for r in results])
    keras_acc, device_acc = float((keras_pred == y).mean()), float((device == y).mean())
    assert abs(device_acc - keras_acc) <= 0.01, (device_acc, keras_acc)
    assert (device == keras_pred).mean() >= 0.97


def test_convert_keras_file_from_the_shell(notebook, tmp_path):
    from edgekit.train.datasets import SignalDataset, save_course_pickle
    nb = notebook
    nb["model"].save(tmp_path / "model.keras")
    (tmp_path / "spec.json").write_text(json.dumps(nb["spec"]))
    save_course_pickle(tmp_path / "test.pkl", SignalDataset(nb["x"][nb["te"]], nb["y"][nb["te"]], ("A", "B"), FS, "nb"))
    p = subprocess.run([bin_path("edgekit"), "convert", str(tmp_path / "model.keras"), "--spec",
                        str(tmp_path / "spec.json"), "--data", str(tmp_path / "test.pkl"), "--to", "tflite",
                        "--precision", "int8", "-o", str(tmp_path / "out"), "--json"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert [a["artifact"] for a in rep["artifacts"]] == [str(tmp_path / "out" / "stft_int8.tflite")]
    assert "calibrated on 33 windows" in p.stderr and rep["n_test"] == 67
    p = subprocess.run([bin_path("edgekit"), "compare", str(tmp_path / "out" / "model.keras"),
                        str(tmp_path / "out" / "stft_int8.tflite"), "--runs", "3"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "stft_int8.tflite" in p.stdout, p.stderr


@pytest.mark.parametrize("args, message", [
    (["--data", "{tmp}/test.pkl"], "a Keras model file needs --spec SPEC.json"),
    (["--spec", "{tmp}/spec.json"], "needs --data DATA"),
    (["--spec", "{tmp}/spec.json", "--data", "{tmp}/test.pkl", "--precision", "dynamic"],
     "--precision must be some of float32, int8, got dynamic"),
    (["--spec", "{tmp}/spec.json", "--data", "{tmp}/test.pkl", "--to", "tflite", "--opset", "17"],
     "--opset applies only to --to onnx"),
])
def test_convert_keras_file_bad_flags(notebook, tmp_path, args, message):
    from edgekit.train.datasets import SignalDataset, save_course_pickle
    nb = notebook
    nb["model"].save(tmp_path / "model.keras")
    (tmp_path / "spec.json").write_text(json.dumps(nb["spec"]))
    save_course_pickle(tmp_path / "test.pkl", SignalDataset(nb["x"][:4], nb["y"][:4], ("A", "B"), FS, "nb"))
    before = sorted(p.name for p in tmp_path.iterdir())
    p = subprocess.run([bin_path("edgekit"), "convert", str(tmp_path / "model.keras"),
                        *[a.format(tmp=tmp_path) for a in args]], capture_output=True, text=True, timeout=600)
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(err) == 1 and message in err[0], p.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _deploy(nb, out, **changes):
    from edgekit.convert import deploy
    args = dict(calibration=nb["x"][:50], test=(nb["x"][nb["te"]], nb["y"][nb["te"]]), out=out, log=None,
                formats=("tflite",), precisions=("float32",))
    args.update(changes)
    model = args.pop("model", nb["model"])
    spec = args.pop("spec", nb["spec"])
    return deploy(model, spec, **args)


def _spec_without(nb, *keys):
    return {k: v for k, v in nb["spec"].items() if k not in keys}


@pytest.mark.parametrize("change, message", [
    (lambda nb: {"spec": _spec_without(nb, "sample_rate", "labels")}, "missing field(s) sample_rate, labels"),
    (lambda nb: {"spec": {**nb["spec"], "features": {"nperseg": 256}}}, "missing field(s) features.type"),
    (lambda nb: {"spec": {**nb["spec"], "labels": ["A", "B", "C"]}}, "3 labels (A, B, C) but the model has 2 outputs"),
    (lambda nb: {"spec": {**nb["spec"], "window": 12000}},
     "the front end gives [129, 53, 1] (spectrogram of a 12000-sample window) but the model takes [129, 44, 1]"),
    (lambda nb: {"test": (nb["x"][:10, :8000], nb["y"][:10])},
     "test: windows of shape [8000], but the spec's window is [10000] (10000 samples)"),
    (lambda nb: {"test": (nb["f"][:10], nb["y"][:10])}, "these look like features"),
    (lambda nb: {"test": (nb["x"][:10], nb["y"][:9])}, "test: 10 windows but 9 targets"),
    (lambda nb: {"test": (nb["x"][:10], np.full(10, 5))}, "target(s) outside the model's 2 classes"),
    (lambda nb: {"precisions": ("int8",), "calibration": None}, "int8 needs calibration=raw_training_windows"),
    (lambda nb: {"model": "nothing.keras"}, "nothing.keras: no such file"),
    (lambda nb: {"model": "model.tflite"}, "for a .tflite/.onnx model use 'edgekit attach"),
    (lambda nb: {"features": notebook_features(nb["x"][200:], noverlap=64)},
     "check the spec's window, features.nperseg, features.noverlap"),
    (lambda nb: {"features": notebook_features(nb["x"][200:], log=False)}, "features.log"),
])
def test_bad_input_is_one_line_and_writes_nothing(notebook, tmp_path, change, message):
    out = tmp_path / "run"
    with pytest.raises(EdgekitError) as e:
        _deploy(notebook, out, **change(notebook))
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_one_hot_labels_and_a_spec_file(notebook, tmp_path):
    nb = notebook
    (tmp_path / "spec.json").write_text(json.dumps(nb["spec"]))
    onehot = np.eye(2)[nb["y"][nb["te"]]]
    rep = _deploy(nb, tmp_path / "run", spec=str(tmp_path / "spec.json"), test=(nb["x"][nb["te"]], onehot))
    assert rep["artifacts"][0]["reference_accuracy"] == rep["keras"]["accuracy"]


def test_out_with_other_files_is_refused_and_a_run_is_replaced(notebook, tmp_path):
    (tmp_path / "mine.txt").write_text("the user's")
    with pytest.raises(EdgekitError, match="a folder with other files in it"):
        _deploy(notebook, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
    _deploy(notebook, tmp_path / "run")
    first = (tmp_path / "run" / "model.keras").stat().st_mtime_ns
    _deploy(notebook, tmp_path / "run")                 # a run edgekit wrote: replaced
    assert (tmp_path / "run" / "model.keras").stat().st_mtime_ns >= first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "run"]     # no staging folder left


def test_unregistered_custom_layer_is_one_line(notebook, tmp_path):
    class Doubler(keras.layers.Layer):          # not registered: Keras cannot rebuild it from the saved file
        def call(self, x):
            return x * 2.0

    nb = notebook
    inp = keras.Input(nb["f"].shape[1:])
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(Doubler()(inp))))
    with pytest.raises(EdgekitError) as e:
        _deploy(nb, tmp_path / "run", model=model)
    assert "custom layer" in str(e.value) and "register_keras_serializable" in str(e.value), str(e.value)
    assert list(tmp_path.iterdir()) == []
