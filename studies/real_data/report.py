"""The real-data study's report: from the runs on disk to ``reports/study.md``, its plots, and the
laws released under ``artifacts/laws/<grid>/``. The `report` stage of ``studies/real_data/dvc.yaml``:

    python -m studies.real_data.report          # minutes on a CPU; needs no raw data

Scale extrapolation per grid (every form fitted on the runs with ≤ ``holdout_fraction`` of the largest
non-embedding parameter count, scored on the rest), leave-one-variant-out of the joint law over every run of the
``joint_recipe`` (the grids plus the data-quality study's one-size runs), the data-quality Spearman table, and the
release of each finished grid's law (form chosen on held-out error, refitted on all its runs with bootstrap).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from srlaw.core.atomic import write_bytes_atomic, write_json_atomic
from srlaw.core.settings import parse
from srlaw.train.settings import ModelSettings, Recipe, TrainConfig, parse_nested_recipe
from srlaw.core.errors import ParamsError, SrlawError
from srlaw.report.format import pct, save_png
from srlaw.core.sizing import SHAPE_KEYS, non_embedding_params
from studies.real_data.report_markdown import METRICS, render_markdown
from studies.real_data.study_config import PARAMS, ROOT, RUNS_DIR, load_params, run_config, runs_path

REPORTS = ROOT / "reports"


def run_key(run: dict) -> tuple:
    """(variant, n_layers, d_model): what names one run across runs files, records and held-out points."""
    return run["variant"], run["n_layers"], run["d_model"]


def observed(row: dict, metric: str) -> float:
    """The mean of the validation and test users' metric: two disjoint evaluations of one model halve the noise."""
    return 0.5 * (row["valid"][metric] + row["test"][metric])


def score_of(scores: dict, key: str) -> float:
    """``scores['effective_data']['apen_mean']`` for ``'effective_data.apen_mean'`` (the fit stage's lookup)."""
    from srlaw.data.quality import data_score
    return data_score(scores, key, "a study runs file")


def grid_records(doc: dict, key: str) -> list[dict]:
    out = []
    for r in doc["rows"]:
        rec = {k: r[k] for k in ("variant", "n_layers", "d_model", "params_non_embedding", "params_total")}
        rec["data"] = score_of(doc["scores"][r["variant"]], key)
        rec["split"] = "mean(valid, test)"
        rec.update({m: observed(r, m) for m in METRICS})
        out.append(rec)
    return out


def fixed_size_records(dq_runs: Path, recipe: Recipe, key: str, taken: set) -> tuple[list[dict], dict]:
    """The data-quality study's one-size runs as law records, if its recipe matches ``recipe`` in effect."""
    doc = json.loads(Path(dq_runs).read_text())
    model = parse(ModelSettings, {k: v for k, v in doc["model"].items() if k not in ("n_layers", "d_model")},
                  "model", str(dq_runs))
    train = parse(TrainConfig, {**doc["train"], "seed": recipe.train.seed}, "train", str(dq_runs))
    epochs = [r["sasrec"]["epochs"] for r in doc["rows"]]
    same_train = replace(train, max_epochs=1) == replace(recipe.train, max_epochs=1)
    cap = min(train.max_epochs, recipe.train.max_epochs)
    check = {"model_matches": model == recipe.model, "train_matches_but_max_epochs": same_train,
             "max_epochs_used": max(epochs), "epoch_cap_of_both": cap,
             "equivalent": model == recipe.model and same_train and max(epochs) < cap}
    if not check["equivalent"]:
        return [], check
    L_, d = doc["model"]["n_layers"], doc["model"]["d_model"]
    out = []
    for r in doc["rows"]:
        if (r["variant"], L_, d) in taken:  # the grid already holds a run of this configuration
            continue
        out.append({"variant": r["variant"], "n_layers": L_, "d_model": d,
                    "params_non_embedding": int(non_embedding_params(L_, d, **{k: getattr(model, k) for k in SHAPE_KEYS})),
                    "data": score_of(r["scores"], key), "split": "mean(valid, test)",
                    **{m: observed(r["sasrec"], m) for m in METRICS}})
    return out, check


def plot_scale(name: str, records: list[dict], sel: dict, path: Path) -> None:
    """Metric against non-embedding parameters; held-out runs hollow, each form's prediction of them marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(METRICS), figsize=(5.5 * len(METRICS), 4), squeeze=False)
    markers = dict(zip(sel["ranking"], "xP+^v*"))
    limit = None
    for ax, m in zip(axes[0], METRICS):
        for v in sorted({r["variant"] for r in records}):
            rs = sorted((r for r in records if r["variant"] == v), key=lambda r: r["params_non_embedding"])
            ax.plot([r["params_non_embedding"] for r in rs], [r[m] for r in rs], "o", alpha=0.7, label=f"{v} observed")
        for form in sel["ranking"]:
            se = sel["forms"][form]["metrics"][m]["scale_extrapolation"]
            limit = se.get("fit_params_max", limit)
            pne = {run_key(r): r["params_non_embedding"] for r in records}
            pts = se.get("points", [])
            ax.scatter([pne[run_key(p)] for p in pts],
                       [p["predicted"] for p in pts], marker=markers[form], s=50,
                       label=f"{form} prediction ({pct(se.get('mape'))})")
        if limit:
            ax.axvline(limit, color="k", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("non-embedding parameters (dashed: largest fitted)")
        ax.set_ylabel(f"{m} (mean of valid and test)")
        ax.set_title(f"{name}: scale extrapolation, {m}")
        ax.legend(fontsize=6)
    save_png(fig, path, dpi=100)
    plt.close(fig)


def plot_lovo(lovo: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    forms = list(lovo)
    variants = sorted({v for f in forms for v in lovo[f]["ndcg@10"].get("per_variant", {})})
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(variants)), 4))
    w = 0.8 / max(len(forms), 1)
    for i, f in enumerate(forms):
        per = lovo[f]["ndcg@10"].get("per_variant", {})
        ax.bar(np.arange(len(variants)) + i * w, [100 * per.get(v, {}).get("mape", np.nan) for v in variants], w,
               label=f)
    ax.axhline(10, color="k", ls="--", lw=1)
    ax.set_xticks(np.arange(len(variants)) + 0.4 - w / 2, variants, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("NDCG@10 error when held out (%)")
    ax.set_yscale("log")
    ax.set_title("leave one variant out (dashed: 10 % target)")
    ax.legend(fontsize=7)
    save_png(fig, path, dpi=100)
    plt.close(fig)


def noise_floor(doc: dict) -> dict:
    """Relative sampling error (one s.e.) of the averaged metric: a law cannot be checked below it.

    Each of the n users scores a hit (HR) or a per-user NDCG in [0, 1], each on the validation and the test item:
    the mean over 2n evaluations has s.e. at most sqrt(p(1 − p) / 2n) (:func:`srlaw.law.fit.sampling_se_bound`).
    """
    from srlaw.law.fit import sampling_se_bound
    out = {}
    for m in METRICS:
        rel, gap = [], []
        for r in doc["rows"]:
            p, n = observed(r, m), 2 * doc["scores"][r["variant"]]["n_users"]
            if p <= 0:
                continue
            rel.append(float(sampling_se_bound(p, n)) / p)
            gap.append((r["valid"][m] - r["test"][m]) / p)
        out[m] = {"sampling_error": float(np.median(rel)) if rel else None,
                  "valid_minus_test": float(np.median(gap)) if gap else None}
    return out


def collapsed_runs(records: list[dict], metric: str = "ndcg@10") -> list[dict]:
    """The study's records that :func:`srlaw.library.shape.collapsed` calls failed optimisations (one rule for both)."""
    from srlaw.library.shape import collapsed
    return [{"variant": r["variant"], "n_layers": r["n_layers"], "d_model": r["d_model"], metric: r[metric],
             "peer_median": r["peer_median"]} for r in collapsed(records, metric)]


def ship_law(name: str, records: list[dict], variants: dict, recipe: Recipe, params, laws_dir: Path) -> dict:
    """Fit the held-out-selected form on all of a grid's runs and release it under artifacts/laws/<name>/."""
    from srlaw.report.markdown import write_report
    from srlaw.law.schema import write_law
    from srlaw.core.provenance import write_manifest
    from srlaw.pipeline.fit_stage import fit_law

    law_cfg = replace(params.law, metrics=list(METRICS), split="mean(valid, test)")
    trained = {**asdict(recipe.model), **asdict(run_config(recipe)), "grid": name}
    out = Path(laws_dir) / name.replace("/", "_")
    law = write_law(out / "law.json", fit_law(records, variants, law_cfg, params.seed, trained, params.raw,
                                              default_variant=params.grids[name].variants[0]))
    write_report(law, out)
    write_manifest(out, params.raw)
    return law


def cmd_report(args) -> int:
    from srlaw.law.fit import RunTable, leave_one_variant_out_error, select_form

    params = load_params(args.params)
    lc = params.law
    fit_kw = {"huber_delta": lc.huber_delta, "n_starts": lc.n_starts, "seed": params.seed}
    key = lc.data_score
    reports = Path(args.reports)
    study_dir = reports / "study"  # plots and study.json beside study.md
    dq_runs = Path(args.dq_runs)
    result = {"data_score": key, "holdout_fraction": lc.holdout_fraction, "grids": {}, "shipped": {}}
    grids = {}
    for name, grid in params.grids.items():
        path = runs_path(name, args.runs_dir)
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        if not path.is_file():
            result["grids"][name] = {"missing": f"{shown} not found: run `train_grid.py --grid {name}`"}
            continue
        doc = json.loads(path.read_text())
        recipe = params.recipes[grid.recipe]
        if parse_nested_recipe(doc["recipe"], "recipe", str(path), params.seed) != recipe:
            raise ParamsError(f"{path}: trained under {doc['recipe']}, {params.path} says "
                              f"{params.raw['recipes'][grid.recipe]}; retrain the grid")
        grids[name] = doc
        records = grid_records(doc, key)
        if not records:
            result["grids"][name] = {"missing": f"{shown} holds no run yet"}
            continue
        planned = len(grid.variants) * len(grid.points())
        entry = {"recipe": grid.recipe, "n_runs": len(records), "n_planned": planned,
                 "variants": sorted({r["variant"] for r in records}),
                 "devices": sorted({r["device"] for r in doc["rows"]}),
                 "train_seconds": float(sum(r["train_seconds"] for r in doc["rows"])),
                 "noise": noise_floor(doc), "data_content_hash": doc.get("data_content_hash", {})}
        result["grids"][name] = entry
        table = RunTable.from_records(records, METRICS)
        try:
            sel = select_form(table, METRICS, lc.forms, fraction=lc.holdout_fraction, **fit_kw)
        except Exception as e:  # a grid cut short can leave no run above the split
            entry["error"] = f"{type(e).__name__}: {e}"
            continue
        entry["collapsed_runs"] = collapsed_runs(records)
        entry["epoch_cap_hits"] = sum(r["epochs"] >= recipe.train.max_epochs for r in doc["rows"])
        entry["winner"], entry["ranking"] = sel["winner"], sel["ranking"]
        entry["forms"] = {f: {m: {**sel["forms"][f]["metrics"][m]["scale_extrapolation"],
                                  "in_sample_r2": sel["forms"][f]["metrics"][m]["in_sample_r2"]}
                              for m in METRICS} for f in sel["ranking"]}
        plot_scale(name, records, sel, study_dir / f"scale_{name.replace('/', '_')}.png")
        if len(records) == planned:  # only a finished grid is released
            variants = {v: {"content_hash": doc.get("data_content_hash", {}).get(v),
                            "data": score_of(doc["scores"][v], key), "n_items": doc["scores"][v].get("n_items"),
                            "scores": {k: x for k, x in doc["scores"][v].items() if isinstance(x, (int, float))}}
                        for v in entry["variants"]}
            law = ship_law(name, records, variants, recipe, params, args.laws_dir)
            result["shipped"][name] = {"path": f"artifacts/laws/{name.replace('/', '_')}/law.json", "form": law["form"]}

    # Unseen data: the joint law over every run of the joint recipe (grids + the data-quality study's one size)
    joint_recipe = params.recipes[lc.joint_recipe]

    def joint_records(score_key):
        recs = [r for n, doc in grids.items() if params.grids[n].recipe == lc.joint_recipe
                for r in grid_records(doc, score_key)]
        taken = {run_key(r) for r in recs}
        if not dq_runs.is_file():
            return recs, {"missing": str(dq_runs)}
        extra, chk = fixed_size_records(dq_runs, joint_recipe, score_key, taken)
        return recs + extra, chk

    def lovo_by_form(recs, forms):
        table = RunTable.from_records(recs, METRICS)
        return {f: {m: leave_one_variant_out_error(table, m, f, **fit_kw) for m in METRICS} for f in forms}

    joint, check = joint_records(key)
    lovo = lovo_by_form(joint, lc.forms)
    collapsed = collapsed_runs(joint)
    result["leave_one_variant_out"] = {"collapsed_runs": collapsed, "n_runs": len(joint),
                                       "n_variants": len({r["variant"] for r in joint}),
                                       "recipe_check": check, "forms": lovo}
    if collapsed:  # a diagnostic beside the headline, never in place of it: how much do failed runs weigh?
        failed = {run_key(c) for c in collapsed}
        kept = [r for r in joint if run_key(r) not in failed]
        result["leave_one_variant_out"]["without_collapsed"] = lovo_by_form(kept, lc.forms)
    plot_lovo(lovo, study_dir / "lovo.png")
    # the same held-out question with other data axes (e.g. the paper's D′): is our score the better axis?
    result["leave_one_variant_out"]["other_data_scores"] = {
        k: lovo_by_form(joint_records(k)[0], lc.forms) for k in lc.compare_data_scores}

    # Data quality: regenerate the data-quality study's analysis and keep the scores the issue names
    from studies.data_quality import run_study
    run_study.cmd_analyse(argparse.Namespace(runs=dq_runs, report=reports / "data_quality.json"))
    dq = json.loads((reports / "data_quality.json").read_text())
    result["data_quality"] = {"n_variants": dq["n_variants"], "spearman": dq["spearman"],
                              "spearman_oriented": dq["spearman_oriented"], "best_score": dq["best_score"]}
    write_json_atomic(study_dir / "study.json", result)
    md = render_markdown(result, params)
    write_bytes_atomic(reports / "study.md", md.encode())
    print(md)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", type=Path, default=PARAMS)
    p.add_argument("--runs-dir", type=Path, default=RUNS_DIR)
    p.add_argument("--dq-runs", type=Path, default=REPORTS / "data_quality_runs.json")
    p.add_argument("--reports", type=Path, default=REPORTS, help="where study.md, study/ and data_quality.* go")
    p.add_argument("--laws-dir", type=Path, default=ROOT / "artifacts" / "laws")
    try:
        return cmd_report(p.parse_args(argv))
    except SrlawError as e:
        print(f"report: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
