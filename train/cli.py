"""``edgekit train ...`` and ``edgekit data ...`` (workstation commands, loaded as plugins)."""
from __future__ import annotations

import click


@click.group()
def train():
    """Train a course model; writes DIR/model.keras, spec.json, test.npz, metrics.json."""


@train.command("stft")
@click.option("--data", type=click.Path(exists=False), default=None,
              help="Course .pkl, .npz (signal, label) or a folder of WAVs by label; default: synthetic.")
@click.option("--fs", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Sample rate in Hz, if the data does not say it (read from 'time' in the course format).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--n", "n", type=click.IntRange(min=20), default=600, show_default=True,
              help="Number of synthetic signals (without --data).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=None,
              help="Stop after this many epochs without a lower validation loss (default: run all epochs). "
                   "Either way the weights of the best epoch are kept.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
def train_stft_cmd(data, fs, epochs, seed, n, batch_size, patience, out):
    """The STFT CNN on vibration/acoustic windows."""
    from .stft import train_stft
    train_stft(out, data=data, fs=fs, epochs=epochs, seed=seed, n=n, batch_size=batch_size, patience=patience,
               log=click.echo)


@click.group()
def data():
    """Data utilities."""


@data.group()
def synth():
    """Write deterministic synthetic data sets."""


@synth.command("stft")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output .pkl (course format).")
@click.option("--n", "n", type=click.IntRange(min=2), default=600, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synth_stft(out, n, seed):
    """Vibration signals (A = healthy, B = bearing fault), 10000 samples at 12.8 kHz, course format."""
    from edgekit.edge.io.synth import vibration
    from .datasets import SignalDataset, save_course_pickle

    x, y = vibration(n, seed=seed)
    save_course_pickle(out, SignalDataset(x, y, ["A", "B"], 12800.0, "synthetic"))
    click.echo(f"wrote {out}: {n} signals × {x.shape[1]} samples at 12800 Hz, classes A ({(y == 0).sum()}) "
               f"and B ({(y == 1).sum()})")


from .mnist import mnist_cmd  # noqa: E402  (issue 6: image task)
train.add_command(mnist_cmd, "mnist")

from .traffic_cli import synth_traffic_cmd, traffic_cmd  # noqa: E402  (issue 5: traffic task)
train.add_command(traffic_cmd, "traffic")
synth.add_command(synth_traffic_cmd, "traffic")
