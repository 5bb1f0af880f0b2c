"""Pictures for image models: the ``images:PATH`` source of ``edge-run``.

PATH is one image file, a folder of images, or an IDX images file (MNIST format, gzipped or raw).

- A folder: every file in it is tried. Files in a sub-folder are labelled with the sub-folder's name (the
  layout ``edgekit train mnist --data`` reads: ``digits/7/photo.png``); files directly in PATH are
  unlabelled. Hidden files (``.DS_Store``) are ignored and counted in a note.
- An IDX file: its labels are read from the labels file next to it when there is one
  (``t10k-images-idx3-ubyte.gz`` → ``t10k-labels-idx1-ubyte.gz``).

Decoding PNG/JPEG/BMP/... uses Pillow, an optional extra of the runtime (``pip install 'edgekit[images]'``); IDX files
need only numpy. Pictures are decoded to what the spec's front end takes: grayscale (ITU-R 601 luma) or RGB, 8-bit
values mapped to [0, max_value], 16-bit grayscale scaled down, and transparency flattened onto the background the model
expects (black, or white for models whose spec inverts dark-on-light pictures). A file that is not an image, or an image
of a mode that has no such reading (32-bit integer or float pixels, several frames), is an :class:`ImageError`: the
caller reports it by name, skips it and counts it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from edgekit.edge.formats import idx
from edgekit.edge.core.labels import check_names, known_truths
from edgekit.edge.core.errors import EdgekitError, MissingExtraError
from edgekit.edge.core.spec import Spec

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
UNSUPPORTED_MODES = ("I", "F")


class ImageError(EdgekitError):
    """One picture cannot be used (not an image, unsupported mode, wrong size): skip and count it."""


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise MissingExtraError("decoding images (PNG, JPEG, ...)", "pillow", "images") from None
    return Image


def decode_image(path: str | Path, grayscale: bool = True, max_value: float = 255.0,
                 background: float = 0.0) -> np.ndarray:
    """One picture file → float32 (H, W) grayscale or (H, W, 3) RGB with values in [0, max_value].

    ``background`` (in [0, max_value]) is what transparent pixels show. Raises :class:`ImageError` for a
    file that is not a readable single-frame image of a supported mode."""
    Image = _pillow()
    path = Path(path)
    try:
        with Image.open(path) as im:
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise ImageError(f"{path}: has {frames} frames (an animation or a multi-page file); give single images")
            mode = im.mode
            if mode in SIXTEEN_BIT or (mode == "I" and im.format == "PNG"):   # 16-bit grayscale
                a = np.asarray(im, dtype=np.float64) * (max_value / 65535.0)
                return (a if grayscale else np.repeat(a[..., None], 3, axis=-1)).astype(np.float32)
            if mode in UNSUPPORTED_MODES:
                raise ImageError(f"{path}: unsupported image mode '{mode}' (32-bit "
                                 f"{'float' if mode == 'F' else 'integer'} pixels); save it as an 8- or 16-bit image")
            alpha = "A" in im.getbands() or "a" in im.getbands() or \
                (mode == "P" and "transparency" in im.info)
            target = ("LA" if alpha else "L") if grayscale else ("RGBA" if alpha else "RGB")
            try:
                conv = im.convert(target)
            except (ValueError, KeyError):
                raise ImageError(f"{path}: unsupported image mode '{mode}'; save it as grayscale or RGB") \
                    from None
            a = np.asarray(conv, dtype=np.float64)
    except ImageError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageError(f"{path}: not an image (Pillow cannot identify it)") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: too large to decode safely ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:   # truncated or corrupt data
        if isinstance(e, OSError) and not path.is_file():
            raise EdgekitError(f"{path}: cannot read ({e.strerror or e})") from None
        if isinstance(e, PermissionError):
            raise ImageError(f"{path}: cannot read (permission denied)") from None
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ImageError(f"{path}: corrupt or truncated image ({detail})") from None
    if alpha:
        colour, opacity = a[..., :-1], a[..., -1:] / 255.0
        a = colour * opacity + background * 255.0 / max_value * (1.0 - opacity)
        if grayscale:
            a = a[..., 0]
    return (a * (max_value / 255.0)).astype(np.float32)


@dataclass
class ImageItem:
    """One entry of an image source: decoded pixels, or why it was skipped."""

    name: str | None                  # file path (relative to the folder); None for IDX entries
    index: int                        # position in the source (0-based, counting skipped files)
    image: np.ndarray | None = None   # float32 pixels, as the spec's front end takes them
    truth: str | None = None          # label, when the source knows it and the model has it
    error: str | None = None          # why it was skipped
    decode_ms: float = 0.0


@dataclass
class ImageSource:
    """Iterates over the pictures of ``images:PATH``; ``notes`` says what was assumed or ignored."""

    name: str
    spec: object
    notes: list[str] = field(default_factory=list)

    def items(self) -> Iterator[ImageItem]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def decode_options(spec: Spec) -> dict:
    """:func:`decode_image` keywords for a spec: channels, pixel range, and the background transparent
    pixels get (the paper: white when the spec inverts dark-on-light pictures, else black)."""
    feat = spec.features
    max_value = float(feat.get("max_value", 255.0))
    return {"grayscale": bool(feat.get("grayscale", True)), "max_value": max_value,
            "background": max_value if feat.get("invert") else 0.0}


class FilesSource(ImageSource):
    """One image file, or every file of a folder (labels from first-level sub-folder names)."""

    def __init__(self, path: Path, spec: Spec):
        super().__init__(f"images:{path}", spec)
        self.root = path
        if path.is_dir():
            files, hidden = [], 0
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    hidden += p.is_file()
                    continue
                if p.is_file():
                    files.append(rel)
            if hidden:
                self.notes.append(f"ignored {hidden} hidden file(s) in {path}")
            if not files:
                raise EdgekitError(f"{path}: the folder holds no files; give an image, a folder of images or "
                                   "an IDX file")
            folders = [rel.parts[0] for rel in files if len(rel.parts) > 1]
            check_names(set(folders), "sub-folder name", str(path))
            self.known = known_truths(folders, spec.labels, "sub-folder names", self.notes)
            if folders and len(folders) < len(files):
                self.notes.append(f"{len(files) - len(folders)} file(s) directly in {path} have no label "
                                  "(only files in sub-folders are labelled)")
            self.files = files
        else:
            self.files, self.known = [Path(path.name)], set()
            self.root = path.parent
        _pillow()   # fail before the first file if Pillow is missing
        self.decode_args = decode_options(spec)

    def items(self) -> Iterator[ImageItem]:
        import time
        for i, rel in enumerate(self.files):
            truth = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in self.known else None
            t0 = time.perf_counter()
            try:
                image = decode_image(self.root / rel, **self.decode_args)
            except ImageError as e:
                yield ImageItem(str(rel), i, truth=truth, error=_reason(e, self.root / rel))
                continue
            yield ImageItem(str(rel), i, image, truth, decode_ms=(time.perf_counter() - t0) * 1e3)


def _reason(e: EdgekitError, path: Path) -> str:
    """The message without the leading path (the caller prints the name)."""
    msg = e.message
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


class IdxSource(ImageSource):
    """The images of an IDX file, with the labels file next to it when present, read one image (and label) at a
    time: memory holds one picture whatever the files' headers claim."""

    def __init__(self, path: Path, spec: Spec):
        super().__init__(f"images:{path}", spec)
        if not spec.features.get("grayscale", True):
            raise EdgekitError(f"{path}: IDX images are grayscale; this model takes RGB pictures")
        self.path = path
        head = idx.IdxRecords(path)
        head.close()
        if head.ndim != 3 or 0 in head.record_shape:
            raise EdgekitError(f"{path}: an IDX images file has 3 dimensions (count, height, width) of pictures, "
                               f"this one has {[head.count, *head.record_shape]}")
        self.count = head.count
        self.known: set[str] | None = None
        self.labels_path = lp = idx.labels_path_for(path)
        if lp is None:
            self.notes.append(f"no labels file next to {path.name}; accuracy is not scored")
            return
        labels = idx.IdxRecords(lp)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            labels.close()
            raise EdgekitError(f"{lp}: an IDX labels file holds one integer per image, this one holds "
                               f"{[labels.count, *labels.record_shape]} {labels.dtype.name} values")
        if labels.count != self.count:
            labels.close()
            raise EdgekitError(f"{path} holds {self.count:,} images but {lp} holds {labels.count:,} labels; the files "
                               "do not belong together")
        values = {int(v) for v in labels}              # (read through once, a label at a time)
        self.notes.append(f"labels from {lp.name}")
        self.known = known_truths([str(v) for v in values], spec.labels, f"labels in {lp.name}", self.notes) or None

    def items(self) -> Iterator[ImageItem]:
        labels = iter(idx.IdxRecords(self.labels_path)) if self.known else None
        for i, image in enumerate(idx.IdxRecords(self.path)):
            name = str(int(next(labels))) if labels is not None else None
            yield ImageItem(None, i, image.astype(np.float32), name if name in (self.known or ()) else None)


def is_idx(path: Path) -> bool:
    """True if the file starts like an IDX file (after gunzip)."""
    try:
        with idx._open(path) as f:
            head = f.read(4)
    except (OSError, EOFError):
        return False
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] in idx.DTYPES and 1 <= head[3] <= 4


def open_images(path: str, spec: Spec) -> ImageSource:
    """The source behind ``--source images:PATH``."""
    p = Path(path)
    if not p.exists():
        raise EdgekitError(f"images:{path}: no such file or folder; give an image, a folder of images or an IDX file")
    if p.is_file() and is_idx(p):
        return IdxSource(p, spec)
    return FilesSource(p, spec)
