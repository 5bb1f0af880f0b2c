"""Write the edgekit spec into model files (reading is device-side: ``edgekit.edge.model.metadata``)."""
from __future__ import annotations

import numpy as np

from edgekit.edge.core.spec import METADATA_KEY, Spec


def embed_tflite(model: bytes, spec: Spec) -> bytes:
    """Add (or replace) the ``edgekit_spec`` entry of the flatbuffer's metadata table."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    payload = np.frombuffer(spec.to_json(indent=None).encode("utf-8"), dtype=np.uint8)
    m.metadata = list(m.metadata or [])
    for entry in m.metadata:
        name = entry.name.decode() if isinstance(entry.name, bytes) else entry.name
        if name == METADATA_KEY:
            m.buffers[entry.buffer].data = payload
            break
    else:
        buf = schema.BufferT()
        buf.data = payload
        m.buffers.append(buf)
        entry = schema.MetadataT()
        entry.name = METADATA_KEY
        entry.buffer = len(m.buffers) - 1
        m.metadata.append(entry)
    return flatbuffer_utils.convert_object_to_bytearray(m)


def embed_onnx(model_proto, spec: Spec):
    """Set ``metadata_props[edgekit_spec]`` on an ``onnx.ModelProto`` (in place; returned for chaining)."""
    from onnx import helper

    props = {p.key: p.value for p in model_proto.metadata_props}
    helper.set_model_props(model_proto, {**props, METADATA_KEY: spec.to_json(indent=None)})
    return model_proto
