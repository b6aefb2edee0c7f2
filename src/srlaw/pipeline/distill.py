"""``srlaw distill``: a small model trained from a large one (:mod:`srlaw.train.distill`), ready to serve.

The student trains exactly as its teacher did — the teacher's model settings but depth and width, its training
settings (learning rate, batch, early stopping, epoch cap), on the same prepared data — plus the distillation
losses. The folder is a run like any other (metrics.json with valid and test metrics, curve.json, run.json,
checkpoints: a killed distillation resumes) with the teacher named in ``metrics.json`` (``distillation``), and
``model.onnx`` beside it, checked against torch as the pipeline's export is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from srlaw.core.errors import SrlawError
from srlaw.core.ownership import claim
from srlaw.core.sizing import MAX_SEED
from srlaw.train.distill import DistillConfig, load_teacher

KIND = "distill"
PARITY_ROWS = 64


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def teacher_data(teacher: Path) -> Path:
    """The prepared data a teacher run trained on when it lies in the run's folder (``srlaw run``'s work/data)."""
    path = Path(teacher) / "work" / "data"
    if not (path / "stats.json").is_file():
        raise SrlawError(f"--teacher {teacher}: its prepared data is not in the run folder (work/data); give the "
                         "data it trained on: --input FILE --format FMT, or --variant NAME")
    return path


def distill_run(teacher: Path, n_layers: int, d_model: int, out: Path, how: DistillConfig, *, data=None,
                variant: str | None = None, seed: int = 0, max_minutes: float | None = None,
                max_epochs: int | None = None) -> dict:
    """Train a ``n_layers`` × ``d_model`` student of the run in ``teacher`` into ``out``; returns its metrics.

    Data: ``data`` (a :func:`srlaw.data.prepare.user_data` file, prepared into out/work/data), else the pipeline's
    prepared ``variant``, else the teacher's own prepared data. Every input is checked before ``out`` is touched.
    """
    from srlaw.grid.engine import finished
    from srlaw.train.settings import ModelConfig, TrainConfig
    t_model, t_metrics = load_teacher(teacher)
    if not 0 <= seed <= MAX_SEED:
        raise SrlawError(f"--seed {seed}: expected an integer in [0, {MAX_SEED}]")
    how = how.check(n_layers, t_model.cfg.n_layers)
    settings = {**t_model.cfg.to_dict(), "n_layers": n_layers, "d_model": d_model}
    model_cfg = ModelConfig.from_saved(settings).validate("--n-layers/--d-model", "the command line")
    train_cfg = TrainConfig(**{**t_metrics["train_config"], "seed": seed, "max_minutes": max_minutes,
                               "progress_bar": None, **({"max_epochs": max_epochs} if max_epochs else {})})
    train_cfg.validate()
    if variant is not None:
        from srlaw.pipeline.paths import PREPARED_DIR
        data_dir = PREPARED_DIR / variant
        if not (data_dir / "stats.json").is_file():
            raise SrlawError(f"--variant {variant}: {data_dir} holds no prepared data (dvc repro prepares it)")
    elif data is None:
        data_dir = teacher_data(teacher)
    out = Path(out)
    with claim(out, KIND) as held:
        if data is not None:
            from srlaw.data.prepare import prepare_input
            data_dir = out / "work" / "data"
            prepare_input(data, data_dir, held)
        stats = json.loads((data_dir / "stats.json").read_text())
        if stats["content_hash"] != t_metrics.get("data_content_hash"):
            raise SrlawError(f"--teacher {teacher}: trained on other data (hash "
                             f"{str(t_metrics.get('data_content_hash'))[:12]}, this data {stats['content_hash'][:12]}); "
                             "a student learns from a teacher of the same prepared data")
        held.bind(stats["content_hash"])
        record = {"teacher": str(Path(teacher).resolve()), "teacher_n_layers": t_model.cfg.n_layers,
                  "teacher_d_model": t_model.cfg.d_model, "teacher_test": t_metrics["test"],
                  "teacher_params_non_embedding": t_metrics.get("params_non_embedding"), **how.to_dict()}
        held.hold("configuration", {"n_layers": n_layers, "d_model": d_model, "seed": seed, **record})
        done = finished(out)
        if done is None:
            say(f"distilling {n_layers} × {d_model} from the {t_model.cfg.n_layers} × {t_model.cfg.d_model} teacher "
                f"(alpha {how.alpha}, T {how.temperature}, beta {how.beta}, layers {list(how.layers_map)}) on "
                f"{stats['n_users']:,} users, {stats['n_items']:,} items")
            done = _train(data_dir, out, model_cfg, train_cfg, teacher, how, record)
        else:
            say(f"{out}/metrics.json: already trained")
        if not (out / "model.onnx").is_file():
            _export(out, data_dir, seed)
        return done


def _train(data_dir: Path, out: Path, model_cfg, train_cfg, teacher: Path, how: DistillConfig, record: dict) -> dict:
    from srlaw.core.atomic import write_json_atomic
    from srlaw.train.distill import DistillModule
    from srlaw.train.trainer import train_run
    m = train_run(data_dir, out, model_cfg, train_cfg, meta={"recipe": "distilled", "seed": train_cfg.seed,
                                                            "distillation": record},
                  module_factory=DistillModule.factory(teacher, how))
    # the user's record, as srlaw run writes it: what the run found and what it cost
    doc = {**json.loads((out / "metrics.json").read_text()), "train_seconds": m["train_seconds"],
           "device": m["device"]}
    write_json_atomic(out / "metrics.json", doc)
    return doc


def _export(out: Path, data_dir: Path, seed: int) -> None:
    """The student as ONNX (the serving contract of :class:`srlaw.train.models.LastPositionScorer`), written only
    when ONNX Runtime agrees with torch on real test histories, as the pipeline's export is."""
    from srlaw.data.dataset import load_dataset
    from srlaw.pipeline.export_stage import export_checked
    from srlaw.train.onnx_export import load_checkpoint_model
    model = load_checkpoint_model(out / "checkpoints" / "best.ckpt")
    check = export_checked(model, load_dataset(data_dir), out / "model.onnx", PARITY_ROWS, seed)
    say(f"{out}/model.onnx: ONNX Runtime agrees with torch (max |diff| {check['max_abs_diff']:.1e})")
