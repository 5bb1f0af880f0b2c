"""The ``tf`` convention of the ``logmel`` and ``mfcc`` front ends: the features of ``tf.signal``, in numpy.

Models trained on TensorFlow's audio ops (MLPerf Tiny's keyword-spotting reference, most Keras audio tutorials) saw
``tf.signal.stft(x, frame_length, hop_length, n_fft, window_fn=hann_window)`` (frames of ``frame_length`` samples from
``t * hop_length``, no padding, the periodic Hann window, zero-padded to ``n_fft``), the magnitude (``power`` 1)
or power (2) of it, ``tf.signal.linear_to_mel_weight_matrix`` (HTK mel ``1127 ln(1 + f / 700)``, triangles on the
FFT bins' frequencies, no area normalisation, the DC bin left out), ``log(mel + log_offset)`` and, for MFCCs,
``tf.signal.mfccs_from_log_mel_spectrograms`` (DCT-II scaled by ``1 / sqrt(2 n_mels)``), the first ``n_mfcc``. librosa's
conventions (the default, :mod:`.logmel`) differ in the framing, the mel scale, the filters' areas and dB, so a model
fed one on features of the other answers wrong with confidence. A window of ``W`` samples gives
``1 + (W - frame_length) // hop_length`` frames. CMVN and the layouts are :mod:`.logmel`'s.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.frontend import dsp

CONVENTIONS = ("librosa", "tf")


def tf_features(feat: dict[str, Any], log_offset: float = 1e-6, power: float = 1.0) -> dict[str, Any]:
    """A ``logmel``/``mfcc`` features dict of :func:`.logmel.logmel_features` made the ``tf`` convention's: HTK mel
    without normalisation (what tf.signal's weights are), no dB floor or range."""
    return {**feat, "convention": "tf", "log_offset": float(log_offset), "power": float(power), "htk": True,
            "norm": None, "top_db": None}


def mel_weights(n_mels: int, n_bins: int, sample_rate: float, fmin: float, fmax: float) -> np.ndarray:
    """``tf.signal.linear_to_mel_weight_matrix(n_mels, n_bins, sample_rate, fmin, fmax)``: (n_bins, n_mels), float64."""
    def mel(f):
        return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)

    freqs = mel(np.linspace(0.0, sample_rate / 2.0, n_bins)[1:])[:, None]        # the DC bin gets no weight
    edges = np.linspace(mel(fmin), mel(fmax), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    w = np.maximum(0.0, np.minimum((freqs - lower) / (center - lower), (upper - freqs) / (upper - center)))
    return np.concatenate([np.zeros((1, n_mels)), w])


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """(n_mfcc, n_mels): ``tf.signal.mfccs_from_log_mel_spectrograms``' DCT-II, ``2 cos(pi k (2n + 1) / (2N))`` scaled
    by ``1 / sqrt(2N)``."""
    k, n = np.arange(n_mfcc)[:, None], np.arange(n_mels)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2.0 * n_mels)) / np.sqrt(2.0 * n_mels)


def weights(spec: Spec) -> np.ndarray:
    """The spec's mel weights (bins, n_mels)."""
    feat = spec.features
    fmax = spec.sample_rate / 2.0 if feat["fmax"] is None else feat["fmax"]
    return mel_weights(feat["n_mels"], feat["n_fft"] // 2 + 1, spec.sample_rate, feat["fmin"], fmax)


def make_raw(spec: Spec, n_mfcc: int | None, finish: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """The raw-feature function of a ``tf``-convention spec; ``finish`` applies CMVN and the layout to (..., t, n)."""
    feat = spec.features
    size, length, hop, n_fft = spec.window, feat["frame_length"], feat["hop_length"], feat["n_fft"]
    win = dsp.window_of(feat["window"], length)
    fb = weights(spec)
    dct_t = None if n_mfcc is None else np.ascontiguousarray(dct_matrix(n_mfcc, feat["n_mels"]).T)
    offset, power = float(feat["log_offset"]), float(feat["power"])
    frames_of = np.lib.stride_tricks.sliding_window_view

    def raw(x: np.ndarray) -> np.ndarray:
        if x.shape[-1] != size:
            raise EdgekitError(f"the model expects windows of {size} samples, got {x.shape[-1]}")
        if x.dtype.kind not in "biuf":
            raise EdgekitError(f"signal windows must be real numbers, got dtype {x.dtype}")
        frames = frames_of(np.asarray(x, np.float64), length, axis=-1)[..., ::hop, :]   # (..., t, length)
        mag = np.abs(np.fft.rfft(frames * win, n=n_fft, axis=-1))
        m = np.log((mag if power == 1.0 else mag ** power) @ fb + offset)
        return finish(m if dct_t is None else m @ dct_t)
    return raw


def check(spec: Spec, bad: Callable[[str], EdgekitError]) -> None:
    """The ``tf`` convention's own parameters (the rest are checked as for librosa's)."""
    feat = spec.features
    offset, power = feat.get("log_offset"), feat.get("power")
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not 0 < offset <= 1e3:
        raise bad(f"features.log_offset must be in (0, 1000] (added before the log), got {offset!r}")
    if power not in (1, 2) or isinstance(power, bool):
        raise bad(f"features.power must be 1 (magnitude) or 2 (power), got {power!r}")
    if feat.get("htk") is not True or feat.get("norm") is not None or feat.get("top_db") is not None:
        raise bad("features of the tf convention have htk true, norm null and top_db null (tf.signal's mel weights "
                  "and log)")
    if feat["frame_length"] > spec.window:
        raise bad(f"features.frame_length {feat['frame_length']} is longer than the window {spec.window}")
