"""The pipeline's ``params.yaml``, parsed once and cross-checked: every stage receives these objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from srlaw.core.errors import ParamsError
from srlaw.core.settings import is_int, mapping, parse, read_seed, read_yaml, spec
from srlaw.data.settings import DataConfig, EntropyConfig, VariantConfig
from srlaw.law.settings import LawConfig
from srlaw.train.settings import Recipe, parse_flat_recipe


@dataclass(kw_only=True)
class GridConfig:
    """The ``train`` stage's matrix."""

    variants: list[str] = spec(expect="a non-empty list of variant names")
    n_layers: list[int] = spec(expect="a non-empty list of integers >= 1", ok=lambda v: min(v) >= 1)
    d_model: list[int] = spec(expect="a non-empty list of integers >= 1", ok=lambda v: min(v) >= 1)

    def points(self) -> list[tuple[int, int]]:
        return [(n, d) for n in self.n_layers for d in self.d_model]


@dataclass(kw_only=True)
class ExportConfig:
    """``export``: which run becomes the ONNX reference model, and how latency is measured."""

    variant: str = spec("full", expect="a variant of the grid", ok=lambda v: v != "")
    reference: str | dict = spec("best", expect="'best' or {n_layers: N, d_model: D} of the grid",
                                 ok=lambda v: v == "best" or (isinstance(v, dict) and set(v) == {"n_layers", "d_model"}
                                                              and all(is_int(x) for x in v.values())))
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


def params_from_dict(raw: dict, path: str = "params.yaml") -> Params:
    """Parse and cross-check a params mapping; the first problem found is refused with its key."""
    mapping(raw, "", path, keys=("seed", "data", "variants", "entropy", "train", "grid", "law", "export"))
    seed = read_seed(raw, path)
    variants = {str(k): parse(VariantConfig, v, f"variants.{k}", path)
                for k, v in mapping(raw.get("variants"), "variants", path).items()}
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
    return params_from_dict(read_yaml(path), str(path))
