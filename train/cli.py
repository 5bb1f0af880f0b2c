"""``edgekit train ...`` and ``edgekit data ...`` (workstation commands, loaded as plugins)."""
from __future__ import annotations

import click

from edgekit.edge.frontend.rows import MAX_FILL_ROWS

from .fit import PATIENCE
from .mnist import mnist_cmd


def parse_list(text: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]`` (None or empty → None)."""
    return [t.strip() for t in (text or "").split(",") if t.strip()] or None


def fit_options(epochs: int, patience_help: str, lr: float, n_min: int, n: int, n_help: str):
    """--epochs, --patience, --batch-size, --lr, --seed, --n and --out as the audio and anomaly commands take
    them (with these defaults and help)."""
    options = [
        click.option("--epochs", type=click.IntRange(min=1), default=epochs, show_default=True,
                     help="At most this many."),
        click.option("--patience", type=click.IntRange(min=0), default=PATIENCE, show_default=True, help=patience_help),
        click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True, max=1), default=lr, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--n", "n", type=click.IntRange(min=n_min), default=n, show_default=True, help=n_help),
        click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")]

    def add(f):
        for option in reversed(options):
            f = option(f)
        return f
    return add


@click.group()
def train():
    """Train a course model; writes DIR/model.keras, spec.json, test.npz, metrics.json."""


@train.command("stft")
@click.option("--data", type=click.Path(exists=False), default=None,
              help="Course .pkl, .npz (signal, label) or a folder of WAVs by label; default: synthetic.")
@click.option("--fs", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Sample rate in Hz, if the data does not say it (read from 'time' in the course format).")
@click.option("--epochs", type=click.IntRange(min=1), default=40, show_default=True,
              help="At most this many (training stops earlier on convergence: --patience).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--n", "n", type=click.IntRange(min=20), default=600, show_default=True,
              help="Number of synthetic signals (without --data).")
@click.option("--arch", type=click.Choice(["course", "dscnn"]), default="course", show_default=True,
              help="course: the course's STFT CNN; dscnn: the depthwise-separable CNN of the audio task.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=PATIENCE, show_default=True,
              help="Stop after this many epochs without a lower validation loss (--epochs is the cap). "
                   "Either way the weights of the best epoch are kept.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
def train_stft_cmd(**options):
    """The STFT CNN on vibration/acoustic windows."""
    from .stft import train_stft
    train_stft(**options, log=click.echo)


@train.command("audio")
@click.option("--data", type=click.Path(exists=False), default=None,
              help="A folder of WAV clips (root/<label>/*.wav, or flat with --label-regex), a course .pkl or "
                   "an .npz (signal, label); default: built-in synthetic acoustic events.")
@click.option("--label-regex", default=None,
              help="Flat folder: the label is this regex's first group in the file name, e.g. '^(\\d+)_'.")
@click.option("--group-regex", default=None,
              help="The group (e.g. speaker) from the file name, e.g. '^\\d+_([a-z]+)_': the split is then "
                   "group-wise, no test group is heard in training.")
@click.option("--test-groups", default=None, help="Comma-separated groups to test on (default: a seeded 20 %).")
@click.option("--keywords", default=None,
              help="Comma-separated labels to keep as classes; the others feed the 'unknown' class.")
@click.option("--unknown", type=click.Choice(["auto", "heldout", "reversed", "none"]), default="auto",
              show_default=True, help="The unknown class: clips of labels left out of --keywords (heldout), "
                                      "time-reversed keyword clips (reversed); auto: heldout if any.")
@click.option("--silence/--no-silence", default=True, show_default=True, help="Add a 'silence' class (noise).")
@click.option("--tts-voices", type=click.IntRange(min=0, max=1000), default=0, show_default=True,
              help="Add N synthetic speakers (espeak-ng voices: accent, variant, pitch, rate) saying every "
                   "keyword (about a tenth of the voices validate, none is ever tested); more voices generalise better "
                   "to unseen speakers (FSDD: +10 pp with 100). Needs espeak-ng (apt-get install espeak-ng).")
@click.option("--tts-flite-voices", type=click.IntRange(min=0, max=1000), default=0, show_default=True,
              help="Add N synthetic speakers from flite (its voices kal, awb, rms, slt, with a seeded pitch and "
                   "rate), split like --tts-voices; recorded people's voices, closer to natural speech (FSDD: "
                   "+2 pp with 50 on top of 100 espeak-ng ones). Needs flite (apt-get install flite).")
@click.option("--tts-words", default=None,
              help="What the synthetic voices say per label, e.g. '0=zero,1=one' (default: the label itself; "
                   "espeak-ng reads digits as words).")
@click.option("--tts-language", default="en", show_default=True,
              help="espeak-ng language whose accents the voices use (en: en-us, en-gb-scotland, ...).")
@click.option("--window", type=click.FloatRange(min=0, min_open=True, max=60), default=1.0, show_default=True,
              help="Seconds per window; clips are padded or cropped to it (centred), the same on the device.")
@click.option("--fs", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Resample clips to this rate (default: the first clip's).")
@click.option("--features", type=click.Choice(["mfcc", "logmel"]), default="mfcc", show_default=True)
@click.option("--n-mfcc", type=click.IntRange(min=1, max=40), default=13, show_default=True)
@click.option("--cmvn/--no-cmvn", default=True, show_default=True,
              help="Per-window mean/variance normalisation of each coefficient.")
@click.option("--arch", type=click.Choice(["dscnn", "course"]), default="dscnn", show_default=True,
              help="dscnn: depthwise-separable CNN (about 25 k parameters); course: the STFT task's CNN.")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Seeded speed, shift, gain and noise augmentation of the training split.")
@fit_options(40, "Stop after this many epochs without a lower validation loss (0: run all epochs); the best epoch's "
             "weights are kept.", 3e-3, 5, 120, "Synthetic clips per class (without --data).")
def train_audio_cmd(test_groups, keywords, patience, **options):
    """A keyword / acoustic-event spotter (log-mel or MFCC, DS-CNN) with silence and unknown classes."""
    from .audio import train_audio
    train_audio(test_groups=parse_list(test_groups), keywords=parse_list(keywords), patience=patience or None,
                log=click.echo, **options)


@train.command("traffic")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="Detector CSV (Date,ToVol,SmVol,MeVol,LaVol,Speed,Occ.Rate); default: synthetic.")
@click.option("--look-back", "look_back", type=click.IntRange(min=1, max=100_000), default=288,
              show_default=True, help="Rows per window (288 = one day of 5-minute rows).")
@click.option("--target", default="Speed", show_default=True, help="Column to forecast (Speed, ToVol, ...).")
@click.option("--features", default=None,
              help="Extra input columns for a multivariate model: comma-separated names, or 'all'. "
                   "Default: the target only (univariate, as in the course).")
@click.option("--fill", type=click.Choice(["none", "linear", "previous"]), default="none", show_default=True,
              help="How to fill time gaps; 'none': no window spans a gap.")
@click.option("--max-fill", "max_fill", type=click.IntRange(min=0), default=MAX_FILL_ROWS, show_default=True,
              help="With --fill: longest gap (rows) that is filled; longer gaps restart the window.")
@click.option("--skip-malformed", "skip_malformed", is_flag=True,
              help="Skip malformed rows (a wrong field count, a value that is not a number, a bad time, a row "
                   "not after the previous one) as edge-run does, and count them in metrics.json; default: "
                   "the first one is an error.")
@click.option("--horizons", default=None,
              help="Minutes ahead to forecast, comma-separated, e.g. 15,30,60: one model, one output per horizon; "
                   "metrics.json compares each with persistence, the historical average and the course's Conv1D. "
                   "Default: the next row (the course's).")
@click.option("--arch", type=click.Choice(["course", "forecaster"]), default=None,
              help="course: the course's Conv1D; forecaster: a small CNN over the recent rows and the day's hourly "
                   "means, with time inputs [default: forecaster with --horizons, course without].")
@click.option("--time", "time", default="default",
              help="Inputs from each row's timestamp: day and/or week (sine and cosine of the time of day / of week; "
                   "day=N for N harmonics) or none [default: day,week (day=2, week=1) for the forecaster, none for "
                   "the course's model].")
@click.option("--profile/--no-profile", default=None,
              help="Feed the forecaster the target's mean by time of day over the training rows (at each row and "
                   "each horizon) and predict the difference from it [default: on for the forecaster].")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--patience", type=click.IntRange(min=0), default=8, show_default=True,
              help="Stop after this many epochs without a better validation loss and keep the best "
                   "weights (0: train all epochs).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--days", type=click.IntRange(min=2), default=28, show_default=True,
              help="Days of synthetic data (without --data).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output directory.")
def traffic_cmd(fill, max_fill, skip_malformed, patience, **options):
    """The course's Conv1D forecaster of the next 5-minute value at a road detector, or (--horizons) one model of
    several horizons ahead measured against persistence and the historical average."""
    from .traffic import train_traffic
    train_traffic(fill=None if fill == "none" else fill, max_fill_rows=max_fill, patience=patience or None,
                  malformed="skip" if skip_malformed else "error", log=click.echo, **options)


@train.command("anomaly")
@click.option("--data", type=click.Path(exists=False), default=None,
              help="A course .pkl or .npz (one class, or --normal-label), a WAV recording of the normal machine, or a "
                   "folder of WAVs (label sub-folders, --label-regex, or flat: all normal, as edge-run --record "
                   "writes); default: built-in synthetic vibration, A (healthy) normal, B (bearing fault) tested.")
@click.option("--normal-label", default=None,
              help="The class of normal data, trained on; every other class is kept as anomalies for the test.")
@click.option("--label-regex", default=None,
              help="Flat folder: the label is this regex's first group in the file name, e.g. '^\\d+_([a-z]+)_'.")
@click.option("--features", type=click.Choice(["spectrogram", "logmel"]), default=None,
              help="The front end [default: spectrogram for signals (.pkl, .npz, synthetic vibration), logmel for "
                   "WAV sound].")
@click.option("--window", type=click.FloatRange(min=0, min_open=True, max=60), default=None,
              help="Seconds per window [default: a signal's length for .pkl/.npz; 1 s for WAV].")
@click.option("--fs", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Sample rate in Hz, if the data does not say it (WAV: resample to it).")
@click.option("--quantile", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Threshold: this quantile of the scores of normal windows training did not see [default: 0.99].")
@click.option("--false-alarms-per-hour", type=float, default=None,
              help="Threshold: the quantile that flags this many normal windows an hour (one window per window "
                   "length; the detector's averaging and suppression make fewer events).")
@click.option("--threshold", type=float, default=None, help="Threshold: this score, as it is.")
@click.option("--hidden", type=click.IntRange(1, 2048), default=64, show_default=True,
              help="Units of the autoencoder's outer layers.")
@click.option("--bottleneck", type=click.IntRange(1, 512), default=8, show_default=True,
              help="Units of its bottleneck.")
@fit_options(300, "Stop after this many epochs without a lower validation score (0: run all epochs); the best "
             "epoch's weights are kept.", 1e-3, 20, 1000, "Synthetic signals, half of them healthy (without --data).")
def train_anomaly_cmd(patience, **options):
    """An autoencoder on normal windows only; its score (the reconstruction error) flags what is not normal."""
    from .anomaly import train_anomaly
    train_anomaly(patience=patience or None, log=click.echo, **options)


train.add_command(mnist_cmd, "mnist")


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
    from .datasets import load_signals, save_course_pickle

    ds = load_signals(None, seed=seed, n=n)
    save_course_pickle(out, ds)
    click.echo(f"wrote {out}: {n} signals × {ds.signals.shape[1]} samples at 12800 Hz, classes A "
               f"({(ds.labels == 0).sum()}) and B ({(ds.labels == 1).sum()})")


@synth.command("traffic")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output .csv.")
@click.option("--days", type=click.IntRange(min=1, max=3660), default=28, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--gaps", type=click.IntRange(min=0), default=0, show_default=True,
              help="Remove this many short runs of rows (a detector going quiet).")
@click.option("--header", "occ_header", type=click.Choice(["Occ.Rate", "OccRate"]), default="Occ.Rate",
              show_default=True, help="Name of the occupancy column (the two exports differ).")
def synth_traffic_cmd(out, days, seed, gaps, occ_header):
    """Detector rows every 5 minutes (daily and weekly cycles, rush-hour dips, noise), VDS CSV layout."""
    from .traffic_data import drop_gaps, synthetic_traffic, write_traffic_csv

    table = drop_gaps(synthetic_traffic(days, seed), gaps, seed)
    write_traffic_csv(out, table, occ_header)
    n = len(table["Date"])
    click.echo(f"wrote {out}: {n} rows every 5 min from {table['Date'][0]} to {table['Date'][-1]}"
               f"{f' ({days * 288 - n} rows removed in gaps)' if gaps else ''}")
