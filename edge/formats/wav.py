"""A small RIFF/WAVE reader and writer (numpy only).

The standard library's :mod:`wave` reads integer PCM only; recorders and DAWs often write 32-bit float or
WAVE_FORMAT_EXTENSIBLE files. This module reads:

* integer PCM: 8-bit unsigned, 16-, 24- and 32-bit signed (also 24-in-32 containers);
* IEEE float, 32 and 64 bit;
* ``WAVE_FORMAT_EXTENSIBLE`` (0xFFFE) headers with a PCM or float sub-format;
* little-endian ``RIFF`` files, big-endian ``RIFX`` files and ``RF64``/``BW64`` files (> 4 GiB).

Unknown chunks (``LIST``, ``bext``, ``cue `` ...) are skipped, odd chunk sizes are padded as the spec says. Damaged or
streamed files are read as far as they go: a ``data`` size larger than the file (an interrupted recording) is clipped to
what is there, and a size of 0 or 0xFFFFFFFF (written to a pipe, size never patched) means "to the end of the file".

:class:`WavReader` streams: it reads the header on open and then only the frames asked for, so
multi-hour recordings need no more memory than one block. Samples come back as float32 of shape ``(frames, channels)``,
integer PCM scaled to [-1, 1) (divided by 2**(bits-1); 8-bit is offset by 128 first), float data as stored.

:func:`write_wav` writes integer PCM (8/16/24/32-bit) or IEEE float (32/64-bit).

Problems with the file (missing, not a WAV, no ``fmt``/``data`` chunk, ADPCM/μ-law/MP3 and other compressed encodings,
zero channels or rate) raise :class:`~edgekit.edge.core.errors.EdgekitError` naming the file.
"""
from __future__ import annotations

import math
import numbers
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO, Union

import numpy as np

from edgekit.edge.core.errors import EdgekitError

__all__ = ["WavReader", "read_wav", "write_wav"]

PathLike = Union[str, "os.PathLike[str]"]

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# Bytes 4..16 of the KSDATAFORMAT_SUBTYPE_* GUIDs (the first four hold the format tag).
_GUID_TAIL = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

_ENCODING_NAMES = {
    0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM", 0x0016: "ITU G.723 ADPCM",
    0x0031: "GSM 6.10", 0x0040: "G.721 ADPCM", 0x0050: "MPEG", 0x0055: "MPEG Layer 3 (MP3)", 0x0092: "Dolby AC3",
    0x00FF: "AAC", 0x1610: "HE-AAC", 0xF1AC: "FLAC",
}
_CONVERT_HINT = "convert it to 16-bit PCM or float WAV first (e.g. ffmpeg -i in.wav -c:a pcm_s16le out.wav)"
_STREAMED_SIZES = (0, 0xFFFFFFFF)
_WRITE_BLOCK = 1 << 18  # frames converted per step when writing


def _name(path: PathLike) -> str:
    return os.fspath(path) if not isinstance(path, bytes) else path.decode(errors="replace")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _encoding_name(tag: int) -> str:
    name = _ENCODING_NAMES.get(tag)
    return f"{name} (format tag 0x{tag:04X})" if name else f"format tag 0x{tag:04X}"


class WavReader:
    """Streaming reader for PCM and float WAV files.

    Use it as a context manager::

        with WavReader("recording.wav") as wav:
            print(wav.fs, wav.channels, wav.frames)
            for block in wav.blocks(4096):      # float32, shape (<=4096, channels)
                ...

    Attributes: ``path`` (as given), ``fs`` (Hz), ``channels`` (interleaved), ``frames`` (complete frames that can be
    read, after clipping to the file's real size), ``sampwidth`` (bytes per sample in the file, the container width: 1,
    2, 3, 4 or 8), ``bits`` (valid bits per sample as declared, e.g. 24 in a 32-bit container), ``format`` (``'pcm'``
    integer or ``'float'`` IEEE float), ``truncated`` (the ``data`` chunk declared more bytes than the file holds) and
    ``declared_frames`` (more than ``frames`` when truncated).
    """

    def __init__(self, path: PathLike):
        self.path = _name(path)
        try:
            self._file: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise EdgekitError(f"{self.path}: no such file; check the path") from None
        except IsADirectoryError:
            raise EdgekitError(f"{self.path}: is a directory, not a WAV file; give a .wav file") from None
        except OSError as exc:
            raise EdgekitError(f"{self.path}: cannot open ({exc.strerror or exc}); "
                               "check the path and permissions") from None
        try:
            self._parse()
        except BaseException:
            self.close()
            raise
        self._pos = 0

    def _fail(self, problem: str, hint: str = "give a PCM or float WAV") -> EdgekitError:
        return EdgekitError(f"{self.path}: {problem}; {hint}")

    def _parse(self) -> None:
        f = self._file
        assert f is not None
        file_size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64", b"BW64") or head[8:12] != b"WAVE":
            if head[:4] in (b"RIFF", b"RIFX") and len(head) >= 12:
                raise self._fail(f"not a WAV file (RIFF form {head[8:12]!r}, not 'WAVE')")
            raise self._fail("not a WAV file (no RIFF/WAVE header)")
        e = self._endian = ">" if head[:4] == b"RIFX" else "<"
        is_rf64 = head[:4] in (b"RF64", b"BW64")

        fmt: bytes | None = None
        data_offset = data_size = declared = -1
        ds64_data_size: int | None = None
        self.truncated = False
        pos = 12
        while pos + 8 <= file_size:
            f.seek(pos)
            header = f.read(8)
            if len(header) < 8:
                break
            cid = header[:4]
            (size,) = struct.unpack(e + "I", header[4:])
            body = pos + 8
            if cid == b"ds64" and is_rf64:
                raw = f.read(min(size, 28))
                if len(raw) >= 16:
                    ds64_data_size = struct.unpack(e + "Q", raw[8:16])[0]
            elif cid == b"fmt ":
                fmt = f.read(min(size, 64))
                if len(fmt) < 16 or size < 16:
                    raise self._fail(f"fmt chunk is too short ({size} bytes, need 16)", "the file is damaged")
            elif cid == b"data":
                avail = file_size - body
                if is_rf64 and size == 0xFFFFFFFF and ds64_data_size is not None:
                    size = ds64_data_size
                elif size in _STREAMED_SIZES:
                    size = avail  # streamed WAV: size never filled in, data runs to the end
                declared = size
                if size > avail:
                    self.truncated = True
                    size = avail
                data_offset, data_size = body, size
                if fmt is not None:
                    break
            pos = body + size + (size & 1)

        if fmt is None:
            raise self._fail("no fmt chunk (damaged or not a WAV file)")
        if data_offset < 0:
            raise self._fail("no data chunk (damaged or empty WAV file)")
        self._decode_fmt(fmt)
        self._data_offset = data_offset
        self.frames = data_size // self._block_align
        self.declared_frames = declared // self._block_align

    def _decode_fmt(self, fmt: bytes) -> None:
        e = self._endian
        tag, channels, fs, _byte_rate, block_align, bits = struct.unpack(e + "HHIIHH", fmt[:16])
        container = bits                             # (an extensible header's valid bits may be fewer)
        if tag == WAVE_FORMAT_EXTENSIBLE:
            if len(fmt) < 40:
                raise self._fail("WAVE_FORMAT_EXTENSIBLE header is too short (need 40 bytes)", "the file is damaged")
            valid_bits, _mask, guid = struct.unpack(e + "HI16s", fmt[18:40])
            (sub,) = struct.unpack(e + "I", guid[:4])
            if guid[4:] != _GUID_TAIL or sub > 0xFFFF:
                raise self._fail(f"unsupported WAVE_FORMAT_EXTENSIBLE sub-format {guid.hex()}", _CONVERT_HINT)
            tag = sub
            if valid_bits:
                bits = min(bits, valid_bits) if bits else valid_bits
        if tag not in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT):
            raise self._fail(f"unsupported WAV encoding {_encoding_name(tag)}", _CONVERT_HINT)
        if channels == 0:
            raise self._fail("header says 0 channels", "the file is damaged")
        if fs == 0:
            raise self._fail("header says sampling rate 0 Hz", "the file is damaged")
        # The container width comes from the block alignment when it is consistent, else from bits; a header whose
        # block alignment and bits disagree (16-bit stereo in 2-byte blocks) is refused, not decoded as 8-bit.
        if block_align and container and block_align != channels * ((container + 7) // 8):
            raise self._fail(f"the header's fields disagree: {channels} channel(s) of {container} bits need "
                             f"{channels * ((container + 7) // 8)}-byte blocks, but block_align says {block_align}",
                             "the file is damaged or was written wrongly; re-export it")
        if block_align and block_align % channels == 0:
            width = block_align // channels
        else:
            width = (bits + 7) // 8
            block_align = width * channels
        self.format = "float" if tag == WAVE_FORMAT_IEEE_FLOAT else "pcm"
        allowed = (4, 8) if self.format == "float" else (1, 2, 3, 4)
        if width not in allowed or block_align == 0:
            kind = "float" if self.format == "float" else "PCM"
            raise self._fail(f"unsupported {kind} sample width {width * 8} bits",
                             "use 8/16/24/32-bit PCM or 32/64-bit float")
        self.fs = int(fs)
        self.channels = int(channels)
        self.sampwidth = int(width)
        self.bits = int(bits) if bits else 8 * width
        self._block_align = int(block_align)
        self._dtype = self._numpy_dtype()

    def _numpy_dtype(self) -> np.dtype:
        e = self._endian
        if self.format == "float":
            return np.dtype(e + ("f4" if self.sampwidth == 4 else "f8"))
        return np.dtype({1: "u1", 2: e + "i2", 3: "u1", 4: e + "i4"}[self.sampwidth])

    @property
    def closed(self) -> bool:
        return self._file is None

    def tell(self) -> int:
        """Index of the next frame :meth:`read` returns."""
        return self._pos

    def seek(self, frame: int) -> None:
        """Move to frame ``frame`` (0 .. ``frames``)."""
        if not _is_int(frame) or not 0 <= frame <= self.frames:
            raise EdgekitError(f"{self.path}: cannot seek to frame {frame!r}; give 0 .. {self.frames}")
        self._pos = int(frame)

    def read(self, n: int | None = None) -> np.ndarray:
        """Read up to ``n`` frames (all remaining if ``None`` or negative): float32 ``(k, channels)``, ``k <= n``;
        ``k == 0`` at the end."""
        if self._file is None:
            raise ValueError(f"{self.path}: read from a closed WavReader")
        remaining = self.frames - self._pos
        if n is None or n < 0:
            k = remaining
        elif _is_int(n):
            k = min(int(n), remaining)
        else:
            raise EdgekitError(f"read() takes a number of frames, got {n!r}")
        if k <= 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        self._file.seek(self._data_offset + self._pos * self._block_align)
        raw = self._file.read(k * self._block_align)
        k = len(raw) // self._block_align  # the file may have shrunk since it was opened
        self._pos += k
        return self._decode(raw[: k * self._block_align], k)

    def _decode(self, raw: bytes, k: int) -> np.ndarray:
        """Bytes of ``k`` whole frames -> float32 ``(k, channels)``.

        Every conversion rounds at most once: int8/16/24 are exact in float32, int32 is rounded by the cast and then
        scaled by a power of two (exact)."""
        width = self.sampwidth
        if self.format == "float":
            out = np.frombuffer(raw, dtype=self._dtype).astype(np.float32)
        elif width == 1:
            out = np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - np.float32(128.0)
            out *= np.float32(1 / 128)
        elif width == 3:
            b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
            quad = np.zeros((b.shape[0], 4), dtype=np.uint8)
            # Put the 3 bytes in the top of an int32 (low byte 0): sign-correct sample * 256.
            if self._endian == "<":
                quad[:, 1:] = b
                ints = quad.view("<i4")
            else:
                quad[:, :3] = b
                ints = quad.view(">i4")
            out = ints.reshape(-1).astype(np.float32)
            out *= np.float32(2.0**-31)
        else:
            out = np.frombuffer(raw, dtype=self._dtype).astype(np.float32)
            out *= np.float32(2.0 ** -(8 * width - 1))
        return out.reshape(k, self.channels)

    def blocks(self, n: int) -> Iterator[np.ndarray]:
        """Yield successive ``read(n)`` blocks until the end of the data."""
        if not _is_int(n) or n < 1:
            raise EdgekitError(f"block size must be a positive number of frames, got {n!r}")
        while True:
            block = self.read(n)
            if not len(block):
                return
            yield block

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> WavReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"frame {self._pos}"
        return (f"WavReader({self.path!r}, fs={self.fs}, channels={self.channels}, frames={self.frames}, "
                f"{self.format}{self.sampwidth * 8}, {state})")


def read_wav(path: PathLike) -> tuple[np.ndarray, int]:
    """Read a whole WAV file: ``(data, fs)``, ``data`` float32 ``(frames, channels)`` (see :class:`WavReader` for
    scaling), ``fs`` the sampling rate in Hz."""
    with WavReader(path) as wav:
        return wav.read(), wav.fs


def _pcm_bytes(block: np.ndarray, sampwidth: int) -> bytes:
    """Float block in [-1, 1] (clipped) -> little-endian integer PCM bytes."""
    full = float(2 ** (8 * sampwidth - 1))
    scaled = np.rint(np.clip(block, -1.0, 1.0) * full)
    np.clip(scaled, -full, full - 1, out=scaled)
    if sampwidth == 1:
        return (scaled + 128).astype(np.uint8).tobytes()
    if sampwidth == 2:
        return scaled.astype("<i2").tobytes()
    ints = scaled.astype("<i4")
    if sampwidth == 4:
        return ints.tobytes()
    return ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()  # 24-bit: the low three bytes


def write_wav(path: PathLike, data: np.ndarray, fs: int, sampwidth: int = 2, *, format: str = "pcm") -> None:
    """Write float samples ``data`` (``(n,)`` mono or ``(n, channels)``) as a WAV file at ``path`` (overwritten), at
    ``fs`` Hz (a positive integer), ``sampwidth`` bytes per sample: 1, 2 (default), 3 or 4 for ``format='pcm'``, 4 or 8
    for ``format='float'``.

    ``'pcm'``: integer PCM; values are clipped to [-1, 1] and scaled by ``2**(bits-1)`` (so +1.0 becomes the largest
    code), 8-bit is stored unsigned. ``'float'``: IEEE float (WAVE_FORMAT_IEEE_FLOAT with a ``fact`` chunk), values
    stored as given, not clipped. The header is a plain ``WAVE_FORMAT_PCM``/``WAVE_FORMAT_IEEE_FLOAT`` one, which every
    reader (scipy, the stdlib :mod:`wave` for PCM, libsndfile, browsers) understands.

    Raises :class:`EdgekitError` for non-float or non-finite data, a bad shape, rate, width or format, data over 4 GiB,
    or a file that cannot be written.
    """
    where = _name(path)
    if format not in ("pcm", "float"):
        raise EdgekitError(f"{where}: unknown WAV format {format!r}; use 'pcm' or 'float'")
    widths = (1, 2, 3, 4) if format == "pcm" else (4, 8)
    if isinstance(sampwidth, (bool, np.bool_)) or sampwidth not in widths:
        raise EdgekitError(f"{where}: sampwidth {sampwidth!r} is not supported for {format} WAV; "
                           f"use one of {widths} (bytes per sample)")
    if (isinstance(fs, (bool, np.bool_)) or not isinstance(fs, numbers.Real) or not math.isfinite(fs)
            or fs <= 0 or int(fs) != fs):
        raise EdgekitError(f"{where}: sampling rate must be a positive whole number of Hz, got {fs!r}")
    if int(fs) > 0xFFFFFFFF:
        raise EdgekitError(f"{where}: sampling rate {fs!r} does not fit in a WAV header")
    fs = int(fs)
    arr = np.asarray(data)
    if not np.issubdtype(arr.dtype, np.floating):
        raise EdgekitError(f"{where}: data must be float samples in [-1, 1], got dtype {arr.dtype}; "
                           f"scale integers first (e.g. x / 32768 for int16)")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] < 1 or arr.shape[1] > 0xFFFF:
        raise EdgekitError(f"{where}: data must have shape (frames,) or (frames, channels), got {np.shape(data)}")
    if not np.all(np.isfinite(arr)):
        raise EdgekitError(f"{where}: data contains NaN or infinite values; clean the signal before writing")
    frames, channels = arr.shape
    block_align = channels * sampwidth
    data_bytes = frames * block_align
    pad = data_bytes & 1
    if format == "float":
        fmt = struct.pack("<HHIIHHH", WAVE_FORMAT_IEEE_FLOAT, channels, fs, fs * block_align, block_align,
                          8 * sampwidth, 0)  # cbSize 0
        extra = b"fact" + struct.pack("<II", 4, min(frames, 0xFFFFFFFF))
    else:
        fmt = struct.pack("<HHIIHH", WAVE_FORMAT_PCM, channels, fs, fs * block_align, block_align, 8 * sampwidth)
        extra = b""
    riff_size = 4 + 8 + len(fmt) + len(extra) + 8 + data_bytes + pad
    if riff_size > 0xFFFFFFFF or fs * block_align > 0xFFFFFFFF:
        raise EdgekitError(f"{where}: {data_bytes} bytes of audio do not fit in a WAV file (4 GiB limit); "
                           "split the recording")
    header = b"".join((b"RIFF", struct.pack("<I", riff_size), b"WAVE", b"fmt ", struct.pack("<I", len(fmt)), fmt,
                       extra, b"data", struct.pack("<I", data_bytes)))
    try:
        with open(path, "wb") as f:
            f.write(header)
            for start in range(0, frames, _WRITE_BLOCK):
                block = arr[start : start + _WRITE_BLOCK]
                if format == "float":
                    f.write(np.ascontiguousarray(block, dtype="<f4" if sampwidth == 4 else "<f8").tobytes())
                else:
                    f.write(_pcm_bytes(block, sampwidth))
            if pad:
                f.write(b"\x00")
    except OSError as exc:
        raise EdgekitError(f"{where}: cannot write ({exc.strerror or exc}); check the folder and permissions") from None
