"""The real-data study's configuration (``studies/real_data/params.yaml``), read and checked in one place."""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PARAMS = HERE / "params.yaml"
RUNS_DIR = ROOT / "reports" / "study_runs"


def load_params(path: Path = PARAMS) -> dict:
    """The study parameters, with every grid's recipe checked to exist."""
    doc = yaml.safe_load(path.read_text())
    for key in ("recipes", "grids", "law"):
        if key not in doc:
            raise SystemExit(f"{path}: missing top-level field {key!r}")
    for name, grid in doc["grids"].items():
        for key in ("recipe", "variants", "depths", "widths"):
            if key not in grid:
                raise SystemExit(f"{path}: grids.{name} lacks field {key!r}")
        if grid["recipe"] not in doc["recipes"]:
            raise SystemExit(f"{path}: grids.{name}.recipe {grid['recipe']!r} is not one of {sorted(doc['recipes'])}")
    return doc


def runs_path(grid: str, runs_dir: Path = RUNS_DIR) -> Path:
    return Path(runs_dir) / f"{grid.replace('/', '_')}.json"
