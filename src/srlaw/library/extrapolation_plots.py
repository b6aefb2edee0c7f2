"""The extrapolation report's figures: predicted against observed, and error against extrapolation.

Both read the report's JSON document (``srlaw.library.extrapolate``), so they show exactly the tabled points:
seed-mean truth with its seed-to-seed sd, each law's prediction with its 95 % interval.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FOLDER = "extrapolation"  # beside the report: reports/extrapolation/*.png
COLOURS = {"library": "tab:blue", "shared": "tab:orange", "two_stage": "tab:green", "curves": "tab:red",
           "loglinear": "tab:gray"}
CLIP = 40.0  # % error: beyond it a point is drawn at the edge (ml-latest-small's curves law reaches 1800 %)


def figure_paths(report: Path) -> dict[str, Path]:
    folder = Path(report).parent / FOLDER
    return {"pred_vs_obs": folder / "pred_vs_obs.png", "error_vs_factor": folder / "error_vs_factor.png"}


def plot_pred_vs_obs(doc: dict, datasets: dict, laws, metrics, path: Path) -> None:
    """One panel per dataset and metric: observed seed mean (± seed sd, horizontal) against each law's prediction
    (± its 95 % interval, vertical); the diagonal and ±5 % around it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from srlaw.report.format import save_png

    names = [v for v in datasets if v in doc["datasets"]]
    fig, axes = plt.subplots(len(metrics), len(names), figsize=(4.2 * len(names), 3.9 * len(metrics)), squeeze=False)
    for row, m in enumerate(metrics):
        for col, name in enumerate(names):
            ax = axes[row][col]
            pts = doc["datasets"][name]["metrics"][m]["points"]
            obs = np.array([p["observed"] for p in pts])
            sd = np.array([p["seed_sd"] or 0.0 for p in pts])
            values = [obs]
            for law in laws:
                pred = np.array([p[law] for p in pts])
                values.append(pred[:, 0])
                ax.errorbar(obs, pred[:, 0], xerr=sd, yerr=[pred[:, 0] - pred[:, 1], pred[:, 2] - pred[:, 0]],
                            fmt="o", ms=3.5, lw=0.8, capsize=2, alpha=0.8, color=COLOURS[law], label=law)
            lo, hi = float(np.min(np.concatenate(values))) * 0.9, float(np.max(np.concatenate(values))) * 1.1
            grid = np.array([lo, hi])
            ax.plot(grid, grid, "k-", lw=0.8)
            ax.fill_between(grid, grid * 0.95, grid * 1.05, color="k", alpha=0.08, lw=0)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_title(f"{datasets[name]}, {m} (held out)", fontsize=9)
            ax.set_xlabel(f"observed {m} (seed mean ± sd)", fontsize=8)
            ax.set_ylabel("predicted (95 % interval)", fontsize=8)
            ax.tick_params(labelsize=7)
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=100)
    plt.close(fig)


def plot_error_vs_factor(doc: dict, laws, metrics, splits, path: Path) -> None:
    """Signed error of every held-out point against its size over the largest fitted one, per law; the split
    edges, ±3 % and ±5 %, and the seed-to-seed sd (median over seeded points) as a grey band around zero."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from srlaw.report.format import save_png

    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 4.2), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        pts = [p for e in doc["datasets"].values() for p in e["metrics"][m]["points"]]
        factor = np.array([p["factor"] for p in pts])
        obs = np.array([p["observed"] for p in pts])
        noise = [p["seed_sd"] / p["observed"] for p in pts if p["seed_sd"] is not None]
        if noise:
            s = 100 * float(np.median(noise))
            ax.axhspan(-s, s, color="k", alpha=0.12, lw=0, label=f"seed sd ({s:.1f} %)")
        for band in (3, 5):
            for sign in (-1, 1):
                ax.axhline(sign * band, color="k", ls=":" if band == 3 else "--", lw=0.7)
        for edge in sorted({lo for lo, _ in splits}):
            ax.axvline(edge, color="k", lw=0.6)
        for i, law in enumerate(laws):
            err = 100 * (np.array([p[law][0] for p in pts]) / obs - 1)
            x = factor * (1 + 0.03 * (i - (len(laws) - 1) / 2))  # laws side by side at each size
            inside = np.abs(err) <= CLIP
            ax.scatter(x[inside], err[inside], s=14, alpha=0.75, color=COLOURS[law], label=law)
            for sign, marker in ((1, "^"), (-1, "v")):
                out = ~inside & (np.sign(err) == sign)
                ax.scatter(x[out], np.full(out.sum(), sign * CLIP), s=22, marker=marker, alpha=0.75, color=COLOURS[law])
        ax.set_xscale("log")
        ax.set_ylim(-CLIP * 1.05, CLIP * 1.05)
        ax.set_xlabel("non-embedding parameters ÷ the largest fitted (lines: the 4× and 10× splits)")
        ax.set_ylabel(f"{m}: predicted ÷ observed − 1 (%)")
        ax.set_title(f"{m}: error against extrapolation, every dataset (▲▼: beyond ±{CLIP:.0f} %)", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    save_png(fig, path, dpi=100)
    plt.close(fig)
