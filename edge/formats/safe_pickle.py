"""Load course pickles without letting them run code.

A pickle is a program: unpickling calls whatever importable callable it names (``os.system``, ``builtins.eval``, ...).
:func:`safe_load` resolves only the globals plain containers and numpy arrays need (numpy 1 and 2 module paths alike):
numpy's ``_reconstruct``, ``ndarray`` and ``dtype`` (arrays, protocols 0–4), ``_frombuffer`` (protocol 5) and
``scalar``; ``_codecs.encode`` (``bytes`` in protocol 2); ``collections.OrderedDict``; builtins ``complex``, ``set``,
``frozenset``, and ``bytes`` and ``bytearray`` (never with an integer size). Then it checks that the result is built
only of containers, strings, bytes, numbers, ``None`` and numpy arrays and scalars (object arrays are walked too)."""
from __future__ import annotations

import codecs
import collections
import os
import pickle
from typing import Any, BinaryIO

import numpy as np

from edgekit.edge.core.errors import EdgekitError

MAX_BYTES = 2 << 30      # a course pickle larger than 2 GiB is refused as it is read (pkl:/dev/zero never ends)
_WHAT = "the course format may only hold dicts, lists, numbers, strings and numpy arrays (a pickle can run code)"


def _numpy_core(sub: str):
    import importlib
    try:
        return importlib.import_module(f"numpy._core.{sub}")      # numpy >= 2
    except ImportError:
        return importlib.import_module(f"numpy.core.{sub}")       # numpy 1.x


def _guarded(kind):
    def make(*args):
        if args and isinstance(args[0], int):
            raise pickle.UnpicklingError(f"{kind.__name__}(<integer>) is not allowed")
        return kind(*args)
    make.__name__ = kind.__name__
    return make


def _allowed() -> dict[tuple[str, str], Any]:
    multiarray, numeric = _numpy_core("multiarray"), _numpy_core("numeric")
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): codecs.encode,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = multiarray._reconstruct
        table[(f"{core}.multiarray", "scalar")] = multiarray.scalar
        table[(f"{core}.numeric", "_frombuffer")] = numeric._frombuffer
    for mod in ("builtins", "__builtin__"):
        table[(mod, "complex")] = complex
        table[(mod, "set")] = set
        table[(mod, "frozenset")] = frozenset
        table[(mod, "bytes")] = _guarded(bytes)
        table[(mod, "bytearray")] = _guarded(bytearray)
    return table


class _Refused(Exception):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class _Budget(Exception):
    """The stream went past :data:`MAX_BYTES`."""


class _BoundedReader:
    """A binary file read by the unpickler, refusing to go past ``limit`` bytes: a size claimed by the pickle (a
    BINBYTES of 100 GB) or an endless file is refused before it is read, not after it filled memory."""

    def __init__(self, f: BinaryIO, limit: int = MAX_BYTES):
        self._f, self._left = f, limit

    def _take(self, n: int) -> None:
        if n > self._left:
            raise _Budget()
        self._left -= n

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self._left + 1
        data = self._f.read(min(n, self._left + 1))
        self._take(len(data))
        return data

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        if len(view) > self._left:
            raise _Budget()
        n = self._f.readinto(view)
        self._take(n or 0)
        return n

    def readline(self, size: int = -1) -> bytes:
        line = self._f.readline(self._left + 1 if size is None or size < 0 else min(size, self._left + 1))
        self._take(len(line))
        return line


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in the module docstring."""

    _table: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if RestrictedUnpickler._table is None:
            RestrictedUnpickler._table = _allowed()
        try:
            return RestrictedUnpickler._table[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(str(module), str(name)) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent IDs are not supported")


_SCALARS = (str, bytes, bytearray, int, float, bool, complex, type(None), np.generic)


def _check_tree(obj: Any, where: str) -> None:
    """Refuse anything but plain containers, numbers, strings and numpy data (iteratively, cycle-safe)."""
    stack, seen = [obj], set()
    while stack:
        o = stack.pop()
        if isinstance(o, _SCALARS) or id(o) in seen:
            continue
        if isinstance(o, np.ndarray):
            if type(o) is not np.ndarray:
                raise EdgekitError(f"{where}: refusing the unpickled data: it holds a {type(o).__name__}; {_WHAT}")
            if o.dtype.hasobject:
                seen.add(id(o))
                stack.extend(o.ravel().tolist())
            continue
        if isinstance(o, (dict, list, tuple, set, frozenset)):
            seen.add(id(o))
            stack.extend(o)                   # a dict's keys ...
            if isinstance(o, dict):
                stack.extend(o.values())      # ... and values
            continue
        raise EdgekitError(f"{where}: refusing the unpickled data: it holds a {type(o).__module__}."
                           f"{type(o).__qualname__} object; {_WHAT}")


def safe_load(path_or_file: str | os.PathLike | BinaryIO) -> Any:
    """Unpickle a file (path or binary file object) that may hold only plain data and numpy arrays.

    Raises :class:`EdgekitError` for a missing, unreadable, corrupt or truncated file, for a pickle naming any global
    outside the allow-list (nothing it names is called), and for a result holding objects other than dicts, lists,
    tuples, sets, strings, bytes, numbers, None and numpy arrays."""
    if isinstance(path_or_file, (str, os.PathLike)):
        where = os.fspath(path_or_file)
        try:
            f = open(path_or_file, "rb")
        except FileNotFoundError:
            raise EdgekitError(f"{where}: no such file; check the path") from None
        except IsADirectoryError:
            raise EdgekitError(f"{where}: is a directory, not a pickle file") from None
        except OSError as e:
            raise EdgekitError(f"{where}: cannot read the file ({e.strerror or e})") from None
        with f:
            return _load(f, where)
    return _load(path_or_file, str(getattr(path_or_file, "name", "<pickle stream>")))


def _load(stream: BinaryIO, where: str) -> Any:
    """Unpickle ``stream`` (bounded to :data:`MAX_BYTES`) with the restricted unpickler, then check the result."""
    try:
        obj = RestrictedUnpickler(_BoundedReader(stream)).load()
    except _Budget:
        raise EdgekitError(f"{where}: more than {MAX_BYTES >> 30} GiB of pickle; a course file is smaller (give one "
                           "recording set at a time)") from None
    except OSError as e:
        raise EdgekitError(f"{where}: cannot read the file ({e.strerror or e})") from None
    except _Refused as e:
        raise EdgekitError(f"{where}: refusing to unpickle {e.module}.{e.name}: {_WHAT}") from None
    except EdgekitError:
        raise
    except Exception as e:   # noqa: BLE001 — every failure here comes from the file's bytes
        what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if len(what) > 160:
            what = what[:157] + "..."
        raise EdgekitError(f"{where}: not a readable pickle ({what}); the file is corrupt, truncated "
                           f"or not a pickle — re-export it") from None
    _check_tree(obj, where)
    return obj
