"""Reproduce SASRec+ (full-softmax CE) on ML-1M and Amazon Beauty against Klenitskiy & Vasilev (RecSys 2023).

Protocol (SCIENCE.md §4–5): leave-one-out, full ranking over all items, seen items filtered; SASRec 2 blocks,
1 head, d = 64, dropout 0.1, batch 128, Adam 1e-3, early stopping on validation NDCG@10 with patience 10;
max_len 200 (ML-1M) / 50 (Beauty), no warm-up; the model is srlaw's default (now the original SASRec
block, ReLU, N(0, 0.02) weights — the committed H100 results predate it: pre-LN, GELU, xavier). Prints a table and
writes JSON. The data are read from ../shared/data and
never copied into the project; a missing file is skipped with a message.

    python benchmarks/reproduce_sasrec.py [--datasets ml-1m beauty] [--out benchmarks/results/reproduce_sasrec.json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from srlaw.core.atomic import write_json_atomic
from srlaw.data.dataset import build_dataset, save_dataset
from srlaw.data.readers import read_interactions

SHARED = ROOT.parent / "shared" / "data"
DATASETS = {  # name: (file, format, max_len, published HR@10, NDCG@10)
    "ml-1m": ("ml-1m/ml-1m.txt", "sasrec", 200, 0.3152, 0.1821),
    "beauty": ("amazon-beauty-bert4rec/beauty.txt", "sasrec", 50, 0.0533, 0.0327),
}


def run_one(name: str, data_root: Path, args) -> dict | None:
    rel, fmt, max_len, ref_hr, ref_ndcg = DATASETS[name]
    path = data_root / rel
    if not path.is_file():
        print(f"skip {name}: {path} not found (the licence forbids shipping it; it lives in ../shared/data)")
        return None
    from srlaw.train.settings import ModelConfig
    from srlaw.train.settings import TrainConfig
    from srlaw.train.trainer import train_run

    ds, _ = build_dataset(read_interactions(path, fmt))
    with tempfile.TemporaryDirectory() as tmp:
        save_dataset(ds, Path(tmp) / "data")
        t0 = time.perf_counter()
        m = train_run(Path(tmp) / "data", Path(tmp) / "run",
                      ModelConfig(n_items=ds.n_items, max_len=max_len, n_layers=2, d_model=64, n_heads=1, dropout=args.dropout,
                                  attention_dropout=True),  # as SASRec+ (the reference) has it
                      TrainConfig(batch_size=128, lr=1e-3, warmup_epochs=0.0, patience=10, max_epochs=args.max_epochs, loss="full",
                                  deterministic=args.deterministic, progress_bar=False, seed=args.seed,
                                  max_minutes=args.max_minutes),
                      meta={"variant": name})
        wall = time.perf_counter() - t0
    return {
        "dataset": name, "file": str(rel), "max_len": max_len,
        "test_hr@10": m["test"]["hr@10"], "test_ndcg@10": m["test"]["ndcg@10"],
        "valid_ndcg@10": m["valid"]["ndcg@10"], "published_hr@10": ref_hr, "published_ndcg@10": ref_ndcg,
        "ratio_hr": m["test"]["hr@10"] / ref_hr, "ratio_ndcg": m["test"]["ndcg@10"] / ref_ndcg,
        "epochs": m["epochs"], "best_epoch": m["best_epoch"], "wall_seconds": wall, "device": m["device"],
        "precision": m["precision"], "metrics": m,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--data-root", type=Path, default=SHARED)
    p.add_argument("--max-epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--max-minutes", type=float, default=None, help="wall-clock cap per dataset")
    p.add_argument("--deterministic", action="store_true", help="bit-reproducible (slower on GPU)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reproduce_sasrec.json")
    args = p.parse_args(argv)
    rows = [r for r in (run_one(n, args.data_root, args) for n in args.datasets) if r]
    print(f"{'dataset':8} {'HR@10':>8} {'pub':>7} {'ratio':>6} {'NDCG@10':>8} {'pub':>7} {'ratio':>6} "
          f"{'epochs':>6} {'best':>5} {'wall s':>7}  device")
    for r in rows:
        print(f"{r['dataset']:8} {r['test_hr@10']:8.4f} {r['published_hr@10']:7.4f} {r['ratio_hr']:6.3f} "
              f"{r['test_ndcg@10']:8.4f} {r['published_ndcg@10']:7.4f} {r['ratio_ndcg']:6.3f} "
              f"{r['epochs']:6d} {r['best_epoch']:5d} {r['wall_seconds']:7.0f}  {r['device']} {r['precision']}")
    write_json_atomic(args.out, {"rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
