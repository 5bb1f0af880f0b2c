"""The ``spectrogram`` feature type: a 1-D signal window → |STFT| (scipy-compatible, :mod:`.dsp`) →
optional ``log(S + log_eps)`` → a trailing channel axis: (n_freq, n_seg, 1) before normalisation."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edgekit.edge.errors import EdgekitError
from edgekit.edge.frontend import dsp

DETRENDS = ("constant", "linear", False)
SCALINGS = ("spectrum", "density")
MODES = ("magnitude", "psd")
MAX_LOG_EPS = 1e3


def spectrogram_features(nperseg: int = 256, noverlap: int | None = None, nfft: int | None = None,
                         window: Any = ("tukey", 0.25), detrend: Any = "constant",
                         scaling: str = "spectrum", mode: str = "magnitude", log: bool = True,
                         log_eps: float = 1e-8) -> dict[str, Any]:
    """The ``features`` entry of a spec for a spectrogram front end (defaults = the course's)."""
    noverlap = nperseg // 8 if noverlap is None else noverlap
    return {"type": "spectrogram", "nperseg": int(nperseg), "noverlap": int(noverlap),
            "nfft": int(nfft or nperseg), "window": list(window) if isinstance(window, tuple) else window,
            "detrend": detrend, "scaling": scaling, "mode": mode, "log": bool(log),
            "log_eps": float(log_eps)}


def spectrogram_shape(window: int, feat: dict[str, Any]) -> tuple[int, int, int]:
    step = feat["nperseg"] - feat["noverlap"]
    return (feat["nfft"] // 2 + 1, (window - feat["noverlap"]) // step, 1)


def front_end(spec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """(raw features of a batch of windows, the number of axes of one window)."""
    feat = spec.features
    win = feat["window"]
    win = tuple(win) if isinstance(win, list) else win
    fs = spec.sample_rate

    def raw(x: np.ndarray) -> np.ndarray:
        if x.shape[-1] != spec.window:
            raise EdgekitError(f"the model expects windows of {spec.window} samples, got {x.shape[-1]}")
        _, _, s = dsp.spectrogram(x, fs, window=win, nperseg=feat["nperseg"], noverlap=feat["noverlap"],
                                  nfft=feat["nfft"], detrend=feat["detrend"], scaling=feat["scaling"],
                                  mode=feat["mode"])
        if feat.get("log"):
            s = np.log(s + feat.get("log_eps", 1e-8))
        return s[..., None]
    return raw, 1


def validate(spec, bad: Callable[[str], EdgekitError]) -> None:
    feat = spec.features
    for k in ("nperseg", "noverlap", "nfft"):
        v = feat.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1 << 16:
            raise bad(f"features.{k} must be an integer in [0, 65536], got {v!r}")
    if feat["nperseg"] < 2 or feat["noverlap"] >= feat["nperseg"] or feat["nfft"] < feat["nperseg"]:
        raise bad("features need 2 <= nperseg, noverlap < nperseg <= nfft")
    if feat["nperseg"] > spec.window:
        raise bad(f"features.nperseg {feat['nperseg']} is longer than the window {spec.window}")
    w = feat.get("window")
    if not (isinstance(w, str) or (isinstance(w, list) and w and isinstance(w[0], str)
                                    and all(isinstance(p, (int, float)) for p in w[1:]))):
        raise bad(f"features.window must be a name or [name, parameter], got {w!r}")
    try:
        with np.errstate(all="ignore"):
            values = dsp.get_window(tuple(w) if isinstance(w, list) else w, feat["nperseg"])
    except (EdgekitError, ValueError, TypeError, OverflowError) as e:
        raise bad(f"features.window {w!r}: {getattr(e, 'message', e)}") from None
    if not (np.isfinite(values).all() and values.any()):
        raise bad(f"features.window {w!r} evaluates to non-finite or all-zero values; give a usable parameter")
    if feat.get("detrend") not in DETRENDS or feat.get("scaling") not in SCALINGS \
            or feat.get("mode") not in MODES:
        raise bad("features.detrend/scaling/mode have unsupported values")
    eps = feat.get("log_eps", 1e-8)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 < eps <= MAX_LOG_EPS:
        raise bad(f"features.log_eps must be in (0, {MAX_LOG_EPS:g}] (a larger one makes the log constant), "
                  f"got {eps!r}")
    expected = spectrogram_shape(spec.window, feat)
    if tuple(spec.input_shape) != expected:
        raise bad(f"input_shape {list(spec.input_shape)} does not match the spectrogram of a "
                  f"{spec.window}-sample window ({list(expected)})")
