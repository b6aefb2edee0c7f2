"""DVC stage ``fit``: collect the grid's runs, validate every law form on held-out points, write law.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from srlaw.core.atomic import write_bytes_atomic
from srlaw.law.settings import LawConfig
from srlaw.pipeline.params import Params
from srlaw.data.quality import data_score
from srlaw.core.errors import DataError, LawFitError
from srlaw.law.fit import PerformanceLaw, RunTable, noise_floor, select_form
from srlaw.law.forms import get_form
from srlaw.law.schema import law_json, write_law
from srlaw.library.form import LIBRARY_FORM, calibrated_law, judge
from srlaw.library.index import LIBRARY_INDEX
from srlaw.data.protocol import PROTOCOL
from srlaw.core.provenance import provenance_record
from srlaw.train.curves import read_curve
from srlaw.pipeline.paths import CURVES_PATH, LAW_DIR, RUNS_DIR, SCORES_DIR, run_name

CURVE_COLUMNS = ("run", "variant", "n_layers", "d_model", "epoch", "val_ndcg@10", "val_hr@10", "val_loss", "train_loss")


def collect_runs(params: Params, runs_dir: Path = RUNS_DIR, scores_dir: Path = SCORES_DIR):
    """Every grid point's metrics joined with its variant's data score; returns (records, variants)."""
    law = params.law
    records, variants = [], {}
    for variant in params.grid.variants:
        spath = scores_dir / variant / "entropy.json"
        if not spath.is_file():
            raise DataError(f"{spath}: missing; run the entropy stage for variant {variant!r}")
        scores = json.loads(spath.read_text())
        variants[variant] = {"content_hash": scores["content_hash"], "data": data_score(scores, law.data_score, spath),
                             "n_items": scores["n_items"],
                             "scores": {k: v for k, v in scores.items() if isinstance(v, (int, float))},
                             "effective_data": scores.get("effective_data", {})}
        for n_layers, d_model in params.grid.points():
            mpath = runs_dir / run_name(variant, n_layers, d_model) / "metrics.json"
            if not mpath.is_file():
                raise DataError(f"{mpath}: missing; run the train stage for this grid point")
            m = json.loads(mpath.read_text())
            if m.get("data_content_hash") != scores["content_hash"]:
                raise DataError(f"{mpath}: trained on data {m.get('data_content_hash', '?')[:12]} but "
                                f"{spath} scores {scores['content_hash'][:12]}; re-run dvc repro")
            rec = {"variant": variant, "n_layers": m["n_layers"], "d_model": m["d_model"],
                   "params_non_embedding": m["params_non_embedding"], "params_total": m["params_total"],
                   "data": variants[variant]["data"], "split": law.split}
            for metric in law.metrics:
                rec[metric] = float(m[law.split][metric])
            records.append(rec)
    return records, variants


def fit_law(records: list[dict], variants: dict, law: LawConfig, seed: int, recipe: dict,
            params_doc: dict | None = None, default_variant: str | None = None,
            library_index: Path = LIBRARY_INDEX) -> dict:
    """Select the form on held-out error, refit the winner on all runs with bootstrap; the law.json document.

    ``recipe`` is what every run trained with (model shape included: the predictor sizes candidates from it);
    ``params_doc`` is hashed into the provenance; ``default_variant`` (the full data) is what the predictor
    predicts for when it is given no data value. The library form (:mod:`srlaw.library.form`), where ``law.forms``
    lists it, is calibrated from the law library at ``library_index`` and competes on the same held-out points.
    """
    metrics = law.metrics
    fit_kw = {"huber_delta": law.huber_delta, "n_starts": law.n_starts, "seed": seed}
    table = RunTable.from_records(records, metrics)
    judged, lib = {}, None
    if LIBRARY_FORM in law.forms:
        judged[LIBRARY_FORM], lib = judge(records, variants, table, metrics, law.holdout_fraction, recipe, law.split,
                                          library_index)
    selection = select_form(table, metrics, [f for f in law.forms if f != LIBRARY_FORM], law.holdout_fraction,
                            judged=judged, **fit_kw)
    winner = selection["winner"]
    if winner == LIBRARY_FORM and lib is None:  # the only form listed, and the library does not apply
        why = judged[LIBRARY_FORM][metrics[0]]["scale_extrapolation"]["error"]
        raise LawFitError(f"law.forms: {LIBRARY_FORM}: {why}")
    chosen = selection["forms"][winner]["metrics"]
    validation = _validation(selection, chosen, variants, metrics)
    if lib is not None:  # which library the form was judged with (a re-released library means a refit)
        validation["library_index"] = lib.describe()
    default_variant = default_variant if default_variant in variants else sorted(variants)[0]
    if winner == LIBRARY_FORM:
        return library_law(lib, records, variants, law, validation, selection, default_variant, seed, params_doc)
    doc = _fitted_law(winner, table, records, variants, law, validation, selection, chosen, default_variant, seed,
                      recipe, params_doc)
    for m in metrics:
        validation["scale_extrapolation"][m]["coverage95"] = heldout_coverage(
            doc, table, m, law.holdout_fraction, law.n_bootstrap, fit_kw)
    return doc


def _validation(selection: dict, chosen: dict, variants: dict, metrics) -> dict:
    """What the winning form measured on held-out points, and how every form compared."""
    return {
        "scale_extrapolation": {m: chosen[m]["scale_extrapolation"] for m in metrics},
        "leave_one_variant_out": {m: chosen[m]["leave_one_variant_out"] for m in metrics},
        "in_sample_r2": {m: chosen[m]["in_sample_r2"] for m in metrics},
        # one seed per configuration: the held-out points' sampling error is the floor their errors sit on
        "noise_floor": {m: noise_floor(chosen[m]["scale_extrapolation"].get("points", []),
                                       {v: d.get("scores", {}).get("n_users") for v, d in variants.items()})
                        for m in metrics},
        "selection": {"criterion": selection["criterion"], "ranking": selection["ranking"],
                      "scores": {n: selection["forms"][n]["selection_score"] for n in selection["ranking"]},
                      "forms": {n: {m: {"scale_extrapolation_mape": f["metrics"][m]["scale_extrapolation"].get("mape"),
                                        "leave_one_variant_out_mape": f["metrics"][m]["leave_one_variant_out"].get("mape"),
                                        "in_sample_r2": f["metrics"][m]["in_sample_r2"],
                                        # why a form has no held-out error (the library form on another recipe)
                                        **({"error": e} if (e := f["metrics"][m]["scale_extrapolation"].get("error"))
                                           else {})}
                                    for m in metrics} for n, f in selection["forms"].items()}},
    }


def _fitted_law(winner: str, table: RunTable, records: list[dict], variants: dict, law: LawConfig, validation: dict,
                selection: dict, chosen: dict, default_variant: str, seed: int, recipe: dict,
                params_doc: dict | None) -> dict:
    """The law.json document of a form refitted on every run with bootstrap."""
    metrics = law.metrics
    fit_kw = {"huber_delta": law.huber_delta, "n_starts": law.n_starts, "seed": seed}
    form = get_form(winner)
    laws = {m: PerformanceLaw(winner, n_bootstrap=law.n_bootstrap, **fit_kw).fit(
        table.n_layers, table.d_model, table.data, table.metrics[m]) for m in metrics}
    # Interval width uses the larger of in-sample scatter and held-out RMSE: in-sample alone is too optimistic.
    noise = {}
    for m in metrics:
        pts = chosen[m]["scale_extrapolation"].get("points", [])
        held_rmse = float(np.sqrt(np.mean([(p["predicted"] - p["observed"]) ** 2 for p in pts]))) if pts else 0.0
        noise[m] = {"residual_std": laws[m].residual_std_, "heldout_rmse": held_rmse,
                    "sigma": max(laws[m].residual_std_, held_rmse if np.isfinite(held_rmse) else 0.0)}
    pne = np.array([r["params_non_embedding"] for r in records], float)
    return law_json(
        form, metrics, runner_up=selection["runner_up"],
        params={m: dict(zip(form.param_names, map(float, laws[m].params_))) for m in metrics},
        bootstrap={m: laws[m].bootstrap_.tolist() for m in metrics},
        params_ci95={m: {k: [float(lo), float(hi)] for k, lo, hi in zip(
            form.param_names, *np.nanpercentile(laws[m].bootstrap_, [2.5, 97.5], axis=0))}
            for m in metrics if len(laws[m].bootstrap_) > 1},
        noise=noise,
        domain={**laws[metrics[0]].domain_, "params_non_embedding": [float(pne.min()), float(pne.max())]},
        # the catalogue the runs were sized with: total parameter counts of candidates use it
        n_items=max((int(v["n_items"]) for v in variants.values() if v.get("n_items")), default=0),
        data_axis={"score": law.data_score, "description": "D in the law: this key of each variant's entropy.json"},
        validation=validation, variants=variants, default_variant=default_variant, runs=records,
        training_protocol={"backbone": recipe["backbone"], "split": law.split, "evaluation": PROTOCOL,
                           "train": recipe, "seed": seed},
        provenance=provenance_record(params_doc))


def library_law(lib, records: list[dict], variants: dict, law: LawConfig, validation: dict, selection: dict,
                variant: str, seed: int, params_doc: dict | None) -> dict:
    """The winning library form's law.json: ``variant`` calibrated on all of its runs. The library form describes
    one dataset, so the other variants' runs took part in the selection only."""
    others = ", ".join(sorted(set(variants) - {variant})) or "no other variant"
    return calibrated_law(lib, variant, variants[variant], [r for r in records if r["variant"] == variant],
                          law.metrics, note=f"the runs of {others} took part in the form's selection only",
                          runner_up=selection["runner_up"], validation=validation,
                          provenance=provenance_record(params_doc),
                          protocol={"split": law.split, "evaluation": PROTOCOL, "seed": seed})


def heldout_coverage(doc: dict, table: RunTable, metric: str, fraction: float, n_bootstrap: int,
                     fit_kw: dict) -> dict:
    """How often the 95 % interval covers a held-out run: the winning form refitted with bootstrap on the small
    runs of the scale split, its intervals (the predictor's rule, noise from the small runs' scatter alone) at the
    larger ones. Honest for intervals built from the fitted runs only; the shipped law also widens σ to the
    held-out RMSE, which these same points set, so it cannot be checked on them."""
    from srlaw.predictor.law import Law

    small = table.params_non_embedding <= fraction * table.params_non_embedding.max()
    sub = PerformanceLaw(doc["form"], n_bootstrap=n_bootstrap, **fit_kw).fit(
        table.n_layers[small], table.d_model[small], table.data[small], table.metrics[metric][small])
    sub_doc = {**doc, "metric": [metric], "params": {metric: dict(zip(doc["param_names"], map(float, sub.params_)))},
               "bootstrap": {metric: sub.bootstrap_.tolist()}, "noise": {metric: {"sigma": sub.residual_std_}}}
    big = ~small
    p = Law(sub_doc, source="held-out coverage").predict(table.n_layers[big], table.d_model[big], metric,
                                                           data=table.data[big], warn=False)
    y = table.metrics[metric][big]
    inside = (p.lower <= y) & (y <= p.upper)
    return {"coverage": float(inside.mean()), "n": int(big.sum()), "n_bootstrap": n_bootstrap,
            "mean_width": float(np.mean(p.upper - p.lower))}


def collect_curves(params: Params, runs_dir: Path = RUNS_DIR) -> list[dict]:
    """Every grid run's per-epoch validation curve (and training loss), one row per run and epoch."""
    rows = []
    for variant in params.grid.variants:
        for n_layers, d_model in params.grid.points():
            name = run_name(variant, n_layers, d_model)
            rows += [{"run": name, "variant": variant, "n_layers": n_layers, "d_model": d_model, **row}
                     for row in read_curve(runs_dir / name)]
    return rows


def write_curves(rows: list[dict], path: Path = CURVES_PATH) -> None:
    """The curves as CSV: what the ``curves`` DVC plot template overlays, one line per run."""
    import csv
    import io
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CURVE_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows({k: ("" if r[k] is None else repr(r[k]) if isinstance(r[k], float) else r[k]) for k in CURVE_COLUMNS}
                for r in rows)
    write_bytes_atomic(path, buf.getvalue().encode())


def run_fit_stage(params: Params, out_dir: Path = LAW_DIR) -> dict:
    write_curves(collect_curves(params))
    records, variants = collect_runs(params)
    law = write_law(out_dir / "law.json", fit_law(records, variants, params.law, params.seed,
                                                  params.train.to_dict(), params.to_dict(), params.export.variant))
    from srlaw.report.markdown import write_report
    write_report(law, out_dir)
    return law
