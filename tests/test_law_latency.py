"""`srlaw latency --law DIR`: any law's candidate shapes timed on this machine, under the law's manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from srlaw.cli import main
from srlaw.predictor import Law

ROOT = Path(__file__).resolve().parents[1]


def test_a_library_law_gets_latency_and_latency_budgets_work(tmp_path, capsys):
    law_dir = tmp_path / "ml-1m"
    shutil.copytree(ROOT / "artifacts" / "laws" / "library" / "ml-1m", law_dir)
    assert main(["advise", "--law", str(law_dir), "--max-latency-ms", "2"]) == 2  # no measurement yet: said so
    assert "no latency.json" in capsys.readouterr().err
    assert main(["latency", "--law", str(law_dir), "--n-items", "500", "--repeats", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    doc = json.loads((law_dir / "latency.json").read_text())
    law = Law.load(law_dir)  # the manifest lists the measurement: still verified
    assert set(json.loads((law_dir / "manifest.json").read_text())["files"]) == {"law.json", "latency.json"}
    assert doc["n_items"] == 500 and "CPUExecutionProvider" in doc["runtime"]
    depths = {r["n_layers"] for r in doc["configs"]}
    assert depths == set(range(1, int(law.doc["domain"]["n_layers"][1]) + 1))
    assert main(["advise", "--law", str(law_dir), "--n-items", "500", "--max-latency-ms", "50", "--json"]) == 0
    ranked = json.loads(capsys.readouterr().out)["ranked"]
    assert ranked and all(r["latency_ms"] is not None and r["latency_ms"] <= 50 for r in ranked)


def test_the_pipelines_law_keeps_its_stage(capsys):
    before = (ROOT / "artifacts" / "law" / "latency.json").read_bytes()
    assert main(["latency", "--law", str(ROOT / "artifacts" / "law")]) == 2
    assert "its latency is the latency stage's" in capsys.readouterr().err
    assert (ROOT / "artifacts" / "law" / "latency.json").read_bytes() == before
