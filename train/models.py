"""The course's Keras models, layer for layer (tests assert their parameter counts)."""
from __future__ import annotations


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
