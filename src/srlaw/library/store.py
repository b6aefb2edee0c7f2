"""The library's run store (``reports/library_runs/*.json``, written by ``python -m srlaw.library.train collect``) as records."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from srlaw.library.fits import METRICS

ROOT = Path(".")  # the project the library is built in: its commands run from its root (the DVC stages' wdir)
STORE = ROOT / "reports" / "library_runs"


def write_report(path: Path, doc: dict, text: str) -> None:
    """A report as Markdown at ``path`` and its numbers as JSON beside it."""
    from srlaw.core.atomic import write_bytes_atomic, write_json_atomic
    write_json_atomic(Path(path).with_suffix(".json"), doc)
    write_bytes_atomic(Path(path), text.encode())


def missing_grid(runs: list[dict]) -> list[tuple[int, int]]:
    """The plan's grid sizes (depth, width) without a finished seed-0 run among ``runs``."""
    from srlaw.library.grid import DEPTHS, WIDTHS
    have = {(r["n_layers"], r["d_model"]) for r in runs if r["finished"] and r["seed"] == 0}
    return [(n, d) for n in DEPTHS for d in WIDTHS if (n, d) not in have]


def load_store(store: Path = STORE) -> tuple[list[dict], dict]:
    """(records, datasets): one record per finished run (test metrics and loss, size, seed, epochs, seconds, device);
    per dataset its user and item counts, content hash, scores and recipe. A dataset enters only with its whole
    seed-0 grid finished: the library's fits, calibration checks and releases compare datasets on one grid."""
    records, datasets = [], {}
    for path in sorted(Path(store).glob("*.json")):
        doc = json.loads(path.read_text())
        runs = [r for r in doc["runs"] if r["finished"]]
        if not runs or "data" not in doc:
            continue
        v = doc["variant"]
        if missing := missing_grid(runs):
            print(f"store: {v} left out until its grid is trained; no finished run at "
                  f"{', '.join(f'{n}x{d}' for n, d in missing)}", file=sys.stderr)
            continue
        scores = _scores(doc["scores"])
        datasets[v] = {"name": v, **doc["data"], "scores": scores, "probe": scores["markov_ndcg@10"],
                       "recipe_name": doc["recipe_name"], "recipe": doc["recipe"]}
        for r in runs:
            records.append({"variant": v, "n_layers": r["n_layers"], "d_model": r["d_model"], "seed": r["seed"],
                            "params_non_embedding": r["params_non_embedding"], "epochs": r["epochs"],
                            "train_seconds": _train_seconds(r), "device": r["device"],
                            "stopped_by": r["stopped_by"], **{m: r["test"][m] for m in METRICS},
                            "loss": r["test"].get("loss"),  # full-catalogue cross-entropy of the chosen checkpoint
                            "curve": {m: [row["valid"][m] for row in r["curve"] if "valid" in row] for m in METRICS}})
    return records, datasets


def _train_seconds(run: dict) -> float:
    """A run's training seconds. A run resumed before the trainer counted the killed attempt's epochs recorded the
    last attempt's time only; no run trains in less than its curve's epochs took, so it counts those."""
    return max(run["train_seconds"], float(sum(row["seconds"] for row in run["curve"])))


def _scores(scores: dict) -> dict:
    """A dataset's scores with today's names: stores collected before the entropy window had its own name call it
    ``max_len`` (the same setting: each user's last items the scores read)."""
    params = scores.get("params", {})
    if "max_len" not in params:
        return scores
    return {**scores, "params": {("window" if k == "max_len" else k): v for k, v in params.items()}}


def store_digest(records: list[dict]) -> str:
    """sha256 of the records (:func:`load_store`): a report written from them says which store it describes, so a
    release never copies the numbers of another store into its laws."""
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


def report_main(argv, name: str, description: str, default_out: Path, build, render, show,
                min_datasets: int = 1, figures=None) -> int:
    """The command line of a report on the store: ``--store``, ``--out``; ``build(records, datasets)`` → doc,
    written as ``render(doc)`` Markdown with its JSON (and ``figures(doc, out)``'s plots, where given);
    ``show(doc)`` prints the terminal summary."""
    p = argparse.ArgumentParser(prog=f"python -m srlaw.library.{name}", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, default=STORE)
    p.add_argument("--out", type=Path, default=default_out)
    args = p.parse_args(argv)
    records, datasets = load_store(args.store)
    if len(datasets) < min_datasets:
        print(f"{name}: need >= {min_datasets} datasets with finished runs in {args.store}, found {sorted(datasets)}",
              file=sys.stderr)
        return 2
    doc = build(records, datasets)
    if figures is not None:
        figures(doc, args.out)
    write_report(args.out, doc, render(doc))
    show(doc)
    return 0
