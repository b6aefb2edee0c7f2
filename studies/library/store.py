"""The library's run store (``reports/library_runs/*.json``, written by ``train_library collect``) as records."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "reports" / "library_runs"
METRICS = ("hr@10", "ndcg@10")


def write_report(path: Path, doc: dict, text: str) -> None:
    """A report as Markdown at ``path`` and its numbers as JSON beside it."""
    from srlaw.atomic_write import write_bytes_atomic, write_json_atomic
    write_json_atomic(Path(path).with_suffix(".json"), doc)
    write_bytes_atomic(Path(path), text.encode())


def load_store(store: Path = STORE) -> tuple[list[dict], dict]:
    """(records, datasets): one record per finished run (test metrics and loss, size, seed, epochs, seconds, device);
    per dataset its user and item counts, content hash, scores and recipe."""
    records, datasets = [], {}
    for path in sorted(Path(store).glob("*.json")):
        doc = json.loads(path.read_text())
        runs = [r for r in doc["runs"] if r["finished"]]
        if not runs or "data" not in doc:
            continue
        v = doc["variant"]
        datasets[v] = {"name": v, **doc["data"], "scores": doc["scores"], "probe": doc["scores"]["markov_ndcg@10"],
                       "recipe_name": doc["recipe_name"], "recipe": doc["recipe"]}
        for r in runs:
            records.append({"variant": v, "n_layers": r["n_layers"], "d_model": r["d_model"], "seed": r["seed"],
                            "params_non_embedding": r["params_non_embedding"], "epochs": r["epochs"],
                            "train_seconds": r["train_seconds"], "device": r["device"],
                            "stopped_by": r["stopped_by"], **{m: r["test"][m] for m in METRICS},
                            "loss": r["test"].get("loss"),  # full-catalogue cross-entropy of the chosen checkpoint
                            "curve": {m: [row["valid"][m] for row in r["curve"] if "valid" in row] for m in METRICS}})
    return records, datasets
