"""``edgekit``: the command group.

Device-side commands (``info``, ``bench``, ``run``) live here and work on the runtime-only install. Workstation commands
(``train``, ``convert``, ``compare``, ``data``, ``demo``) are plugins registered under the ``edgekit.commands``
entry-point group by the workstation packages; they are imported only when invoked, so the device never imports
TensorFlow, and a missing extra is a one-line error naming it.
"""
from __future__ import annotations

import json
from importlib.metadata import entry_points

import click

from edgekit.edge.commands.cli import missing_extra, run_cli
from edgekit.edge.core.errors import EdgekitError

PLUGIN_GROUP = "edgekit.commands"


class LazyGroup(click.Group):
    def _plugins(self) -> dict:
        return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        ep = self._plugins().get(name)
        if ep is None:
            return None
        try:
            return ep.load()
        except ImportError as e:
            extra = missing_extra(e, f"'edgekit {name}'")
            if extra is None:
                raise
            raise extra from None

    def format_commands(self, ctx, formatter):
        """The command list of --help; a plugin that cannot be loaded is listed as such instead of taking
        --help down with it."""
        rows = []
        for name in self.list_commands(ctx):
            try:
                cmd = self.get_command(ctx, name)
            except Exception as e:        # noqa: BLE001 -- shown, not hidden: the user sees why
                rows.append((name, f"(unavailable: {getattr(e, 'message', None) or e})"))
                continue
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgekit")
def group():
    """Train sensor CNNs, convert them to TFLite/ONNX (float32 and int8), compare, and run them on a
    Raspberry Pi or Jetson."""


@group.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False), default=None,
              help="A foreign model's spec file, as edge-run --spec takes it: shown as edge-run would use it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(model_path, spec_path, as_json):
    """Show what MODEL (.tflite / .onnx) is: spec, front end, tensors, operators, size, backend."""
    from edgekit.edge.model.model import Model

    model = Model(model_path)
    if spec_path is not None:
        from edgekit.edge.model.foreign import spec_from_file
        model.set_spec(spec_from_file(spec_path), spec_path)
    b = model.backend
    d = {
        "model": model_path, "format": model.format, "precision": model.precision,
        "size_bytes": model.file.size_bytes, "backend": b.name,
        "inputs": [b.input.describe()], "outputs": [b.output.describe()],
        "operators": dict(model.file.operators.most_common()), "spec": model.spec.to_dict() if model.spec else None,
    }
    if model.spec is not None:
        from edgekit.edge.frontend import describe
        d["front_end"] = describe(model.spec)
        d["spec_from"] = spec_path or "embedded"
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(f"{model_path}: {d['format']} {d['precision']}, {d['size_bytes']:,} bytes, runs on {b.name}")
    for kind in ("inputs", "outputs"):
        for t in d[kind]:
            q = f"  scale {t['scale']:.6g} zero point {t['zero_point']}" if "scale" in t else ""
            click.echo(f"  {kind[:-1]:<7} {t['name']}  {t['dtype']}  {t['shape']}{q}")
    click.echo("  operators " + ", ".join(f"{k}×{v}" for k, v in d["operators"].items()))
    if model.spec is None:
        click.echo("  spec     none (a foreign model: edge-run needs --sample-rate, --labels, ...)")
    else:
        from edgekit.edge import tasks

        s = model.spec
        rate = tasks.get(s.task).describe(s)
        click.echo(f"  spec     schema {s.schema_version}, task {s.task} ({s.kind}), {rate}, "
                   f"input {list(s.input_shape)}{f' (from {spec_path})' if spec_path else ''}")
        if d["front_end"]:
            click.echo(f"           front end: {d['front_end']}")
        click.echo(f"           features {json.dumps(_abridged(s.features))}")
        click.echo(f"           normalization {json.dumps(s.normalization)}")
        layout = s.features.get("layout")
        if layout:
            click.echo(f"           layout {layout} (input {list(s.input_shape)})")
        if s.labels:
            click.echo(f"           labels {', '.join(s.labels)}")
        if s.detection is not None:
            click.echo(f"           detection {json.dumps(s.detection)} (edge-run flags override)")
        if s.anomaly is not None:
            from edgekit.edge.core.anomaly import describe as anomaly_words
            click.echo(f"           anomaly {anomaly_words(s.anomaly)}; normal label {s.labels[0]} (edge-run "
                       "--threshold overrides)")
        if s.target:
            click.echo(f"           target {json.dumps(s.target)}")
        click.echo(f"           made by edgekit {s.edgekit_version}, source model sha256 "
                   f"{(s.model_sha256 or '?')[:16]}…")


def _abridged(v, keep: int = 8):
    """A spec value for a text line: lists longer than ``keep`` (a traffic model's historical average, 288 values)
    shortened to their first values and a count (``--json`` shows them whole)."""
    if isinstance(v, dict):
        return {k: _abridged(x, keep) for k, x in v.items()}
    if isinstance(v, list) and len(v) > keep:
        return [*v[:keep], f"... {len(v)} values"]
    return v


@group.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--runs", type=click.IntRange(min=1), default=200, show_default=True,
              help="Timed windows per thread count.")
@click.option("--warmup", type=click.IntRange(min=0), default=20, show_default=True,
              help="Untimed windows before timing; the first is reported as the first inference.")
@click.option("--threads", "threads", default="1", show_default=True,
              help="Thread counts to benchmark, comma-separated, e.g. 1,2,4.")
@click.option("--provider", default=None, help="ONNX Runtime execution provider (cpu, cuda, tensorrt).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the input windows.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object; latencies in ms.")
def bench(model_path, runs, warmup, threads, provider, seed, as_json):
    """Benchmark MODEL on this device: init time, first inference, warm-up, then mean, std, min, p50, p90, p99 and max
    per stage (front end, quantize, inference, post-process) and in total, for each thread count; peak RSS; real-time
    factor (seconds of signal per second of compute)."""
    from edgekit.edge.pipeline.bench import bench_model, parse_threads, print_bench

    report = bench_model(model_path, runs=runs, warmup=warmup, threads=parse_threads(threads),
                         provider=provider, seed=seed)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        print_bench(report, click.echo)


@group.command("stream-eval")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(),
              help="Folder of labelled clips (label sub-folders, or file names with --label-regex), or one long "
                   "WAV recording with --labels.")
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False), default=None,
              help="With a WAV --data: its label file, 'start<TAB>end<TAB>label' per line in seconds "
                   "(Audacity's Export Labels).")
@click.option("--label-regex", default=None, help="The label is this regex's first group in each file name.")
@click.option("--gap", type=click.FloatRange(min=0.0, max=600.0), default=None,
              help="Seconds of noise between clips.  [default: 2.0]")
@click.option("--snr", type=click.FloatRange(min=-30.0, max=120.0), default=None,
              help="Noise over the whole stream, dB below the speech level (default: no noise).")
@click.option("--seed", type=int, default=0, show_default=True, help="Order of the clips and the noise.")
@click.option("--max-clips", type=click.IntRange(min=1), default=None, help="Use at most this many clips.")
@click.option("--hop", type=click.FloatRange(min=0.0, min_open=True), default=None,
              help="Seconds between windows (default: average / (min count + 1)).")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None, help="Detector threshold.")
@click.option("--gate-dbfs", type=click.FloatRange(-120.0, 0.0), default=None, help="Energy gate, dBFS.")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="Interpreter threads.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Draw scores, utterances and events over time to this PNG (needs matplotlib).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def stream_eval(model_path, data, labels_path, label_regex, gap, snr, seed, max_clips, hop, threshold, gate_dbfs,
                threads, plot_path, as_json):
    """Evaluate MODEL as a detector: its clips (--data) played as one stream with gaps of noise between them, or a long
    recording with its label file, run through the device runtime (as edge-run), events matched to utterances: detection
    rate, missed and wrong-label counts per keyword, false alarms per hour of gaps, detection delay."""
    import os

    from edgekit.edge.pipeline.stream_eval import evaluate, evaluate_recording

    flags = {k: v for k, v in (("threshold", threshold), ("gate_dbfs", gate_dbfs)) if v is not None}
    if os.path.isdir(data):
        if labels_path is not None:
            raise EdgekitError("--labels is for a WAV recording; a clip folder's labels are its sub-folders or "
                               "--label-regex")
        r = evaluate(model_path, data, label_regex=label_regex, gap_s=2.0 if gap is None else gap, snr_db=snr,
                     seed=seed, hop_s=hop, detection=flags or None, max_clips=max_clips, threads=threads)
    elif os.path.isfile(data):
        given = [n for n, v in (("--gap", gap), ("--max-clips", max_clips), ("--label-regex", label_regex))
                 if v is not None]
        if given:
            raise EdgekitError(f"{given[0]} is for a clip folder; a recording is scored as it is")
        if labels_path is None:
            raise EdgekitError(f"--data {data} is a recording: give --labels FILE, its regions as "
                               f"'start<TAB>end<TAB>label' lines in seconds (Audacity: Export Labels)")
        r = evaluate_recording(model_path, data, labels_path, snr_db=snr, seed=seed, hop_s=hop,
                               detection=flags or None, threads=threads)
    else:
        raise EdgekitError(f"--data {data}: no such folder or file; give a folder of labelled clips or a WAV "
                           f"recording with --labels")
    if plot_path:
        from edgekit.edge.commands.plot import plot
        plot(r, plot_path)
    if as_json:
        click.echo(json.dumps({k: v for k, v in r.items() if k not in ("scores",)}, indent=2))
        return
    d = r["delay_ms"] or {}
    snr_text = "none" if r["snr_db"] is None else f"{r['snr_db']:g} dB"
    u = r.get("utterance_snr_db")
    if u:
        snr_text += f" (per utterance p10 / p50 / p90 {u['p10']:.1f} / {u['p50']:.1f} / {u['p90']:.1f} dB)"
    how = f"gaps {r['gap_s']:g} s" if r["gap_s"] is not None else f"the recording {r['data']}"
    click.echo(f"{r['model']}: {r['utterances']} utterances in {r['hours'] * 3600:.0f} s of stream "
               f"({how}, SNR {snr_text}, seed {r['seed']})")
    fa = r["false_alarms_per_hour"]
    fa_text = "no gap time" if fa is None else f"{fa:.1f} per hour of gaps"
    click.echo(f"  detected {r['detected']} ({r['detection_rate']:.1%}), wrong label {r['wrong_label']}, "
               f"missed {r['missed']}, false alarms {r['false_alarms']} ({fa_text}), "
               f"delay p50 {d.get('p50', float('nan')):.0f} ms, p90 {d.get('p90', float('nan')):.0f} ms")
    w = max(len(k) for k in r["per_label"]) if r["per_label"] else 5
    click.echo(f"  {'label':<{w}}  utterances  detected  missed  wrong  false alarms")
    for k, v in r["per_label"].items():
        click.echo(f"  {k:<{w}}  {v['utterances']:10d}  {v['detected']:8d}  {v['missed']:6d}  {v['wrong']:5d}  "
                   f"{v['false_alarms']:12d}")
    for n in r["notes"]:
        click.echo(f"  note: {n}")


@group.command("service", context_settings={"ignore_unknown_options": True})
@click.option("--print", "print_unit", is_flag=True, required=True, help="Print the systemd unit on stdout.")
@click.option("--user", default="edgekit", show_default=True, help="The unprivileged user the service runs as.")
@click.option("--description", default=None, help="The unit's Description (default: from the model).")
@click.argument("edge_run_args", nargs=-1, type=click.UNPROCESSED)
def service(print_unit, user, description, edge_run_args):
    """Print a systemd unit that runs edge-run with EDGE_RUN_ARGS (after --) as a service: restart on failure, SIGTERM
    ends the stream with its summary, output to the journal line by line, an unprivileged user.

    edgekit service --print -- --model /opt/kws/kws_int8.tflite --source mic --events-only
    """
    from edgekit.edge.commands.service import unit_text
    click.echo(unit_text(list(edge_run_args), user=user, description=description), nl=False)


@group.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.pass_context
def run(ctx):
    """Same as edge-run (see edgekit run --help)."""
    from edgekit.edge.commands.edge_run import edge_run
    return edge_run.main(args=ctx.args, prog_name="edgekit run", standalone_mode=False)


def main(args=None) -> None:
    run_cli(group, args, prog_name="edgekit")


if __name__ == "__main__":
    main()
