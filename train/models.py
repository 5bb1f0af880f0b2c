"""The course's Keras models, layer for layer (tests assert their parameter counts)."""
from __future__ import annotations

import functools

from edgekit.edge.errors import EdgekitError


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
    """Conv2D(16,3×3,relu,same) → Conv2D(16,3×3,relu,same) → MaxPool(2×2) → Flatten → Dense(128,relu)
    → Dense(n_classes, softmax). 2,886,450 parameters for a 129×44×1 input and 2 classes."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=tuple(input_shape), name="spectrogram"),
        layers.Conv2D(16, (3, 3), activation="relu", padding="same"),
        layers.Conv2D(16, (3, 3), activation="relu", padding="same"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ], name="stft_cnn")


@_needs("pictures of at least 4 × 4 pixels")
def mnist_course(input_shape=(28, 28, 1), n_classes: int = 10):
    """The course's MNIST CNN (trained with Adam): Conv2D(32,3×3,relu,same) → MaxPool(2) →
    Conv2D(64,3×3,relu,same) → MaxPool(2) → Flatten → Dense(128,relu) → Dense(n_classes, softmax).
    421,642 parameters for 28×28×1 inputs and 10 classes."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=tuple(input_shape), name="image"),
        layers.Conv2D(32, (3, 3), activation="relu", padding="same"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu", padding="same"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ], name="mnist_course")


@_needs("pictures of at least 16 × 16 pixels (--arch course takes smaller ones)")
def mnist_keras(input_shape=(28, 28, 1), n_classes: int = 10):
    """The Keras-examples MNIST CNN the course also shows (trained with RMSprop): Conv2D(32,3×3,relu) →
    Conv2D(32,3×3,relu) → MaxPool(2) → Conv2D(64,3×3,relu) → Conv2D(64,3×3,relu) → MaxPool(2) → Flatten →
    Dense(64,relu) → Dense(n_classes, softmax). 131,242 parameters for 28×28×1 inputs and 10 classes."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=tuple(input_shape), name="image"),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(n_classes, activation="softmax"),
    ], name="mnist_keras")


def traffic_cnn(look_back: int = 288, n_features: int = 1):
    """Conv1D(32, kernel 6, same, relu) → Flatten → Dense(16, relu) → Dense(1): the course's traffic
    forecaster (one scaled value: the next row's target). 147,713 parameters for look-back 288 and one
    feature. Compile with Adam, MSE loss and an MAE metric (``edgekit.train.traffic``)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(int(look_back), int(n_features)), name="rows"),
        layers.Conv1D(32, 6, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(16, activation="relu"),
        layers.Dense(1),
    ], name="traffic_cnn")
