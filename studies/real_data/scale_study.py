"""Scale extrapolation of the law on real data (ML-1M first): train a depth × width grid per data variant, then
fit every law form on the small models and score it on the large ones.

    python studies/real_data/scale_study.py train   --dataset ml-1m --out reports/real_data_runs.json   # GPU advised
    python studies/real_data/scale_study.py analyse --runs reports/real_data_runs.json

Rows are saved after every run, so an interrupted ``train`` resumes where it stopped. The data are read from
../shared/data (never copied into the project). Data variants and scores come from the data-quality study.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "studies" / "data_quality"))
from run_study import VARIANTS, build  # noqa: E402

from srlaw.atomic_write import write_bytes_atomic, write_json_atomic  # noqa: E402
from srlaw.dataset import save_dataset  # noqa: E402
from srlaw.entropy import entropy_scores  # noqa: E402

TRAIN = {"batch_size": 128, "lr": 1e-3, "patience": 5, "max_epochs": 80, "loss": "full"}
MODEL = {"backbone": "sasrec", "n_heads": 1, "max_len": 50, "dropout": 0.3}


def cmd_train(args) -> int:
    from srlaw.models import ModelConfig
    from srlaw.training import TrainConfig, train_run

    doc = json.loads(args.out.read_text()) if args.out.is_file() else {"rows": [], "scores": {}}
    done = {(r["variant"], r["n_layers"], r["d_model"]) for r in doc["rows"]}
    for variant in args.variants:
        ds, why = build(variant, args.data_root)
        if ds is None:
            print(f"skip {variant}: {why}")
            continue
        if variant not in doc["scores"]:
            doc["scores"][variant] = entropy_scores(ds.items, ds.offsets, ds.n_items, m=2, r=0.2, max_len=50)
        with tempfile.TemporaryDirectory() as tmp:
            save_dataset(ds, Path(tmp) / "data")
            for n_layers in args.depths:
                for d_model in args.widths:
                    if (variant, n_layers, d_model) in done:
                        continue
                    m = train_run(Path(tmp) / "data", Path(tmp) / f"run-{n_layers}-{d_model}",
                                  ModelConfig(n_items=ds.n_items, n_layers=n_layers, d_model=d_model, **MODEL),
                                  TrainConfig(**TRAIN, deterministic=False, progress_bar=False,
                                              max_minutes=args.max_minutes), meta={"variant": variant})
                    doc["rows"].append({"variant": variant, "n_layers": n_layers, "d_model": d_model,
                                        "params_non_embedding": m["params_non_embedding"],
                                        "params_total": m["params_total"], "valid": m["valid"], "test": m["test"],
                                        "epochs": m["epochs"], "train_seconds": m["train_seconds"],
                                        "device": m["device"]})
                    write_json_atomic(args.out, {**doc, "model": MODEL, "train": TRAIN})
                    print(f"{variant} L={n_layers} d={d_model}: test ndcg@10 {m['test']['ndcg@10']:.4f} "
                          f"({m['epochs']} epochs, {m['train_seconds']:.0f} s)", flush=True)
    return 0


def cmd_analyse(args) -> int:
    from srlaw.law_fit import RunTable, select_form

    doc = json.loads(args.runs.read_text())
    key = args.data_score
    records = []
    for r in doc["rows"]:
        rec = {k: r[k] for k in ("variant", "n_layers", "d_model", "params_non_embedding")}
        rec["data"] = float(doc["scores"][r["variant"]][key])
        # the mean of the validation and test users halves the evaluation noise of one split
        for metric in ("hr@10", "ndcg@10"):
            rec[metric] = 0.5 * (r["valid"][metric] + r["test"][metric])
        records.append(rec)
    table = RunTable.from_records(records)
    sel = select_form(table, ["hr@10", "ndcg@10"], ["paper", "paper_script", "saturating", "logistic"],
                      fraction=args.fraction, huber_delta=0.05, n_starts=24, seed=0)
    out = {"data_score": key, "fraction": args.fraction, "n_runs": len(records), "winner": sel["winner"],
           "runner_up": sel["runner_up"], "criterion": sel["criterion"],
           "forms": {n: {m: {"scale_extrapolation": {k: v for k, v in f["metrics"][m]["scale_extrapolation"].items()},
                             "leave_one_variant_out_mape": f["metrics"][m]["leave_one_variant_out"].get("mape"),
                             "in_sample_r2": f["metrics"][m]["in_sample_r2"]} for m in ("hr@10", "ndcg@10")}
                     for n, f in sel["forms"].items()}}
    write_json_atomic(args.report.with_suffix(".json"), out)
    lines = ["## Scale extrapolation on real data", "",
             f"{len(records)} SASRec runs ({', '.join(sorted(set(table.variant)))}; depths "
             f"{sorted(set(table.n_layers.astype(int).tolist()))} × widths {sorted(set(table.d_model.astype(int).tolist()))}, "
             f"max_len {doc['model']['max_len']}, full softmax). Each form is fitted on the runs with at most "
             f"{100 * args.fraction:.0f} % of the largest non-embedding parameter count and predicts the rest. "
             f"Metric = mean of validation and test NDCG/HR@10 (full ranking). Data axis: `{key}`.", "",
             "| form | HR@10 MAPE | HR@10 max abs err | NDCG@10 MAPE | NDCG@10 max abs err | in-sample R² (NDCG) |",
             "|---|---|---|---|---|---|"]
    for n in sel["ranking"]:
        f = out["forms"][n]
        h, g = f["hr@10"]["scale_extrapolation"], f["ndcg@10"]["scale_extrapolation"]
        r2 = f["ndcg@10"]["in_sample_r2"]

        def pct(x):
            return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f} %"
        lines.append(f"| `{n}` | {pct(h.get('mape'))} | {h.get('max_abs_error', float('nan')):.4f} | "
                     f"{pct(g.get('mape'))} | {g.get('max_abs_error', float('nan')):.4f} | "
                     f"{'n/a' if r2 is None else f'{r2:.3f}'} |")
    lines += ["", f"Winner on held-out error: `{sel['winner']}` (runner-up `{sel['runner_up']}`).", ""]
    write_bytes_atomic(args.report, "\n".join(lines).encode())
    print("\n".join(lines))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    t.add_argument("--variants", nargs="+", default=["ml-1m", "ml-1m/users25"], choices=list(VARIANTS))
    t.add_argument("--depths", nargs="+", type=int, default=[1, 2, 4])
    t.add_argument("--widths", nargs="+", type=int, default=[32, 64, 128])
    t.add_argument("--max-minutes", type=float, default=None)
    t.add_argument("--out", type=Path, default=ROOT / "reports" / "real_data_runs.json")
    t.set_defaults(func=cmd_train)
    a = sub.add_parser("analyse")
    a.add_argument("--runs", type=Path, default=ROOT / "reports" / "real_data_runs.json")
    a.add_argument("--report", type=Path, default=ROOT / "reports" / "real_data_scale.md")
    a.add_argument("--data-score", default="markov_ndcg@10")
    a.add_argument("--fraction", type=float, default=0.25)
    a.set_defaults(func=cmd_analyse)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
