"""Real-data study of the performance law (issue #6): does a law fitted on cheap runs predict expensive ones and
other data? Two phases, driven by ``studies/real_data/params.yaml`` and wired as ``studies/real_data/dvc.yaml``:

    python studies/real_data/study.py train --grid beauty-s3rec   # one depth × width grid (GPU advised)
    python studies/real_data/study.py report                      # reports/study.md, plots, artifacts/laws/

``train`` appends one row per run to ``reports/study_runs/<grid>.json`` right after the run, so an interrupted
grid resumes where it stopped; it refuses to mix rows trained under another recipe. Raw data are read from
``data_root`` (../shared/data) and never copied into the project; each row records the variant's content hash,
the device and the seconds it took.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "studies" / "data_quality"))
sys.path.insert(0, str(HERE))
from run_study import VARIANTS, build  # noqa: E402
from study_config import PARAMS, RUNS_DIR, load_params, runs_path  # noqa: E402

from srlaw.atomic_write import write_bytes_atomic, write_json_atomic  # noqa: E402
from srlaw.dataset import save_dataset  # noqa: E402
from srlaw.entropy import entropy_scores  # noqa: E402


def cmd_train(args) -> int:
    from srlaw.models import ModelConfig
    from srlaw.training import TrainConfig, train_run

    params = load_params()
    if args.grid not in params["grids"]:
        raise SystemExit(f"--grid {args.grid!r} is not in {sorted(params['grids'])} (studies/real_data/params.yaml)")
    grid = params["grids"][args.grid]
    recipe = params["recipes"][grid["recipe"]]
    unknown = [v for v in grid["variants"] if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"grids.{args.grid}.variants: unknown {unknown}; known: {sorted(VARIANTS)}")
    out = runs_path(args.grid)
    doc = json.loads(out.read_text()) if out.is_file() else {"grid": args.grid, "recipe": recipe, "rows": [],
                                                             "scores": {}, "data_content_hash": {}}
    if doc["recipe"] != recipe:
        raise SystemExit(f"{out}: its rows were trained with recipe {doc['recipe']}, params.yaml now says {recipe}; "
                         "move the file away to retrain the grid under the new recipe")
    doc.setdefault("data_content_hash", {})
    done = {(r["variant"], r["n_layers"], r["d_model"]) for r in doc["rows"]}
    data_root = (ROOT / params.get("data_root", "../shared/data")).resolve()
    for variant in grid["variants"]:
        todo = [(n, d) for n in grid["depths"] for d in grid["widths"] if (variant, n, d) not in done]
        if not todo and variant in doc["scores"] and variant in doc["data_content_hash"]:
            continue
        ds, why = build(variant, data_root, seed=params.get("seed", 0))
        if ds is None:
            raise SystemExit(f"grid {args.grid}: {why} (licence-restricted data live only in ../shared/data)")
        if variant not in doc["scores"]:
            doc["scores"][variant] = entropy_scores(ds.items, ds.offsets, ds.n_items, m=2, r=0.2,
                                                    max_len=recipe["model"]["max_len"])
        doc["data_content_hash"][variant] = ds.content_hash()
        write_json_atomic(out, doc)
        # cheapest first: a grid cut short still has the small models the law is fitted on
        todo.sort(key=lambda nd: nd[0] * nd[1] ** 2)
        with tempfile.TemporaryDirectory() as tmp:
            save_dataset(ds, Path(tmp) / "data")
            for n_layers, d_model in todo:
                m = train_run(Path(tmp) / "data", Path(tmp) / f"run-{n_layers}-{d_model}",
                              ModelConfig(n_items=ds.n_items, n_layers=n_layers, d_model=d_model, **recipe["model"]),
                              TrainConfig(**recipe["train"], deterministic=False, progress_bar=False),
                              meta={"variant": variant, "grid": args.grid})
                doc["rows"].append({"variant": variant, "n_layers": n_layers, "d_model": d_model,
                                    "params_non_embedding": m["params_non_embedding"],
                                    "params_total": m["params_total"], "valid": m["valid"], "test": m["test"],
                                    "epochs": m["epochs"], "best_epoch": m["best_epoch"],
                                    "train_seconds": m["train_seconds"], "device": m["device"],
                                    "precision": m["precision"]})
                write_json_atomic(out, doc)
                print(f"{variant} L={n_layers} d={d_model}: test ndcg@10 {m['test']['ndcg@10']:.4f} "
                      f"({m['epochs']} epochs, {m['train_seconds']:.0f} s)", flush=True)
    return 0


# ---------------------------------------------------------------- report

METRICS = ("hr@10", "ndcg@10")
REPORTS = ROOT / "reports"


def observed(row: dict, metric: str) -> float:
    """The mean of the validation and test users' metric: two disjoint evaluations of one model halve the noise."""
    return 0.5 * (row["valid"][metric] + row["test"][metric])


def score_of(scores: dict, key: str) -> float:
    node = scores
    for part in key.split("."):
        node = node[part]
    return float(node)


def grid_records(doc: dict, key: str) -> list[dict]:
    out = []
    for r in doc["rows"]:
        rec = {k: r[k] for k in ("variant", "n_layers", "d_model", "params_non_embedding", "params_total")}
        rec["data"] = score_of(doc["scores"][r["variant"]], key)
        rec["split"] = "mean(valid, test)"
        rec.update({m: observed(r, m) for m in METRICS})
        out.append(rec)
    return out


def fixed_size_records(dq_runs: Path, recipe: dict, key: str, taken: set) -> tuple[list[dict], dict]:
    """The data-quality study's one-size runs as law records, if its recipe matches ``recipe`` in effect."""
    from srlaw.sizing import non_embedding_params

    doc = json.loads(Path(dq_runs).read_text())
    shape = {k: v for k, v in doc["model"].items() if k not in ("n_layers", "d_model")}
    epochs = [r["sasrec"]["epochs"] for r in doc["rows"]]
    same_train = {k: v for k, v in doc["train"].items() if k != "max_epochs"} == \
        {k: v for k, v in recipe["train"].items() if k != "max_epochs"}
    cap = min(doc["train"]["max_epochs"], recipe["train"]["max_epochs"])
    check = {"model_matches": shape == recipe["model"], "train_matches_but_max_epochs": same_train,
             "max_epochs_used": max(epochs), "epoch_cap_of_both": cap,
             "equivalent": shape == recipe["model"] and same_train and max(epochs) < cap}
    if not check["equivalent"]:
        return [], check
    L_, d = doc["model"]["n_layers"], doc["model"]["d_model"]
    out = []
    for r in doc["rows"]:
        if (r["variant"], L_, d) in taken:  # the grid already holds a run of this configuration
            continue
        out.append({"variant": r["variant"], "n_layers": L_, "d_model": d,
                    "params_non_embedding": int(non_embedding_params(L_, d, max_len=doc["model"]["max_len"])),
                    "data": score_of(r["scores"], key), "split": "mean(valid, test)",
                    **{m: observed(r["sasrec"], m) for m in METRICS}})
    return out, check


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def _save_png(fig, path: Path) -> None:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    write_bytes_atomic(path, buf.getvalue())


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
            pne = {(r["variant"], r["n_layers"], r["d_model"]): r["params_non_embedding"] for r in records}
            pts = se.get("points", [])
            ax.scatter([pne[(p["variant"], p["n_layers"], p["d_model"])] for p in pts],
                       [p["predicted"] for p in pts], marker=markers[form], s=50,
                       label=f"{form} prediction ({_pct(se.get('mape'))})")
        if limit:
            ax.axvline(limit, color="k", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("non-embedding parameters (dashed: largest fitted)")
        ax.set_ylabel(f"{m} (mean of valid and test)")
        ax.set_title(f"{name}: scale extrapolation, {m}")
        ax.legend(fontsize=6)
    _save_png(fig, path)
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
    _save_png(fig, path)
    plt.close(fig)


def noise_floor(doc: dict) -> dict:
    """Relative sampling error (one s.e.) of the averaged metric: a law cannot be checked below it.

    Each of the n users scores a hit (HR) or a per-user NDCG in [0, 1]; the mean over 2n user evaluations has
    s.e. sqrt(p(1 − p) / 2n) for HR, and at most sqrt(NDCG / 2n) for NDCG (since E[x²] ≤ E[x] on [0, 1]).
    """
    out = {}
    for m in METRICS:
        rel, gap = [], []
        for r in doc["rows"]:
            p, n = observed(r, m), 2 * doc["scores"][r["variant"]]["n_users"]
            if p <= 0:
                continue
            rel.append(np.sqrt(p * (1 - p) / n) / p if m.startswith("hr") else np.sqrt(p / n) / p)
            gap.append((r["valid"][m] - r["test"][m]) / p)
        out[m] = {"sampling_error": float(np.median(rel)) if rel else None,
                  "valid_minus_test": float(np.median(gap)) if gap else None}
    return out


def collapsed_runs(records: list[dict], metric: str = "ndcg@10", ratio: float = 0.5) -> list[dict]:
    """Runs scoring under ``ratio`` × their variant's median: a failed optimisation, not a size effect."""
    out = []
    for v in sorted({r["variant"] for r in records}):
        rs = [r for r in records if r["variant"] == v]
        if len(rs) < 3:
            continue
        med = float(np.median([r[metric] for r in rs]))
        out += [{"variant": v, "n_layers": r["n_layers"], "d_model": r["d_model"], metric: r[metric],
                 "variant_median": med} for r in rs if r[metric] < ratio * med]
    return out


def ship_law(name: str, records: list[dict], variants: dict, recipe: dict, params: dict, laws_dir: Path) -> dict:
    """Fit the held-out-selected form on all of a grid's runs and release it under artifacts/laws/<name>/."""
    from srlaw.law_report import write_report
    from srlaw.stages.export_stage import write_manifest
    from srlaw.stages.fit_stage import fit_law

    law_params = {"seed": params.get("seed", 0),
                  "law": {**{k: v for k, v in params["law"].items() if k != "joint_recipe"},
                          "metrics": list(METRICS), "split": "mean(valid, test)"},
                  "train": {**recipe["model"], **recipe["train"], "grid": name}}
    law = fit_law(law_params, records, variants)
    out = Path(laws_dir) / name.replace("/", "_")
    write_json_atomic(out / "law.json", law)
    write_report(law, out)
    write_manifest(out, law_params)
    return law


def cmd_report(args) -> int:
    from srlaw.law_fit import RunTable, leave_one_variant_out_error, select_form

    params = load_params(args.params)
    lc = params["law"]
    fit_kw = {"huber_delta": lc["huber_delta"], "n_starts": lc["n_starts"], "seed": params.get("seed", 0)}
    key = lc["data_score"]
    reports = Path(args.reports)
    study_dir = reports / "study"  # plots and study.json beside study.md
    dq_runs = Path(args.dq_runs)
    result = {"data_score": key, "holdout_fraction": lc["holdout_fraction"], "grids": {}, "shipped": {}}
    grids = {}
    for name, grid in params["grids"].items():
        path = runs_path(name, args.runs_dir)
        if not path.is_file():
            result["grids"][name] = {"missing": f"{path} not found: run `study.py train --grid {name}`"}
            continue
        doc = json.loads(path.read_text())
        recipe = params["recipes"][grid["recipe"]]
        if doc["recipe"] != recipe:
            raise SystemExit(f"{path}: trained under {doc['recipe']}, params.yaml says {recipe}; retrain the grid")
        grids[name] = doc
        records = grid_records(doc, key)
        if not records:
            result["grids"][name] = {"missing": f"{path} holds no run yet"}
            continue
        planned = len(grid["variants"]) * len(grid["depths"]) * len(grid["widths"])
        entry = {"recipe": grid["recipe"], "n_runs": len(records), "n_planned": planned,
                 "variants": sorted({r["variant"] for r in records}),
                 "devices": sorted({r["device"] for r in doc["rows"]}),
                 "train_seconds": float(sum(r["train_seconds"] for r in doc["rows"])),
                 "noise": noise_floor(doc), "data_content_hash": doc.get("data_content_hash", {})}
        result["grids"][name] = entry
        table = RunTable.from_records(records, METRICS)
        try:
            sel = select_form(table, METRICS, lc["forms"], fraction=lc["holdout_fraction"], **fit_kw)
        except Exception as e:  # a grid cut short can leave no run above the split
            entry["error"] = f"{type(e).__name__}: {e}"
            continue
        entry["collapsed_runs"] = collapsed_runs(records)
        entry["epoch_cap_hits"] = sum(r["epochs"] >= recipe["train"]["max_epochs"] for r in doc["rows"])
        entry["winner"], entry["ranking"] = sel["winner"], sel["ranking"]
        entry["forms"] = {f: {m: {k: v for k, v in sel["forms"][f]["metrics"][m]["scale_extrapolation"].items()}
                              for m in METRICS} for f in sel["ranking"]}
        for f in sel["ranking"]:
            for m in METRICS:
                entry["forms"][f][m]["in_sample_r2"] = sel["forms"][f]["metrics"][m]["in_sample_r2"]
        plot_scale(name, records, sel, study_dir / f"scale_{name.replace('/', '_')}.png")
        if len(records) == planned:  # only a finished grid is released
            variants = {v: {"content_hash": doc.get("data_content_hash", {}).get(v),
                            "data": score_of(doc["scores"][v], key),
                            "scores": {k: x for k, x in doc["scores"][v].items() if isinstance(x, (int, float))}}
                        for v in entry["variants"]}
            law = ship_law(name, records, variants, recipe, params, args.laws_dir)
            result["shipped"][name] = {"path": f"artifacts/laws/{name.replace('/', '_')}/law.json", "form": law["form"]}

    # Unseen data: the joint law over every run of the joint recipe (grids + the data-quality study's one size)
    joint_recipe = params["recipes"][lc["joint_recipe"]]

    def joint_records(score_key):
        recs = [r for n, doc in grids.items() if params["grids"][n]["recipe"] == lc["joint_recipe"]
                for r in grid_records(doc, score_key)]
        taken = {(r["variant"], r["n_layers"], r["d_model"]) for r in recs}
        if not dq_runs.is_file():
            return recs, {"missing": str(dq_runs)}
        extra, chk = fixed_size_records(dq_runs, joint_recipe, score_key, taken)
        return recs + extra, chk

    def lovo_by_form(recs, forms):
        table = RunTable.from_records(recs, METRICS)
        return {f: {m: leave_one_variant_out_error(table, m, f, **fit_kw) for m in METRICS} for f in forms}

    joint, check = joint_records(key)
    lovo = lovo_by_form(joint, lc["forms"])
    result["leave_one_variant_out"] = {"collapsed_runs": collapsed_runs(joint), "n_runs": len(joint),
                                       "n_variants": len({r["variant"] for r in joint}),
                                       "recipe_check": check, "forms": lovo}
    plot_lovo(lovo, study_dir / "lovo.png")
    # the same held-out question with other data axes (e.g. the paper's D′): is our score the better axis?
    result["leave_one_variant_out"]["other_data_scores"] = {
        k: lovo_by_form(joint_records(k)[0], lc["forms"]) for k in lc.get("compare_data_scores", [])}

    # Data quality: regenerate the data-quality study's analysis and keep the scores the issue names
    import run_study
    run_study.cmd_analyse(argparse.Namespace(runs=dq_runs, report=reports / "data_quality.json"))
    dq = json.loads((reports / "data_quality.json").read_text())
    result["data_quality"] = {"n_variants": dq["n_variants"], "spearman": dq["spearman"],
                              "spearman_oriented": dq["spearman_oriented"], "best_score": dq["best_score"]}
    write_json_atomic(study_dir / "study.json", result)
    md = render_markdown(result, params)
    write_bytes_atomic(reports / "study.md", md.encode())
    print(md)
    return 0


SCORE_NAMES = {  # the scores first, then the probe this project adds
    "apen_mean": "per-sequence ApEn (the paper's)",
    "pooled_apen": "pooled ApEn",
    "conditional_entropy": "conditional entropy H(next|prev), plug-in",
    "conditional_entropy_miller_madow": "conditional entropy, Miller–Madow",
    "lz_entropy_rate": "LZ78 entropy rate",
    "effective_data.apen_mean": "D′ = tokens × (1 − per-sequence ApEn)",
    "effective_data.pooled_apen": "D′ = tokens × (1 − pooled ApEn)",
    "markov_cross_entropy": "Markov probe held-out cross-entropy",
    "markov_hr@10": "Markov probe HR@10",
    "markov_ndcg@10": "Markov probe NDCG@10",
}


def _best_form(forms: dict, metric: str, key: str = "mape") -> str:
    return min(forms, key=lambda f: forms[f][metric].get(key, np.inf))


def _worst_point(points: list[dict]) -> str:
    if not points:
        return "."
    p = max(points, key=lambda p: abs(p["predicted"] - p["observed"]) / max(abs(p["observed"]), 1e-12))
    return (f"; the worst held-out NDCG@10 is {p['variant']} {p['n_layers']} × {p['d_model']}: predicted "
            f"{p['predicted']:.4f}, observed {p['observed']:.4f} — the small runs cannot show where a larger model "
            "stops improving.")


def render_markdown(res: dict, params: dict) -> str:
    lc = params["law"]
    frac = 100 * lc["holdout_fraction"]
    L = ["# Real-data study of the performance law", "",
         "Generated by `python studies/real_data/study.py report` (the `report` stage of "
         "`studies/real_data/dvc.yaml`) from the runs in `reports/study_runs/` and "
         "`reports/data_quality_runs.json`; configuration `studies/real_data/params.yaml`. "
         "Every metric is full-ranking HR/NDCG@10 (seen items filtered, leave-one-out) averaged over the "
         "validation and test users, two disjoint evaluations of the same model.", ""]
    # ---- headline
    L += ["## Headline", "", "| claim | target | best form | HR@10 | NDCG@10 | met |", "|---|---|---|---|---|---|"]
    for name, g in res["grids"].items():
        if "forms" not in g:
            L.append(f"| scale extrapolation, {name} | ≤ 3 % MAPE | — | "
                     f"{g.get('missing') or g.get('error')} | | no |")
            continue
        f = g["winner"]
        h, n = g["forms"][f]["hr@10"]["mape"], g["forms"][f]["ndcg@10"]["mape"]
        part = "" if g["n_runs"] == g["n_planned"] else f" ({g['n_runs']} of {g['n_planned']} runs)"
        L.append(f"| scale extrapolation, {name}{part} | ≤ 3 % MAPE | `{f}` | {_pct(h)} | {_pct(n)} | "
                 f"{'yes' if max(h, n) <= 0.03 else 'no'} |")
    lv = res["leave_one_variant_out"]["forms"]
    best = min(lv, key=lambda f: np.mean([lv[f][m].get("mape", np.inf) for m in METRICS]))
    lovo_worst = max(lv[best][m].get("mape", np.inf) for m in METRICS)
    L.append(f"| unseen data (leave one variant out, {res['leave_one_variant_out']['n_variants']} variants) | "
             f"≤ 10 % MAPE | `{best}` | {_pct(lv[best]['hr@10'].get('mape'))} | "
             f"{_pct(lv[best]['ndcg@10'].get('mape'))} | {'yes' if lovo_worst <= 0.10 else 'no'} |")
    dq = res["data_quality"]
    b = dq["best_score"]
    L.append(f"| data-quality score tracks NDCG@10 ({dq['n_variants']} variants) | Spearman ≥ 0.9 | `{b}` | | "
             f"ρ = {dq['spearman_oriented'][b]:+.3f} (per-sequence ApEn {dq['spearman_oriented']['apen_mean']:+.3f}) | "
             f"{'yes' if dq['spearman_oriented'][b] >= 0.9 else 'no'} |")
    # ---- compute
    L += ["", "## Compute used", "", "| grid | recipe | runs | device | training time |", "|---|---|---|---|---|"]
    for name, g in res["grids"].items():
        if "n_runs" in g:
            L.append(f"| {name} | `{g['recipe']}` | {g['n_runs']} of {g['n_planned']} | {', '.join(g['devices'])} | "
                     f"{g['train_seconds'] / 60:.1f} min |")
    L += ["", "Recipes (`studies/real_data/params.yaml`):", ""]
    for rname, rec in params["recipes"].items():
        L.append(f"- `{rname}`: {json.dumps(rec['model'])}, {json.dumps(rec['train'])}")
    # ---- scale extrapolation
    L += ["", "## 1. Scale extrapolation", "",
          f"Each form is fitted on the runs with at most {frac:.0f} % of the grid's largest non-embedding parameter "
          "count and predicts the larger rest. Error = |predicted − observed| / observed. Below each table: the "
          "sampling error of the averaged metric itself (one s.e., median over runs; an upper bound for NDCG), "
          "below which no law can be checked.", ""]
    for name, g in res["grids"].items():
        if "forms" not in g:
            continue
        L += [f"### {name}", "",
              f"{g['n_runs']} runs, variants {', '.join(g['variants'])}; data hash "
              + ", ".join(f"{v}: `{str(h)[:12]}`" for v, h in g["data_content_hash"].items()) + ".", "",
              "| form | HR@10 MAPE | HR@10 max err | NDCG@10 MAPE | NDCG@10 max err | held out / fitted | "
              "in-sample R² (NDCG) |", "|---|---|---|---|---|---|---|"]
        for f in g["ranking"]:
            hh, nn = g["forms"][f]["hr@10"], g["forms"][f]["ndcg@10"]
            r2 = nn.get("in_sample_r2")
            L.append(f"| `{f}` | {_pct(hh.get('mape'))} | {_pct(hh.get('max_rel_error'))} | {_pct(nn.get('mape'))} | "
                     f"{_pct(nn.get('max_rel_error'))} | {nn.get('n', 0)} / {nn.get('n_fit', 0)} | "
                     f"{'n/a' if r2 is None else f'{r2:.3f}'} |")
        nz = g["noise"]
        cap = params["recipes"][g["recipe"]]["train"]["max_epochs"]
        L += ["", f"Sampling error of the averaged metric: HR@10 {_pct(nz['hr@10']['sampling_error'])}, "
                  f"NDCG@10 ≤ {_pct(nz['ndcg@10']['sampling_error'])}; validation NDCG@10 exceeds test by "
                  f"{_pct(nz['ndcg@10']['valid_minus_test'])} (median; early stopping selects on it). Runs stopped by the {cap}-epoch cap rather "
                  f"than by early stopping: {g['epoch_cap_hits']} of {g['n_runs']}"
                  + (" (this grid measures a fixed training budget, not convergence)." if g["epoch_cap_hits"] else ".")
                  + ("" if not g["collapsed_runs"] else " Collapsed runs: " + "; ".join(
                      f"{c['variant']} {c['n_layers']} × {c['d_model']} ({c['ndcg@10']:.4f} vs median "
                      f"{c['variant_median']:.4f})" for c in g["collapsed_runs"]) + "."), "",
              f"![scale extrapolation, {name}](study/scale_{name.replace('/', '_')}.png)", ""]
    # ---- LOVO
    lo = res["leave_one_variant_out"]
    chk = lo["recipe_check"]
    L += ["## 2. Unseen data: leave one variant out", "",
          f"The joint law is fitted on every run of the `{lc['joint_recipe']}` recipe: the grids above trained "
          f"under it plus the data-quality study's one-size runs ({lo['n_runs']} runs, {lo['n_variants']} variants, "
          f"data axis `{res['data_score']}`). Each variant in turn is left out, the law is refitted on the rest "
          "and predicts all of the held-out variant's runs.", "",
          "Recipe check of the data-quality runs: " + (
              f"same model and training settings; their epoch cap differs (100 vs 80) but no run used more than "
              f"{chk['max_epochs_used']} epochs, so the cap never bound." if chk.get("equivalent") else
              f"NOT equivalent ({json.dumps(chk)}), so they were left out."), "",
          "| form | HR@10 MAPE | HR@10 median | HR@10 max err | NDCG@10 MAPE | NDCG@10 median | NDCG@10 max err |",
          "|---|---|---|---|---|---|---|"]
    for f in sorted(lv, key=lambda f: np.mean([lv[f][m].get("mape", np.inf) for m in METRICS])):
        hh, nn = lv[f]["hr@10"], lv[f]["ndcg@10"]
        L.append(f"| `{f}` | {_pct(hh.get('mape'))} | {_pct(hh.get('median_ape'))} | {_pct(hh.get('max_rel_error'))} | "
                 f"{_pct(nn.get('mape'))} | {_pct(nn.get('median_ape'))} | {_pct(nn.get('max_rel_error'))} |")
    if lo["collapsed_runs"]:
        L += ["", "Collapsed runs (NDCG@10 under half their variant's median; kept in every fit and score): " +
              "; ".join(f"{c['variant']} {c['n_layers']} × {c['d_model']}: {c['ndcg@10']:.4f} vs median "
                        f"{c['variant_median']:.4f}" for c in lo["collapsed_runs"]) + "."]
    others = lo.get("other_data_scores", {})
    if others:
        L += ["", "The same leave-one-variant-out question with another data axis (best form per axis, mean of "
                  "HR@10 and NDCG@10 MAPE):", "", "| data axis | best form | HR@10 MAPE | NDCG@10 MAPE |", "|---|---|---|---|"]
        for k, fl in {res["data_score"]: lv, **others}.items():
            bf = min(fl, key=lambda f: np.mean([fl[f][m].get("mape", np.inf) for m in METRICS]))
            L.append(f"| `{k}` | `{bf}` | {_pct(fl[bf]['hr@10'].get('mape'))} | {_pct(fl[bf]['ndcg@10'].get('mape'))} |")
    per = lv[best]["ndcg@10"].get("per_variant", {})
    L += ["", f"Per held-out variant, `{best}` form, NDCG@10:", "", "| variant | runs | MAPE | max err |",
          "|---|---|---|---|"]
    for v, e in sorted(per.items(), key=lambda kv: kv[1].get("mape", np.inf)):
        L.append(f"| {v} | {e.get('n', '—')} | {_pct(e.get('mape'))} | {_pct(e.get('max_rel_error'))} |")
    L += ["", "![leave one variant out](study/lovo.png)", ""]
    # ---- data quality
    L += ["## 3. Data quality against achieved NDCG@10", "",
          f"Spearman ρ across the {dq['n_variants']} variants of the data-quality study (SASRec at one fixed "
          "size, `gpu` recipe), oriented so that higher means 'predicts higher NDCG' for every score. Full table, "
          "scatter plots and per-variant values: [data_quality.md](data_quality.md).", "",
          "| score | ρ (raw) | ρ (oriented) |", "|---|---|---|"]
    for k, label in SCORE_NAMES.items():
        if k in dq["spearman"]:
            L.append(f"| {label} (`{k}`) | {dq['spearman'][k]:+.3f} | {dq['spearman_oriented'][k]:+.3f} |")
    L += ["", "![data quality](data_quality_scatter.png)", ""]
    # ---- forms
    L += ["## 4. The paper's form against the bounded forms", "",
          "Same held-out points for every form (tables above). Mean of HR@10 and NDCG@10 held-out MAPE:", "",
          "| form | " + " | ".join(f"scale, {n}" for n, g in res["grids"].items() if "forms" in g) +
          " | leave one variant out |", "|---" * (2 + sum("forms" in g for g in res["grids"].values())) + "|"]
    for f in lc["forms"]:
        cells = []
        for n, g in res["grids"].items():
            if "forms" in g:
                cells.append(_pct(np.mean([g["forms"][f][m].get("mape", np.inf) for m in METRICS])))
        cells.append(_pct(np.mean([lv[f][m].get("mape", np.inf) for m in METRICS])))
        L.append(f"| `{f}` | " + " | ".join(cells) + " |")
    # ---- negatives
    L += ["", "## 5. Where a target is missed, and why", ""]
    missed = False
    for name, g in res["grids"].items():
        if "forms" not in g:
            missed = True
            L.append(f"- **{name}**: no scale-extrapolation result ({g.get('missing') or g.get('error')}).")
            continue
        f = g["winner"]
        worst = max(g["forms"][f][m]["mape"] for m in METRICS)
        if worst > 0.03:
            missed = True
            nz = max(g["noise"][m]["sampling_error"] or 0 for m in METRICS)
            L.append(f"- **Scale extrapolation on {name}: {_pct(worst)} > 3 %.** One s.e. of the metric itself is "
                     f"≈ {_pct(nz)}"
                     + (", so 3 % is within two s.e. of the evaluation noise on this dataset" if 2 * nz >= 0.03 else "")
                     + _worst_point(g["forms"][f]["ndcg@10"].get("points", []))
                     + ("" if g["n_runs"] == g["n_planned"] else
                        f" The grid is also incomplete ({g['n_runs']} of {g['n_planned']} runs)."))
    if lovo_worst > 0.10:
        missed = True
        worst_v = max(per, key=lambda v: per[v].get("mape", 0)) if per else None
        L.append(f"- **Unseen data: {_pct(lovo_worst)} > 10 %.** One data score is one number per variant; the "
                 f"variants differ in catalogue size, history length and user count in ways it does not capture "
                 f"(worst: {worst_v}, {_pct(per[worst_v].get('mape')) if worst_v else 'n/a'}); the median error "
                 f"is {_pct(lv[best]['ndcg@10'].get('median_ape'))} for NDCG@10"
                 + (f", and {len(lo['collapsed_runs'])} collapsed run(s) inflate the mean" if lo["collapsed_runs"]
                    else "") + ".")
    if dq["spearman_oriented"]["apen_mean"] < 0.9:
        L.append(f"- **The paper's per-sequence ApEn tracks NDCG@10 with ρ = "
                 f"{dq['spearman_oriented']['apen_mean']:+.3f} only**: it scores each user's sequence in "
                 "isolation, so it sees neither the catalogue nor the regularities shared across users that a "
                 "sequential recommender learns.")
    if not missed:
        L.append("- Every target is met.")
    # ---- shipped
    L += ["", "## Released laws", "", "| grid | file | form |", "|---|---|---|"]
    for name, s in res["shipped"].items():
        L.append(f"| {name} | `{s['path']}` | `{s['form']}` |")
    L += ["", "Load with `srlaw.predictor.Law.load('artifacts/laws/<grid>')` (sha256-checked against the "
              "manifest beside it). Only finished grids are released.", ""]
    return "\n".join(L)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train one grid of studies/real_data/params.yaml")
    t.add_argument("--grid", required=True)
    t.set_defaults(func=cmd_train)
    r = sub.add_parser("report", help="reports/study.md, its plots and artifacts/laws/ from the runs on disk")
    r.add_argument("--params", type=Path, default=PARAMS)
    r.add_argument("--runs-dir", type=Path, default=RUNS_DIR)
    r.add_argument("--dq-runs", type=Path, default=REPORTS / "data_quality_runs.json")
    r.add_argument("--reports", type=Path, default=REPORTS, help="where study.md, study/ and data_quality.* go")
    r.add_argument("--laws-dir", type=Path, default=ROOT / "artifacts" / "laws")
    r.set_defaults(func=cmd_report)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
