"""``edge-run``: stream sensor data through a model on the device and report latency."""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Callable

# numpy's BLAS runs the front end's small matrix products (mel filterbanks); its threads would only compete
# with the interpreter's (--threads) for the device's few cores. Set before numpy loads; the user's own
# setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click  # noqa: E402

from edgekit.edge.commands.cli import run_cli  # noqa: E402
from edgekit.edge.core.errors import EdgekitError, SourceLost  # noqa: E402
from edgekit.edge.core.spec import Spec  # noqa: E402

if TYPE_CHECKING:
    from edgekit.edge.model.foreign import ForeignFlags

MAX_THREADS = 256          # as edgekit bench: more threads than this is a typo, not a configuration
MAX_SECONDS = 1e9          # --duration: 31 years of signal (larger ones overflow the sample counts)
MAX_HOP = 86400.0          # --hop: a day between windows


class Finite(click.ParamType):
    """A finite number (``inf`` and ``nan`` are refused), positive unless ``positive=False``."""

    name = "number"

    def __init__(self, positive: bool = True, low: float | None = None, high: float | None = None):
        self.positive, self.low, self.high = positive, low, high

    def convert(self, value, param, ctx):
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(v) or (self.positive and v <= 0):
            self.fail(f"{value!r}: give a finite{' positive' if self.positive else ''} number", param, ctx)
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            self.fail(f"{value!r}: give a number from {self.low:g} to {self.high:g}", param, ctx)
        return v


def _threads(ctx, param, value):
    if value is not None and value > MAX_THREADS:
        raise click.BadParameter(f"{value} threads: give 1 to {MAX_THREADS} (this machine has "
                                 f"{os.cpu_count() or 'an unknown number of'} cores)")
    return value


def _device(value: str | None):
    return int(value) if value is not None and value.isdigit() else value


def _options(*options: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One decorator adding ``options`` to a command, listed in this order in ``--help``."""
    def add(f: Any) -> Any:
        for option in reversed(options):
            f = option(f)
        return f
    return add


def _grouped(**groups: type | Callable[[], type]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Call the command with each group's options collected into its frozen dataclass, passed as keyword
    ``name``: a group's options are the parameters named as the dataclass's fields. A group given as a
    function is the dataclass it returns when the command runs (its module is not imported for ``--help``)."""
    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def call(**kwargs: Any) -> Any:
            for name, group in groups.items():
                cls = group if isinstance(group, type) else group()
                kwargs[name] = cls(**{k.name: kwargs.pop(k.name) for k in fields(cls)})
            return f(**kwargs)
        return call
    return wrap


# -- foreign models (no edgekit metadata) -------------------------------------------------------------

def _foreign_flags() -> type[ForeignFlags]:
    """:class:`edgekit.edge.model.foreign.ForeignFlags`, what :func:`~edgekit.edge.model.foreign.spec_from_flags`
    takes (imported when the command runs: it imports numpy and the front ends)."""
    from edgekit.edge.model.foreign import ForeignFlags
    return ForeignFlags


foreign_model_options = _options(
    click.option("--sample-rate", type=Finite(), default=None,
                 help="Foreign models only (no edgekit metadata): the signal's sample rate in Hz."),
    click.option("--labels", default=None, help="Foreign models only: class names, comma-separated."),
    click.option("--nperseg", type=click.IntRange(min=2), default=None,
                 help="Foreign models only: STFT frame length (default: from the input shape)."),
    click.option("--noverlap", type=click.IntRange(min=0), default=None,
                 help="Foreign models only: STFT overlap (default nperseg // 8)."),
    click.option("--log/--no-log", "log", default=False,
                 help="Foreign models only: the model takes log-magnitude spectrograms."),
    click.option("--mean", type=Finite(positive=False), default=None,
                 help="Foreign models only: feature standardisation mean."),
    click.option("--std", type=Finite(positive=False), default=None,
                 help="Foreign models only: feature standardisation std."),
)

foreign_audio_options = _options(
    click.option("--features", "features", type=click.Choice(["spectrogram", "logmel", "mfcc", "microfrontend"]),
                 default="spectrogram", show_default=True,
                 help="Foreign models only: the front end (microfrontend: TFLite Micro's, as micro_speech uses)."),
    click.option("--layout", type=click.Choice(["freq_time", "time_freq", "flat"]), default=None,
                 help="Foreign log-mel/MFCC models: how the input holds frames × coefficients."),
    click.option("--n-mels", type=click.IntRange(1, 512), default=None,
                 help="Foreign log-mel models: mel bands (microfrontend: channels, default 40)."),
    click.option("--n-mfcc", type=click.IntRange(1, 128), default=None, help="Foreign MFCC models: coefficients."),
    click.option("--frame-length", type=click.IntRange(2, 1 << 16), default=None,
                 help="Foreign log-mel/MFCC models: samples per frame (default 30 ms)."),
    click.option("--hop-length", type=click.IntRange(1, 1 << 16), default=None,
                 help="Foreign log-mel/MFCC models: samples between frames (default 20 ms)."),
    click.option("--convention", type=click.Choice(["librosa", "tf"]), default="librosa", show_default=True,
                 help="Foreign log-mel/MFCC models: features as librosa computes them, or as tf.signal does."),
    click.option("--fmin", type=Finite(positive=False), default=None,
                 help="Foreign log-mel/MFCC models: the lowest mel band's edge in Hz (default 0; microfrontend 125)."),
    click.option("--fmax", type=Finite(), default=None,
                 help="Foreign log-mel/MFCC models: the highest mel band's edge in Hz (default: half the rate; "
                      "microfrontend 7500)."),
)


# -- the stream detector ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectorFlags:
    """``--average``, ``--threshold``, ``--suppression``, ``--min-count``, ``--gate-dbfs``, ``--events-only``."""

    average: float | None
    threshold: float | None
    suppression: float | None
    min_count: int | None
    gate_dbfs: float | None
    events_only: bool

    def settings(self, spec: Spec) -> dict[str, Any] | None:
        """The detector settings given (over the spec's), checked against the model; None when none is. An anomaly
        model's ``--threshold`` is its score threshold (any finite positive score), not a probability."""
        given = {k: v for k, v in (("average", self.average), ("threshold", self.threshold),
                                   ("suppression", self.suppression), ("min_count", self.min_count),
                                   ("gate_dbfs", self.gate_dbfs)) if v is not None}
        if given or self.events_only:
            if spec.kind == "regression":
                raise EdgekitError("--average/--threshold/--suppression/--min-count/--gate-dbfs/--events-only "
                                   "detect events of a classifier or an anomaly model; this model is a regression "
                                   "model")
            from edgekit.edge.core.detection import detection_settings
            rest = given
            if spec.kind == "anomaly":
                from edgekit.edge.core.anomaly import check_threshold
                if self.threshold is not None:
                    check_threshold(self.threshold, "--threshold")
                rest = {k: v for k, v in given.items() if k != "threshold"}
            detection_settings({**(spec.detection or {}), **rest}, "edge-run")   # one line for a bad value
        if self.gate_dbfs is not None and "silence" not in spec.labels:
            raise EdgekitError(f"--gate-dbfs: the gate answers 'silence' for quiet windows, but this model has no "
                               f"'silence' label ({', '.join(spec.labels[:6])}{', ...' if len(spec.labels) > 6 else ''})"
                               "; drop --gate-dbfs for it")
        return given or None

    def applied(self, spec: Spec) -> Spec:
        """``spec`` with an anomaly model's ``--threshold`` in it: the one threshold of the windows' ``anomaly``,
        the events and the summary."""
        if spec.kind != "anomaly" or self.threshold is None:
            return spec
        return spec.with_(anomaly={**spec.anomaly, "threshold": float(self.threshold), "method": "given"})


detector_options = _options(
    click.option("--average", type=Finite(), default=None,
                 help="Detector: seconds of window scores averaged (default: the model's spec, else 1.0)."),
    click.option("--threshold", type=Finite(positive=False), default=None,
                 help="Detector: averaged top score that makes an event, 0-1 (default: the spec's, else 0.7); an "
                      "anomaly model's score threshold (default: the spec's)."),
    click.option("--suppression", type=Finite(positive=False), default=None,
                 help="Detector: seconds after an event in which no other fires (default: the spec's, else 1.0)."),
    click.option("--min-count", type=click.IntRange(min=1), default=None,
                 help="Detector: window results the average must hold (default: the spec's, else 3)."),
    click.option("--gate-dbfs", type=Finite(positive=False), default=None,
                 help="Windows quieter than this (dBFS) are silence, not given to the model (default: the spec's)."),
    click.option("--events-only", is_flag=True, help="Print detected events (and the summary), not every window."),
)


# -- recording chosen windows -------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordFlags:
    """``--record DIR``, ``--record-when``, ``--record-max-mb``, ``--record-uncertain``."""

    dir: str | None
    when: str
    max_mb: float
    uncertain: float

    def recorder(self, model_path: str, shadowed: bool):
        """The observer that saves the chosen windows; None without ``--record``."""
        if not self.dir:
            return None
        from edgekit.edge.outputs.record import Recorder, parse_when
        when = parse_when(self.when)
        if "disagree" in when and not shadowed:
            raise EdgekitError("--record-when disagree needs --shadow MODEL (the model to disagree with)")
        return Recorder(self.dir, model_path, when, self.max_mb, self.uncertain)


record_options = _options(
    click.option("--record", "dir", type=click.Path(file_okay=False), default=None,
                 help="Save chosen windows into this folder as WAV + JSON (see --record-when)."),
    click.option("--record-when", "when", default="events", show_default=True,
                 help="Which windows --record saves: events, disagree (with --shadow), uncertain; comma-separated."),
    click.option("--record-max-mb", "max_mb", type=Finite(), default=100.0, show_default=True,
                 help="The --record folder's size limit; the oldest recordings go first."),
    click.option("--record-uncertain", "uncertain", type=click.FloatRange(0.0, 1.0), default=0.6, show_default=True,
                 help="--record-when uncertain: a top score below this."),
)


# -- publishing to MQTT -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PublishFlags:
    """``--publish URL``, ``--qos``, ``--publish-queue``, ``--mqtt-user``, ``--mqtt-password-file``, ``--ca-file``."""

    url: str | None
    qos: int
    queue: int
    user: str | None
    password_file: str | None
    ca_file: str | None

    def check(self) -> None:
        if self.url is None and (self.user or self.password_file or self.ca_file):
            raise EdgekitError("--mqtt-user/--mqtt-password-file/--ca-file are for --publish: give --publish URL")

    def publisher(self, model_path: str, spec: Spec, src: str):
        """The publisher (it connects in the background while the stream starts); None without ``--publish``."""
        if self.url is None:
            return None
        import socket
        from edgekit.edge.outputs.publish import Publisher, read_password
        password = read_password(self.password_file)
        if password is not None and not self.user:
            raise EdgekitError("an MQTT password (EDGEKIT_MQTT_PASSWORD or --mqtt-password-file) needs a user: "
                               "give --mqtt-user")
        status = {"model": os.path.basename(str(model_path)), "task": spec.task, "rate": spec.sample_rate,
                  "source": src, "host": socket.gethostname()}
        return Publisher(self.url, qos=self.qos, queue_size=self.queue, user=self.user, password=password,
                         ca_file=self.ca_file, status=status)


publish_options = _options(
    click.option("--publish", "url", default=None,
                 help="Also publish every result (or event, with --events-only) as its JSON object to an MQTT "
                      "broker: mqtt://HOST[:PORT]/TOPIC or mqtts://...; a retained status on TOPIC/status. "
                      "Needs edgekit[mqtt]."),
    click.option("--qos", type=click.IntRange(0, 2), default=1, show_default=True, help="--publish: MQTT QoS."),
    click.option("--publish-queue", "queue", type=click.IntRange(min=1), default=1000, show_default=True,
                 help="--publish: results held while the broker is away; beyond this the oldest are dropped "
                      "(counted)."), click.option("--mqtt-user", "user", default=None,
                 help="--publish: user name; the password comes from EDGEKIT_MQTT_PASSWORD or --mqtt-password-file."),
    click.option("--mqtt-password-file", "password_file", type=click.Path(dir_okay=False), default=None,
                 help="--publish: a file whose first line is the password (instead of EDGEKIT_MQTT_PASSWORD)."),
    click.option("--ca-file", type=click.Path(dir_okay=False), default=None,
                 help="--publish mqtts://: the CA certificate(s) to check the broker with (default: the system's)."),
)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help=".tflite or .onnx model file.")
@click.option("--source", "src", default="synthetic", show_default=True,
              help="synthetic | wav:PATH | pkl:PATH | stdin | mic | images:PATH | csv:PATH (traffic)")
@click.option("--duration", type=Finite(low=1e-6, high=MAX_SECONDS), default=None,
              help="Stop after this many seconds of signal.")
@click.option("--hop", type=Finite(low=1e-6, high=MAX_HOP), default=None,
              help="Seconds between window starts (default: one window, no overlap).")
@click.option("--rate", type=Finite(low=1e-3, high=1e9), default=None,
              help="Traffic models: replay N detector rows per second (default: as fast as possible).")
@click.option("--threads", type=click.IntRange(min=1), default=None, callback=_threads,
              help=f"Interpreter threads (1 to {MAX_THREADS}).")
@click.option("--provider", default=None, help="ONNX Runtime execution provider (cpu, cuda, tensorrt).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per window, and a summary object.")
@click.option("--quiet", is_flag=True, help="Print only the summary.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic source.")
@click.option("--format", "pcm_format", type=click.Choice(["int16", "float32"]), default="int16",
              show_default=True, help="Sample format of raw PCM on stdin (little-endian, mono).")
@click.option("--device", default=None, help="Audio input device (index or name) for --source mic.")
@click.option("--list-devices", is_flag=True, help="List audio input devices and exit.")
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), default=None,
              help="A model without edgekit metadata: its spec as a JSON file (the format of spec.json), instead of "
                   "the foreign-model flags below.")
@foreign_model_options
@detector_options
@foreign_audio_options
@click.option("--shadow", "shadow_path", type=click.Path(dir_okay=False), default=None,
              help="Also run this reference model (e.g. the float32 artifact of the same run) on every window: "
                   "agreement per window and in the summary, its time apart.")
@record_options
@click.option("--label-regex", default=None,
              help="wav:FOLDER of clips: the label is this regex's first group in each file name.")
@publish_options
@_grouped(foreign=_foreign_flags, detector=DetectorFlags, record=RecordFlags, publish=PublishFlags)
def edge_run(model_path, src, duration, hop, rate, threads, provider, as_json, quiet, seed, pcm_format, device,
             list_devices, spec_path, shadow_path, label_regex, *, foreign: ForeignFlags, detector: DetectorFlags,
             record: RecordFlags, publish: PublishFlags):
    """Run MODEL on a stream of sensor data: front end → quantize → invoke → dequantize → label,
    printing one line per window and latency percentiles at the end."""
    from edgekit.edge import tasks
    from edgekit.edge.outputs.sinks import JsonSink, TextSink
    from edgekit.edge.tasks.base import Options

    if list_devices:
        from edgekit.edge.sources.signal import list_devices as _list
        click.echo(_list())
        return 0
    if not model_path:
        raise EdgekitError("--model is required (a .tflite or .onnx file made by 'edgekit convert')")
    from edgekit.edge.model.model import Model
    from edgekit.edge.pipeline.loop import run_stream

    model = Model(model_path, threads=threads, provider=provider)
    if spec_path is not None:
        from edgekit.edge.model.foreign import ForeignFlags, spec_from_file
        if model.spec is not None:
            raise EdgekitError(f"--spec {spec_path}: {model_path} carries its own edgekit spec; --spec is for a model "
                               "without one (edgekit attach replaces a model's spec)")
        if foreign != ForeignFlags():
            raise EdgekitError("--spec gives the whole front end: leave out the foreign-model flags (--sample-rate, "
                               "--labels, --features, ...)")
        model.set_spec(spec_from_file(spec_path), spec_path)
    elif model.spec is None:
        from edgekit.edge.model.foreign import spec_from_flags
        model.set_spec(spec_from_flags(model_path, model.backend, foreign))
    else:
        from dataclasses import fields
        from edgekit.edge.model.foreign import ForeignFlags
        given = [f"--{f.name.replace('_', '-')}" for f in fields(ForeignFlags)
                 if getattr(foreign, f.name) != f.default]
        if given:                           # they would be ignored: the model's own spec says otherwise
            raise EdgekitError(f"{', '.join(given)}: {model_path} carries its own edgekit spec, which these foreign-"
                               f"model flags would contradict; leave them out (edgekit info {model_path} shows it)")
    from edgekit.edge.model.probe import probe
    problem = probe(model.spec)                 # a spec that makes NaN or constant features: refuse at start
    if problem:
        raise EdgekitError(f"{model_path}: {problem}")
    task = tasks.for_source(src, model.spec)
    opt = Options(hop=hop, duration=duration, rate=rate, seed=seed, device=_device(device), pcm_format=pcm_format,
                  detection=detector.settings(model.spec), events_only=detector.events_only, label_regex=label_regex)
    model.spec = detector.applied(model.spec)
    task.check_options(opt)
    observers = []
    if shadow_path:
        from edgekit.edge.pipeline.shadow import Shadow, check_specs
        shadow = Model(shadow_path, threads=threads, provider=provider)
        if shadow.spec is None:
            raise EdgekitError(f"--shadow {shadow_path}: carries no edgekit spec; give an artifact of "
                               "'edgekit convert'")
        check_specs(model.spec, shadow.spec, shadow_path)
        observers.append(Shadow(shadow))
    recorder = record.recorder(model_path, shadowed=bool(shadow_path))
    if recorder is not None:
        observers.append(recorder)
    publish.check()
    publisher = publish.publisher(model_path, model.spec, src)   # connects in the background meanwhile
    try:
        source = task.open_source(src, model.spec, opt)
        sink = JsonSink() if as_json else TextSink(task, quiet=quiet)
        if publisher is not None:
            from edgekit.edge.outputs.sinks import PublishingSink
            sink = PublishingSink(sink, publisher)
        from edgekit.edge.pipeline import signals
        with signals.handled():                  # SIGINT, SIGTERM, SIGHUP: the summary, then exit 0
            try:
                run = task.run(model.spec, source, sink, opt)
            except BaseException:
                source.close()
                raise
            summary = run_stream(model, source, sink, run=run, observers=observers)
            # (run_stream returns with stop signals deferred: one now waits until the summary is out)
            if publisher is not None:
                _close_publisher(publisher, summary, sink)     # (up to 2 s of flushing)
                publisher = None
            sink.summary(summary)
    finally:
        if publisher is not None:           # the run failed: no summary to publish
            publisher.close(timeout=1.0)
    if "error" in summary:
        raise SourceLost(summary["error"])
    return 0


def _close_publisher(publisher, summary: dict, sink) -> None:
    """Flush for up to 2 s, put the summary in the retained status, and add ``publish`` to the summary."""
    from edgekit.edge.outputs.publish import summary_of
    from edgekit.edge.outputs.text import plural
    stats = publisher.close(summary, timeout=2.0)
    summary["publish"] = part = summary_of(publisher, stats)
    if part["pending"]:
        why = f" ({publisher.last_error})" if publisher.last_error else ""
        sink.warn(f"--publish: {plural(part['pending'], 'result')} not delivered to {part['to']} when the stream "
                  f"ended{why}; counted as pending in the summary")
    if part["dropped"]:
        sink.warn(f"--publish: {plural(part['dropped'], 'result')} dropped (the queue of {publisher.queue_size} "
                  "overflowed while the broker was away); counted in the summary")


def main(args=None) -> None:
    run_cli(edge_run, args, prog_name="edge-run")


if __name__ == "__main__":
    main()
