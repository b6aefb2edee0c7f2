"""Cost of every data-quality score of the entropy stage on ML-1M (target: all of them in <= 10 s on 2 cores).
Prints a table and writes JSON.  python benchmarks/bench_scores.py [--data ../shared/data/ml-1m/ml-1m.txt]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from srlaw.core.atomic import write_json_atomic
from srlaw.data.dataset import build_dataset
from srlaw.data.quality import (apen_per_sequence, conditional_entropy, lz_entropy_rate, markov_probe,
                           pooled_apen, truncate_to_last)
from srlaw.data.readers import read_interactions


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ml-1m" / "ml-1m.txt")
    p.add_argument("--format", default="sasrec")
    p.add_argument("--window", type=int, default=50, help="score each user's last N items")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_scores.json")
    args = p.parse_args(argv)
    if not args.data.is_file():
        print(f"skip: {args.data} not found (licence-restricted data lives only in ../shared/data)")
        return 0
    ds, _ = build_dataset(read_interactions(args.data, args.format))
    items, offsets = truncate_to_last(ds.items, ds.offsets, args.window)
    steps = [
        ("per-sequence ApEn (m=2, r=0.2)", lambda: apen_per_sequence(items, offsets, 2, 0.2)),
        ("pooled ApEn (m=2)", lambda: pooled_apen(items, offsets, 2)),
        ("H(next|prev) plug-in", lambda: conditional_entropy(items, offsets, 1)),
        ("H(next|prev) Miller-Madow", lambda: conditional_entropy(items, offsets, 1, "miller-madow")),
        ("LZ78 entropy rate", lambda: lz_entropy_rate(items, offsets)),
        ("Markov probe (CE, HR/NDCG@10), full histories", lambda: markov_probe(ds.items, ds.offsets, ds.n_items)),
    ]
    rows = []
    for name, fn in steps:
        t0 = time.perf_counter()
        fn()
        rows.append({"score": name, "seconds": time.perf_counter() - t0})
    total = sum(r["seconds"] for r in rows)
    print(f"{args.data.name}: {ds.n_users} users, {ds.n_items} items, {len(ds.items)} interactions "
          f"(scores on the last {args.window} items; the probe on full histories)")
    print(f"{'score':48} {'seconds':>8}")
    for r in rows:
        print(f"{r['score']:48} {r['seconds']:8.2f}")
    print(f"{'all scores':48} {total:8.2f}")
    write_json_atomic(args.out, {"data": args.data.name, "rows": rows, "total_seconds": total})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
