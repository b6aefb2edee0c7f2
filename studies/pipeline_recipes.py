"""Which training recipe makes the default pipeline's law (``make repro``) best? A record of tried recipes.

    python -m studies.pipeline_recipes record NAME --from DIR --what TEXT   # add DIR's finished pipeline
    python -m studies.pipeline_recipes record shipped --from . --what ...    # today's params.yaml, after make repro
    python -m studies.pipeline_recipes docs                                 # docs/pipeline.md's table

``record`` reads a copy of this repository where ``dvc repro`` finished under changed ``params.yaml`` values: its
runs (epochs, why they stopped, test metrics, seconds) and its law's held-out validation, and stores them under
NAME in ``reports/pipeline_recipes.json`` with the ``train`` settings that differ from today's params.yaml.
``docs`` writes the comparison table of ``docs/pipeline.md`` (between its markers) from that file, so no number
there is typed by hand; a test holds the ``shipped`` entry to the committed law of ``make repro``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from srlaw.core.atomic import write_bytes_atomic, write_json_atomic
from srlaw.core.pages import with_block
from srlaw.report.format import pct

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "pipeline_recipes.json"
DOC = ROOT / "docs" / "pipeline.md"
MARKERS = ("<!-- recipes: begin (python -m studies.pipeline_recipes docs writes this table) -->",
           "<!-- recipes: end -->")
METRICS = ("hr@10", "ndcg@10")


def pipeline_record(root: Path) -> dict:
    """The runs and the law's held-out figures of the finished pipeline in ``root``."""
    runs = []
    for path in sorted((root / "runs").glob("*/metrics.json")):
        m, r = json.loads(path.read_text()), json.loads((path.parent / "run.json").read_text())
        runs.append({"run": path.parent.name, "variant": m["variant"], "n_layers": m["n_layers"],
                     "d_model": m["d_model"], "epochs": m["epochs"], "best_epoch": m["best_epoch"],
                     "stopped_by": m["stopped_by"], "test": {k: m["test"][k] for k in METRICS},
                     "train_seconds": r["train_seconds"], "device": r["device"]})
    law = json.loads((root / "artifacts" / "law" / "law.json").read_text())
    return {"runs": runs, "law": law_figures(law)}


def law_figures(law: dict) -> dict:
    """A law's form and, per metric, held-out MAPE, worst regret, interval coverage and the noise floor."""
    v = law["validation"]
    se, floor = v["scale_extrapolation"], v.get("noise_floor", {})
    library = v.get("selection", {}).get("forms", {}).get("shared_power", {})
    return {"form": law["form"], "metrics": {m: {
        "heldout_mape": se[m]["mape"], "heldout_points": se[m]["n"],
        "library_form_mape": library.get(m, {}).get("scale_extrapolation_mape"),
        "regret_median": se[m].get("regret", {}).get("median"), "regret_worst": se[m].get("regret", {}).get("max"),
        "coverage95": se[m].get("coverage95", {}).get("coverage"),
        "noise_floor_median": floor.get(m, {}).get("relative_se_bound_median")} for m in METRICS}}


def changed_settings(root: Path) -> dict:
    """``train`` settings of ``root``'s params.yaml that differ from this repository's."""
    ours, theirs = (yaml.safe_load((p / "params.yaml").read_text())["train"] for p in (ROOT, root))
    return {k: v for k, v in theirs.items() if ours.get(k) != v}


def record(name: str, root: Path, what: str) -> dict:
    doc = json.loads(REPORT.read_text()) if REPORT.is_file() else {"experiments": {}}
    doc["experiments"][name] = {"what": what, "train_changed": changed_settings(root), **pipeline_record(root)}
    write_json_atomic(REPORT, doc)
    return doc


def _row(name: str, what: str, runs: list[dict], law: dict) -> str:
    stopped = sum(r["stopped_by"] == "early_stopping" for r in runs)
    m = law["metrics"]

    def cell(key: str) -> str:  # "HR@10 / NDCG@10"; a dash where a figure was not measured
        return " / ".join(pct(m[k][key]) if m[k].get(key) is not None else "—" for k in METRICS)

    return (f"| {name} | {what} | {stopped} of {len(runs)} | `{law['form']}` | {cell('heldout_mape')} | "
            f"{cell('regret_worst')} | {cell('coverage95')} | {cell('library_form_mape')} | "
            f"{cell('noise_floor_median')} |")


def table() -> str:
    """The comparison of every recorded recipe (``shipped``: today's params.yaml, recorded from this checkout)."""
    doc = json.loads(REPORT.read_text())
    lines = ["| recipe | what changed | runs early-stopped | law (the winning form) | held-out MAPE HR@10 / NDCG@10 "
             "| worst `advise` regret | 95 % coverage | `shared_power` held-out MAPE | noise floor (one run's s.e., "
             "median) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, e in sorted(doc["experiments"].items(), key=lambda kv: (kv[0] != "shipped", kv[0])):
        changed = ", ".join(f"{k} {v}" for k, v in e["train_changed"].items()) or "—"
        lines.append(_row(name, changed, e["runs"], e["law"]))
    return "\n".join(lines)


def docs_text(text: str) -> str:
    return with_block(text, *MARKERS, table(), DOC)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("name")
    r.add_argument("--from", dest="root", type=Path, required=True)
    r.add_argument("--what", required=True)
    sub.add_parser("docs")
    args = p.parse_args(argv)
    if args.cmd == "record":
        record(args.name, args.root, args.what)
    write_bytes_atomic(DOC, docs_text(DOC.read_text()).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
