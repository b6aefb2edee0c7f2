"""DVC stage ``latency``: ONNX Runtime latency of every grid configuration, and the latency model fitted on it.

Latency depends on the model's shape and the catalogue, not on trained weights, so this stage needs no training
run: it follows the prepared data and the shape parameters only. DVC therefore reruns it when the shape, the grid,
the catalogue or the export code changes — not on every retrain — and the measured (hence run-to-run noisy)
``latency.json`` stays as committed when the pipeline is reproduced unchanged. The fit stage reads it for the
report's latency frontier; the predictor reads it to answer latency budgets.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

from srlaw.core.atomic import write_json_atomic
from srlaw.pipeline.params import Params
from srlaw.data.dataset import read_stats
from srlaw.predictor.latency import fit_latency_model
from srlaw.pipeline.paths import LATENCY_PATH, PREPARED_DIR



def run_latency_stage(params: Params, out: Path = LATENCY_PATH) -> dict:
    from srlaw.train.onnx_export import latency_table

    export = params.export
    n_items = int(read_stats(PREPARED_DIR / export.variant)["n_items"])
    n_layers, d_model = params.grid.points()[0]
    shape = params.train.model_config(n_items, n_layers, d_model, "train", params.path)
    t0 = time.perf_counter()
    rows = latency_table(params.grid.points(), shape, batch=export.latency_batch, repeats=export.latency_repeats)
    doc = {"configs": rows, "model": fit_latency_model(rows, n_items), "batch": export.latency_batch,
           "seq": shape.max_len, "n_items": n_items, "item_embedding": shape.item_embedding,
           "runtime": f"onnxruntime {rows[0]['provider']}",  # the provider that ran, not the one asked for
           "machine": f"{platform.machine()} {platform.processor()}".strip(), "seconds": time.perf_counter() - t0}
    write_json_atomic(out, doc)
    return doc
