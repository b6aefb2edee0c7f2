"""An exploration, not a release: should the library's shape be fitted on sizes rather than on runs?

    python -m studies.library.shape_weights     # reports/shape_weights.md and .json (≈ 5 min on one core)

The released fit takes every run as a point, so a size trained with three seeds weighs three times one trained
once, and seeds were added unevenly (first at the wide held-out sizes, later at 1 × 64, 2 × 64 and 4 × 32 of the
small cuts). The alternative fits the shape on one point per dataset and size, the mean of its runs' log metric
(``fit_library(per_size=True)``); the noise is fitted on the runs either way. Both are scored by the checks a user
relies on: ``validate``'s whole-source-out and one-out checks at every K (default budget), and ``extrapolate``'s
library law (fit set ≤ 2 × 32) one out and whole source out — MAPE at 4–10× and ≥ 10×, and ``advise`` regret.

The rule, fixed before the first run: the fit on sizes is released only if no median or worst figure of the
whole-source-out check gets worse.
"""

from __future__ import annotations

import sys

import numpy as np

from srlaw.library.extrapolate import source_out
from srlaw.library.grid import same_source
from srlaw.library.shape import collapse_counts, library_without, unstable_sizes
from srlaw.library.store import METRICS, ROOT, report_main, store_digest
from srlaw.library.validate import KS, evaluate, summarise
from srlaw.report.format import pct

REPORT = ROOT / "reports" / "shape_weights.md"
WEIGHTINGS = {"runs": ("every run a point (as released)", False),
              "sizes": ("one point per dataset and size, the mean of its runs' log metric", True)}
SPLITS = ("4-10x", "10x+")
LABEL = {"ndcg@10": "NDCG@10", "hr@10": "HR@10"}


def extrapolation(records: list[dict], datasets: dict, hold: str, fits: dict, also=()) -> dict:
    """``extrapolate``'s library law for ``hold`` calibrated on its runs up to 2 × 32 with ``fits`` (the library
    without ``hold`` and ``also``): MAPE per metric and split, and the worst ``advise`` regret over the budgets."""
    mine = [r for r in records if r["variant"] == hold]
    apart = [r for r in records if r["variant"] != hold and r["variant"] not in also]
    out = source_out(mine, datasets[hold], fits, unstable_sizes(apart), collapse_counts(apart), sorted(also))
    return {"mape": {m: {s: v["library"]["mape"] for s, v in out["metrics"][m]["splits"].items()} for m in METRICS},
            "regret_worst": max(r["regret"] for r in out["regret"])}


def study(records: list[dict], datasets: dict) -> dict:
    out = {}
    for name, (desc, per_size) in WEIGHTINGS.items():
        one, whole, extra = [], [], {}
        for hold in sorted(datasets):
            fits = library_without(records, datasets, hold, per_size=per_size)
            one += [evaluate(records, datasets, hold, k, fits) for k in KS]
            extra[hold] = {"one_out": extrapolation(records, datasets, hold, fits)}
            siblings = (same_source(hold) & set(datasets)) - {hold}
            if siblings:  # every cut of the source out; without siblings that is the one-out check itself
                strict = library_without(records, datasets, hold, siblings, per_size=per_size)
                whole += [evaluate(records, datasets, hold, k, strict, also=siblings) for k in KS]
                extra[hold]["source_out"] = extrapolation(records, datasets, hold, strict, siblings)
            else:
                whole += one[-len(KS):]
                extra[hold]["source_out"] = extra[hold]["one_out"]
        out[name] = {"description": desc, "source_out": summarise(whole), "one_out": summarise(one),
                     "per_dataset": {f"{r['dataset']}|{r['k']}": {m: r["metrics"][m]["mape"] for m in METRICS}
                                     for r in whole},
                     "extrapolation": extra}
    return {"datasets": sorted(datasets), "store_digest": store_digest(records), "weightings": out}


def figures(doc: dict, check: str = "source_out") -> list[tuple[str, float, float]]:
    """(label, runs, sizes) for every median and worst MAPE of ``check`` at every K."""
    a, b = doc["weightings"]["runs"][check], doc["weightings"]["sizes"][check]
    return [(f"{LABEL[m]} {stat} at K = {k}", a[f"{m}|{k}"][f"mape_{stat}"], b[f"{m}|{k}"][f"mape_{stat}"])
            for k in KS for m in METRICS for stat in ("median", "worst")]


def _summary_rows(doc: dict, check: str) -> list[str]:
    a, b = doc["weightings"]["runs"][check], doc["weightings"]["sizes"][check]
    lines = ["| K | metric | runs: MAPE median / worst | sizes: MAPE median / worst | coverage of single runs: "
             "runs / sizes |", "|---|---|---|---|---|"]
    for k in KS:
        for m in METRICS:
            x, y = a[f"{m}|{k}"], b[f"{m}|{k}"]
            lines.append(f"| {k} | {LABEL[m]} | {pct(x['mape_median'])} / {pct(x['mape_worst'])} | "
                         f"{pct(y['mape_median'])} / {pct(y['mape_worst'])} | {pct(x['coverage_runs'])} / "
                         f"{pct(y['coverage_runs'])} |")
    return lines


def markdown(doc: dict) -> str:
    runs, sizes = doc["weightings"]["runs"], doc["weightings"]["sizes"]
    lines = ["# Fitting the library's shape on sizes rather than runs (an exploration)", "",
             "Regenerate: `python -m studies.library.shape_weights`. JSON beside this file. What it is and the rule "
             "that decides it: the module's docstring. **runs**: " + runs["description"] + "; **sizes**: "
             + sizes["description"] + f". {len(doc['datasets'])} datasets; MAPE median / worst dataset against seed "
             "means at the held-out sizes, as in [`calibration.md`](calibration.md).", "",
             "## The whole source left out", "", *_summary_rows(doc, "source_out"), "",
             "## One dataset left out", "", *_summary_rows(doc, "one_out"), "",
             "## Per dataset, the whole source left out, K = 1", "",
             "| dataset | NDCG@10: runs / sizes | HR@10: runs / sizes |", "|---|---|---|"]
    for v in doc["datasets"]:
        a, b = runs["per_dataset"][f"{v}|1"], sizes["per_dataset"][f"{v}|1"]
        lines.append(f"| {v} | {pct(a['ndcg@10'])} / {pct(b['ndcg@10'])} | {pct(a['hr@10'])} / {pct(b['hr@10'])} |")
    lines += ["", "## Scale extrapolation (the library law on runs up to 2 × 32)", "",
              "NDCG@10 MAPE at 4–10× / ≥ 10× and the worst `advise` regret over the budgets, runs → sizes.", "",
              "| dataset | one out: NDCG@10 | regret | whole source out: NDCG@10 | regret |", "|---|---|---|---|---|"]
    for v in doc["datasets"]:
        cells = []
        for check in ("one_out", "source_out"):
            a, b = runs["extrapolation"][v][check], sizes["extrapolation"][v][check]
            cells += [" / ".join(f"{pct(a['mape']['ndcg@10'].get(s))} → {pct(b['mape']['ndcg@10'].get(s))}"
                                 for s in SPLITS),
                      f"{pct(a['regret_worst'])} → {pct(b['regret_worst'])}"]
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    moved = [f"{v} {check.replace('_', ' ')} {pct(a['regret_worst'])} → {pct(b['regret_worst'])}"
             for v in doc["datasets"] for check in ("one_out", "source_out")
             for a, b in [(runs["extrapolation"][v][check], sizes["extrapolation"][v][check])]
             if abs(a["regret_worst"] - b["regret_worst"]) > 0.005]
    shift = max(abs(runs["extrapolation"][v][c]["mape"][m][s] - sizes["extrapolation"][v][c]["mape"][m][s])
                for v in doc["datasets"] for c in ("one_out", "source_out") for m in METRICS
                for s in runs["extrapolation"][v][c]["mape"][m])
    lines += ["", f"Extrapolation MAPE moves by at most {100 * shift:.1f} points (either metric, any split); the "
              "worst regret moves by more than half a point on " + ("; ".join(moved) if moved else "no dataset") + "."]
    worse = [f"{label} ({pct(b)} against {pct(a)})" for label, a, b in figures(doc) if b > a]
    better = [label for label, a, b in figures(doc) if b < a]
    lines += ["", "## Verdict", "",
              f"Fitted on sizes, the whole-source-out check is better in {len(better)} and worse in {len(worse)} of "
              f"{len(figures(doc))} figures" + (": " + "; ".join(worse) + "." if worse else "."),
              "By the rule of the module's docstring the released library "
              + ("fits the shape on sizes." if not worse else "keeps fitting the shape on every run."), ""]
    return "\n".join(lines) + "\n"


def show(doc: dict) -> None:
    for label, a, b in figures(doc):
        print(f"{label:28s} runs {100 * a:5.1f} %  sizes {100 * b:5.1f} %")


def main(argv=None) -> int:
    return report_main(argv, "shape_weights", __doc__, REPORT, study, markdown, show, min_datasets=4)


if __name__ == "__main__":
    sys.exit(main())
