"""The ``image`` task: pictures (``--source images:PATH``: a file, a folder, an IDX file) → one label each.

Each result: ``file`` (or ``index`` for IDX entries), ``label``, ``score``, ``latency_ms`` with ``decode`` (reading the
picture) and the pipeline stages ``features`` (resize, invert, scale), ``quantize``,
``inference``, ``postprocess`` and ``total`` (features to label, decoding excluded: it depends on the file
format and the disk, not on the model), and ``truth`` when the label is known. Files that cannot be used are reported by
name on stderr, skipped and counted.
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import Spec
from edgekit.edge.outputs.text import plural, stage_times
from edgekit.edge.tasks.base import Input, Options, Run, Sink, Task, Tally, Times


def _input_shape(spec: Spec) -> tuple[int, ...]:
    feat = spec.features
    h = int(feat.get("height", spec.input_shape[0]))
    w = int(feat.get("width", spec.input_shape[1]))
    rgb = not feat.get("grayscale", True) or (len(spec.input_shape) == 3 and spec.input_shape[-1] == 3)
    return (h, w, 3) if rgb else (h, w)


class ImageRun(Run):
    """One source of pictures: a label for each."""

    check_input = False    # decoded pixels are finite by construction

    def __init__(self, spec: Spec, source: Any, sink: Sink, opt: Options):
        super().__init__(spec, source, sink, opt)
        self.tally = Tally()
        self.skipped: list[dict[str, str]] = []
        self.busy = 0.0

    def inputs(self) -> Iterator[Input]:
        for note in self.source.notes:
            self.sink.note(note)
        for item in self.source.items():
            key = {"file": item.name} if item.name is not None else {"index": item.index}
            meta = {"key": key, "truth": item.truth}
            if item.error is not None:
                self.skip(Input(np.zeros(0), meta), item.error)
                continue
            yield Input(item.image, meta, {"decode": item.decode_ms})

    def where(self, item: Input) -> str:
        return f"{self._name(item)}: the picture"

    def _name(self, item: Input) -> str:
        key = item.meta["key"]
        return key["file"] if "file" in key else f"#{key['index']}"

    def skip(self, item: Input, message: str) -> bool:
        """A picture the front end refused (e.g. a size the spec does not resize): skipped and counted."""
        self.skipped.append({**item.meta["key"], "reason": message})
        self.sink.skipped(self._name(item), message)
        return True

    def result(self, item: Input, answer: Any, latency_ms: dict[str, float]) -> dict[str, Any]:
        label, score = answer[0], answer[1]
        self.busy += (latency_ms["decode"] + latency_ms["total"]) / 1e3
        return self.tally.add({**item.meta["key"], "label": label, "score": round(score, 6),
                               "latency_ms": latency_ms}, item.meta["truth"])

    def empty(self, invalid: int) -> EdgekitError:
        return EdgekitError(f"{self.source.name}: no usable image ({len(self.skipped) + invalid} file(s) "
                            "skipped, see above); give an image, a folder of images or an IDX file")

    def summary(self, times: Times, *, stopped: str | None, invalid: int) -> dict[str, Any]:
        count = sum(self.tally.counts.values())
        return {
            "count": count, "skipped": len(self.skipped) + invalid, "skipped_files": self.skipped,
            "stopped_by": stopped or "end of source", "labels": dict(self.tally.counts),
            "labelled_images": self.tally.labelled, "accuracy": self.tally.accuracy,
            "images_per_second": round(count / self.busy, 1) if self.busy > 0 else None,
        }


class ImageTask(Task):
    """Pictures → one label each."""

    name = "image"
    sources = ("images",)
    what = "pictures"
    source_help = "an image model reads --source images:PATH (an image, a folder of images or an IDX file)"
    run_class = ImageRun

    def raw_shape(self, spec: Spec) -> None:
        """Pictures come in any size (the front end resizes them)."""
        return None

    def check_options(self, opt: Options) -> None:
        """A one-line error for flags this task does not take."""
        for flag, value in (("--hop", opt.hop), ("--duration", opt.duration), ("--rate", opt.rate)):
            if value is not None:
                raise EdgekitError(f"{flag} applies to signal or row streams, not to --source images")

    def open_source(self, src: str, spec: Spec, opt: Options) -> Any:
        kind, _, path = src.partition(":")
        if kind != "images" or not path:
            raise EdgekitError(f"--source {src!r}: {self.source_help}")
        from edgekit.edge.sources.images import open_images
        return open_images(path, spec)

    def format_result(self, r: dict[str, Any]) -> str:
        name = r.get("file", f"#{r.get('index')}")
        truth = ""
        if r.get("truth") is not None:
            truth = f"  (true {r['truth']}{'' if r['truth'] == r['label'] else ' ✗'})"
        return f"{name:<24} {r['label']:<8} {r['score']:.3f}  {stage_times(r['latency_ms'])}{truth}"

    def format_summary(self, s: dict[str, Any]) -> tuple[list[str], list[str]]:
        head = [f"summary: {plural(s['count'], 'image')} from {s['source']} ({s['skipped']} skipped, "
                f"{s['stopped_by']})", f"  model    {s['model']}  [{s['backend']}, {s['precision']}]"]
        if s["skipped"]:
            head.append(f"  skipped  {s['skipped']} file(s) that are not usable images (listed on stderr)")
        if s.get("accuracy") is not None:
            head.append(f"  accuracy {s['accuracy']:.4f} on {plural(s['labelled_images'], 'labelled image')}")
        if s.get("labels"):
            head.append("  labels   " + ", ".join(f"{k}: {v}" for k, v in sorted(s["labels"].items())))
        tail = ["  (total = features → label per image; decoding excluded)"] if s["count"] else []
        if s.get("images_per_second"):
            tail.append(f"  throughput        {s['images_per_second']:.0f} images/s (decode + total)")
        return head, tail

    def bench_windows(self, spec: Spec, n: int, seed: int) -> tuple[np.ndarray, str]:
        """Uniform random pixels in [0, ``max_value``]."""
        rng = np.random.default_rng(seed)
        top = float(spec.features.get("max_value", 255.0))
        return (rng.random((n, *_input_shape(spec))) * top).astype(np.float32), "random data of the window's shape"

    def seconds_per_answer(self, spec: Spec) -> None:
        """A picture is not a stretch of signal: no real-time factor."""
        return None

    def describe(self, spec: Spec) -> str:
        return "one image per input"

    def bench_what(self, spec: Spec) -> str:
        return "one picture"
