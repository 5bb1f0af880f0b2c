"""edgekit.edge.formats.wav: RIFF/WAVE reading and writing, checked against scipy.io.wavfile."""
from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile as wavfile

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.wav import WavReader, read_wav, write_wav

GUID_TAIL = b"\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(99)


def chunk(cid: bytes, body: bytes, endian: str = "<") -> bytes:
    """A RIFF chunk with its pad byte."""
    return cid + struct.pack(endian + "I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def riff(*chunks: bytes, magic: bytes = b"RIFF", endian: str = "<") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack(endian + "I", len(body)) + body


def fmt_plain(tag: int, channels: int, fs: int, width: int, endian: str = "<") -> bytes:
    return struct.pack(endian + "HHIIHH", tag, channels, fs, fs * channels * width, channels * width, 8 * width)


def fmt_extensible(sub: int, channels: int, fs: int, width: int, valid_bits: int) -> bytes:
    guid = struct.pack("<I", sub) + GUID_TAIL
    return fmt_plain(0xFFFE, channels, fs, width) + struct.pack("<HHI16s", 22, valid_bits, 0, guid)


def scale_of(dtype: np.dtype) -> tuple[float, float]:
    """(offset, scale) that map scipy's raw samples to ours."""
    return {np.dtype(np.uint8): (128.0, 128.0), np.dtype(np.int16): (0.0, 2.0**15),
            np.dtype(np.int32): (0.0, 2.0**31)}.get(np.dtype(dtype), (0.0, 1.0))


def as_float(raw: np.ndarray) -> np.ndarray:
    offset, scale = scale_of(raw.dtype)
    out = (raw.astype(np.float64) - offset) / scale
    return out if out.ndim == 2 else out[:, None]


# ---------------------------------------------------------------------------------------------
# round trips and interoperability
# ---------------------------------------------------------------------------------------------
FORMATS = [("pcm", 1), ("pcm", 2), ("pcm", 3), ("pcm", 4), ("float", 4), ("float", 8)]


@pytest.mark.parametrize("fmt, width", FORMATS)
@pytest.mark.parametrize("channels", [1, 2, 5])
def test_round_trip(tmp_path, rng, fmt, width, channels):
    n = 1001  # odd: 8- and 24-bit mono data need a pad byte
    x = rng.uniform(-1, 1, (n, channels))
    x[0] = 1.0
    x[1] = -1.0
    path = tmp_path / "x.wav"
    write_wav(path, x[:, 0] if channels == 1 else x, 16000, width, format=fmt)
    y, fs = read_wav(path)
    assert fs == 16000 and y.shape == (n, channels) and y.dtype == np.float32
    if fmt == "float":
        np.testing.assert_allclose(y, x, atol=1e-7, rtol=0)
    else:
        full = 2.0 ** (8 * width - 1)
        codes = np.clip(np.rint(x * full), -full, full - 1)  # nearest code; +1.0 -> the largest one
        np.testing.assert_allclose(y, codes / full, rtol=1e-7, atol=0)
        assert np.all(np.abs(y - x) <= 1 / full + 1e-7)
    with WavReader(path) as r:
        assert (r.fs, r.channels, r.frames, r.sampwidth, r.format) == (16000, channels, n, width, fmt)
    # scipy reads what we wrote, with the same values
    fs2, raw = wavfile.read(path)
    assert fs2 == 16000
    np.testing.assert_allclose(y, as_float(raw), rtol=1e-7, atol=1e-9)


def test_pcm_is_exact_for_representable_values(tmp_path):
    codes = np.array([-32768, -1, 0, 1, 12345, 32767])
    write_wav(tmp_path / "a.wav", codes / 32768.0, 8000)
    _, raw = wavfile.read(tmp_path / "a.wav")
    np.testing.assert_array_equal(raw, codes)
    write_wav(tmp_path / "b.wav", np.array([2.0, -3.0, 0.5]), 8000)  # clipped
    _, raw = wavfile.read(tmp_path / "b.wav")
    np.testing.assert_array_equal(raw, [32767, -32768, 16384])


def test_stdlib_wave_reads_our_pcm(tmp_path, rng):
    x = rng.uniform(-1, 1, (300, 2))
    write_wav(tmp_path / "s.wav", x, 22050, 2)
    with wave.open(str(tmp_path / "s.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (22050, 2, 2, 300)
        raw = np.frombuffer(w.readframes(300), "<i2").reshape(300, 2)
    np.testing.assert_allclose(raw / 32768, x, atol=1 / 32768)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int16, np.uint8])
@pytest.mark.parametrize("channels", [1, 3])
def test_reads_scipy_files(tmp_path, rng, dtype, channels):
    if np.issubdtype(dtype, np.floating):
        raw = rng.uniform(-1, 1, (777, channels)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        raw = rng.integers(info.min, info.max, (777, channels), endpoint=True).astype(dtype)
    path = tmp_path / "scipy.wav"
    wavfile.write(path, 11025, raw[:, 0] if channels == 1 else raw)
    y, fs = read_wav(path)
    assert fs == 11025 and y.shape == (777, channels) and y.dtype == np.float32
    np.testing.assert_allclose(y, as_float(raw), rtol=1e-7, atol=0)
    assert y.min() >= -1.0 and (np.issubdtype(dtype, np.floating) or y.max() < 1.0)


def test_streaming_reads_equal_whole(tmp_path, rng):
    x = rng.uniform(-1, 1, (10_000, 2))
    path = tmp_path / "long.wav"
    write_wav(path, x, 48000, 3)
    whole, _ = read_wav(path)
    with WavReader(path) as r:
        parts = []
        while True:
            block = r.read(int(rng.integers(1, 999)))
            if len(block) == 0:
                break
            assert block.shape[1] == 2
            parts.append(block)
        assert r.tell() == r.frames == 10_000
        assert r.read(10).shape == (0, 2)
        np.testing.assert_array_equal(np.concatenate(parts), whole)
        r.seek(9_990)
        np.testing.assert_array_equal(r.read(100), whole[9_990:])
        r.seek(0)
        np.testing.assert_array_equal(np.concatenate(list(r.blocks(4096))), whole)
        with pytest.raises(EdgekitError):
            r.seek(10_001)
    assert r.closed


def test_real_recording_matches_scipy(shared_data):
    folder = shared_data / "fsdd" / "recordings"
    files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    if not files:
        pytest.skip(f"{folder} has no recordings")
    for path in files[:3]:
        y, fs = read_wav(path)
        fs2, raw = wavfile.read(path)
        assert fs == fs2 == 8000
        assert raw.dtype == np.int16 and y.shape == (len(raw), 1)
        np.testing.assert_array_equal(y[:, 0], raw.astype(np.float32) / 32768)


# ---------------------------------------------------------------------------------------------
# hand-built headers
# ---------------------------------------------------------------------------------------------
def test_list_chunk_and_odd_padding_are_skipped(tmp_path):
    samples = np.array([0, 1000, -1000, 32767, -32768], dtype="<i2")
    data = riff(
        chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00"),  # odd size: needs the pad byte
        chunk(b"fmt ", fmt_plain(1, 1, 8000, 2)),
        chunk(b"junk", b"xyz"),
        chunk(b"data", samples.tobytes()),
        chunk(b"LIST", b"INFOabc"),  # after the data: ignored
    )
    (tmp_path / "list.wav").write_bytes(data)
    y, fs = read_wav(tmp_path / "list.wav")
    assert fs == 8000
    np.testing.assert_array_equal(y[:, 0], samples / 32768)


@pytest.mark.parametrize("sub, width, valid, dtype", [
    (1, 2, 16, "<i2"), (1, 3, 24, None), (1, 4, 24, "<i4"), (3, 4, 32, "<f4"), (3, 8, 64, "<f8"),
])
def test_wave_format_extensible(tmp_path, rng, sub, width, valid, dtype):
    values = rng.uniform(-1, 1, (50, 2))
    if dtype is None:  # 24-bit: build the three-byte samples by hand
        ints = np.rint(values * 2**23).astype("<i4")
        body = ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()
        expected = ints / 2**23
    elif sub == 1 and width == 4:  # 24 valid bits, left-justified in a 32-bit container
        ints = np.rint(values * 2**23).astype("<i4") * 256
        body = ints.tobytes()
        expected = ints / 2**31
    elif sub == 1:
        ints = np.rint(values * 2**15).clip(-32768, 32767).astype(dtype)
        body, expected = ints.tobytes(), ints / 2**15
    else:
        body, expected = values.astype(dtype).tobytes(), values
    data = riff(chunk(b"fmt ", fmt_extensible(sub, 2, 44100, width, valid)), chunk(b"data", body))
    (tmp_path / "ext.wav").write_bytes(data)
    with WavReader(tmp_path / "ext.wav") as r:
        assert r.format == ("pcm" if sub == 1 else "float")
        assert (r.fs, r.channels, r.sampwidth, r.bits, r.frames) == (44100, 2, width, valid, 50)
        y = r.read()
    np.testing.assert_allclose(y, expected, rtol=1e-7, atol=1e-7 if width == 4 and sub == 3 else 0)


def test_big_endian_rifx(tmp_path):
    samples = np.array([1, -2, 300, -32768], dtype=">i2")
    data = riff(chunk(b"fmt ", fmt_plain(1, 2, 8000, 2, ">"), ">"), chunk(b"data", samples.tobytes(), ">"),
                magic=b"RIFX", endian=">")
    (tmp_path / "be.wav").write_bytes(data)
    y, _ = read_wav(tmp_path / "be.wav")
    np.testing.assert_array_equal(y, samples.astype(np.float64).reshape(2, 2) / 32768)


def test_rf64(tmp_path):
    samples = np.arange(-5, 5, dtype="<i2") * 1000
    ds64 = struct.pack("<QQQI", 0, samples.nbytes, len(samples), 0)
    body = b"WAVE" + chunk(b"ds64", ds64) + chunk(b"fmt ", fmt_plain(1, 1, 8000, 2))
    body += b"data" + struct.pack("<I", 0xFFFFFFFF) + samples.tobytes() + chunk(b"LIST", b"INFO")
    (tmp_path / "rf64.wav").write_bytes(b"RF64" + struct.pack("<I", 0xFFFFFFFF) + body)
    y, _ = read_wav(tmp_path / "rf64.wav")
    np.testing.assert_array_equal(y[:, 0], samples / 32768)


# ---------------------------------------------------------------------------------------------
# damaged and streamed files
# ---------------------------------------------------------------------------------------------
def test_truncated_recording_reads_what_is_there(tmp_path, rng):
    x = rng.uniform(-1, 1, (1000, 2))
    path = tmp_path / "cut.wav"
    write_wav(path, x, 16000, 2)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) - 1001])  # 250 frames and one byte of a frame gone
    with WavReader(path) as r:
        assert r.truncated and r.frames == 749 and r.declared_frames == 1000
        y = r.read()
    assert y.shape == (749, 2)
    np.testing.assert_allclose(y, x[:749], atol=1 / 32768)


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_streamed_wav_with_unknown_size(tmp_path, size):
    samples = np.array([100, -100, 200, -200, 300, -300], dtype="<i2")
    fmt = chunk(b"fmt ", fmt_plain(1, 2, 8000, 2))
    head = b"RIFF" + struct.pack("<I", size) + b"WAVE" + fmt + b"data" + struct.pack("<I", size)
    (tmp_path / "pipe.wav").write_bytes(head + samples.tobytes())
    with WavReader(tmp_path / "pipe.wav") as r:
        assert r.frames == 3 and not r.truncated and r.declared_frames == 3
        np.testing.assert_array_equal(r.read(), samples.reshape(3, 2) / 32768)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("content, words", [
    (b"hello, this is text, not audio", "not a WAV file"),
    (b"", "not a WAV file"),
    (b"RIFF\x10\x00\x00\x00AVI LIST", "not a WAV file"),
    (riff(chunk(b"fmt ", fmt_plain(1, 1, 8000, 2))), "no data chunk"),
    (riff(chunk(b"data", b"\x00\x00")), "no fmt chunk"),
    (riff(chunk(b"fmt ", b"\x01\x00\x01\x00"), chunk(b"data", b"")), "too short"),
    (riff(chunk(b"fmt ", fmt_plain(7, 1, 8000, 1)), chunk(b"data", b"\x00")), "mu-law"),
    (riff(chunk(b"fmt ", fmt_plain(2, 1, 8000, 2)), chunk(b"data", b"\x00\x00")), "ADPCM"),
    (riff(chunk(b"fmt ", fmt_plain(0x55, 1, 8000, 2)), chunk(b"data", b"\x00\x00")), "MP3"),
    (riff(chunk(b"fmt ", fmt_extensible(7, 1, 8000, 1, 8)), chunk(b"data", b"\x00")), "mu-law"),
    (riff(chunk(b"fmt ", fmt_plain(0xFFFE, 1, 8000, 2)), chunk(b"data", b"\x00\x00")), "EXTENSIBLE"),
    (riff(chunk(b"fmt ", fmt_plain(1, 0, 8000, 2)), chunk(b"data", b"")), "0 channels"),
    (riff(chunk(b"fmt ", fmt_plain(1, 1, 0, 2)), chunk(b"data", b"")), "rate 0"),
    (riff(chunk(b"fmt ", fmt_plain(3, 1, 8000, 2)), chunk(b"data", b"")), "float sample width 16"),
    (riff(chunk(b"fmt ", fmt_plain(1, 1, 8000, 5)), chunk(b"data", b"")), "PCM sample width 40"),
])
def test_bad_files_raise_with_the_file_name(tmp_path, content, words):
    path = write(tmp_path / "recording.wav", content)
    with pytest.raises(EdgekitError) as exc:
        read_wav(path)
    msg = str(exc.value)
    assert msg.startswith(str(path) + ": ") and words in msg and "\n" not in msg


def test_unknown_extensible_guid(tmp_path):
    fmt = fmt_plain(0xFFFE, 1, 8000, 2) + struct.pack("<HHI16s", 22, 16, 0, b"\x01\x00\x00\x00" + b"\x11" * 12)
    path = write(tmp_path / "odd.wav", riff(chunk(b"fmt ", fmt), chunk(b"data", b"\x00\x00")))
    with pytest.raises(EdgekitError, match="sub-format"):
        read_wav(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(EdgekitError, match="no such file"):
        read_wav(tmp_path / "nope.wav")
    with pytest.raises(EdgekitError, match="directory"):
        WavReader(tmp_path)


@pytest.mark.parametrize("data, fs, kw, words", [
    (np.zeros(10, dtype=np.int16), 8000, {}, "float"),
    (np.array([0.0, np.nan]), 8000, {}, "NaN"),
    (np.zeros((2, 3, 4)), 8000, {}, "shape"),
    (np.zeros(10), 0, {}, "sampling rate"),
    (np.zeros(10), 8000.5, {}, "sampling rate"),
    (np.zeros(10), 8000, dict(sampwidth=5), "sampwidth"),
    (np.zeros(10), 8000, dict(sampwidth=2, format="float"), "sampwidth"),
    (np.zeros(10), 8000, dict(format="mp3"), "format"),
])
def test_write_errors(tmp_path, data, fs, kw, words):
    with pytest.raises(EdgekitError, match=words):
        write_wav(tmp_path / "out.wav", data, fs, **kw)
    assert not (tmp_path / "out.wav").exists()


def test_write_into_missing_folder(tmp_path):
    with pytest.raises(EdgekitError, match="cannot write"):
        write_wav(tmp_path / "no" / "such" / "dir.wav", np.zeros(4), 8000)
