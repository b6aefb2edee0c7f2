"""Leave one library dataset out, calibrate it on K of its own runs, and score the law on its larger models.

    python -m srlaw.library.validate          # reports/calibration.md and reports/calibration.json

For each dataset of the run store (``reports/library_runs``) and K = 0, 1, 2, 3: the library is fitted on the
other datasets (shape, prior, noise, shape refits); ``choose_runs`` picks K calibration configurations as
``srlaw calibrate`` would; their recorded seed-0 results stand in for training them; the calibrated law is built
as the artifact ``srlaw calibrate`` writes and read back through ``Law``, so the numbers are the predictor's own.
It is scored on the dataset's configurations larger than every calibration run (all of them at K = 0), against
the seed mean where there are several seeds: MAPE, max error, 95 % coverage, and the compute spent — FLOPs of
the calibration runs (as trained, with their epochs) over one run of the costliest scored configuration, and the
same ratio in measured seconds. The noise floor beside it: the seed-to-seed spread of the dataset's seeded
configurations and the sampling error of a mean over its users. The check runs again at other ``--budget-share``
caps (:data:`BUDGET_SHARES`): what calibration compute buys in accuracy; and once more with the runs cut by a
compute cap (:data:`CUT_SHARE` of one wide run, as ``--max-minutes`` cuts them): what a run stopped early still tells.
"""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np

from srlaw.law.fit import sampling_se_bound
from srlaw.library import baseline
from srlaw.library.baseline import equal_compute, valid_to_test_ratio
from srlaw.report.format import pct
from srlaw.library.shape import (calibrated_document, choose_runs, collapse_counts, collapsed, convergence_table,
                                 failed_run, library_without, probe_of, training_cost, unconverged_gain,
                                 unstable_sizes)
from srlaw.predictor.law import Law
from srlaw.train.curves import best_so_far
from srlaw.library.grid import (BUDGET_SHARE, CANDIDATES, DEPTHS, FAMILIES, RETRIES, SOURCES, TARGET_CONFIGS,
                                WIDTHS, same_source)
from srlaw.library.fits import METRICS
from srlaw.library.store import ROOT, report_main, store_digest

KS = (0, 1, 2, 3)
# `srlaw calibrate --budget-share` settings the report compares (None: no cap): what compute buys in accuracy
BUDGET_SHARES = (0.05, BUDGET_SHARE, 0.25, None)
# the capped check: the chosen runs (default budget) cut so that all of them together cost at most this share of one
# run of the costliest scored configuration, each stopped run counted as `srlaw calibrate` counts a capped one
CUT_SHARE = 0.1
REPORT = ROOT / "reports" / "calibration.md"
LABEL = {"ndcg@10": "NDCG@10", "hr@10": "HR@10"}
TARGETS = {"mape_median": 0.07, "mape_worst": 0.10, "compute_share": 0.10, "coverage": (0.90, 0.99)}


def usable(records: list[dict], metric: str) -> list[dict]:
    bad = {(r["variant"], r["n_layers"], r["d_model"], r["seed"]) for r in collapsed(records, metric)}
    return [r for r in records if (r["variant"], r["n_layers"], r["d_model"], r["seed"]) not in bad]


def noise_floor(records: list[dict], ds: dict, metric: str) -> dict:
    by = {}
    for r in records:
        by.setdefault((r["n_layers"], r["d_model"]), []).append(r[metric])
    rel = [np.std(v, ddof=1) / np.mean(v) for v in by.values() if len(v) >= 2]
    y = float(np.median([r[metric] for r in records]))
    return {"seed_sd_rel": float(np.median(rel)) if rel else None, "n_seeded_configs": len(rel),
            "sampling_se_rel": float(sampling_se_bound(y, ds["n_users"]) / y)}


def subsample_levels(records: list[dict], metric: str = "ndcg@10") -> list[dict]:
    """Each library dataset with a user subsample of it in the store: per configuration both trained, the full
    data's seed-mean ``metric`` over the subsample's and the subsample's training seconds over the full data's —
    whether a run on a subsample could stand in for a calibration run on the whole data (collapsed runs left out)."""
    ok = usable(records, metric)
    by = {}
    for r in ok:
        by.setdefault(r["variant"], {}).setdefault((r["n_layers"], r["d_model"]), []).append(r)
    out = []
    for sub in sorted(v for v in by if "/" in v and v.split("/")[0] in by):
        full, part = by[sub.split("/")[0]], by[sub]
        both = sorted(set(full) & set(part))
        ratio = [np.mean([r[metric] for r in full[c]]) / np.mean([r[metric] for r in part[c]]) for c in both]
        share = [np.mean([r["train_seconds"] for r in part[c]]) / np.mean([r["train_seconds"] for r in full[c]])
                 for c in both]
        out.append({"dataset": sub.split("/")[0], "subsample": sub, "n_configs": len(both),
                    "ratio_median": float(np.median(ratio)), "ratio_min": float(min(ratio)),
                    "ratio_max": float(max(ratio)), "seconds_share_median": float(np.median(share))})
    return out


def library_gain(convergence: dict):
    """The gain ``srlaw calibrate`` credits a capped run with, as ``gain(run, epochs, metric)`` → (mean, variance)
    of its log: the library's learning curves (``convergence``, per metric) at that epoch, the same for every run."""
    return lambda run, epochs, metric: unconverged_gain(convergence[metric], epochs)


def cut_run(run: dict, epochs: int, gain) -> dict:
    """``run`` as a cap would have left it after ``epochs`` epochs, counted as ``srlaw calibrate`` counts a capped
    run: the recipe's learning rate is constant after warm-up, so the cut run is the first ``epochs`` epochs of the
    recorded one; its test metrics are scaled by its best validation value so far over its final best, and it
    carries the gain still expected at that epoch (``gain(run, epochs, metric)``, e.g. :func:`library_gain`)."""
    out = {**run, "epochs": epochs, "stopped_by": "time_cap", "gain": {},
           "train_seconds": run["train_seconds"] * epochs / run["epochs"]}
    for m in METRICS:
        curve = best_so_far(run["curve"][m])
        out[m] = run[m] * curve[epochs - 1] / curve[-1]
        out["gain"][m] = gain(run, epochs, m)
    return out


def scored(law: Law, mine: list[dict], metric: str, p_cal: float):
    """``law`` against one dataset's runs larger than ``p_cal`` non-embedding parameters (collapsed runs left out,
    truth the seed mean): (runs by size, sizes, truth, prediction, {n_points, mape, max_ape, coverage, n_runs,
    coverage_runs})."""
    truth = {}
    for r in usable(mine, metric):
        if r["params_non_embedding"] > p_cal:
            truth.setdefault((r["n_layers"], r["d_model"]), []).append(r)
    cfg = sorted(truth)
    y = np.array([np.mean([r[metric] for r in truth[c]]) for c in cfg])
    pred = law.predict([c[0] for c in cfg], [c[1] for c in cfg], metric=metric, warn=False)
    ape = np.abs(pred.value - y) / y
    # the interval is for one run's outcome (the library's noise is fitted on single runs), so every run of a
    # scored configuration is a point too; a seed mean scatters less than one run and is covered more often
    inside_runs = [pred.lower[i] <= r[metric] <= pred.upper[i] for i, c in enumerate(cfg) for r in truth[c]]
    return truth, cfg, y, pred, {"n_points": len(cfg), "mape": float(ape.mean()), "max_ape": float(ape.max()),
                                 "coverage": float(np.mean((pred.lower <= y) & (y <= pred.upper))),
                                 "n_runs": len(inside_runs), "coverage_runs": float(np.mean(inside_runs))}


def evaluate(records: list[dict], datasets: dict, hold: str, k: int, fits: dict,
             budget_share: float | None = BUDGET_SHARE, gain=None, also=()) -> dict:
    """One held-out dataset at K runs; with ``gain`` (what a cut run is credited with, see :func:`cut_run`; learnt
    without ``hold``) the runs are cut to :data:`CUT_SHARE` of one run of the costliest scored configuration.
    ``fits`` is the library without ``hold`` and the variants in ``also``, which stay out of what the law borrows
    from other grids too."""
    ds = datasets[hold]
    max_len = ds["recipe"]["model"]["max_len"]
    out = {"dataset": hold, "k": k, "budget_share": budget_share, "metrics": {}}
    grid = [(n, d) for n in DEPTHS for d in WIDTHS]
    cost = {c: float(training_cost(c[0], c[1], ds["n_items"], ds["n_users"], max_len)) for c in grid}
    # the choice needs one metric's law: NDCG@10's (the default metric); HR@10 is calibrated on the same runs
    chosen = choose_runs(fits["ndcg@10"], probe_of(ds["scores"], "ndcg@10"), ds["n_users"], ds["n_items"], max_len, k,
                         CANDIDATES, TARGET_CONFIGS, budget_share)
    mine = [r for r in records if r["variant"] == hold]
    if gain is not None:
        big = max(usable(mine, "ndcg@10"), key=lambda r: (cost[(r["n_layers"], r["d_model"])], -r["seed"]))
        left = CUT_SHARE * cost[(big["n_layers"], big["d_model"])] * big["epochs"]
    # as `srlaw calibrate` does: a run the library calls failed is trained again at the next seed (here: the store's
    # next seed of that size, where it has one); the failed attempts' compute is spent all the same
    cal, spent = [], []
    for i, c in enumerate(chosen):
        for r in sorted((r for r in mine if (r["n_layers"], r["d_model"]) == c), key=lambda r: r["seed"])[:1 + RETRIES]:
            if gain is not None:  # an equal share of what is left, as `calibrate` splits --max-minutes
                epochs = max(1, int(left / (len(chosen) - i) / cost[c]))
                if epochs < r["epochs"]:
                    r = cut_run(r, epochs, gain)
                left -= cost[c] * r["epochs"]
            spent.append(r)
            if r["stopped_by"] == "time_cap":  # low for want of time, not a failed optimisation
                cal.append(r)
                break
            if failed_run(fits["ndcg@10"], probe_of(ds["scores"], "ndcg@10"), ds["n_users"], r) is None:
                cal.append(r)
                break
    out["calibration_runs"] = [{"n_layers": r["n_layers"], "d_model": r["d_model"], "seed": r["seed"],
                                "epochs": r["epochs"], "cut": r["stopped_by"] == "time_cap",
                                "train_seconds": r["train_seconds"], "used": r in cal} for r in spent]
    p_cal = max((r["params_non_embedding"] for r in cal), default=0)
    others = [r for r in records if r["variant"] != hold and r["variant"] not in also]
    law = Law(calibrated_document(fits, ds, ds["recipe_name"], cal, unstable=unstable_sizes(others),
                                  collapse=collapse_counts(others)))
    for m in METRICS:
        truth, cfg, y, pred, scores = scored(law, mine, m, p_cal)
        biggest = max(cfg, key=cost.get)
        big_run = next(r for r in truth[biggest] if r["seed"] == 0) if any(
            r["seed"] == 0 for r in truth[biggest]) else truth[biggest][0]
        flops_cal = sum(cost[(r["n_layers"], r["d_model"])] * r["epochs"] for r in spent)
        at = cfg.index(biggest)
        # the same compute spent on the target itself, extrapolated along its own curve (none without runs)
        base = equal_compute(big_run, m, int(flops_cal / cost[biggest]), valid_to_test_ratio(others, m), float(y[at]),
                             abs(float(pred.value[at]) - float(y[at])) / float(y[at])) if spent else None
        out["metrics"][m] = {
            **scores, "mean_interval_rel_width": float(np.mean((pred.upper - pred.lower) / pred.value)),
            "largest_scored": {"n_layers": biggest[0], "d_model": biggest[1]},
            "compute_share_flops": flops_cal / (cost[biggest] * big_run["epochs"]),
            "compute_share_seconds": sum(r["train_seconds"] for r in spent) / big_run["train_seconds"],
            "points": [{"n_layers": c[0], "d_model": c[1], "observed": float(t), "predicted": float(p),
                        "lower": float(lo), "upper": float(hi), "n_seeds": len(truth[c])}
                       for c, t, p, lo, hi in zip(cfg, y, pred.value, pred.lower, pred.upper)],
            "noise_floor": noise_floor(usable(mine, m), ds, m), "baseline": base}
    return out


def summarise(results: list[dict], ks=KS) -> dict:
    table = {}
    for m in METRICS:
        for k in ks:
            rows = [r["metrics"][m] for r in results if r["k"] == k]
            mapes = [r["mape"] for r in rows]
            inside = sum(round(r["coverage"] * r["n_points"]) for r in rows)
            inside_runs = sum(round(r["coverage_runs"] * r["n_runs"]) for r in rows)
            table[f"{m}|{k}"] = {"metric": m, "k": k, "mape_median": float(np.median(mapes)),
                                 "mape_worst": float(np.max(mapes)), "max_ape": float(max(r["max_ape"] for r in rows)),
                                 "coverage": inside / sum(r["n_points"] for r in rows),
                                 "n_points": sum(r["n_points"] for r in rows),
                                 "coverage_runs": inside_runs / sum(r["n_runs"] for r in rows),
                                 "n_runs": sum(r["n_runs"] for r in rows),
                                 "compute_share_flops_median": float(np.median([r["compute_share_flops"] for r in rows])),
                                 "compute_share_flops_max": float(np.max([r["compute_share_flops"] for r in rows])),
                                 "compute_share_seconds_median": float(np.median([r["compute_share_seconds"]
                                                                                  for r in rows]))}
    return table


def _md_summary(doc: dict) -> list[str]:
    """The leave-one-dataset-out summary and each dataset's row."""
    lines = ["# Calibrating a new dataset from the law library (leave one dataset out)", "",
             "Regenerate: `python -m srlaw.library.validate` (from `reports/library_runs/`, trained by "
             "`src/srlaw/library/train.py`). JSON beside this file: `calibration.json`.", "",
             f"Library: {len(doc['datasets'])} datasets ({', '.join(doc['datasets'])}), {doc['n_runs']} finished runs "
             f"under the recipe `{doc['recipe_name']}`, {doc['n_collapsed']} collapsed runs left out "
             f"({doc['early_stopped_share'] * 100:.0f} % of runs ended by early stopping). Scored: each held-out "
             "dataset's configurations larger than its calibration runs, truth = seed mean.", "",
             "| metric | K | median MAPE | worst dataset MAPE | max error | 95 % coverage: seed means (points) | "
             "single runs (runs) | calibration compute, FLOPs (median / max) | in GPU seconds (median) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in doc["summary"].values():
        lines.append(f"| {row['metric']} | {row['k']} | {pct(row['mape_median'])} | {pct(row['mape_worst'])} | "
                     f"{pct(row['max_ape'])} | {pct(row['coverage'])} ({row['n_points']}) | "
                     f"{pct(row['coverage_runs'])} ({row['n_runs']}) | {pct(row['compute_share_flops_median'])} / "
                     f"{pct(row['compute_share_flops_max'])} | "
                     f"{pct(row['compute_share_seconds_median'])} |")
    lines += ["", "Targets (calibration of a new dataset): K ≤ 3 — median MAPE ≤ 7 %, worst ≤ 10 %, calibration compute ≤ 10 % of one "
              "run of the largest predicted configuration; coverage 90–99 % at every K. The interval is the predictor's "
              "for one run's outcome (parameter uncertainty plus the library's noise, fitted on single runs' "
              "residuals): the single-runs column checks what it claims, every seed's run of a scored configuration "
              "a point; a seed mean of three runs scatters less than one run, so the seed-means column runs high "
              "where most scored configurations have three seeds.", "",
              "## Per dataset", "",
              "| dataset | K | calibration runs (L × d) | NDCG@10 MAPE | HR@10 MAPE | coverage NDCG / HR | "
              "compute (FLOPs) | seed sd | sampling s.e. |", "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        n, h = r["metrics"]["ndcg@10"], r["metrics"]["hr@10"]
        runs = ", ".join(f"{c['n_layers']}×{c['d_model']}" + ("" if c["used"] else f" (seed {c['seed']} failed)")
                         for c in r["calibration_runs"]) or "—"
        nf = n["noise_floor"]
        seed = "—" if nf["seed_sd_rel"] is None else pct(nf["seed_sd_rel"])
        lines.append(f"| {r['dataset']} | {r['k']} | {runs} | {pct(n['mape'])} | {pct(h['mape'])} | "
                     f"{pct(n['coverage'])} / {pct(h['coverage'])} | {pct(n['compute_share_flops'])} | {seed} | "
                     f"{pct(nf['sampling_se_rel'])} |")
    lines += ["", "Seed sd: median relative seed-to-seed standard deviation of NDCG@10 at the dataset's seeded "
              "configurations; sampling s.e.: the bound sqrt(y (1 − y) / n_users) / y at the median NDCG@10 y "
              "(`srlaw.law.fit.sampling_se_bound`). A MAPE below these is "
              "beyond what one run can show. A calibration run \"failed\" scored under half of what the library "
              "predicted for its size before any run (`srlaw.library.shape.failed_run`): it is trained again at the next "
              "seed, as `srlaw calibrate` does, and its compute counts.", ""]
    return lines


def _md_budgets(doc: dict) -> list[str]:
    """What other compute budgets buy."""
    lines = ["## What compute buys (`srlaw calibrate --budget-share`)", "",
              "The same leave-one-dataset-out check with `choose_runs` capped at other shares of one run of the "
              "costliest target (estimated FLOPs per epoch; none: no cap). The compute column is what the chosen runs "
              "cost as trained (their epochs), against one run of the costliest scored configuration.", "",
              "| budget share | K | NDCG@10 MAPE median / worst | HR@10 MAPE median / worst | coverage NDCG / HR | "
              "compute, FLOPs (median / max) |", "|---|---|---|---|---|---|"]
    for b in doc["budgets"]:
        share = "none" if b["budget_share"] is None else f"{b['budget_share']:g}"
        for k in KS[1:]:
            n, h = b["summary"][f"ndcg@10|{k}"], b["summary"][f"hr@10|{k}"]
            lines.append(f"| {share} | {k} | {pct(n['mape_median'])} / {pct(n['mape_worst'])} | "
                         f"{pct(h['mape_median'])} / {pct(h['mape_worst'])} | {pct(n['coverage'])} / "
                         f"{pct(h['coverage'])} | {pct(n['compute_share_flops_median'])} / "
                         f"{pct(n['compute_share_flops_max'])} |")
    lowest = min(b["summary"]["ndcg@10|1"]["compute_share_flops_median"] for b in doc["budgets"])
    lines += ["", f"The tightest cap still spends {pct(lowest)} of a wide run on one calibration run (median): small "
              "runs train more epochs than wide ones, so a cap on per-epoch cost lets through more than its share, "
              "and a tighter cap buys its compute with narrower runs, further from the targets.", ""]
    return lines


def _md_cut(doc: dict) -> list[str]:
    """Runs cut to a share of one wide run."""
    cut = doc["cut"]
    lines = [f"## Runs cut to {pct(cut['share'])} of one wide run (`--max-minutes`)", "",
              "The default budget's runs, each stopped after an equal share of what is left of that compute (the "
              "recipe's learning rate is constant after warm-up, so a cut run is the first epochs of the recorded "
              "one; its test metrics scaled by its best validation value so far) and counted as `srlaw calibrate` "
              "counts a run stopped by a cap: raised by the gain the library's learning curves still expect at its "
              "epoch, that gain's spread added to its variance.", "",
              "| K | NDCG@10 MAPE median / worst | HR@10 MAPE median / worst | coverage NDCG / HR | "
              "compute, FLOPs (median / max) |", "|---|---|---|---|---|"]
    for k in KS[1:]:
        n, h = cut["summary"][f"ndcg@10|{k}"], cut["summary"][f"hr@10|{k}"]
        lines.append(f"| {k} | {pct(n['mape_median'])} / {pct(n['mape_worst'])} | {pct(h['mape_median'])} / "
                     f"{pct(h['mape_worst'])} | {pct(n['coverage'])} / {pct(h['coverage'])} | "
                     f"{pct(n['compute_share_flops_median'])} / {pct(n['compute_share_flops_max'])} |")
    one = sorted((r for r in cut["results"] if r["k"] == 1), key=lambda r: -r["ndcg@10_mape"])
    lines += ["", "At K = 1, NDCG@10 MAPE per dataset (epochs trained): " + "; ".join(
        f"{r['dataset']} {pct(r['ndcg@10_mape'])} ("
        + ", ".join(f"{c['n_layers']}×{c['d_model']} {c['epochs']}" + (" cut" if c["cut"] else "")
                    + ("" if c["used"] else " failed") for c in r["calibration_runs"]) + ")" for r in one)
        + f". The same runs uncut (the first table): {pct(doc['summary']['ndcg@10|1']['mape_median'])} / "
        f"{pct(doc['summary']['ndcg@10|1']['mape_worst'])} at {pct(doc['summary']['ndcg@10|1']['compute_share_flops_median'])}"
        " of one wide run. A cut run's value is as uncertain as the learning curves' spread at its epoch, which is "
        "wide after a few epochs; where the library's curves misjudge a dataset's pace, the error stays. Crediting a "
        "cut run by its own pace instead, or stopping calibration runs at a shorter patience: "
        "[`cut_runs.md`](cut_runs.md).", ""]
    return lines


def _md_source_out(doc: dict) -> list[str]:
    """The whole source left out."""
    src = doc["source_out"]
    lines = ["## The whole source left out", "",
              "The check above leaves one dataset out, but a cut of the same raw data may stay in the library "
              "(ML-1M's quarter when ML-1M is held out; the other Amazon Beauty cuts when one is). Here every cut of "
              "the held-out dataset's source leaves with it (" + "; ".join(
                  f"{name}: {n} cuts" for name, n in sorted(Counter(SOURCES[d] for d in doc["datasets"]).items())
                  if n > 1) + "; the others stand alone and score as above): the library a user with truly new data "
              "meets.", "",
              "| metric | K | median MAPE | worst dataset MAPE | max error | 95 % coverage: seed means | single runs |",
              "|---|---|---|---|---|---|---|"]
    for row in src["summary"].values():
        lines.append(f"| {row['metric']} | {row['k']} | {pct(row['mape_median'])} | {pct(row['mape_worst'])} | "
                     f"{pct(row['max_ape'])} | {pct(row['coverage'])} ({row['n_points']}) | "
                     f"{pct(row['coverage_runs'])} ({row['n_runs']}) |")
    for m in METRICS:
        worst = {k: max((r for r in src["results"] if r["k"] == k), key=lambda r: r[f"{m}_mape"]) for k in KS}
        lines += ["", f"Worst {LABEL[m]} per K: " + "; ".join(
            f"K = {k} {r['dataset']} {pct(r[f'{m}_mape'])}" for k, r in worst.items()) + "."]
    lines += [""]
    return lines


def per_family(rows: list[dict]) -> list[dict]:
    """The whole-source-out results (``source_out.results``) per domain family: each metric's median and worst
    dataset MAPE at each K over the family's datasets."""
    out = []
    for family in sorted({FAMILIES[r["dataset"]] for r in rows}):
        mine = [r for r in rows if FAMILIES[r["dataset"]] == family]
        for m in METRICS:
            for k in KS:
                mapes = [r[f"{m}_mape"] for r in mine if r["k"] == k]
                out.append({"family": family, "metric": m, "k": k, "datasets": sorted({r["dataset"] for r in mine}),
                            "mape_median": float(np.median(mapes)), "mape_worst": float(np.max(mapes))})
    return out


def _md_families(doc: dict) -> list[str]:
    """The whole source left out, per domain family."""
    rows = doc["source_out"]["per_family"]
    cell = {(r["family"], r["metric"], r["k"]): r for r in rows}
    lines = ["### Per domain family", "",
             "The same whole-source-out check, each family's datasets alone (median / worst dataset MAPE). A family of "
             "one or two datasets has no median to speak of: its worst is its figure.", "",
             "| family | datasets | metric | " + " | ".join(f"K = {k}" for k in KS) + " |",
             "|---|---|---|" + "---|" * len(KS)]
    for family in sorted({r["family"] for r in rows}):
        names = cell[(family, METRICS[0], KS[0])]["datasets"]
        for m in METRICS:
            lines.append(f"| {family} | {len(names)} | {LABEL[m]} | " + " | ".join(
                f"{pct(cell[(family, m, k)]['mape_median'])} / {pct(cell[(family, m, k)]['mape_worst'])}"
                for k in KS) + " |")
    return lines + [""]


def _md_subsamples(doc: dict) -> list[str]:
    """Why a user subsample does not buy the compute."""
    subs = doc["subsamples"]
    lines = ["## Why a user subsample does not buy the compute", "",
              "A calibration run on a quarter of the users would cost a quarter of the FLOPs. Over every configuration "
              "trained on both (collapsed runs left out), the whole data's NDCG@10 over its quarter's, and the "
              "quarter's training seconds over the whole data's:", "",
              "| dataset | configurations | NDCG@10 whole ÷ quarter: median (range) | seconds, quarter ÷ whole (median) |",
              "|---|---|---|---|",
              *(f"| {s['dataset']} | {s['n_configs']} | {s['ratio_median']:.2f} ({s['ratio_min']:.2f}–"
                f"{s['ratio_max']:.2f}) | {pct(s['seconds_share_median'])} |" for s in subs), "",
              "Within a dataset the ratio barely moves with size, so a quarter's runs carry the whole data's shape — "
              "but the shape is what the library already lends. The level is what calibration must measure, and "
              "the ratio that would carry a quarter's level to the whole data differs between datasets (" +
              " / ".join(f"{s['ratio_median']:.2f}" for s in subs) + "), and with these pairs nothing in the library "
              "predicts it: a property of the new data that only a run on all of it measures.", ""] if subs else []
    return lines


def markdown(doc: dict) -> str:
    lines = (_md_summary(doc) + baseline.markdown(doc) + _md_budgets(doc) + _md_cut(doc) + _md_source_out(doc)
             + (_md_families(doc) if "per_family" in doc["source_out"] else []) + _md_subsamples(doc))
    lines += doc.get("notes", [])
    return "\n".join(lines) + "\n"




def study(records: list[dict], datasets: dict) -> dict:
    """Every library dataset held out in turn, at every K; the summary and the per-dataset results (at the
    default budget), the summary at every budget of :data:`BUDGET_SHARES` (``budgets``), and the default budget's
    runs cut to :data:`CUT_SHARE` of one wide run (``cut``)."""
    results, others, cut, source_out = [], {share: [] for share in BUDGET_SHARES if share != BUDGET_SHARE}, [], []
    for hold in sorted(datasets):
        fits = library_without(records, datasets, hold)
        results += [evaluate(records, datasets, hold, k, fits) for k in KS]
        for share, rows in others.items():
            rows += [evaluate(records, datasets, hold, k, fits, share) for k in KS if k]
        curves = {m: convergence_table([r for r in records if r["variant"] != hold], m) for m in METRICS}
        cut += [evaluate(records, datasets, hold, k, fits, gain=library_gain(curves)) for k in KS if k]
        siblings = same_source(hold) - {hold}
        if siblings:  # every cut of the source out of the library; a dataset alone from its source scores as above
            strict = library_without(records, datasets, hold, siblings)
            source_out += [evaluate(records, datasets, hold, k, strict, also=siblings) for k in KS]
        else:
            source_out += results[-len(KS):]
    recipes = {d["recipe_name"] for d in datasets.values()}
    summary = summarise(results)
    strict_rows = [{"dataset": r["dataset"], "k": r["k"], "left_out": sorted(same_source(r["dataset"])),
                    **{f"{m}_mape": r["metrics"][m]["mape"] for m in METRICS}} for r in source_out]
    budgets = [{"budget_share": share, "summary": summary if share == BUDGET_SHARE else summarise(others[share], KS[1:])}
               for share in BUDGET_SHARES]
    return {"datasets": sorted(datasets), "store_digest": store_digest(records),
            "recipe_name": ",".join(sorted(recipes)), "n_runs": len(records),
            "n_collapsed": len(collapsed(records, "ndcg@10")),
            "early_stopped_share": float(np.mean([r["stopped_by"] == "early_stopping" for r in records])),
            "targets": TARGETS, "summary": summary, "results": results, "budgets": budgets,
            "baseline": {f"{m}|{k}": baseline.summary([r["metrics"][m]["baseline"] for r in results if r["k"] == k])
                         for m in METRICS for k in KS if k},
            "subsamples": subsample_levels(records),
            "source_out": {"summary": summarise(source_out), "results": strict_rows,
                           "per_family": per_family(strict_rows)},
            "cut": {"share": CUT_SHARE, "summary": summarise(cut, KS[1:]),
                    "results": [{"dataset": r["dataset"], "k": r["k"], "calibration_runs": r["calibration_runs"],
                                 **{f"{m}_mape": r["metrics"][m]["mape"] for m in METRICS},
                                 **{f"{m}_coverage": r["metrics"][m]["coverage"] for m in METRICS},
                                 "compute_share_flops": r["metrics"]["ndcg@10"]["compute_share_flops"]}
                                for r in cut]}}


def show(doc: dict) -> None:
    for row in doc["summary"].values():
        print(f"{row['metric']:8s} K={row['k']}: MAPE median {100 * row['mape_median']:.1f} %, worst "
              f"{100 * row['mape_worst']:.1f} %, coverage {100 * row['coverage']:.0f} % (runs "
              f"{100 * row['coverage_runs']:.0f} %), compute "
              f"{100 * row['compute_share_flops_median']:.1f} %")


def main(argv=None) -> int:
    return report_main(argv, "validate", __doc__, REPORT, study, markdown, show, min_datasets=3)


if __name__ == "__main__":
    sys.exit(main())
