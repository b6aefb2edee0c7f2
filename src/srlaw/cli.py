"""The ``srlaw`` command: one sub-command per pipeline stage, plus ``advise``. Thin: parse, call, report.

Heavy modules (torch, lightning, scipy) are imported inside the sub-command that needs them, so
``srlaw --help`` and ``srlaw entropy`` start fast and nothing imports the CLI.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import sys
from pathlib import Path

from srlaw import __version__
from srlaw.core.errors import SrlawError
from srlaw.data.readers import FORMATS


def _cmd_prepare(args) -> None:
    from srlaw.pipeline.params import load_params
    from srlaw.pipeline.data_stages import prepare_variant
    stats = prepare_variant(load_params(args.params), args.variant)
    print(f"prepared {args.variant}: {stats['n_users']} users, {stats['n_items_present']} items, "
          f"{stats['n_interactions']} interactions, hash {stats['content_hash'][:12]}", file=sys.stderr)


def _cmd_entropy(args) -> None:
    from srlaw.core.settings import parse
    from srlaw.data.settings import EntropyConfig
    from srlaw.data.prepare import score_file
    from srlaw.pipeline.data_stages import dumps, score_variant
    if args.input:
        if not args.format:
            raise SrlawError("--input needs --format (one of " + ", ".join(FORMATS) + ")")
        e = parse(EntropyConfig, {"m": args.m, "r": args.r, "window": args.window}, "", "options")
        print(dumps(score_file(args.input, args.format, e.m, e.r, e.window)))
        return
    if not args.variant:
        raise SrlawError("give --variant NAME (pipeline) or --input FILE --format FMT")
    from srlaw.pipeline.params import load_params
    params = load_params(args.params)
    scores = score_variant(params, args.variant)
    print(f"scored {args.variant}: apen_mean={scores['apen_mean']:.5f} pooled_apen={scores['pooled_apen']:.4f} "
          f"H(next|prev)={scores['conditional_entropy_miller_madow']:.4f}", file=sys.stderr)


def _cmd_train(args) -> None:
    from srlaw.pipeline.params import load_params
    from srlaw.pipeline.train_stage import train_grid_point
    m = train_grid_point(load_params(args.params), args.variant, args.n_layers, args.d_model)
    if m:
        print(f"trained {args.variant} L={args.n_layers} d={args.d_model}: valid ndcg@10={m['valid']['ndcg@10']:.4f} "
              f"test ndcg@10={m['test']['ndcg@10']:.4f} ({m['epochs']} epochs, {m['train_seconds']:.0f} s)",
              file=sys.stderr)


def _cmd_fit(args) -> None:
    from srlaw.pipeline.params import load_params
    from srlaw.pipeline.fit_stage import run_fit_stage
    law = run_fit_stage(load_params(args.params))
    se = law["validation"]["scale_extrapolation"]
    print(f"law: {law['form']} (runner-up {law['runner_up']}); scale-extrapolation MAPE "
          + ", ".join(f"{m}={100 * se[m]['mape']:.1f}%" for m in law["metric"]), file=sys.stderr)


def _cmd_latency(args) -> None:
    if args.law is not None:
        return _law_latency(args)
    from srlaw.pipeline.params import load_params
    from srlaw.pipeline.latency_stage import run_latency_stage
    from srlaw.pipeline.paths import LATENCY_PATH
    doc = run_latency_stage(load_params(args.params))
    print(f"latency of {len(doc['configs'])} configurations ({doc['seconds']:.0f} s); wrote {LATENCY_PATH}",
          file=sys.stderr)


def _cmd_export(args) -> None:
    from srlaw.pipeline.params import load_params
    from srlaw.pipeline.export_stage import run_export_stage
    manifest = run_export_stage(load_params(args.params))
    print(f"exported {len(manifest['files'])} artifact files; manifest at artifacts/manifest.json", file=sys.stderr)


def _entropy_settings(params: str):
    """The data-quality scores' settings: those of ``params`` (the pipeline's params.yaml), or the defaults when
    the default params file is not here (srlaw run from outside a project)."""
    from srlaw.data.settings import EntropyConfig
    from srlaw.pipeline.params import load_params
    if params == "params.yaml" and not Path(params).exists():
        return EntropyConfig()
    return load_params(params).entropy


def _law_latency(args) -> None:
    from srlaw.core.sizing import MAX_ITEMS
    from srlaw.library.latency import measure_latency, write_law_latency
    from srlaw.predictor.law import Law
    law = Law.load(args.law)  # only a verified srlaw law folder is written into
    import json
    listed = set(json.loads((Path(args.law) / "manifest.json").read_text()).get("files", {}))
    if listed - {"law.json", "latency.json"}:  # the pipeline's law: its latency is a DVC stage's output
        raise SrlawError(f"{args.law}: the pipeline's law (its manifest lists {', '.join(sorted(listed))}); its "
                         "latency is the latency stage's: run `dvc repro latency` (or copy the law elsewhere)")
    n_items = args.n_items if args.n_items is not None else int(law.doc.get("n_items") or 0)
    if not 1 <= n_items <= MAX_ITEMS:
        raise SrlawError(f"--n-items {n_items}: expected your catalogue size in [1, {MAX_ITEMS:,}]"
                         + ("" if args.n_items is not None else " (this law records none: give --n-items)"))
    if not 1 <= args.repeats <= 10_000:
        raise SrlawError(f"--repeats {args.repeats}: expected 1 to 10,000")
    doc = measure_latency(law.doc, n_items, repeats=args.repeats)
    write_law_latency(args.law, doc, {"latency": {"n_items": n_items, "repeats": args.repeats}})
    print(f"latency of {len(doc['configs'])} configurations at {n_items:,} items on this machine "
          f"({doc['runtime']}, {doc['seconds']:.0f} s); wrote {args.law}/latency.json and its manifest")


def _cmd_describe(args) -> None:
    import json
    from srlaw.data.prepare import user_data
    from srlaw.data.readers import parse_columns
    from srlaw.pipeline.describe import describe, render
    data = user_data(args.input, args.format, parse_columns(args.columns), args.delimiter, args.kcore)
    desc = describe(_entropy_settings(args.params), data, laws=args.law or None)
    print(json.dumps(desc, indent=2, sort_keys=True) if args.json else render(desc))


def _cmd_run(args) -> None:
    from srlaw.data.readers import parse_columns
    from srlaw.library.calibrate import run_file
    m = run_file(args.input, args.format, args.n_layers, args.d_model, args.out, args.recipe,
                 parse_columns(args.columns), args.delimiter, args.kcore, args.seed, args.max_minutes)
    print(f"{args.n_layers} × {args.d_model}: test ndcg@10 {m['test']['ndcg@10']:.4f}, hr@10 {m['test']['hr@10']:.4f}"
          f" (valid {m['valid']['ndcg@10']:.4f} / {m['valid']['hr@10']:.4f}); {m['epochs']} epochs; "
          f"wrote {args.out}/metrics.json")


def _cmd_distill(args) -> None:
    from srlaw.data.prepare import user_data
    from srlaw.data.readers import parse_columns
    from srlaw.pipeline.distill import distill_run
    from srlaw.train.distill import DistillConfig
    if args.input and args.variant:
        raise SrlawError("give --input FILE --format FMT or --variant NAME, not both")
    if args.input and not args.format:
        raise SrlawError("--input needs --format (one of " + ", ".join(FORMATS) + ")")
    layers = None
    if args.layers_map:
        try:
            layers = tuple(int(k) for k in args.layers_map.split(","))
        except ValueError:
            raise SrlawError(f"--layers-map {args.layers_map}: expected teacher layers separated by commas, "
                             "e.g. 2,4") from None
    data = user_data(args.input, args.format, parse_columns(args.columns), args.delimiter, args.kcore) \
        if args.input else None
    m = distill_run(args.teacher, args.n_layers, args.d_model, args.out,
                    DistillConfig(args.alpha, args.temperature, args.beta, layers), data=data, variant=args.variant,
                    seed=args.seed, max_minutes=args.max_minutes, max_epochs=args.max_epochs)
    t = m["distillation"]
    print(f"{args.n_layers} × {args.d_model} distilled from {t['teacher_n_layers']} × {t['teacher_d_model']}: test "
          f"ndcg@10 {m['test']['ndcg@10']:.4f}, hr@10 {m['test']['hr@10']:.4f} (teacher "
          f"{t['teacher_test']['ndcg@10']:.4f} / {t['teacher_test']['hr@10']:.4f}); {m['epochs']} epochs; wrote "
          f"{args.out}/metrics.json and {args.out}/model.onnx")


def _cmd_grid(args) -> None:
    from srlaw.data.readers import parse_columns
    from srlaw.grid.command import grid_file
    doc = grid_file(args.input, args.format, args.depths, args.widths, args.seeds, args.out, args.recipe,
                    parse_columns(args.columns), args.delimiter, args.kcore, args.max_epochs, args.max_minutes,
                    args.address, args.cpus_per_run, args.gpus_per_run)
    print(f"{doc['n_finished']} of {doc['n_runs']} runs finished; wrote {args.out}/grid.json")


def _cmd_calibrate(args) -> None:
    from srlaw.library.calibrate import calibrate_file
    from srlaw.data.readers import parse_columns
    from srlaw.predictor.law import Law
    if not (0 <= args.budget_share <= 1):  # NaN fails this too
        raise SrlawError(f"--budget-share {args.budget_share}: expected a number in [0, 1] (0: no cap)")
    calibrate_file(args.input, args.format, args.out, args.runs, args.recipe, parse_columns(args.columns),
                   args.delimiter, args.kcore, args.max_minutes, None if args.budget_share <= 0 else args.budget_share,
                   args.library, args.library_sha256, args.latency, args.parallel, args.address)
    law = Law.load(args.out)
    lines = [f"wrote {args.out}/law.json (+ manifest.json); predictions for this dataset:",
             f"{'layers':>6} {'d_model':>7} {'ndcg@10':>8} {'95% interval':>19} {'hr@10':>7}"]
    for n, d in ((1, 64), (2, 64), (2, 128), (2, 256)):
        p, h = law.predict(n, d, warn=False), law.predict(n, d, metric="hr@10", warn=False)
        lines.append(f"{n:>6} {d:>7} {float(p.value):>8.4f} [{float(p.lower):>8.4f}, {float(p.upper):>8.4f}] "
                     f"{float(h.value):>7.4f}")
    print("\n".join(lines))


def _parse_target(text: str) -> dict:
    if "=" not in text:
        raise SrlawError(f"--target must look like ndcg@10=0.18, got {text!r}")
    metric, value = text.split("=", 1)
    if not metric.strip():
        raise SrlawError(f"--target names no metric, got {text!r}; e.g. ndcg@10=0.18")
    try:
        return {metric.strip(): float(value)}
    except ValueError:
        raise SrlawError(f"--target must look like ndcg@10=0.18, got {text!r}") from None


def _cmd_advise(args) -> None:
    import json
    from srlaw.predictor.law import Law
    target = _parse_target(args.target) if args.target else None  # bad input is refused before any file is read
    if args.describe and args.data is not None:
        raise SrlawError("--data and --describe both give your data's value; give one")
    law = Law.load(args.law, sha256=args.sha256, verify=not args.no_verify)
    note = library_note(law.doc)
    if note:
        print(note, file=sys.stderr)
    data = args.data
    if args.describe:
        from srlaw.data.prepare import user_data
        from srlaw.data.readers import parse_columns
        from srlaw.pipeline.describe import describe
        if not args.format:
            raise SrlawError("--describe needs --format (one of " + ", ".join(FORMATS) + ")")
        data = user_data(args.describe, args.format, parse_columns(args.columns), kcore=args.kcore)
        desc = describe(_entropy_settings(args.params), data, laws=[law])["laws"][0]
        data = desc["D"]
        print(f"{args.describe}: D = {data:.4g} on the law's axis {desc['axis']} "
              f"({'inside' if desc['inside'] else 'outside'} the fitted [{desc['domain'][0]:.4g}, "
              f"{desc['domain'][1]:.4g}])", file=sys.stderr)
    budget = {}
    if args.max_params is not None:
        budget["params"] = args.max_params
    if args.max_latency_ms is not None:
        budget["latency_ms"] = args.max_latency_ms
    advice = law.advise(target=target, budget=budget, data=data, variant=args.variant if data is None else None,
                        top=args.top, n_items=args.n_items, allow_extrapolation=args.allow_extrapolation)
    if args.json:
        from srlaw.predictor.config import production_config
        doc = advice.to_dict()
        doc["production"] = production_config(law, advice.ranked[0], advice.metric) if advice.ranked else None
        print(json.dumps(doc, indent=2))
        return
    print(advice_table(law, advice, args.law, budget))


def _cmd_report(args) -> None:
    from srlaw.predictor.law import Law
    from srlaw.report.page import write_page
    law = Law.load(args.law, sha256=args.sha256)
    library = None
    if law.doc.get("data_axis", {}).get("score") == "markov_ndcg@10":  # a library-shaped law: place its data
        from srlaw.library.index import find_library, read_verified
        try:
            stored = law.doc.get("calibration", {}).get("library")
            path = find_library(args.library or (stored if isinstance(stored, str) and os.path.isfile(stored) else None))
            lib = read_verified(path)[0]["library"]
            library = {name: {"probe": e["probe_ndcg@10"], "n_users": e["n_users"]}
                       for name, e in lib.get("laws", {}).items()}
        except (SrlawError, OSError, KeyError, TypeError) as e:
            print(f"srlaw report: the library's datasets are left off the page ({e})", file=sys.stderr)
    out = write_page(law, args.out, library)
    print(f"wrote {out} (one file, opens without a network)")


def _cmd_mlflow(args) -> None:
    from srlaw.integrations.mlflow import log_law, mlflow_module
    mlflow = mlflow_module()
    if args.tracking_uri:
        mlflow.set_tracking_uri(args.tracking_uri)
    if args.experiment:
        mlflow.set_experiment(args.experiment)
    info = log_law(args.law, artifact_path=args.artifact_path, registered_model_name=args.registered_model,
                   sha256=args.sha256)
    version = info.registered_model_version
    if version is not None and args.alias:
        mlflow.MlflowClient().set_registered_model_alias(args.registered_model, args.alias, version)
    print(f"logged {args.law} as {info.model_uri} (run {info.run_id})"
          + (f"; registered {args.registered_model!r} version {version}" if version is not None else "")
          + (f" as @{args.alias}" if version is not None and args.alias else ""))


def _cmd_check_onnx(args) -> None:
    import json
    from srlaw.pipeline.onnx_check import check_onnx, describe
    out = check_onnx(args.model, args.runs, args.require_gpu, args.repeats)
    print(json.dumps(out, indent=2) if args.json else describe(out))
    if not out["ok"]:
        raise SrlawError(f"{args.model}: the providers disagree beyond tolerance (see above)")


def advice_table(law, advice, law_path, budget) -> str:
    """The ranked configurations as an aligned table, with the budget in words and what was excluded why."""
    from srlaw.predictor.advisor import budget_in_words
    from srlaw.predictor.config import interval_label, validation_figures
    m = advice.metric
    emb = advice.item_embedding
    table = "full item embeddings" if emb["item_embedding"] == "full" else \
        f"RecJPQ item embeddings ({emb['jpq']['n_splits']} splits x {emb['jpq']['n_centroids']} centroids)"
    label = interval_label(validation_figures(law.doc, m))
    lines = [f"law: {law.doc['form']} ({law_path}); metric {m}; budget: {budget_in_words(budget)}; {table}",
             f"intervals: {label}",
             f"{'rank':>4} {'layers':>6} {'d_model':>7} {m:>9} {'interval':>19} {'params':>10} {'latency ms':>10} "
             f"{'collapse':>8}"]
    for i, r in enumerate(advice.ranked, 1):
        lat = "n/a" if r["latency_ms"] is None else f"{r['latency_ms']:.3f}{'' if r['latency_measured'] else '*'}"
        risk = f"{100 * r['collapse_risk']:.0f} %" + ("" if r.get("collapse_risk_measured", True) else "~")
        lines.append(f"{i:>4} {r['n_layers']:>6} {r['d_model']:>7} {r[m]:>9.4f} [{r['lower']:>8.4f}, {r['upper']:>8.4f}] "
                     f"{r['params_total']:>10,} {lat:>10} {risk:>8}")
    lines += _honest_notes(advice, m)
    lines.append(f"excluded {advice.excluded_count} candidates: " +
                 ", ".join(f"{k} {v}" for k, v in advice.exclusion_counts.items() if v))
    dom = law.doc["domain"]
    if advice.exclusion_counts.get("domain"):
        lines.append(f"the fitted domain: n_layers {dom['n_layers'][0]:g}–{dom['n_layers'][1]:g}, d_model "
                     f"{dom['d_model'][0]:g}–{dom['d_model'][1]:g}, data {dom['data'][0]:.4g}–{dom['data'][1]:.4g}"
                     + (f", predicted {m} {dom[m][0]:.4g}–{dom[m][1]:.4g}" if m in dom else "")
                     + " (--allow-extrapolation ranks sizes outside it)")
    if advice.binding:
        b = advice.best_achievable
        value = f"{m} {b[m]:.4f}" if b["in_domain"] else f"no prediction ({m} outside the fitted domain)"
        lines.append(f"nothing qualifies: '{advice.binding}' binds; best achievable: {b['n_layers']} layers x "
                     f"{b['d_model']} -> {value}, {b['params_total']:,} params")
    for r in advice.distilled:
        lines.append(f"a distilled {r['n_layers']} x {r['d_model']} reaches it ({r['params_total']:,} params"
                     + ("" if r["latency_ms"] is None else f", {r['latency_ms']:.3f} ms") + f"): {r['note']}")
    if advice.optimum:
        lines.append(f"analytic optimum of the form: {advice.optimum}")
    risky = [r for r in advice.ranked if r.get("collapse_risk")]
    if risky:
        lines.append("collapse risk (share of the library's runs at that size that diverged): " + ", ".join(
            f"{r['n_layers']} x {r['d_model']} {100 * r['collapse_risk']:.0f} %"
            + ("" if r.get("collapse_risk_measured", True) else " (never trained: between its depths')")
            for r in risky)
            + ("; ranked by the expected value of one run, (1 - risk) x prediction" if advice.binding is None
               and not any(c.name == "target" for c in advice.constraints) else ""))
    if advice.jpq_saving:
        lines.append(advice.jpq_saving["note"])
    lines += measured_error(law.doc, m)
    lines += [f"warning (calibration): {w}" for w in (law.doc.get("calibration") or {}).get("warnings", [])]
    if any(r["latency_ms"] is not None and not r["latency_measured"] for r in advice.ranked):
        lines.append("* latency estimated by the latency model in latency.json")
    return "\n".join(lines)


def _honest_notes(advice, m: str) -> list[str]:
    """What the ranking cannot tell, and the risk a recommendation carries, in words."""
    from srlaw.predictor.advisor import MATERIAL_RISK, indistinguishable
    lines = []
    ties = indistinguishable(advice.ranked, m)
    if len(ties) > 1:
        cheapest = min(ties, key=lambda r: r["params_total"])
        lines.append(f"the law cannot tell the first {len(ties)} apart (each inside the others' intervals): the "
                     f"cheapest of them is {cheapest['n_layers']} x {cheapest['d_model']} "
                     f"({cheapest['params_total']:,} params)")
    if advice.ranked and advice.ranked[0]["collapse_risk"] >= MATERIAL_RISK:
        first = advice.ranked[0]
        safe = next((r for r in advice.ranked if r["collapse_risk"] < MATERIAL_RISK), None)
        lines.append(f"warning: {first['n_layers']} x {first['d_model']} collapsed on "
                     f"{100 * first['collapse_risk']:.0f} % of the library's runs at that size"
                     + (f"; the first without material risk is {safe['n_layers']} x {safe['d_model']}" if safe else
                        "; no listed size is free of material risk"))
    return lines


def library_note(doc: dict) -> str | None:
    """For a calibrated law, whether the library it was calibrated on is still the one at its recorded path."""
    cal = doc.get("calibration", {}) if isinstance(doc.get("calibration"), dict) else {}
    path, pinned = cal.get("library"), cal.get("library_sha256")
    if not (isinstance(path, str) and isinstance(pinned, str)):
        return None
    from srlaw.core.provenance import sha256_file
    index = Path(path)
    if not index.is_file():
        return f"calibrated on the law library {path} (sha256 {pinned[:12]}…), not found here: not re-checked"
    if sha256_file(index) != pinned:
        return (f"warning: the law library {path} has changed since this law was calibrated on it (sha256 "
                f"{pinned[:12]}…); calibrate again to use the new library")
    return None


def measured_error(doc: dict, metric: str) -> list[str]:
    """What the law's ``validation`` measured for ``metric``, in words: its own held-out error beyond its fit set
    and, for a library or calibrated law, the error of calibrating a dataset left out of the library."""
    from srlaw.report.format import pct
    v = doc.get("validation", {})
    out = []
    se = v.get("scale_extrapolation", {}).get(metric, {})
    if se.get("mape") is not None:
        cov = se.get("coverage95", {})
        fitted = f" (fitted on <= {se['fit_params_max']:,.0f} non-embedding params)" if "fit_params_max" in se else ""
        out.append(f"measured on {se.get('n', '?')} held-out larger models{fitted}: {metric} MAPE {pct(se['mape'])}"
                   + _covered(cov.get("coverage"), cov.get("single_runs", {}).get("coverage")))
    so = v.get("source_left_out", {})
    if so.get("scale_extrapolation", {}).get(metric):  # a library law: what a truly new dataset would see
        splits = so["scale_extrapolation"][metric]
        worst = so.get("regret", {}).get("ndcg@10", {}).get("worst")
        out.append(f"with every other cut of its raw data out of the library too ({', '.join(so['left_out'])}): "
                   + f"{metric} MAPE " + ", ".join(f"{pct(splits[k]['mape'])} at {k}" for k in sorted(
                       splits, key=lambda k: float(k.split("-")[0].rstrip("x+"))))
                   + (f"; advise regret worst {pct(worst)}" if worst is not None else ""))
    for key, what in (("leave_one_dataset_out", "a dataset left out of the library"),
                      ("leave_one_source_out", "a dataset whose raw data the library never saw")):
        check = v.get(key, {})
        if metric in check:  # a calibrated law: the library's check of the same procedure
            row = check[metric]
            out.append(f"calibrating {what} on {check['k']} run(s): {metric} MAPE median "
                       f"{pct(row['mape_median'])}, worst {pct(row['mape_worst'])}"
                       + _covered(row.get("coverage"), row.get("coverage_runs")) + " (not measured on this input)")
    return out


def _covered(seed_means, single_runs) -> str:
    """The 95 % intervals' measured coverage, in words: of seed means and, where measured, of single runs (what an
    interval for one run's outcome claims)."""
    from srlaw.report.format import pct
    if seed_means is None:
        return ""
    runs = f", {pct(single_runs)} of single runs" if single_runs is not None else ""
    return f"; 95 % intervals covered {pct(seed_means)} of seed means{runs}"


def _input_args(sp, required: bool = True, what: str = "raw interaction file") -> None:
    sp.add_argument("--input", required=required, help=what)
    sp.add_argument("--format", required=required, choices=FORMATS)
    sp.add_argument("--columns", help="format csv: user=…,item=…,timestamp=…,rating=…")
    sp.add_argument("--delimiter", help="format csv: the field separator (default ,)")
    sp.add_argument("--kcore", type=int, default=None,
                    help="iterative k-core on users and items (default 0: off; describe, run and calibrate prepare "
                         "a file the same way)")


def build_parser() -> argparse.ArgumentParser:
    from srlaw.library.calibrate import BUDGET_SHARE, DEFAULT_RUNS, MAX_RUNS  # numpy only: fast --help
    from srlaw.library.index import LIBRARY_ENV, LIBRARY_INDEX, PIN_ENV
    p = argparse.ArgumentParser(prog="srlaw", description="Performance laws for sequential recommenders.")
    p.add_argument("--version", action="version", version=f"srlaw {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("prepare", help="ingest the raw log and write one canonical data variant",
                        description="Read data.source (params.yaml), build the canonical dataset and write "
                                    "variant NAME to data/prepared/NAME.")
    sp.add_argument("--variant", required=True, help="variant name under 'variants' in params.yaml")
    sp.add_argument("--params", default="params.yaml")
    sp.set_defaults(func=_cmd_prepare)

    sp = sub.add_parser("entropy", help="data-quality scores of a variant or of a raw file",
                        description="With --variant: score data/prepared/NAME into data/scores/NAME/entropy.json "
                                    "using params.yaml. With --input/--format: score a raw file and print JSON.")
    sp.add_argument("--variant")
    sp.add_argument("--params", default="params.yaml")
    sp.add_argument("--input", help="raw interaction file")
    sp.add_argument("--format", choices=FORMATS)
    sp.add_argument("--m", type=int, default=2, help="ApEn template length (default 2)")
    sp.add_argument("--r", type=float, default=0.2, help="ApEn tolerance (default 0.2)")
    sp.add_argument("--window", type=int, default=None, help="score each user's last N items (default: all)")
    sp.set_defaults(func=_cmd_entropy)

    sp = sub.add_parser("train", help="train one grid point (variant x depth x width)",
                        description="Train on data/prepared/VARIANT with the 'train' section of params.yaml; "
                                    "writes runs/VARIANT-L-D/metrics.json and checkpoints (resumable).")
    sp.add_argument("--variant", required=True)
    sp.add_argument("--n-layers", type=int, required=True)
    sp.add_argument("--d-model", type=int, required=True)
    sp.add_argument("--params", default="params.yaml")
    sp.set_defaults(func=_cmd_train)

    sp = sub.add_parser("fit", help="fit and validate the performance law (artifacts/law)",
                        description="Collect every grid run, validate each law form on held-out points, refit "
                                    "the winner with bootstrap; writes artifacts/law/law.json, report.md, plots/.")
    sp.add_argument("--params", default="params.yaml")
    sp.set_defaults(func=_cmd_fit)

    sp = sub.add_parser("latency", help="measure the ONNX latency of every grid configuration",
                        description="Write artifacts/law/latency.json: ONNX Runtime latency of each grid point "
                                    "(shape from params.yaml, catalogue of export.variant) and the latency model.")
    sp.add_argument("--params", default="params.yaml")
    sp.add_argument("--law", type=Path, help="measure this law's candidate shapes instead, on this machine, and "
                                               "write DIR/latency.json under its manifest")
    sp.add_argument("--n-items", type=int, help="with --law: your catalogue size (default: the law's)")
    sp.add_argument("--repeats", type=int, default=30, help="timed calls per configuration (default 30)")
    sp.set_defaults(func=_cmd_latency)

    sp = sub.add_parser("export", help="export the ONNX reference model and the manifests",
                        description="Write artifacts/model/model.onnx (+ model.json, item_map.npy), "
                                    "artifacts/law/manifest.json, artifacts/manifest.json and artifacts/metrics.json.")
    sp.add_argument("--params", default="params.yaml")
    sp.set_defaults(func=_cmd_export)

    sp = sub.add_parser("describe", help="a dataset's law inputs: data-quality scores and D on each law's axis",
                        description="Prepare FILE as run and calibrate do (k-core off unless --kcore), score it "
                                    "with the entropy settings of params.yaml, and place it on each law's data "
                                    "axis with its fitted range.")
    _input_args(sp)
    sp.add_argument("--params", default="params.yaml", help="the pipeline whose entropy settings score the file")
    sp.add_argument("--law", action="append", help="a law folder (repeatable; default: artifacts/law, artifacts/laws/*)")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=_cmd_describe)

    sp = sub.add_parser("run", help="train one configuration on a raw file (the truth a calibrated law predicts)",
                        description="Prepare FILE (as describe and calibrate do), train N layers × D wide under a named "
                                    "recipe (default: the law library's), write DIR/metrics.json (valid and test "
                                    "hr@10, ndcg@10, epochs, seconds). Resumes a killed run in the same DIR.")
    _input_args(sp)
    sp.add_argument("--n-layers", type=int, required=True)
    sp.add_argument("--d-model", type=int, required=True)
    sp.add_argument("--out", required=True, type=Path, help="output folder")
    sp.add_argument("--recipe", default=None, help="a recipe of srlaw.train.recipes (default: library)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--max-minutes", type=float, help="wall-clock cap of the run")
    sp.set_defaults(func=_cmd_run)

    sp = sub.add_parser("distill", help="train a small model from a trained large one (knowledge distillation)",
                        description="Train an N layers × D wide student of the run in --teacher (SLMRec-style: the "
                                    "next item, the teacher's distribution over items, and its hidden states at "
                                    "mapped layers), under the teacher's own recipe and data. Writes a run folder "
                                    "(metrics.json names the teacher) and model.onnx; resumes a killed run.")
    sp.add_argument("--teacher", required=True, type=Path, help="a finished run folder (metrics.json, checkpoints)")
    sp.add_argument("--n-layers", type=int, required=True)
    sp.add_argument("--d-model", type=int, required=True)
    sp.add_argument("--out", required=True, type=Path, help="output folder")
    _input_args(sp, required=False, what="the raw file the teacher trained on (default: the teacher's work/data)")
    sp.add_argument("--variant", help="the pipeline's prepared variant the teacher trained on")
    sp.add_argument("--alpha", type=float, default=0.5, help="the teacher's distribution's share of the loss")
    sp.add_argument("--temperature", type=float, default=1.0)
    sp.add_argument("--beta", type=float, default=1.0, help="weight of hidden-state alignment (0: outputs only)")
    sp.add_argument("--layers-map", help="teacher layer per student layer, e.g. 2,4 (default: k·i)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--max-minutes", type=float, help="wall-clock cap of the run")
    sp.add_argument("--max-epochs", type=int, help="epoch cap (default: the teacher's)")
    sp.set_defaults(func=_cmd_distill)

    sp = sub.add_parser("grid", help="train every depth × width × seed on Ray (this machine or a cluster)",
                        description="Prepare FILE (as run does) into STORE/data and train each (depth, width, seed) "
                                    "as a Ray task into STORE/L{depth}-d{width}-s{seed}/ (metrics.json as srlaw run "
                                    "writes it; run.json with seconds, device and Ray node); STORE/grid.json sums "
                                    "it up. A finished run is never retrained; a killed one resumes its checkpoint; "
                                    "two grids on one store train each run once. Exit 0 when every run finished.")
    _input_args(sp)
    sp.add_argument("--depths", type=int, nargs="+", required=True, metavar="L")
    sp.add_argument("--widths", type=int, nargs="+", required=True, metavar="D")
    sp.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="S")
    sp.add_argument("--out", required=True, type=Path, help="the run store (on a cluster: on shared storage)")
    sp.add_argument("--recipe", default="library", help="a recipe of srlaw.train.recipes (default: library)")
    sp.add_argument("--max-epochs", type=int, help="cap the recipe's epochs (every run)")
    sp.add_argument("--max-minutes", type=float, help="wall-clock cap of each run")
    sp.add_argument("--address", help="join this Ray cluster (default: a local Ray instance on this machine)")
    sp.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs each run reserves (default 1)")
    sp.add_argument("--gpus-per-run", type=float, default=0.0,
                    help="GPUs each run reserves; a share below 1 packs several small runs on one GPU (e.g. 0.25)")
    sp.set_defaults(func=_cmd_grid)

    sp = sub.add_parser("calibrate", help="a law for your dataset from the law library and K cheap runs",
                        description="Prepare FILE (as describe and run do), score it, train the K most informative "
                                    "cheap configurations under the library's recipe (K = 0: zero-shot), and "
                                    "write DIR/law.json + manifest.json for `srlaw advise --law DIR` and "
                                    "Law.load(DIR). Resumes a killed calibration in the same DIR.")
    _input_args(sp)
    sp.add_argument("--out", required=True, type=Path, help="output folder")
    sp.add_argument("--runs", type=int, default=DEFAULT_RUNS,
                    help=f"calibration runs K, 0 to {MAX_RUNS} (default {DEFAULT_RUNS})")
    sp.add_argument("--max-minutes", type=float, help="wall-clock budget of all runs together")
    sp.add_argument("--recipe", default=None, help="must be the library's recipe (default: it)")
    sp.add_argument("--budget-share", type=float, default=BUDGET_SHARE,
                    help="calibration compute at most this share of one run of the largest configuration "
                         f"(estimated FLOPs per epoch; 0: no cap; default {BUDGET_SHARE})")
    sp.add_argument("--library", type=Path, default=None,
                    help=f"law library index (default: ${LIBRARY_ENV}, else {LIBRARY_INDEX} here, else the one in "
                         "the srlaw checkout)")
    sp.add_argument("--no-latency", dest="latency", action="store_false",
                    help="skip timing the law's candidate shapes on this machine (advise then has no latency)")
    sp.add_argument("--library-sha256", metavar="HEX",
                    help=f"refuse a library index whose sha256 is not this (default: ${PIN_ENV}, if set)")
    sp.add_argument("--parallel", type=int, help="runs trained at once on Ray (default: as many as the runs and "
                                                 "CPUs allow when Ray is installed; 1: one after another here)")
    sp.add_argument("--address", help="train the runs on this Ray cluster (docs/grid.md)")
    sp.set_defaults(func=_cmd_calibrate)

    sp = sub.add_parser("advise", help="which depth and width to deploy under a target and a budget",
                        description="Rank (n_layers, d_model) by the law's prediction under a target metric, "
                                    "a parameter budget and a latency budget.")
    sp.add_argument("--law", default="artifacts/law", help="law.json or the folder holding it")
    sp.add_argument("--sha256", help="pin: the expected sha256 of the law folder's manifest.json")
    sp.add_argument("--no-verify", action="store_true", help="load a law without its manifest (unverified)")
    sp.add_argument("--target", help="e.g. ndcg@10=0.18 (default: maximise the metric)")
    sp.add_argument("--max-params", type=float, help="total parameter budget, e.g. 5e6")
    sp.add_argument("--max-latency-ms", type=float, help="batch-1 ONNX Runtime latency budget")
    sp.add_argument("--variant", help="data variant the law knows (default: the law's only one, if it has one)")
    sp.add_argument("--data", type=float, help="data value D for your dataset (overrides --variant)")
    sp.add_argument("--describe", metavar="FILE", help="your interaction file: D is computed as `srlaw describe` does")
    sp.add_argument("--format", choices=FORMATS, help="format of --describe FILE")
    sp.add_argument("--columns", help="with --describe and format csv: user=…,item=…,timestamp=…")
    sp.add_argument("--kcore", type=int, default=None, help="with --describe: iterative k-core (default 0: off)")
    sp.add_argument("--params", default="params.yaml", help="the pipeline whose entropy settings score --describe")
    sp.add_argument("--n-items", type=int, help="your catalogue size: total parameter budgets count its embedding")
    sp.add_argument("--top", type=int, default=10)
    sp.add_argument("--allow-extrapolation", action="store_true",
                    help="rank sizes outside the law's domain too (each row says whether it is inside)")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp.set_defaults(func=_cmd_advise)

    sp = sub.add_parser("mlflow", help="log a law into MLflow (the model registry)",
                        description="MLflow integration (pip install 'srlaw[mlflow]').")
    msub = sp.add_subparsers(dest="mlflow_command", required=True)
    lp = msub.add_parser("log", help="log a law folder as an MLflow pyfunc model, optionally registered",
                         description="Verify the law folder, log it as a pyfunc model (predict: a table of n_layers, "
                                     "d_model[, data] → prediction, interval, in-domain flag per metric), its "
                                     "manifest's sha256 as a tag, its validation figures as metrics, and the ONNX "
                                     "reference model beside it when there is one.")
    lp.add_argument("--law", required=True, help="the law folder")
    lp.add_argument("--registered-model", help="register the logged model under this name")
    lp.add_argument("--alias", help="with --registered-model: point this alias at the new version (e.g. champion)")
    lp.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or ./mlruns)")
    lp.add_argument("--experiment", help="MLflow experiment name (default: MLflow's default experiment)")
    lp.add_argument("--artifact-path", default="law", help="the logged model's name in the run (default: law)")
    lp.add_argument("--sha256", help="pin: refuse the law unless its manifest.json has this sha256")
    lp.set_defaults(func=_cmd_mlflow)

    sp = sub.add_parser("check-onnx", help="which ONNX Runtime provider runs a model here; parity; latency",
                        description="Ask ONNX Runtime for CUDA first (where this build has it), name the provider "
                                    "that really runs (a silent CPU fallback is a warning, or an error with "
                                    "--require-gpu), compare its scores with the CPU provider's (and torch's, where "
                                    "the run's checkpoint is under --runs) and time batch-1 calls.")
    sp.add_argument("--model", default="artifacts/model", type=Path, help="folder with model.onnx and model.json")
    sp.add_argument("--runs", default="runs", type=Path, help="where the pipeline's runs (checkpoints) are")
    sp.add_argument("--require-gpu", action="store_true", help="fail unless the CUDA provider runs the model")
    sp.add_argument("--repeats", type=int, default=50)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=_cmd_check_onnx)

    sp = sub.add_parser("report", help="one self-contained HTML page about a law",
                        description="The law's curves and intervals against every measured run, the sizing frontier "
                                    "under budgets, its validation figures and, for a library-shaped law, where its "
                                    "data sits among the library's datasets: one file, no network needed.")
    sp.add_argument("--law", default="artifacts/law", help="law.json or the folder holding it")
    sp.add_argument("--sha256", help="pin: the expected sha256 of the law folder's manifest.json")
    sp.add_argument("--library", help="the library index whose datasets the page places the data among "
                                      "(default: the one the law was calibrated with, else as calibrate finds it)")
    sp.add_argument("--out", required=True, help="the page's file, e.g. law.html")
    sp.set_defaults(func=_cmd_report)
    return p


RESUMABLE = {"calibrate", "grid", "run", "train"}  # a rerun of the same command picks up the finished work


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so that it ends like Ctrl-C: one line, a resume hint.

    A KeyboardInterrupt so that code which passes only Ctrl-C through (Ray's wait turns any other exception raised
    by a signal handler into a SystemError) lets it out too; such code may re-raise a plain KeyboardInterrupt, so
    the handler also leaves a mark that main reads."""


_TERMINATED = threading.Event()


def _terminate(signum, frame):
    _TERMINATED.set()
    raise Terminated()


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting up: nothing was done yet
        print("srlaw: interrupted", file=sys.stderr)
        return 130
    _TERMINATED.clear()
    previous = signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        args.func(args)
    except SrlawError as e:  # every expected failure: one line, no traceback
        print(f"srlaw {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        terminated = isinstance(e, Terminated) or _TERMINATED.is_set()
        hint = "; run the same command again to resume (finished work is kept)" if args.command in RESUMABLE else ""
        print(f"srlaw {args.command}: {'terminated' if terminated else 'interrupted'}{hint}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:  # `srlaw advise | head`: the reader has gone, nothing is left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # a file that cannot be read or written
        where = f"{e.filename}: " if e.filename else ""
        print(f"srlaw {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
