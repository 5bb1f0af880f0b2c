"""The device runtime: numpy, LiteRT / ONNX Runtime and click, never TensorFlow or scipy.

Its sub-packages are floors; each imports only the floors below it (``tests/test_architecture.py``):

``core``      the shared contract: the spec, detector settings, label names, errors
``frontend``  raw windows → model inputs (spectrogram, log-mel, MFCC, rows, images), numpy only
``formats``   files: WAV and the one audio loader, detector CSV rows, the course pickle, IDX, clip folders
``sources``   live inputs of a stream (signals, microphone, rows, pictures) and the simulators
``outputs``   where results go: text/JSON sinks, MQTT, recordings
``tasks``     what a model does with a stream: one class per task behind one contract, and its registry
``model``     a model file: backends, embedded metadata, foreign models
``pipeline``  the streaming loop, its timed step, the detector, shadow, bench and stream-eval back-ends
``commands``  ``edge-run`` and ``edgekit``'s device commands
"""
