"""Fit the law library on the run store and release it: ``artifacts/laws/index.json`` and one law per dataset.

    python -m srlaw.library.release

The index holds the shared fit per metric (depth term, each dataset's level and curvature, the prior a new
dataset starts from, the noise model, the measured misfit), the recipe every run trained with, the calibration
grid ``srlaw calibrate`` chooses from, one entry per released law, and per dataset the shared fit with that
dataset left out (``without``: the pipeline's fit stage judges the library form on a library dataset with it).
Each library dataset's own law (``artifacts/laws/library/<dataset>/``) is the library calibrated on all of that
dataset's runs.

Each law's ``validation`` holds what the two studies measured for its dataset (``reports/extrapolation.json``:
the ``library`` law's held-out error, interval coverage, seed sd and ``advise`` regret beyond the fit set;
``reports/calibration.json``: that dataset left out of the library and calibrated on K = 0–3 runs), and the
index holds their summaries, which ``srlaw calibrate`` copies into a new dataset's law for its K. Both reports
name the run store they were computed on; a release refuses reports of another store (``make library`` writes
them first). A release with ``--exclude`` (a fair check of one dataset) is not validated, and says so. A dataset
``benchmarks/bench_distill.py`` measured carries its distilled students (:mod:`srlaw.library.distillation`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from srlaw.law.forms import mape
from srlaw.library.shape import (epochs_by_size, epoch_seconds_model, calibrated_document, collapse_counts, collapsed,
                                 convergence_table, fit_library,
                                 library_without, probe_of, unstable_sizes)
from srlaw.law.schema import write_law
from srlaw.train.recipes import RECIPES
from srlaw.core.provenance import write_manifest
from srlaw.library.distillation import BENCH, law_distillation, load_bench
from srlaw.library.fits import METRICS
from srlaw.library.grid import CANDIDATES, TARGET_CONFIGS
from srlaw.library.index import write_index
from srlaw.library.store import ROOT, STORE, load_store, store_digest

LAWS = ROOT / "artifacts" / "laws"
REPORTS = {"calibration": ROOT / "reports" / "calibration.json",
           "extrapolation": ROOT / "reports" / "extrapolation.json"}
MIN_FACTOR = 4  # the scale-extrapolation numbers a law carries: its held-out points at >= 4x the fit set (the extrapolation check)


class StaleReports(Exception):
    """A report is missing or describes another run store than the one released."""


def load_reports(digest: str, paths: dict = REPORTS) -> dict:
    """The two studies' JSON documents, each checked to describe the run store with ``digest``."""
    docs = {}
    for name, path in paths.items():
        if not Path(path).is_file():
            raise StaleReports(f"{path}: missing")
        doc = json.loads(Path(path).read_text())
        if doc.get("store_digest") != digest:
            raise StaleReports(f"{path}: written from another run store")
        docs[name] = doc
    return docs


def _extrapolation(entry: dict, metric: str, fit_max: float) -> dict:
    """One metric of one dataset in the extrapolation study, seen through the ``library`` law: every held-out
    point at >= MIN_FACTOR x the fit set, its splits, and the seed sd beside them."""
    me = entry["metrics"][metric]
    pts = [p for p in me["points"] if p["factor"] >= MIN_FACTOR]
    rel = [abs(p["library"][0] / p["observed"] - 1) for p in pts]
    inside = [p["library"][1] <= p["observed"] <= p["library"][2] for p in pts]
    inside_runs = [p["library"][1] <= v <= p["library"][2] for p in pts for v in p["runs"]]
    sds = [p["seed_sd"] / p["observed"] for p in pts if p["seed_sd"] is not None]
    return {"law": "library: the library without this dataset, this dataset calibrated on its fit-set runs",
            "fit_params_max": float(entry["largest_fitted"]), "fit_set": f"runs with <= {fit_max:,} non-embedding "
            "parameters", "held_out": f">= {MIN_FACTOR}x the largest fitted size; truth the seed mean",
            "n": len(pts),
            "mape": mape([p["observed"] for p in pts], [p["library"][0] for p in pts]) if pts else None,
            "max_rel_error": float(max(rel)) if pts else None,
            "max_abs_error": float(max(abs(p["library"][0] - p["observed"]) for p in pts)) if pts else None,
            "coverage95": {"coverage": float(np.mean(inside)) if pts else None, "n": len(pts),
                           "single_runs": {"coverage": float(np.mean(inside_runs)) if pts else None,
                                           "n": len(inside_runs)}},
            "seed_sd_rel_median": float(np.median(sds)) if sds else None,
            "splits": {k: {"n": v["n"], "mape": v["library"]["mape"], "max_rel_error": v["library"]["max_ape"],
                           "coverage": v["library"]["coverage"], "coverage_runs": v["library"]["coverage_runs"],
                           "seed_sd_rel": v["seed_sd_rel"]}
                       for k, v in me["splits"].items()},
            "points": [{"n_layers": p["n_layers"], "d_model": p["d_model"], "factor": p["factor"],
                        "observed": p["observed"], "n_seeds": p["n_seeds"], "seed_sd": p["seed_sd"],
                        "predicted": p["library"][0], "lower": p["library"][1], "upper": p["library"][2]}
                       for p in pts]}


def _source_left_out(entry: dict, cal: dict, name: str) -> dict:
    """Both studies again with every other cut of the dataset's raw data out of the library too (empty where the
    dataset is the only cut of its source): the numbers a user with truly new data should expect."""
    if "source_out" not in entry:
        return {}
    so = entry["source_out"]
    regret = [r["regret"] for r in so["regret"]]
    return {"left_out": so["left_out"],
            "scale_extrapolation": {m: {k: {"n": v["n"], "mape": v["library"]["mape"],
                                            "max_rel_error": v["library"]["max_ape"],
                                            "coverage": v["library"]["coverage"],
                                            "coverage_runs": v["library"]["coverage_runs"]}
                                        for k, v in so["metrics"][m]["splits"].items()} for m in METRICS},
            "leave_one_dataset_out": {str(r["k"]): {m: r[f"{m}_mape"] for m in METRICS}
                                      for r in cal["source_out"]["results"] if r["dataset"] == name},
            "regret": {"ndcg@10": {"median": float(np.median(regret)), "worst": float(max(regret)),
                                   "budgets": len(regret)}}}


def law_validation(name: str, reports: dict) -> dict:
    """A library law's ``validation``: its dataset's numbers in both studies (see the module docstring)."""
    ex, cal = reports["extrapolation"], reports["calibration"]
    entry = ex["datasets"][name]
    rows = sorted((r for r in cal["results"] if r["dataset"] == name), key=lambda r: r["k"])
    regret = [r["regret"] for r in entry["regret_library"]]
    return {
        "scale_extrapolation": {m: _extrapolation(entry, m, ex["fit_max"]) for m in METRICS},
        "leave_one_variant_out": {}, "in_sample_r2": {},
        "leave_one_dataset_out": {
            "note": "this dataset left out of the library, calibrated on K of its own runs (as srlaw calibrate "
                    "picks them), scored on its configurations wider than those runs; truth the seed mean",
            "budget_share": rows[0]["budget_share"] if rows else None,
            "k": {str(r["k"]): {"calibration_runs": [[c["n_layers"], c["d_model"]] for c in r["calibration_runs"]
                                                     if c.get("used", True)],
                                **{m: {q: r["metrics"][m][q] for q in ("mape", "max_ape", "coverage", "n_points",
                                                                      "coverage_runs", "n_runs",
                                                                      "compute_share_flops")} for m in METRICS}}
                  for r in rows}},
        "noise_floor": {m: rows[0]["metrics"][m]["noise_floor"] for m in METRICS} if rows else {},
        "regret": {"ndcg@10": {"median": float(np.median(regret)), "worst": float(max(regret)), "budgets": len(regret),
                               "note": "advise's pick within each held-out size's parameter budget against the best "
                                       "observed (seed means, collapsed seeds counted), collapse risk priced",
                               "per_budget": entry["regret_library"]}} if regret else {},
        "source_left_out": _source_left_out(entry, cal, name),
        "source": {"reports": [p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else str(p)
                               for p in map(Path, REPORTS.values())], "store_digest": ex["store_digest"]},
    }


def library_validation(reports: dict) -> dict:
    """The index's summary: per K the leave-one-dataset-out median / worst MAPE, coverage and compute over the
    library — what ``srlaw calibrate`` copies into a new dataset's law calibrated on as many runs."""
    cal = reports["calibration"]
    per_k = {}
    for row in cal["summary"].values():
        per_k.setdefault(str(row["k"]), {})[row["metric"]] = {
            q: row[q] for q in ("mape_median", "mape_worst", "coverage", "n_points", "coverage_runs", "n_runs",
                                "compute_share_flops_median")}
    strict = {}
    for row in cal["source_out"]["summary"].values():
        strict.setdefault(str(row["k"]), {})[row["metric"]] = {
            q: row[q] for q in ("mape_median", "mape_worst", "coverage", "n_points", "coverage_runs", "n_runs")}
    cut = {}
    for row in cal["cut"]["summary"].values():
        cut.setdefault(str(row["k"]), {})[row["metric"]] = {
            q: row[q] for q in ("mape_median", "mape_worst", "coverage", "n_points", "coverage_runs", "n_runs",
                                "compute_share_flops_median")}
    return {"leave_one_dataset_out": {"note": "each library dataset left out in turn and calibrated on K of its own "
                                              "runs (reports/calibration.md)",
                                      "datasets": len(cal["datasets"]), "k": per_k},
            "leave_one_dataset_out_cut": {"note": "the same with each calibration run cut by a compute cap of "
                                                  f"{cal['cut']['share']:g} of one run of the costliest scored size, "
                                                  "as --max-minutes cuts them", "share": cal["cut"]["share"],
                                          "k": cut},
            "leave_one_source_out": {"note": "the same with every cut of the held-out dataset's raw data left out of "
                                             "the library too: what a dataset new to the library should expect",
                                     "k": strict},
            "store_digest": cal["store_digest"]}


def release_laws(laws: Path, records: list[dict], datasets: dict, fits: dict, recipe_name: str, unstable, collapse,
                 reports: dict | None, bench: dict | None) -> dict:
    """Each dataset's own law (the library calibrated on all its runs, collapsed ones left out) with its studies'
    numbers and any distillation measured on it, under ``laws/library/``; returns the index's entries."""
    entries = {}
    for name, ds in sorted(datasets.items()):
        bad = {(r["n_layers"], r["d_model"], r["seed"]) for r in collapsed(records) if r["variant"] == name}
        runs = [{k: r[k] for k in ("n_layers", "d_model", "seed", "params_non_embedding", "epochs", *METRICS)}
                for r in records if r["variant"] == name and (r["n_layers"], r["d_model"], r["seed"]) not in bad]
        out = laws / "library" / name.replace("/", "_")
        doc = calibrated_document(fits, ds, recipe_name, runs, unstable=unstable, collapse=collapse,
                                  validation=law_validation(name, reports) if reports else None)
        distilled = law_distillation(name, bench, recipe_name)
        if distilled:
            doc["distillation"] = distilled
        write_law(out / "law.json", doc)
        write_manifest(out, {"library": recipe_name, "dataset": name}, only=["law.json"])
        entries[name] = {"law": out.relative_to(laws).as_posix(), "n_users": ds["n_users"], "n_items": ds["n_items"],
                         "content_hash": ds["content_hash"], "n_runs": len(runs), "left_out_collapsed": len(bad),
                         **{f"probe_{m}": probe_of(ds["scores"], m) for m in METRICS},
                         **{f"level_{m}": {"mu": float(fits[m].levels[name][0]), "a": float(fits[m].levels[name][1]),
                                           "beta": float(fits[m].levels[name][2])} for m in METRICS}}
    return entries


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--laws", type=Path, default=LAWS, help="where to release (default artifacts/laws)")
    p.add_argument("--exclude", nargs="*", default=[], help="datasets to leave out (a fair check of one of them)")
    p.add_argument("--store", type=Path, default=STORE, help="the run store (default reports/library_runs)")
    p.add_argument("--distillation", type=Path, default=BENCH,
                   help="bench_distill's results: the measured students a dataset's law carries (default %(default)s)")
    args = p.parse_args(argv)
    laws = args.laws
    bench = load_bench(args.distillation)
    records, datasets = load_store(args.store)
    reports = None
    if args.exclude:
        print(f"release: without {', '.join(args.exclude)}; the studies' numbers describe the whole library, so "
              "these laws are released without validation", file=sys.stderr)
    else:
        try:
            reports = load_reports(store_digest(records), REPORTS)
        except StaleReports as e:
            print(f"release: {e}; regenerate the studies first (python -m srlaw.library.validate and "
                  "python -m srlaw.library.extrapolate, or make library)", file=sys.stderr)
            return 2
    records = [r for r in records if r["variant"] not in args.exclude]
    datasets = {k: v for k, v in datasets.items() if k not in args.exclude}
    if len(datasets) < 3:
        print(f"release: need >= 3 datasets in the run store, found {sorted(datasets)}", file=sys.stderr)
        return 2
    users = {v: d["n_users"] for v, d in datasets.items()}
    fits = {m: fit_library(records, m, {v: probe_of(d["scores"], m) for v, d in datasets.items()}, users)
            for m in METRICS}
    recipe_name = next(iter(datasets.values()))["recipe_name"]
    recipe = next(iter(datasets.values()))["recipe"]
    differ = [v for v, d in datasets.items() if (d["recipe_name"], d["recipe"]) != (recipe_name, RECIPES[recipe_name])]
    if differ:  # a law library describes one recipe: a run store of another is retrained, never mixed
        print(f"release: {differ} were trained with another recipe than srlaw.train.recipes.{recipe_name} now says; "
              "retrain them (python -m srlaw.library.train)", file=sys.stderr)
        return 2
    unstable, collapse = unstable_sizes(records), collapse_counts(records)
    entries = release_laws(laws, records, datasets, fits, recipe_name, unstable, collapse, reports, bench)
    index = {"library": {"recipe_name": recipe_name, "recipe": recipe, "fits": {m: f.to_dict() for m, f in fits.items()},
                         "candidates": [list(c) for c in CANDIDATES], "targets": [list(c) for c in TARGET_CONFIGS],
                         "convergence": {m: convergence_table(records, m) for m in METRICS},
                         "epochs": epochs_by_size(records),
                         "epoch_seconds": epoch_seconds_model(records, datasets,
                                                              RECIPES[recipe_name]["model"]["max_len"]),
                         "unstable": unstable, "collapse": collapse,
                         "n_runs": len(records),
                         "early_stopped_share": float(np.mean([r["stopped_by"] == "early_stopping" for r in records])),
                         "devices": sorted({r["device"] for r in records}), "laws": entries,
                         # each dataset left out: what judges a form on that dataset's runs (srlaw.library.index)
                         "without": {name: {m: f.to_dict() for m, f in library_without(records, datasets, name).items()}
                                     for name in sorted(datasets)},
                         "validation": library_validation(reports) if reports else {}},
             "study_laws": {p.parent.name: {"law": p.parent.relative_to(laws).as_posix(),
                                            "note": "the real-data study's law (reports/study.md), its own recipe"}
                            for p in sorted(laws.glob("*/law.json"))}}
    write_index(laws / "index.json", index)
    for m, f in fits.items():
        print(f"{m}: depth term w={f.w:.3f} gamma={f.gamma:.3f}; misfit sd (1 to {len(f.misfit)} runs) "
              f"{', '.join(f'{v:.3f}' for v in np.sqrt(f.misfit))}; noise "
              f"s0={np.sqrt(f.noise.s0_sq):.3f} c={f.noise.c:.3f}; prior mu = {f.prior.c0:.3f} + {f.prior.c1:.3f}·log probe")
    print(f"released {len(entries)} library laws and {laws / 'index.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
