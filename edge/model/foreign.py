"""A spec for a foreign model (a .tflite/.onnx without edgekit metadata), built from command-line flags.

The model's own input shape fixes most front-end facts: (batch, n_freq, n_frames, 1) means a spectrogram
of nfft = 2·(n_freq − 1) points; the window length follows from the frame count, the hop and the
overlap. What the file cannot say — the sample rate and the class names — must come from flags.
"""
from __future__ import annotations

from typing import Any

from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError
from edgekit.edge.model.spec import Spec


def spec_from_flags(path, backend, *, sample_rate: float | None, labels: str | None,
                    nperseg: int | None = None, noverlap: int | None = None, window_fn: str = "tukey",
                    log: bool = False, mean: float | None = None, std: float | None = None) -> Spec:
    shape = tuple(backend.input.shape)
    n_out = backend.output.shape[-1] if backend.output.shape else -1
    missing = []
    if sample_rate is None:
        missing.append("--sample-rate HZ")
    if labels is None:
        missing.append(f"--labels NAME,NAME,...{f' ({n_out} names)' if n_out and n_out > 0 else ''}")
    if missing:
        raise EdgekitError(f"{path}: the model carries no edgekit metadata, so edge-run needs "
                           f"{' and '.join(missing)} (and the front end: --nperseg, --noverlap, --log, "
                           "--mean/--std if it differs from the defaults)")
    if len(shape) != 4 or shape[-1] != 1 or any(s is None or s < 1 for s in shape[1:]):
        raise EdgekitError(f"{path}: edge-run builds a spectrogram front end for foreign models, which needs "
                           f"an input of shape (batch, n_freq, n_frames, 1); this model takes {list(shape)}")
    n_freq, n_frames = int(shape[1]), int(shape[2])
    nfft = 2 * (n_freq - 1)
    nperseg = nperseg or nfft
    noverlap = nperseg // 8 if noverlap is None else noverlap
    names = [s.strip() for s in labels.split(",") if s.strip()]
    if n_out > 0 and len(names) != n_out:
        raise EdgekitError(f"--labels gives {len(names)} names but the model has {n_out} outputs")
    if nperseg > nfft or not 0 <= noverlap < nperseg:
        raise EdgekitError(f"--nperseg {nperseg} / --noverlap {noverlap} do not fit a model with {n_freq} "
                           f"frequency bins (nfft {nfft})")
    feats = fe.spectrogram_features(nperseg=nperseg, noverlap=noverlap, nfft=nfft,
                                    window=(window_fn, 0.25) if window_fn == "tukey" else window_fn, log=log)
    window = noverlap + n_frames * (nperseg - noverlap)
    norm: dict[str, Any] = {"type": "none"}
    if mean is not None or std is not None:
        norm = {"type": "standard", "mean": 0.0 if mean is None else float(mean),
                "std": 1.0 if std is None else float(std)}       # --std 0 is refused by the validation
    d = Spec(task="stft", kind="classification", sample_rate=float(sample_rate), window=window,
             input_shape=(n_freq, n_frames, 1), features=feats, normalization=norm,
             labels=tuple(names)).to_dict()
    return Spec.from_dict(d, source="command-line flags")   # the same validation as embedded metadata
