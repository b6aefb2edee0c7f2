"""The real-data study's params file: grids under named recipes and the study's law section, typed and checked."""

from __future__ import annotations

from dataclasses import dataclass

from srlaw.core.errors import ParamsError
from srlaw.core.settings import mapping, parse, read_seed, read_yaml, spec
from srlaw.law.settings import LawConfig
from srlaw.train.settings import Recipe, parse_nested_recipe


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
    raw = read_yaml(path)
    path = str(path)
    mapping(raw, "", path, keys=("seed", "data_root", "recipes", "grids", "law"))
    seed = read_seed(raw, path)
    data_root = raw.get("data_root", "../shared/data")
    if not isinstance(data_root, str) or not data_root:
        raise ParamsError(f"{path}: data_root = {data_root!r}: expected a folder path")
    recipes = {k: parse_nested_recipe(v, f"recipes.{k}", path, seed)
               for k, v in mapping(raw.get("recipes"), "recipes", path).items()}
    grids = {k: parse(StudyGrid, v, f"grids.{k}", path) for k, v in mapping(raw.get("grids"), "grids", path).items()}
    law = parse(StudyLawConfig, raw.get("law"), "law", path)
    for name, g in grids.items():
        if g.recipe not in recipes:
            raise ParamsError(f"{path}: grids.{name}.recipe = {g.recipe!r}: expected one of {', '.join(recipes)}")
    if law.joint_recipe not in recipes:
        raise ParamsError(f"{path}: law.joint_recipe = {law.joint_recipe!r}: expected one of {', '.join(recipes)}")
    return StudyParams(seed, data_root, recipes, grids, law, path, raw)
