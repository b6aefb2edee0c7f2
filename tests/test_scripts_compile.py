"""Benchmark and study scripts run for hours outside the suite: each must at least compile and show its help."""

import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "studies").rglob("*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_compiles(path):
    py_compile.compile(str(path), doraise=True)


@pytest.mark.parametrize("name", ["bench_calibrate", "bench_law_fit", "bench_recjpq", "bench_step_cost",
                                  "bench_time_to_quality"])
def test_training_benchmark_imports_and_shows_help(name):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
