"""``edge-run --source mic`` against a real audio stack: a PulseAudio server started for the test (a 48 kHz null
sink ``vmic`` whose monitor is the default source), PortAudio reading it through ALSA's pulse plugin, and
``paplay`` playing synthetic vibration into the sink.

Needs the Debian packages pulseaudio, pulseaudio-utils, libportaudio2, libasound2-plugins and alsa-utils
(``make test`` installs them: .ci/system-packages); skips, naming what is missing, only when they are not installed.
"""
import ctypes.util
import glob
import json
import os
import re
import queue
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest

from conftest import bin_path

PACKAGES = "pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins alsa-utils"
WINDOW_S = 10000 / 12800


def _missing() -> list[str]:
    missing = [p for p in ("pulseaudio", "pactl", "paplay", "arecord") if shutil.which(p) is None]
    if ctypes.util.find_library("portaudio") is None:
        missing.append("libportaudio.so.2")
    if not glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so") + \
            glob.glob("/usr/lib/alsa-lib/libasound_module_pcm_pulse.so"):
        missing.append("ALSA's pulse plugin (libasound_module_pcm_pulse.so)")
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError):
        missing.append("the sounddevice package (pip install 'edgekit[mic]')")
    return missing


class Pulse:
    """A PulseAudio server of our own in ``root``: socket, runtime, state and HOME (with an ``.asoundrc``
    routing ALSA's default device to it) all there; ``env`` is what a client needs to reach it."""

    def __init__(self, root):
        root.mkdir(parents=True, exist_ok=True)
        sock = root / "pulse.sock"
        (root / ".asoundrc").write_text("pcm.!default { type pulse }\nctl.!default { type pulse }\n")
        self.env = {**os.environ, "HOME": str(root), "XDG_RUNTIME_DIR": str(root),
                    "XDG_CONFIG_HOME": str(root / ".config"), "PULSE_RUNTIME_PATH": str(root / "pulse"),
                    "PULSE_STATE_PATH": str(root / "state"), "PULSE_SERVER": f"unix:{sock}"}
        self.log = open(root / "pulseaudio.log", "w")
        # --system=false: as root pulseaudio would otherwise assume a system-wide instance
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "--daemonize=no", "--system=false", "--exit-idle-time=-1", "--disallow-exit",
             "--use-pid-file=false", "--log-target=stderr",
             "-L", f"module-native-protocol-unix auth-anonymous=1 socket={sock}",
             "-L", "module-null-sink sink_name=vmic rate=48000", "-L", "module-always-sink"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while self.pactl("info", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"pulseaudio did not start: {(root / 'pulseaudio.log').read_text()}")
            time.sleep(0.1)
        self.pactl("set-default-source", "vmic.monitor")

    def pactl(self, *args, check=True):
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10,
                              check=check)

    def play(self, wav):
        return subprocess.Popen(["paplay", "--device=vmic", str(wav)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    missing = _missing()
    if missing:
        pytest.skip(f"no audio stack: {', '.join(missing)} missing (apt-get install {PACKAGES})")
    server = Pulse(tmp_path_factory.mktemp("pulse"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Per class (A healthy, B bearing fault): 12 windows of synthetic vibration made at the model's
    12.8 kHz, upsampled to the sink's 48 kHz and written as a 16-bit WAV (9.4 s)."""
    from edgekit.edge.frontend.resample import resample
    from edgekit.edge.sources.synth import vibration
    from edgekit.edge.formats.wav import write_wav
    d = tmp_path_factory.mktemp("clips")
    x, y = vibration(40, seed=11, fs=12800.0, length=10000)
    out = {}
    for k, name in enumerate("AB"):
        out[name] = d / f"{name}.wav"
        write_wav(out[name], resample(x[y == k][:12].reshape(-1), 12800, 48000), 48000)
    return out


def _edge_run(tiny_run, pulse, *args, **kw):
    return subprocess.Popen([bin_path("edge-run"), "--model", str(tiny_run / "stft" / "stft_int8.tflite"),
                             "--source", "mic", "--json", *args], env=pulse.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _devices(pulse) -> dict[str, int]:
    p = subprocess.run([bin_path("edge-run"), "--list-devices"], env=pulse.env, capture_output=True,
                       text=True, timeout=60, check=True)
    devices = {}
    for line in p.stdout.splitlines():
        index, name, rest = line.split(None, 2)
        assert rest.startswith("(") and " in, " in rest and rest.endswith(" Hz)"), line
        devices[name] = int(index)
    return devices


def test_list_devices_shows_alsas_pulse_devices(pulse):
    devices = _devices(pulse)
    assert {"pulse", "default"} <= set(devices), devices
    assert len(set(devices.values())) == len(devices)
    # every listed device is one ALSA itself lists (alsa-utils, not PortAudio)
    alsa = subprocess.run(["arecord", "-L"], env=pulse.env, capture_output=True, text=True, timeout=30).stdout
    alsa_names = {line for line in alsa.splitlines() if line and not line.startswith(" ")}
    assert set(devices) <= alsa_names, (devices, alsa_names)


@pytest.mark.parametrize("label,device", [("A", "name"), ("B", "index")])
def test_played_vibration_is_recognised_through_pulseaudio(tiny_run, pulse, clips, label, device):
    """The model labels what paplay plays into the 48 kHz sink; --device by name (A) and by index (B);
    PulseAudio hands edge-run 12.8 kHz, converted from the 48 kHz monitor (pactl shows both rates)."""
    dev = "pulse" if device == "name" else str(_devices(pulse)["default"])
    player = pulse.play(clips[label])
    try:
        time.sleep(0.3)                         # the sink is playing before the recording starts
        run = _edge_run(tiny_run, pulse, "--device", dev, "--duration", "4")
        outputs = set()
        while run.poll() is None:               # the recording stream, as PulseAudio sees it
            outputs |= {line.split("\t", 3)[3] for line in
                        pulse.pactl("list", "short", "source-outputs").stdout.splitlines()}
            time.sleep(0.2)
        out, err = run.communicate(timeout=30)
    finally:
        player.kill()
        player.wait()
    assert run.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    results, summary = lines[:-1], lines[-1]["summary"]
    assert summary["source"] == "mic" and summary["stopped_by"] == "--duration 4 s"
    assert summary["windows"] == len(results) == int(4 / WINDOW_S)
    assert [round(r["t"] * 12800) for r in results] == [10000 * i for i in range(len(results))]
    assert summary["dropped_blocks"] == 0 and summary["signal_seconds"] == pytest.approx(4.0, abs=1e-3)
    hits = sum(r["label"] == label for r in results)
    assert hits >= len(results) - 1, [r["label"] for r in results]
    # pulse accepts the model's 12.8 kHz, so PortAudio records at it and edgekit has nothing to resample:
    # the 48 kHz → 12.8 kHz conversion is PulseAudio's, for the stream edge-run opened
    assert "device records at" not in err
    assert any("1ch 12800Hz" in o for o in outputs), outputs
    assert "48000Hz" in pulse.pactl("list", "short", "sources").stdout


def test_killing_the_audio_server_ends_the_stream_with_the_summary_and_one_error(tiny_run, pulse, tmp_path):
    own = Pulse(tmp_path / "doomed")                 # a server of its own: the module's one lives on
    try:
        run = _edge_run(tiny_run, own, "--duration", "120")
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in run.stdout], daemon=True).start()
        first = json.loads(lines.get(timeout=30))   # streaming (the null sink's silence)
        assert first["t"] == 0.0
        own.proc.kill()
        own.proc.wait()
        run.wait(timeout=15)                        # a hang fails here (the bound is the mechanism's, below)
    finally:
        if run.poll() is None:
            run.kill()
        own.stop()
    err = run.stderr.read()
    out = []
    while not lines.empty():
        out.append(lines.get())
    summary = json.loads(out[-1])["summary"]
    # within 2 s of stream time: the source saw its stream stop, or counted 2 s of waits with no block
    # (MicSource.silence_limit), not a wall-clock bound that a loaded machine could break
    lost = re.search(r"the audio input (stopped|sent no audio for ([0-9.]+) s)", summary["error"])
    assert lost and (lost.group(2) is None or float(lost.group(2)) <= 2.0), summary["error"]
    assert run.returncode == 2
    assert summary["stopped_by"] == "source lost" and "the audio input" in summary["error"]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {summary['error']}"], err
    assert "Traceback" not in err
