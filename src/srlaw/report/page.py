"""One self-contained HTML page about a law: its curves and intervals against every measured run, the sizing
frontier under parameter (and latency) budgets, what it measured on held-out models, and — for a law with a
data axis — where its data sits among the library's datasets.

Figures are inline SVG and the one script is inline: the page opens from a file with no network.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

import numpy as np

from srlaw.core.atomic import write_bytes_atomic
from srlaw.core.errors import SrlawError
from srlaw.predictor.config import interval_label, manifest_sha256, validation_figures
from srlaw.report.format import pct

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
MAX_RUN_ROWS = 300
GENERATOR = "<meta name=generator content='srlaw report'>"  # what marks a page srlaw wrote

# toggles the metric shown and marks the page rendered (the browser test reads the mark)
SCRIPT = """
function show(metric) {
  document.querySelectorAll('section[data-metric]').forEach(function (s) {
    s.hidden = s.dataset.metric !== metric;
  });
  document.querySelectorAll('button[data-show]').forEach(function (b) {
    b.setAttribute('aria-pressed', String(b.dataset.show === metric));
  });
}
document.querySelectorAll('button[data-show]').forEach(function (b) {
  b.addEventListener('click', function () { show(b.dataset.show); });
});
show(document.querySelector('button[data-show]').dataset.show);
document.body.dataset.rendered = String(document.querySelectorAll('svg').length);
"""

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f3f3f3;text-align:left}code{font-size:.9em}.figs{display:flex;flex-wrap:wrap;gap:1em}
.figs>div{flex:1 1 480px}svg{width:100%;height:auto}button{margin-right:.4em;padding:.3em .8em}
details{margin:.8em 0}.one{max-width:620px}
button[aria-pressed=true]{background:#1f77b4;color:#fff}.note{color:#555;font-size:.9em}
"""


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG (no XML header, no software stamp, fixed ids: same law, same bytes)."""
    import matplotlib
    import matplotlib.pyplot as plt
    buf = io.StringIO()
    # text stays text (the browser's fonts; labels searchable); a fixed salt keeps the SVG's ids the same per law
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "srlaw"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _variant_runs(law, variant: str | None) -> list[dict]:
    return [r for r in law.doc.get("runs", []) if variant is None or r.get("variant", variant) == variant]


def curve_figure(law, metric: str, variant: str | None) -> str:
    """The law's curve per depth across widths (band: its interval) over every measured run of ``variant``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dom = law.doc["domain"]
    runs = _variant_runs(law, variant)
    lo, hi = int(dom["n_layers"][0]), int(dom["n_layers"][1])
    depths = sorted({int(r["n_layers"]) for r in runs} | {lo, hi} | {2 ** k for k in range(8) if lo < 2 ** k < hi})
    widths = 2.0 ** np.arange(np.log2(dom["d_model"][0]), np.log2(dom["d_model"][1]) + 1.01, 0.25)
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for i, n in enumerate(depths):
        c = COLOURS[i % len(COLOURS)]
        p = law.predict(np.full_like(widths, n), widths, metric=metric, variant=variant, warn=False)
        x = law.params_of(np.full_like(widths, n), widths)[0]
        ax.plot(x, p.value, color=c, label=f"{n} layer{'s' * (n > 1)}")
        ax.fill_between(x, p.lower, p.upper, color=c, alpha=0.15, linewidth=0)
        mine = [r for r in runs if int(r["n_layers"]) == n and metric in r]
        ax.scatter([r["params_non_embedding"] for r in mine], [r[metric] for r in mine], color=c, s=18,
                   edgecolor="k", linewidth=0.4, zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("non-embedding parameters")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: law (lines, bands) and measured runs (dots)" + (f" — {variant}" if variant else ""),
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def frontier(law, metric: str, variant: str | None) -> dict:
    """The best predicted value under each total-parameter budget, among the law's in-domain candidates."""
    N, d = law.default_candidates()
    p = law.predict(N, d, metric=metric, variant=variant, warn=False, interval=False)
    ptot = law.params_of(N, d)[1]
    stable = np.array([(int(a), int(b)) not in law.unstable for a, b in zip(N, d)], bool)
    keep = np.asarray(p.in_domain, bool) & stable
    order = np.argsort(ptot[keep])
    x, y = ptot[keep][order], np.asarray(p.value)[keep][order]
    lat, known = law.latency_of(N, d, law.params_of(N, d)[0])
    return {"params_total": x, "value": y, "best": np.maximum.accumulate(y) if y.size else y,
            "shapes": [(int(a), int(b)) for a, b in zip(N[keep][order], d[keep][order])],
            "latency_ms": np.asarray(lat, float)[keep][order], "latency_known": bool(np.any(known))}


def frontier_figure(front: dict, metric: str) -> str:
    """Each candidate's prediction by size, and the best reachable under a budget (by parameters and latency)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = 2 if front["latency_known"] else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.0), squeeze=False)
    for ax, key, label in zip(axes[0], ("params_total", "latency_ms"), ("total parameters (budget)",
                                                                          "batch-1 latency, ms (budget)")):
        x, y = front[key], front["value"]
        ok = np.isfinite(x)
        order = np.argsort(x[ok])
        ax.scatter(x[ok], y[ok], s=14, color="#999", label="candidates")
        ax.step(x[ok][order], np.maximum.accumulate(y[ok][order]), where="post", color=COLOURS[0],
                label="best under budget")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"predicted {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _svg(fig)


def data_figure(law, library: dict) -> str | None:
    """The library's datasets by data quality (Markov-probe NDCG@10) and users, this law's data among them."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    mine = law.doc.get("variants", {}).get(law.doc.get("default_variant"), {})
    if law.doc.get("data_axis", {}).get("score") != "markov_ndcg@10" or not library or "n_users" not in mine:
        return None
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for name, row in sorted(library.items()):
        ax.scatter(row["probe"], row["n_users"], color="#777", s=20)
        ax.annotate(name, (row["probe"], row["n_users"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.scatter(mine["data"], mine["n_users"], color=COLOURS[1], s=80, marker="*", zorder=3,
               label=f"this law's data ({law.doc['default_variant']})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Markov-probe NDCG@10 (data quality: the law's data axis)")
    ax.set_ylabel("users")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def validation_table(doc: dict, metric: str) -> str:
    """What the law measured on models it was not fitted on, and what its interval may be called."""
    f = validation_figures(doc, metric)
    rows = [["held-out error (MAPE)", pct(f.get("heldout_mape")), f"{f.get('heldout_points') or 0} points"],
            ["coverage of the 95 % interval (seed means)", pct(f.get("coverage95_seed_means")), ""],
            ["coverage of the 95 % interval (single runs)", pct(f.get("coverage95_single_runs")), ""]]
    for key, what in (("leave_one_dataset_out", "library check: each dataset left out"),
                      ("leave_one_source_out", "library check: each raw source left out")):
        if key in f:
            c = f[key]
            rows.append([f"{what}, K = {c['k']} runs", f"median {pct(c['mape_median'])}, worst {pct(c['mape_worst'])}",
                         f"coverage {pct(c['coverage95'])}"])
    return _table(["check", "error", "detail"], rows) + \
        f"<p class=note>The band is called: <b>{html.escape(interval_label(f))}</b>.</p>"


def runs_table(law, metric: str, variant: str | None) -> str:
    """Every measured run beside the law's prediction for it."""
    runs = [r for r in _variant_runs(law, variant) if metric in r][:MAX_RUN_ROWS]
    if not runs:
        return "<p class=note>This law carries no measured runs.</p>"
    N, d = np.array([r["n_layers"] for r in runs], float), np.array([r["d_model"] for r in runs], float)
    p = law.predict(N, d, metric=metric, variant=variant, warn=False)
    rows = [[int(r["n_layers"]), int(r["d_model"]), r.get("seed", ""), f"{r[metric]:.4f}", f"{v:.4f}",
             f"[{lo:.4f}, {hi:.4f}]", pct(abs(v - r[metric]) / r[metric]) if r[metric] > 0 else "n/a"]
            for r, v, lo, hi in zip(runs, p.value, p.lower, p.upper)]
    return _table(["layers", "width", "seed", f"measured {metric}", "law", "interval", "error"], rows)


def _summary(law) -> str:
    doc = law.doc
    prov = doc.get("provenance", {})
    cal = doc.get("calibration", {})
    rows = [["law", law.source], ["manifest sha256 (pin)", manifest_sha256(law) or "none (unverified folder)"],
            ["form", f"{doc['form']} v{doc.get('form_version', '?')}"], ["data", doc.get("default_variant", "")],
            ["measured runs", len(doc.get("runs", []))],
            ["domain", ", ".join(f"{k} {v[0]:g}–{v[1]:g}" for k, v in doc["domain"].items())],
            ["srlaw", prov.get("srlaw_version", "?")]]
    if "n_runs" in cal:
        rows.append(["calibration", f"{cal['n_runs']} run{'s' * (cal['n_runs'] != 1)} of this data on the library's "
                                    "shape"])
    return _table(["", ""], rows)


def page(law, library: dict | None = None) -> str:
    """The HTML of the page (see the module docstring); ``library``: dataset → {probe, n_users} to place the data."""
    metrics = list(law.doc["metric"])
    variant = law.doc.get("default_variant")
    sections = []
    for m in metrics:
        front = frontier(law, m, variant)
        sections.append(
            f"<section data-metric='{html.escape(m)}'><h2>{html.escape(m)}</h2>"
            f"<div class=figs><div>{curve_figure(law, m, variant)}</div>"
            f"<div>{frontier_figure(front, m)}</div></div>"
            f"<h3>What the law measured on models it was not fitted on</h3>{validation_table(law.doc, m)}"
            f"<details><summary>Every measured run against the law</summary>{runs_table(law, m, variant)}</details>"
            "</section>")
    where = data_figure(law, library or {})
    data_part = f"<h2>Your data among the library's datasets</h2><div class=one>{where}</div>" if where else ""
    buttons = "".join(f"<button data-show='{html.escape(m)}'>{html.escape(m)}</button>" for m in metrics)
    splits = sorted({str(r.get("split", "test")) for r in law.doc.get("runs", [])}) or ["test"]
    title = f"srlaw law — {html.escape(str(variant or law.source))}"
    data_json = html.escape(json.dumps({"metrics": metrics, "source": law.source}))
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8>{GENERATOR}<title>{title}</title>"
            f"<style>{STYLE}</style></head><body data-law='{data_json}'><h1>{title}</h1>{_summary(law)}"
            f"<p>{buttons}</p>{''.join(sections)}{data_part}"
            "<p class=note>Lines: the law's prediction per depth; bands: its interval; dots: the runs it carries "
            f"(metric of the {html.escape(' / '.join(splits))} split). The frontier: the best prediction among in-domain candidates under a budget (sizes the library "
            "saw diverge left out).</p>"
            f"<script>{SCRIPT}</script></body></html>\n")


def write_page(law, out: Path, library: dict | None = None) -> Path:
    """Write the page atomically to ``out`` (a file path); a file there that srlaw did not write is refused."""
    out = Path(out)
    if out.is_dir():
        raise SrlawError(f"{out}: is a folder; --out names the page's file, e.g. {out / 'law.html'}")
    if out.exists():
        with open(out, "rb") as f:
            head = f.read(4096)
        if GENERATOR.encode() not in head:
            raise SrlawError(f"{out}: exists and is not a page srlaw wrote; left untouched (choose another --out)")
    write_bytes_atomic(out, page(law, library).encode())
    return out
