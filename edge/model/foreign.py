"""A spec for a foreign model (a .tflite/.onnx without edgekit metadata), built from command-line flags.

The model's own input shape fixes most front-end facts: (batch, n_freq, n_frames, 1) means a spectrogram of nfft =
2·(n_freq − 1) points; the window length follows from the frame count, the hop and the overlap. What the file cannot say
— the sample rate and the class names — must come from flags.

``--features logmel|mfcc`` describes a keyword model instead (task ``audio``): ``--layout`` says how its input holds the
coefficients (``freq_time`` (n, frames, 1), ``time_freq`` (frames, n, 1), or ``flat`` (frames·n,), e.g. tflite-micro's
micro_speech: int8 [1, 1960] = 49 frames × 40 channels), ``--n-mels`` / ``--n-mfcc`` the coefficients per frame,
``--frame-length`` / ``--hop-length`` the framing in samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.edge import frontend as fe
from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend.frames import frame_samples
from edgekit.edge.tasks import checked


@dataclass(frozen=True)
class ForeignFlags:
    """edge-run's flags for a foreign model (``--sample-rate``, ``--labels``, ``--nperseg``, ...), by name."""

    sample_rate: float | None = None
    labels: str | None = None            # class names, comma-separated
    nperseg: int | None = None
    noverlap: int | None = None
    log: bool = False                    # log-magnitude spectrograms
    mean: float | None = None
    std: float | None = None
    features: str = "spectrogram"        # the front end: spectrogram, logmel or mfcc
    layout: str | None = None
    n_mels: int | None = None
    n_mfcc: int | None = None
    frame_length: int | None = None
    hop_length: int | None = None
    convention: str = "librosa"          # log-mel/MFCC as librosa computes them, or as tf.signal does ("tf")
    fmin: float | None = None            # the mel bands' lowest and highest frequency (Hz)
    fmax: float | None = None


def spec_from_file(path: str) -> Spec:
    """The spec in JSON file ``path`` (``edge-run --spec``, ``edgekit attach``), checked as embedded metadata is."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise EdgekitError(f"--spec {path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    return checked(Spec.from_json(text, source=str(path)), str(path))


def spec_from_flags(path, backend, flags: ForeignFlags, *, window_fn: str = "tukey") -> Spec:
    """The spec of the foreign model at ``path`` (``backend``: its interpreter) that ``flags`` describe, or a
    one-line error naming the flags it still needs."""
    sample_rate, labels, nperseg, noverlap = flags.sample_rate, flags.labels, flags.nperseg, flags.noverlap
    log, mean, std, features = flags.log, flags.mean, flags.std, flags.features
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
    names = [s.strip() for s in labels.split(",") if s.strip()]
    if n_out > 0 and len(names) != n_out:
        raise EdgekitError(f"--labels gives {len(names)} names but the model has {n_out} outputs")
    norm: dict[str, Any] = {"type": "none"}
    if mean is not None or std is not None:
        norm = {"type": "standard", "mean": 0.0 if mean is None else float(mean),
                "std": 1.0 if std is None else float(std)}       # --std 0 is refused by the validation
    if features in ("logmel", "mfcc"):
        return _audio_spec(path, shape, float(sample_rate), names, norm, flags)
    if features == "microfrontend":
        return _micro_spec(path, shape, float(sample_rate), names, norm, flags)
    if flags.convention != "librosa" or flags.fmin is not None or flags.fmax is not None:
        raise EdgekitError("--convention, --fmin and --fmax describe log-mel/MFCC front ends: give --features logmel "
                           "or --features mfcc")
    if len(shape) != 4 or shape[-1] != 1 or any(s is None or s < 1 for s in shape[1:]):
        raise EdgekitError(f"{path}: edge-run builds a spectrogram front end for foreign models, which needs "
                           f"an input of shape (batch, n_freq, n_frames, 1); this model takes {list(shape)}")
    n_freq, n_frames = int(shape[1]), int(shape[2])
    nfft = 2 * (n_freq - 1)
    nperseg = nperseg or nfft
    noverlap = nperseg // 8 if noverlap is None else noverlap
    if nperseg > nfft or not 0 <= noverlap < nperseg:
        raise EdgekitError(f"--nperseg {nperseg} / --noverlap {noverlap} do not fit a model with {n_freq} "
                           f"frequency bins (nfft {nfft})")
    feats = fe.spectrogram_features(nperseg=nperseg, noverlap=noverlap, nfft=nfft,
                                    window=(window_fn, 0.25) if window_fn == "tukey" else window_fn, log=log)
    window = noverlap + n_frames * (nperseg - noverlap)
    d = Spec(task="stft", kind="classification", sample_rate=float(sample_rate), window=window,
             input_shape=(n_freq, n_frames, 1), features=feats, normalization=norm, labels=tuple(names)).to_dict()
    return checked(Spec.from_dict(d, source="command-line flags"), "command-line flags")   # as embedded metadata


def _matrix(path, shape, dims: list[int], layout: str | None, n_coef: int | None, coef_flag: str
            ) -> tuple[int, int, str]:
    """(frames, coefficients per frame, layout) of a model input holding a frames × coefficients matrix: flat
    (frames · coefficients, time-major unless ``--layout freq_time``) or 2-D with any axes of size 1 around it
    ([49, 10, 1], [30, 1, 40], channels-first [1, 49, 10]; ``--layout`` says which axis is time)."""
    core = [d for d in dims if d != 1] or [1]
    if len(core) == 1:
        layout = layout or "flat"
        if not n_coef or core[0] % n_coef:
            raise EdgekitError(f"{path}: --layout {layout}: an input of shape {list(shape)} holds frames × coefficients "
                               f"flattened; give {coef_flag} N dividing {core[0]}")
        return core[0] // n_coef, n_coef, layout
    if len(core) != 2:
        raise EdgekitError(f"{path}: the model's input {list(shape)} is not a frames × coefficients matrix (with "
                           "axes of size 1 around it); edge-run cannot lay log-mel/MFCC features out for it")
    layout = "time_freq" if layout in (None, "flat") else layout
    frames, coef = (core[0], core[1]) if layout == "time_freq" else (core[1], core[0])
    if n_coef not in (None, coef):
        raise EdgekitError(f"{path}: the input {list(shape)} holds {coef} coefficients per frame ({layout}), "
                           f"not {n_coef}")
    return frames, coef, layout


def _micro_spec(path, shape, sample_rate: float, names, norm, flags: ForeignFlags) -> Spec:
    """A spec of TFLite Micro's audio front end (its defaults: 30 ms / 20 ms, 40 channels, 125-7500 Hz, the
    speech_commands scaling 10/256) whose frames fill the model's input."""
    from edgekit.edge.frontend.microfrontend import microfrontend_features
    if flags.convention != "librosa" or flags.n_mfcc is not None:
        raise EdgekitError("--convention and --n-mfcc describe log-mel/MFCC front ends, not --features microfrontend")
    dims = [int(s) for s in shape[1:]]
    if any(s < 1 for s in dims):
        raise EdgekitError(f"{path}: the model's input {list(shape)} has free axes; edge-run needs a fixed shape")
    frames, channels, layout = _matrix(path, shape, dims, flags.layout, flags.n_mels or 40, "--n-mels")

    def ms(samples: int | None, default: int, flag: str) -> int:
        if samples is None:
            return default
        v = samples * 1000.0 / sample_rate
        if v != round(v):
            raise EdgekitError(f"{flag} {samples}: the microfrontend counts whole milliseconds ({v:g} ms at "
                               f"{sample_rate:g} Hz)")
        return int(round(v))

    size = ms(flags.frame_length, 30, "--frame-length")
    step = ms(flags.hop_length, 20, "--hop-length")
    extra = {k: float(v) for k, v in (("lower_band_limit", flags.fmin), ("upper_band_limit", flags.fmax))
             if v is not None}
    feats = microfrontend_features(window_size_ms=size, window_step_ms=step, num_channels=channels, layout=layout,
                                   **extra)
    rate = int(sample_rate)                      # samples per frame and step as the op counts them
    window = size * rate // 1000 + (frames - 1) * (step * rate // 1000)
    d = Spec(task="audio", kind="classification", sample_rate=sample_rate, window=window, input_shape=tuple(dims),
             features=feats, normalization=norm, labels=tuple(names)).to_dict()
    return checked(Spec.from_dict(d, source="command-line flags"), "command-line flags")


def _audio_spec(path, shape, sample_rate: float, names, norm, flags: ForeignFlags) -> Spec:
    """A log-mel / MFCC spec whose framing and layout reproduce the model's input shape."""
    from edgekit.edge.frontend.logmel import logmel_features
    from edgekit.edge.frontend.mfcc import mfcc_features
    from edgekit.edge.frontend.tf_signal import tf_features
    kind, layout, n_mels, n_mfcc = flags.features, flags.layout, flags.n_mels, flags.n_mfcc
    dims = [int(s) for s in shape[1:]]
    if any(s < 1 for s in dims):
        raise EdgekitError(f"{path}: the model's input {list(shape)} has free axes; edge-run needs a fixed shape")
    n_coef = n_mfcc if kind == "mfcc" else n_mels
    frames, n_coef, layout = _matrix(path, shape, dims, layout, n_coef, "--n-mfcc" if kind == "mfcc" else "--n-mels")
    common = dict(**frame_samples(sample_rate, 30, 20, flags.frame_length, flags.hop_length), layout=layout,
                  fmin=flags.fmin or 0.0, fmax=flags.fmax)
    feats = mfcc_features(n_mfcc=n_coef, n_mels=max(40, n_coef), **common) if kind == "mfcc" else \
        logmel_features(n_mels=n_coef, **common)
    if flags.convention == "tf":
        feats = tf_features(feats)
    length = common["frame_length"] if flags.convention == "tf" else common["n_fft"]      # the samples of a frame
    window = length + (frames - 1) * common["hop_length"]
    d = Spec(task="audio", kind="classification", sample_rate=sample_rate, window=window, input_shape=tuple(dims),
             features=feats, normalization=norm, labels=tuple(names)).to_dict()
    return checked(Spec.from_dict(d, source="command-line flags"), "command-line flags")
