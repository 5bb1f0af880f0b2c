"""``edge-run --publish``: the real-time factor with and without publishing to a local broker, same run, A/B.

The stream is edge-run's own (:func:`edgekit.edge.pipeline.loop.run_stream`, the JSON sink writing to
/dev/null) on the STFT int8 model of ``edgekit train stft``, synthetic source, as fast as the machine goes:
the worst case for the publisher, since every window is a message (a live sensor stream makes 1-50 a second;
this one makes thousands). Three arms, interleaved in rounds so machine noise hits all alike:

none       no publisher
publish    ``--publish mqtt://127.0.0.1:PORT/bench`` (QoS 1, queue 1000) to Debian's mosquitto started here
restart    the same, with the broker stopped a third of the way through and started again at two thirds

The real-time factor here is seconds of signal per second of *wall-clock* time of the whole loop (sink and
publisher included), not the summary's ``real_time_factor`` (which counts only the timed stages). Also
records, per arm, published / dropped / pending: every message delivered or counted.

Usage: python benchmarks/publish.py [--run DIR] [--rounds R] [--windows N]
Writes benchmarks/results/publish.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, root: Path):
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(exe):
            raise SystemExit("no mosquitto: apt-get install mosquitto")
        self.exe, self.port = exe, free_port()
        self.conf = root / "mosquitto.conf"
        self.conf.write_text(("user root\n" if os.geteuid() == 0 else "") +
                             f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.01)
        raise SystemExit("mosquitto did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", help="training run directory (default: train `edgekit train stft`'s model)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--windows", type=int, default=3000, help="windows per arm per round")
    ap.add_argument("--out", default=str(HERE / "results" / "publish.json"))
    args = ap.parse_args()

    from edgekit.edge import tasks
    from edgekit.edge.tasks.base import Options
    from edgekit.edge.outputs.publish import Publisher, summary_of
    from edgekit.edge.outputs.sinks import PublishingSink
    from edgekit.edge.outputs.sinks import JsonSink
    from edgekit.edge.model.model import Model
    from edgekit.edge.pipeline.loop import run_stream

    from stft_model import stft_int8_run
    tmp = Path(tempfile.mkdtemp())
    run_dir = stft_int8_run(args.run)
    model_path = run_dir / "stft_int8.tflite"
    model = Model(model_path, threads=1)
    spec = model.spec
    duration = args.windows * spec.window / spec.sample_rate
    broker = Broker(tmp)
    broker.start()
    devnull = open(os.devnull, "w")
    task = tasks.get(spec.task)

    def stream(arm: str, expect_s: float | None) -> dict:
        opt = Options(duration=duration, seed=7)
        source = task.open_source("synthetic", spec, opt)
        sink = JsonSink(out=devnull)
        publisher = None
        if arm != "none":
            publisher = Publisher(f"mqtt://127.0.0.1:{broker.port}/bench", qos=1, queue_size=1000)
            while not publisher.connected:
                time.sleep(0.005)
            sink = PublishingSink(sink, publisher)
        outage = None
        if arm == "restart":
            def cut():
                time.sleep(expect_s / 3)
                broker.stop()
                time.sleep(expect_s / 3)
                broker.start()
            outage = threading.Thread(target=cut)
        run = task.run(spec, source, sink, opt)
        t0, c0 = time.perf_counter(), time.process_time()
        if outage:
            outage.start()
        summary = run_stream(model, source, sink, run=run)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if outage:
            outage.join()
        out = {"wall_s": wall, "cpu_s": cpu, "windows": summary["windows"], "rtf": summary["signal_seconds"] / wall,
               "summary_rtf": summary["real_time_factor"]}
        if publisher is not None:
            stats = publisher.close(summary, timeout=30.0)
            out["publish"] = summary_of(publisher, stats)
            assert sum(stats.values()) == summary["windows"], stats
        return out

    stream("none", None)                                  # warm-up
    rounds = {"none": [], "publish": [], "restart": []}
    for r in range(args.rounds):
        base = stream("none", None)
        rounds["none"].append(base)
        rounds["publish"].append(stream("publish", None))
        rounds["restart"].append(stream("restart", base["wall_s"]))
        print(f"round {r + 1}: " + ", ".join(f"{k} RTF {v[-1]['rtf']:.0f}" for k, v in rounds.items()), flush=True)
    broker.stop()

    med = {k: statistics.median(x["rtf"] for x in v) for k, v in rounds.items()}
    result = {
        "model": str(model_path), "windows_per_arm": args.windows, "rounds": args.rounds,
        "signal_seconds_per_arm": round(duration, 3),
        "rtf_median": {k: round(v, 1) for k, v in med.items()},
        "publish_over_none": round(med["publish"] / med["none"], 3),
        "restart_over_none": round(med["restart"] / med["none"], 3),
        "cpu_us_per_window": {k: round(statistics.median(x["cpu_s"] / x["windows"] for x in v) * 1e6, 1)
                              for k, v in rounds.items()},
        "summary_rtf_median": {k: statistics.median(x["summary_rtf"] for x in v) for k, v in rounds.items()},
        "messages_per_second_publish": round(statistics.median(x["windows"] / x["wall_s"] for x in rounds["publish"]),
                                             1),
        "restart_counts": [x["publish"] for x in rounds["restart"]],
        "publish_counts": [x["publish"] for x in rounds["publish"]],
        "rounds_detail": rounds,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("rounds_detail", "publish_counts")}, indent=1))
    target = "met" if result["publish_over_none"] >= 0.9 else "MISSED"
    print(f"publish ÷ none real-time factor {result['publish_over_none']:.3f} (target ≥ 0.90: {target}); "
          f"through a broker restart {result['restart_over_none']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
