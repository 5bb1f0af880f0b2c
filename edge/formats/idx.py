"""IDX files (the MNIST format), gzipped or raw, read with numpy and gzip only (device-safe).

Layout (big-endian): two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E
float64), the number of dimensions, one uint32 per dimension, then the data in C order. MNIST images are ``0x00000803``
(N, 28, 28) uint8, labels ``0x00000801`` (N,) uint8.

Everything a corrupt or mislabelled file can get wrong is checked, and reported as a one-line :class:`EdgekitError`: the
magic, the dimensions, data shorter or longer than the header says (truncated downloads, a labels file given as images),
a broken gzip stream, and images and labels of different counts."""
from __future__ import annotations

import gzip
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from edgekit.edge.core.errors import EdgekitError

DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
MAX_BYTES = 1 << 32          # 4 GiB of data: larger headers are corrupt, not data sets
GZIP_MAGIC = b"\x1f\x8b"
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as f:
        gz = f.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if gz else open(path, "rb")


def _read_exact(f: BinaryIO, n: int, path: Path, what: str) -> bytes:
    try:
        data = f.read(n)
    except (EOFError, OSError, zlib.error) as e:   # gzip: truncated stream, bad CRC, not gzip
        raise EdgekitError(f"{path}: the gzip stream is corrupt or truncated ({e}); download the file again") from None
    if len(data) < n:
        raise EdgekitError(f"{path}: truncated IDX file: {what} needs {n:,} bytes, only {len(data):,} "
                           "are there; download the file again")
    return data


def _header(f: BinaryIO, path: Path) -> tuple[int, np.dtype, tuple[int, ...]]:
    head = _read_exact(f, 4, path, "the header")
    magic = struct.unpack(">I", head)[0]
    if head[:2] != b"\0\0" or head[2] not in DTYPES or not 1 <= head[3] <= 4:
        raise EdgekitError(f"{path}: not an IDX file (magic 0x{magic:08X}; MNIST images start with "
                           f"0x{IMAGES_MAGIC:08X}, labels with 0x{LABELS_MAGIC:08X})")
    ndim = head[3]
    dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, "the dimensions"))
    return magic, DTYPES[head[2]], tuple(int(d) for d in dims)


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (gzipped or raw, told apart by content, not by name), in native
    byte order. The data must be exactly as long as the header says."""
    path = Path(path)
    try:
        with _open(path) as f:
            magic, dtype, dims = _header(f, path)
            n = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
            if n > MAX_BYTES:
                raise EdgekitError(f"{path}: the IDX header claims {list(dims)} ({n:,} bytes); the file is corrupt")
            data = _read_exact(f, n, path, f"{'×'.join(map(str, dims))} {dtype.name} values")
            try:
                extra = len(f.read(1))
            except (EOFError, OSError, zlib.error):
                raise EdgekitError(f"{path}: the gzip stream is corrupt or truncated after the data; "
                                   "download the file again") from None
    except OSError as e:
        raise EdgekitError(f"{path}: cannot read ({e.strerror or e})") from None
    if extra:
        raise EdgekitError(f"{path}: more data than the IDX header's {list(dims)} says; the header or the "
                           "file is wrong")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="), copy=False)


class IdxRecords:
    """An IDX file read one record (one entry of the first axis: an image, a label) at a time, so that memory holds
    one record whatever the header claims (a 4 MB gzip of zeros inflates to 4 GB). The header is read and checked on
    opening; iterating reads each record as it is used, and a stream that ends early or runs past the header's size is
    a one-line error then."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._f = _open(self.path)
        except OSError as e:
            raise EdgekitError(f"{self.path}: cannot read ({e.strerror or e})") from None
        try:
            self.magic, self.dtype, dims = _header(self._f, self.path)
        except BaseException:
            self._f.close()
            raise
        self.count, self.record_shape = dims[0], dims[1:]
        self._record = int(np.prod(self.record_shape, dtype=np.int64)) * self.dtype.itemsize
        if self.count * self._record > MAX_BYTES:
            self._f.close()
            raise EdgekitError(f"{self.path}: the IDX header claims {list(dims)} ({self.count * self._record:,} "
                               "bytes); the file is corrupt")

    @property
    def ndim(self) -> int:
        return 1 + len(self.record_shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        native = self.dtype.newbyteorder("=")
        try:
            for i in range(self.count):
                data = _read_exact(self._f, self._record, self.path, f"record {i + 1} of {self.count:,}")
                yield np.frombuffer(data, dtype=self.dtype).reshape(self.record_shape).astype(native)
            try:
                extra = len(self._f.read(1))
            except (EOFError, OSError, zlib.error):
                raise EdgekitError(f"{self.path}: the gzip stream is corrupt or truncated after the data; "
                                   "download the file again") from None
            if extra:
                raise EdgekitError(f"{self.path}: more data than the IDX header's {[self.count, *self.record_shape]} "
                                   "says; the header or the file is wrong")
        finally:
            self._f.close()

    def close(self) -> None:
        self._f.close()


def read_images(path: str | Path) -> np.ndarray:
    """(N, H, W) images from an IDX file with 3 dimensions."""
    x = read_idx(path)
    if x.ndim != 3:
        hint = " (this looks like a labels file)" if x.ndim == 1 else ""
        raise EdgekitError(f"{path}: an IDX images file has 3 dimensions (count, height, width), this one has "
                           f"{x.ndim} {list(x.shape)}{hint}")
    if 0 in x.shape[1:]:
        raise EdgekitError(f"{path}: images of {x.shape[1]}×{x.shape[2]} pixels")
    return x


def read_labels(path: str | Path) -> np.ndarray:
    """(N,) integer labels from an IDX file with 1 dimension."""
    y = read_idx(path)
    if y.ndim != 1:
        hint = " (this looks like an images file)" if y.ndim == 3 else ""
        raise EdgekitError(f"{path}: an IDX labels file has 1 dimension, this one has {y.ndim} {list(y.shape)}{hint}")
    if y.dtype.kind not in "iu":
        raise EdgekitError(f"{path}: labels must be integers, this file holds {y.dtype.name}")
    return y


def labels_path_for(images: str | Path) -> Path | None:
    """The labels file that belongs to an images file, if it exists next to it
    (``t10k-images-idx3-ubyte.gz`` → ``t10k-labels-idx1-ubyte.gz``, with or without ``.gz``)."""
    images = Path(images)
    name = images.name
    if "images" not in name:
        return None
    base = re.sub(r"idx3", "idx1", name.replace("images", "labels"))
    stem = base[:-3] if base.endswith(".gz") else base
    for cand in dict.fromkeys((base, stem + ".gz", stem)):
        p = images.with_name(cand)
        if p.is_file():
            return p
    return None


def read_pair(images: str | Path, labels: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images and their labels; counts must agree. ``labels`` defaults to the file next to ``images``."""
    labels = labels if labels is not None else labels_path_for(images)
    if labels is None:
        raise EdgekitError(f"{images}: no labels file next to it (expected e.g. t10k-labels-idx1-ubyte.gz)")
    x, y = read_images(images), read_labels(labels)
    check_counts(x, y, images, labels)
    return x, y


def check_counts(x: np.ndarray, y: np.ndarray, images, labels) -> None:
    if len(x) != len(y):
        raise EdgekitError(f"{images} holds {len(x):,} images but {labels} holds {len(y):,} labels; the files "
                           "do not belong together")
