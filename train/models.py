"""The course's Keras models, layer for layer (tests assert their parameter counts)."""
from __future__ import annotations

import functools
import math

from edgekit.edge.core.errors import EdgekitError


def _needs(minimum: str):
    """Turn Keras's error for an input too small for the convolutions and pooling (a negative or zero
    output size) into a one-line error that says the input shape and what the model needs."""
    def wrap(builder):
        @functools.wraps(builder)
        def build(*args, **kw):
            try:
                return builder(*args, **kw)
            except ValueError as e:
                shape = args[0] if args else kw.get("input_shape", kw.get("look_back"))
                raise EdgekitError(f"the {builder.__name__} model cannot take inputs of shape "
                                   f"{tuple(shape) if isinstance(shape, (list, tuple)) else shape}: it needs "
                                   f"{minimum} ({str(e).strip().splitlines()[0][:120]})") from None
        return build
    return wrap


@_needs("a spectrogram of at least 2 × 2 (frequencies × frames): signals of at least nperseg + hop samples")
def stft_cnn(input_shape=(129, 44, 1), n_classes: int = 2):
    """The course's STFT CNN: 2,886,450 parameters for a 129×44×1 input and 2 classes."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=tuple(input_shape), name="spectrogram"),
        layers.Conv2D(16, (3, 3), activation="relu", padding="same"),
        layers.Conv2D(16, (3, 3), activation="relu", padding="same"), layers.MaxPooling2D((2, 2)), layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dense(n_classes, activation="softmax"),
    ], name="stft_cnn")


@_needs("pictures of at least 4 × 4 pixels")
def mnist_course(input_shape=(28, 28, 1), n_classes: int = 10):
    """The course's MNIST CNN (trained with Adam): 421,642 parameters for 28×28×1 inputs and 10 classes."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=tuple(input_shape), name="image"),
        layers.Conv2D(32, (3, 3), activation="relu", padding="same"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu", padding="same"), layers.MaxPooling2D((2, 2)), layers.Flatten(),
        layers.Dense(128, activation="relu"), layers.Dense(n_classes, activation="softmax"),
    ], name="mnist_course")


@_needs("pictures of at least 16 × 16 pixels (--arch course takes smaller ones)")
def mnist_keras(input_shape=(28, 28, 1), n_classes: int = 10):
    """The Keras-examples MNIST CNN the course also shows (trained with RMSprop): 131,242 parameters for
    28×28×1 inputs and 10 classes."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=tuple(input_shape), name="image"), layers.Conv2D(32, (3, 3), activation="relu"),
        layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"), layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)), layers.Flatten(), layers.Dense(64, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ], name="mnist_keras")


def traffic_cnn(look_back: int = 288, n_features: int = 1, n_outputs: int = 1):
    """The course's traffic forecaster (one scaled value: the next row's target; or one per horizon): 147,713
    parameters for look-back 288 and one feature. Compile with Adam, MSE loss and an MAE metric
    (``edgekit.train.traffic``)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(int(look_back), int(n_features)), name="rows"),
        layers.Conv1D(32, 6, padding="same", activation="relu"), layers.Flatten(), layers.Dense(16, activation="relu"),
        layers.Dense(int(n_outputs)),
    ], name="traffic_cnn")


def traffic_forecaster(look_back: int = 288, n_columns: int = 1, n_time: int = 0, n_profile: int = 0,
                       n_outputs: int = 1, recent: int = 24, pool: int = 12, dropout: float = 0.2):
    """A small forecaster of one or several horizons over rows of ``n_columns`` data columns (the target first),
    ``n_time`` time harmonics and ``n_profile`` historical-average columns (at the row, then at each horizon ahead).
    With a profile the target column becomes its difference from the average, and each output is that horizon's
    average plus what the network adds. A Conv1D(16, 6) over the last ``recent`` rows, the look-back's means over
    ``pool`` rows (hours of 5-minute rows), the newest row's time harmonics → Dropout → Dense(32) → one output per
    horizon: 10,931 parameters for look-back 288, one column, 6 harmonic columns and 3 horizons. TFLite builtins only
    (slices, SUB, ADD, CONV_2D, AVERAGE_POOL_2D, FULLY_CONNECTED), int8-friendly. The dropout (0.2) is what keeps the
    60-minute output from fitting noise: without it one seed in three fell behind the time-of-day average there
    (vds.csv, ``benchmarks/traffic_horizons.py``)."""
    import keras
    from keras import layers

    if n_profile and n_profile != n_outputs + 1:
        raise ValueError("n_profile must be the row's average plus one per output")
    look_back, recent = int(look_back), max(1, min(int(recent), int(look_back)))
    rows = keras.Input(shape=(look_back, n_columns + n_time + n_profile), name="rows")
    values = rows[:, :, :n_columns]
    if n_profile:
        p0 = n_columns + n_time
        deviation = layers.Subtract(name="from_average")([rows[:, :, 0:1], rows[:, :, p0:p0 + 1]])
        values = deviation if n_columns == 1 else layers.Concatenate()([deviation, rows[:, :, 1:n_columns]])
    last = layers.Flatten()(layers.Conv1D(16, min(6, recent), activation="relu")(values[:, look_back - recent:, :]))
    hours = layers.Flatten()(layers.AveragePooling1D(max(1, min(int(pool), look_back)))(values))
    parts = [last, hours] + ([rows[:, -1, n_columns:n_columns + n_time]] if n_time else [])
    hidden = layers.Dense(32, activation="relu")(layers.Dropout(dropout)(layers.Concatenate()(parts)))
    out = layers.Dense(int(n_outputs))(hidden)
    if n_profile:
        out = layers.Add(name="plus_average")([out, rows[:, -1, n_columns + n_time + 1:]])
    return keras.Model(rows, out, name="traffic_forecaster")


@_needs("features of at least 2 × 2 (frames × coefficients)")
def dscnn(input_shape=(49, 13, 1), n_classes: int = 12, filters: int = 64, blocks: int = 4,
          stride=(2, 3), block_stride=(2, 2), dropout: float = 0.4):
    """A depthwise-separable CNN after the MLPerf Tiny KWS reference, int8-friendly (Conv, DepthwiseConv, BatchNorm,
    ReLU, AvgPool, Dense only) on (frames, coefficients, 1) features. 24,332 parameters for 12 classes; 1,049,600 MACs
    on 49 × 13 MFCCs (1 s at 8 kHz), under a tenth of the course CNN's 13.3 M on the same second's 129 × 35 spectrogram.
    (MLPerf's strides are (2, 2) and (1, 1): 2.66 M MACs here.) BatchNorm momentum 0.9: a small data set gives few steps
    per epoch, and with Keras's 0.99 the moving statistics lag the weights for the first ten epochs."""
    import keras
    from keras import layers

    shape = tuple(int(s) for s in input_shape)
    kernel = (min(10, shape[0]), min(4, shape[1]))
    seq = [keras.Input(shape=shape, name="features"),
           layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False),
           layers.BatchNormalization(momentum=0.9), layers.ReLU()]
    for b in range(blocks):
        seq += [layers.DepthwiseConv2D((3, 3), strides=block_stride if b == 0 else (1, 1), padding="same",
                                       use_bias=False), layers.BatchNormalization(momentum=0.9), layers.ReLU(),
                layers.Conv2D(filters, (1, 1), use_bias=False), layers.BatchNormalization(momentum=0.9), layers.ReLU()]
    seq += [layers.Dropout(dropout), layers.GlobalAveragePooling2D(), layers.Dense(n_classes, activation="softmax")]
    return keras.Sequential(seq, name="dscnn")


def anomaly_ae(input_shape, time_axis: int, hidden: int = 64, bottleneck: int = 8):
    """The anomaly model: a dense autoencoder on a window's mean spectrum whose output is the window's score.

    The spectrogram (or log-mel) of a window, ``input_shape`` with time on axis ``time_axis`` (1 or 2) of the batch,
    is averaged over time (the window's mean log spectrum, as Welch's method averages frames), encoded through
    ``hidden`` and ``bottleneck`` units, decoded back, and the graph ends in the score: the mean squared difference
    between the mean spectrum and its reconstruction, one value (``Subtract``, ``Multiply``, a mean: TFLite
    builtins, int8 end to end, so an int8 TFLite or ONNX file gives the score itself). Trained on normal windows
    only, to output 0 (``loss="mae"`` against zeros is the mean score). 17,801 parameters on the course's 129 × 44
    spectrogram; 6,320 on 40 mel bands. A per-frame autoencoder (the same layers on every frame) scored worse
    (benchmarks/README.md, anomaly detection): a window's frames are noisier than their mean."""
    import keras
    from keras import layers

    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or time_axis not in (1, 2):
        raise EdgekitError(f"the anomaly autoencoder takes (frequency, time, 1) or (time, frequency, 1) features, "
                           f"got {list(shape)}")
    bins = shape[2 - time_axis]
    pool = (1, shape[1]) if time_axis == 2 else (shape[0], 1)
    x = keras.Input(shape=shape, name="features")
    mean = layers.Reshape((bins,), name="mean_spectrum")(layers.AveragePooling2D(pool, name="time_mean")(x))
    h = layers.Dense(hidden, activation="relu")(mean)
    h = layers.Dense(bottleneck, activation="relu", name="bottleneck")(h)
    h = layers.Dense(hidden, activation="relu")(h)
    recon = layers.Dense(bins, name="reconstruction")(h)
    d = layers.Subtract(name="error")([mean, recon])
    sq = layers.Reshape((bins, 1))(layers.Multiply(name="squared_error")([d, d]))
    return keras.Model(x, layers.GlobalAveragePooling1D(name="score")(sq), name="anomaly_ae")


def macs(model) -> int:
    """Multiply-accumulates of one forward pass (batch 1), from the layers' shapes: Conv2D, DepthwiseConv2D, Conv1D and
    Dense count kernel × output positions; pooling, BatchNorm (folded into the convolution when converted) and
    activations are not counted."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        positions = math.prod(layer.output.shape[1:-1])     # neither batch nor channels
        if kind in ("Conv2D", "Conv1D", "DepthwiseConv2D"):
            total += math.prod(layer.kernel.shape) * positions    # kernel: kh·kw·cin·cout (depthwise: ·multiplier)
        elif kind == "Dense":
            total += math.prod(layer.kernel.shape) * (positions or 1)
    return total
