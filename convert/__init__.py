"""Conversion of a trained model to TFLite and ONNX (float32, int8), each artifact verified and carrying its
spec; ``edgekit convert`` and ``edgekit compare``; :func:`deploy` for a model from a notebook or a Keras file."""
from edgekit.convert.deploy import deploy

__all__ = ["deploy"]
