"""Serving latency of any law's candidate shapes, measured on this machine for a catalogue (``srlaw latency --law``,
and by ``srlaw calibrate``): the law's recipe gives the shape, its domain the depths and widths, ONNX Runtime the
time. Weights do not change latency, so no trained model is needed."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from srlaw.core.atomic import write_json_atomic
from srlaw.core.errors import SrlawError
from srlaw.core.provenance import write_manifest
from srlaw.predictor.latency import fit_latency_model

SHAPE_SETTINGS = ("backbone", "max_len", "n_heads", "dropout", "ffn_mult", "block", "activation", "init",
                  "scale_embedding", "attention_dropout", "item_embedding", "jpq")


def domain_configs(domain: dict) -> list[tuple[int, int]]:
    """Every whole depth and every power-of-two width inside the law's fitted domain."""
    lo, hi = (int(round(x)) for x in domain["n_layers"])
    w_lo, w_hi = domain["d_model"]
    widths = [int(2 ** k) for k in range(int(np.ceil(np.log2(w_lo))), int(np.floor(np.log2(w_hi))) + 1)]
    return [(n, d) for n in range(max(lo, 1), hi + 1) for d in widths]


def measure_latency(doc: dict, n_items: int, batch: int = 1, repeats: int = 30) -> dict:
    """``latency.json`` for the law document ``doc`` at a catalogue of ``n_items``: the measured configurations,
    the latency model fitted on them, and the runtime and provider that ran them."""
    from srlaw.train.onnx_export import latency_table
    from srlaw.train.settings import ModelConfig
    train = doc.get("training_protocol", {}).get("train", {})
    missing = [k for k in ("backbone", "max_len", "n_heads", "ffn_mult") if k not in train]
    if missing:
        raise SrlawError(f"the law's training_protocol.train lacks {', '.join(missing)}: its shape is unknown")
    configs = domain_configs(doc["domain"])
    n_layers, d_model = configs[0]
    shape = ModelConfig(n_items=int(n_items), n_layers=n_layers, d_model=d_model,
                        **{k: train[k] for k in SHAPE_SETTINGS if k in train}).validate("the law's recipe")
    t0 = time.perf_counter()
    rows = latency_table(configs, shape, batch=batch, repeats=repeats)
    return {"configs": rows, "model": fit_latency_model(rows, int(n_items)), "batch": batch, "seq": shape.max_len,
            "n_items": int(n_items), "item_embedding": shape.item_embedding,
            "runtime": f"onnxruntime {rows[0]['provider']}" if rows and "provider" in rows[0] else "onnxruntime",
            "machine": f"{platform.machine()} {platform.processor()}".strip(), "seconds": time.perf_counter() - t0}


def write_law_latency(folder, latency: dict, params_doc: dict) -> None:
    """Put ``latency.json`` beside a law and re-issue the folder's manifest so that it lists both files."""
    folder = Path(folder)
    write_json_atomic(folder / "latency.json", latency, allow_nan=False)
    write_manifest(folder, params_doc, only=["law.json", "latency.json"])
