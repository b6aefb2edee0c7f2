"""The human-readable side of a law: ``report.md`` and its PNG plots, written from law.json alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from srlaw.core.atomic import write_bytes_atomic
from srlaw.report.format import pct, save_png
from srlaw.law.forms import get_form

PLOTS = ("observed_vs_predicted.png", "metric_vs_depth.png", "metric_vs_width.png", "residuals.png",
         "metric_vs_params.png", "sizing_frontier.png")


def _coefficient(law: dict, metric: str, name: str) -> str:
    value = law["params"][metric][name]
    ci = law.get("params_ci95", {}).get(metric, {}).get(name)
    return f"{value:.4g}" + (f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci and None not in ci else "")


def _predictor(law: dict, latency: dict | None = None):
    """The numpy predictor over this document (intervals, sizes), or None where the law cannot size candidates."""
    from srlaw.core.errors import LawError
    from srlaw.predictor.law import Law
    try:
        predictor = Law(law, latency, source="law.json")
        predictor.params_of(1, 16)
        return predictor
    except LawError:
        return None


def _metric_of(law) -> str:
    return "ndcg@10" if "ndcg@10" in law.metrics else law.metrics[0]


def plot_metric_vs_params(law, runs: list[dict], path: Path) -> None:
    """Predicted metric against total parameters per depth, with the 95 % band, the observed runs, and the fitted
    domain shaded (outside it the curves are extrapolation)."""
    import matplotlib.pyplot as plt

    m = _metric_of(law)
    dom = law.doc["domain"]
    variants = sorted({r["variant"] for r in runs})
    fig, axes = plt.subplots(1, len(variants), figsize=(5 * len(variants), 4), squeeze=False)
    for ax, v in zip(axes[0], variants):
        rv = [r for r in runs if r["variant"] == v]
        D = rv[0]["data"]
        widths = np.geomspace(dom["d_model"][0] / 2, dom["d_model"][1] * 2, 60)
        lo_total = hi_total = None
        for k, depth in enumerate(sorted({r["n_layers"] for r in rv})):
            p = law.predict(np.full_like(widths, depth), widths, m, data=D, warn=False)
            total = law.params_of(depth, widths)[1].astype(float)
            ax.plot(total, p.value, color=f"C{k}", label=f"{depth} layers (predicted)")
            ax.fill_between(total, p.lower, p.upper, color=f"C{k}", alpha=0.15)
            obs = sorted((r["params_total"], r[m]) for r in rv if r["n_layers"] == depth)
            ax.scatter([o[0] for o in obs], [o[1] for o in obs], color=f"C{k}", edgecolor="k", zorder=3)
            inside = law.params_of(depth, np.array(dom["d_model"], float))[1]
            lo_total = inside[0] if lo_total is None else min(lo_total, inside[0])
            hi_total = inside[1] if hi_total is None else max(hi_total, inside[1])
        ax.axvspan(lo_total, hi_total, color="0.9", zorder=0, label="fitted domain")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())  # minor log labels collide
        ax.set_xlabel("total parameters (embeddings included)")
        ax.set_ylabel(f"{m} (dots: observed runs; band: 95 % interval)")
        ax.set_title(f"{v}: {m} against model size", fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def frontier(law, budgets, variant: str | None = None, by: str = "params") -> np.ndarray:
    """Best predicted metric among in-domain candidates within each budget (nan if none).

    ``by="params"``: total parameters; ``by="latency"``: batch-1 ONNX latency in ms (the law's latency model).
    """
    m = _metric_of(law)
    N, d = law.default_candidates()
    variant = variant or sorted(law.doc.get("variants", {}))[0]
    p = law.predict(N, d, m, variant=variant, warn=False, interval=False)
    pne, total = law.params_of(N, d)
    cost = total if by == "params" else law.latency_of(N, d, pne)[0]
    ok = [p.value[(cost <= b) & p.in_domain] for b in budgets]
    return np.array([v.max() if v.size else np.nan for v in ok])


def plot_frontier(law, path: Path) -> None:
    """Sizing frontier: the best predicted metric reachable under a parameter budget and, where the law has a
    latency model, under a latency budget; one line per data variant."""
    import matplotlib.pyplot as plt

    m = _metric_of(law)
    N, d = law.default_candidates()
    pne, totals = law.params_of(N, d)
    axes_spec = [("params", totals, "parameter budget (total parameters)")]
    if law.latency_model is not None:
        axes_spec.append(("latency", law.latency_of(N, d, pne)[0], "latency budget (ms, ONNX Runtime, batch 1)"))
    fig, axes = plt.subplots(1, len(axes_spec), figsize=(5.5 * len(axes_spec), 4), squeeze=False)
    for ax, (by, cost, label) in zip(axes[0], axes_spec):
        budgets = np.geomspace(max(float(np.nanmin(cost)), 1e-9), float(np.nanmax(cost)), 80)
        for v in sorted(law.doc.get("variants", {})):
            ax.step(budgets, frontier(law, budgets, v, by), where="post", label=v)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel(f"best predicted {m} in the fitted domain")
        ax.set_title(f"sizing frontier by {'parameters' if by == 'params' else 'latency'}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def write_report(law: dict, out_dir) -> list[Path]:
    """Write report.md and the plots under ``out_dir/plots``; return the files written.

    A ``latency.json`` already in ``out_dir`` (the pipeline's latency stage) adds the latency frontier.
    """
    import matplotlib
    matplotlib.use("Agg")

    out_dir = Path(out_dir)
    plots = out_dir / "plots"
    _plot_observed_vs_predicted(law, plots / PLOTS[0])
    _plot_metric_vs_axes(law, plots)
    _plot_residuals(law, plots / PLOTS[3])
    latency_path = out_dir / "latency.json"
    latency = json.loads(latency_path.read_text()) if latency_path.is_file() else None
    predictor = _predictor(law, latency)
    if predictor is not None:
        plot_metric_vs_params(predictor, law["runs"], plots / PLOTS[4])
        plot_frontier(predictor, plots / PLOTS[5])
    lines = (_law_section(law) + _validation_section(law) + _forms_section(law)
             + ["", "## Plots", ""] + [f"![{p}](plots/{p})" for p in PLOTS if (plots / p).is_file()]
             + _provenance_section(law))
    write_bytes_atomic(out_dir / "report.md", "\n".join(lines).encode())
    return [out_dir / "report.md"] + [plots / p for p in PLOTS if (plots / p).is_file()]


def _axes_of(law: dict):
    runs = law["runs"]
    return (np.array([r["n_layers"] for r in runs], float), np.array([r["d_model"] for r in runs], float),
            np.array([r["data"] for r in runs], float))


def _plot_observed_vs_predicted(law: dict, path: Path) -> None:
    import matplotlib.pyplot as plt
    form, runs, metrics = get_form(law["form"]), law["runs"], law["metric"]
    N, d, D = _axes_of(law)
    held = {m: {(p["variant"], p["n_layers"], p["d_model"]) for p in
                law["validation"]["scale_extrapolation"][m].get("points", [])} for m in metrics}
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4.2), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        y = np.array([r[m] for r in runs])
        pred = form.predict(law["params"][m], N, d, D)
        is_held = np.array([(r["variant"], r["n_layers"], r["d_model"]) in held[m] for r in runs])
        ax.scatter(y[~is_held], pred[~is_held], label="runs in the scale-extrapolation fit")
        pts = law["validation"]["scale_extrapolation"][m].get("points", [])
        if pts:
            ax.scatter([p["observed"] for p in pts], [p["predicted"] for p in pts], marker="x", s=60,
                       label="held out (predicted from smaller models)")
        lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"observed {m}")
        ax.set_ylabel(f"predicted {m}")
        ax.set_title(f"{m}: {law['form']} law")
        ax.legend(fontsize=7)
    save_png(fig, path)
    plt.close(fig)


def _plot_metric_vs_axes(law: dict, plots: Path) -> None:
    """The metric against depth and against width, per variant, each line the law at one value of the other."""
    import matplotlib.pyplot as plt
    form, runs, metrics = get_form(law["form"]), law["runs"], law["metric"]
    variants = sorted({r["variant"] for r in runs})
    for fname, axis, other, label in ((PLOTS[1], "n_layers", "d_model", "depth N (layers)"),
                                      (PLOTS[2], "d_model", "n_layers", "width d")):
        fig, axes = plt.subplots(len(metrics), len(variants), figsize=(4.2 * len(variants), 3.4 * len(metrics)),
                                 squeeze=False)
        for i, m in enumerate(metrics):
            for j, v in enumerate(variants):
                ax = axes[i][j]
                rv = [r for r in runs if r["variant"] == v]
                dv = rv[0]["data"]
                for k, o in enumerate(sorted({r[other] for r in rv})):
                    pts = sorted((r[axis], r[m]) for r in rv if r[other] == o)
                    xs = np.array([p[0] for p in pts], float)
                    ax.scatter(xs, [p[1] for p in pts], color=f"C{k}")
                    grid = np.linspace(xs.min(), xs.max() * 1.5, 50)
                    args = (grid, np.full_like(grid, o), np.full_like(grid, dv)) if axis == "n_layers" else \
                        (np.full_like(grid, o), grid, np.full_like(grid, dv))
                    ax.plot(grid, form.predict(law["params"][m], *args), color=f"C{k}", label=f"{other}={o:g}")
                ax.set_title(f"{v}: {m}", fontsize=9)
                ax.set_xlabel(label)
                ax.legend(fontsize=6)
        fig.tight_layout()
        save_png(fig, plots / fname)
        plt.close(fig)


def _plot_residuals(law: dict, path: Path) -> None:
    import matplotlib.pyplot as plt
    form, runs, metrics = get_form(law["form"]), law["runs"], law["metric"]
    N, d, D = _axes_of(law)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.5), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        y = np.array([r[m] for r in runs])
        res = form.predict(law["params"][m], N, d, D) - y
        pne = np.array([r["params_non_embedding"] for r in runs], float)
        ax.scatter(pne, res)
        ax.axhline(0, color="k", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("non-embedding parameters")
        ax.set_ylabel(f"predicted − observed {m}")
    save_png(fig, path)
    plt.close(fig)


def _law_section(law: dict) -> list[str]:
    form, metrics = get_form(law["form"]), law["metric"]
    return [
        f"# Performance law — `{law['form']}` v{law['form_version']}",
        "",
        f"{law['form_description']}. Runner-up: `{law['runner_up']}`. Data axis D = `{law['data_axis']['score']}` "
        f"from each variant's entropy.json. Metrics on the `{law['training_protocol']['split']}` split "
        f"({law['training_protocol']['evaluation']}).",
        "",
        "## The fitted law",
        "",
        f"`{form.formula}` — N layers, d width, D the data axis; fitted on N ∈ [{law['domain']['n_layers'][0]:g}, "
        f"{law['domain']['n_layers'][1]:g}], d ∈ [{law['domain']['d_model'][0]:g}, {law['domain']['d_model'][1]:g}], "
        f"D ∈ [{law['domain']['data'][0]:.4g}, {law['domain']['data'][1]:.4g}].",
        "",
        "| parameter | " + " | ".join(f"{m} (95 % bootstrap interval)" for m in metrics) + " |",
        "|---|" + "---|" * len(metrics),
        *(f"| {k} | " + " | ".join(_coefficient(law, m, k) for m in metrics) + " |" for k in form.param_names),
    ]


def _validation_section(law: dict) -> list[str]:
    v, metrics = law["validation"], law["metric"]
    lines = [
        "",
        "## Held-out validation (what counts)",
        "",
        "| metric | scale extrapolation MAPE | max abs error | 95 % interval coverage (held out) | "
        "`advise` regret, median / worst | noise floor (sampling s.e. ≤, median / max) | leave-one-variant-out MAPE | "
        "in-sample R² (not used) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in metrics:
        se, lovo = v["scale_extrapolation"][m], v["leave_one_variant_out"][m]
        r2 = v["in_sample_r2"][m]
        cov = se.get("coverage95")
        covered = "n/a" if cov is None else f"{pct(cov['coverage'])} of {cov['n']}"
        reg = se.get("regret")
        regret = "n/a" if not reg else f"{pct(reg['median'])} / {pct(reg['max'])} ({reg['n']} budgets)"
        nf = v.get("noise_floor", {}).get(m)
        floor = "n/a" if not nf else f"{pct(nf['relative_se_bound_median'])} / {pct(nf['relative_se_bound_max'])}"
        lines.append(f"| {m} | {pct(se.get('mape'))} | {se.get('max_abs_error', float('nan')):.4f} | {covered} | "
                     f"{regret} | {floor} | {pct(lovo.get('mape'))} | {'n/a' if r2 is None else f'{r2:.3f}'} |")
    se0 = v["scale_extrapolation"][metrics[0]]
    coverage = se0.get("coverage95", {}).get("note") or ("the form refitted with bootstrap on those runs alone, its "
                                                           "95 % intervals (bootstrap spread and the small runs' "
                                                           "scatter) at the held-out ones")
    return lines + ["", f"Scale extrapolation: fitted on runs with ≤ {100 * se0.get('fraction', 0):.0f} % of the largest "
                    f"non-embedding parameter count ({se0.get('n_fit', '?')} runs), scored on the {se0.get('n', '?')} larger ones. "
                    f"Coverage: {coverage}. Regret: each held-out size as a "
                    "parameter budget, every run of the variant within it a candidate; the observed metric of the "
                    "one the small-run fit predicts best, short of the best observed (0: as good as hindsight; "
                    "one seed per configuration, so seed noise is part of it). Noise floor: an upper bound on one "
                    "held-out run's sampling standard error over its test users, relative to its value "
                    "(a per-user score in [0, 1] has variance at most y (1 − y)); errors below it are not "
                    "resolved by one seed."]


def _forms_section(law: dict) -> list[str]:
    v, metrics = law["validation"], law["metric"]
    lines = ["", "## Every form on the same held-out points", "",
             "| form | selection score | " + " | ".join(f"{m} scale MAPE | {m} LOVO MAPE | {m} R²" for m in metrics) + " |",
             "|---|---|" + "---|" * (3 * len(metrics))]
    sel = v["selection"]
    for name in sel["ranking"]:
        cells = []
        for m in metrics:
            f = sel["forms"][name][m]
            r2 = f["in_sample_r2"]
            cells += [pct(f["scale_extrapolation_mape"]), pct(f["leave_one_variant_out_mape"]),
                      "n/a" if r2 is None else f"{r2:.3f}"]
        lines.append(f"| `{name}` | {pct(sel['scores'][name])} | " + " | ".join(cells) + " |")
    lines += ["", f"Criterion: {sel['criterion']}."]
    for name in sel["ranking"]:
        errors = sorted({f["error"] for f in sel["forms"][name].values() if f.get("error")})
        if errors:
            lines += ["", f"`{name}` has no held-out error: {'; '.join(errors)}."]
    lib = v.get("library_index")
    if lib:
        left = f"; {', '.join(lib['left_out'])} left out of it, as these runs are its data" if lib["left_out"] else ""
        lines += ["", f"`shared_power`: the law library's shape (`{lib['index']}`, sha256 {lib['index_sha256'][:12]}…, "
                      f"recipe `{lib['recipe']}`{left}), each variant's level calibrated on its own runs."]
    if law.get("calibration", {}).get("note"):
        lines += ["", f"This law: {law['calibration']['note']}."]
    return lines


def _provenance_section(law: dict) -> list[str]:
    prov = law["provenance"]
    lines = ["", "## Provenance", "", f"- srlaw {prov['srlaw_version']}, code sha256 "
             f"{prov.get('code_sha256', 'n/a')[:16]}…",
             f"- params sha256 {law['provenance'].get('params_sha256', 'n/a')}"]
    for name, info in sorted(law["variants"].items()):
        lines.append(f"- variant `{name}`: data hash {info['content_hash'][:16]}…, D = {info['data']:.4g}")
    return lines + [""]
