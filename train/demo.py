"""``edgekit demo``: the whole workflow on built-in synthetic data, end to end."""
from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click

DEMO_MARKER = ".edgekit-demo"


def _rule(title: str) -> None:
    click.echo()
    click.secho(f"── {title} " + "─" * max(0, 70 - len(title)), bold=True)


def _fresh_out(out: Path) -> Path:
    """``out`` emptied for a demo: an earlier demo's output is replaced, anything else refused (``--out ~``
    must not empty a home folder)."""
    from edgekit.edge.core.errors import EdgekitError
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / DEMO_MARKER).is_file()):
            raise EdgekitError(f"--out {out}: exists and is not an earlier 'edgekit demo' output; choose "
                               "another --out, or remove it yourself")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / DEMO_MARKER).write_text("written by 'edgekit demo'; the next demo with this --out replaces this folder\n")
    return out


def _steps(first: int):
    """Numbered section rules for :func:`edgekit.train.build.build_all`'s stages, from ``first`` on."""
    n = itertools.count(first)
    return lambda title: _rule(f"{next(n)}. {title}")


@click.group(invoke_without_command=True)
@click.option("--out", type=click.Path(file_okay=False), default="demo-out", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--n", "n", type=click.IntRange(min=40), default=600, show_default=True,
              help="Synthetic signals to generate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--stream-seconds", type=click.FloatRange(min=1), default=30.0, show_default=True)
@click.pass_context
def demo(ctx, out, epochs, n, seed, stream_seconds):
    """Synthesize vibration data, then `edgekit build stft` on it (train the STFT CNN, convert to TFLite and ONNX in
    float32 and int8, verify and compare them, report.md), and stream synthetic signal through edge-run on the int8
    model. `edgekit demo audio`: the keyword detector's workflow."""
    if ctx.invoked_subcommand is not None:
        return
    from edgekit.convert.tf import quiet_tensorflow
    from .build import build_all
    from .datasets import load_signals, save_course_pickle

    quiet_tensorflow()       # without the [train] extra: a one-line error now, before anything is written
    t_start = time.perf_counter()
    out = _fresh_out(Path(out))

    _rule("1. data: synthetic vibration (A = healthy, B = bearing fault), course format")
    ds = load_signals(None, seed=seed, n=n)
    save_course_pickle(out / "data.pkl", ds)
    click.echo(f"wrote {out / 'data.pkl'}: {n} signals × {ds.signals.shape[1]} samples at 12800 Hz")

    click.echo(f"\n(steps 2-4 are `edgekit build stft --data {out / 'data.pkl'} --epochs {epochs} --seed {seed}`)")
    b = build_all("stft", out, ["--data", str(out / "data.pkl"), "--epochs", str(epochs), "--seed", str(seed)],
                  runs=50, run_name="stft", step=_steps(2))
    artifacts = [b["artifacts"][0], b["artifacts"][1]]        # TFLite float32, int8

    _rule(f"5. device: edge-run --model {artifacts[-1]} --source synthetic --duration {stream_seconds:g}")
    edge_run = Path(sys.executable).with_name("edge-run")
    head = [str(edge_run)] if edge_run.exists() else [sys.executable, "-m", "edgekit.edge.commands.edge_run"]
    proc = subprocess.run([*head, "--model", artifacts[-1], "--source", "synthetic", "--duration",
                           f"{stream_seconds:g}", "--quiet"])
    if proc.returncode != 0:
        raise click.ClickException(f"edge-run failed with exit code {proc.returncode}")
    click.echo(f"\ndemo finished in {time.perf_counter() - t_start:.0f} s; artifacts in {out}/")


@demo.command("audio")
@click.option("--data", type=click.Path(exists=True), default=None,
              help="A folder of labelled clips (default: built-in synthetic acoustic events), e.g. "
                   "../shared/data/fsdd/recordings with --label-regex '^(\\d+)_' --group-regex '^\\d+_([a-z]+)_'.")
@click.option("--label-regex", default=None, help="Flat folder: the label is this regex's first group.")
@click.option("--group-regex", default=None, help="The group (speaker, room) from the file name.")
@click.option("--test-groups", default=None, help="Comma-separated groups held out for the test.")
@click.option("--tts-voices", type=click.IntRange(min=0, max=1000), default=0, show_default=True,
              help="Synthetic espeak-ng speakers added to training (edgekit train audio --tts-voices), e.g. 100 "
                   "with FSDD.")
@click.option("--tts-flite-voices", type=click.IntRange(min=0, max=1000), default=0, show_default=True,
              help="Synthetic flite speakers added to training (edgekit train audio --tts-flite-voices), e.g. 50 "
                   "with FSDD.")
@click.option("--out", type=click.Path(file_okay=False), default="demo-audio", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=40, show_default=True, help="At most this many.")
@click.option("--seed", type=int, default=0, show_default=True)
def demo_audio(data, label_regex, group_regex, test_groups, tts_voices, tts_flite_voices, out, epochs, seed):
    """`edgekit build audio` (the DS-CNN keyword detector, test groups held out; TFLite and ONNX, float32 and int8),
    compare float32 with int8 on the held-out clips, and evaluate it as a detector on a stream of them (edgekit
    stream-eval)."""
    import os
    from edgekit.convert.compare import compare
    from edgekit.convert.compare.report import print_table
    from edgekit.convert.tf import quiet_tensorflow
    from edgekit.edge.formats.wav import write_wav
    from edgekit.edge.pipeline.stream_eval import evaluate
    from .synthetic_events import synthetic_events
    from .build import build_all

    quiet_tensorflow()
    t_start = time.perf_counter()
    out = _fresh_out(Path(out))
    what = data or "built-in synthetic acoustic events (chirp, hum, knock, speech-like bursts; beeps as unknown)"
    click.echo(f"data: {what}")
    given = {"--data": data, "--label-regex": label_regex, "--group-regex": group_regex, "--test-groups": test_groups,
             "--tts-voices": tts_voices, "--tts-flite-voices": tts_flite_voices}
    args = [*(a for k, v in given.items() if v for a in (k, str(v))), "--epochs", str(epochs), "--seed", str(seed)]
    click.echo(f"(steps 1-3 are `edgekit build audio {' '.join(args)}`)")
    b = build_all("audio", out, args, runs=50, run_name="audio", step=_steps(1))
    metrics = b["metrics"]
    artifacts = [b["artifacts"][0], b["artifacts"][1]]        # TFLite float32, int8

    held = out / "test-clips"          # the held-out clips, as a folder edge-run and stream-eval read
    test = set(metrics["groups"].get("test_groups") or [])
    if data is None:
        cs = synthetic_events(seed=seed)
        for k, c in enumerate(cs.clips):
            if c.group in test and cs.names[c.label] in metrics["labels"]:
                d = held / cs.names[c.label]
                d.mkdir(parents=True, exist_ok=True)
                write_wav(d / f"{c.group}_{k:04d}.wav", cs.read(k), int(cs.fs))
    else:
        import re
        grx = re.compile(group_regex) if group_regex else None
        held.mkdir()
        for f in sorted(Path(data).iterdir()):
            m = grx.search(f.name) if grx else None
            if f.suffix.lower() == ".wav" and m and m.group(1) in test:
                os.symlink(f.resolve(), held / f.name)

    _rule("4. compare on the device's own front end: float32 vs int8 on the held-out clips "
          f"({', '.join(sorted(test)) or 'test split'})")
    print_table(compare(artifacts, str(held), log=click.echo, label_regex=label_regex)["rows"], click.echo)

    _rule("5. stream-eval: the held-out clips as one stream (2 s gaps, 20 dB SNR) through edge-run's loop")
    r = evaluate(artifacts[-1], held, label_regex=label_regex, snr_db=20.0, seed=seed)
    d = r["delay_ms"] or {}
    click.echo(f"{r['utterances']} utterances: detected {r['detected']} ({r['detection_rate']:.1%}), wrong label "
               f"{r['wrong_label']}, missed {r['missed']}; false alarms {r['false_alarms']} "
               f"({r['false_alarms_per_hour']:.1f} per hour of gaps); delay p50 {d.get('p50', float('nan')):.0f} ms")
    click.echo(f"\ndemo finished in {time.perf_counter() - t_start:.0f} s; artifacts in {out}/  "
               f"(on a device: edge-run --model {artifacts[-1]} --source mic)")


@demo.command("anomaly")
@click.option("--out", type=click.Path(file_okay=False), default="demo-anomaly", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=300, show_default=True, help="At most this many.")
@click.option("--n", "n", type=click.IntRange(min=100), default=1000, show_default=True,
              help="Synthetic signals to generate (half of them healthy: the only ones trained on).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--stream-seconds", type=click.FloatRange(min=1), default=90.0, show_default=True,
              help="Seconds of the machine streamed through edge-run (healthy for 30 s, then its fault grows).")
@click.option("--every", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds of the stream per line of the timeline.")
def demo_anomaly(out, epochs, n, seed, stream_seconds, every):
    """`edgekit build anomaly` (an autoencoder trained on healthy machines only, A; its threshold from healthy windows
    it did not see; TFLite and ONNX, float32 and int8, compared on healthy and faulty test windows), then one machine
    streamed through edge-run on the int8 model: healthy for 30 s, then its bearing fault appears and grows, and the
    score rises with it."""
    import json

    from edgekit.convert.tf import quiet_tensorflow
    from edgekit.edge import tasks
    from edgekit.edge.outputs.sinks import TextSink
    from .build import build_all

    quiet_tensorflow()
    t_start = time.perf_counter()
    out = _fresh_out(Path(out))
    click.echo("data: built-in synthetic vibration, A = healthy machines (trained on), B = bearing faults (tested)")
    args = ["--n", str(n), "--epochs", str(epochs), "--seed", str(seed)]
    click.echo(f"(steps 1-3 are `edgekit build anomaly {' '.join(args)}`)")
    b = build_all("anomaly", out, args, runs=50, run_name="anomaly", step=_steps(1))
    model = b["artifacts"][1]                                   # TFLite int8

    _rule(f"4. device: edge-run --model {model} --source synthetic --duration {stream_seconds:g} --json")
    edge_run = Path(sys.executable).with_name("edge-run")
    head = [str(edge_run)] if edge_run.exists() else [sys.executable, "-m", "edgekit.edge.commands.edge_run"]
    proc = subprocess.run([*head, "--model", model, "--source", "synthetic", "--duration", f"{stream_seconds:g}",
                           "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise click.ClickException(f"edge-run failed with exit code {proc.returncode}: {proc.stderr.strip()}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    summary = next(d["summary"] for d in lines if "summary" in d)
    threshold = summary["threshold"]
    click.echo(f"one machine: healthy (A) for 30 s, then a bearing fault (B) that grows; threshold {threshold:.4g}; "
               f"each line {every:g} s of windows (█ = a tenth of the threshold, | = the threshold)")
    windows = [d for d in lines if "anomaly" in d]
    events = [d for d in lines if "event" in d]
    for k in itertools.count():
        part = [d for d in windows if k * every <= d["t"] < (k + 1) * every]
        if not part:
            break
        mean = sum(d["score"] for d in part) / len(part)
        bar = ("█" * min(40, int(10 * mean / threshold))).ljust(10)
        bar = bar[:10] + "|" + bar[10:]
        truth = "/".join(sorted({d.get("truth", "?") for d in part}))
        fired = [e for e in events if k * every <= e["t"] < (k + 1) * every]
        click.echo(f"t {k * every:5.0f}-{(k + 1) * every:<4.0f}s  {truth:<3}  score {mean:8.4g}  "
                   f"anomalous {sum(d['anomaly'] for d in part)}/{len(part)}  {bar}"
                   + (f"  >>> event at {fired[0]['t']:.1f} s" if fired else ""))
    TextSink(tasks.get("anomaly")).summary(summary)
    click.echo(f"\ndemo finished in {time.perf_counter() - t_start:.0f} s; artifacts in {out}/  "
               f"(on a device: edge-run --model {model} --source mic)")
