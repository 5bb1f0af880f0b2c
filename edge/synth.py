"""Deterministic synthetic vibration data: a healthy machine (class A) and a bearing fault (class B).

numpy only: the device's ``--source synthetic`` streams from :func:`vibration_stream`.

The physics (an accelerometer on a bearing housing, ``fs`` = 12.8 kHz, 10000-sample windows)
--------------------------------------------------------------------------------------------
Every signal, both classes:

* **Shaft-rate harmonics.** Shaft speed ``f_r`` uniform in 15–45 Hz (900–2700 rpm); 1×, 2× and 3×
  ``f_r`` with random amplitudes (1× in 0.5–1, 2× 10–60 % of it, 3× 5–30 %) and random phases:
  unbalance, misalignment and looseness, present in every machine.
* **Gear mesh.** ``z`` teeth (17–40), a tone at ``z · f_r`` (≈ 0.25–1.8 kHz, amplitude 0.05–0.3)
  with shaft-rate sidebands ``z · f_r ± f_r`` (0–30 % of the mesh tone).
* **Structural resonance.** The housing has a resonance at ``f_n`` uniform in 2–5 kHz with damping
  ratio 2–8 %. Broadband random forces (flow, friction) excite it in *every* machine, at a random
  level (RMS 0.1–1× the broadband floor), so "energy near 3 kHz" alone does not mean a fault.
* **Broadband noise.** White sensor/process noise with a log-uniform level (RMS 0.01–0.1 of the
  1× amplitude).
* **Overall gain.** Mounting and sensitivity: the whole signal is scaled to an RMS log-uniform in
  0.02–0.15 (full scale = 1), and scaled down further if needed so that the peak stays ≤ 0.95.

Class B adds an **outer-race bearing fault**: an impact every ``1 / BPFO`` seconds, with
``BPFO`` = 3.05–3.6 × ``f_r`` (≈ 46–162 Hz; the ball-pass frequency of a typical 8–10 ball bearing),
each impact time jittered by a random 0.5–2 % of the period (rolling-element slip), each impact's
strength varied by ±10 % and, for some bearings, modulated by the shaft rotation (depth 0–50 %, as
when the load zone rotates). Each impact rings the structural resonance: a decaying sinusoid
``exp(-ζ ω_n t) · sin(ω_n √(1-ζ²) t)``. The fault-to-noise ratio (impact peak over the broadband
noise RMS) is log-uniform between 0.8 and 12 (−2 to 21.6 dB), so a few faults are nearly buried in
noise — the task is not trivial — while most show a clear, impulsive resonance band in a spectrogram.

Same ``seed`` → bit-identical output (on the same numpy). Labels are indices into ``classes``:
0 = healthy, 1 = fault.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from .errors import EdgekitError

_IR_LEN = 512           # resonance impulse response length (≥ 10 decay time constants)
_CHUNK = 128            # signals per FFT block (bounds memory)
_STREAM_CHUNK = 32      # signals per block of vibration_stream
_FNR = (0.08, 4.0)      # fault power / broadband noise power (log-uniform)
_RES_LEVEL = (0.005, 0.15)  # resonance power from random forces / broadband noise power (log-uniform)
_ZETA = (0.01, 0.04)    # damping ratio of the structural resonance
_FN = (2000.0, 5000.0)  # structural mode frequencies, Hz
_MODES = 1
_NOISE = (0.01, 0.1)
_RMS = (0.02, 0.15)


def _loguniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _resonance_ir(fn: np.ndarray, zeta: np.ndarray, amp: np.ndarray, fs: float) -> np.ndarray:
    """Impulse responses (n, _IR_LEN) of the housing: a sum of damped modes (n, modes)."""
    t = np.arange(_IR_LEN) / fs
    wn = 2 * np.pi * fn[..., None]
    wd = wn * np.sqrt(1 - zeta[..., None] ** 2)
    return (amp[..., None] * np.exp(-zeta[..., None] * wn * t) * np.sin(wd * t)).sum(1)


def _check(n, fs, length, classes):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise EdgekitError(f"vibration: n must be a non-negative integer, got {n!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise EdgekitError(f"vibration: length must be a positive integer, got {length!r}")
    if not np.isfinite(fs) or fs < 12000:
        raise EdgekitError(f"vibration: fs must be at least 12000 Hz (the resonance is up to 5 kHz), "
                           f"got {fs!r}")
    if len(classes) != 2:
        raise EdgekitError(f"vibration: classes names the healthy and the fault class, exactly two, "
                           f"got {list(classes)!r}")


def vibration(n: int, seed: int = 0, fs: float = 12800.0, length: int = 10000,
              classes=("A", "B"), balanced: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic vibration windows: ``(signals float32 (n, length), labels int64 (n,))``.

    Labels index ``classes`` (0 = healthy, 1 = bearing fault). ``balanced=True`` gives exactly
    ``n // 2`` healthy and ``n - n // 2`` faulty windows in a seeded random order; otherwise each label
    is a fair coin. See the module docstring for the physics and parameter ranges.
    """
    fs = float(fs)
    _check(n, fs, length, classes)
    n, length = int(n), int(length)
    rng = np.random.default_rng(seed)
    if balanced:
        labels = rng.permutation(np.repeat(np.array([0, 1], dtype=np.int64), [n // 2, n - n // 2]))
    else:
        labels = rng.integers(0, 2, n).astype(np.int64)
    out = np.empty((n, length), dtype=np.float32)
    if n == 0:
        return out, labels

    # -- per-signal parameters (drawn for every signal, in a fixed order, so a seed fixes them all)
    fr = rng.uniform(15.0, 45.0, n)                               # shaft rate, Hz
    a1 = rng.uniform(0.5, 1.0, n)
    harm_amp = np.stack([a1, a1 * rng.uniform(0.1, 0.6, n), a1 * rng.uniform(0.05, 0.3, n)], 1)
    harm_phase = rng.uniform(0, 2 * np.pi, (n, 3))
    teeth = rng.integers(17, 41, n)
    mesh_amp = rng.uniform(0.05, 0.3, n)
    side_amp = mesh_amp[:, None] * rng.uniform(0.0, 0.3, (n, 2))
    mesh_phase = rng.uniform(0, 2 * np.pi, (n, 3))
    noise_rms = a1 * _loguniform(rng, *_NOISE, n)
    fn = rng.uniform(*_FN, (n, _MODES))                            # structural modes, Hz
    zeta = rng.uniform(*_ZETA, (n, _MODES))
    mode_amp = rng.uniform(0.3, 1.0, (n, _MODES))
    res_level = _loguniform(rng, *_RES_LEVEL, n)                  # random-force resonance power
    bpfo = fr * rng.uniform(3.05, 3.6, n)                         # fault frequency, Hz
    jitter = rng.uniform(0.005, 0.02, n)                          # fraction of the period
    mod_depth = rng.uniform(0.0, 0.5, n) * (rng.random(n) < 0.5)
    mod_phase = rng.uniform(0, 2 * np.pi, n)
    fnr = _loguniform(rng, *_FNR, n)                              # fault power / noise power
    t0 = rng.random(n)                                            # first impact, fraction of period
    rms_target = _loguniform(rng, *_RMS, n)
    n_imp = int(np.ceil(length / fs * bpfo.max())) + 2
    imp_jit = rng.standard_normal((n, n_imp))
    imp_amp = 1.0 + 0.1 * rng.uniform(-1, 1, (n, n_imp))
    block_seeds = rng.integers(0, 2**63, (n + _CHUNK - 1) // _CHUNK)

    t = np.arange(length) / fs
    nfft = 1 << int(np.ceil(np.log2(length + _IR_LEN - 1)))
    for b, start in enumerate(range(0, n, _CHUNK)):
        s = slice(start, min(start + _CHUNK, n))
        m = s.stop - s.start
        brng = np.random.default_rng(block_seeds[b])
        # deterministic part: shaft harmonics and gear mesh with sidebands
        w = 2 * np.pi * fr[s, None]
        x = np.zeros((m, length))
        for k in range(3):
            x += harm_amp[s, k, None] * np.sin((k + 1) * w * t + harm_phase[s, k, None])
        z = teeth[s, None]
        for j, off in enumerate((0, -1, 1)):
            amp = mesh_amp[s, None] if off == 0 else side_amp[s, (j - 1), None]
            x += amp * np.sin((z + off) * w * t + mesh_phase[s, j, None])
        # resonance excitation: random forces (both classes) + fault impacts (class B)
        noise = brng.standard_normal((m, length), dtype=np.float32).astype(np.float64)
        ir = _resonance_ir(fn[s], zeta[s], mode_amp[s], fs)
        ir_energy = (ir ** 2).sum(1)                             # response power per unit white force
        exc = noise * (np.sqrt(res_level[s] / ir_energy) * noise_rms[s])[:, None]
        faulty = labels[s] == 1
        if faulty.any():
            period = 1.0 / bpfo[s]
            k = np.arange(n_imp)
            times = (t0[s, None] + k) * period[:, None] \
                + imp_jit[s] * (jitter[s] * period)[:, None]
            idx = np.rint(times * fs).astype(np.int64)
            strength = imp_amp[s] * (1 + mod_depth[s, None]
                                     * np.cos(2 * np.pi * fr[s, None] * times + mod_phase[s, None]))
            # impacts/sample × energy/impact = fault power: fnr × noise power
            strength *= (np.sqrt(fnr[s] * fs / (bpfo[s] * ir_energy)) * noise_rms[s])[:, None]
            ok = (idx >= 0) & (idx < length) & faulty[:, None]
            rows = np.broadcast_to(np.arange(m)[:, None], idx.shape)
            np.add.at(exc, (rows[ok], idx[ok]), strength[ok])
        spec = np.fft.rfft(exc, nfft, axis=1) * np.fft.rfft(ir, nfft, axis=1)
        x += np.fft.irfft(spec, nfft, axis=1)[:, :length]
        x += noise * noise_rms[s, None]
        # overall gain: target RMS, then keep the peak inside full scale
        gain = rms_target[s] / np.sqrt((x ** 2).mean(1))
        gain = np.minimum(gain, 0.95 / np.abs(x).max(1))
        out[s] = x * gain[:, None]
    return out, labels


def vibration_stream(seed: int = 0, fs: float = 12800.0, length: int = 10000
                     ) -> Iterator[tuple[np.ndarray, int]]:
    """Endless ``(signal float32 (length,), label_index)`` windows, deterministic for ``seed``.

    Block ``k`` is ``vibration(32, seed=<derived from (seed, k)>, balanced=False)``, so the labels form
    an unpredictable sequence and the stream never repeats.
    """
    _check(0, float(fs), length, ("A", "B"))
    k = 0
    while True:
        sub = int(np.random.SeedSequence([int(seed) & (2**64 - 1), k]).generate_state(2, np.uint64)[0])
        x, y = vibration(_STREAM_CHUNK, seed=sub, fs=fs, length=length, balanced=False)
        for i in range(_STREAM_CHUNK):
            yield x[i], int(y[i])
        k += 1
