"""Read what a model file says about itself, without TensorFlow and without the ``onnx`` package.

* TFLite: the flatbuffer's ``metadata`` table maps a name to a buffer; edgekit stores its spec as JSON
  under :data:`~edgekit.edge.core.spec.METADATA_KEY`. A small reader over the ``flatbuffers`` runtime walks
  the schema fields we need (operator codes, operators, buffers, metadata).
* ONNX: ``ModelProto.metadata_props`` holds the same JSON, read through ONNX Runtime's
  ``custom_metadata_map`` (the session the model runs on). A minimal protobuf wire-format walker only counts
  the graph's operators for ``edgekit info``: ONNX Runtime exposes no graph nodes, and the ``onnx`` package
  is a workstation extra.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.core.spec import METADATA_KEY, Spec
from edgekit.edge.model.backends import model_format, map_model_file
from edgekit.edge.tasks import checked


@dataclass
class ModelFileInfo:
    """A model file's format, size, metadata and operator counts. ``op_codes`` counts TFLite builtin codes (ints) or
    names; :attr:`operators` names them, on demand, so that edge-run (which never shows them) does not load LiteRT's
    3 MB generated schema."""

    format: str
    size_bytes: int
    metadata: dict[str, bytes | str] = field(default_factory=dict)
    op_codes: Counter = field(default_factory=Counter)

    @property
    def operators(self) -> Counter:
        out: Counter = Counter()
        for code, n in self.op_codes.items():
            out[_builtin_name(code) if isinstance(code, int) else code] += n
        return out


# -- TFLite flatbuffer ------------------------------------------------------------------------------
# Field slots (vtable offsets) from tensorflow/lite/schema/schema.fbs.
_MODEL_OPCODES, _MODEL_SUBGRAPHS, _MODEL_BUFFERS, _MODEL_METADATA = 6, 8, 12, 16
_OPCODE_DEPRECATED, _OPCODE_CUSTOM, _OPCODE_BUILTIN = 4, 6, 10
_SUBGRAPH_OPERATORS, _OPERATOR_OPCODE = 10, 4
_METADATA_NAME, _METADATA_BUFFER = 4, 6
_BUFFER_DATA, _BUFFER_OFFSET, _BUFFER_SIZE = 4, 6, 8

# BuiltinOperator names of the operators these models use (all of them come from LiteRT's schema when
# it is installed); an unknown code prints as BUILTIN_<n>.
_BUILTIN_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU",
    21: "RELU6", 22: "RESHAPE", 25: "SOFTMAX", 28: "TANH", 34: "PAD", 39: "TRANSPOSE", 40: "MEAN",
    41: "SUB", 42: "DIV", 43: "SQUEEZE", 45: "STRIDED_SLICE", 49: "SPLIT", 53: "CAST", 70: "EXPAND_DIMS", 77: "SHAPE",
    83: "PACK", 102: "QUANTIZE", 114: "HARD_SWISH", 127: "BATCH_MATMUL",
}


def _builtin_name(code: int) -> str:
    """The schema's name of a builtin operator: from LiteRT's generated schema where it is installed, else
    from the table above (tflite-runtime ships no schema)."""
    if not _ALL_NAMES_LOADED:
        _load_builtin_names()
    return _BUILTIN_NAMES.get(code, f"BUILTIN_{code}")


_ALL_NAMES_LOADED = False


def _load_builtin_names() -> None:
    global _ALL_NAMES_LOADED
    _ALL_NAMES_LOADED = True
    try:
        from ai_edge_litert.schema_py_generated import BuiltinOperator
    except Exception:      # noqa: BLE001 -- any failure leaves the short table
        return
    _BUILTIN_NAMES.update({v: k for k, v in vars(BuiltinOperator).items() if k.isupper() and isinstance(v, int)})


def _tflite_tables(buf: bytes):
    from flatbuffers import encode, number_types as N, table

    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ValueError("no TFL3 identifier")
    root = table.Table(buf, encode.Get(N.UOffsetTFlags.packer_type, buf, 0))

    def vec(t, slot):
        o = t.Offset(slot)
        if not o:
            return []
        start, n = t.Vector(o), t.VectorLen(o)
        return [table.Table(buf, t.Indirect(start + 4 * i)) for i in range(n)]

    def scalar(t, slot, flags, default=0):
        o = t.Offset(slot)
        return t.Get(flags, o + t.Pos) if o else default

    def string(t, slot):
        o = t.Offset(slot)
        return t.String(o + t.Pos).decode("utf-8", "replace") if o else ""

    def bytes_(t, slot):
        o = t.Offset(slot)
        if not o:
            return b""
        start, n = t.Vector(o), t.VectorLen(o)
        return bytes(buf[start:start + n])

    return root, vec, scalar, string, bytes_, N


def tflite_file_info(buf: bytes) -> ModelFileInfo:
    try:
        root, vec, scalar, string, bytes_, N = _tflite_tables(buf)
        codes = []
        for oc in vec(root, _MODEL_OPCODES):
            code = max(scalar(oc, _OPCODE_BUILTIN, N.Int32Flags), scalar(oc, _OPCODE_DEPRECATED, N.Int8Flags))
            custom = string(oc, _OPCODE_CUSTOM)
            codes.append(custom if code == 32 and custom else code)
        ops: Counter = Counter()
        for sg in vec(root, _MODEL_SUBGRAPHS):
            for op in vec(sg, _SUBGRAPH_OPERATORS):
                ops[codes[scalar(op, _OPERATOR_OPCODE, N.Uint32Flags)]] += 1
        buffers = vec(root, _MODEL_BUFFERS)
        meta: dict[str, bytes] = {}
        for m in vec(root, _MODEL_METADATA):
            b = buffers[scalar(m, _METADATA_BUFFER, N.Uint32Flags)]
            data = bytes_(b, _BUFFER_DATA)
            off = scalar(b, _BUFFER_OFFSET, N.Uint64Flags)
            if not data and off > 1:  # large models keep buffers after the flatbuffer
                data = bytes(buf[off:off + scalar(b, _BUFFER_SIZE, N.Uint64Flags)])
            meta[string(m, _METADATA_NAME)] = data
    except Exception as e:  # a corrupt flatbuffer fails in many ways (struct.error, IndexError, ...)
        raise EdgekitError(f"not a valid TFLite model ({e})") from None
    return ModelFileInfo("tflite", len(buf), meta, ops)


# -- ONNX protobuf -----------------------------------------------------------------------------------

def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes, start: int = 0, end: int | None = None):
    """Yield (field_number, wire_type, value) where value is an int or a (start, end) slice."""
    i, end = start, len(buf) if end is None else end
    while i < end:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
            yield num, wt, v
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > end:
                raise ValueError("field runs past the end")
            yield num, wt, (i, i + n)
            i += n
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")


def onnx_file_info(buf: bytes) -> ModelFileInfo:
    """Size and operator counts of an ONNX model (its metadata comes from ONNX Runtime)."""
    ops: Counter = Counter()
    saw_graph = False
    try:
        for num, wt, v in _fields(buf):
            if num == 7 and wt == 2:          # ModelProto.graph
                saw_graph = True
                for gnum, gwt, gv in _fields(buf, *v):
                    if gnum == 1 and gwt == 2:  # GraphProto.node
                        op, domain = "", ""
                        for nnum, nwt, nv in _fields(buf, *gv):
                            if nnum == 4 and nwt == 2:
                                op = buf[nv[0]:nv[1]].decode("utf-8", "replace")
                            elif nnum == 7 and nwt == 2:
                                domain = buf[nv[0]:nv[1]].decode("utf-8", "replace")
                        ops[f"{domain}.{op}" if domain and domain != "ai.onnx" else op] += 1
    except ValueError as e:
        raise EdgekitError(f"not a valid ONNX model ({e})") from None
    if not saw_graph:
        raise EdgekitError("not a valid ONNX model (no graph)")
    return ModelFileInfo("onnx", len(buf), {}, ops)


# -- public ------------------------------------------------------------------------------------------

def file_info(path: str | Path, metadata: dict | None = None) -> ModelFileInfo:
    """What the file at ``path`` is. For ONNX, ``metadata`` is the running session's
    ``custom_metadata_map`` (read through a session of its own when not given)."""
    fmt = model_format(path)
    with map_model_file(path) as buf:
        try:
            info = tflite_file_info(buf) if fmt == "tflite" else onnx_file_info(buf)
        except EdgekitError as e:
            raise EdgekitError(f"{path}: {e.message}") from None
    if fmt == "onnx":
        if metadata is None:
            from edgekit.edge.model.backends.onnx import OnnxBackend
            metadata = OnnxBackend(path, threads=1).metadata
        info.metadata = dict(metadata)
    return info


def read_spec(path: str | Path, info: ModelFileInfo | None = None) -> Spec | None:
    """The edgekit spec embedded in a model file, or None for a foreign model without one."""
    info = info or file_info(path)
    raw = info.metadata.get(METADATA_KEY)
    if raw is None:
        return None
    source = f"{path} (embedded metadata)"
    return checked(Spec.from_json(raw, source=source), source)
