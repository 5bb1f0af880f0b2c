"""Deterministic synthetic vibration data: a healthy machine (class A) and a bearing fault (class B).

numpy only: the device's ``--source synthetic`` streams from :func:`vibration_stream`. The physics: an accelerometer on
a bearing housing (``fs`` = 12.8 kHz, 10000-sample windows). Every signal has

* shaft-rate harmonics 1×, 2×, 3× ``f_r`` (15–45 Hz; unbalance, misalignment, looseness), most of the energy;
* gear mesh tones ``h · z · f_r`` (h = 1–3, ``z`` = 17–40 teeth, up to ≈ 5.4 kHz) with ``± f_r`` sidebands;
* slightly coloured broadband noise (power ∝ f^β, β in −0.3…0.3), RMS 2–10 % of the 1× amplitude;
* three housing modes in 2–5 kHz (damping 2–6 %) excited by random forces in *every* machine (0.2–5 % of
  the noise power), so some energy near 3 kHz is no proof of a fault;
* an overall gain to an RMS of 0.05–0.1 (full scale 1), peak ≤ 0.95.

Class B adds an outer-race bearing fault: an impact every ``1 / BPFO`` s (``BPFO`` = 3.05–3.6 × ``f_r``, a typical 8–10
ball bearing), jittered 0.5–2 % (slip), strength ±10 % and, for half the bearings, modulated by the shaft rotation (a
rotating load zone); each impact rings the housing modes. Fault power is 3–100 × the noise power (4.8–20 dB): faint at
the low end, impulsive with a glowing 2–5 kHz band at the high end.

Difficulty (scipy's spectrogram, nperseg=256, ('tukey', .25), magnitude, log; 700 train / 300 test of
``vibration(1000, seed=1)``): the best single threshold on total energy is at chance (≈ 52 %), on 2–5 kHz
band energy ≈ 90 %, on its share ≈ 91 %, on kurtosis ≈ 67 %; logistic regression on the log-spectrogram ≈ 98 %; the
course CNN (``edgekit train stft``, 600 signals, 10 epochs) ≈ 96–100 % depending on the seed.

Same ``seed`` → bit-identical output (same numpy, same machine). Labels: 0 = healthy, 1 = fault.

:func:`fault_stream` (and :func:`developing_fault`, its first windows) is one machine of that population recorded
for a long time: healthy at first, then its outer-race fault appears at the faintest strength of class B and grows to
the strongest (``edge-run --source synthetic`` on an anomaly model streams it).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from edgekit.edge.core.errors import EdgekitError

_IR_LEN = 512           # resonance impulse response length (≥ 10 decay time constants)
_CHUNK = 128            # signals per FFT block (bounds memory)
_STREAM_CHUNK = 4       # signals per block of vibration_stream (bounds a stream's memory: 2 MB)
_FNR = (3.0, 100.0)     # fault power / broadband noise power (log-uniform)
_RES_LEVEL = (0.002, 0.05)  # resonance power from random forces / noise power (log-uniform)
_ZETA = (0.02, 0.06)    # damping ratios of the housing modes
_FN = (2000.0, 5000.0)  # structural mode frequencies, Hz
_MODES = 3              # housing modes
_NOISE = (0.02, 0.1)    # broadband noise RMS / 1× shaft amplitude (log-uniform)
_TILT = (-0.3, 0.3)     # noise power ∝ f**tilt
_MESH = (0.05, 0.3)     # mesh tone / 1× shaft amplitude
_MESH2 = (0.05, 0.3)    # 2nd mesh harmonic / mesh tone
_MESH3 = (0.02, 0.15)   # 3rd mesh harmonic / mesh tone
_RMS = (0.05, 0.1)      # output RMS (log-uniform), full scale 1
_MOD = (0.0, 0.5)       # shaft-rate modulation depth of the impacts ...
_MOD_FRAC = 0.5         # ... for this fraction of the faults


def _loguniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _resonance_ir(fn: np.ndarray, zeta: np.ndarray, amp: np.ndarray, fs: float) -> np.ndarray:
    """Impulse responses (n, _IR_LEN) of the housing: a sum of damped modes (n, modes)."""
    t = np.arange(_IR_LEN) / fs
    wn = 2 * np.pi * fn[..., None]
    wd = wn * np.sqrt(1 - zeta[..., None] ** 2)
    return (amp[..., None] * np.exp(-zeta[..., None] * wn * t) * np.sin(wd * t)).sum(1)


def _tones(fr: np.ndarray, q: np.ndarray, c: np.ndarray, length: int, fs: float, block: int = 128) -> np.ndarray:
    """Sum of sinusoids ``Im(c · exp(2πi · q · fr · t))`` (n, length); (n, k) tones ``q``, ``c``.

    With ``t = (j · block + τ) / fs`` each tone factors into a block-start phasor and a within-block phasor, so the sum
    is a batched (real) matrix product (n, J, 2k) @ (n, 2k, block): exact phases, no per-sample trigonometry."""
    w = 2 * np.pi * fr[:, None] * q / fs                           # rad / sample, (n, k)
    n_blocks = -(-length // block)
    starts = np.exp(1j * w[:, None, :] * (np.arange(n_blocks) * block)[None, :, None])  # (n, J, k)
    within = np.exp(1j * w[:, :, None] * np.arange(block)[None, None, :])             # (n, k, B)
    a = starts * c[:, None, :]
    # Im(a @ within) as one real product: [Re a, Im a] @ [Im within; Re within]
    out = np.matmul(np.concatenate([a.real, a.imag], axis=2),
                    np.concatenate([within.imag, within.real], axis=1))                # (n, J, B)
    return out.reshape(len(fr), n_blocks * block)[:, :length]


def _fft_size(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n (fast for pocketfft)."""
    best = 1 << int(np.ceil(np.log2(n)))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            k = p35
            while k < n:
                k *= 2
            best = min(best, k)
            p35 *= 3
        p5 *= 5
    return best


def _check(n, fs, length, classes):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise EdgekitError(f"vibration: n must be a non-negative integer, got {n!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise EdgekitError(f"vibration: length must be a positive integer, got {length!r}")
    if not np.isfinite(fs) or fs < 4000:
        raise EdgekitError(f"synthetic vibration needs a sample rate of at least 4000 Hz, got {fs!r}")
    if len(classes) != 2:
        raise EdgekitError(f"vibration: classes names the healthy and the fault class, exactly two, "
                           f"got {list(classes)!r}")


def _draw(rng: np.random.Generator, n: int, fs: float, length: int) -> dict:
    """The parameters of ``n`` machines (one per signal), drawn from ``rng`` in a fixed order, so a seed fixes them
    all (see the module docstring for the physics and ranges)."""
    p: dict = {}
    p["fr"] = fr = rng.uniform(15.0, 45.0, n)                     # shaft rate, Hz
    a1 = rng.uniform(0.5, 1.0, n)
    shaft = np.stack([a1, a1 * rng.uniform(0.1, 0.6, n), a1 * rng.uniform(0.05, 0.3, n)], 1)
    shaft = shaft * np.exp(1j * rng.uniform(0, 2 * np.pi, (n, 3)))
    teeth = rng.integers(17, 41, n)
    mesh_amp = a1 * rng.uniform(*_MESH, n)
    mesh = mesh_amp[:, None] * np.stack([np.ones(n), rng.uniform(*_MESH2, n), rng.uniform(*_MESH3, n)], 1)
    mesh = mesh * np.exp(1j * rng.uniform(0, 2 * np.pi, (n, 3)))
    side = rng.uniform(0.0, 0.3, (n, 2)) * np.exp(1j * rng.uniform(0, 2 * np.pi, (n, 2)))
    p["noise_rms"] = a1 * _loguniform(rng, *_NOISE, n)
    p["tilt"] = rng.uniform(*_TILT, n)                            # noise power ∝ f**tilt
    # structural modes, Hz (below 12.5 kHz sampling, the band shrinks to stay under 0.4·fs)
    p["fn"] = rng.uniform(min(_FN[0], 0.16 * fs), min(_FN[1], 0.4 * fs), (n, _MODES))
    p["zeta"] = rng.uniform(*_ZETA, (n, _MODES))
    p["mode_amp"] = rng.uniform(0.3, 1.0, (n, _MODES))
    p["res_level"] = _loguniform(rng, *_RES_LEVEL, n)             # random-force resonance power
    p["bpfo"] = bpfo = fr * rng.uniform(3.05, 3.6, n)             # fault frequency, Hz
    p["jitter"] = rng.uniform(0.005, 0.02, n)                     # fraction of the period
    p["mod_depth"] = rng.uniform(*_MOD, n) * (rng.random(n) < _MOD_FRAC)
    p["mod_phase"] = rng.uniform(0, 2 * np.pi, n)
    p["fnr"] = _loguniform(rng, *_FNR, n)                         # fault power / noise power
    p["t0"] = rng.random(n)                                       # first impact, fraction of period
    p["rms_target"] = _loguniform(rng, *_RMS, n)
    p["n_imp"] = n_imp = _impacts(length, fs, bpfo)
    p["imp_jit"] = rng.standard_normal((n, n_imp))
    p["imp_amp"] = 1.0 + 0.1 * rng.uniform(-1, 1, (n, n_imp))
    p["block_seeds"] = rng.integers(0, 2**63, (n + _CHUNK - 1) // _CHUNK)
    # every tone is a whole multiple q of the shaft rate: 1×, 2×, 3× and, for each mesh harmonic
    # h = 1..3, h·z − 1, h·z, h·z + 1 (the mesh tone and its sidebands); c = amplitude · e^{i·phase}
    hz = teeth[:, None] * np.arange(1, 4)
    p["q"] = np.concatenate([np.tile(np.arange(1, 4), (n, 1)), hz - 1, hz, hz + 1], axis=1)
    p["c"] = np.concatenate([shaft, mesh * side[:, :1], mesh, mesh * side[:, 1:]], axis=1)
    return p


def _impacts(length: int, fs: float, bpfo: np.ndarray) -> int:
    """Fault impacts a buffer of ``length`` samples (and the ringing before it) can hold, at the highest ``bpfo``."""
    return int(np.ceil((length + _IR_LEN) / fs * bpfo.max())) + 2


def _render(p: dict, labels: np.ndarray, fs: float, length: int, gain: float | None = None) -> np.ndarray:
    """The signals (n, length) float32 of the machines ``p`` (:func:`_draw`), with the fault where ``labels`` is 1;
    each scaled to its ``rms_target`` with its peak inside full scale, or all by one fixed ``gain`` and clipped
    at full scale (a machine recorded by one channel)."""
    n = len(labels)
    out = np.empty((n, length), dtype=np.float32)
    fr, bpfo, noise_rms, n_imp = p["fr"], p["bpfo"], p["noise_rms"], p["n_imp"]
    # The stochastic part is built in a circular buffer of nfft samples, whose slice
    # [_IR_LEN, _IR_LEN + length) is the output: noise is stationary, and impacts from before the
    # window still ring into it.
    nfft = _fft_size(length + 2 * _IR_LEN)
    f = np.fft.rfftfreq(nfft, 1 / fs)
    logf = np.log(np.maximum(f, 200.0) / 1000.0)
    for b, start in enumerate(range(0, n, _CHUNK)):
        s = slice(start, min(start + _CHUNK, n))
        m = s.stop - s.start
        brng = np.random.default_rng(p["block_seeds"][b])
        # tonal part: shaft harmonics, gear mesh harmonics with shaft-rate sidebands
        x = _tones(fr[s], p["q"][s], p["c"][s], length, fs)
        # stochastic part: coloured broadband noise, the housing resonance excited by random
        # forces (both classes) and by the fault's impacts (class B)
        ir = _resonance_ir(p["fn"][s], p["zeta"][s], p["mode_amp"][s], fs)
        ir_energy = (ir ** 2).sum(1)                             # response power per unit white force
        H = np.fft.rfft(ir, nfft, axis=1)
        color = np.exp(0.5 * p["tilt"][s, None] * logf)
        color /= np.sqrt((color ** 2).mean(1, keepdims=True))
        N = np.fft.rfft(brng.standard_normal((m, nfft), dtype=np.float32), axis=1)
        X = N * (noise_rms[s, None] * (color + np.sqrt(p["res_level"][s] / ir_energy)[:, None] * H))
        del N
        rows = np.flatnonzero(labels[s] == 1)                   # faulty signals of this block
        if len(rows):
            g = start + rows                                     # their indices in the parameters
            period = 1.0 / bpfo[g]
            times = (p["t0"][g, None] + np.arange(n_imp)) * period[:, None] \
                + p["imp_jit"][g] * (p["jitter"][g] * period)[:, None]       # seconds from buffer start
            idx = np.rint(times * fs).astype(np.int64)
            strength = p["imp_amp"][g] * (1 + p["mod_depth"][g, None] * np.cos(
                2 * np.pi * fr[g, None] * (times - _IR_LEN / fs) + p["mod_phase"][g, None]))
            # impacts/sample × energy/impact = fault power = fnr × noise power
            strength *= (np.sqrt(p["fnr"][g] * fs / (bpfo[g] * ir_energy[rows])) * noise_rms[g])[:, None]
            ok = (idx >= 0) & (idx < _IR_LEN + length)
            imp = np.zeros((len(rows), nfft))
            np.add.at(imp, (np.broadcast_to(np.arange(len(rows))[:, None], idx.shape)[ok], idx[ok]), strength[ok])
            X[rows] += np.fft.rfft(imp, axis=1) * H[rows]
            del imp
        x += np.fft.irfft(X, nfft, axis=1)[:, _IR_LEN:_IR_LEN + length]
        del X
        if gain is None:       # overall gain: target RMS, then keep the peak inside full scale
            g_s = p["rms_target"][s] / np.sqrt((x ** 2).mean(1))
            out[s] = x * np.minimum(g_s, 0.95 / np.abs(x).max(1))[:, None]
        else:
            out[s] = np.clip(x * gain, -1.0, 1.0)
    return out


def vibration(n: int, seed: int = 0, fs: float = 12800.0, length: int = 10000,
              classes=("A", "B"), balanced: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic vibration windows: ``(signals float32 (n, length), labels int64 (n,))``.

    Labels index ``classes`` (0 = healthy, 1 = bearing fault). ``balanced=True`` gives exactly ``n // 2`` healthy and
    ``n - n // 2`` faulty windows in a seeded random order; otherwise each label is a fair coin. See the module
    docstring for the physics and parameter ranges."""
    fs = float(fs)
    _check(n, fs, length, classes)
    n, length = int(n), int(length)
    rng = np.random.default_rng(seed)
    if balanced:
        labels = rng.permutation(np.repeat(np.array([0, 1], dtype=np.int64), [n // 2, n - n // 2]))
    else:
        labels = rng.integers(0, 2, n).astype(np.int64)
    if n == 0:
        return np.empty((0, length), dtype=np.float32), labels
    return _render(_draw(rng, n, fs, length), labels, fs, length), labels


def vibration_stream(seed: int = 0, fs: float = 12800.0, length: int = 10000
                     ) -> Iterator[tuple[np.ndarray, int]]:
    """Endless ``(signal float32 (length,), label_index)`` windows, deterministic for ``seed``.

    Block ``k`` is ``vibration(_STREAM_CHUNK, seed=<derived from (seed, k)>, balanced=False)``, so the labels form an
    unpredictable sequence and the stream never repeats."""
    _check(0, float(fs), length, ("A", "B"))
    k = 0
    while True:
        sub = int(np.random.SeedSequence([int(seed) & (2**64 - 1), k]).generate_state(2, np.uint64)[0])
        x, y = vibration(_STREAM_CHUNK, seed=sub, fs=fs, length=length, balanced=False)
        for i in range(_STREAM_CHUNK):
            yield x[i], int(y[i])
        k += 1


# -- one machine whose bearing fault develops -------------------------------------------------------------

HEALTHY_SECONDS = 30.0     # a developing-fault stream: healthy this long, ...
RAMP_SECONDS = 60.0        # ... then the fault grows from the faintest to the strongest of class B over this long
HEADROOM = 0.5             # the healthy machine's peak, of full scale (the fault's impacts need the rest)


def fault_severity(t: np.ndarray, healthy_seconds: float = HEALTHY_SECONDS,
                   ramp_seconds: float = RAMP_SECONDS) -> np.ndarray:
    """Fault power / noise power at times ``t`` (s) of a developing-fault stream: 0 while healthy, then growing
    log-linearly from the faintest fault of class B (``_FNR[0]``, 4.8 dB) to the strongest (``_FNR[1]``, 20 dB) over
    ``ramp_seconds``, then staying there."""
    t = np.asarray(t, dtype=np.float64)
    u = np.clip((t - healthy_seconds) / ramp_seconds if ramp_seconds > 0 else 1.0, 0.0, 1.0)
    return np.where(t >= healthy_seconds, _FNR[0] * (_FNR[1] / _FNR[0]) ** u, 0.0)


def fault_stream(seed: int = 0, fs: float = 12800.0, length: int = 10000, healthy_seconds: float = HEALTHY_SECONDS,
                 ramp_seconds: float = RAMP_SECONDS) -> Iterator[tuple[np.ndarray, int, float]]:
    """Endless ``(signal float32 (length,), label_index, severity)`` windows of **one** machine (drawn from
    ``seed`` as :func:`vibration` draws one) whose outer-race fault appears after ``healthy_seconds`` and grows
    (:func:`fault_severity`; label 0 while healthy, 1 from the fault's onset on). Window ``k`` is the machine's
    ``k``-th stretch of ``length`` samples: its tones run on in phase from window to window, its noise and impacts
    are new in each, and one fixed gain (the healthy machine at its RMS target, peak at most :data:`HEADROOM` of
    full scale) scales them all, so the fault adds energy as it grows; samples beyond full scale clip, as a
    recording channel would. Deterministic for ``seed``."""
    fs = float(fs)
    _check(0, fs, length, ("A", "B"))
    length = int(length)
    machine = _draw(np.random.default_rng([int(seed) & (2**64 - 1), 31]), 1, fs, length)
    reference = _render(machine, np.zeros(1, np.int64), fs, length)           # the healthy machine, for the gain
    raw = _render({**machine, "rms_target": np.ones(1)}, np.zeros(1, np.int64), fs, length, gain=1.0)
    gain = float(np.sqrt((reference.astype(np.float64) ** 2).mean() / (raw.astype(np.float64) ** 2).mean()))
    gain = min(gain, HEADROOM / float(np.abs(raw).max()))
    n, k = _STREAM_CHUNK, 0
    per = {key: v for key, v in machine.items() if isinstance(v, np.ndarray) and v.shape[:1] == (1,)}
    while True:
        crng = np.random.default_rng(np.random.SeedSequence([int(seed) & (2**64 - 1), 32, k]))
        p = {key: np.repeat(v, n, axis=0) for key, v in per.items()}
        start = (k * n + np.arange(n)) * length                              # first sample of each window
        p["c"] = p["c"] * np.exp(2j * np.pi * p["q"] * (p["fr"] * start / fs)[:, None])   # tones run on
        p["mod_phase"] = p["mod_phase"] + 2 * np.pi * p["fr"] * start / fs
        sev = fault_severity(start / fs, healthy_seconds, ramp_seconds)
        p.update(fnr=np.maximum(sev, _FNR[0]), t0=crng.random(n), n_imp=machine["n_imp"],
                 imp_jit=crng.standard_normal((n, machine["n_imp"])),
                 imp_amp=1.0 + 0.1 * crng.uniform(-1, 1, (n, machine["n_imp"])),
                 block_seeds=crng.integers(0, 2**63, 1))
        labels = (sev > 0).astype(np.int64)
        x = _render(p, labels, fs, length, gain=gain)
        for i in range(n):
            yield x[i], int(labels[i]), float(sev[i])
        k += 1


def developing_fault(n: int, seed: int = 0, fs: float = 12800.0, length: int = 10000,
                     healthy_seconds: float = HEALTHY_SECONDS, ramp_seconds: float = RAMP_SECONDS
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n`` windows of :func:`fault_stream`: ``(signals float32 (n, length), labels int64 (n,),
    severity float64 (n,))``."""
    _check(n, float(fs), length, ("A", "B"))
    it = fault_stream(seed, fs, length, healthy_seconds, ramp_seconds)
    rows = [next(it) for _ in range(int(n))]
    return (np.stack([r[0] for r in rows]) if rows else np.empty((0, int(length)), np.float32),
            np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows], np.float64))
