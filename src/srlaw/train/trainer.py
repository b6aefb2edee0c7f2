"""Training SR transformers with Lightning: data module, LightningModule, and one run end to end.

``train_run(dataset_dir, run_dir, cfg)`` is the unit the DVC ``train`` stage repeats over its grid: it trains with
early stopping on validation NDCG@10, resumes from ``run_dir/checkpoints/last.ckpt`` if a previous attempt was
killed, evaluates the best checkpoint with full ranking on validation and test, and writes ``metrics.json`` (what
the run found; deterministic) and ``run.json`` (times, machine, commit) atomically, so a killed run never leaves
half-written metrics.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from srlaw import __version__
from srlaw.core.atomic import write_json_atomic
from srlaw.train.settings import ModelConfig, TrainConfig
from srlaw.data.dataset import SequenceDataset, load_dataset, read_stats
from srlaw.core.errors import DataError, ParamsError
from srlaw.train.losses import sequence_loss
from srlaw.train.models import SequentialRecommender
from srlaw.core.provenance import git_commit, package_versions
from srlaw.train.recjpq import ASSIGNMENT_VERSION, assign_codes
from srlaw.data.protocol import (SPLITS, filter_seen_, history_and_target, left_pad, metric_names,
                            ranking_metric_sums, target_ranks, training_part)

METRICS = metric_names()


# ---------------------------------------------------------------- data

class _TrainSequences(Dataset):
    def __init__(self, inputs: np.ndarray, targets: np.ndarray):
        self.inputs, self.targets = torch.from_numpy(inputs), torch.from_numpy(targets)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, i):
        return self.inputs[i], self.targets[i]


class _EvalUsers(Dataset):
    """One user per item: (input history, target) of ``split``."""

    def __init__(self, ds: SequenceDataset, split: str):
        self.ds, self.split = ds, split

    def __len__(self):
        return self.ds.n_users

    def __getitem__(self, u):
        return history_and_target(self.ds.sequence(u), self.split)


def _eval_collate(max_len):
    def collate(batch):
        hists, targets = zip(*batch)
        longest = max(len(h) for h in hists)
        return (torch.from_numpy(left_pad(hists, max_len)), torch.tensor(targets),
                torch.from_numpy(left_pad(hists, longest)))
    return collate


class _Shard(DistributedSampler):
    """Every ``world_size``-th user from ``rank``, without the padding DistributedSampler adds: metric sums over
    processes then count each user exactly once."""

    def __iter__(self):
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self):
        return len(range(self.rank, len(self.dataset), self.num_replicas))


class SequenceDataModule(L.LightningDataModule):
    """Owns the leave-one-out split of one canonical dataset: training windows, validation and test users."""

    def __init__(self, dataset_dir: str, max_len: int, batch_size: int, eval_batch_size: int, seed: int,
                 num_workers: int = 0):
        super().__init__()
        self.dataset_dir, self.max_len = str(dataset_dir), max_len
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.seed, self.num_workers = seed, num_workers
        # one generator for every epoch's shuffle; its state travels in checkpoints (state_dict), so a resumed run
        # shuffles its remaining epochs exactly as the uninterrupted run would
        self.train_generator = torch.Generator().manual_seed(seed)
        self.ds = load_dataset(dataset_dir)
        if self.ds.n_users == 0:
            raise DataError(f"{dataset_dir}: the variant has no users")
        seqs = [training_part(self.ds.sequence(u)) for u in range(self.ds.n_users)]
        seqs = [s for s in seqs if len(s) >= 2]  # one training pair needs two training items
        if not seqs:
            raise DataError(f"{dataset_dir}: no user has a training pair (every user is shorter than 4 items)")
        self.train_sequences = seqs  # whole training parts: what RecJPQ's code assignment may see
        self.train_inputs = left_pad([s[:-1] for s in seqs], max_len)
        self.train_targets = left_pad([s[1:] for s in seqs], max_len)

    @property
    def n_items(self) -> int:
        return self.ds.n_items

    def train_dataloader(self):
        return DataLoader(_TrainSequences(self.train_inputs, self.train_targets), batch_size=self.batch_size,
                          shuffle=True, generator=self.train_generator, num_workers=self.num_workers, drop_last=False)

    def state_dict(self) -> dict:
        return {"train_generator": self.train_generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.train_generator.set_state(state["train_generator"])

    def eval_dataloader(self, split: str):
        users = _EvalUsers(self.ds, split)
        world = self.trainer.world_size if self.trainer is not None else 1
        sampler = _Shard(users, num_replicas=world, rank=self.trainer.global_rank, shuffle=False) if world > 1 else None
        return DataLoader(users, batch_size=self.eval_batch_size, shuffle=False, sampler=sampler,
                          collate_fn=_eval_collate(self.max_len), num_workers=self.num_workers)

    def val_dataloader(self):
        return self.eval_dataloader("valid")

    def test_dataloader(self):
        """Both held-out splits: ``trainer.test`` reports the chosen checkpoint on validation and test users."""
        return [self.eval_dataloader(split) for split in SPLITS]


# ---------------------------------------------------------------- model

def lr_factor(warmup_steps: int, schedule: str = "constant"):
    """The learning-rate factor after ``step`` optimiser steps: linear from 1/warmup_steps to 1, then 1
    (``constant``) or √(warmup_steps / steps) (``inverse_sqrt``, Vaswani et al. 2017: no horizon to choose, which
    early stopping does not give)."""
    if schedule == "inverse_sqrt":
        return lambda step: min((step + 1) / warmup_steps, math.sqrt(warmup_steps / (step + 1)))
    return lambda step: min(1.0, (step + 1) / warmup_steps)


class SeqRecModule(L.LightningModule):
    """Trains a :class:`SequentialRecommender`; validates and tests with full ranking (:mod:`srlaw.data.protocol`).

    ``results_[split]`` holds the exact float64 means of every metric of the last validation or test epoch.
    """

    def __init__(self, model_config: dict, lr: float = 1e-3, weight_decay: float = 0.0, loss: str = "full",
                 n_negatives: int = 256, warmup_epochs: float = 0.0, lr_schedule: str = "constant"):
        super().__init__()
        self.save_hyperparameters()  # plain dicts and numbers only: load_from_checkpoint stays weights_only-safe
        self.model = SequentialRecommender(ModelConfig.from_saved(model_config))
        self._sums: dict[str, list[torch.Tensor]] = {split: [] for split in SPLITS}
        self.results_: dict[str, dict[str, float]] = {}

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = sequence_loss(self.model, inputs, targets, self.hparams.loss, self.hparams.n_negatives)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(inputs))
        return loss

    def _eval_step(self, batch, split: str) -> None:
        inputs, targets, history = batch
        scores = self.model.score_last(inputs).float()
        # the held-out loss: full-catalogue cross-entropy of the target, unfiltered, padding column left out as in
        # training (``sequence_loss``); the smooth quantity a loss law (srlaw.law.two_stage) is fitted on
        row = torch.arange(len(targets), device=scores.device)
        ce = (torch.logsumexp(scores[:, 1:], dim=1) - scores[row, targets]).double().sum()
        ranks = target_ranks(filter_seen_(scores, history), targets)
        sums = ranking_metric_sums(ranks)
        self._sums[split].append(torch.cat([torch.tensor([*(sums[k] for k in METRICS), float(len(targets))],
                                                         dtype=torch.float64, device=self.device), ce[None]]))

    def _eval_epoch_end(self, split: str) -> dict[str, float]:
        total = torch.stack(self._sums[split]).sum(0)
        self._sums[split].clear()
        total = self.trainer.strategy.reduce(total, reduce_op="sum")  # exact: each user is in one shard
        means = (total / total[len(METRICS)]).tolist()
        self.results_[split] = {**dict(zip(METRICS, means)), "loss": means[len(METRICS) + 1]}
        return self.results_[split]

    def validation_step(self, batch, batch_idx):
        # full precision as in testing: bf16 scores tie among thousands of items, and ranks count ties against
        # the target, so the curve (and the epoch early stopping keeps) would be judged on a coarser model
        with torch.autocast(self.device.type, enabled=False), matmul_precision("highest"):
            self._eval_step(batch, "valid")

    def on_validation_epoch_end(self):
        m = self._eval_epoch_end("valid")
        self.log("val/ndcg@10", m["ndcg@10"], prog_bar=True, sync_dist=False)
        self.log("val/hr@10", m["hr@10"], sync_dist=False)
        self.log("val/loss", m["loss"], sync_dist=False)

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        with torch.autocast(self.device.type, enabled=False), matmul_precision("highest"):
            self._eval_step(batch, SPLITS[dataloader_idx])

    def on_test_epoch_end(self):
        # kept on the module, not logged: the per-epoch logger is already finalised when testing runs
        for split in SPLITS:
            self._eval_epoch_end(split)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        decay = self.hparams.lr_schedule
        if not self.hparams.warmup_epochs and decay == "constant":
            return opt
        steps = self.trainer.estimated_stepping_batches / max(self.trainer.max_epochs, 1)  # per epoch, per process
        warmup = max(1, round(self.hparams.warmup_epochs * steps))
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(warmup, decay))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # The global RNG (dropout) travels in checkpoints: a run killed and resumed from last.ckpt continues with the
    # random stream the uninterrupted run had at that checkpoint, so both end with the same metrics.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rng_states"] = {"torch": torch.get_rng_state(),
                                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        states = checkpoint.get("rng_states")
        if states is None:  # a checkpoint from before the states were saved
            return
        torch.set_rng_state(states["torch"])
        if states["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])


# ---------------------------------------------------------------- one run

class EtaLine(L.Callback):
    """After each epoch, the minutes left in this run and in the whole job, as an estimate: ``expected`` epochs
    for this run (e.g. the library's median at its size), ``later`` more epochs' worth of work after it (other runs,
    in this run's epochs), at the seconds per epoch measured here. On a terminal a progress bar over the run's
    expected epochs (below Lightning's bar of the epoch's steps); in a log, one line per epoch."""

    def __init__(self, expected: float, later: float = 0.0, bar: bool | None = None, file=None):
        self.expected, self.later, self.seconds, self._t0 = float(expected), float(later), [], None
        self.file = file
        self.bar = (self.out.isatty() if hasattr(self.out, "isatty") else False) if bar is None else bar
        self._bar = None

    @property
    def out(self):
        return self.file or sys.stderr

    def on_train_epoch_start(self, trainer, module):
        self._t0 = time.monotonic()

    def on_train_epoch_end(self, trainer, module):
        if self._t0 is None or not trainer.is_global_zero:
            return
        self.seconds.append(time.monotonic() - self._t0)
        per = float(np.mean(self.seconds[-5:]))
        done = trainer.current_epoch + 1
        left = max(self.expected - done, 1.0) * per
        in_all = f"≈ {(left + self.later * per) / 60:.1f} min in all"
        if not self.bar:
            print(f"    ≈ {left / 60:.1f} min left in this run, {in_all} (estimate: {self.expected:.0f} epochs "
                  f"expected, {per:.1f} s an epoch here)", file=self.out, flush=True)
            return
        from tqdm import tqdm
        if self._bar is None:  # the run's bar: expected epochs, its ETA at this machine's measured epoch time
            self._bar = tqdm(total=round(self.expected), initial=done - 1, unit="epoch", desc="this run",
                             file=self.out, position=2, leave=True, dynamic_ncols=True)
        self._bar.total = max(self._bar.total, done + 1)  # early stopping decides; the bar never claims 100 % early
        self._bar.update(done - self._bar.n)
        self._bar.set_postfix_str(f"{in_all} (estimate)")

    def on_train_end(self, trainer, module):
        if self._bar is not None:
            self._bar.total = self._bar.n
            self._bar.refresh()
            self._bar.close()


class EpochLine(L.Callback):
    """One line per epoch on stderr (for logs, where a progress bar is noise). The best so far travels in
    checkpoints, so a resumed run's lines name the run's best, not just the best since the resume."""

    def __init__(self, max_epochs: int):
        self.max_epochs, self.best, self.best_epoch = max_epochs, -math.inf, None

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best, self.best_epoch = state_dict["best"], state_dict["best_epoch"]

    def on_train_epoch_end(self, trainer, module):
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        loss, ndcg = m.get("train/loss"), m.get("val/ndcg@10")
        if ndcg is not None and float(ndcg) > self.best:
            self.best, self.best_epoch = float(ndcg), trainer.current_epoch + 1
        parts = [f"epoch {trainer.current_epoch + 1}/{self.max_epochs}"]
        if loss is not None:
            parts.append(f"train loss {float(loss):.4f}")
        if ndcg is not None:
            parts.append(f"valid ndcg@10 {float(ndcg):.4f} (best {self.best:.4f} at epoch {self.best_epoch})")
        print(", ".join(parts), file=sys.stderr, flush=True)


class CurveRecorder(L.Callback):
    """The run's learning curve, one row per epoch, in ``run_dir/curve.json`` (rewritten atomically each epoch).

    A row: ``epoch`` (1-based), ``seconds`` (wall, training and validation), ``train_loss``, ``lr`` at the epoch's
    end, and ``valid`` (every validation metric and the full-catalogue ``loss``; absent on an epoch without
    validation). A resumed run keeps the killed attempt's rows up to its checkpoint, so the file always holds one
    curve. Written without DVCLive, so a machine without it (a GPU image) still records the curve.
    """

    def __init__(self, run_dir):
        self.path = Path(run_dir) / "curve.json"
        self.rows: list[dict] = []
        self.seconds: list[float] = []  # this attempt's epochs only
        self.kept_seconds = 0.0  # what the kept rows took: a resumed run's training time counts them too
        self._t0 = None

    def on_train_start(self, trainer, module):
        start = int(trainer.current_epoch)  # epochs already done by a killed attempt (0 for a fresh run)
        old = json.loads(self.path.read_text())["rows"] if start and self.path.is_file() else []
        self.rows = [r for r in old if r["epoch"] <= start]
        self.kept_seconds = float(sum(r["seconds"] for r in self.rows))

    def on_train_epoch_start(self, trainer, module):
        self._t0 = time.perf_counter()
        module.results_.pop("valid", None)  # so an epoch without validation records none

    def on_train_epoch_end(self, trainer, module):
        if self._t0 is None or trainer.sanity_checking:
            return
        self.seconds.append(time.perf_counter() - self._t0)
        if not trainer.is_global_zero:
            return
        loss = trainer.callback_metrics.get("train/loss")
        row = {"epoch": int(trainer.current_epoch) + 1, "seconds": self.seconds[-1],
               "train_loss": None if loss is None else float(loss),
               "lr": float(trainer.optimizers[0].param_groups[0]["lr"])}
        if "valid" in module.results_:
            row["valid"] = dict(module.results_["valid"])
        self.rows.append(row)
        write_json_atomic(self.path, {"rows": self.rows})


@contextlib.contextmanager
def _quiet_lightning():
    """Lightning's banners (accelerator availability, tips) and warnings that say nothing about this run, off."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # the checkpoint folder holds this run's config stamp (and a killed attempt's last.ckpt) by design
        warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # Lightning's own use of a deprecated torch API
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def stopped_by(early_stopped_epoch: int, epochs: int, max_epochs: int) -> str:
    """Why fitting ended: ``early_stopping``, ``epoch_cap`` (the model may not have converged) or ``time_cap``."""
    if early_stopped_epoch > 0:
        return "early_stopping"
    return "epoch_cap" if epochs >= max_epochs else "time_cap"


def _has_tf32(accelerator: str) -> bool:
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() \
        and torch.cuda.get_device_capability() >= (8, 0)


def resolve_precision(precision: str, accelerator: str = "auto") -> str:
    """The precision a run trains in. ``auto``: ``tf32`` when it trains on a CUDA GPU that has TF32 (Ampere or
    newer), else ``32-true``. On an H100 bf16 autocast cost 12-26 % more per step than fp32 at three of four grid
    sizes and saved 12 % at the fourth, while TF32 matmuls were never slower (within 2 %) and saved 24 % at ML-1M
    4 x 256 (benchmarks/results/gpu_precision)."""
    if precision == "tf32" and not _has_tf32(accelerator):
        raise ParamsError(f"train.precision = 'tf32': needs a CUDA GPU with TF32 (Ampere or newer), here accelerator "
                          f"{accelerator!r}{'' if torch.cuda.is_available() else ' and no CUDA GPU'}; use auto or 32-true")
    if precision != "auto":
        return precision
    return "tf32" if _has_tf32(accelerator) else "32-true"


@contextlib.contextmanager
def matmul_precision(level: str):
    """torch's process-wide float32 matmul precision (``highest`` or ``high`` = TF32) for a block, restored after."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(level)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def check_memory(model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """Refuse, before anything is allocated, a model whose weights and optimiser state alone exceed this machine's
    memory (the GPU's when one trains it)."""
    from srlaw.core.sizing import total_params, training_bytes
    n = int(total_params(model_cfg.n_layers, model_cfg.d_model, model_cfg.n_items, backbone=model_cfg.backbone,
                         ffn_mult=model_cfg.ffn_mult, n_heads=model_cfg.n_heads, max_len=model_cfg.max_len,
                         item_embedding=model_cfg.item_embedding, jpq=asdict(model_cfg.jpq)))
    need = training_bytes(n)
    gpu = torch.cuda.is_available() and train_cfg.accelerator in ("auto", "gpu", "cuda")
    have = torch.cuda.get_device_properties(0).total_memory if gpu else \
        os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > have:
        raise ParamsError(f"a {model_cfg.n_layers} × {model_cfg.d_model} model over {model_cfg.n_items:,} items has "
                          f"{n:,} parameters: training needs at least {need / 2**30:.1f} GiB for weights, gradients "
                          f"and optimiser state, and this {'GPU' if gpu else 'machine'} has {have / 2**30:.1f} GiB")


def train_run(dataset_dir, run_dir, model_cfg: ModelConfig, train_cfg: TrainConfig, meta: dict | None = None,
              callbacks=(), execution: dict | None = None, module_factory=None) -> dict:
    """Train one configuration, test its best checkpoint, write ``run_dir/metrics.json``; return the metrics.

    ``callbacks``: extra Lightning callbacks (custom logging, a fault injected by a test); ``execution``: where and
    how this run executed (a grid's node id), recorded in ``run.json``; ``module_factory``: builds the
    LightningModule from the model config and the training options, in place of :class:`SeqRecModule` (a
    distillation's :class:`srlaw.train.distill.DistillModule`).
    """
    model_cfg.validate()
    train_cfg.validate()
    run_dir = Path(run_dir)
    L.seed_everything(train_cfg.seed, workers=True, verbose=False)
    dm = SequenceDataModule(dataset_dir, model_cfg.max_len, train_cfg.batch_size, train_cfg.eval_batch_size,
                            train_cfg.seed, train_cfg.num_workers)
    if model_cfg.n_items != dm.n_items:
        model_cfg = ModelConfig(**{**model_cfg.to_dict(), "n_items": dm.n_items})
    check_memory(model_cfg, train_cfg)
    module = _module(model_cfg, train_cfg, dm, module_factory)
    done = _fit_and_test(module, dm, run_dir, train_cfg, callbacks)
    if done is None:  # not the global-zero process of a multi-process run: it writes nothing
        return {}
    if done["stopped_by"] == "epoch_cap":
        print(f"note: stopped at the {train_cfg.max_epochs}-epoch cap before early stopping (patience "
              f"{train_cfg.patience}): the model may not have converged", file=sys.stderr)
    # metrics.json: what the run found, a function of its inputs only (DVC tracks it; a rerun rewrites the same
    # bytes). run.json: how this execution went (times, machine, commit), neither tracked nor hashed by DVC.
    metrics = _metrics_doc(module, model_cfg, train_cfg, done, read_stats(dataset_dir), meta)
    run_info = {
        "resumed": done["resumed"],
        "train_seconds": done["train_seconds"],
        "epoch_seconds": done["epoch_seconds"],  # this attempt's epochs (a resumed run lacks the killed attempt's)
        "throughput_seq_per_s": len(dm.train_inputs) * max(done["epochs"], 1) / max(done["train_seconds"], 1e-9),
        "eval_seconds": done["eval_seconds"],
        "device": done["device"],
        "versions": package_versions(),
        "git": git_commit(),
        **(execution or {}),
    }
    write_json_atomic(run_dir / "run.json", run_info)
    write_json_atomic(run_dir / "metrics.json", metrics)
    return {**metrics, **run_info}


def _module(model_cfg: ModelConfig, train_cfg: TrainConfig, dm: SequenceDataModule,
            factory=None) -> SeqRecModule:
    module = (factory or SeqRecModule)(model_cfg.to_dict(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay,
                                       loss=train_cfg.loss, n_negatives=train_cfg.n_negatives,
                                       warmup_epochs=train_cfg.warmup_epochs, lr_schedule=train_cfg.lr_schedule)
    if model_cfg.item_embedding == "jpq":
        # from the training split only, before training; a resumed run recomputes the same codes (and loads them)
        jpq = model_cfg.jpq
        module.model.item_emb.assign(assign_codes(dm.train_sequences, dm.n_items, jpq.n_splits, jpq.n_centroids,
                                                  jpq.assignment, train_cfg.seed))
    return module


def _loggers(run_dir: Path, resumed: bool) -> list:
    try:
        from dvclive.lightning import DVCLiveLogger
    except ImportError:  # dvclive is in the train extra; a bare torch install still trains
        return []
    # resume=True keeps the killed attempt's curves (DVCLive clears its folder otherwise)
    return [DVCLiveLogger(dir=str(run_dir / "dvclive"), dvcyaml=False, save_dvc_exp=False, resume=resumed)]


def _fit_and_test(module, dm, run_dir: Path, train_cfg: TrainConfig, callbacks) -> dict | None:
    """Fit (resuming ``checkpoints/last.ckpt`` when there is one), then test the best checkpoint; None on a
    process other than global zero."""
    ckpt_dir = run_dir / "checkpoints"
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/ndcg@10",
                                                     mode="max", save_top_k=1, save_last=True)
    early = L.pytorch.callbacks.EarlyStopping(monitor="val/ndcg@10", mode="max", patience=train_cfg.patience)
    last = ckpt_dir / "last.ckpt"
    resumed = last.is_file()
    precision = resolve_precision(train_cfg.precision, train_cfg.accelerator)
    bar = sys.stderr.isatty() if train_cfg.progress_bar is None else train_cfg.progress_bar
    clock = CurveRecorder(run_dir)
    steps_per_epoch = math.ceil(len(dm.train_inputs) / train_cfg.batch_size)
    with _quiet_lightning():
        trainer = L.Trainer(
            accelerator=train_cfg.accelerator, devices=train_cfg.devices, strategy=train_cfg.strategy,
            num_nodes=train_cfg.num_nodes, precision="32-true" if precision == "tf32" else precision,
            max_epochs=train_cfg.max_epochs,
            deterministic=train_cfg.deterministic, logger=_loggers(run_dir, resumed) or False,
            callbacks=[checkpoint, early, clock, *([] if bar else [EpochLine(train_cfg.max_epochs)]), *callbacks],
            enable_progress_bar=bar, log_every_n_steps=max(1, min(50, steps_per_epoch)),
            enable_model_summary=False, check_val_every_n_epoch=train_cfg.val_check_interval_epochs,
            max_time={"minutes": train_cfg.max_minutes} if train_cfg.max_minutes else None, num_sanity_val_steps=0,
            default_root_dir=str(run_dir),
        )
        t0 = time.perf_counter()
        with matmul_precision("high" if precision == "tf32" else torch.get_float32_matmul_precision()):
            trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resumed else None)
        # the whole run's: a killed attempt's epochs up to its checkpoint are part of it (its later ones were redone)
        train_seconds = time.perf_counter() - t0 + clock.kept_seconds
        epochs = int(trainer.current_epoch)
        # read before testing: trainer.test(ckpt_path=...) restores callback states from the checkpoint
        stop = stopped_by(early.stopped_epoch, epochs, train_cfg.max_epochs)
        t1 = time.perf_counter()
        trainer.test(module, datamodule=dm, ckpt_path="best" if checkpoint.best_model_path else str(last),
                     verbose=False)
        eval_seconds = time.perf_counter() - t1
    if not trainer.is_global_zero:
        return None
    # counted from 1, as the log and curve.json count epochs (a checkpoint's "epoch" counts from 0)
    best_epoch = int(torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["epoch"]) + 1 \
        if checkpoint.best_model_path else epochs
    device = trainer.strategy.root_device
    return {"resumed": resumed, "train_seconds": train_seconds, "eval_seconds": eval_seconds, "epochs": epochs,
            "best_epoch": best_epoch, "stopped_by": stop, "precision": precision, "epoch_seconds": clock.seconds,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
            f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"}


def _metrics_doc(module, model_cfg: ModelConfig, train_cfg: TrainConfig, done: dict, stats: dict,
                 meta: dict | None) -> dict:
    model = module.model
    return {
        **(meta or {}),
        **{k: v for k, v in model_cfg.to_dict().items() if k != "jpq"},
        **({"jpq": {**asdict(model_cfg.jpq), "assignment_version": ASSIGNMENT_VERSION}}
           if model_cfg.item_embedding == "jpq" else {}),
        "params_non_embedding": model.get_num_params(non_embedding=True),
        "params_total": model.get_num_params(non_embedding=False),
        "valid": module.results_["valid"],
        "test": module.results_["test"],
        "epochs": done["epochs"],
        "best_epoch": done["best_epoch"],
        "stopped_by": done["stopped_by"],
        "precision": done["precision"],
        "train_config": asdict(train_cfg),
        "data_content_hash": stats["content_hash"],
        "srlaw_version": __version__,
    }
