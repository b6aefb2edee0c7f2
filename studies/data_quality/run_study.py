"""Which data-quality score tracks the NDCG@10 that SASRec achieves? (issue: a score beyond per-sequence ApEn)

Two phases, so the expensive one can run on a GPU machine and the analysis anywhere:

    python -m studies.data_quality.run_study train  --data-root ../shared/data --out reports/data_quality_runs.json
    python -m studies.data_quality.run_study analyse --runs reports/data_quality_runs.json

``train`` builds every variant (real datasets, nested user fractions, history truncation, noise injection),
computes every score of the ``entropy`` stage, and trains SASRec at ONE fixed size (2 × 64, max_len 50, full
softmax) with early stopping; rows are saved after each variant, so a killed run keeps what it finished.
``analyse`` writes ``reports/data_quality.json`` (Spearman and log-scale Pearson per score) and scatter plots.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from srlaw.core.atomic import write_bytes_atomic, write_json_atomic
from srlaw.train.settings import LEGACY_RECIPE
from srlaw.data.dataset import save_dataset
from srlaw.library.catalogue import CATALOGUE
from srlaw.library.train import build
from srlaw.data.quality import entropy_scores

ROOT = Path(__file__).resolve().parents[2]

# the study's datasets: entries of srlaw.library.catalogue.CATALOGUE
VARIANTS = ("ml-1m", "ml-1m/users25", "ml-1m/last20", "ml-1m/noise30", "ml-100k", "ml-latest-small",
            "beauty-bert4rec", "beauty-bert4rec/users25", "beauty-s3rec", "sports-s3rec", "sports-s3rec/noise30",
            "sports-s3rec/users25")
MODEL = {"backbone": "sasrec", "n_layers": 2, "d_model": 64, "n_heads": 1, "max_len": 50, "dropout": 0.3,
         **LEGACY_RECIPE}  # what the recorded results were trained with (before the original SASRec block became the default)
TRAIN = {"batch_size": 128, "lr": 1e-3, "warmup_epochs": 0.0, "patience": 5, "max_epochs": 100,
         "loss": "full"}
# scores where larger means harder data: oriented as −score so every "quality" ρ should be positive
HARDNESS = {"apen_mean", "pooled_apen", "conditional_entropy", "conditional_entropy_miller_madow", "lz_entropy_rate",
            "markov_cross_entropy"}
SCORES = ("apen_mean", "pooled_apen", "conditional_entropy", "conditional_entropy_miller_madow", "lz_entropy_rate",
          "markov_cross_entropy", "markov_hr@10", "markov_ndcg@10", "n_tokens", "effective_data.apen_mean",
          "effective_data.pooled_apen", "predictable_tokens")


def cmd_train(args) -> int:
    from srlaw.train.settings import ModelConfig, TrainConfig
    from srlaw.train.trainer import train_run

    rows = json.loads(args.out.read_text())["rows"] if args.out.is_file() else []
    done = {r["variant"] for r in rows}
    for name in args.variants or VARIANTS:
        if name in done:
            continue
        ds, why = build(name, args.data_root)
        if ds is None:
            print(f"skip {name}: {why} (licence-restricted data lives only in ../shared/data)")
            continue
        t0 = time.perf_counter()
        scores = entropy_scores(ds.items, ds.offsets, ds.n_items, m=2, r=0.2, window=50)
        score_s = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            save_dataset(ds, Path(tmp) / "data")
            m = train_run(Path(tmp) / "data", Path(tmp) / "run", ModelConfig(n_items=ds.n_items, **MODEL),
                          TrainConfig(**TRAIN, deterministic=False, progress_bar=False, max_minutes=args.max_minutes),
                          meta={"variant": name})
        rows.append({"variant": name, "source": CATALOGUE[name].file, "spec": CATALOGUE[name].cut,
                     "n_users": ds.n_users, "n_items": ds.n_items, "scores": scores, "score_seconds": score_s,
                     "sasrec": {"test": m["test"], "valid": m["valid"], "epochs": m["epochs"],
                                "best_epoch": m["best_epoch"], "train_seconds": m["train_seconds"],
                                "device": m["device"], "precision": m["precision"]}})
        write_json_atomic(args.out, {"model": MODEL, "train": TRAIN, "rows": rows})
        print(f"{name}: SASRec test ndcg@10 {m['test']['ndcg@10']:.4f}, probe {scores['markov_ndcg@10']:.4f}, "
              f"{m['epochs']} epochs, {m['train_seconds']:.0f} s", flush=True)
    return 0


def score_of(row, key):
    node = row["scores"]
    for part in key.split("."):
        node = node[part]
    return float(node)


def cmd_analyse(args) -> int:
    from scipy.stats import pearsonr, spearmanr

    doc = json.loads(args.runs.read_text())
    rows = doc["rows"]
    y = np.array([r["sasrec"]["test"]["ndcg@10"] for r in rows])
    result = {"variants": [], "spearman": {}, "spearman_oriented": {}, "pearson_log": {}, "model": doc["model"],
              "train": doc["train"], "target": "SASRec test NDCG@10 at one fixed size (full ranking)"}
    for r in rows:
        result["variants"].append({"variant": r["variant"], "ndcg@10": r["sasrec"]["test"]["ndcg@10"],
                                   "hr@10": r["sasrec"]["test"]["hr@10"], "n_users": r["n_users"],
                                   "n_items": r["n_items"], **{k: score_of(r, k) for k in SCORES}})
    for key in SCORES:
        x = np.array([score_of(r, key) for r in rows])
        rho = float(spearmanr(x, y).statistic)
        result["spearman"][key] = rho
        result["spearman_oriented"][key] = -rho if key.split(".")[0] in HARDNESS else rho
        ok = (x > 0) & (y > 0)
        result["pearson_log"][key] = float(pearsonr(np.log(x[ok]), np.log(y[ok])).statistic) if ok.sum() > 2 else None
    best = max(result["spearman_oriented"], key=lambda k: result["spearman_oriented"][k])
    result["best_score"] = best
    result["n_variants"] = len(rows)
    write_json_atomic(args.report, result)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = 4
    fig, axes = plt.subplots(int(np.ceil(len(SCORES) / cols)), cols, figsize=(4 * cols, 3.2 * np.ceil(len(SCORES) / cols)))
    for ax, key in zip(axes.ravel(), SCORES):
        x = np.array([score_of(r, key) for r in rows])
        ax.scatter(x, y)
        for xi, yi, r in zip(x, y, rows):
            ax.annotate(r["variant"], (xi, yi), fontsize=5)
        if key in ("n_tokens", "predictable_tokens") or key.startswith("effective_data"):
            ax.set_xscale("log")
        ax.set_title(f"{key}: ρ = {result['spearman'][key]:+.2f}", fontsize=9)
        ax.set_ylabel("SASRec NDCG@10", fontsize=7)
    for ax in axes.ravel()[len(SCORES):]:
        ax.axis("off")
    fig.tight_layout()
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    write_bytes_atomic(args.report.parent / "data_quality_scatter.png", buf.getvalue())

    lines = ["## Data quality: which score tracks achieved NDCG@10?", "",
             f"SASRec {doc['model']['n_layers']} × {doc['model']['d_model']}, max_len {doc['model']['max_len']}, "
             f"full softmax, trained on each of {len(rows)} variants; test NDCG@10 with full ranking. "
             "ρ = Spearman over variants (oriented: entropy-type scores negated, so higher is better for all).", "",
             "| score | Spearman ρ | oriented ρ | Pearson (log-log) |", "|---|---|---|---|"]
    for key in sorted(SCORES, key=lambda k: -result["spearman_oriented"][k]):
        pl = result["pearson_log"][key]
        lines.append(f"| `{key}` | {result['spearman'][key]:+.3f} | {result['spearman_oriented'][key]:+.3f} | "
                     f"{'n/a' if pl is None else f'{pl:+.3f}'} |")
    lines += ["", f"Best score: `{best}` (oriented ρ = {result['spearman_oriented'][best]:+.3f}); the paper's "
                  f"per-sequence ApEn gets {result['spearman_oriented']['apen_mean']:+.3f}.", "",
              "| variant | users | items | SASRec NDCG@10 | probe NDCG@10 | per-seq ApEn | H_MM(next|prev) |",
              "|---|---|---|---|---|---|---|"]
    for v in result["variants"]:
        lines.append(f"| {v['variant']} | {v['n_users']:,} | {v['n_items']:,} | {v['ndcg@10']:.4f} | "
                     f"{v['markov_ndcg@10']:.4f} | {v['apen_mean']:.4f} | {v['conditional_entropy_miller_madow']:.3f} |")
    lines += ["", "![scatter](data_quality_scatter.png)", ""]
    write_bytes_atomic(args.report.parent / "data_quality.md", "\n".join(lines).encode())
    print("\n".join(lines))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    t.add_argument("--out", type=Path, default=ROOT / "reports" / "data_quality_runs.json")
    t.add_argument("--variants", nargs="*", choices=list(VARIANTS))
    t.add_argument("--max-minutes", type=float, default=None)
    t.set_defaults(func=cmd_train)
    a = sub.add_parser("analyse")
    a.add_argument("--runs", type=Path, default=ROOT / "reports" / "data_quality_runs.json")
    a.add_argument("--report", type=Path, default=ROOT / "reports" / "data_quality.json")
    a.set_defaults(func=cmd_analyse)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
