"""Where the pipeline of ``dvc.yaml`` reads and writes, relative to the project root (DVC runs every stage there)."""

from __future__ import annotations

from pathlib import Path

PREPARED_DIR = Path("data/prepared")
SCORES_DIR = Path("data/scores")
RUNS_DIR = Path("runs")
ARTIFACTS = Path("artifacts")
LAW_DIR = ARTIFACTS / "law"
LATENCY_PATH = LAW_DIR / "latency.json"
CURVES_PATH = ARTIFACTS / "curves.csv"


def run_name(variant: str, n_layers: int, d_model: int) -> str:
    """The folder of one grid point under :data:`RUNS_DIR`."""
    return f"{variant}-{n_layers}-{d_model}"
