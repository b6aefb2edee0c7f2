"""The record of recipes tried for the default pipeline: docs/pipeline.md's table is its JSON, and the shipped
entry is the committed law of `make repro`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from studies import pipeline_recipes as pr

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_table_is_the_record_and_the_shipped_entry_is_the_committed_law():
    page = pr.DOC.read_text()
    assert pr.docs_text(page) == page, \
        "docs/pipeline.md's recipe table is stale: python -m studies.pipeline_recipes docs"
    doc = json.loads(pr.REPORT.read_text())
    law = json.loads((ROOT / "artifacts/law/law.json").read_text())
    assert doc["experiments"]["shipped"]["law"] == json.loads(json.dumps(pr.law_figures(law))), \
        "the shipped entry is not today's law: python -m studies.pipeline_recipes record shipped --from . --what ..."
    assert doc["experiments"]["shipped"]["train_changed"] == {}
    assert len(doc["experiments"]["shipped"]["runs"]) == len(law["runs"])


def test_record_reads_a_finished_pipeline_and_names_what_its_recipe_changed(tmp_path, monkeypatch):
    other = tmp_path / "copy"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["patience"] = 99
    (other / "artifacts/law").mkdir(parents=True)
    (other / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copyfile(ROOT / "artifacts/law/law.json", other / "artifacts/law/law.json")
    run = other / "runs/full-1-16"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({
        "variant": "full", "n_layers": 1, "d_model": 16, "epochs": 9, "best_epoch": 5, "stopped_by": "early_stopping",
        "test": {"hr@10": 0.1, "ndcg@10": 0.05, "mrr": 0.03}}))
    (run / "run.json").write_text(json.dumps({"train_seconds": 12.5, "device": "cpu"}))
    monkeypatch.setattr(pr, "REPORT", tmp_path / "recipes.json")
    doc = pr.record("patient", other, "more patience")
    entry = doc["experiments"]["patient"]
    assert entry["train_changed"] == {"patience": 99} and entry["runs"][0]["test"] == {"hr@10": 0.1, "ndcg@10": 0.05}
    assert "| patient | patience 99 | 1 of 1 | `" in pr.table()
