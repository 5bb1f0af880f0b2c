"""``edgekit``: the command group.

Device-side commands (``info``, ``bench``, ``run``) live here and work on the runtime-only install.
Workstation commands (``train``, ``convert``, ``compare``, ``data``, ``demo``) are plugins registered under
the ``edgekit.commands`` entry-point group by the workstation packages; they are imported only when
invoked, so the device never imports TensorFlow, and a missing extra is a one-line error naming it.
"""
from __future__ import annotations

import json
from importlib.metadata import entry_points

import click

from ._cli import run_cli
from .errors import EdgekitError, MissingExtraError

PLUGIN_GROUP = "edgekit.commands"
# Third-party modules a workstation command may fail to import, and the extra that provides them.
_EXTRA_OF = {"tensorflow": "train", "keras": "train", "tf2onnx": "train", "onnx": "train",
             "scipy": "train", "pandas": "train", "matplotlib": "train", "sympy": "train"}


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
            top = (e.name or "").split(".")[0]
            if top in _EXTRA_OF:
                raise MissingExtraError(f"'edgekit {name}'", top, _EXTRA_OF[top]) from None
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgekit")
def group():
    """Train sensor CNNs, convert them to TFLite/ONNX (float32 and int8), compare, and run them on a
    Raspberry Pi or Jetson."""


@group.command()
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(model_path, as_json):
    """Show what MODEL (.tflite / .onnx) is: spec, tensors, operators, size, backend."""
    from .model import Model

    model = Model(model_path)
    b = model.backend
    d = {
        "model": model_path, "format": model.format, "precision": model.precision,
        "size_bytes": model.file.size_bytes, "backend": b.name,
        "inputs": [b.input.describe()], "outputs": [b.output.describe()],
        "operators": dict(model.file.operators.most_common()),
        "spec": model.spec.to_dict() if model.spec else None,
    }
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
        s = model.spec
        click.echo(f"  spec     schema {s.schema_version}, task {s.task} ({s.kind}), {s.sample_rate:g} Hz, "
                   f"window {s.window} ({s.window_seconds:.3g} s), input {list(s.input_shape)}")
        click.echo(f"           features {json.dumps(s.features)}")
        click.echo(f"           normalization {json.dumps(s.normalization)}")
        if s.labels:
            click.echo(f"           labels {', '.join(s.labels)}")
        if s.target:
            click.echo(f"           target {json.dumps(s.target)}")
        click.echo(f"           made by edgekit {s.edgekit_version}, source model sha256 "
                   f"{(s.model_sha256 or '?')[:16]}…")


@group.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []})
@click.pass_context
def run(ctx):
    """Same as edge-run (see edgekit run --help)."""
    from .run import edge_run
    return edge_run.main(args=ctx.args, prog_name="edgekit run", standalone_mode=False)


def main(args=None) -> None:
    run_cli(group, args, prog_name="edgekit")


if __name__ == "__main__":
    main()
