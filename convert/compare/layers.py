"""``--layers``: which layers of an int8 model lose the most to quantization — TFLite through
``tf.lite.experimental.QuantizationDebugger``, ONNX (QDQ) through ``onnxruntime.quantization.qdq_loss_debug``."""
from __future__ import annotations

import contextlib
import csv
import io
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge.core.quiet import captured_stderr
from edgekit.edge.core.errors import EdgekitError

from ..rundir import open_run
from ..tf import batches, quiet_tensorflow
from .data import Artifact, find_run_dir

LAYER_WINDOWS = 128                 # test windows used for the per-layer analysis
UNIFORM_RMSE_OVER_SCALE = 1 / math.sqrt(12)   # rounding error alone, in quantization steps


def _sqnr(sig: float, noise: float) -> float:
    """dB from sums of squares (``qdq_loss_debug.compute_signal_to_quantization_noice_ratio``, accumulated)."""
    eps = np.finfo(float).eps
    return 20 * math.log10(max(math.sqrt(sig), eps) / max(math.sqrt(noise), eps))


def check_layers(int8: list[Artifact], arts: list[Artifact]) -> None:
    """Fail before the long part: a TFLite artifact needs its training run, an ONNX one the QDQ format."""
    for a in int8:
        if a.format == "tflite":
            find_run_dir(a, arts)
        elif a.format == "onnx":
            _check_qdq(a.path)


def layer_errors(art: Artifact, arts: list[Artifact], x: np.ndarray, log=print) -> dict[str, Any]:
    """The per-layer quantization error of the int8 (TFLite or ONNX) artifact ``art`` over the features ``x``."""
    return (tflite_layer_errors if art.format == "tflite" else onnx_layer_errors)(art, arts, x, log=log)


def tflite_layer_errors(art: Artifact, arts: list[Artifact], x: np.ndarray, log=print) -> dict[str, Any]:
    """Per-op error of an int8 TFLite model with ``tf.lite.experimental.QuantizationDebugger``: it re-quantizes the
    Keras model with the artifact's calibration (as many of the run's calibration windows as its spec records) and runs
    every quantized op next to its float twin on the same inputs, over ``x``; the error in output quantization steps
    (rmse/scale, as the ``explanation`` of the result says)."""
    quiet_tensorflow()
    import tensorflow as tf

    from ..calibration import DEFAULT_CALIB, calibration_features
    from ..tflite import converter

    run = open_run(find_run_dir(art, arts))
    n_cal = int((art.spec.quantization or {}).get("calibration_samples", DEFAULT_CALIB))
    rep = calibration_features(run, n_cal, log=lambda *a: None).astype(np.float32)
    model = run.load_model()
    xs = np.asarray(x, np.float32)
    try:
        # the converter prints "Saved artifact at ..." on stdout, which would corrupt --json
        with captured_stderr() as cap, contextlib.redirect_stdout(io.StringIO()):
            conv = converter(model, "int8", rep, int8_io=False)     # the debugger compares float tensors
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=conv, debug_dataset=lambda: ([b] for b in batches(xs, 1)))
            debugger.run()
            buf = io.StringIO()
            debugger.layer_statistics_dump(buf)
    except Exception as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else cap.last_line()
        raise EdgekitError(f"{art.path}: the TFLite quantization debugger failed ({detail[:200]})") from None
    buf.seek(0)
    layers = []
    for rec in csv.DictReader(buf):
        scale = float(rec["scale"])
        if not scale > 0:
            continue
        rmse = math.sqrt(max(float(rec["mean_squared_error"]), 0.0)) / scale
        layers.append({
            "op": rec["op_name"], "tensor": rec["tensor_name"], "tensor_index": int(rec["tensor_idx"]),
            "scale": scale, "zero_point": int(float(rec["zero_point"])), "rmse_over_scale": rmse,
            "mean_error_over_scale": float(rec["mean_error"]) / scale,
            "max_abs_error_over_scale": float(rec["max_abs_error"]) / scale,
            "range": 255.0 * scale, "num_elements": int(float(rec["num_elements"])), "error": rmse,
        })
    layers.sort(key=lambda L: -L["rmse_over_scale"])
    return {"format": "tflite", "tool": "tf.lite.experimental.QuantizationDebugger", "windows": int(len(xs)),
            "calibration_windows": int(len(rep)), "error_metric": "rmse_over_scale", "layers": layers,
            "explanation": f"rmse/scale: each op against its float twin on the same inputs, in quantization "
                           f"steps; {UNIFORM_RMSE_OVER_SCALE:.2f} is rounding alone, larger values lose more",
            "keep_in_float": "keep it in float with QuantizationDebugOptions(denylisted_nodes=[...]) or a "
                             "selective-quantization converter"}


def _float_onnx_for(art: Artifact, arts: list[Artifact], tmp: Path, log=print) -> tuple[Path | None, str]:
    """A float32 ONNX model of the same Keras model: a given artifact, a sibling file, or a fresh export
    of the run's model.keras (when the ONNX exporter is installed). (None, why) if there is none."""
    from edgekit.edge.model.metadata import read_spec

    from ..onnx import to_onnx

    sha = art.spec.model_sha256
    for a in arts:
        if a.format == "onnx" and a.precision == "float32" and a.spec.model_sha256 == sha:
            return a.path, f"float reference {a.path.name}"
    for p in sorted(art.path.parent.glob("*.onnx")):
        if p == art.path:
            continue
        try:
            s = read_spec(p)
        except EdgekitError:
            continue
        if s is not None and s.model_sha256 == sha and (s.quantization or {}).get("precision", "float32") == "float32":
            return p, f"float reference {p.name}"
    try:
        run_dir = find_run_dir(art, arts)
    except EdgekitError as e:
        return None, f"no float32 ONNX model of the same run found ({e.message})"
    run = open_run(run_dir)
    out = tmp / "float32.onnx"
    log(f"exporting {run_dir / 'model.keras'} to float32 ONNX for the comparison ...")
    quiet_tensorflow()
    try:
        with captured_stderr(), contextlib.redirect_stdout(io.StringIO()):
            out.write_bytes(to_onnx(run.load_model(), run.spec(), "float32"))
    except EdgekitError as e:
        return None, f"the float32 ONNX export failed ({e.message})"
    return out, f"float export of {run_dir / 'model.keras'}"


def _onnx_qparams(proto) -> dict[str, tuple[float, int, int, int]]:
    """Per activation tensor quantized in a QDQ graph: (scale, zero point, qmin, qmax)."""
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    qparams = {}
    for n in proto.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in inits or n.input[1] not in inits:
            continue
        scale = numpy_helper.to_array(inits[n.input[1]]).reshape(-1)
        zp_t = inits.get(n.input[2]) if len(n.input) > 2 else None
        zp = numpy_helper.to_array(zp_t).reshape(-1) if zp_t is not None else np.zeros(1, np.uint8)
        if scale.size != 1:          # per-channel activations: not produced by quantize_static
            continue
        info = np.iinfo(zp.dtype)
        qparams[n.input[0]] = (float(scale[0]), int(zp[0]) if zp.size else 0, int(info.min), int(info.max))
    return qparams


def _onnx_weight_errors(qdq_proto, float_path: Path) -> list[dict[str, Any]]:
    """SQNR (dB) of every int8 weight of the QDQ model against the float model's weight of the same name:
    ``qdq_loss_debug``'s ``compute_weight_error``, but dequantized in float64 (the library subtracts the zero
    point in int8, which wraps around in onnxruntime 1.32 and gives nonsense for per-tensor int8 biases)."""
    import onnx
    from onnx import numpy_helper

    fl = {i.name: i for i in onnx.load(str(float_path)).graph.initializer}
    inits = {i.name: i for i in qdq_proto.graph.initializer}
    consumer = {i: n for n in qdq_proto.graph.node for i in n.input}
    out = []
    for n in qdq_proto.graph.node:
        if n.op_type != "DequantizeLinear" or n.input[0] not in inits or not n.input[0].endswith("_quantized"):
            continue
        name = n.input[0][:-len("_quantized")]
        if name not in fl or n.input[1] not in inits:
            continue
        q = numpy_helper.to_array(inits[n.input[0]]).astype(np.float64)
        s = numpy_helper.to_array(inits[n.input[1]]).astype(np.float64)
        z = (numpy_helper.to_array(inits[n.input[2]]).astype(np.float64) if len(n.input) > 2
             and n.input[2] in inits else np.zeros_like(s))
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        if s.size > 1:               # per-channel: broadcast along the quantization axis
            shape = [1] * q.ndim
            shape[axis % q.ndim] = -1
            s, z = s.reshape(shape), z.reshape(shape)
        deq = (q - z) * s
        f = numpy_helper.to_array(fl[name]).astype(np.float64)
        if f.shape != deq.shape:
            continue
        user = consumer.get(n.output[0])
        out.append({"weight": name, "op": user.op_type if user is not None else "?",
                    "node": user.name if user is not None else "", "per_channel": bool(s.size > 1),
                    "sqnr_db": _sqnr(float((f ** 2).sum()), float(((f - deq) ** 2).sum()))})
    out.sort(key=lambda w: w["sqnr_db"])
    return out


def _check_qdq(path: Path) -> None:
    """--layers on ONNX needs the QDQ format (QuantizeLinear/DequantizeLinear around float operators)."""
    from edgekit.edge.model.metadata import file_info

    ops = file_info(path).operators
    qop = sorted(o for o in ops if o.split(".")[-1].startswith("QLinear") or o.split(".")[-1].endswith("Integer"))
    if qop or not ops.get("QuantizeLinear") or not ops.get("DequantizeLinear"):
        has = f"quantized operators ({', '.join(qop[:4])})" if qop else f"operators {', '.join(sorted(ops)[:6])}"
        raise EdgekitError(f"{path}: --layers needs an ONNX model in QDQ format (QuantizeLinear/DequantizeLinear "
                           f"around float operators: 'edgekit convert --quant-format qdq'); this one has {has}")


def onnx_layer_errors(art: Artifact, arts: list[Artifact], x: np.ndarray, log=print, batch: int = 8) -> dict[str, Any]:
    """Per-tensor error of an int8 (QDQ) ONNX model with ``onnxruntime.quantization.qdq_loss_debug``: every tensor is
    exposed and paired before and after its QuantizeLinear → DequantizeLinear, and with the same tensor of a float32
    ONNX model of the network when there is one (:func:`_float_onnx_for`). Over ``x`` in batches, sums accumulated so
    that memory stays flat:

    * ``sqnr_db``: the QDQ tensor against the float one — the error accumulated up to there;
    * ``sqnr_drop_db``: the SQNR the producing node loses against its inputs — the error that layer adds
      (weights and output rounding); the ranking key;
    * ``qdq_sqnr_db`` / ``rmse_over_scale`` / ``clipped_fraction``: the tensor's own rounding and clipping
      (a range starting at exactly 0 is a fused ReLU: values below 0 are intended, not clipped);
    * per weight, the SQNR of the int8 weight against the float one."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization.qdq_loss_debug import (create_activation_matching,
                                                         modify_model_output_intermediate_tensors)
    from onnxruntime.quantization.quant_utils import DEQUANT_OUTPUT_SUFFIX, QUANT_INPUT_SUFFIX

    from edgekit.edge.model.quant import quantize

    _check_qdq(art.path)
    proto = onnx.load(str(art.path))
    qparams = _onnx_qparams(proto)
    producer = {o: n for n in proto.graph.node for o in n.output}
    # a graph output T is written as  op → T_QuantizeLinear_Input → Q → DQ → T : key both by T
    for t in list(qparams):
        if t.endswith(QUANT_INPUT_SUFFIX):
            base = t[:-len(QUANT_INPUT_SUFFIX)]
            qparams.setdefault(base, qparams[t])
            if t in producer:
                producer[base] = producer[t]
    model_input = art.model.backend.input if art.model is not None else None
    dtypes = {"tensor(float)": np.float32, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8}
    suffix = "_ReshapedSavedOutput"

    def feed(sess, xb: np.ndarray) -> dict[str, np.ndarray]:
        inp = sess.get_inputs()[0]
        dt = np.dtype(dtypes.get(inp.type, np.float32))
        if model_input is not None and model_input.quantized and dt == np.dtype(model_input.dtype):
            return {inp.name: quantize(xb, model_input)}
        return {inp.name: xb.astype(dt)}

    acc: dict[str, dict[str, float]] = {}
    n_float_matched = 0
    weights: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-layers-") as tmpd:
        tmp = Path(tmpd)
        float_path, float_note = _float_onnx_for(art, arts, tmp, log=log)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL   # keep every tensor
        so.log_severity_level = 3
        sessions = {}
        for key, src in (("qdq", art.path), ("float", float_path)):
            if src is None:
                continue
            aug = tmp / f"{key}_augmented.onnx"
            modify_model_output_intermediate_tensors(str(src), str(aug))
            sessions[key] = ort.InferenceSession(str(aug), sess_options=so, providers=["CPUExecutionProvider"])
        for xb in batches(np.asarray(x, np.float32), batch):
            acts = {}
            for key, sess in sessions.items():
                res = sess.run(None, feed(sess, xb))
                acts[key] = {o.name[:-len(suffix)]: [v] for o, v in zip(sess.get_outputs(), res)
                             if o.name.endswith(suffix)}
            match = create_activation_matching(acts["qdq"], acts.get("float"))
            n_float_matched = max(n_float_matched, sum("float" in m for m in match.values()))
            for name, m in match.items():
                pre = np.asarray(m["pre_qdq"][0], np.float64)
                post = np.asarray(m["post_qdq"][0], np.float64)
                if pre.shape != post.shape:
                    continue
                a = acc.setdefault(name, dict.fromkeys(("sig", "noise", "n", "clip", "fsig", "fnoise", "fn"), 0.0))
                if name in qparams:
                    s, zp, qmin, qmax = qparams[name]
                    lo, hi = s * (qmin - zp), s * (qmax - zp)
                    if abs(lo) < s / 2:          # range starts at 0: a fused ReLU, not clipping
                        pre = np.maximum(pre, 0.0)
                    a["clip"] += int(((pre < lo - s / 2) | (pre > hi + s / 2)).sum())
                a["sig"] += float((pre ** 2).sum())
                a["noise"] += float(((pre - post) ** 2).sum())
                a["n"] += pre.size
                if "float" in m:
                    f = np.asarray(m["float"][0], np.float64)
                    if f.shape == post.shape:
                        a["fsig"] += float((f ** 2).sum())
                        a["fnoise"] += float(((f - post) ** 2).sum())
                        a["fn"] += f.size
        if float_path is not None:
            weights = _onnx_weight_errors(proto, float_path)

    layers: dict[str, dict[str, Any]] = {}
    for name, a in acc.items():
        if not a["n"]:
            continue
        s = qparams.get(name, (0.0, 0, 0, 0))[0]
        prod = producer.get(name)
        L = {"tensor": name, "op": prod.op_type if prod is not None else "input",
             "node": prod.name if prod is not None else name, "scale": s, "qdq_sqnr_db": _sqnr(a["sig"], a["noise"]),
             "rmse_over_scale": math.sqrt(a["noise"] / a["n"]) / s if s > 0 else None,
             "clipped_fraction": a["clip"] / a["n"], "num_elements": int(a["n"] // max(len(x), 1))}
        if a["fn"]:
            L["sqnr_db"] = _sqnr(a["fsig"], a["fnoise"])
        layers[name] = L
    # the SQNR a node loses against its inputs (the tensors feeding it through DequantizeLinear)
    for name, L in layers.items():
        prod = producer.get(name)
        if prod is None or "sqnr_db" not in L:
            continue
        ins = [i[:-len(DEQUANT_OUTPUT_SUFFIX)] if i.endswith(DEQUANT_OUTPUT_SUFFIX) else i for i in prod.input]
        in_sqnr = [layers[i]["sqnr_db"] for i in ins if i in layers and "sqnr_db" in layers[i] and i != name]
        if in_sqnr:
            L["input_sqnr_db"] = min(in_sqnr)
            L["sqnr_drop_db"] = min(in_sqnr) - L["sqnr_db"]
    out = list(layers.values())
    has_float = any("sqnr_db" in L for L in out)
    if has_float:
        out.sort(key=lambda L: (-L.get("sqnr_drop_db", -math.inf), L.get("sqnr_db", math.inf)))
        for L in out:
            L["error"] = L.get("sqnr_drop_db")
    else:
        out.sort(key=lambda L: L["qdq_sqnr_db"])
        for L in out:
            L["error"] = -L["qdq_sqnr_db"]
    expl = ("drop dB: SQNR the layer loses against its inputs (its weights + output rounding; the ranking); "
            "SQNR dB: the QDQ tensor against the float model's (accumulated); QDQ SQNR / rmse/scale / "
            f"clipped: the tensor's own rounding and clipping ({UNIFORM_RMSE_OVER_SCALE:.2f} steps = rounding alone)")
    if not has_float:
        expl += f"; no float comparison: {float_note}"
    return {"format": "onnx", "tool": "onnxruntime.quantization.qdq_loss_debug", "windows": int(len(x)),
            "float_model": float_note, "float_tensors_matched": n_float_matched,
            "error_metric": "sqnr_drop_db" if has_float else "qdq_sqnr_db", "layers": out, "weights": weights,
            "explanation": expl,
            "keep_in_float": "keep it in float with quantize_static(..., nodes_to_exclude=[its node name])"}
