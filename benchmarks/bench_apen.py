"""ApEn speed on ML-1M (6,040 users × last 200 items, m = 2, r = 0.2): srlaw vs the naive formula vs antropy.

The naive per-sequence implementation (the published algorithm, O(L²·m) in pure Python) is timed on a user
subsample and extrapolated linearly in users; antropy and srlaw run on every user. All three are checked to agree.
Prints a table and writes JSON.  python benchmarks/bench_apen.py [--naive-users 200]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from srlaw.core.atomic import write_json_atomic
from srlaw.data.dataset import build_dataset
from srlaw.data.quality import apen_per_sequence, approximate_entropy_naive, truncate_to_last
from srlaw.data.readers import read_interactions

DATA = ROOT.parent / "shared" / "data" / "ml-1m" / "ml-1m.txt"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--naive-users", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_apen.json")
    args = p.parse_args(argv)
    if not args.data.is_file():
        print(f"skip: {args.data} not found (ML-1M may not be redistributed; it lives in ../shared/data)")
        return 0
    ds, _ = build_dataset(read_interactions(args.data, "sasrec"))
    items, offsets = truncate_to_last(ds.items, ds.offsets, 200)
    items = np.ascontiguousarray(items, dtype=np.int64)
    n_users = len(offsets) - 1

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = apen_per_sequence(items, offsets, m=2, r=0.2)
        times.append(time.perf_counter() - t0)
    t_ours = float(np.median(times))
    tracemalloc.start()
    apen_per_sequence(items, offsets, m=2, r=0.2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    data_bytes = items.nbytes + offsets.nbytes

    sub = np.random.default_rng(0).choice(n_users, args.naive_users, replace=False)
    t0 = time.perf_counter()
    naive = [approximate_entropy_naive(items[offsets[u]:offsets[u + 1]], m=2, r=0.2) for u in sub]
    t_naive = (time.perf_counter() - t0) * n_users / len(sub)
    assert np.allclose(naive, ours[sub], atol=1e-12), "srlaw and the naive formula disagree"

    row_ant = None
    try:
        import antropy
        t0 = time.perf_counter()
        ant = np.array([antropy.app_entropy(items[offsets[u]:offsets[u + 1]].astype(float), order=2, tolerance=0.2,
                                            metric="chebyshev") for u in range(n_users)])
        t_ant = time.perf_counter() - t0
        assert np.allclose(np.abs(ant), ours, atol=1e-12), "srlaw and antropy disagree"
        row_ant = t_ant
    except ImportError:
        print("antropy not installed (dev extra): its column is left out")

    print(f"ApEn on {args.data.name}: {n_users} users x last 200 items, m=2, r=0.2; mean ApEn {ours.mean():.6f}")
    print(f"{'implementation':28} {'seconds':>10} {'srlaw speed-up':>15}")
    print(f"{'naive (published algorithm)':28} {t_naive:10.2f} {t_naive / t_ours:14.0f}x   (extrapolated from {len(sub)} users)")
    if row_ant is not None:
        print(f"{'antropy':28} {row_ant:10.2f} {row_ant / t_ours:14.1f}x")
    print(f"{'srlaw (exact m-gram sort)':28} {t_ours:10.3f} {1:14.0f}x")
    print(f"peak memory of srlaw's pass: {peak / 1e6:.1f} MB = {peak / data_bytes:.2f}x the canonical data "
          f"({data_bytes / 1e6:.1f} MB)")
    write_json_atomic(args.out, {"n_users": n_users, "max_len": 200, "m": 2, "r": 0.2, "seconds_srlaw": t_ours,
                                 "seconds_naive_extrapolated": t_naive, "naive_users_timed": len(sub),
                                 "seconds_antropy": row_ant, "speedup_vs_naive": t_naive / t_ours,
                                 "speedup_vs_antropy": None if row_ant is None else row_ant / t_ours,
                                 "peak_bytes": peak, "data_bytes": data_bytes, "peak_over_data": peak / data_bytes,
                                 "values_agree_to": 1e-12})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
