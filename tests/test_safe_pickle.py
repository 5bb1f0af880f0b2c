"""safe_load: course pickles load; pickles that would run code are refused before anything runs."""
import builtins
import collections
import io
import os
import pickle
import subprocess

import numpy as np
import pytest

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.formats.safe_pickle import _check_tree, safe_load


class _Reduce:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _write(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_os_system_is_refused_and_does_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    evil = _write(tmp_path / "evil.pkl", {"signal": [1.0], "x": _Reduce(os.system, (f"echo pwned > {marker}",))},
                  protocol)
    with pytest.raises(EdgekitError) as e:
        safe_load(evil)
    msg = str(e.value)
    assert "evil.pkl" in msg and "refusing to unpickle" in msg and "system" in msg
    assert "\n" not in msg
    assert not marker.exists()


@pytest.mark.parametrize("func, args", [
    (builtins.eval, ("open({m!r}, 'w').write('pwned')",)),
    (builtins.exec, ("open({m!r}, 'w').write('pwned')",)),
    (subprocess.call, (["touch", "{m}"],)),
    (builtins.open, ("{m}", "w")),
])
def test_code_running_globals_are_refused(tmp_path, func, args):
    marker = tmp_path / "pwned"

    def fill(a):
        if isinstance(a, list):
            return [fill(v) for v in a]
        return a.format(m=str(marker))

    path = _write(tmp_path / "evil.pickle", [1, 2, {"nested": _Reduce(func, tuple(fill(a) for a in args))}])
    with pytest.raises(EdgekitError, match=r"evil\.pickle: refusing to unpickle (builtins|subprocess|io)\."):
        safe_load(path)
    assert not marker.exists()


def test_getattr_gadget_and_numpy_gadgets_are_refused(tmp_path):
    # getattr(__import__('os'), 'system') would hand back os.system without naming it
    path = tmp_path / "g.pkl"
    path.write_bytes(b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'echo'\ntR.")
    with pytest.raises(EdgekitError, match="refusing to unpickle builtins.getattr"):
        safe_load(path)
    # numpy has functions that evaluate strings or load pickles; only the allow-list passes
    raw = b"cnumpy.testing._private.utils\nrunstring\n(S'import os'\ntR."
    (tmp_path / "n.pkl").write_bytes(raw)
    with pytest.raises(EdgekitError, match="refusing to unpickle numpy.testing._private.utils.runstring"):
        safe_load(tmp_path / "n.pkl")


def test_guarded_bytes_cannot_allocate(tmp_path):
    raw = b"c__builtin__\nbytes\n(I1000000000000\ntR."
    (tmp_path / "b.pkl").write_bytes(raw)
    with pytest.raises(EdgekitError, match=r"b\.pkl: not a readable pickle"):
        safe_load(tmp_path / "b.pkl")


def _course(rng):
    return {
        "time": np.arange(64) / 12800.0,
        "signal": rng.standard_normal((3, 64)),
        "label": np.eye(2)[[0, 1, 1]],
        "list": [np.arange(3, dtype=np.int32), 1.5, "text", None, True, b"raw", 2 + 3j],
        "nested": {"a": {"b": [1, 2, (3, 4)]}, "od": collections.OrderedDict(x=1)},
        "scalars": [np.float32(1.25), np.int64(7), np.bool_(False)],
        "objects": np.array(["a", 1, [2.0]], dtype=object),
        "strings": np.array(["A", "B"]),
        "record": np.zeros(2, dtype=[("a", "f4"), ("b", "i2")]),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "sets": [{1, 2}, frozenset({"x"})],
        "empty": [b"", bytearray(b"ab"), np.zeros(0)],
    }


def _assert_same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same(u, v)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype == object:
            _assert_same(a.tolist(), b.tolist())
        else:
            assert a.tobytes() == b.tobytes()
    else:
        assert a == b


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_course_pickle_round_trips(tmp_path, protocol):
    obj = _course(np.random.default_rng(protocol))
    path = _write(tmp_path / f"course{protocol}.pkl", obj, protocol)
    _assert_same(obj, safe_load(path))
    _assert_same(obj, safe_load(str(path)))
    with open(path, "rb") as f:                     # an open file works too
        _assert_same(obj, safe_load(f))


def test_numpy1_module_paths_are_accepted(tmp_path):
    """Pickles written by numpy 1 name numpy.core.multiarray (numpy 2: numpy._core.multiarray)."""
    obj = {"signal": np.arange(5.0), "s": np.float64(2.5)}
    raw = pickle.dumps(obj, protocol=2)
    for new in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
        if new in raw:
            raw1 = raw.replace(new, b"numpy.core.multiarray")
            break
    else:
        pytest.fail("no numpy multiarray global in the pickle")
    assert b"numpy.core.multiarray" in raw1
    back = safe_load(io.BytesIO(raw1))
    np.testing.assert_array_equal(back["signal"], obj["signal"])
    assert back["s"] == 2.5


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    (b"", "not a readable pickle"),
    (b"this is not a pickle at all", "not a readable pickle"),
    ("truncated", "not a readable pickle"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, words):
    path = tmp_path / "data.pkl"
    if content == "truncated":
        raw = pickle.dumps({"signal": np.arange(1000.0)}, protocol=4)
        path.write_bytes(raw[: len(raw) // 2])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(EdgekitError) as e:
        safe_load(path)
    assert str(path) in str(e.value) and words in str(e.value) and "\n" not in str(e.value)


def test_directory_is_an_error(tmp_path):
    with pytest.raises(EdgekitError, match="directory"):
        safe_load(tmp_path)


def test_result_check_refuses_foreign_objects():
    """Defence in depth: whatever got through, the result holds only plain data."""
    _check_tree({"a": [1, np.zeros(2), np.array([1, "x"], dtype=object)]}, "f.pkl")
    with pytest.raises(EdgekitError, match=r"f\.pkl: refusing the unpickled data: .*slice"):
        _check_tree({"a": [1, {"b": slice(1)}]}, "f.pkl")
    with pytest.raises(EdgekitError, match="Path"):
        from pathlib import Path
        _check_tree([np.array([1, Path("x")], dtype=object)], "f.pkl")
    with pytest.raises(EdgekitError, match="MaskedArray"):
        _check_tree(np.ma.masked_array([1.0]), "f.pkl")
    cyclic = []
    cyclic.append(cyclic)
    _check_tree(cyclic, "f.pkl")                    # terminates
