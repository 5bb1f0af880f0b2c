"""The per-image loop of ``edge-run --source images:PATH``: decode → front end → quantize → invoke →
dequantize → label, one result per picture (flushed as produced), and a summary.

Each result: ``file`` (or ``index`` for IDX entries), ``label``, ``score``, ``latency_ms`` with ``decode``
(reading the picture) and the pipeline stages ``features`` (resize, invert, scale), ``quantize``,
``inference``, ``postprocess`` and ``total`` (features to label, decoding excluded: it depends on the file
format and the disk, not on the model), and ``truth`` when the label is known. Files that cannot be used
are reported by name on stderr, skipped and counted.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from typing import IO, Any

from edgekit.edge import frontend as fe
from edgekit.edge.errors import EdgekitError
from edgekit.edge.io.images import ImageSource, open_images
from edgekit.edge.model.model import Model
from edgekit.edge.pipeline.step import timed_step
from edgekit.edge.pipeline.postprocess import postprocessor
from edgekit.edge.io.sinks import plural
from edgekit.edge.pipeline.stats import StageTimes


class ImageTextSink:
    """One aligned text line per picture on stdout; skipped files and notes on stderr."""

    def __init__(self, out: IO[str] | None = None, quiet: bool = False):
        self.out = out or sys.stdout
        self.quiet = quiet

    def note(self, msg: str) -> None:
        print(f"# {msg}", file=sys.stderr, flush=True)

    def skipped(self, name: str, reason: str) -> None:
        print(f"skipped {name}: {reason}", file=sys.stderr, flush=True)

    def result(self, r: dict[str, Any]) -> None:
        if self.quiet:
            return
        lat = r["latency_ms"]
        name = r.get("file", f"#{r.get('index')}")
        truth = ""
        if r.get("truth") is not None:
            truth = f"  (true {r['truth']}{'' if r['truth'] == r['label'] else ' ✗'})"
        print(f"{name:<24} {r['label']:<8} {r['score']:.3f}  features {lat['features']:.2f} ms  inference "
              f"{lat['inference']:.2f} ms  total {lat['total']:.2f} ms{truth}", file=self.out, flush=True)

    def summary(self, s: dict[str, Any]) -> None:
        p = lambda *a: print(*a, file=self.out)  # noqa: E731
        p()
        p(f"summary: {plural(s['count'], 'image')} from {s['source']} ({s['skipped']} skipped, {s['stopped_by']})")
        p(f"  model    {s['model']}  [{s['backend']}, {s['precision']}]")
        if s["skipped"]:
            p(f"  skipped  {s['skipped']} file(s) that are not usable images (listed on stderr)")
        if s.get("accuracy") is not None:
            p(f"  accuracy {s['accuracy']:.4f} on {plural(s['labelled_images'], 'labelled image')}")
        if s.get("labels"):
            p("  labels   " + ", ".join(f"{k}: {v}" for k, v in sorted(s["labels"].items())))
        if s["count"]:
            p(f"  latency (ms)      {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
            for stage, st in s["latency_ms"].items():
                p(f"    {stage:<15} {st['p50']:8.3f} {st['p90']:8.3f} {st['p99']:8.3f} {st['max']:8.3f}")
            p("  (total = features → label per image; decoding excluded)")
        if s.get("images_per_second"):
            p(f"  throughput        {s['images_per_second']:.0f} images/s (decode + total)")
        self.out.flush()


class ImageJsonSink(ImageTextSink):
    """One JSON object per picture and a final ``{"summary": ...}`` object on stdout."""

    def result(self, r: dict[str, Any]) -> None:
        print(json.dumps(r, separators=(",", ":")), file=self.out, flush=True)

    def summary(self, s: dict[str, Any]) -> None:
        print(json.dumps({"summary": s}, separators=(",", ":")), file=self.out, flush=True)


def classify_images(model: Model, source: ImageSource, sink) -> dict[str, Any]:
    """Run every picture of ``source`` through ``model``; results go to ``sink``; returns the summary."""
    spec = model.spec
    front, post = fe.build(spec), postprocessor(spec)
    times = StageTimes()
    counts: Counter = Counter()
    skipped: list[dict[str, str]] = []
    count = labelled = correct = 0
    busy = 0.0
    stopped_by = "end of source"
    for note in source.notes:
        sink.note(note)
    try:
        for item in source.items():
            if item.error is None:
                try:
                    (label, score, _), lat = timed_step(model, front, post, item.image)
                except EdgekitError as e:     # e.g. a size the spec does not resize
                    item.error = e.message
            key = {"file": item.name} if item.name is not None else {"index": item.index}
            if item.error is not None:
                skipped.append({**key, "reason": item.error})
                sink.skipped(item.name if item.name is not None else f"#{item.index}", item.error)
                continue
            lat = {"decode": item.decode_ms, **lat}
            times.add(lat)
            busy += (lat["decode"] + lat["total"]) / 1e3
            count += 1
            counts[label] += 1
            result = {**key, "label": label, "score": round(score, 6),
                      "latency_ms": {k: round(v, 4) for k, v in lat.items()}}
            if item.truth is not None:
                result["truth"] = item.truth
                labelled += 1
                correct += label == item.truth
            sink.result(result)
    except KeyboardInterrupt:
        stopped_by = "interrupted"
    finally:
        source.close()
    if count == 0 and stopped_by != "interrupted":
        raise EdgekitError(f"{source.name}: no usable image ({len(skipped)} file(s) skipped, see above); give "
                           "an image, a folder of images or an IDX file")
    return {
        "source": source.name, "model": str(model.path), "backend": model.backend.name,
        "precision": model.precision, "count": count, "skipped": len(skipped), "skipped_files": skipped,
        "stopped_by": stopped_by, "labels": dict(counts), "labelled_images": labelled,
        "accuracy": (correct / labelled) if labelled else None, "latency_ms": times.summary(),
        "images_per_second": round(count / busy, 1) if busy > 0 else None,
    }


def run_images(model: Model, src: str, *, as_json: bool = False, quiet: bool = False,
               hop: float | None = None, duration: float | None = None, rate: float | None = None) -> int:
    """``edge-run`` for image models: check the flags, open ``images:PATH``, run, print the summary."""
    if model.spec is None:
        raise EdgekitError(f"{model.path}: has no edgekit metadata, so its pre-processing is unknown; "
                           "--source images needs a model exported by 'edgekit convert'")
    kind, _, path = src.partition(":")
    if model.spec.task != "image":
        raise EdgekitError(f"--source images feeds pictures to image models; this model's task is "
                           f"'{model.spec.task}', not 'image' (see edge-run --help for its sources)")
    if kind != "images" or not path:
        raise EdgekitError(f"--source {src!r}: an image model reads --source images:PATH (an image, a folder "
                           "of images or an IDX file)")
    for flag, value in (("--hop", hop), ("--duration", duration), ("--rate", rate)):
        if value is not None:
            raise EdgekitError(f"{flag} applies to signal or row streams, not to --source images")
    source = open_images(path, model.spec)
    sink = ImageJsonSink() if as_json else ImageTextSink(quiet=quiet)
    summary = classify_images(model, source, sink)
    sink.summary(summary)
    return 0
