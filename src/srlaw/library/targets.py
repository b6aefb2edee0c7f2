"""Where the law library stands against its targets: one table per check, read off the reports' JSON.

    python -m srlaw.library.targets    # reports/targets.md + reports/targets.json, and docs/results.md's summary

Inputs: ``reports/calibration.json`` (calibration: leave one dataset out, and the whole source out), ``reports/
extrapolation.json`` (extrapolation: the ``library`` law beyond its fit set), ``benchmarks/results/bench_law_fit.json`` and
``benchmarks/results/bench_calibrate.json`` (the two time targets). Nothing is measured here: every number is the
reports', every limit is the studies' own constant (``validate.TARGETS``, ``extrapolate.TARGETS``), and a target
whose measurement is missing says so. The summary table of ``docs/results.md`` (between its ``targets`` markers) is
written from the same rows, so the two cannot disagree (``tests/test_targets.py`` checks it).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from srlaw.core.atomic import write_bytes_atomic
from srlaw.core.pages import with_block
from srlaw.report.format import pct
from srlaw.library.extrapolate import SPLITS, TARGET_DATASETS, summary
from srlaw.library.extrapolate import TARGETS as EXTRAPOLATION_TARGETS
from srlaw.library.fits import METRICS
from srlaw.library.store import ROOT, write_report
from srlaw.library.validate import KS, LABEL
from srlaw.library.validate import TARGETS as CALIBRATION_TARGETS

REPORTS = ROOT / "reports"
BENCH = ROOT / "benchmarks" / "results"
REPORT = REPORTS / "targets.md"
RESULTS_PAGE = ROOT / "docs" / "results.md"
MARKERS = ("<!-- targets: begin (python -m srlaw.library.targets writes this table) -->", "<!-- targets: end -->")
SPLIT_KEYS = tuple(f"{lo}x+" if hi == float("inf") else f"{lo}-{hi}x" for lo, hi in SPLITS)
SPLIT_LABEL = {"4-10x": "4–10×", "10x+": "≥ 10×"}
CHECKS = {"summary": "one dataset out", "source_out": "whole source out"}


class TargetsError(Exception):
    """An input this summary cannot be read from."""


@dataclass
class Cell:
    """One measured value against its limit: ``ok`` None where nothing was measured."""

    text: str
    ok: bool | None
    value: float | None = None  # the measured number, where one ranks cells

    def show(self) -> str:
        return self.text if self.ok is None else f"{self.text} {'met' if self.ok else '**missed**'}"


def verdict(cells: list[Cell]) -> str:
    if any(c.ok is None for c in cells):
        return "not measured"
    return "met" if all(c.ok for c in cells) else "**missed**"


def _inside(v: float, bounds) -> bool:
    return bounds[0] <= v <= bounds[1]


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


# ---------------------------------------------------------------- calibrating a new dataset

def judged(v: float, ok: bool, limits) -> Cell:
    """``v`` as a percentage, with a second decimal where one decimal would print a limit it misses (99.04 %)."""
    text = pct(v)
    if not ok and any(text == pct(b) for b in limits):
        text = f"{100 * v:.2f} %"
    return Cell(text, ok, v)


def calibration_rows(cal: dict) -> list[dict]:
    """Every per-K target of calibration: target, check, metric, family ("mape" | "coverage" | "compute"), one cell per K."""
    t = CALIBRATION_TARGETS
    lo, hi = (100 * b for b in t["coverage"])
    rows = []
    for part, check in CHECKS.items():
        table = cal[part] if part == "summary" else cal[part]["summary"]
        cell = {k: {m: table[f"{m}|{k}"] for m in METRICS} for k in KS}
        for m in METRICS:
            for key, name in (("mape_median", "median"), ("mape_worst", "worst")):
                rows.append({"target": f"{LABEL[m]} MAPE, {name} dataset ≤ {100 * t[key]:.0f} %", "check": check,
                             "metric": m, "family": "mape", "stat": name,
                             "cells": [judged(cell[k][m][key], cell[k][m][key] <= t[key], [t[key]]) for k in KS]})
        for m in METRICS:
            for key, what in (("coverage", "seed means"), ("coverage_runs", "single runs")):
                rows.append({"target": f"{LABEL[m]} 95 % coverage of {what} in {lo:.0f}–{hi:.0f} %", "check": check,
                             "metric": m, "family": key, "stat": what,
                             "cells": [judged(cell[k][m][key], _inside(cell[k][m][key], t["coverage"]), t["coverage"])
                                       for k in KS]})
    share = [cal["summary"][f"ndcg@10|{k}"]["compute_share_flops_median"] for k in KS]
    rows.append({"target": f"calibration compute ≤ {100 * t['compute_share']:.0f} % of one run of the largest "
                           "predicted configuration (FLOPs, median dataset)", "check": CHECKS["summary"],
                 "metric": None,
                 "family": "compute", "stat": "median",
                 "cells": [judged(v, v <= t["compute_share"], [t["compute_share"]]) for v in share]})
    return rows


def calibration_single(cal: dict, bench: dict | None) -> list[tuple[str, str, Cell]]:
    """(target, check, cell) of the calibration targets that are not per K."""
    rows = [("≥ 90 % of the library's runs end by early stopping", "the run store",
             Cell(f"{pct(cal['early_stopped_share'])} of {cal['n_runs']} runs", cal["early_stopped_share"] >= 0.9))]
    base = [cal.get("baseline", {}).get(f"ndcg@10|{k}") for k in KS if k]
    if all(base):  # the strategy a user would try instead: the target trained on calibration's compute
        rows.append(("the law beats the equal-compute baseline (the target's own learning curve, extrapolated) on "
                     "most held-out datasets, NDCG@10 at each one's largest target", CHECKS["summary"],
                     Cell("; ".join(f"K = {k}: {b['law_wins']} of {b['n']}" for k, b in zip(KS[1:], base)),
                          all(2 * b["law_wins"] > b["n"] for b in base))))
    if bench is None:
        rows.append(("`srlaw calibrate --runs 3` on a Beauty-size file within 15 minutes on 2 CPU cores",
                     "benchmarks/bench_calibrate.py",
                     Cell("not measured (python benchmarks/bench_calibrate.py)", None)))
    else:
        n = bench["calibrated"]["ndcg@10"]
        rows.append((f"`srlaw calibrate --runs {bench['runs']}` on a Beauty-size file within "
                     f"{bench['target_minutes']:.0f} minutes on {bench['machine']['cpus']} CPU cores",
                     "benchmarks/bench_calibrate.py",
                     Cell(f"{bench['wall_seconds'] / 60:.1f} min ({bench['dataset']}, library without its source; "
                          f"NDCG@10 MAPE {pct(n['mape'])} on {n['n_points']} larger sizes)",
                          bench["wall_seconds"] <= 60 * bench["target_minutes"])))
    return rows


# ---------------------------------------------------------------- scale extrapolation

def extrapolation_rows(ext: dict) -> list[tuple[str, str, str, list[Cell], str]]:
    """(dataset, check, metric, one cell per split, seed sd per split) of the ``library`` law, both checks."""
    t = EXTRAPOLATION_TARGETS["mape"]
    rows = []
    for part, check in (("metrics", "one dataset out"), ("source_out", "whole source out")):
        for name, label in TARGET_DATASETS.items():
            e = ext["datasets"][name]
            for m in METRICS:
                splits = (e[part]["metrics"] if part == "source_out" else e["metrics"])[m]["splits"]
                found = {k: splits[k]["library"]["mape"] for k in SPLIT_KEYS if k in splits}
                cells = [judged(found[k], found[k] <= t[k], [t[k]]) if k in found else Cell("—", None)
                         for k in SPLIT_KEYS]
                sd = " / ".join(pct(splits[k]["seed_sd_rel"]) if splits.get(k, {}).get("seed_sd_rel") else "n/a"
                                for k in SPLIT_KEYS)
                rows.append((label, check, LABEL[m], cells, sd))
    return rows


def extrapolation_single(ext: dict, bench: dict | None) -> list[tuple[str, str, list[Cell]]]:
    """(target, check, cells) of the extrapolation's pooled targets."""
    t = EXTRAPOLATION_TARGETS
    lo, hi = (100 * b for b in t["coverage"])
    rows = []
    for part, check in ((None, "one dataset out"), ("source_out", "whole source out")):
        s = summary(ext, ("library",), part)["library"]
        for key, what in (("coverage", "seed means"), ("coverage_runs", "single runs")):
            rows.append((f"95 % coverage of {what} in {lo:.0f}–{hi:.0f} %, all datasets", check,
                         [Cell(f"{SPLIT_LABEL[k]} {c.text}", c.ok, c.value) for k in SPLIT_KEYS
                          for c in [judged(s[k][key], _inside(s[k][key], t["coverage"]), t["coverage"])]]))
    for part, key, check in (("regret_library", None, "one dataset out"), ("source_out", "regret", "whole source out")):
        cells = []
        for name, label in TARGET_DATASETS.items():
            r = ext["datasets"][name][part] if key is None else ext["datasets"][name][part][key]
            worst = max(x["regret"] for x in r)
            cells.append(Cell(f"{label} {pct(worst)}", worst <= t["regret"]))
        rows.append((f"`advise` regret ≤ {100 * t['regret']:.0f} % NDCG@10, worst budget", check, cells))
    rows.append((f"fitting every form, bootstrap included, on a 50-run table ≤ {t['fit_seconds']:.0f} s on 2 cores",
                 "benchmarks/bench_law_fit.py",
                 [Cell("not measured (python benchmarks/bench_law_fit.py)", None)] if bench is None else
                 [Cell(f"{bench['parallel_wall_seconds']:.0f} s on {bench['workers']} processes",
                       bench["parallel_wall_seconds"] <= t["fit_seconds"])]))
    return rows


# ---------------------------------------------------------------- the documents

def build(cal: dict, ext: dict, bench_fit: dict | None, bench_cal: dict | None) -> dict:
    return {"calibration": {"per_k": [{**r, "cells": [c.__dict__ for c in r["cells"]]} for r in calibration_rows(cal)],
                            "other": [{"target": a, "check": b, "cell": c.__dict__}
                                      for a, b, c in calibration_single(cal, bench_cal)]},
            "extrapolation": {"mape": [{"dataset": a, "check": b, "metric": m, "cells": [c.__dict__ for c in cs],
                                        "seed_sd": sd} for a, b, m, cs, sd in extrapolation_rows(ext)],
                              "other": [{"target": a, "check": b, "cells": [c.__dict__ for c in cs]}
                                        for a, b, cs in extrapolation_single(ext, bench_fit)]},
            "store_digest": cal["store_digest"]}


def _cells(raw: list[dict]) -> list[Cell]:
    return [Cell(**c) for c in raw]


def markdown(doc: dict) -> str:
    cal, ext = doc["calibration"], doc["extrapolation"]
    mape = EXTRAPOLATION_TARGETS["mape"]
    lines = ["# Where the law library stands against its targets", "",
             "Regenerate: `python -m srlaw.library.targets` (after `make library`; JSON beside this file). Every "
             "number is read off [`calibration.json`](calibration.json), [`extrapolation.json`](extrapolation.json) "
             "and the benchmarks' JSON; each report says how it was measured and why a target is missed.", "",
             "## Calibration: a new dataset from K runs ([`calibration.md`](calibration.md))", "",
             "Each library dataset left out and calibrated on K of its runs, scored on its sizes wider than those "
             "runs (truth: seed mean); *whole source out* leaves every cut of its raw data out of the library too.",
             "", "| target | check | " + " | ".join(f"K = {k}" for k in KS) + " |", "|---|---|" + "---|" * len(KS)]
    for r in cal["per_k"]:
        lines.append(f"| {r['target']} | {r['check']} | " + " | ".join(c.show() for c in _cells(r["cells"])) + " |")
    lines += ["", "| target | check | measured | verdict |", "|---|---|---|---|"]
    for r in cal["other"]:
        c = Cell(**r["cell"])
        lines.append(f"| {r['target']} | {r['check']} | {c.text} | {verdict([c])} |")
    lines += ["", "## Scale extrapolation: the `library` law beyond its fit set ([`extrapolation.md`](extrapolation.md))", "",
              "Each dataset calibrated on its runs up to 2 × 32 with the library fitted on the other datasets (or "
              "without its whole source), scored on larger sizes by their factor over the largest fitted one "
              "(truth: seed mean); seed sd: the median seed-to-seed sd of the held-out sizes.", "",
              "| dataset (check) | metric | " + " | ".join(f"{SPLIT_LABEL[k]}: MAPE ≤ {100 * mape[k]:.0f} %"
                                                       for k in SPLIT_KEYS) + " | seed sd |",
              "|---|---|" + "---|" * len(SPLIT_KEYS) + "---|"]
    for r in ext["mape"]:
        shown = " | ".join(c.show() for c in _cells(r["cells"]))
        lines.append(f"| {r['dataset']} ({r['check']}) | {r['metric']} | {shown} | {r['seed_sd']} |")
    lines += ["", "| target | check | measured | verdict |", "|---|---|---|---|"]
    for r in ext["other"]:
        cs = _cells(r["cells"])
        lines.append(f"| {r['target']} | {r['check']} | {'; '.join(c.text for c in cs)} | {verdict(cs)} |")
    return "\n".join(lines) + "\n"


def _span(cells: list[Cell]) -> str:
    """The cells' values as one number or a range (lowest–highest)."""
    v = [c.value for c in cells]
    lo, hi = min(v), max(v)
    return cells[v.index(lo)].text if lo == hi else f"{cells[v.index(lo)].text[:-2]}–{cells[v.index(hi)].text}"


def summary_table(doc: dict) -> str:
    """The results page's summary: per study, target and check one row — calibration's K = 0 apart from K = 1–3 (a range over
    K), both metrics in one row, coverage judged on single runs (the interval claims one run's outcome)."""
    rows = ["| study | target | check | measured | verdict |", "|---|---|---|---|---|"]
    per_k = doc["calibration"]["per_k"]
    t = CALIBRATION_TARGETS
    lo, hi = (100 * b for b in t["coverage"])
    families = (("mape", f"MAPE: median dataset ≤ {100 * t['mape_median']:.0f} %, "
                         f"worst ≤ {100 * t['mape_worst']:.0f} %"),
                ("coverage_runs", f"95 % intervals cover {lo:.0f}–{hi:.0f} % of single runs"),
                ("compute", f"calibration compute ≤ {100 * t['compute_share']:.0f} % of one run of the largest "
                            "predicted configuration (FLOPs, median dataset)"))
    for family, target in families:
        for check in CHECKS.values():
            for ks in ((0,), (1, 2, 3)):
                mine = [r for r in per_k if r["family"] == family and r["check"] == check]
                if not mine or (family == "compute" and ks == (0,)):
                    continue
                parts, misses = [], []
                for r in mine:
                    cs = _cells(r["cells"])
                    pick = [cs[KS.index(k)] for k in ks]
                    name = f"{LABEL[r['metric']]} {r['stat']}" if family == "mape" else \
                        LABEL.get(r["metric"], r["stat"])
                    parts.append(f"{name} {_span(pick)}")
                    misses += [f"{name} at K = {k}" if len(ks) > 1 else name for k, c in zip(ks, pick) if not c.ok]
                label = "K = 0" if ks == (0,) else "K = 1–3"
                rows.append(f"| calibration | {target} | {check}, {label} | {'; '.join(parts)} | "
                            f"{'met' if not misses else '**missed**: ' + ', '.join(misses)} |")
    for r in doc["calibration"]["other"]:
        c = Cell(**r["cell"])
        rows.append(f"| calibration | {r['target']} | {r['check']} | {c.text} | {verdict([c])} |")
    mape = EXTRAPOLATION_TARGETS["mape"]
    for i, k in enumerate(SPLIT_KEYS):
        for check in CHECKS.values():
            mine = [r for r in doc["extrapolation"]["mape"] if r["check"] == check]
            cs = [Cell(f"{r['dataset']} {r['metric']} {c.text}", c.ok, c.value)
                  for r in mine for c in _cells(r["cells"])[i:i + 1]]
            bad = [c.text for c in cs if c.ok is False]
            worst = max((c for c in cs if c.value is not None), key=lambda c: c.value, default=None)
            shown = "; ".join(bad) if bad else f"worst {worst.text}" if worst else "—"
            rows.append(f"| extrapolation | MAPE ≤ {100 * mape[k]:.0f} % at {SPLIT_LABEL[k]} on ML-1M, Beauty, Sports | "
                        f"{check} | {shown} | {verdict(cs)} |")
    for r in doc["extrapolation"]["other"]:
        cs = _cells(r["cells"])
        rows.append(f"| extrapolation | {r['target']} | {r['check']} | {'; '.join(c.text for c in cs)} | {verdict(cs)} |")
    return "\n".join(rows) + "\n"


def with_summary_table(text: str, table: str) -> str:
    """``text`` (the results page) with the table between :data:`MARKERS` replaced."""
    return with_block(text, *MARKERS, table, RESULTS_PAGE)


def load_doc() -> dict:
    cal, ext = _load(REPORTS / "calibration.json"), _load(REPORTS / "extrapolation.json")
    if cal is None or ext is None:
        raise TargetsError("reports/calibration.json or reports/extrapolation.json is missing: run make library")
    if cal["store_digest"] != ext["store_digest"]:
        raise TargetsError("reports/calibration.json and reports/extrapolation.json describe different run stores: "
                         "run make library")
    return build(cal, ext, _load(BENCH / "bench_law_fit.json"), _load(BENCH / "bench_calibrate.json"))


def main(argv=None) -> int:
    try:
        doc = load_doc()
        page = with_summary_table(RESULTS_PAGE.read_text(), summary_table(doc))
    except TargetsError as e:
        print(f"targets: {e}", file=sys.stderr)
        return 2
    write_report(REPORT, doc, markdown(doc))
    write_bytes_atomic(RESULTS_PAGE, page.encode())
    print(summary_table(doc), end="")
    print(f"wrote {REPORT} and the summary table of {RESULTS_PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
