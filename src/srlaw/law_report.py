"""The human-readable side of a law: ``report.md`` and its PNG plots, written from law.json alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from srlaw.atomic_write import write_bytes_atomic
from srlaw.law_forms import get_form

PLOTS = ("observed_vs_predicted.png", "metric_vs_depth.png", "metric_vs_width.png", "residuals.png")


def save_png(fig, path: Path, dpi: int = 110) -> None:
    """Write a figure as PNG atomically, without the software stamp (same figure, same bytes)."""
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    write_bytes_atomic(path, buf.getvalue())


def pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"


def write_report(law: dict, out_dir) -> list[Path]:
    """Write report.md and the plots under ``out_dir/plots``; return the files written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    plots = out_dir / "plots"
    form = get_form(law["form"])
    runs = law["runs"]
    metrics = law["metric"]
    variants = sorted({r["variant"] for r in runs})
    N = np.array([r["n_layers"] for r in runs], float)
    d = np.array([r["d_model"] for r in runs], float)
    D = np.array([r["data"] for r in runs], float)
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
    save_png(fig, plots / PLOTS[0])
    plt.close(fig)

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
    save_png(fig, plots / PLOTS[3])
    plt.close(fig)

    v = law["validation"]
    lines = [
        f"# Performance law — `{law['form']}` v{law['form_version']}",
        "",
        f"{law['form_description']}. Runner-up: `{law['runner_up']}`. Data axis D = `{law['data_axis']['score']}` "
        f"from each variant's entropy.json. Metrics on the `{law['training_protocol']['split']}` split "
        f"({law['training_protocol']['evaluation']}).",
        "",
        "## Held-out validation (what counts)",
        "",
        "| metric | scale extrapolation MAPE | max abs error | leave-one-variant-out MAPE | in-sample R² (not used) |",
        "|---|---|---|---|---|",
    ]
    for m in metrics:
        se, lovo = v["scale_extrapolation"][m], v["leave_one_variant_out"][m]
        r2 = v["in_sample_r2"][m]
        lines.append(f"| {m} | {pct(se.get('mape'))} | {se.get('max_abs_error', float('nan')):.4f} | "
                     f"{pct(lovo.get('mape'))} | {'n/a' if r2 is None else f'{r2:.3f}'} |")
    se0 = v["scale_extrapolation"][metrics[0]]
    lines += ["", f"Scale extrapolation: fitted on runs with ≤ {100 * se0.get('fraction', 0):.0f} % of the largest "
                  f"non-embedding parameter count ({se0.get('n_fit', '?')} runs), scored on the {se0.get('n', '?')} larger ones.",
              "", "## Every form on the same held-out points", "",
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
    lines += ["", f"Criterion: {sel['criterion']}.", "", "## Plots", ""]
    lines += [f"![{p}](plots/{p})" for p in PLOTS]
    lines += ["", "## Provenance", "", f"- srlaw {law['provenance']['srlaw_version']}, git "
              f"{law['provenance']['git']['commit']} (dirty: {law['provenance']['git']['dirty']}), "
              f"created {law['provenance']['created']}",
              f"- params sha256 {law['provenance'].get('params_sha256', 'n/a')}"]
    for name, info in sorted(law["variants"].items()):
        lines.append(f"- variant `{name}`: data hash {info['content_hash'][:16]}…, D = {info['data']:.4g}")
    lines.append("")
    write_bytes_atomic(out_dir / "report.md", "\n".join(lines).encode())
    return [out_dir / "report.md"] + [plots / p for p in PLOTS]
