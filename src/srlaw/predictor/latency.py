"""Batch-1 serving latency of a candidate configuration: measured where the latency stage timed it, else a linear
model.

The model, ms ≈ a + b·(non-embedding params) + c·(d_model · n_items) (the blocks, then the output layer), is fitted
once by the pipeline's ``latency`` stage (:func:`fit_latency_model`) and stored in ``latency.json`` beside the measurements it came from; the
predictor only evaluates it.
"""

from __future__ import annotations

import numpy as np

from srlaw.core.errors import LawFileError
from srlaw.predictor.artifact import finite

FEATURES = ("intercept", "params_non_embedding", "d_model_x_n_items")




def _design(non_embedding, d_model, n_items):
    non_embedding, d_model = np.asarray(non_embedding, float), np.asarray(d_model, float)
    return np.stack(np.broadcast_arrays(np.ones_like(d_model), non_embedding, d_model * n_items), axis=-1)


def fit_latency_model(rows: list[dict], n_items: int) -> dict:
    """Least-squares coefficients over the measured rows (``latency.json``'s ``model``); needs 3 rows."""
    if len(rows) < len(FEATURES):
        raise ValueError(f"a latency model needs >= {len(FEATURES)} measured configurations, got {len(rows)}")
    X = _design([r["params_non_embedding"] for r in rows], [r["d_model"] for r in rows], n_items)
    coef, *_ = np.linalg.lstsq(X, np.array([r["latency_ms"] for r in rows], float), rcond=None)
    return {"features": list(FEATURES), "coef": [float(c) for c in coef], "n_items": int(n_items)}


class LatencyModel:
    """Measured latencies of the exported grid plus the stored linear model for everything else."""

    def __init__(self, latency_doc: dict, source: str = "latency.json"):
        model = latency_doc.get("model") if isinstance(latency_doc, dict) else None
        if not isinstance(model, dict) or model.get("features") != list(FEATURES):
            raise LawFileError(f"{source}: no fitted latency model (features {list(FEATURES)}); re-run `srlaw latency`")
        coef, n_items, rows = model.get("coef"), model.get("n_items"), latency_doc.get("configs", [])
        if not (isinstance(coef, list) and len(coef) == len(FEATURES) and all(finite(c) for c in coef)):
            raise LawFileError(f"{source}: field model.coef = {coef!r:.60}: expected {len(FEATURES)} finite numbers")
        if not (isinstance(n_items, int) and not isinstance(n_items, bool) and n_items >= 0):
            raise LawFileError(f"{source}: field model.n_items = {n_items!r}: expected an integer >= 0")
        if not (isinstance(rows, list) and all(isinstance(r, dict) and all(
                finite(r.get(k)) and r.get(k) >= 0 for k in ("n_layers", "d_model", "latency_ms")) for r in rows)):
            raise LawFileError(f"{source}: field configs: expected rows of finite n_layers, d_model, latency_ms >= 0")
        self.coef = np.asarray(coef, float)
        self.n_items = n_items
        keys = np.array([r["n_layers"] * 1e6 + r["d_model"] for r in rows])
        order = np.argsort(keys)
        self._keys, self._measured = keys[order], np.array([r["latency_ms"] for r in rows], float)[order]

    @classmethod
    def of(cls, latency_doc: dict | None, source: str = "latency.json") -> "LatencyModel | None":
        return None if latency_doc is None else cls(latency_doc, source)

    def knows(self, n_items: int | None) -> bool:
        """Whether latencies for a catalogue of ``n_items`` can be told: the model saw one catalogue size only, so
        its output-layer term cannot be separated from width, and another catalogue is unknown territory."""
        return n_items is None or n_items == self.n_items

    def __call__(self, n_layers, d_model, non_embedding, n_items: int | None = None):
        """(ms, measured?) per candidate; NaN for a catalogue the model was not measured on."""
        if not self.knows(n_items):
            nan = np.full(np.broadcast_shapes(np.shape(n_layers), np.shape(d_model)), np.nan)
            return nan, np.zeros(nan.shape, bool)
        est = _design(non_embedding, d_model, self.n_items) @ self.coef
        if not len(self._keys):
            return est, np.zeros(np.shape(est), bool)
        key = np.asarray(n_layers, float) * 1e6 + np.asarray(d_model, float)
        pos = np.clip(np.searchsorted(self._keys, key), 0, len(self._keys) - 1)
        measured = self._keys[pos] == key
        return np.where(measured, self._measured[pos], est), measured
