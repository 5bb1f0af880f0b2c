"""``edgekit demo``: the whole workflow on built-in synthetic data, end to end."""
from __future__ import annotations

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


@click.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-out", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--n", "n", type=click.IntRange(min=40), default=600, show_default=True,
              help="Synthetic signals to generate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--stream-seconds", type=click.FloatRange(min=1), default=30.0, show_default=True)
def demo(out, epochs, n, seed, stream_seconds):
    """Synthesize vibration data, train the STFT CNN, convert to TFLite float32 and int8, compare them,
    and stream synthetic signal through edge-run on the int8 model."""
    from edgekit.convert.compare import compare
    from edgekit.convert.compare.report import print_table
    from edgekit.convert.export import convert_run, print_report
    from edgekit.convert.tf import quiet_tensorflow
    from edgekit.edge.errors import EdgekitError
    from .datasets import load_signals, save_course_pickle
    from .stft import train_stft

    quiet_tensorflow()       # without the [train] extra: a one-line error now, before anything is written
    t_start = time.perf_counter()
    out = Path(out)
    if out.exists():
        # Replace an earlier demo's output, never anything else (`--out ~` must not empty a home folder).
        if not out.is_dir() or (any(out.iterdir()) and not (out / DEMO_MARKER).is_file()):
            raise EdgekitError(f"--out {out}: exists and is not an earlier 'edgekit demo' output; choose "
                               "another --out, or remove it yourself")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / DEMO_MARKER).write_text("written by 'edgekit demo'; the next demo with this --out replaces this folder\n")
    run_dir = out / "stft"

    _rule("1. data: synthetic vibration (A = healthy, B = bearing fault), course format")
    ds = load_signals(None, seed=seed, n=n)
    save_course_pickle(out / "data.pkl", ds)
    click.echo(f"wrote {out / 'data.pkl'}: {n} signals × {ds.signals.shape[1]} samples at 12800 Hz")

    _rule("2. train: edgekit train stft")
    train_stft(run_dir, data=str(out / "data.pkl"), epochs=epochs, seed=seed, verbose=2, log=click.echo)

    _rule("3. convert: edgekit convert --to tflite --precision float32 | int8")
    artifacts = []
    for precision in ("float32", "int8"):
        rep = convert_run(run_dir, "tflite", precision, log=click.echo)
        print_report(rep, click.echo)
        artifacts.append(rep["artifact"])

    _rule("4. compare: Keras float32 (reference) vs TFLite float32 vs TFLite int8")
    print_table(compare([str(run_dir / "model.keras"), *artifacts], log=click.echo)["rows"], click.echo)

    _rule(f"5. device: edge-run --model {artifacts[-1]} --source synthetic --duration {stream_seconds:g}")
    edge_run = Path(sys.executable).with_name("edge-run")
    head = [str(edge_run)] if edge_run.exists() else [sys.executable, "-m", "edgekit.edge.run"]
    proc = subprocess.run([*head, "--model", artifacts[-1], "--source", "synthetic", "--duration",
                           f"{stream_seconds:g}", "--quiet"])
    if proc.returncode != 0:
        raise click.ClickException(f"edge-run failed with exit code {proc.returncode}")
    click.echo(f"\ndemo finished in {time.perf_counter() - t_start:.0f} s; artifacts in {out}/")
