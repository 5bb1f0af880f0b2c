"""Every artifact is checked right after conversion: run it on the device runtime over the recorded test
split and compare with Keras. NaN, a suspiciously small file (weights dropped), or low agreement fail: top-1 of a
classifier, the MAE of a regressor (of several forecast horizons: each output's MAE against Keras's, ``per_horizon``),
and for an anomaly model the rank agreement of its scores with Keras's (Spearman) and, on labelled test windows, its
AUC."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit.edge.core.errors import EdgekitError
from edgekit.edge.model.model import Model

MIN_AGREEMENT = {"float32": 0.99, "dynamic": 0.97, "int8": 0.97}     # minimum top-1 agreement with Keras (classifier)
MAX_MAE_INCREASE = {"float32": 0.01, "dynamic": 0.05, "int8": 0.05}  # regression: max fraction the MAE exceeds Keras's
BYTES_PER_WEIGHT = {"float32": 4, "dynamic": 1, "int8": 1}
MIN_SPEARMAN = {"float32": 0.99, "dynamic": 0.95, "int8": 0.9}      # anomaly scores: rank agreement with Keras
MAX_AUC_DROP = {"float32": 0.005, "dynamic": 0.02, "int8": 0.02}    # anomaly: AUC below Keras's by at most this


class VerificationError(EdgekitError):
    pass


def compare_outputs(kind: str, ref: np.ndarray, out: np.ndarray, y: np.ndarray,
                    horizons: list | None = None) -> dict[str, Any]:
    """Task metric of both, and their agreement (a regressor's MAE per output too, with ``horizons``)."""
    diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    d: dict[str, Any] = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
    if kind == "anomaly":
        from edgekit.edge.core.anomaly import scores
        from .compare.metrics import auc, pauc, spearman
        r, o, bad = scores(ref), scores(out), np.asarray(y).reshape(-1).astype(bool)
        d.update(spearman=spearman(r, o), reference_auc=auc(r[~bad], r[bad]), auc=auc(o[~bad], o[bad]),
                 reference_pauc=pauc(r[~bad], r[bad]), pauc=pauc(o[~bad], o[bad]))
    elif kind == "classification":
        a, b = ref.argmax(1), out.argmax(1)
        d.update(agreement=float((a == b).mean()), reference_accuracy=float((a == y).mean()),
                 accuracy=float((b == y).mean()))
    else:
        r, o, t = ref.reshape(-1), out.reshape(-1), np.asarray(y, np.float64).reshape(-1)
        d.update(reference_mae=float(np.abs(r - t).mean()), mae=float(np.abs(o - t).mean()),
                 reference_mse=float(((r - t) ** 2).mean()), mse=float(((o - t) ** 2).mean()))
        if horizons:
            r2, o2, t2 = (np.asarray(a, np.float64).reshape(len(ref), -1) for a in (ref, out, y))
            d["per_horizon"] = [{"horizon_minutes": m, "reference_mae": float(np.abs(r2[:, j] - t2[:, j]).mean()),
                                 "mae": float(np.abs(o2[:, j] - t2[:, j]).mean())} for j, m in enumerate(horizons)]
    return d


NOT_WRITTEN = "— not written (a file already there is left as it was)"


def verify_artifact(path: str | Path, precision: str, spec, x: np.ndarray, y: np.ndarray,
                    reference: np.ndarray, n_params: int, name: str | Path | None = None) -> dict[str, Any]:
    """Check the artifact at ``path`` against Keras's ``reference`` outputs; ``name`` is the path the user
    asked for (``path`` may be a temporary file that becomes it only when it passes)."""
    path = Path(path)
    shown = name if name is not None else path
    size = path.stat().st_size
    min_size = n_params * BYTES_PER_WEIGHT[precision] // 2
    if size < min_size:
        raise VerificationError(f"{shown}: suspiciously small ({size:,} bytes for {n_params:,} parameters at "
                                f"{precision}); the converter dropped the weights {NOT_WRITTEN}")
    model = Model(path)
    out = model.predict(x)
    if not np.all(np.isfinite(out)):
        raise VerificationError(f"{shown}: the converted model outputs NaN/inf on the test split {NOT_WRITTEN}")
    rep = {"artifact": str(shown), "format": model.format, "precision": precision, "size_bytes": size,
           "backend": model.backend.name, "n_test": int(len(x)),
           **compare_outputs(spec.kind, reference, out, y, (spec.target or {}).get("horizons"))}
    if spec.kind == "anomaly":
        thr = spec.anomaly["threshold"]
        rep["threshold"] = thr
        from edgekit.edge.core.anomaly import scores
        rep["flag_agreement"] = float(np.mean((scores(out) >= thr) == (scores(reference) >= thr)))
        rho, need = rep["spearman"], MIN_SPEARMAN[precision]
        if rho is None or rho < need:
            raise VerificationError(f"{shown}: its scores rank the test windows unlike Keras's (Spearman "
                                    f"{'n/a: constant scores' if rho is None else f'{rho:.3f}'}, below the {need} "
                                    f"required for {precision}) {NOT_WRITTEN}")
        if rep["auc"] is not None and rep["auc"] < rep["reference_auc"] - MAX_AUC_DROP[precision]:
            raise VerificationError(f"{shown}: AUC {rep['auc']:.4f} on the test windows, more than "
                                    f"{MAX_AUC_DROP[precision]} below Keras's {rep['reference_auc']:.4f} {NOT_WRITTEN}")
    elif spec.kind == "classification":
        need = MIN_AGREEMENT[precision]
        if rep["agreement"] < need:
            raise VerificationError(f"{shown}: top-1 agreement with Keras is {rep['agreement']:.2%}, below the "
                                    f"{need:.0%} required for {precision} {NOT_WRITTEN}")
    else:
        check_mae(rep, precision, shown)
    return rep


def check_mae(rep: dict[str, Any], precision: str, shown) -> None:
    """A regressor's test MAE, over all outputs and at every forecast horizon, at most :data:`MAX_MAE_INCREASE` above
    Keras's; sets each ``mae_increase``."""
    limit = MAX_MAE_INCREASE[precision]
    for h in [rep, *rep.get("per_horizon", ())]:              # overall, then every horizon
        h["mae_increase"] = h["mae"] / max(h["reference_mae"], 1e-12) - 1
        if h["mae_increase"] > limit:
            at = f" at +{h['horizon_minutes']:g} min" if "horizon_minutes" in h else ""
            raise VerificationError(f"{shown}: test MAE{at} {h['mae']:.5f} is {h['mae_increase']:.1%} above "
                                    f"Keras's {h['reference_mae']:.5f} (limit {limit:.0%} for {precision}) "
                                    f"{NOT_WRITTEN}")
