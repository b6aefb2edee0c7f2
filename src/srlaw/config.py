"""Every parameter srlaw reads: its type, default and valid range, in one place.

``params.yaml`` (and a study's params file) is parsed **once** into typed dataclasses; an unknown key or an invalid
value is refused before any stage reads data or touches a file, with one line that names the file, the key, the
value and what was expected::

    params.yaml: train.lr = -1: expected a number > 0

Stages receive these objects; nothing else looks values up by name. :class:`ModelConfig` and :class:`TrainConfig`
are also what the model and the trainer take, so their defaults live here and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from srlaw.errors import ParamsError
from srlaw.law_forms import FORMS
from srlaw.protocol import metric_names
from srlaw.readers import FORMATS
from srlaw.sizing import JPQ_DEFAULT

BACKBONES = ("sasrec", "hstu")
BLOCKS = ("pre_ln", "original")  # SASRec block order (srlaw.models.SASRecBlock)
ACTIVATIONS = ("gelu", "relu")
INITS = ("normal", "xavier")  # srlaw.models.init_weights
ITEM_EMBEDDINGS = ("full", "jpq")
JPQ_ASSIGNMENTS = ("svd", "random")
LOSSES = ("full", "sampled")
LR_SCHEDULES = ("constant", "inverse_sqrt")  # after the warm-up (srlaw.training.lr_factor)
# "tf32": fp32 weights and activations, TF32 matmuls in training steps (evaluation stays exact fp32); the rest are
# Lightning's. auto: tf32 on a CUDA GPU that has it (benchmarks/results/gpu_precision), 32-true elsewhere
PRECISIONS = ("auto", "tf32", "32-true", "32", "64-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
LAW_SPLITS = ("valid", "test", "mean(valid, test)")  # the last: studies average two disjoint evaluations
COLUMN_ROLES = ("user", "item", "timestamp", "rating")


# ---------------------------------------------------------------- field specs

def spec(default=MISSING, *, expect: str, ok=None, factory=MISSING, nested=None):
    """A dataclass field with its rule: ``expect`` says it in words, ``ok(value)`` checks it (after the type).

    ``nested``: the field is a section of its own, parsed and checked as that dataclass.
    """
    return field(default=default, default_factory=factory, metadata={"expect": expect, "ok": ok, "nested": nested})


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_TYPES = {
    "int": _is_int,
    "float": _is_number,
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "list[int]": lambda v: isinstance(v, list) and len(v) > 0 and all(_is_int(x) for x in v),
    "list[str]": lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) for x in v),
    "dict[str, str]": lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str)
                                                            for k, x in v.items()),
}


def _type_ok(value, annotation: str) -> bool:
    return any(value is None if alt == "None" else _TYPES.get(alt, lambda v: True)(value)
               for alt in (a.strip() for a in annotation.split("|")))


def check(obj, where: str = "", path: str = "") -> None:
    """Type- and range-check every field of a config dataclass in place (ints given for floats become floats)."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        expect, ok = f.metadata.get("expect"), f.metadata.get("ok")
        if expect is None:
            continue
        if f.metadata.get("nested") is not None:
            if not isinstance(value, f.metadata["nested"]):
                raise ParamsError(_where(path, f"{where}.{f.name}" if where else f.name) + f" = {value!r}: "
                                  f"expected {expect}")
            check(value, f"{where}.{f.name}" if where else f.name, path)
            continue
        if not _type_ok(value, str(f.type)) or (ok is not None and value is not None and not ok(value)):
            raise ParamsError(_where(path, f"{where}.{f.name}" if where else f.name) + f" = {value!r}: expected {expect}")
        if str(f.type).startswith("float") and _is_int(value):
            setattr(obj, f.name, float(value))


def _where(path: str, key: str) -> str:
    return f"{path}: {key}" if path else key


def parse(cls, raw, where: str, path: str):
    """``cls(**raw)`` after refusing unknown and missing keys; then :func:`check`."""
    raw = dict(_mapping(raw, where, path, keys=[f.name for f in fields(cls) if f.init]))
    for f in fields(cls):
        if f.init and f.name not in raw and f.default is MISSING and f.default_factory is MISSING:
            raise ParamsError(_where(path, f"{where}.{f.name}" if where else f.name)
                              + f": missing; expected {f.metadata.get('expect', 'a value')}")
        if f.metadata.get("nested") is not None and f.name in raw:
            raw[f.name] = parse(f.metadata["nested"], raw[f.name], f"{where}.{f.name}" if where else f.name, path)
    obj = cls(**raw)
    check(obj, where, path)
    return obj


# ---------------------------------------------------------------- model and training (also the trainer's own types)

@dataclass(kw_only=True)
class JPQSettings:
    """RecJPQ item embeddings (Petrov & Macdonald 2024): each item is ``n_splits`` sub-ids, one of ``n_centroids``
    per split, assigned from the training split before training (:mod:`srlaw.recjpq`)."""

    n_splits: int = spec(JPQ_DEFAULT["n_splits"], expect="an integer >= 1 that divides d_model", ok=lambda v: v >= 1)
    n_centroids: int = spec(JPQ_DEFAULT["n_centroids"], expect="an integer in [2, 65536]",
                            ok=lambda v: 2 <= v <= 65536)
    assignment: str = spec(JPQ_DEFAULT["assignment"], expect=f"one of {', '.join(JPQ_ASSIGNMENTS)}", ok=lambda v: v in JPQ_ASSIGNMENTS)


@dataclass(kw_only=True)
class ModelSettings:
    """What a recipe may set about the model; the grid sets depth and width, the data the catalogue."""

    backbone: str = spec("sasrec", expect=f"one of {', '.join(BACKBONES)}", ok=lambda v: v in BACKBONES)
    max_len: int = spec(50, expect="an integer >= 2 (longest input sequence)", ok=lambda v: v >= 2)
    n_heads: int = spec(1, expect="an integer >= 1 that divides d_model", ok=lambda v: v >= 1)
    dropout: float = spec(0.1, expect="a number in [0, 1)", ok=lambda v: 0 <= v < 1)
    ffn_mult: int = spec(1, expect="an integer >= 1 (feed-forward width / d_model)", ok=lambda v: v >= 1)
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

    n_items: int = spec(expect="an integer >= 1 (catalogue size; is the variant empty?)", ok=lambda v: v >= 1)
    n_layers: int = spec(2, expect="an integer >= 1", ok=lambda v: v >= 1)
    d_model: int = spec(64, expect="an integer >= 1", ok=lambda v: v >= 1)

    def validate(self, where: str = "model", path: str = "") -> "ModelConfig":
        check(self, where, path)
        if self.d_model % self.n_heads:
            raise ParamsError(_where(path, f"{where}.n_heads") + f" = {self.n_heads!r}: expected a divisor of "
                              f"d_model ({self.d_model})")
        if self.item_embedding == "jpq" and self.d_model % self.jpq.n_splits:
            raise ParamsError(_where(path, f"{where}.jpq.n_splits") + f" = {self.jpq.n_splits!r}: expected a "
                              f"divisor of d_model ({self.d_model})")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_saved(cls, saved: dict) -> "ModelConfig":
        """The config a checkpoint or metrics file recorded; one from before the recipe keys existed was trained
        with the recipe of its time (:data:`LEGACY_RECIPE`), not with today's defaults."""
        return cls(**{**LEGACY_RECIPE, **saved})


# what every model was before issue #18 made the recipe a setting (a checkpoint without these keys has them;
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
                              ok=lambda v: v == "auto" or (_is_int(v) and (v >= 1 or v == -1)))
    strategy: str = spec("auto", expect="a Lightning strategy name (auto, ddp, ...)", ok=lambda v: v != "")
    num_nodes: int = spec(1, expect="an integer >= 1", ok=lambda v: v >= 1)
    deterministic: bool = spec(True, expect="true or false")
    seed: int = spec(42, expect="an integer >= 0", ok=lambda v: v >= 0)
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
    raw = _mapping(raw, where, path, keys=_MODEL_KEYS + _SEED_FREE_TRAIN)
    model = parse(ModelSettings, {k: v for k, v in raw.items() if k in _MODEL_KEYS}, where, path)
    train = parse(TrainConfig, {**{k: v for k, v in raw.items() if k not in _MODEL_KEYS}, "seed": seed}, where, path)
    return Recipe(model, train)


def parse_nested_recipe(raw, where: str, path: str, seed: int) -> Recipe:
    """A study recipe: ``{model: {...}, train: {...}}``."""
    raw = _mapping(raw, where, path, keys=("model", "train"))
    return Recipe(parse(ModelSettings, raw.get("model"), f"{where}.model", path),
                  parse(TrainConfig, {**(raw.get("train") or {}), "seed": seed}, f"{where}.train", path))


def _mapping(raw, where: str, path: str, keys=None) -> dict:
    """``raw`` as a mapping (None: empty); with ``keys``, any other key is refused by name."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ParamsError(_where(path, where) + f" = {raw!r}: expected a mapping")
    unknown = [k for k in raw if keys is not None and k not in keys]
    if unknown:
        raise ParamsError(_where(path, f"{where}.{unknown[0]}" if where else str(unknown[0]))
                          + f": unknown key; expected one of {', '.join(keys)}")
    return raw


# ---------------------------------------------------------------- pipeline sections

@dataclass(kw_only=True)
class DataConfig:
    """``prepare``: the raw log and how it is cleaned."""

    source: str = spec(expect="the path of the raw interaction file", ok=lambda v: v != "")
    format: str = spec(expect=f"one of {', '.join(FORMATS)}", ok=lambda v: v in FORMATS)
    columns: dict[str, str] = spec(expect=f"a mapping from roles ({', '.join(COLUMN_ROLES)}) to column names",
                                   ok=lambda v: set(v) <= set(COLUMN_ROLES), factory=dict)
    delimiter: str = spec(",", expect="one character", ok=lambda v: len(v) == 1)
    rating_threshold: float | None = spec(None, expect="null or a number (keep ratings >= it)")
    kcore: int = spec(0, expect="an integer >= 0 (0: off)", ok=lambda v: v >= 0)
    min_user_interactions: int = spec(3, expect="an integer >= 3 (leave-one-out needs 3)", ok=lambda v: v >= 3)


@dataclass(kw_only=True)
class VariantConfig:
    """One data-scale / data-quality variant of the canonical dataset."""

    user_fraction: float = spec(1.0, expect="a number in (0, 1]", ok=lambda v: 0 < v <= 1)
    max_len: int | None = spec(None, expect="null or an integer >= 3 (each user's last items)", ok=lambda v: v >= 3)
    noise: float = spec(0.0, expect="a number in [0, 1) (fraction of items replaced at random)",
                        ok=lambda v: 0 <= v < 1)


@dataclass(kw_only=True)
class EntropyConfig:
    """``entropy``: ApEn's template length and tolerance, and the history it reads."""

    m: int = spec(2, expect="an integer in [1, 10] (ApEn template length)", ok=lambda v: 1 <= v <= 10)
    r: float = spec(0.2, expect="a number >= 0 (ApEn tolerance)", ok=lambda v: v >= 0)
    max_len: int | None = spec(None, expect="null or an integer >= 2 (each user's last items)", ok=lambda v: v >= 2)


@dataclass(kw_only=True)
class GridConfig:
    """The ``train`` stage's matrix."""

    variants: list[str] = spec(expect="a non-empty list of variant names")
    n_layers: list[int] = spec(expect="a non-empty list of integers >= 1", ok=lambda v: min(v) >= 1)
    d_model: list[int] = spec(expect="a non-empty list of integers >= 1", ok=lambda v: min(v) >= 1)

    def points(self) -> list[tuple[int, int]]:
        return [(n, d) for n in self.n_layers for d in self.d_model]


@dataclass(kw_only=True)
class LawConfig:
    """``fit``: which forms compete, on what held-out split, with which robust loss."""

    metrics: list[str] = spec(expect=f"a list of {', '.join(metric_names())}",
                              ok=lambda v: set(v) <= set(metric_names()), factory=lambda: ["hr@10", "ndcg@10"])
    split: str = spec("test", expect=f"one of {', '.join(LAW_SPLITS)}", ok=lambda v: v in LAW_SPLITS)
    forms: list[str] = spec(expect=f"a list of {', '.join(FORMS)}", ok=lambda v: set(v) <= set(FORMS),
                            factory=lambda: list(FORMS))
    data_score: str = spec("markov_ndcg@10", expect="a key of entropy.json (dotted for nested scores)",
                           ok=lambda v: v != "")
    holdout_fraction: float = spec(0.25, expect="a number in (0, 1) (fit on runs <= this share of the largest)",
                                   ok=lambda v: 0 < v < 1)
    huber_delta: float = spec(0.05, expect="a number > 0", ok=lambda v: v > 0)
    n_starts: int = spec(16, expect="an integer >= 1", ok=lambda v: v >= 1)
    n_bootstrap: int = spec(50, expect="an integer >= 0", ok=lambda v: v >= 0)


@dataclass(kw_only=True)
class ExportConfig:
    """``export``: which run becomes the ONNX reference model, and how latency is measured."""

    variant: str = spec("full", expect="a variant of the grid", ok=lambda v: v != "")
    reference: str | dict = spec("best", expect="'best' or {n_layers: N, d_model: D} of the grid",
                                 ok=lambda v: v == "best" or (isinstance(v, dict) and set(v) == {"n_layers", "d_model"}
                                                              and all(_is_int(x) for x in v.values())))
    parity_rows: int = spec(256, expect="an integer >= 1", ok=lambda v: v >= 1)
    latency_batch: int = spec(1, expect="an integer >= 1", ok=lambda v: v >= 1)
    latency_repeats: int = spec(50, expect="an integer >= 1", ok=lambda v: v >= 1)


@dataclass
class Params:
    """The whole ``params.yaml``, checked."""

    seed: int
    data: DataConfig
    variants: dict[str, VariantConfig]
    entropy: EntropyConfig
    train: Recipe
    grid: GridConfig
    law: LawConfig
    export: ExportConfig
    path: str = "params.yaml"

    def variant(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ParamsError(f"{self.path}: variants.{name}: no such variant (have {', '.join(self.variants)})")
        return self.variants[name]

    def to_dict(self) -> dict:
        """Every value in effect, defaults included (what provenance hashes)."""
        return {"seed": self.seed, "data": asdict(self.data),
                "variants": {k: asdict(v) for k, v in self.variants.items()}, "entropy": asdict(self.entropy),
                "train": self.train.to_dict(), "grid": asdict(self.grid), "law": asdict(self.law),
                "export": asdict(self.export)}


def _seed(raw: dict, path: str) -> int:
    seed = raw.get("seed", 0)
    if not _is_int(seed) or seed < 0:
        raise ParamsError(f"{path}: seed = {seed!r}: expected an integer >= 0")
    return seed


def _read_yaml(path) -> dict:
    import yaml
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such params file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ParamsError(f"{path}: cannot read: {e}") from None
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(doc, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return doc


def params_from_dict(raw: dict, path: str = "params.yaml") -> Params:
    """Parse and cross-check a params mapping; the first problem found is refused with its key."""
    _mapping(raw, "", path, keys=("seed", "data", "variants", "entropy", "train", "grid", "law", "export"))
    seed = _seed(raw, path)
    variants = {str(k): parse(VariantConfig, v, f"variants.{k}", path)
                for k, v in _mapping(raw.get("variants"), "variants", path).items()}
    p = Params(seed=seed, data=parse(DataConfig, raw.get("data"), "data", path), variants=variants,
               entropy=parse(EntropyConfig, raw.get("entropy"), "entropy", path),
               train=parse_flat_recipe(raw.get("train"), "train", path, seed),
               grid=parse(GridConfig, raw.get("grid"), "grid", path),
               law=parse(LawConfig, raw.get("law"), "law", path),
               export=parse(ExportConfig, raw.get("export"), "export", path), path=str(path))
    for name in p.grid.variants:
        if name not in variants:
            raise ParamsError(f"{path}: grid.variants = {p.grid.variants!r}: expected names under 'variants' "
                              f"({', '.join(variants)}); {name!r} is not")
    for d in p.grid.d_model:
        if d % p.train.model.n_heads:
            raise ParamsError(f"{path}: grid.d_model = {p.grid.d_model!r}: expected multiples of train.n_heads "
                              f"({p.train.model.n_heads}); {d} is not")
        jpq = p.train.model.jpq
        if p.train.model.item_embedding == "jpq" and d % jpq.n_splits:
            raise ParamsError(f"{path}: grid.d_model = {p.grid.d_model!r}: expected multiples of "
                              f"train.jpq.n_splits ({jpq.n_splits}); {d} is not")
    if p.export.variant not in p.grid.variants:
        raise ParamsError(f"{path}: export.variant = {p.export.variant!r}: expected one of grid.variants "
                          f"({', '.join(p.grid.variants)})")
    ref = p.export.reference
    if isinstance(ref, dict) and (ref["n_layers"], ref["d_model"]) not in p.grid.points():
        raise ParamsError(f"{path}: export.reference = {ref!r}: expected a point of the grid "
                          f"(n_layers in {p.grid.n_layers}, d_model in {p.grid.d_model})")
    return p


def load_params(path="params.yaml") -> Params:
    """``params.yaml`` → :class:`Params`, or :class:`ParamsError` naming the key, before any work."""
    return params_from_dict(_read_yaml(path), str(path))


# ---------------------------------------------------------------- a study's params

@dataclass(kw_only=True)
class StudyGrid:
    """One depth × width grid of a study, trained under one named recipe."""

    recipe: str = spec(expect="a name under 'recipes'")
    variants: list[str] = spec(expect="a non-empty list of dataset variant names")
    depths: list[int] = spec(expect="a non-empty list of integers >= 1", ok=lambda v: min(v) >= 1)
    widths: list[int] = spec(expect="a non-empty list of integers >= 1", ok=lambda v: min(v) >= 1)

    def points(self) -> list[tuple[int, int]]:
        return [(n, d) for n in self.depths for d in self.widths]


@dataclass(kw_only=True)
class StudyLawConfig(LawConfig):
    """The study's law section: the pipeline's, plus the joint law's recipe and the data axes to compare."""

    joint_recipe: str = spec(expect="a name under 'recipes'")
    compare_data_scores: list[str] = spec(expect="a list of entropy.json keys", factory=list,
                                          ok=lambda v: all(x != "" for x in v))


@dataclass
class StudyParams:
    seed: int
    data_root: str
    recipes: dict[str, Recipe]
    grids: dict[str, StudyGrid]
    law: StudyLawConfig
    path: str
    raw: dict  # the document as written: shown in reports and hashed into provenance

    def recipe_of(self, grid: str) -> Recipe:
        return self.recipes[self.grids[grid].recipe]


def load_study_params(path) -> StudyParams:
    raw = _read_yaml(path)
    path = str(path)
    _mapping(raw, "", path, keys=("seed", "data_root", "recipes", "grids", "law"))
    seed = _seed(raw, path)
    data_root = raw.get("data_root", "../shared/data")
    if not isinstance(data_root, str) or not data_root:
        raise ParamsError(f"{path}: data_root = {data_root!r}: expected a folder path")
    recipes = {k: parse_nested_recipe(v, f"recipes.{k}", path, seed)
               for k, v in _mapping(raw.get("recipes"), "recipes", path).items()}
    grids = {k: parse(StudyGrid, v, f"grids.{k}", path) for k, v in _mapping(raw.get("grids"), "grids", path).items()}
    law = parse(StudyLawConfig, raw.get("law"), "law", path)
    for name, g in grids.items():
        if g.recipe not in recipes:
            raise ParamsError(f"{path}: grids.{name}.recipe = {g.recipe!r}: expected one of {', '.join(recipes)}")
    if law.joint_recipe not in recipes:
        raise ParamsError(f"{path}: law.joint_recipe = {law.joint_recipe!r}: expected one of {', '.join(recipes)}")
    return StudyParams(seed, data_root, recipes, grids, law, path, raw)
