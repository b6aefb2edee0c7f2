"""What a model and a run are made of: model shape, training settings and the recipe that pairs them.

:class:`ModelConfig` and :class:`TrainConfig` are also what the model and the trainer take, so their defaults live
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from srlaw.core.errors import ParamsError
from srlaw.core.settings import check, is_int, mapping, parse, spec, where_of
from srlaw.core.sizing import (JPQ_DEFAULT, MAX_FFN_MULT, MAX_HEADS, MAX_ITEMS, MAX_LAYERS, MAX_SEED, MAX_SEQ,
                               MAX_WIDTH)

BACKBONES = ("sasrec", "hstu")
BLOCKS = ("pre_ln", "original")  # SASRec block order (srlaw.train.models.SASRecBlock)
ACTIVATIONS = ("gelu", "relu")
INITS = ("normal", "xavier")  # srlaw.train.models.init_weights
ITEM_EMBEDDINGS = ("full", "jpq")
JPQ_ASSIGNMENTS = ("svd", "random")
LOSSES = ("full", "sampled")
LR_SCHEDULES = ("constant", "inverse_sqrt")  # after the warm-up (srlaw.train.trainer.lr_factor)
# "tf32": fp32 weights and activations, TF32 matmuls in training steps (evaluation stays exact fp32); the rest are
# Lightning's. auto: tf32 on a CUDA GPU that has it (benchmarks/results/gpu_precision), 32-true elsewhere
PRECISIONS = ("auto", "tf32", "32-true", "32", "64-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")


@dataclass(kw_only=True)
class JPQSettings:
    """RecJPQ item embeddings (Petrov & Macdonald 2024): each item is ``n_splits`` sub-ids, one of ``n_centroids``
    per split, assigned from the training split before training (:mod:`srlaw.train.recjpq`)."""

    n_splits: int = spec(JPQ_DEFAULT["n_splits"], expect="an integer >= 1 that divides d_model", ok=lambda v: v >= 1)
    n_centroids: int = spec(JPQ_DEFAULT["n_centroids"], expect="an integer in [2, 65536]",
                            ok=lambda v: 2 <= v <= 65536)
    assignment: str = spec(JPQ_DEFAULT["assignment"], expect=f"one of {', '.join(JPQ_ASSIGNMENTS)}", ok=lambda v: v in JPQ_ASSIGNMENTS)


@dataclass(kw_only=True)
class ModelSettings:
    """What a recipe may set about the model; the grid sets depth and width, the data the catalogue."""

    backbone: str = spec("sasrec", expect=f"one of {', '.join(BACKBONES)}", ok=lambda v: v in BACKBONES)
    max_len: int = spec(50, expect=f"an integer in [2, {MAX_SEQ}] (longest input sequence)",
                        ok=lambda v: 2 <= v <= MAX_SEQ)
    n_heads: int = spec(1, expect=f"an integer in [1, {MAX_HEADS}] that divides d_model", ok=lambda v: 1 <= v <= MAX_HEADS)
    dropout: float = spec(0.1, expect="a number in [0, 1)", ok=lambda v: 0 <= v < 1)
    ffn_mult: int = spec(1, expect=f"an integer in [1, {MAX_FFN_MULT}] (feed-forward width / d_model)",
                         ok=lambda v: 1 <= v <= MAX_FFN_MULT)
    # the training recipe of benchmarks/bench_time_to_quality.py (README, "How srlaw trains"): the original SASRec
    # block with ReLU and N(0, 0.02) weights reaches quality in fewer epochs than pre-LN/GELU/xavier
    block: str = spec("original", expect=f"one of {', '.join(BLOCKS)} (SASRec block order)", ok=lambda v: v in BLOCKS)
    activation: str = spec("relu", expect=f"one of {', '.join(ACTIVATIONS)} (feed-forward)",
                           ok=lambda v: v in ACTIVATIONS)
    init: str = spec("normal", expect=f"one of {', '.join(INITS)} (weights at initialisation)", ok=lambda v: v in INITS)
    scale_embedding: bool = spec(True, expect="true or false (item embeddings times √d_model at the input)")
    # off: the same epochs to quality and test metrics on ML-1M over three seeds, at 0.78x the CPU step (dropout on
    # the 200 x 200 attention probabilities is 22 % of it); README "How srlaw trains"
    attention_dropout: bool = spec(False, expect="true or false (dropout on attention probabilities too; false: on "
                                                 "embeddings, residual branches and feed-forward only)")
    item_embedding: str = spec("full", expect=f"one of {', '.join(ITEM_EMBEDDINGS)}",
                               ok=lambda v: v in ITEM_EMBEDDINGS)
    jpq: JPQSettings = spec(expect="a mapping {n_splits, n_centroids, assignment}", factory=JPQSettings,
                            nested=JPQSettings)

    def __post_init__(self):
        if isinstance(self.jpq, dict):  # from asdict(): a checkpoint's hyperparameters, a recipe's model_config
            self.jpq = parse(JPQSettings, self.jpq, "model.jpq", "")


@dataclass(kw_only=True)
class ModelConfig(ModelSettings):
    """A model's whole shape; every field a plain type, so checkpoints stay ``weights_only``-loadable."""

    n_items: int = spec(expect=f"an integer in [1, {MAX_ITEMS:,}] (catalogue size; is the variant empty?)",
                        ok=lambda v: 1 <= v <= MAX_ITEMS)
    n_layers: int = spec(2, expect=f"an integer in [1, {MAX_LAYERS}]", ok=lambda v: 1 <= v <= MAX_LAYERS)
    d_model: int = spec(64, expect=f"an integer in [1, {MAX_WIDTH:,}]", ok=lambda v: 1 <= v <= MAX_WIDTH)

    def validate(self, where: str = "model", path: str = "") -> "ModelConfig":
        check(self, where, path)
        if self.d_model % self.n_heads:
            raise ParamsError(where_of(path, f"{where}.n_heads") + f" = {self.n_heads!r}: expected a divisor of "
                              f"d_model ({self.d_model})")
        if self.item_embedding == "jpq" and self.d_model % self.jpq.n_splits:
            raise ParamsError(where_of(path, f"{where}.jpq.n_splits") + f" = {self.jpq.n_splits!r}: expected a "
                              f"divisor of d_model ({self.d_model})")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_saved(cls, saved: dict) -> "ModelConfig":
        """The config a checkpoint or metrics file recorded; one from before the recipe keys existed was trained
        with the recipe of its time (:data:`LEGACY_RECIPE`), not with today's defaults."""
        return cls(**{**LEGACY_RECIPE, **saved})


# what every model was before the recipe became a setting (a checkpoint without these keys has them;
# one with the block keys but no attention_dropout key was trained with dropout on attention probabilities too)
LEGACY_RECIPE = {"block": "pre_ln", "activation": "gelu", "init": "xavier", "scale_embedding": True,
                 "attention_dropout": True}


@dataclass(kw_only=True)
class TrainConfig:
    """What a run needs beyond the model shape; every field a plain type (checkpoints stay loadable)."""

    batch_size: int = spec(128, expect="an integer >= 1", ok=lambda v: v >= 1)
    # lr 3e-3 after one warm-up epoch: half the epochs to quality of 1e-3 at the same final quality on ML-1M
    # (benchmarks/bench_time_to_quality.py; the published SASRec+ protocol, 1e-3 without warm-up, is one setting away)
    lr: float = spec(3e-3, expect="a number > 0", ok=lambda v: v > 0)
    weight_decay: float = spec(0.0, expect="a number >= 0", ok=lambda v: v >= 0)
    warmup_epochs: float = spec(1.0, expect="a number >= 0 (linear learning-rate warm-up from 0)", ok=lambda v: v >= 0)
    lr_schedule: str = spec("constant", expect=f"one of {', '.join(LR_SCHEDULES)} (after the warm-up)",
                            ok=lambda v: v in LR_SCHEDULES)
    max_epochs: int = spec(200, expect="an integer >= 1", ok=lambda v: v >= 1)
    patience: int = spec(10, expect="an integer >= 1 (epochs without a better valid NDCG@10)", ok=lambda v: v >= 1)
    loss: str = spec("full", expect=f"one of {', '.join(LOSSES)}", ok=lambda v: v in LOSSES)
    n_negatives: int = spec(256, expect="an integer >= 1 (sampled softmax negatives)", ok=lambda v: v >= 1)
    eval_batch_size: int = spec(512, expect="an integer >= 1", ok=lambda v: v >= 1)
    precision: str = spec("auto", expect=f"one of {', '.join(PRECISIONS)} (auto: tf32 on a GPU that has it, 32 on CPU)",
                          ok=lambda v: v in PRECISIONS)
    accelerator: str = spec("auto", expect=f"one of {', '.join(ACCELERATORS)}", ok=lambda v: v in ACCELERATORS)
    devices: str | int = spec("auto", expect="'auto', -1 or an integer >= 1",
                              ok=lambda v: v == "auto" or (is_int(v) and (v >= 1 or v == -1)))
    strategy: str = spec("auto", expect="a Lightning strategy name (auto, ddp, ...)", ok=lambda v: v != "")
    num_nodes: int = spec(1, expect="an integer >= 1", ok=lambda v: v >= 1)
    deterministic: bool = spec(True, expect="true or false")
    seed: int = spec(42, expect=f"an integer in [0, {MAX_SEED}]", ok=lambda v: 0 <= v <= MAX_SEED)
    num_workers: int = spec(0, expect="an integer >= 0", ok=lambda v: v >= 0)
    val_check_interval_epochs: int = spec(1, expect="an integer >= 1", ok=lambda v: v >= 1)
    max_minutes: float | None = spec(None, expect="null or a number > 0 (wall-clock cap)", ok=lambda v: v > 0)
    progress_bar: bool | None = spec(None, expect="true, false or null (null: only on a terminal)")

    def validate(self, where: str = "train", path: str = "") -> "TrainConfig":
        check(self, where, path)
        return self


@dataclass
class Recipe:
    """How every run of a grid trains: the model settings and the training settings."""

    model: ModelSettings
    train: TrainConfig

    def model_config(self, n_items: int, n_layers: int, d_model: int, where: str = "model",
                     path: str = "") -> ModelConfig:
        """The whole shape of one grid point, checked (``where``/``path`` name the section in an error)."""
        return ModelConfig(n_items=n_items, n_layers=n_layers, d_model=d_model,
                           **asdict(self.model)).validate(where, path)

    def to_dict(self) -> dict:
        return {**asdict(self.model), **asdict(self.train)}


_MODEL_KEYS = tuple(f.name for f in fields(ModelSettings))
_SEED_FREE_TRAIN = tuple(f.name for f in fields(TrainConfig) if f.name != "seed")


def parse_flat_recipe(raw, where: str, path: str, seed: int) -> Recipe:
    """The pipeline's ``train:`` section: model and training keys side by side; the seed is the top-level one."""
    raw = mapping(raw, where, path, keys=_MODEL_KEYS + _SEED_FREE_TRAIN)
    model = parse(ModelSettings, {k: v for k, v in raw.items() if k in _MODEL_KEYS}, where, path)
    train = parse(TrainConfig, {**{k: v for k, v in raw.items() if k not in _MODEL_KEYS}, "seed": seed}, where, path)
    return Recipe(model, train)


def parse_nested_recipe(raw, where: str, path: str, seed: int) -> Recipe:
    """A study recipe: ``{model: {...}, train: {...}}``."""
    raw = mapping(raw, where, path, keys=("model", "train"))
    return Recipe(parse(ModelSettings, raw.get("model"), f"{where}.model", path),
                  parse(TrainConfig, {**(raw.get("train") or {}), "seed": seed}, f"{where}.train", path))
