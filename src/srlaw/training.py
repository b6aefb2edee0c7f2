"""Training SR transformers with Lightning: data module, LightningModule, and one run end to end.

``train_run(dataset_dir, run_dir, cfg)`` is the unit the DVC ``train`` stage repeats over its grid: it trains with
early stopping on validation NDCG@10, resumes from ``run_dir/checkpoints/last.ckpt`` if a previous attempt was
killed, evaluates the best checkpoint with full ranking on validation and test, and writes ``metrics.json``
atomically (so a killed run never leaves half-written metrics).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from srlaw import __version__
from srlaw.atomic_write import write_json_atomic
from srlaw.dataset import SequenceDataset, load_dataset, read_stats
from srlaw.evaluation import KS, filter_seen_, ranking_metric_sums, target_ranks
from srlaw.models import ModelConfig, SequentialRecommender

LOSSES = ("full", "sampled")


@dataclass
class TrainConfig:
    """What a run needs beyond the model shape; every field is a plain type (checkpoints stay loadable)."""

    batch_size: int = 128  # training sequences per step
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0
    max_epochs: int = 200
    patience: int = 10  # early stopping on validation NDCG@10
    loss: str = "full"  # "full" softmax over all items or "sampled" softmax
    n_negatives: int = 256  # sampled softmax only: uniform negatives shared by the batch
    eval_batch_size: int = 512
    precision: str = "auto"  # "auto": bf16-mixed on GPU, 32 on CPU
    accelerator: str = "auto"
    devices: str | int = "auto"
    strategy: str = "auto"  # e.g. "ddp" to scale across GPUs or nodes
    num_nodes: int = 1
    deterministic: bool = True
    seed: int = 42
    num_workers: int = 0
    val_check_interval_epochs: int = 1
    max_minutes: float | None = None  # wall-clock cap on fitting (early stopping usually ends it first)
    progress_bar: bool | None = True  # None: only when stderr is a terminal
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("batch_size", "max_epochs", "patience", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.loss == "sampled" and self.n_negatives < 1:
            raise ValueError(f"n_negatives must be >= 1 for sampled softmax, got {self.n_negatives}")


# ---------------------------------------------------------------- data

def left_pad(seqs, length: int) -> np.ndarray:
    """Stack 1-D arrays into ``[n, length]``, keeping each one's last ``length`` items, zeros on the left."""
    out = np.zeros((len(seqs), length), dtype=np.int64)
    for i, s in enumerate(seqs):
        s = s[-length:]
        if len(s):
            out[i, length - len(s):] = s
    return out


class _TrainSequences(Dataset):
    def __init__(self, inputs: np.ndarray, targets: np.ndarray):
        self.inputs, self.targets = torch.from_numpy(inputs), torch.from_numpy(targets)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, i):
        return self.inputs[i], self.targets[i]


class _EvalUsers(Dataset):
    """One user per item: (model input, target, full seen history)."""

    def __init__(self, ds: SequenceDataset, max_len: int, split: str):
        self.ds, self.max_len = ds, max_len
        self.cut = 2 if split == "valid" else 1  # history ends before the target

    def __len__(self):
        return self.ds.n_users

    def __getitem__(self, u):
        seq = np.asarray(self.ds.sequence(u))
        hist = seq[:-self.cut]
        return hist, int(seq[-self.cut])


def _eval_collate(max_len):
    def collate(batch):
        hists, targets = zip(*batch)
        longest = max(len(h) for h in hists)
        return (torch.from_numpy(left_pad(hists, max_len)), torch.tensor(targets),
                torch.from_numpy(left_pad(hists, longest)))
    return collate


class SequenceDataModule(L.LightningDataModule):
    """Owns the leave-one-out split of one canonical dataset: training windows, validation and test users."""

    def __init__(self, dataset_dir: str, max_len: int, batch_size: int, eval_batch_size: int, seed: int,
                 num_workers: int = 0):
        super().__init__()
        self.dataset_dir, self.max_len = str(dataset_dir), max_len
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.seed, self.num_workers = seed, num_workers
        self.ds = load_dataset(dataset_dir)
        if self.ds.n_users == 0:
            raise ValueError(f"{dataset_dir}: the variant has no users")
        seqs = [np.asarray(self.ds.sequence(u))[:-2] for u in range(self.ds.n_users)]
        seqs = [s for s in seqs if len(s) >= 2]  # one training pair needs two items before the validation one
        if not seqs:
            raise ValueError(f"{dataset_dir}: no user has a training pair (every user is shorter than 4 items)")
        self.train_inputs = left_pad([s[:-1] for s in seqs], max_len)
        self.train_targets = left_pad([s[1:] for s in seqs], max_len)

    @property
    def n_items(self) -> int:
        return self.ds.n_items

    def train_dataloader(self):
        g = torch.Generator().manual_seed(self.seed)
        return DataLoader(_TrainSequences(self.train_inputs, self.train_targets), batch_size=self.batch_size,
                          shuffle=True, generator=g, num_workers=self.num_workers, drop_last=False)

    def eval_dataloader(self, split: str):
        return DataLoader(_EvalUsers(self.ds, self.max_len, split), batch_size=self.eval_batch_size,
                          shuffle=False, collate_fn=_eval_collate(self.max_len), num_workers=self.num_workers)

    def val_dataloader(self):
        return self.eval_dataloader("valid")


# ---------------------------------------------------------------- model

def sequence_loss(model: SequentialRecommender, inputs, targets, loss: str = "full", n_negatives: int = 256):
    """Cross-entropy of next-item prediction, logits computed only at non-padding positions."""
    h = model(inputs)
    keep = targets != 0
    hv, y = h[keep], targets[keep]
    emb = model.item_emb.weight
    if loss == "full":
        # padding (row 0) is never a target: leave it out instead of masking a full copy of the logits
        return F.cross_entropy((hv @ emb[1:].T).float(), y - 1)
    negs = torch.randint(1, emb.shape[0], (n_negatives,), device=inputs.device)
    pos = (hv * emb[y]).sum(-1, keepdim=True)
    neg = hv @ emb[negs].T
    neg = neg.masked_fill(negs[None, :] == y[:, None], float("-inf"))  # an accidental hit is no negative
    logits = torch.cat([pos, neg], dim=1).float()
    return F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long, device=inputs.device))


class SeqRecModule(L.LightningModule):
    """Trains a :class:`SequentialRecommender`; validates with full-ranking NDCG@10 (seen items filtered)."""

    def __init__(self, model_config: dict, lr: float = 1e-3, weight_decay: float = 0.0, loss: str = "full",
                 n_negatives: int = 256):
        super().__init__()
        self.save_hyperparameters()  # plain dicts and numbers only: load_from_checkpoint stays weights_only-safe
        self.model = SequentialRecommender(ModelConfig(**model_config))
        self._val_sums: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = sequence_loss(self.model, inputs, targets, self.hparams.loss, self.hparams.n_negatives)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(inputs))
        return loss

    def validation_step(self, batch, batch_idx):
        inputs, targets, history = batch
        scores = self.model.score_last(inputs).float()
        ranks = target_ranks(filter_seen_(scores, history), targets)
        sums = ranking_metric_sums(ranks)
        self._val_sums.append(torch.tensor([sums["ndcg@10"], sums["hr@10"], float(len(targets))],
                                           device=self.device, dtype=torch.float64))

    def on_validation_epoch_end(self):
        total = torch.stack(self._val_sums).sum(0)
        self._val_sums.clear()
        total = self.trainer.strategy.reduce(total, reduce_op="sum")  # exact across DDP processes
        self.log("val/ndcg@10", float(total[0] / total[2]), prog_bar=True, sync_dist=False)
        self.log("val/hr@10", float(total[1] / total[2]), sync_dist=False)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)


@torch.no_grad()
def evaluate_model(model: SequentialRecommender, loader, device=None, ks=KS) -> dict:
    """Mean HR@K, NDCG@K and MRR over every user of ``loader`` (full ranking, seen filtered)."""
    model.eval()
    device = device or next(model.parameters()).device
    totals, n = None, 0
    for inputs, targets, history in loader:
        scores = model.score_last(inputs.to(device)).float()
        ranks = target_ranks(filter_seen_(scores, history.to(device)), targets.to(device))
        sums = ranking_metric_sums(ranks, ks)
        totals = sums if totals is None else {k: totals[k] + sums[k] for k in sums}
        n += len(targets)
    return {k: v / n for k, v in totals.items()}


# ---------------------------------------------------------------- one run

def _resolve_precision(precision: str) -> str:
    if precision != "auto":
        return precision
    return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"


def train_run(dataset_dir, run_dir, model_cfg: ModelConfig, train_cfg: TrainConfig, meta: dict | None = None) -> dict:
    """Train one configuration, evaluate its best checkpoint, write ``run_dir/metrics.json``; return the metrics."""
    model_cfg.validate()
    train_cfg.validate()
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    L.seed_everything(train_cfg.seed, workers=True, verbose=False)
    dm = SequenceDataModule(dataset_dir, model_cfg.max_len, train_cfg.batch_size, train_cfg.eval_batch_size,
                            train_cfg.seed, train_cfg.num_workers)
    if model_cfg.n_items != dm.n_items:
        model_cfg = ModelConfig(**{**model_cfg.to_dict(), "n_items": dm.n_items})
    module = SeqRecModule(model_cfg.to_dict(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay,
                          loss=train_cfg.loss, n_negatives=train_cfg.n_negatives)

    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/ndcg@10",
                                                     mode="max", save_top_k=1, save_last=True)
    early = L.pytorch.callbacks.EarlyStopping(monitor="val/ndcg@10", mode="max", patience=train_cfg.patience)
    callbacks = [checkpoint, early]
    last = ckpt_dir / "last.ckpt"
    resumed = last.is_file()
    loggers = []
    try:
        from dvclive.lightning import DVCLiveLogger
        # resume=True keeps the killed attempt's curves (DVCLive clears its folder otherwise)
        loggers.append(DVCLiveLogger(dir=str(run_dir / "dvclive"), dvcyaml=False, save_dvc_exp=False,
                                     resume=resumed))
    except ImportError:  # dvclive is in the train extra; a bare torch install still trains
        pass
    precision = _resolve_precision(train_cfg.precision)
    trainer = L.Trainer(
        accelerator=train_cfg.accelerator, devices=train_cfg.devices, strategy=train_cfg.strategy,
        num_nodes=train_cfg.num_nodes, precision=precision, max_epochs=train_cfg.max_epochs,
        deterministic=train_cfg.deterministic, callbacks=callbacks, logger=loggers or False,
        enable_progress_bar=sys.stderr.isatty() if train_cfg.progress_bar is None else train_cfg.progress_bar, enable_model_summary=False,
        check_val_every_n_epoch=train_cfg.val_check_interval_epochs,
        max_time={"minutes": train_cfg.max_minutes} if train_cfg.max_minutes else None, num_sanity_val_steps=0,
        default_root_dir=str(run_dir),
    )
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resumed else None)
    train_seconds = time.perf_counter() - t0
    if not trainer.is_global_zero:
        return {}

    best_path = checkpoint.best_model_path or str(last)
    best = SeqRecModule.load_from_checkpoint(best_path, map_location="cpu")
    device = torch.device("cuda") if torch.cuda.is_available() and train_cfg.accelerator != "cpu" else torch.device("cpu")
    model = best.model.to(device)
    t1 = time.perf_counter()
    results = {split: evaluate_model(model, dm.eval_dataloader(split), device) for split in ("valid", "test")}
    eval_seconds = time.perf_counter() - t1
    epochs = int(trainer.current_epoch)
    best_epoch = int(torch.load(best_path, map_location="cpu", weights_only=True)["epoch"]) \
        if checkpoint.best_model_path else epochs - 1
    stats = read_stats(dataset_dir)
    metrics = {
        **(meta or {}),
        "backbone": model_cfg.backbone,
        "n_layers": model_cfg.n_layers,
        "d_model": model_cfg.d_model,
        "n_heads": model_cfg.n_heads,
        "max_len": model_cfg.max_len,
        "n_items": model_cfg.n_items,
        "params_non_embedding": model.get_num_params(non_embedding=True),
        "params_total": model.get_num_params(non_embedding=False),
        "valid": results["valid"],
        "test": results["test"],
        "epochs": epochs,
        "best_epoch": best_epoch,
        "resumed": resumed,
        "train_seconds": train_seconds,
        "throughput_seq_per_s": len(dm.train_inputs) * max(epochs, 1) / max(train_seconds, 1e-9),
        "eval_seconds": eval_seconds,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "precision": precision,
        "train_config": {k: v for k, v in asdict(train_cfg).items() if k != "extra"},
        "data_content_hash": stats["content_hash"],
        "srlaw_version": __version__,
        "torch_version": torch.__version__,
    }
    write_json_atomic(run_dir / "metrics.json", metrics)
    return metrics


def read_metrics(path) -> dict:
    return json.loads(Path(path).read_text())

