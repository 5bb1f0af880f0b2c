"""Issue 6: MNIST CNNs through train → int8 → device (IDX reader, image front end, images: source)."""
import gzip
import json
import struct
import sys
import textwrap

import numpy as np
import pytest

from conftest import bin_path, run
from edgekit.edge import frontend as fe
from edgekit.edge.formats import idx
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.tasks import checked
from edgekit.train.mnist import make_spec, shift_images
from edgekit.train.splits import stratified_holdout


# -- IDX ------------------------------------------------------------------------------------------------

def _idx_bytes(magic: int, dims, payload: bytes) -> bytes:
    """An IDX file written by hand from the format description (not with write_idx)."""
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload


def write_idx(path, array: np.ndarray, compress: bool | None = None):
    """Write ``array`` as an IDX file (gzipped when ``compress`` or the name ends in .gz)."""
    a = np.asarray(array)
    code = {v.newbyteorder("="): k for k, v in idx.DTYPES.items()}[a.dtype.newbyteorder("=")]
    assert 1 <= a.ndim <= 4
    blob = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + \
        np.ascontiguousarray(a, dtype=idx.DTYPES[code]).tobytes()
    gz = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(blob, mtime=0) if gz else blob)
    return path


def _header(path):
    """(magic, dtype, dims) of an IDX file, without reading its data."""
    with idx._open(path) as f:
        return idx._header(f, path)


PIXELS = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
LABELS = np.array([7, 2], dtype=np.uint8)


@pytest.fixture(params=["raw", "gz"])
def pair(request, tmp_path):
    gz = request.param == "gz"
    suffix = ".gz" if gz else ""
    images = tmp_path / f"tiny-images-idx3-ubyte{suffix}"
    labels = tmp_path / f"tiny-labels-idx1-ubyte{suffix}"
    for path, blob in ((images, _idx_bytes(0x803, (2, 3, 4), PIXELS.tobytes())),
                       (labels, _idx_bytes(0x801, (2,), LABELS.tobytes()))):
        path.write_bytes(gzip.compress(blob) if gz else blob)
    return images, labels


def test_idx_reader_reads_a_hand_made_pair(pair):
    images, labels = pair
    x, y = idx.read_pair(images)          # the labels file is found next to the images
    assert x.shape == (2, 3, 4) and x.dtype == np.uint8
    np.testing.assert_array_equal(x, PIXELS)
    np.testing.assert_array_equal(y, LABELS)
    assert idx.labels_path_for(images) == labels
    assert _header(images)[0] == 0x803 and _header(labels)[2] == (2,)


def test_idx_big_endian_types_round_trip(tmp_path):
    for dtype in (np.int16, np.int32, np.float32, np.float64, np.int8):
        a = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        for name in ("a.idx", "a.idx.gz"):
            back = idx.read_idx(write_idx(tmp_path / name, a))
            assert back.dtype == np.dtype(dtype) and back.dtype.isnative
            np.testing.assert_array_equal(back, a)
    raw = write_idx(tmp_path / "f.idx", np.array([[1.5]], np.float64)).read_bytes()
    assert raw == b"\x00\x00\x0e\x02" + struct.pack(">2I", 1, 1) + struct.pack(">d", 1.5)  # big-endian


def _one_line_error(fn, match):
    with pytest.raises(EdgekitError, match=match) as e:
        fn()
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reader_rejects_corrupt_files(tmp_path, gz):
    def write(name, blob):
        p = tmp_path / (name + (".gz" if gz else ""))
        p.write_bytes(gzip.compress(blob) if gz else blob)
        return p

    good = _idx_bytes(0x803, (2, 3, 4), PIXELS.tobytes())
    bad_magic = write("magic", b"\x01\x02" + good[2:])
    _one_line_error(lambda: idx.read_images(bad_magic), r"not an IDX file \(magic 0x0102")
    bad_type = write("type", b"\x00\x00\x07\x03" + good[4:])
    _one_line_error(lambda: idx.read_images(bad_type), "not an IDX file")
    truncated = write("truncated", good[:-5])
    _one_line_error(lambda: idx.read_images(truncated), r"truncated IDX file: .* needs 24 bytes, only 19")
    short_header = write("header", good[:9])
    _one_line_error(lambda: idx.read_images(short_header), "truncated IDX file: the dimensions")
    longer = write("longer", good + b"\x00")
    _one_line_error(lambda: idx.read_images(longer), "more data than the IDX header")
    # a header whose counts disagree with the data (says 3 images, holds 2)
    lying = write("lying", _idx_bytes(0x803, (3, 3, 4), PIXELS.tobytes()))
    _one_line_error(lambda: idx.read_images(lying), "truncated IDX file")
    # images and labels of different counts (mislabelled pair)
    imgs = write("x-images-idx3-ubyte", good)
    write("x-labels-idx1-ubyte", _idx_bytes(0x801, (3,), bytes([1, 2, 3])))
    _one_line_error(lambda: idx.read_pair(imgs), "2 images but .* 3 labels")
    # a labels file given as images and vice versa
    _one_line_error(lambda: idx.read_images(write("lab", _idx_bytes(0x801, (2,), b"\x01\x02"))),
                    "looks like a labels file")
    _one_line_error(lambda: idx.read_labels(imgs), "looks like an images file")


def test_idx_reader_rejects_a_cut_gzip_stream(tmp_path):
    blob = gzip.compress(_idx_bytes(0x803, (50, 28, 28), np.random.default_rng(0).integers(
        0, 255, 50 * 784, dtype=np.uint8).tobytes()))
    p = tmp_path / "cut.gz"
    p.write_bytes(blob[: len(blob) // 2])
    _one_line_error(lambda: idx.read_images(p), "gzip stream is corrupt or truncated|truncated IDX")


def test_the_shared_mnist_test_set_reads(shared_data):
    x, y = idx.read_pair(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert x.shape == (10000, 28, 28) and x.max() == 255
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# -- image front end and spec -----------------------------------------------------------------------------

def test_image_front_end_scales_inverts_and_resizes():
    spec = make_spec([str(i) for i in range(10)])
    img = np.zeros((28, 28), np.uint8)
    img[10:20, 12:16] = 255
    out = fe.build(spec)(img)
    assert out.shape == (28, 28, 1) and out.dtype == np.float32
    assert out.max() == 1.0 and out.min() == 0.0 and out[15, 13, 0] == 1.0
    inv = fe.build(make_spec(spec.labels, invert=True))(255 - img)   # dark digit on white paper
    np.testing.assert_allclose(inv, out, atol=1e-7)
    # a 56×56 picture: area resampling averages 2×2 blocks exactly
    big = np.kron(img.astype(np.float64), np.ones((2, 2)))
    big[0, 0] = 200                                                   # one bright pixel → a quarter of it
    feats = fe.build(spec)(big[None])
    assert feats.shape == (1, 28, 28, 1)
    np.testing.assert_allclose(feats[0, ..., 0][1:], out[1:, :, 0], atol=1e-6)
    assert feats[0, 0, 0, 0] == pytest.approx(200 / 4 / 255)


def test_resize_methods():
    ramp = np.tile(np.arange(8, dtype=np.float64), (8, 1))[None]
    np.testing.assert_allclose(fe.resize_images(ramp, 4, 4, "area")[0, 0], [0.5, 2.5, 4.5, 6.5])
    np.testing.assert_allclose(fe.resize_images(ramp, 4, 4, "nearest")[0, 0], [1, 3, 5, 7])
    np.testing.assert_allclose(fe.resize_images(ramp, 4, 4, "bilinear")[0, 0], [0.5, 2.5, 4.5, 6.5])
    up = fe.resize_images(ramp[:, :, :4], 8, 8, "bilinear")[0, 0]
    np.testing.assert_allclose(up, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])
    flat = fe.resize_images(np.full((2, 37, 19), 9.0), 28, 28, "area")
    np.testing.assert_allclose(flat, 9.0)                            # weights sum to one, any ratio
    rgb = fe.resize_images(np.ones((1, 10, 12, 3)), 28, 28, "bilinear")
    assert rgb.shape == (1, 28, 28, 3)
    with pytest.raises(EdgekitError, match="got 30×30.*does not resize"):
        fe.resize_images(np.zeros((1, 30, 30)), 28, 28, "none")


def test_area_resize_is_the_exact_pixel_area_average():
    a = np.random.default_rng(1).integers(0, 256, (45, 70)).astype(np.float64)
    # independent reference: blow every pixel up 28×28 times, then average 45×70 blocks
    fine = np.kron(a, np.ones((28, 28)))
    ref = fine.reshape(28, 45, 28, 70).mean(axis=(1, 3))
    np.testing.assert_allclose(fe.resize_images(a[None], 28, 28, "area")[0], ref, rtol=1e-9)
    Image = pytest.importorskip("PIL.Image")             # integer ratios: Pillow's box filter agrees
    b = np.random.default_rng(2).integers(0, 256, (56, 84)).astype(np.float32)
    pil = np.asarray(Image.fromarray(b, mode="F").resize((28, 28), Image.Resampling.BOX), np.float64)
    np.testing.assert_allclose(fe.resize_images(b[None], 28, 28, "area")[0], pil, atol=1e-3)


def test_image_spec_round_trips_and_is_validated():
    spec = make_spec([str(i) for i in range(10)])
    assert spec.input_shape == (28, 28, 1) and spec.window == 1 and spec.task == "image"
    back = checked(Spec.from_json(spec.to_json()))
    assert back.features == spec.features and back.normalization["scale"] == pytest.approx(1 / 255)
    d = spec.to_dict()
    for change, match in (({"input_shape": [32, 32, 1]}, "does not match the image features"),
                          ({"features": {**d["features"], "resize": "lanczos"}}, "features.resize"),
                          ({"features": {**d["features"], "height": 0}}, "features.height"),
                          ({"features": {**d["features"], "invert": "yes"}}, "features.invert"),
                          ({"features": {**d["features"], "max_value": -1}}, "features.max_value")):
        with pytest.raises(EdgekitError, match=match):
            checked(Spec.from_dict({**d, **change}))
    rgb = checked(Spec.from_dict({**d, "input_shape": [28, 28, 3], "features": {**d["features"], "grayscale": False}}))
    assert fe.build(rgb)(np.zeros((2, 40, 40, 3))).shape == (2, 28, 28, 3)
    with pytest.raises(EdgekitError, match="RGB images"):
        fe.build(rgb)(np.zeros((2, 40, 40)))


# -- decoding pictures ---------------------------------------------------------------------------------

def test_decode_image_modes(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from edgekit.edge.sources.images import ImageError, decode_image

    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_array_equal(decode_image(tmp_path / "g.png"), gray)
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")      # 16-bit → 8-bit range
    np.testing.assert_allclose(decode_image(tmp_path / "g16.png"), gray, atol=1e-3)
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., :3] = 100
    rgba[0, 0, 3] = 255                                                         # one opaque pixel
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    black = decode_image(tmp_path / "t.png", background=0.0)
    white = decode_image(tmp_path / "t.png", background=255.0)
    assert black[0, 0] == white[0, 0] == 100 and black[1, 1] == 0 and white[1, 1] == 255
    assert decode_image(tmp_path / "g.png", grayscale=False).shape == (3, 4, 3)
    np.testing.assert_allclose(decode_image(tmp_path / "g.png", max_value=1.0), gray / 255, atol=1e-6)
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(ImageError, match="not an image"):
        decode_image(tmp_path / "notes.txt")
    Image.fromarray(gray.astype(np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(ImageError, match="unsupported image mode 'F'"):
        decode_image(tmp_path / "f.tiff")
    frames = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageError, match="2 frames"):
        decode_image(tmp_path / "anim.gif")
    good = (tmp_path / "g.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated|not an image"):
        decode_image(tmp_path / "cut.png")


BLOCK_PIL = textwrap.dedent("""
    import sys
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PIL", "tensorflow", "keras", "scipy"):
                raise ImportError(f"blocked: {name}", name=name)
    sys.meta_path.insert(0, Blocker())
""")


def test_without_pillow_pictures_name_the_extra_and_idx_still_works(tmp_path):
    write_idx(tmp_path / "d-images-idx3-ubyte.gz", PIXELS)
    write_idx(tmp_path / "d-labels-idx1-ubyte.gz", np.array([1, 0], np.uint8))
    (tmp_path / "pics").mkdir()
    code = BLOCK_PIL + textwrap.dedent(f"""
        from edgekit.edge.core.errors import EdgekitError
        from edgekit.edge.sources.images import open_images
        from edgekit.train.mnist import make_spec
        spec = make_spec(["0", "1"], 3, 4)
        items = list(open_images({str(tmp_path / "d-images-idx3-ubyte.gz")!r}, spec).items())
        print("idx", len(items), [i.truth for i in items])
        try:
            open_images({str(tmp_path / "pics")!r}, spec)
        except EdgekitError as e:
            print("error:", e)
    """)
    p = run(sys.executable, "-c", code)
    assert "idx 2 ['1', '0']" in p.stdout
    assert "no files" in p.stdout          # empty folder is an error before Pillow is needed
    (tmp_path / "pics" / "a.png").write_bytes(b"x")
    p = run(sys.executable, "-c", code)
    assert "needs the 'pillow' package" in p.stdout and "pip install 'edgekit[images]'" in p.stdout


def _StubModel(spec):
    """Stands in for edgekit.edge.model.model.Model: float tensors, always answers class 1 with p = 0.75."""
    from conftest import StandIn

    def answer(x):
        assert x.shape == (1, *spec.input_shape) and x.dtype == np.float32
        return np.array([[0.25, 0.75]], np.float32)
    return StandIn(spec, answer, path="stub.tflite")


def test_unusable_pictures_are_reported_skipped_and_counted(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    from edgekit.edge.sources.images import open_images
    from edgekit.edge.outputs.sinks import JsonSink
    from edgekit.edge.pipeline.loop import run_stream

    spec = checked(Spec.from_dict({**make_spec(["0", "1"]).to_dict(),
                           "features": {**make_spec(["0", "1"]).features, "resize": "none"}}))
    pics = tmp_path / "pics"
    (pics / "1").mkdir(parents=True)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(pics / "1" / "#ok.png")
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(pics / "1" / "big.png")         # wrong size
    Image.fromarray(np.zeros((28, 28), np.float32)).save(pics / "1" / "float.tiff")    # wrong mode
    (pics / "1" / "notes.txt").write_text("hello")                                     # not an image
    (pics / ".hidden").write_text("x")
    sink = JsonSink()
    summary = run_stream(_StubModel(spec), open_images(str(pics), spec), sink)
    out, err = capsys.readouterr()
    results = [json.loads(line) for line in out.splitlines()]
    assert results == [{"file": "1/#ok.png", "label": "1", "score": 0.75, "truth": "1",
                        "latency_ms": results[0]["latency_ms"]}]
    assert summary["count"] == 1 and summary["skipped"] == 3 and summary["accuracy"] == 1.0
    reasons = {s["file"]: s["reason"] for s in summary["skipped_files"]}
    assert "got 30×30" in reasons["1/big.png"] and "mode 'F'" in reasons["1/float.tiff"]
    assert "not an image" in reasons["1/notes.txt"]
    for name in ("1/big.png", "1/float.tiff", "1/notes.txt"):
        assert f"skipped {name}: " in err
    assert "ignored 1 hidden file" in err


# -- training-side helpers --------------------------------------------------------------------------------

def test_stratified_holdout_is_exact_proportional_and_seeded():
    y = np.repeat(np.arange(10), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    keep, held = stratified_holdout(y, 0.2, seed=0)
    assert len(held) == 2000 and len(keep) == 8000 and not set(keep) & set(held)
    per_class = np.bincount(y[held], minlength=10)
    assert np.all(np.abs(per_class - 0.2 * np.bincount(y)) <= 1)
    np.testing.assert_array_equal(held, stratified_holdout(y, 0.2, seed=0)[1])
    assert not np.array_equal(held, stratified_holdout(y, 0.2, seed=1)[1])


def test_shift_augmentation_moves_whole_pixels_with_zero_fill():
    x = np.zeros((200, 6, 6, 1), np.float32)
    x[:, 2:4, 2:4] = 1.0
    out = shift_images(x, 2, np.random.default_rng(0))
    assert out.shape == x.shape and np.all(out.sum(axis=(1, 2, 3)) == 4)   # the blob never leaves a 6×6 frame
    assert len({tuple(np.argwhere(o[..., 0])[0]) for o in out}) == 25       # all 5×5 offsets occur
    assert shift_images(x, 0, np.random.default_rng(0)) is x


def test_npz_and_folder_loaders(tmp_path):
    from edgekit.train.mnist import load_folder, load_images, load_npz

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8)
    y = np.arange(30) % 3
    np.savez(tmp_path / "mnist.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    ds = load_images(tmp_path / "mnist.npz", make_spec(["0", "1"]))
    assert ds.has_test_set and ds.label_names == ("0", "1", "2") and len(ds.x_test) == 10
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=y)
    _one_line_error(lambda: load_npz(tmp_path / "bad.npz"), "missing x_test, y_test")
    np.savez(tmp_path / "obj.npz", x_train=np.array([None, 1], dtype=object), y_train=y, x_test=x, y_test=y)
    _one_line_error(lambda: load_npz(tmp_path / "obj.npz"), "unreadable")
    np.savez(tmp_path / "scaled.npz", x_train=x[:20] / 255.0, y_train=y[:20], x_test=x[20:] / 255.0,
             y_test=y[20:])
    _one_line_error(lambda: load_npz(tmp_path / "scaled.npz"), r"already in \[0, 1\]")

    Image = pytest.importorskip("PIL.Image")
    for i in range(6):
        d = tmp_path / "pics" / ("cat" if i % 2 else "dog")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i]).resize((56, 40)).save(d / f"{i}.png")
    (tmp_path / "pics" / "dog" / "readme.txt").write_text("no picture")
    logged = []
    ds = load_folder(tmp_path / "pics", make_spec(["0", "1"]), log=logged.append)
    assert ds.label_names == ("cat", "dog") and ds.x.shape == (6, 28, 28) and ds.skipped == 1
    assert any("readme.txt" in line for line in logged)


def test_train_mnist_bad_data_is_a_one_line_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    p = run(bin_path("edgekit"), "train", "mnist", "--data", str(tmp_path / "notes.txt"), "--out",
            str(tmp_path / "out"), check=False)
    assert p.returncode == 2 and p.stderr.startswith("error: ") and "Traceback" not in p.stderr
    assert "not an IDX file, an .npz or a folder" in p.stderr and len(p.stderr.strip().splitlines()) == 1


# -- models -------------------------------------------------------------------------------------------------

def test_mnist_models_have_the_course_parameter_counts():
    pytest.importorskip("keras")
    from edgekit.train.models import mnist_course, mnist_keras

    course, keras_arch = mnist_course(), mnist_keras()
    assert course.count_params() == 421_642
    assert keras_arch.count_params() == 131_242
    assert [type(layer).__name__ for layer in course.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert [type(layer).__name__ for layer in keras_arch.layers] == [
        "Conv2D", "Conv2D", "MaxPooling2D", "Conv2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert course.layers[0].padding == "same" and keras_arch.layers[0].padding == "valid"
    assert course.output_shape == keras_arch.output_shape == (None, 10)


# -- train → convert → edge-run round trip ---------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, shared_data):
    pytest.importorskip("tensorflow")
    d = tmp_path_factory.mktemp("mnist")
    run(bin_path("edgekit"), "train", "mnist", "--data", str(shared_data / "mnist"), "--n", "1000",
        "--epochs", "1", "--seed", "1", "--out", str(d / "run"))
    reports = {}
    for precision in ("float32", "int8"):
        # No -o: the default name follows the command, `edgekit train mnist` → mnist_<precision>.tflite.
        p = run(bin_path("edgekit"), "convert", str(d / "run"), "--to", "tflite", "--precision", precision,
                "--calib", "200", "--json")
        assert (d / "run" / f"mnist_{precision}.tflite").is_file()
        reports[precision] = json.loads(p.stdout)
    return d, reports


def _keras_labels(run_dir, raw_images):
    import keras
    spec = Spec.load(run_dir)
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    probs = model.predict(fe.build(spec)(raw_images), verbose=0)
    return [spec.labels[i] for i in probs.argmax(1)]


def _edge_run(*args, check=True):
    p = run(bin_path("edge-run"), *args, "--json", check=check)
    lines = [json.loads(line) for line in p.stdout.splitlines()]
    return lines[:-1], lines[-1]["summary"], p.stderr


@pytest.mark.slow
def test_train_writes_an_image_run(mnist_run):
    d, reports = mnist_run
    m = json.loads((d / "run" / "metrics.json").read_text())
    assert m["task"] == "image" and m["arch"] == "course" and m["parameters"] == 421_642
    assert m["n_train"] + m["n_val"] + m["n_test"] == 1000 and m["n_test"] == 200
    assert "80%/20%" in m["split"] and "10k test set" in m["data"]
    assert m["test_accuracy"] > 0.6, m["test_accuracy"]       # one epoch on 720 images
    x, y = np.load(d / "run" / "test.npz")["x"], np.load(d / "run" / "test.npz")["y"]
    assert x.shape == (200, 28, 28) and x.max() > 1 and set(np.unique(y)) == set(range(10))
    assert reports["float32"]["agreement"] >= 0.99 and reports["int8"]["agreement"] >= 0.97
    assert reports["int8"]["quantization"]["input"]["dtype"] == "int8"
    assert abs(reports["int8"]["accuracy"] - reports["float32"]["accuracy"]) <= 0.03


@pytest.mark.slow
def test_edge_run_on_a_folder_of_pngs_matches_keras(mnist_run, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    d, _ = mnist_run
    z = np.load(d / "run" / "test.npz")
    x, y = z["x"][:60], z["y"][:60]
    names = []
    for i, (img, label) in enumerate(zip(x, y)):
        folder = tmp_path / "pics" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{i:03d}.png")
        names.append(f"{label}/{i:03d}.png")
    (tmp_path / "pics" / "3" / "notes.txt").write_text("not an image")
    order = np.argsort(names)                                # edge-run walks the folder in sorted order
    keras_labels = [_keras_labels(d / "run", x)[i] for i in order]

    results, summary, err = _edge_run("--model", str(d / "run" / "mnist_float32.tflite"),
                                      "--source", f"images:{tmp_path / 'pics'}")
    assert [r["file"] for r in results] == [names[i] for i in order]
    assert [r["label"] for r in results] == keras_labels
    assert {"file", "label", "score", "latency_ms", "truth"} <= set(results[0])
    assert {"features", "inference", "total"} <= set(results[0]["latency_ms"])
    assert summary["count"] == 60 and summary["skipped"] == 1
    assert summary["skipped_files"][0]["file"] == "3/notes.txt"
    assert "skipped 3/notes.txt: not an image" in err
    truth = [str(y[i]) for i in order]
    assert summary["accuracy"] == pytest.approx(np.mean(np.array(keras_labels) == np.array(truth)))
    lat = summary["latency_ms"]["total"]
    assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]

    results8, summary8, _ = _edge_run("--model", str(d / "run" / "mnist_int8.tflite"),
                                      "--source", f"images:{tmp_path / 'pics'}")
    agree = np.mean([a["label"] == b for a, b in zip(results8, keras_labels)])
    assert agree >= 0.95 and summary8["precision"] == "int8"


@pytest.mark.slow
def test_edge_run_on_an_idx_file_and_bad_inputs(mnist_run, tmp_path):
    d, _ = mnist_run
    z = np.load(d / "run" / "test.npz")
    x, y = z["x"].astype(np.uint8), z["y"].astype(np.uint8)
    images = write_idx(tmp_path / "mini-images-idx3-ubyte.gz", x)
    write_idx(tmp_path / "mini-labels-idx1-ubyte.gz", y)
    results, summary, err = _edge_run("--model", str(d / "run" / "mnist_float32.tflite"),
                                      "--source", f"images:{images}")
    assert [r["index"] for r in results] == list(range(200))
    assert [r["label"] for r in results] == _keras_labels(d / "run", x)
    assert summary["count"] == 200 and summary["skipped"] == 0 and summary["labelled_images"] == 200
    assert "labels from mini-labels-idx1-ubyte.gz" in err
    text = run(bin_path("edge-run"), "--model", str(d / "run" / "mnist_int8.tflite"), "--source",
               f"images:{images}", "--quiet").stdout
    assert "summary: 200 images" in text and "accuracy" in text and "p99" in text

    model = str(d / "run" / "mnist_int8.tflite")
    cut = _idx_bytes(0x803, (5, 28, 28), b"\0" * 99)             # 5 images announced, 99 bytes there
    (tmp_path / "x-images-idx3-ubyte").write_bytes(cut)
    for src, message in ((f"images:{tmp_path / 'x-images-idx3-ubyte'}", "truncated IDX file"),
                         (f"images:{tmp_path / 'nope'}", "no such file or folder"),
                         ("synthetic", "an image model reads --source images:PATH")):
        p = run(bin_path("edge-run"), "--model", model, "--source", src, check=False)
        assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_sub_folder_names_are_matched_by_name_and_must_be_printable(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from edgekit.edge.sources.images import open_images
    spec = make_spec(["0", "1"])
    for label in ("1", "junk"):
        (tmp_path / "pics" / label).mkdir(parents=True)
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "pics" / label / "a.png")
    src = open_images(str(tmp_path / "pics"), spec)
    assert [i.truth for i in src.items()] == ["1", None]
    assert src.notes == ["sub-folder names (junk) are not among the model's labels (0, 1); those inputs are not scored"]
    (tmp_path / "pics" / "junk").rename(tmp_path / "pics" / "1\x1b[2J")
    _one_line_error(lambda: open_images(str(tmp_path / "pics"), spec), "sub-folder name '1\\\\x1b\\[2J' holds the "
                    "unprintable character U\\+001B; rename it")
