"""``edgekit attach MODEL --spec SPEC.json -o OUT``: a model made elsewhere, with its spec embedded, so that it runs
with no flags (the same answers as ``edge-run --model MODEL --spec SPEC.json``)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
import numpy as np

from edgekit.edge.core.errors import EdgekitError


def attach_spec(model_path: str, spec_path: str, out: str) -> str:
    """Write ``out``: ``model_path`` (.tflite/.onnx) with the spec of ``spec_path`` embedded (replacing any it has),
    verified: read back, the same spec and the same outputs as the original on random inputs. Returns what was done,
    in one line; nothing is written on failure, and an existing ``out`` is never overwritten."""
    from edgekit.edge.model.foreign import spec_from_file
    from edgekit.edge.model.model import Model

    src, dst = Path(model_path), Path(out)
    if dst.exists() or dst.resolve() == src.resolve():
        raise EdgekitError(f"-o {out}: the file exists; edgekit does not overwrite it: give a new path")
    if dst.suffix.lower() != src.suffix.lower():
        raise EdgekitError(f"-o {out}: give a {src.suffix} path, the format of {model_path}")
    spec = spec_from_file(spec_path)
    model = Model(src, threads=1)
    replaced = model.spec is not None
    model.set_spec(spec, spec_path)
    if model.format == "tflite":
        from .metadata import embed_tflite
        data = bytes(embed_tflite(src.read_bytes(), spec))
    else:
        import onnx

        from .metadata import embed_onnx
        data = embed_onnx(onnx.load(str(src)), spec).SerializeToString()
    fd, tmp = tempfile.mkstemp(suffix=dst.suffix, dir=dst.parent if str(dst.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        back = Model(tmp, threads=1)
        if back.spec is None or back.spec.to_dict() != spec.to_dict():
            raise EdgekitError(f"{out}: the spec read back differs from {spec_path}; nothing written")
        x = np.random.default_rng(0).standard_normal((4, *spec.input_shape)).astype(np.float32)
        if not np.array_equal(back.predict(x), model.predict(x)):
            raise EdgekitError(f"{out}: the model with its spec answers differently from {model_path}; nothing written")
        try:
            os.link(tmp, dst)                # fails if dst appeared meanwhile: never overwrites
        except FileExistsError:
            raise EdgekitError(f"-o {out}: the file exists; edgekit does not overwrite it: give a new path") from None
    finally:
        os.unlink(tmp)
    return (f"wrote {out}: {model_path} with the spec of {spec_path} ({spec.task} {spec.kind}, input "
            f"{list(spec.input_shape)}{', replacing the one it had' if replaced else ''}); edge-run --model {out} "
            "needs no front-end flags")


@click.command("attach")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False))
@click.option("--spec", "spec_path", required=True, type=click.Path(dir_okay=False),
              help="The spec as a JSON file (the format of spec.json).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="The new model file.")
def attach(model_path, spec_path, out):
    """Embed SPEC.json into MODEL (.tflite or .onnx) as its edgekit metadata, verified, so that edge-run, bench and
    info need no front-end flags."""
    click.echo(attach_spec(model_path, spec_path, out))
