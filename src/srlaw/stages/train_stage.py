"""DVC stage ``train``: one grid point (variant × n_layers × d_model) from params.yaml, resumable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from srlaw.atomic_write import write_json_atomic
from srlaw.pipeline_params import ParamsError, field
from srlaw.stages.data_stages import PREPARED_DIR

RUNS_DIR = Path("runs")
MODEL_KEYS = ("backbone", "max_len", "n_heads", "dropout", "ffn_mult")
TRAIN_KEYS = ("batch_size", "lr", "weight_decay", "max_epochs", "patience", "loss", "n_negatives",
              "eval_batch_size", "precision", "accelerator", "devices", "strategy", "num_nodes", "deterministic",
              "num_workers", "max_minutes")


def run_name(variant: str, n_layers: int, d_model: int) -> str:
    return f"{variant}-{n_layers}-{d_model}"


def configs_from_params(params: dict, n_layers: int, d_model: int, n_items: int):
    """(ModelConfig, TrainConfig) for one grid point; unknown keys under ``train`` are refused by name."""
    from srlaw.models import ModelConfig
    from srlaw.training import TrainConfig

    train = dict(field(params, "train"))
    unknown = set(train) - set(MODEL_KEYS) - set(TRAIN_KEYS)
    if unknown:
        raise ParamsError(f"{params['_path']}: unknown keys under 'train': {sorted(unknown)}")
    model_cfg = ModelConfig(n_items=n_items, n_layers=int(n_layers), d_model=int(d_model),
                            **{k: train[k] for k in MODEL_KEYS if k in train})
    train_cfg = TrainConfig(seed=int(field(params, "seed")), progress_bar=None,
                            **{k: train[k] for k in TRAIN_KEYS if k in train})
    try:
        model_cfg.validate()
        train_cfg.validate()
    except ValueError as e:
        raise ParamsError(f"{params['_path']}: train: {e}") from None
    return model_cfg, train_cfg


def code_hash() -> str:
    """sha256 of the modules that define a run: a checkpoint made by other code is never resumed."""
    import hashlib
    from srlaw import evaluation, models, training
    h = hashlib.sha256()
    for mod in (models, training, evaluation):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()


def train_grid_point(params: dict, variant: str, n_layers: int, d_model: int, run_dir: Path | None = None) -> dict:
    """Train one configuration; resume its last checkpoint only if it was made by the same configuration."""
    from dataclasses import asdict

    from srlaw.dataset import read_stats
    from srlaw.training import train_run

    data_dir = PREPARED_DIR / variant
    stats = read_stats(data_dir)
    model_cfg, train_cfg = configs_from_params(params, n_layers, d_model, stats["n_items"])
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
