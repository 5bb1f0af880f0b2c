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
