"""How a performance law treats RecJPQ item embeddings, validated on held-out runs.

The law's size axis is non-embedding parameters; the item table is part of the recipe. The question is whether
the item embedding can be a **categorical of the recipe** — a law fitted on full-embedding runs predicts only
full-embedding models, a law fitted on jpq runs only jpq models — or whether one law serves both. This study
trains the default pipeline's grid (params.yaml, the embedded ml-latest-small data prepared by ``dvc repro``) a
second time with RecJPQ item embeddings (default settings), then measures on the jpq runs:

1. the full-embedding law of ``artifacts/law`` used as is (would "one law for both" work?);
2. a jpq law fitted like the pipeline's law (same forms, split and held-out rule): its held-out error;
3. the paired change of every configuration (jpq against full): metric, total parameters.

    python -m studies.recjpq.validate_law        # ≈ 10 min on 2 CPU cores; needs `dvc repro` to have run

Writes ``reports/recjpq.md`` and ``reports/recjpq.json``; runs live in ``studies/recjpq/runs/`` (not committed,
resumable: rerun the command).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from srlaw.law.forms import mape
from srlaw.core.atomic import write_bytes_atomic, write_json_atomic
from srlaw.pipeline.params import load_params
from srlaw.core.errors import SrlawError
from srlaw.law.fit import noise_floor
from srlaw.report.format import pct
from srlaw.predictor import Law
from srlaw.pipeline.fit_stage import collect_runs, fit_law
from srlaw.pipeline.train_stage import RUNS_DIR, run_name, train_grid_point

ROOT = Path(__file__).resolve().parents[2]
JPQ_RUNS = ROOT / "studies" / "recjpq" / "runs"


def trained_as(run_dir: Path, settings) -> bool:
    """Whether ``run_dir`` holds a finished run trained with these model settings: a run from before a default
    changed (or before a setting existed: :data:`srlaw.train.settings.LEGACY_RECIPE`) is trained again."""
    from dataclasses import asdict, fields

    from srlaw.train.settings import LEGACY_RECIPE
    path = run_dir / "metrics.json"
    if not path.is_file():
        return False
    saved = {**LEGACY_RECIPE, **json.loads(path.read_text())}
    want = asdict(settings)
    same = all(saved[f.name] == want[f.name] for f in fields(settings) if f.name in saved and f.name != "jpq")
    if settings.item_embedding == "jpq":  # the table's shape; older records carry extra bookkeeping keys
        same = same and all(saved["jpq"].get(k) == v for k, v in want["jpq"].items())
    return same


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--law", default="artifacts/law")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "recjpq")
    args = p.parse_args(argv)
    try:
        params = load_params(args.params)
        jpq_params = replace(params, train=replace(params.train,
                                                   model=replace(params.train.model, item_embedding="jpq")))
        for variant in params.grid.variants:
            for n_layers, d_model in params.grid.points():
                run_dir = JPQ_RUNS / run_name(variant, n_layers, d_model)
                if not trained_as(run_dir, jpq_params.train.model):
                    print(f"training jpq {run_name(variant, n_layers, d_model)}", flush=True)
                    train_grid_point(jpq_params, variant, n_layers, d_model, run_dir)
        full_records, variants = collect_runs(params, RUNS_DIR)
        jpq_records, _ = collect_runs(jpq_params, JPQ_RUNS)
        full_law = Law.load(args.law)
        jpq_doc = fit_law(jpq_records, variants, jpq_params.law, jpq_params.seed, jpq_params.train.to_dict(),
                          default_variant=params.export.variant)
    except SrlawError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    metrics = params.law.metrics
    largest = max(r["params_non_embedding"] for r in jpq_records)
    held = [r for r in jpq_records if r["params_non_embedding"] > params.law.holdout_fraction * largest]
    rows, out = [], {"settings": jpq_params.train.model.jpq.__dict__, "law": args.law, "metrics": {}}
    key = lambda r: (r["variant"], r["n_layers"], r["d_model"])  # noqa: E731
    full_by = {key(r): r for r in full_records}
    for metric in metrics:
        pred_all = np.array([float(full_law.predict(r["n_layers"], r["d_model"], variant=r["variant"], metric=metric,
                                                    warn=False, interval=False).value) for r in jpq_records])
        obs_all = np.array([r[metric] for r in jpq_records])
        is_held = np.array([r in held for r in jpq_records])
        full_obs = np.array([full_by[key(r)][metric] for r in jpq_records])
        jpq_val = jpq_doc["validation"]["scale_extrapolation"][metric]
        full_val = full_law.doc["validation"]["scale_extrapolation"][metric]
        out["metrics"][metric] = {
            "full_law_on_jpq_runs_mape_all": mape(obs_all, pred_all),
            "full_law_on_jpq_runs_mape_held_out": mape(obs_all[is_held], pred_all[is_held]),
            "full_law_on_full_runs_mape_held_out": full_val.get("mape"),
            "jpq_law_held_out_mape": jpq_val.get("mape"), "jpq_law_form": jpq_doc["form"],
            "jpq_vs_full_change_mean": float(np.mean(obs_all / full_obs - 1)),
            "jpq_vs_full_change_min": float(np.min(obs_all / full_obs - 1)),
            "jpq_vs_full_change_max": float(np.max(obs_all / full_obs - 1)),
        }
    for r in jpq_records:
        f = full_by[key(r)]
        rows.append({"variant": r["variant"], "n_layers": r["n_layers"], "d_model": r["d_model"],
                     "params_total_full": f["params_total"], "params_total_jpq": r["params_total"],
                     **{f"{m}_full": f[m] for m in metrics}, **{f"{m}_jpq": r[m] for m in metrics}})
    out["runs"] = rows
    out["n_held_out"] = len(held)
    # the noise floor: one binomial standard error of HR@10 over the variant's test users, relative to HR@10
    floor = noise_floor([{"variant": r["variant"], "observed": r["hr@10"]} for r in held],
                        {v: variants[v]["scores"]["n_users"] for v in variants})
    out["noise_floor_hr@10_relative_se_median"] = floor["relative_se_bound_median"]
    write_json_atomic(args.out.with_suffix(".json"), out)
    write_bytes_atomic(args.out.with_suffix(".md"), render(out, metrics, params).encode())
    print(f"wrote {args.out.with_suffix('.md')} and .json", file=sys.stderr)
    return 0


def render(out: dict, metrics, params) -> str:
    s = out["settings"]
    lines = ["# RecJPQ and the performance law (default pipeline grid, ml-latest-small)", "",
             f"Regenerate: `python -m studies.recjpq.validate_law`. Every grid point of `params.yaml` trained twice, "
             f"with full item embeddings (`runs/`) and with RecJPQ ({s['n_splits']} splits × {s['n_centroids']} "
             f"centroids, `{s['assignment']}` assignment); same recipe, seed and data. Held out: the "
             f"{out['n_held_out']} runs above {params.law.holdout_fraction:.0%} of the largest non-embedding size "
             f"(the pipeline's rule). Metric: test split. Noise floor: one binomial standard error of HR@10 on "
             f"these test users is {out['noise_floor_hr@10_relative_se_median']:.0%} of HR@10 (median over the held-out "
             f"runs): a single run of this data cannot resolve a difference below about twice that.", "",
             "| metric | full law on jpq runs, all | full law on jpq runs, held out | full law on full runs, held out "
             "| jpq law on jpq runs, held out | jpq − full, mean (min, max) |",
             "|---|---|---|---|---|---|"]
    for m in metrics:
        r = out["metrics"][m]
        lines.append(f"| {m} | {pct(r['full_law_on_jpq_runs_mape_all'])} | "
                     f"{pct(r['full_law_on_jpq_runs_mape_held_out'])} | {pct(r['full_law_on_full_runs_mape_held_out'])} "
                     f"| {pct(r['jpq_law_held_out_mape'])} (`{r['jpq_law_form']}`) | "
                     f"{100 * r['jpq_vs_full_change_mean']:+.1f} % ({100 * r['jpq_vs_full_change_min']:+.1f}, "
                     f"{100 * r['jpq_vs_full_change_max']:+.1f}) |")
    lines += ["", "| run | params full | params jpq | " + " | ".join(f"{m} full | {m} jpq" for m in metrics) + " |",
              "|---|---|---|" + "---|---|" * len(metrics)]
    for r in out["runs"]:
        lines.append(f"| {r['variant']}-{r['n_layers']}-{r['d_model']} | {r['params_total_full']:,} | "
                     f"{r['params_total_jpq']:,} | " + " | ".join(f"{r[m + '_full']:.4f} | {r[m + '_jpq']:.4f}"
                                                                  for m in metrics) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
