"""How far does a law fitted on small models reach? Scale extrapolation on the library's run store (issue #16).

    python -m studies.library.extrapolate          # reports/extrapolation.md and reports/extrapolation.json

Every dataset's runs at ≤ FIT_MAX non-embedding parameters (widths 16–32, depths 1–2 and 4 × 16) are the fit set;
everything larger is held out and split by its size over the largest fitted one: [4×, 10×) and ≥ 10×. Truth is
the seed mean (three seeds at the seeded configurations, one elsewhere); the seed-to-seed sd is reported beside
every error. Two laws, both fitted on the fit set alone:

- ``shared``: the law library's form (``srlaw.law_library``) fitted jointly over all datasets' small runs, each
  dataset then calibrated on its own small runs — intervals from its posterior, noise and misfit;
- ``loglinear``: per dataset, log y = c + s · log P (two parameters; the baseline every curve-fitter starts from),
  intervals from its residual scatter.

Collapsed runs (far below their width's median) are left out of the truth for the error, but not of the
regret: ``advise`` regret at a parameter budget compares the seed-mean NDCG@10 of the configuration the law
advises (highest prediction within the budget) with the best observed one within the same budget.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from srlaw.law_library import calibrate, collapsed, fit_library, law_document, probe_of
from srlaw.predictor import Law
from srlaw.predictor.law import Z95
from studies.library.store import METRICS, ROOT, STORE, load_store, write_report

FIT_MAX = 13_000  # 2 × 32 (12,992 non-embedding parameters) is the largest fitted model
SPLITS = ((4, 10), (10, math.inf))
REPORT = ROOT / "reports" / "extrapolation.md"


def seed_means(records: list[dict], metric: str) -> dict:
    by = {}
    for r in records:
        by.setdefault((r["n_layers"], r["d_model"]), []).append(r)
    return {c: {"y": float(np.mean([r[metric] for r in rs])), "n": len(rs), "P": rs[0]["params_non_embedding"],
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
        calibs = {m: calibrate(fits[m], probe_of(ds["scores"], m), ds["n_users"], mine_fit) for m in METRICS}
        shared = Law(law_document(fits, calibs, ds, ds["recipe_name"], mine_fit))
        entry = {"fit_points": len(mine_fit), "largest_fitted": p_fit, "metrics": {}}
        for m in METRICS:
            bad = {(r["n_layers"], r["d_model"], r["seed"]) for r in collapsed(mine, m)}
            truth = seed_means([r for r in mine if (r["n_layers"], r["d_model"], r["seed"]) not in bad
                                and r["params_non_embedding"] > p_fit], m)
            base = loglinear(mine_fit, m)
            rows = []
            for (n, d), t in sorted(truth.items(), key=lambda kv: kv[1]["P"]):
                p = shared.predict(n, d, metric=m, warn=False)
                b = base(t["P"])
                rows.append({"n_layers": n, "d_model": d, "factor": t["P"] / p_fit, "observed": t["y"], "n_seeds": t["n"],
                             "seed_sd": t["sd"], "shared": [float(p.value), float(p.lower), float(p.upper)],
                             "loglinear": list(b)})
            entry["metrics"][m] = {"points": rows, "splits": {}}
            for lo, hi in SPLITS:
                sel = [r for r in rows if lo <= r["factor"] < hi]
                if not sel:
                    continue
                key = f"{lo}x+" if hi == math.inf else f"{lo}-{hi}x"
                split = {"n": len(sel)}
                for law in ("shared", "loglinear"):
                    ape = [abs(r[law][0] - r["observed"]) / r["observed"] for r in sel]
                    inside = [r[law][1] <= r["observed"] <= r[law][2] for r in sel]
                    split[law] = {"mape": float(np.mean(ape)), "max_ape": float(np.max(ape)),
                                  "coverage": float(np.mean(inside))}
                sds = [r["seed_sd"] / r["observed"] for r in sel if r["seed_sd"] is not None]
                split["seed_sd_rel"] = float(np.median(sds)) if sds else None
                entry["metrics"][m]["splits"][key] = split
        entry["regret"] = regret(mine, shared)
        out[name] = entry
    return {"fits": {m: f.to_dict() for m, f in fits.items()}, "datasets": out}


def regret(mine: list[dict], law, min_budget: float = FIT_MAX) -> list[dict]:
    """At each held-out size (> ``min_budget``) as a budget: advised (best predicted within it) vs best observed."""
    truth = seed_means(mine, "ndcg@10")  # collapsed runs count: advising a model that diverges is a real loss
    configs = sorted(truth, key=lambda c: truth[c]["P"])
    pred = {c: float(law.predict(c[0], c[1], warn=False, interval=False).value) for c in configs}
    out = []
    for budget in sorted({truth[c]["P"] for c in configs if truth[c]["P"] > min_budget}):
        ok = [c for c in configs if truth[c]["P"] <= budget]
        advised = max(ok, key=pred.get)
        best = max(ok, key=lambda c: truth[c]["y"])
        out.append({"budget": budget, "advised": list(advised), "best": list(best),
                    "regret": (truth[best]["y"] - truth[advised]["y"]) / truth[best]["y"]})
    return out


def markdown(doc: dict) -> str:
    pct = lambda x: "—" if x is None else f"{100 * x:.1f} %"  # noqa: E731
    lines = ["# Scale extrapolation on the law library's runs (issue #16, first measurements)", "",
             "Regenerate: `python -m studies.library.extrapolate` (from `reports/library_runs/`). JSON beside this "
             "file. Fit set: every model with ≤ 13,000 non-embedding parameters (widths 16–32, 2 × 32 the "
             "largest); held out: everything larger, by its size over the largest fitted one. Truth: seed mean.", "",
             "| dataset | metric | split | points | shared law MAPE (max) | coverage | log-linear MAPE (max) | "
             "coverage | seed sd |", "|---|---|---|---|---|---|---|---|---|"]
    for name, e in doc["datasets"].items():
        for m, me in e["metrics"].items():
            for key, s in me["splits"].items():
                lines.append(f"| {name} | {m} | {key} | {s['n']} | {pct(s['shared']['mape'])} "
                             f"({pct(s['shared']['max_ape'])}) | {pct(s['shared']['coverage'])} | "
                             f"{pct(s['loglinear']['mape'])} ({pct(s['loglinear']['max_ape'])}) | "
                             f"{pct(s['loglinear']['coverage'])} | {pct(s['seed_sd_rel'])} |")
    lines += ["", "## `advise` regret (NDCG@10, budget = a held-out size in non-embedding parameters)", "",
              "| dataset | median regret | worst | budgets |", "|---|---|---|---|"]
    for name, e in doc["datasets"].items():
        r = [x["regret"] for x in e["regret"]]
        lines.append(f"| {name} | {pct(float(np.median(r)))} | {pct(max(r))} | {len(r)} |")
    lines += ["", "Targets (issue #16): MAPE ≤ 3 % at ≥ 4× and ≤ 5 % at ≥ 10× on ML-1M, Beauty and Sports; "
              "coverage 90–99 %; regret ≤ 2 %. What this store lacks for them: seeds on Beauty and Sports, full "
              "Sports, the two-stage (loss → metric) and learning-curve forms.", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, default=STORE)
    p.add_argument("--out", type=Path, default=REPORT)
    args = p.parse_args(argv)
    records, datasets = load_store(args.store)
    if not datasets:
        print(f"extrapolate: no finished runs in {args.store}", file=sys.stderr)
        return 2
    doc = evaluate(records, datasets)
    write_report(args.out, doc, markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
