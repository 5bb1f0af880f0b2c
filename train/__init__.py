"""The workstation side: data sets, models and fitting (imports TensorFlow); ``edgekit train``, ``data``,
``demo`` and ``build``."""
