"""Shared fixtures: paths to the repo and to ../shared/data, and a helper that skips with a clear reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_configure(config):
    """Under pytest-xdist (`make test`: a worker per core) each worker, and what it starts, gets its share of the
    cores: torch's OpenMP would otherwise start a thread per core in every worker, and oversubscribed OpenMP
    threads spin-wait on each other."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        share = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, share)


def _shared_file(rel: str) -> Path:
    """A file under ../shared/data, or skip: licence-restricted data is never shipped with the project."""
    path = SHARED_DATA / rel
    if not path.is_file():
        pytest.skip(f"{path} not present: this dataset may not be redistributed, so it lives only in ../shared/data")
    return path


@pytest.fixture
def repo_copy(tmp_path):
    """A temporary copy of the project (sources, params, dvc.yaml, embedded data) with DVC initialised: of
    ``artifacts/`` only the law library's index, an input of the fit stage (a clone has it; the rest the pipeline
    writes)."""
    dst = tmp_path / "repo"
    ignore = shutil.ignore_patterns(".venv", ".git", "runs", "prepared", "__pycache__", ".pytest_cache", "artifacts",
                                    ".devdata", "*.egg-info", "tmp", "cache", ".gpu", "calibrated", "mlruns")
    shutil.copytree(ROOT, dst, ignore=ignore)
    for name in ("dvc.yaml", "dvc.lock"):  # the law library's own pipeline: the index stands in for its release
        (dst / "library" / name).unlink(missing_ok=True)
    (dst / "artifacts" / "laws").mkdir(parents=True)
    for name in ("index.json", "manifest.json"):  # the index loads only with its manifest
        shutil.copy2(ROOT / "artifacts" / "laws" / name, dst / "artifacts" / "laws" / name)
    return dst


@pytest.fixture
def shared_file():
    """``shared_file('ml-1m/ml-1m.txt')``: the path, or a skip naming why the file is not here."""
    return _shared_file


def _dvc_env(tmp_path) -> dict:
    """Environment for a subprocess `dvc`: no analytics, a private site cache, this venv's `srlaw` on PATH."""
    env = dict(os.environ)
    env["DVC_NO_ANALYTICS"] = "1"
    env["DVC_SITE_CACHE_DIR"] = str(tmp_path / "dvc-site-cache")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture
def dvc(tmp_path):
    """``dvc(args, cwd)``: run this venv's dvc with a controlled environment; assert it succeeded."""
    env = _dvc_env(tmp_path)

    def run(args, cwd, timeout=900):
        exe = Path(sys.executable).parent / "dvc"
        proc = subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc
    return run
