"""Training-step throughput: srlaw's step (logits only at non-padding positions) vs a naive step that computes
full logits at every position, side by side in one process, three model sizes. Prints a table, writes JSON.

    python benchmarks/bench_train.py [--data data/prepared/full] [--steps 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
from srlaw.core.atomic import write_json_atomic
from srlaw.train.models import ModelConfig, SequentialRecommender
from srlaw.train.losses import sequence_loss
from srlaw.train.trainer import SequenceDataModule


def naive_loss(model, inputs, targets):
    """Full logits at every position, padding included, then a masked mean: what the output layer costs naively."""
    logits = model(inputs) @ model.item_emb.weight.T
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)


def seqs_per_second(model, batches, loss_fn, steps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n, t = 0, 0.0
    for i, (x, y) in enumerate(batches[: steps + 2]):
        t0 = time.perf_counter()
        loss = loss_fn(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:  # warm-up steps are not timed
            t += time.perf_counter() - t0
            n += len(x)
    return n / t


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT / "data" / "prepared" / "full")
    p.add_argument("--raw", type=Path, help="a raw interaction file instead of --data (e.g. ../shared/data/...)")
    p.add_argument("--format", default="sasrec")
    p.add_argument("--max-len", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_train.json")
    args = p.parse_args(argv)
    if args.raw is not None:
        if not args.raw.is_file():
            print(f"skip: {args.raw} not found (licence-restricted data lives only in ../shared/data)")
            return 0
        import tempfile
        from srlaw.data.dataset import build_dataset, save_dataset
        from srlaw.data.readers import read_interactions
        args.data = Path(tempfile.mkdtemp()) / "data"
        save_dataset(build_dataset(read_interactions(args.raw, args.format))[0], args.data)
    if not (args.data / "items.npy").is_file():
        print(f"skip: {args.data} is not a prepared dataset (run `make repro` first)")
        return 0
    dm = SequenceDataModule(args.data, args.max_len, args.batch_size, 512, seed=0)
    batches = list(dm.train_dataloader())
    while len(batches) < args.steps + 2:
        batches += batches
    rows = []
    for n_layers, d_model in ((1, 32), (2, 64), (4, 128)):
        torch.manual_seed(0)
        cfg = ModelConfig(n_items=dm.n_items, max_len=args.max_len, n_layers=n_layers, d_model=d_model, dropout=0.1)
        ours = seqs_per_second(SequentialRecommender(cfg), batches, lambda m, x, y: sequence_loss(m, x, y), args.steps)
        torch.manual_seed(0)
        naive = seqs_per_second(SequentialRecommender(cfg), batches, naive_loss, args.steps)
        rows.append({"n_layers": n_layers, "d_model": d_model, "ours_seq_per_s": ours, "naive_seq_per_s": naive,
                     "speedup": ours / naive})
    print(f"data {args.raw or args.data} ({dm.n_items} items, max_len {args.max_len}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads)")
    print(f"{'layers':>6} {'d_model':>7} {'srlaw seq/s':>12} {'naive seq/s':>12} {'speed-up':>9}")
    for r in rows:
        print(f"{r['n_layers']:>6} {r['d_model']:>7} {r['ours_seq_per_s']:>12.0f} {r['naive_seq_per_s']:>12.0f} "
              f"{r['speedup']:>8.2f}x")
    write_json_atomic(args.out, {"rows": rows, "max_len": args.max_len, "batch_size": args.batch_size,
                                 "n_items": dm.n_items, "data": str(args.raw or args.data), "threads": torch.get_num_threads()})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
