"""A law in the MLflow model registry: an MLflow pyfunc model whose ``predict`` takes a table of
(n_layers, d_model[, data]) and returns, per metric, the prediction, its interval and whether the point lies in
the law's domain — the numbers :meth:`srlaw.predictor.Law.predict` gives.

The law folder (law.json, latency.json, manifest.json) is verified before it is logged and travels as the model's
artifact, so the registered model loads it the way production does (manifest checked); the manifest's sha256 is a
tag (what a config pins), the law's validation figures are metrics, and the ONNX reference model beside it, when
there is one, is logged with ``mlflow.onnx``. MLflow is an optional extra (``srlaw[mlflow]``); the numpy-only
predictor never imports it.
"""

from __future__ import annotations

from pathlib import Path

from srlaw.core.errors import SrlawError
from srlaw.predictor.config import manifest_sha256, validation_figures
from srlaw.predictor.law import Law

COLUMNS = ("n_layers", "d_model")  # required input columns; ``data`` is optional (the law's default data otherwise)


def mlflow_module():
    """MLflow, or one line saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise SrlawError("MLflow is not installed: pip install 'srlaw[mlflow]'") from None
    return mlflow


def metric_key(name: str) -> str:
    """An MLflow metric name for an srlaw one (MLflow refuses '@': ndcg@10 → ndcg_at_10)."""
    return name.replace("@", "_at_")


def predict_table(law: Law, table):
    """Per row of ``table`` (columns n_layers, d_model[, data]) and per metric: value, lower, upper, in_domain."""
    import numpy as np
    import pandas as pd
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise SrlawError(f"input table lacks column(s) {', '.join(missing)}; expected n_layers, d_model[, data]")
    N, d = (np.asarray(table[c], float) for c in COLUMNS)
    data = np.asarray(table["data"], float) if "data" in table.columns else None
    out = {"n_layers": N, "d_model": d}
    for m in law.doc["metric"]:
        p = law.predict(N, d, metric=m, data=data, warn=False)
        k = metric_key(m)
        out.update({k: np.asarray(p.value, float), f"{k}_lower": np.asarray(p.lower, float),
                    f"{k}_upper": np.asarray(p.upper, float), f"{k}_in_domain": np.asarray(p.in_domain, bool)})
    return pd.DataFrame(out)


def onnx_beside(law_dir: Path) -> Path | None:
    """The pipeline's ONNX reference model for its law (``artifacts/model/model.onnx`` beside ``artifacts/law``)."""
    path = Path(law_dir).parent / "model" / "model.onnx"
    return path if path.is_file() else None


def log_law(law_dir, artifact_path: str = "law", registered_model_name: str | None = None,
            sha256: str | None = None, onnx_path=None):
    """Log the law folder ``law_dir`` (verified, pinned to ``sha256`` when given) into the active MLflow run (one
    is started when none is) as a pyfunc model; register it as ``registered_model_name`` when given. Returns
    MLflow's ModelInfo of the law (its ``registered_model_version`` when registered)."""
    import pandas as pd
    mlflow = mlflow_module()
    law_dir = Path(law_dir)
    law = Law.load(law_dir, sha256=sha256)  # refuses a law whose files do not match its manifest
    digest = manifest_sha256(law)
    if digest is None:
        raise SrlawError(f"{law_dir}: no manifest.json; only a verified law is logged")
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema
    # sizes are integers; data is optional (the law's default data without it)
    signature = ModelSignature(inputs=Schema([ColSpec("long", "n_layers"), ColSpec("long", "d_model"),
                                              ColSpec("double", "data", required=False)]))
    example = pd.DataFrame({"n_layers": [2], "d_model": [64]})
    own = mlflow.active_run() is None
    if own:
        mlflow.start_run()
    try:
        mlflow.set_tags({"srlaw.manifest_sha256": digest, "srlaw.form": law.doc["form"],
                         "srlaw.version": law.doc.get("provenance", {}).get("srlaw_version", "?"),
                         "srlaw.default_variant": str(law.doc.get("default_variant"))})
        mlflow.log_metrics(_validation_metrics(law.doc))
        info = mlflow.pyfunc.log_model(name=artifact_path, python_model=str(Path(__file__).with_name("law_model.py")),
                                       artifacts={"law": str(law_dir.resolve())}, input_example=example,
                                       signature=signature,
                                       registered_model_name=registered_model_name)
        onnx_file = Path(onnx_path) if onnx_path else onnx_beside(law_dir)
        if onnx_file is not None:
            import onnx
            ref = mlflow.onnx.log_model(onnx.load(str(onnx_file)), name=f"{artifact_path}_onnx_reference")
            mlflow.set_tag("srlaw.onnx_model_uri", ref.model_uri)
    finally:
        if own:
            mlflow.end_run()
    return info


def _validation_metrics(doc: dict) -> dict:
    """The law's validation figures as MLflow metrics (finite numbers only)."""
    import math
    out = {}
    for m in doc["metric"]:
        for key, value in validation_figures(doc, m).items():
            rows = value.items() if isinstance(value, dict) else [("", value)]
            for sub, v in rows:
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    out[metric_key(f"{m}.{key}" + (f".{sub}" if sub else ""))] = float(v)
    return out
