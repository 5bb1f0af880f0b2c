"""The front ends of published models (issue 26) against their references, in the same process: edgekit's numpy
TFLite Micro audio front end against TensorFlow's own op, and edgekit's tf.signal log-mel / MFCC against tf.signal,
per 1-s window at 16 kHz (FSDD clips), one window at a time as the device computes them. Medians of interleaved
rounds; ratios are edgekit / reference (below 1: edgekit is faster).

    python benchmarks/frontends_foreign.py [--rounds 15] [--windows 50]

Writes benchmarks/results/frontends_foreign.json."""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")     # as edge-run runs numpy on the device (before numpy loads)
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
FSDD = HERE.parent.parent / "shared" / "data" / "fsdd" / "recordings"
RATE = 16000


def _windows(n: int) -> np.ndarray:
    """``n`` FSDD clips at 16 kHz, each fitted to one second, as int16-valued floats (what a device reads)."""
    from edgekit.edge.formats.audio import load_audio
    from edgekit.edge.frontend.clip import check_clip_policy, fit_clip
    policy = check_clip_policy({"align": "energy", "pad": "zeros"})
    paths = sorted(FSDD.glob("*.wav"))[:: max(1, 1500 // n)][:n]
    x = np.stack([fit_clip(load_audio(p, RATE), RATE, policy) for p in paths])
    return np.clip(np.round(x * 32768), -32768, 32767) / 32768.0


def _time(fn, windows: np.ndarray) -> float:
    """Seconds per window of ``fn`` called on one window at a time."""
    t0 = time.perf_counter()
    for w in windows:
        fn(w)
    return (time.perf_counter() - t0) / len(windows)


def main() -> None:
    """Measure and write the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--windows", type=int, default=50)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgekit.convert.tf import quiet_tensorflow
    quiet_tensorflow()
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op as op

    from edgekit.edge import frontend as fe
    from edgekit.edge.core.spec import Spec
    from edgekit.edge.frontend.logmel import logmel_features, logmel_shape
    from edgekit.edge.frontend.mfcc import mfcc_features
    from edgekit.edge.frontend.microfrontend import microfrontend_features, microfrontend_shape
    from edgekit.edge.frontend.tf_signal import tf_features

    x = _windows(args.windows)

    def spec(feat, shape):
        return Spec(task="audio", kind="classification", sample_rate=float(RATE), window=RATE, input_shape=shape,
                    features=feat, normalization={"type": "none"}, labels=("a", "b"))

    micro = microfrontend_features()
    ours_micro = fe.build(spec(micro, microfrontend_shape(RATE, RATE, micro)))
    kws = tf_features(mfcc_features(n_mfcc=10, frame_length=640, hop_length=320, n_mels=40, fmin=20.0, fmax=4000.0,
                                    layout="time_freq"))
    ours_mfcc = fe.build(spec(kws, logmel_shape(RATE, kws)))
    mel = tf_features(logmel_features(frame_length=640, hop_length=320, n_mels=40, layout="time_freq"))
    ours_mel = fe.build(spec(mel, logmel_shape(RATE, mel)))

    @tf.function(reduce_retracing=True)
    def tf_mfcc(w):
        s = tf.abs(tf.signal.stft(w, 640, 320, 1024))
        m = tf.matmul(s, tf.signal.linear_to_mel_weight_matrix(40, 513, RATE, 20.0, 4000.0))
        return tf.signal.mfccs_from_log_mel_spectrograms(tf.math.log(m + 1e-6))[..., :10]

    @tf.function(reduce_retracing=True)
    def tf_mel(w):
        s = tf.abs(tf.signal.stft(w, 640, 320, 1024))
        return tf.math.log(tf.matmul(s, tf.signal.linear_to_mel_weight_matrix(40, 513, RATE, 0.0, 8000.0)) + 1e-6)

    pairs = {
        "microfrontend": (lambda w: ours_micro(w),
                          lambda w: op.audio_microfrontend(tf.constant((w * 32768).astype(np.int16)),
                                                           sample_rate=RATE, out_scale=1, out_type=tf.uint16).numpy()),
        "tf mfcc (MLPerf Tiny KWS)": (lambda w: ours_mfcc(w), lambda w: tf_mfcc(tf.constant(w, tf.float32)).numpy()),
        "tf log-mel": (lambda w: ours_mel(w), lambda w: tf_mel(tf.constant(w, tf.float32)).numpy()),
    }
    for ours, ref in pairs.values():            # warm up (tf.function tracing, tables)
        ours(x[0]), ref(x[0])
    times: dict[str, dict[str, list[float]]] = {k: {"edgekit": [], "reference": []} for k in pairs}
    for _ in range(args.rounds):
        for name, (ours, ref) in pairs.items():
            times[name]["edgekit"].append(_time(ours, x))
            times[name]["reference"].append(_time(ref, x))
    out = {"machine": platform.machine(), "processor": platform.processor(), "numpy": np.__version__,
           "tensorflow": tf.__version__, "rounds": args.rounds, "windows": len(x), "results": {}}
    for name, t in times.items():
        a, b = float(np.median(t["edgekit"])), float(np.median(t["reference"]))
        out["results"][name] = {"edgekit_ms": round(a * 1e3, 4), "reference_ms": round(b * 1e3, 4),
                                "ratio": round(a / b, 3)}
        print(f"{name:28s} edgekit {a * 1e3:7.3f} ms  reference {b * 1e3:7.3f} ms  ratio {a / b:5.2f}")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "frontends_foreign.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
