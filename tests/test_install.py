"""The install extras never put onnxruntime and onnxruntime-gpu in one environment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = {"onnxruntime", "onnxruntime-gpu"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def test_each_runtime_has_its_own_extra_and_nothing_else_names_one():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    named = {extra: {_name(r) for r in reqs} & RUNTIMES for extra, reqs in extras.items()}
    assert named["cpu"] == {"onnxruntime"} and named["gpu"] == {"onnxruntime-gpu"}
    assert all(not runtimes for extra, runtimes in named.items() if extra not in ("cpu", "gpu")), named
    assert not {_name(r) for r in project["dependencies"]} & RUNTIMES


def test_documented_installs_take_one_runtime():
    texts = (ROOT / "Makefile").read_text() + (ROOT / "README.md").read_text()
    combos = re.findall(r"-e '\.\[([a-z,]+)\]'", texts)
    assert combos, "the Makefile and README name the extras they install"
    for combo in combos:
        chosen = set(combo.split(","))
        assert len(chosen & {"cpu", "gpu"}) <= 1, combo
        if "train" in chosen:  # training exports ONNX and checks it: it needs a runtime
            assert chosen & {"cpu", "gpu"}, combo


def test_gpu_install_resolves_without_the_cpu_runtime(tmp_path):
    """`pip install --dry-run` of the GPU path resolves onnxruntime-gpu and never onnxruntime (≈ 1 min)."""
    import json
    import subprocess
    import sys

    import pytest

    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), "-e", f"{ROOT}[train,gpu]", "torch==2.13.0"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and any(w in proc.stderr for w in ("NewConnectionError", "Temporary failure", "timed out")):
        pytest.skip(f"the package index cannot be reached: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "onnxruntime-gpu" in names and "onnxruntime" not in names
