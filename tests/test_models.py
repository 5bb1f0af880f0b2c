import pytest

pytest.importorskip("keras")

from edgekit.train.models import stft_cnn  # noqa: E402


def test_stft_cnn_has_the_course_parameter_count():
    assert stft_cnn((129, 44, 1), 2).count_params() == 2_886_450


def test_stft_cnn_layers_are_the_courses():
    m = stft_cnn((129, 44, 1), 3)
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == ["Conv2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    assert m.output_shape == (None, 3)
    assert [layer.filters for layer in m.layers[:2]] == [16, 16]
    assert m.layers[0].padding == "same" and m.layers[0].kernel_size == (3, 3)
    assert m.layers[4].units == 128


@pytest.mark.parametrize("build, shape, words", [
    ("stft_cnn", (129, 1, 1), "at least 2 × 2"),
    ("mnist_keras", (14, 14, 1), "at least 16 × 16 pixels"),
    ("mnist_course", (2, 2, 1), "at least 4 × 4 pixels"),
])
def test_an_input_too_small_for_the_model_is_a_clear_error(build, shape, words):
    from edgekit.edge.core.errors import EdgekitError
    from edgekit.train import models
    with pytest.raises(EdgekitError, match=words):
        getattr(models, build)(shape, 2)


def test_train_stft_on_signals_too_short_for_the_cnn_is_one_line(tmp_path):
    """400 samples give one STFT frame, and MaxPool(2×2) needs two: say so, in one line, exit 2."""
    import numpy as np
    from conftest import bin_path, run
    data = tmp_path / "short.npz"
    np.savez(data, signal=np.random.default_rng(0).standard_normal((30, 400)), label=np.arange(30) % 2, fs=8000.0)
    p = run(bin_path("edgekit"), "train", "stft", "--data", str(data), "--epochs", "1", "--out",
            str(tmp_path / "o"), check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "cannot take inputs of shape (129, 1, 1)" in err[0], p.stderr
