"""Knowledge distillation as SLMRec does it for sequential recommenders: a small student learns the next item from
the data and from a trained teacher — the teacher's distribution over the catalogue at every position, and its
hidden states at mapped layers (student layer i ↔ teacher layer ``layers_map[i]``, through a learned projection
when the widths differ).

    loss = (1 − alpha) · CE(next item) + alpha · T² · KL(teacher ‖ student at temperature T)
           + beta · mean over mapped layers of (1 − cos(P · h_student, h_teacher))

The teacher is frozen and never saved with the student; the projections live in the student's checkpoints (so a
killed run resumes) and are left out of the served model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from srlaw.core.errors import SrlawError
from srlaw.train.models import SequentialRecommender
from srlaw.train.trainer import SeqRecModule


@dataclass(frozen=True)
class DistillConfig:
    """How the student learns from its teacher (defaults: SLMRec's equal weighting of data and teacher)."""

    alpha: float = 0.5  # the teacher's distribution's share of the output loss
    temperature: float = 1.0
    beta: float = 1.0  # weight of hidden-state alignment (0: outputs only)
    layers_map: tuple[int, ...] | None = None  # teacher layer (1-based) per student layer; None: k·i

    def check(self, student_layers: int, teacher_layers: int) -> "DistillConfig":
        """This config with its layer map resolved for the two depths; SrlawError naming the flag otherwise."""
        if not 0 <= self.alpha <= 1:
            raise SrlawError(f"--alpha {self.alpha}: expected a number in [0, 1]")
        if not self.temperature > 0:
            raise SrlawError(f"--temperature {self.temperature}: expected a number > 0")
        if not self.beta >= 0:
            raise SrlawError(f"--beta {self.beta}: expected a number >= 0")
        layers = self.layers_map or default_layers_map(student_layers, teacher_layers)
        if len(layers) != student_layers or not all(1 <= k <= teacher_layers for k in layers):
            raise SrlawError(f"--layers-map {','.join(map(str, layers))}: expected {student_layers} teacher layers "
                             f"(one per student layer), each in 1..{teacher_layers}")
        return DistillConfig(self.alpha, self.temperature, self.beta, tuple(int(k) for k in layers))

    def to_dict(self) -> dict:
        return {**asdict(self), "layers_map": list(self.layers_map) if self.layers_map else None}


def default_layers_map(student_layers: int, teacher_layers: int) -> tuple[int, ...]:
    """Student layer i ↔ teacher layer k·i with k = teacher / student layers (rounded when it does not divide):
    the student's last layer always meets the teacher's last."""
    return tuple(max(1, round(i * teacher_layers / student_layers)) for i in range(1, student_layers + 1))


def load_teacher(run_dir) -> tuple[SequentialRecommender, dict]:
    """The trained model of a run folder (its best checkpoint) and its metrics.json; SrlawError when it holds none."""
    from srlaw.train.onnx_export import load_checkpoint_model
    run_dir = Path(run_dir)
    ckpt, metrics = run_dir / "checkpoints" / "best.ckpt", run_dir / "metrics.json"
    if not (ckpt.is_file() and metrics.is_file()):
        raise SrlawError(f"--teacher {run_dir}: not a finished run (needs metrics.json and checkpoints/best.ckpt, "
                         "as srlaw run, srlaw grid and the pipeline's train stage write)")
    model = load_checkpoint_model(ckpt)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, json.loads(metrics.read_text())


class DistillModule(SeqRecModule):
    """:class:`SeqRecModule` whose training loss adds what the teacher knows; validation and testing unchanged."""

    @classmethod
    def factory(cls, teacher_dir, how: DistillConfig):
        """What :func:`srlaw.train.trainer.train_run` builds its module with (``module_factory``)."""
        from functools import partial
        return partial(cls, teacher_dir=str(teacher_dir), **how.to_dict())

    def __init__(self, model_config: dict, teacher_dir: str, alpha: float = 0.5, temperature: float = 1.0,
                 beta: float = 1.0, layers_map: list | None = None, **train):
        super().__init__(model_config, **train)
        teacher, _ = load_teacher(teacher_dir)
        self._teacher = [teacher.eval()]  # in a list: not a submodule, so never trained, saved or counted
        cfg = self.model.cfg
        if teacher.cfg.n_items != cfg.n_items:
            raise SrlawError(f"--teacher {teacher_dir}: trained on {teacher.cfg.n_items:,} items, this data has "
                             f"{cfg.n_items:,}; a teacher must be trained on the same prepared data")
        self.layers_map = list(layers_map or default_layers_map(cfg.n_layers, teacher.cfg.n_layers))
        dt = teacher.cfg.d_model
        self.align = nn.ModuleList(nn.Linear(cfg.d_model, dt, bias=False) if cfg.d_model != dt else nn.Identity()
                                   for _ in self.layers_map)

    @property
    def teacher(self) -> SequentialRecommender:
        return self._teacher[0]

    def on_fit_start(self) -> None:
        self.teacher.to(self.device)

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        h, states = self.model(inputs, layers=True)
        with torch.no_grad():
            self.teacher.eval()  # Lightning puts the student in train mode; the teacher never drops out
            h_t, states_t = self.teacher(inputs, layers=True)
        keep = targets != 0
        logits = h[keep] @ self.model.item_emb.weight[1:].T  # padding is never a target (as sequence_loss)
        with torch.no_grad():
            logits_t = h_t[keep] @ self.teacher.item_emb.weight[1:].T
        hp = self.hparams
        ce = F.cross_entropy(logits, targets[keep] - 1)
        t = hp.temperature
        kd = F.kl_div(F.log_softmax(logits / t, -1), F.log_softmax(logits_t / t, -1), log_target=True,
                      reduction="batchmean") * t * t
        align = torch.stack([1 - F.cosine_similarity(proj(states[i][keep]), states_t[k - 1][keep], dim=-1).mean()
                             for i, (proj, k) in enumerate(zip(self.align, self.layers_map))]).mean()
        loss = (1 - hp.alpha) * ce + hp.alpha * kd + hp.beta * align
        n = len(inputs)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        self.log("train/ce", ce, on_step=False, on_epoch=True, batch_size=n)
        self.log("train/kd", kd, on_step=False, on_epoch=True, batch_size=n)
        self.log("train/align", align, on_step=False, on_epoch=True, batch_size=n)
        return loss
