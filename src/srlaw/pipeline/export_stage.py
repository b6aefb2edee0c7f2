"""DVC stage ``export``: the ONNX reference model, the artifact manifests and the pipeline's metrics file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from srlaw.core.atomic import write_json_atomic
from srlaw.pipeline.params import Params
from srlaw.data.dataset import SequenceDataset, load_dataset
from srlaw.core.errors import DataError, ExportError
from srlaw.library.index import LIBRARY_INDEX
from srlaw.data.protocol import history_and_target, left_pad, training_part
from srlaw.core.provenance import write_manifest, provenance_record, sha256_file
from srlaw.pipeline.paths import ARTIFACTS, PREPARED_DIR, RUNS_DIR, run_name

LIBRARY_FOLDER = LIBRARY_INDEX.parent.name  # artifacts/laws/: the law library's release, with its own producer


def _run_metrics(runs_dir: Path, name: str) -> dict:
    path = runs_dir / name / "metrics.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; run the train stage for this grid point")
    return {"run": name, **json.loads(path.read_text())}


def choose_reference(params: Params, runs_dir: Path = RUNS_DIR) -> dict:
    """The grid point to export: the best validation NDCG@10 on ``export.variant``, or the one params names."""
    variant, ref = params.export.variant, params.export.reference
    if isinstance(ref, dict):
        return _run_metrics(runs_dir, run_name(variant, ref["n_layers"], ref["d_model"]))
    runs = [_run_metrics(runs_dir, run_name(variant, n, d)) for n, d in params.grid.points()]
    return max(runs, key=lambda m: m["valid"]["ndcg@10"])  # the first of equals, in grid order


def training_popularity(ds: SequenceDataset) -> np.ndarray:
    """Share of each item among the training interactions: the scores of a row that holds no item."""
    train = np.concatenate([training_part(ds.sequence(u)) for u in range(ds.n_users)])
    counts = np.bincount(train, minlength=ds.n_items + 1).astype(np.float32)
    counts[0] = 0.0
    return counts / max(counts.sum(), 1.0)


def parity_inputs(ds: SequenceDataset, max_len: int, rows: int, seed: int) -> np.ndarray:
    """Left-padded test inputs of ``rows`` users (varied lengths, as served)."""
    users = np.random.default_rng(seed).choice(ds.n_users, min(rows, ds.n_users), replace=False)
    return left_pad([history_and_target(ds.sequence(u), "test")[0] for u in users], max_len)


def export_checked(model, ds: SequenceDataset, path: Path, rows: int, seed: int) -> dict:
    """Write ``model`` to ``path`` as ONNX (rows with no item score by ``ds``'s training popularity) only when ONNX
    Runtime agrees with torch on ``rows`` of ``ds``'s test histories; returns the parity check, else ExportError
    and nothing at ``path``."""
    from srlaw.train.onnx_export import export_onnx, ort_session, parity
    fallback = training_popularity(ds)
    tmp = export_onnx(model, path.with_name(path.name + ".partial"), fallback)
    check = parity(model, ort_session(str(tmp)), parity_inputs(ds, model.cfg.max_len, rows, seed), fallback)
    if check["max_abs_diff"] > 1e-4 or not check["top10_identical"]:
        tmp.unlink()
        raise ExportError(f"{path}: ONNX Runtime disagrees with torch ({check}); not shipping it")
    tmp.replace(path)
    return check


def run_export_stage(params: Params, out: Path = ARTIFACTS, runs_dir: Path = RUNS_DIR) -> dict:
    from srlaw.train.onnx_export import load_checkpoint_model

    ref = choose_reference(params, runs_dir)
    model = load_checkpoint_model(runs_dir / ref["run"] / "checkpoints" / "best.ckpt")
    model_dir = out / "model"
    variant, export = params.export.variant, params.export
    data_dir = PREPARED_DIR / variant
    check = export_checked(model, load_dataset(data_dir), model_dir / "model.onnx", export.parity_rows, params.seed)
    stats = json.loads((data_dir / "stats.json").read_text())
    model_json = {
        "input": {"name": "item_ids", "dtype": "int64", "shape": ["batch", "seq"], "max_seq": model.cfg.max_len,
                  "padding": "left, with item id 0; the newest item is the last column",
                  "ids": "canonical ids 1..n_items; item_map.npy maps canonical id -> raw item id (index 0 = padding)",
                  "unknown_ids": "an id outside [0, n_items] is treated as padding",
                  "longer_than_max_seq": "scored on the last max_seq items",
                  "no_item": "a row with no item left (empty, all padding, only unknown ids) scores by the "
                             "training split's item popularity"},
        "output": {"name": "scores", "dtype": "float32", "shape": ["batch", model.cfg.n_items + 1],
                   "meaning": "scores over all items at the last position; column 0 (padding) is -inf"},
        "config": model.cfg.to_dict(), "max_len": model.cfg.max_len, "n_items": model.cfg.n_items,
        "run": ref["run"], "variant": variant, "data_content_hash": stats["content_hash"],
        "item_map_sha256": sha256_file(data_dir / "item_map.npy"),
        "params_non_embedding": ref["params_non_embedding"], "params_total": ref["params_total"],
        "metrics": {"valid": ref["valid"], "test": ref["test"]}, "parity": check,
        "opset": 17, "provenance": provenance_record(params.to_dict()),
    }
    shutil.copyfile(data_dir / "item_map.npy", model_dir / "item_map.npy")
    write_json_atomic(model_dir / "model.json", model_json)

    write_manifest(out / "law", params.to_dict())  # the law's own manifest: what Law.load verifies (and a config pins)
    write_json_atomic(out / "metrics.json", pipeline_metrics(json.loads((out / "law" / "law.json").read_text()), ref),
                      allow_nan=False)
    # artifacts/laws/ is the law library's release (make library), not this stage's output: pinning its index here
    # would leave a stale hash whenever the library is released again without a new model
    own = [p.relative_to(out).as_posix() for p in sorted(out.rglob("*"))
           if p.is_file() and p.relative_to(out).parts[0] != LIBRARY_FOLDER]
    return write_manifest(out, params.to_dict(), only=own)


def pipeline_metrics(law: dict, ref: dict) -> dict:
    """The few numbers that compare two experiments: the law's held-out error, interval coverage and worst
    ``advise`` regret, and the reference model's quality."""
    se = law["validation"]["scale_extrapolation"]
    return {"law": {"form": law["form"],
                    **{f"heldout_mape_{m}": se[m].get("mape") for m in law["metric"]},
                    **{f"heldout_max_abs_error_{m}": se[m].get("max_abs_error") for m in law["metric"]},
                    **{f"heldout_coverage95_{m}": se[m].get("coverage95", {}).get("coverage") for m in law["metric"]},
                    **{f"heldout_max_regret_{m}": se[m].get("regret", {}).get("max") for m in law["metric"]}},
            "reference_model": {"run": ref["run"], "params_total": ref["params_total"],
                                **{f"{split}_{m}": ref[split][m] for split in ("valid", "test")
                                   for m in ("hr@10", "ndcg@10")}}}
