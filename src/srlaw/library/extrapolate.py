"""How far does a law fitted on small models reach? Scale extrapolation on the library's run store.

    python -m srlaw.library.extrapolate          # reports/extrapolation.md and reports/extrapolation.json

Every dataset's runs at ≤ FIT_MAX non-embedding parameters (widths 16–32, depths 1–2 and 4 × 16) are the fit set;
everything larger is held out and split by its size over the largest fitted one: [4×, 10×) and ≥ 10× (a second
table: the ``library`` law on a fit set up to LARGER_FIT_MAX, 2 × 64). Truth is
the seed mean (three seeds at the seeded configurations, one elsewhere); the seed-to-seed sd is reported beside
every error. The laws (all but `library` fitted on the fit set alone):

- ``shared``: the law library's form (``srlaw.library.shape``) fitted jointly over all datasets' small runs, each
  dataset then calibrated on its own small runs — intervals from its posterior, noise and misfit;
- ``library``: what a user of the released library gets — the library fitted on every *other* dataset's whole
  grid (leave one dataset out), this dataset calibrated on its own small runs as ``srlaw calibrate`` would (a run
  ``failed_run`` calls failed is left out);
- ``two_stage``: per dataset, a loss law in size then a monotone loss → metric link (``srlaw.law.two_stage``),
  bootstrap intervals widened by the link's scatter;
- ``curves``: per dataset, the learning-curve law (``srlaw.law.learning_curve``) on every epoch of the small runs,
  its converged limit times the test/valid ratio of their chosen checkpoints;
- ``loglinear``: per dataset, log y = c + s · log P (two parameters; the baseline every curve-fitter starts from),
  intervals from its residual scatter.

A second table cuts every fit run at half its epochs (a grid stopped early): ``loglinear`` takes the best value so
far as the truth, ``curves`` reads the rest of the way from the curves.

Collapsed runs (far below their width's median) are left out of the truth for the error, but not of the
regret: ``advise`` regret at a parameter budget compares the seed-mean NDCG@10 of the configuration the law
advises (highest prediction within the budget) with the best observed one within the same budget.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from srlaw.law.forms import mape
from srlaw.library.shape import (calibrated_document, collapse_counts, collapsed, failed_run, fit_library,
                                 library_without, probe_of, unstable_sizes)
from srlaw.law.fit import advise_regret
from srlaw.law.learning_curve import LearningCurveLaw
from srlaw.report.format import pct
from srlaw.law.two_stage import TwoStageLaw
from srlaw.train.curves import best_so_far
from srlaw.predictor.law import Law
from srlaw.predictor.advisor import expected_value
from srlaw.predictor.law import Z95
from srlaw.library.extrapolation_plots import FOLDER, figure_paths, plot_error_vs_factor, plot_pred_vs_obs
from srlaw.library.grid import EXTRA_SEEDS, same_source
from srlaw.library.fits import METRICS
from srlaw.library.store import ROOT, report_main, store_digest

FIT_MAX = 13_000  # 2 × 32 (12,992 non-embedding parameters) is the largest fitted model
LARGER_FIT_MAX = 51_000  # 2 × 64 (50,560): a second fit set, calibration runs four times as large
SPLITS = ((4, 10), (10, math.inf))
LAWS = ("shared", "library", "two_stage", "curves", "loglinear")
CAPPED_LAWS = ("curves_capped", "loglinear_capped")
CAP_SHARE = 0.5  # the capped scenario keeps this share of each fit run's epochs
REPORT = ROOT / "reports" / "extrapolation.md"


def seed_means(records: list[dict], metric: str) -> dict:
    by = {}
    for r in records:
        by.setdefault((r["n_layers"], r["d_model"]), []).append(r)
    return {c: {"y": float(np.mean([r[metric] for r in rs])), "n": len(rs), "P": rs[0]["params_non_embedding"],
                "runs": [float(r[metric]) for r in rs],
                "sd": float(np.std([r[metric] for r in rs], ddof=1)) if len(rs) > 1 else None} for c, rs in by.items()}


def loglinear(fit_runs: list[dict], metric: str):
    """log y = c + s·log P on the fit set; returns predict(P) -> (value, lower, upper)."""
    x = np.log([r["params_non_embedding"] for r in fit_runs])
    y = np.log([r[metric] for r in fit_runs])
    s, c = np.polyfit(x, y, 1)
    sd = float(np.std(y - (c + s * x), ddof=2)) if len(y) > 2 else 0.0

    def predict(P):
        v = math.exp(c + s * math.log(P))
        return v, v * math.exp(-Z95 * sd), v * math.exp(Z95 * sd)
    return predict


def evaluate(records: list[dict], datasets: dict) -> dict:
    fit_recs = [r for r in records if r["params_non_embedding"] <= FIT_MAX]
    users = {v: d["n_users"] for v, d in datasets.items()}
    fits = {m: fit_library(fit_recs, m, {v: probe_of(d["scores"], m) for v, d in datasets.items()}, users)
            for m in METRICS}
    out = {}
    for name, ds in sorted(datasets.items()):
        mine = [r for r in records if r["variant"] == name]
        mine_fit = [r for r in mine if r["params_non_embedding"] <= FIT_MAX]
        p_fit = max(r["params_non_embedding"] for r in mine_fit)
        # what the library knows of the sizes that diverge comes from the other datasets' grids, never this one's
        others = [r for r in records if r["variant"] != name]
        unstable, collapse = unstable_sizes(others), collapse_counts(others)
        shared = Law(calibrated_document(fits, ds, ds["recipe_name"], mine_fit, unstable=unstable, collapse=collapse))
        lib_fits = library_without(records, datasets, name)
        library = library_law(mine_fit, ds, lib_fits, unstable, collapse)
        entry = {"fit_points": len(mine_fit), "largest_fitted": p_fit, "metrics": {m: {} for m in METRICS}}
        for m in METRICS:
            bad = {(r["n_layers"], r["d_model"], r["seed"]) for r in collapsed(mine, m)}
            truth = seed_means([r for r in mine if (r["n_layers"], r["d_model"], r["seed"]) not in bad
                                and r["params_non_embedding"] > p_fit], m)
            base = loglinear(mine_fit, m)
            fit_ok = [r for r in mine_fit if (r["n_layers"], r["d_model"], r["seed"]) not in bad]
            two = TwoStageLaw([r["params_non_embedding"] for r in fit_ok], [r["loss"] for r in fit_ok],
                              [r[m] for r in fit_ok])
            laws = {"two_stage": two.predict, "loglinear": base, **curve_laws(fit_ok, m)}
            rows = []
            for (n, d), t in sorted(truth.items(), key=lambda kv: kv[1]["P"]):
                p, q = (law.predict(n, d, metric=m, warn=False) for law in (shared, library))
                rows.append({"n_layers": n, "d_model": d, "factor": t["P"] / p_fit, "observed": t["y"],
                             "runs": t["runs"], "n_seeds": t["n"], "seed_sd": t["sd"],
                             "shared": [float(p.value), float(p.lower), float(p.upper)],
                             "library": [float(q.value), float(q.lower), float(q.upper)],
                             **{k: [float(v) for v in f(t["P"])] for k, f in laws.items()}})
            entry["metrics"][m]["two_stage_fit"] = {"loss_law": dict(zip(("E", "log_A", "alpha"), two.theta.tolist())),
                                                    "link": dict(zip(("a", "b"), two.link)), "sigma": two.sigma}
            entry["metrics"][m].update({"points": rows, "splits": split_errors(rows, LAWS + CAPPED_LAWS)})
        entry["regret"] = regret(mine, shared)
        entry["regret_library"] = regret(mine, library)
        entry["regret_library_unpriced"] = regret(mine, library, price_risk=False)
        entry["larger_fit_set"] = larger_fit_set(mine, ds, lib_fits, unstable, collapse)
        siblings = same_source(name) - {name}
        if siblings:  # the library a user with truly new data meets: every cut of this dataset's source left out
            apart = [r for r in others if r["variant"] not in siblings]
            entry["source_out"] = source_out(mine, ds, library_without(records, datasets, name, siblings),
                                             unstable_sizes(apart), collapse_counts(apart), sorted(siblings))
        out[name] = entry
    return {"store_digest": store_digest(records), "fit_max": FIT_MAX, "larger_fit_max": LARGER_FIT_MAX,
            "fits": {m: f.to_dict() for m, f in fits.items()}, "datasets": out}


def library_law(fit_runs: list[dict], ds: dict, lib_fits: dict, unstable, collapse) -> Law:
    """The ``library`` law: ``ds`` calibrated with the library left without it on its ``fit_runs`` (runs that
    ``failed_run`` calls failed left out, as ``srlaw calibrate`` leaves them)."""
    cal = [r for r in fit_runs
           if failed_run(lib_fits["ndcg@10"], probe_of(ds["scores"], "ndcg@10"), ds["n_users"], r) is None]
    return Law(calibrated_document(lib_fits, ds, ds["recipe_name"], cal, unstable=unstable, collapse=collapse))


def split_errors(rows: list[dict], laws) -> dict:
    """Per extrapolation split: each law's MAPE, max error and 95 % coverage over the rows in it, and the seed sd."""
    out = {}
    for lo, hi in SPLITS:
        sel = [r for r in rows if lo <= r["factor"] < hi]
        if not sel:
            continue
        split = {"n": len(sel)}
        for law in laws:
            ape = [abs(r[law][0] - r["observed"]) / r["observed"] for r in sel]
            inside = [r[law][1] <= r["observed"] <= r[law][2] for r in sel]
            # every law's interval is for one run's outcome: each seed's run is a point too (a seed mean of three
            # scatters less than one run, so the seed-mean coverage runs high)
            inside_runs = [r[law][1] <= v <= r[law][2] for r in sel for v in r["runs"]]
            split[law] = {"mape": mape([r["observed"] for r in sel], [r[law][0] for r in sel]),
                          "max_ape": float(np.max(ape)),
                          "coverage": float(np.mean(inside)), "coverage_runs": float(np.mean(inside_runs)),
                          "n_runs": len(inside_runs)}
        sds = [r["seed_sd"] / r["observed"] for r in sel if r["seed_sd"] is not None]
        split["seed_sd_rel"] = float(np.median(sds)) if sds else None
        out[f"{lo}x+" if hi == math.inf else f"{lo}-{hi}x"] = split
    return out


def source_out(mine: list[dict], ds: dict, lib_fits: dict, unstable, collapse, left_out: list[str]) -> dict:
    """The ``library`` law on the main split with a library that lacks every other cut of the dataset's source."""
    fit = [r for r in mine if r["params_non_embedding"] <= FIT_MAX]
    p_fit = max(r["params_non_embedding"] for r in fit)
    law = library_law(fit, ds, lib_fits, unstable, collapse)
    return {"left_out": left_out, "metrics": library_scores(mine, law, p_fit), "regret": regret(mine, law)}


def larger_fit_set(mine: list[dict], ds: dict, lib_fits: dict, unstable, collapse) -> dict:
    """The ``library`` law again, calibrated on every run up to :data:`LARGER_FIT_MAX` and scored at >= 4x that:
    whether the width gain a dataset keeps beyond 32 (ML-1M's) shows once the fit set reaches 64 wide."""
    fit = [r for r in mine if r["params_non_embedding"] <= LARGER_FIT_MAX]
    p_fit = max(r["params_non_embedding"] for r in fit)
    law = library_law(fit, ds, lib_fits, unstable, collapse)
    return {"fit_points": len(fit), "largest_fitted": p_fit, "metrics": library_scores(mine, law, p_fit)}


def library_scores(mine: list[dict], law: Law, p_fit: float) -> dict:
    """Per metric, ``law`` against the seed means of every size above ``p_fit`` (collapsed seeds left out): the
    points and their extrapolation splits."""
    out = {}
    for m in METRICS:
        bad = {(r["n_layers"], r["d_model"], r["seed"]) for r in collapsed(mine, m)}
        truth = seed_means([r for r in mine if (r["n_layers"], r["d_model"], r["seed"]) not in bad
                            and r["params_non_embedding"] > p_fit], m)
        rows = []
        for (n, d), t in sorted(truth.items(), key=lambda kv: kv[1]["P"]):
            q = law.predict(n, d, metric=m, warn=False)
            rows.append({"n_layers": n, "d_model": d, "factor": t["P"] / p_fit, "observed": t["y"],
                         "runs": t["runs"], "n_seeds": t["n"], "seed_sd": t["sd"],
                         "library": [float(q.value), float(q.lower), float(q.upper)]})
        out[m] = {"points": rows, "splits": split_errors(rows, ("library",))}
    return out


def curve_laws(fit_runs: list[dict], metric: str, cap_share: float = CAP_SHARE) -> dict:
    """predict(P) of the learning-curve law on the runs' whole curves and on curves cut at ``cap_share`` of their
    epochs, and of the log-linear law on the cut runs' best values so far (what a cut grid would report)."""
    curves = [r["curve"][metric] for r in fit_runs]
    P = [r["params_non_embedding"] for r in fit_runs]
    ratio = float(np.median([r[metric] / max(c) for r, c in zip(fit_runs, curves)]))  # test / valid, chosen ckpt
    cut = [c[:max(1, math.ceil(cap_share * len(c)))] for c in curves]
    capped_ends = [{"params_non_embedding": p, metric: ratio * float(best_so_far(c)[-1])} for p, c in zip(P, cut)]
    return {"curves": LearningCurveLaw(P, curves, ratio).predict,
            "curves_capped": LearningCurveLaw(P, cut, ratio).predict,
            "loglinear_capped": loglinear(capped_ends, metric)}


def regret(mine: list[dict], law, min_budget: float = FIT_MAX, price_risk: bool = True) -> list[dict]:
    """At each held-out size (> ``min_budget``) as a budget: advised (best predicted within it) vs best observed
    (:func:`srlaw.law.fit.advise_regret`), on seed means; ``price_risk=False`` ranks by the prediction alone (the
    ablation of ``advise``'s collapse-risk pricing)."""
    truth = seed_means(mine, "ndcg@10")  # collapsed runs count: advising a model that diverges is a real loss
    configs = sorted(truth, key=lambda c: truth[c]["P"])
    params = [truth[c]["P"] for c in configs]
    # as `advise` does: a size the library saw diverge is never the advised one, and its collapse risk is priced in
    pred = [-math.inf if c in law.unstable else float(expected_value(
        law.predict(c[0], c[1], warn=False, interval=False).value, law.collapse_risk(c[0], c[1]) if price_risk else 0))
            for c in configs]
    return [{"budget": r["budget"], "advised": list(configs[r["advised"]]), "best": list(configs[r["best"]]),
             "regret": r["regret"]}
            for r in advise_regret(params, pred, [truth[c]["y"] for c in configs],
                                   [p for p in params if p > min_budget])]


def summary(doc: dict, laws=LAWS + CAPPED_LAWS, part: str | None = None) -> dict:
    """Per law and split: median and worst of the (dataset, metric) MAPEs, and coverage pooled over points
    (``part``: as for :func:`table`)."""
    out = {}
    for law in laws:
        for key in [f"{lo}x+" if hi == math.inf else f"{lo}-{hi}x" for lo, hi in SPLITS]:
            cells = [me["splits"][key] for e in doc["datasets"].values() if not part or part in e
                     for me in (e[part] if part else e)["metrics"].values() if key in me["splits"]]
            if not cells:
                continue
            mapes = [c[law]["mape"] for c in cells]
            n, runs = sum(c["n"] for c in cells), sum(c[law]["n_runs"] for c in cells)
            out.setdefault(law, {})[key] = {"median_mape": float(np.median(mapes)), "worst_mape": float(max(mapes)),
                                            "coverage": sum(c[law]["coverage"] * c["n"] for c in cells) / n,
                                            "points": n, "runs": runs,
                                            "coverage_runs": sum(c[law]["coverage_runs"] * c[law]["n_runs"]
                                                                 for c in cells) / runs}
    return out


def table(doc: dict, laws, part: str | None = None) -> list[str]:
    """Markdown rows: per dataset, metric and split, each law's MAPE (max) and coverage, and the seed sd
    (``part``: a dataset entry's key holding another fit set's results, e.g. ``larger_fit_set``)."""
    head = " | ".join(f"{law} MAPE (max) | coverage" for law in laws)
    lines = [f"| dataset | metric | split | points | {head} | seed sd |", "|---" * (5 + 2 * len(laws)) + "|"]
    for name, e in doc["datasets"].items():
        if part and part not in e:
            continue
        for m, me in (e[part] if part else e)["metrics"].items():
            for key, s in me["splits"].items():
                cells = [f"{pct(s[law]['mape'])} ({pct(s[law]['max_ape'])}) | {pct(s[law]['coverage'])}" for law in laws]
                lines.append(f"| {name} | {m} | {key} | {s['n']} | {' | '.join(cells)} | {pct(s['seed_sd_rel'])} |")
    return lines


def library_splits(doc: dict, part: str) -> list[str]:
    """Markdown rows: the ``library`` law's summary per split over the datasets' ``part`` results."""
    return ["| split | median MAPE | worst MAPE | coverage: seed means (points) | single runs (runs) |",
            "|---|---|---|---|---|",
            *(f"| {key} | {pct(v['median_mape'])} | {pct(v['worst_mape'])} | {pct(v['coverage'])} ({v['points']}) | "
              f"{pct(v['coverage_runs'])} ({v['runs']}) |"
              for key, v in summary(doc, ("library",), part).get("library", {}).items())]


TARGET_DATASETS = {"ml-1m": "ML-1M", "beauty-s3rec": "Beauty", "sports-s3rec": "Sports"}  # the extrapolation targets'
# the extrapolation targets: MAPE per split (keys of :data:`SPLITS`), interval coverage, advise regret, seconds to fit
TARGETS = {"mape": {"4-10x": 0.03, "10x+": 0.05}, "coverage": (0.90, 0.99), "regret": 0.02, "fit_seconds": 60.0}


def lacking(doc: dict) -> str:
    """What the store still lacks to score the extrapolation targets: a target dataset's finished grid, or three usable
    seeds (collapsed runs left out) at its held-out sizes of ≥ 4×."""
    out = []
    for variant, label in TARGET_DATASETS.items():
        e = doc["datasets"].get(variant)
        if e is None:
            out.append(f"{label} (its grid is not finished)")
            continue
        few = sorted({(p["n_layers"], p["d_model"]) for m in e["metrics"].values() for p in m["points"]
                      if p["factor"] >= SPLITS[0][0] and p["n_seeds"] < 1 + len(EXTRA_SEEDS)})
        if few:
            out.append(f"{label} at {', '.join(f'{n} × {d}' for n, d in few)}")
    return ("three usable seeds on " + "; ".join(out)) if out else "nothing"


def markdown(doc: dict) -> str:
    lines = ["# Scale extrapolation on the law library's runs", "",
             "Regenerate: `python -m srlaw.library.extrapolate` (from `reports/library_runs/`). JSON beside this "
             "file. Fit set: every model with ≤ 13,000 non-embedding parameters (widths 16–32, 2 × 32 the "
             "largest); held out: everything larger, by its size over the largest fitted one. Truth: seed mean.", "",
             *table(doc, LAWS), "",
             f"## Fit runs cut at {CAP_SHARE:.0%} of their epochs (a grid stopped early)", "",
             *table(doc, CAPPED_LAWS)]
    lines += ["", "## Summary over datasets and metrics", "",
              "| law | split | median MAPE | worst MAPE | coverage: seed means (points) | single runs (runs) |",
              "|---|---|---|---|---|---|"]
    for law, rows in summary(doc).items():
        for key, v in rows.items():
            lines.append(f"| {law} | {key} | {pct(v['median_mape'])} | {pct(v['worst_mape'])} | "
                         f"{pct(v['coverage'])} ({v['points']}) | {pct(v['coverage_runs'])} ({v['runs']}) |")
    lines += ["", "Every law's 95 % interval is for one run's outcome (parameter uncertainty and the scatter of "
              "single runs), so the single-runs column checks what it claims — every seed's run of a held-out "
              "size a point; the seed-means column scores the mean of up to three seeds, which scatters less."]
    lines += ["", "## A larger fit set: the `library` law calibrated on every run up to 2 × 64", "",
              "The same law, each dataset calibrated on its runs of ≤ 51,000 non-embedding parameters (2 × 64 "
              "the largest, 50,560: each calibration run up to four times the main fit set's largest) and scored "
              "at ≥ 4× that (1 × 256 and 4 × 128 at ≈ 7.9×; 2 × 256 and 4 × 256 at ≥ 10×): whether a width gain "
              "that parts from the other datasets' only beyond 32 wide (ML-1M's) is seen from runs that reach 64.",
              "", *table(doc, ("library",), "larger_fit_set"), "",
              *library_splits(doc, "larger_fit_set")]
    apart = {n: e["source_out"] for n, e in doc["datasets"].items() if "source_out" in e}
    lines += ["", "## The whole source left out", "",
              "The `library` column leaves the held-out dataset out of the library, but another cut of the same raw "
              "data may stay in (ML-1M's quarter when ML-1M is held out; the BERT4Rec cuts of Amazon Beauty when "
              "Beauty (S3Rec) is). Here every cut of the source leaves with it — the library a user with truly new "
              "data meets; main split (fit set ≤ 2 × 32). Datasets cut from a source of their own are as above.", "",
              *table(doc, ("library",), "source_out"), "",
              *library_splits(doc, "source_out"), "",
              "`advise` regret with that library (NDCG@10, median / worst): " + "; ".join(
                  f"{n} {pct(float(np.median([x['regret'] for x in e['regret']])))} / "
                  f"{pct(max(x['regret'] for x in e['regret']))} (without {', '.join(e['left_out'])})"
                  for n, e in apart.items()) + "."]
    lines += ["", f"![predicted against observed]({FOLDER}/pred_vs_obs.png)", "",
              "Held-out points of ML-1M, Beauty and Sports (every size above the fit set, 2–4× included): the "
              "observed seed mean with its seed-to-seed sd, the `library` and `shared` predictions with their 95 % "
              "intervals; the shaded band is ±5 %.", "",
              f"![error against extrapolation]({FOLDER}/error_vs_factor.png)", "",
              "Every dataset's held-out points, each law's signed error against the size over the largest fitted "
              "one; dotted ±3 %, dashed ±5 %, grey the median seed-to-seed sd.", ""]
    lines += ["## `advise` regret (NDCG@10, budget = a held-out size in non-embedding parameters)", "",
              "| dataset | shared: median regret | worst | library: median regret | worst | "
              "library, risk not priced: worst | budgets |",
              "|---|---|---|---|---|---|---|"]
    for name, e in doc["datasets"].items():
        r, q, u = ([x["regret"] for x in e[k]] for k in ("regret", "regret_library", "regret_library_unpriced"))
        lines.append(f"| {name} | {pct(float(np.median(r)))} | {pct(max(r))} | {pct(float(np.median(q)))} | "
                     f"{pct(max(q))} | {pct(max(u))} | {len(r)} |")
    lines += ["", "`advise` ranks by the expected value of one training run: the prediction times the share of the "
              "library's runs at that size that did not collapse (`srlaw.predictor.advisor.expected_value`; here "
              "the other datasets' runs). Truth counts collapsed seeds: a size that diverges is a real loss. The "
              "ablation column ranks by the prediction alone."]
    t = TARGETS
    lines += ["", f"Targets (scale extrapolation): MAPE ≤ {100 * t['mape']['4-10x']:.0f} % at ≥ 4× and ≤ "
              f"{100 * t['mape']['10x+']:.0f} % at ≥ 10× on ML-1M, Beauty and Sports; coverage "
              f"{100 * t['coverage'][0]:.0f}–{100 * t['coverage'][1]:.0f} %; regret ≤ {100 * t['regret']:.0f} %. "
              f"What this store lacks for them: {lacking(doc)}.", "",
              "Why the two-stage law does not win here: under the library recipe (dropout 0.3, early stopping on "
              "NDCG@10) the held-out cross-entropy of the chosen checkpoint is not monotone in NDCG@10 across "
              "sizes — on Beauty it rises from 8.90 (1 × 16) to 9.2–9.7 while NDCG@10 rises too (wide models "
              "grow over-confident before their ranking stops improving), and on ML-100K 1 × 256 has a higher "
              "loss than 2 × 32 and a higher NDCG@10. Where the monotone link goes flat (b = 0: Beauty, ML-1M "
              "users25) or the loss law saturates inside the fit range (Sports users25: α at its bound), it "
              "predicts about the fit set's level — cautious where the metric barely moves, low where it keeps "
              "rising; on ML-1M its loss law is nearly a pure power (α ≈ 0.01) and overshoots at ≥ 10× like the "
              "log-linear baseline.", "",
              "The learning-curve law (`curves`) reads each run's converged value off its best-so-far curve and fits "
              "the size law on those: where every small run really converged it is the best of the four at the "
              "median, but it breaks on ml-latest-small, whose 16-wide runs (and one 2 × 32 seed) stopped on a "
              "false plateau (patience 4, a few steps an epoch) at a third of the 1 × 32 runs' value — the "
              "log-linear size law through those limits explodes. Cut at half their epochs, the curves are too "
              "short to place their bend, and their extrapolated limits miss by more than the cut values "
              "themselves (`loglinear_capped`). Its intervals are wide (the limits' scatter) and cover every "
              "point.", ""]
    return "\n".join(lines) + "\n"


def figures(doc: dict, report) -> None:
    """Predicted against observed on the extrapolation targets' datasets (the library's two forms), and every law's error against
    the extrapolation factor, beside ``report``."""
    paths = figure_paths(report)
    plot_pred_vs_obs(doc, TARGET_DATASETS, ("library", "shared"), METRICS, paths["pred_vs_obs"])
    plot_error_vs_factor(doc, LAWS, METRICS, SPLITS, paths["error_vs_factor"])


def main(argv=None) -> int:
    return report_main(argv, "extrapolate", __doc__, REPORT, evaluate, markdown, lambda doc: print(markdown(doc)),
                       figures=figures)


if __name__ == "__main__":
    sys.exit(main())
