"""DVC stage ``train``: one grid point (variant × n_layers × d_model) from params.yaml, resumable."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

from srlaw.core.atomic import write_json_atomic
from srlaw.pipeline.params import Params
from srlaw.data.dataset import read_stats
from srlaw.pipeline.paths import PREPARED_DIR, RUNS_DIR, run_name



def code_hash() -> str:
    """sha256 of the modules that define a run: a checkpoint made by other code is never resumed."""
    from srlaw.data import protocol
    from srlaw.train import models, recjpq, settings, trainer
    h = hashlib.sha256()
    for mod in (settings, models, protocol, recjpq, trainer):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()


def train_grid_point(params: Params, variant: str, n_layers: int, d_model: int, run_dir: Path | None = None) -> dict:
    """Train one configuration; resume its last checkpoint only if it was made by the same configuration."""
    params.variant(variant)
    data_dir = PREPARED_DIR / variant
    stats = read_stats(data_dir)
    # every check happens here, before a checkpoint is touched
    model_cfg = params.train.model_config(stats["n_items"], n_layers, d_model, "train", params.path)
    train_cfg = params.train.train

    from srlaw.train.trainer import train_run

    run_dir = run_dir or RUNS_DIR / run_name(variant, n_layers, d_model)
    fingerprint = {"model": model_cfg.to_dict(), "train": asdict(train_cfg), "data": stats["content_hash"],
                   "code": code_hash()}
    stamp = run_dir / "checkpoints" / "config.json"
    # Resume only a killed attempt of this very configuration. A finished run that runs again was asked to
    # (dvc repro -f, or its outputs went missing): restoring its final state would train nothing and log no
    # curves, so it starts over; with fixed seeds that reproduces it.
    if stamp.is_file() and json.loads(stamp.read_text()) != {**fingerprint, "finished": False}:
        shutil.rmtree(run_dir / "checkpoints")
    write_json_atomic(stamp, {**fingerprint, "finished": False})
    metrics = train_run(data_dir, run_dir, model_cfg, train_cfg, meta={"variant": variant, "seed": train_cfg.seed})
    write_json_atomic(stamp, {**fingerprint, "finished": True})
    return metrics
