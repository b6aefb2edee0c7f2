"""Where the real-data study keeps its parameters and runs, and how its runs train (one place for both scripts)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from srlaw.train.settings import Recipe, TrainConfig
from studies.real_data.study_params import StudyParams, load_study_params

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PARAMS = HERE / "params.yaml"
RUNS_DIR = ROOT / "reports" / "study_runs"


def load_params(path: Path = PARAMS) -> StudyParams:
    """The study parameters, typed and checked (``study_params``)."""
    return load_study_params(path)


def run_config(recipe: Recipe) -> TrainConfig:
    """What a study run trains with: the recipe, non-deterministic kernels allowed (GPU speed), no progress bar."""
    return replace(recipe.train, deterministic=False, progress_bar=False)


def runs_path(grid: str, runs_dir: Path = RUNS_DIR) -> Path:
    return Path(runs_dir) / f"{grid.replace('/', '_')}.json"
