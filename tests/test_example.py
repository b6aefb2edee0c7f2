"""examples/production_config.py against the law artifact that `dvc repro` produced (committed under artifacts/)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from srlaw.predictor import Law

ROOT = Path(__file__).resolve().parents[1]
LAW = ROOT / "artifacts" / "law"


def run_example(*args):
    return subprocess.run([sys.executable, str(ROOT / "examples" / "production_config.py"), "--law", str(LAW), *args],
                          capture_output=True, text=True, timeout=60)


def test_example_picks_the_cheapest_config_meeting_the_target():
    if not (LAW / "law.json").is_file():
        pytest.fail(f"{LAW}/law.json missing: run `make repro` and commit artifacts/law")
    law = Law.load(LAW)
    best = law.advise(objective="max", variant="full").ranked[0]
    target = 0.9 * best["ndcg@10"]
    proc = run_example("--target-ndcg", str(target), "--max-params", "5e6")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert cfg["status"] == "ok" and cfg["expected"]["ndcg@10"]["value"] >= target
    assert cfg["params_total"] <= best["params_total"]
    cheapest = law.advise(target={"ndcg@10": target}, budget={"params": 5e6}, variant="full").ranked[0]
    assert (cfg["model"]["n_layers"], cfg["model"]["d_model"]) == (cheapest["n_layers"], cheapest["d_model"])


def test_example_reports_binding_constraint():
    proc = run_example("--target-ndcg", "0.99", "--max-params", "5e6")
    assert proc.returncode == 1
    cfg = json.loads(proc.stdout)
    assert cfg["status"] == "infeasible" and cfg["binding"] == "target"


def test_example_honours_a_pinned_manifest():
    import hashlib
    pin = hashlib.sha256((LAW / "manifest.json").read_bytes()).hexdigest()
    ok = run_example("--max-params", "5e6", "--sha256", pin)
    assert ok.returncode == 0, ok.stderr
    wrong = run_example("--max-params", "5e6", "--sha256", "0" * 64)
    assert wrong.returncode == 2 and "is not the pinned" in wrong.stderr


@pytest.mark.parametrize("law", ["artifacts/law", "artifacts/laws/library/ml-1m", "artifacts/laws/ml-1m", "calibrated"])
def test_a_production_config_for_every_kind_of_law(law, tmp_path):
    """Pipeline, library, released study and calibrated laws: size, whole recipe, prediction, pinned law."""
    import hashlib
    from srlaw.cli import main
    if law == "calibrated":
        law = str(tmp_path / "cal")
        assert main(["calibrate", "--input", str(ROOT / "data" / "ml-latest-small" / "ratings.csv"), "--format",
                     "movielens-csv", "--runs", "0", "--out", law]) == 0
    path = Path(law) if Path(law).is_absolute() else ROOT / law
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "production_config.py"), "--law", str(path),
                           "--max-params", "5e6"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    doc = Law.load(path).doc
    assert cfg["model"]["n_layers"] >= 1 and cfg["model"]["backbone"] == doc["training_protocol"]["train"]["backbone"]
    assert cfg["recipe"]["train"] == doc["training_protocol"]["train"]  # the whole recipe a training job needs
    lo, hi = cfg["expected"]["ndcg@10"]["interval"]
    assert lo <= cfg["expected"]["ndcg@10"]["value"] <= hi
    assert cfg["law"]["manifest_sha256"] == hashlib.sha256((path / "manifest.json").read_bytes()).hexdigest()
    if law.endswith("cal"):  # calibrate timed the law's shapes on this machine: latency answers, under the manifest
        assert cfg["latency_ms"] is not None and cfg["latency_ms"] > 0
        assert set(json.loads((path / "manifest.json").read_text())["files"]) == {"law.json", "latency.json"}
    assert "heldout_mape" in cfg["law"]["validation"]
    # the interval is only called 95 % where it covered about that when checked
    label = cfg["expected"]["ndcg@10"]["interval_label"]
    measured = cfg["law"]["validation"]["coverage95_single_runs"]
    assert label.startswith("95 %") or (measured is not None and f"covered {100 * measured:.0f} %" in label)
