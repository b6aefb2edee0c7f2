"""Does RecJPQ on Amazon Beauty lose to the full table because of its codes? An upper-bound experiment.

RecJPQ assigns codes before training from a truncated SVD of the training interactions (one component per split).
This trains the benchmark's jpq setting (``benchmarks/bench_recjpq.py``, same recipe and seed) with codes taken
instead from a **trained full-embedding model's item table**: each split's block of that table cut into
``n_centroids`` clusters by k-means — product quantisation of embeddings the full model learnt. Codes cannot be
more informative than that at this size; if jpq still loses most of its gap to the full table, codes are not why.

    python -m studies.recjpq.codes_from_model --reference benchmarks/runs/recjpq/beauty/full/seed42 \
        --setting jpq-4x4096 --seed 42 --out reports/recjpq_codes_from_model.json

Costs one full training run (about an hour on 2 CPU cores for Beauty). An experiment, not a model option: the codes
depend on a first, full-size model, which is what RecJPQ exists to avoid.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))


def kmeans(points: np.ndarray, k: int, seed: int, iters: int = 25) -> np.ndarray:
    """Lloyd's k-means from ``k`` distinct seeded sample points; an emptied cluster restarts at the point farthest
    from its centroid. Returns each point's cluster."""
    import torch

    x = torch.from_numpy(points)
    rng = np.random.default_rng(seed)
    centroids = x[torch.from_numpy(rng.choice(len(x), k, replace=False))].clone()
    for _ in range(iters):
        dist = torch.cdist(x, centroids)
        labels = dist.argmin(1)
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        centroids = sums / counts.clamp(min=1).unsqueeze(1)
        empty = torch.nonzero(counts == 0).flatten()
        if len(empty):
            far = dist.gather(1, labels[:, None]).flatten().argsort(descending=True)[:len(empty)]
            centroids[empty] = x[far]
    return torch.cdist(x, centroids).argmin(1).numpy()


def model_codes(item_table: np.ndarray, n_splits: int, n_centroids: int, seed: int) -> np.ndarray:
    """Sub-ids ``[n_items + 1, n_splits]``: k-means (seeded) of each split's block of the trained item table
    (rows 1…n; row 0, padding, stays 0)."""
    n_rows, d = item_table.shape
    width = d // n_splits
    codes = np.zeros((n_rows, n_splits), dtype=np.int64)
    for j in range(n_splits):
        block = np.ascontiguousarray(item_table[1:, j * width:(j + 1) * width], dtype=np.float32)
        codes[1:, j] = kmeans(block, min(n_centroids, n_rows - 1), seed + j)
    return codes


def main(argv=None) -> int:
    import bench_recjpq as bench
    import torch

    from srlaw.core.atomic import write_json_atomic

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", type=Path, required=True, help="a finished full-embedding run of the benchmark")
    p.add_argument("--dataset", default="beauty", choices=list(bench.DATASETS))
    p.add_argument("--setting", default="jpq-4x4096")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--runs", type=Path, default=ROOT / "studies" / "recjpq" / "runs" / "codes_from_model")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "recjpq_codes_from_model.json")
    args = p.parse_args(argv)

    state = torch.load(args.reference / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    table = next(v for k, v in state["state_dict"].items() if k.endswith("item_emb.weight")).numpy()
    jpq = bench.SETTINGS[args.setting]["jpq"]
    codes = model_codes(table, jpq["n_splits"], jpq["n_centroids"], args.seed)
    distinct = len({tuple(c) for c in codes[1:]})
    print(f"codes from {args.reference}: {distinct} distinct code tuples for {len(codes) - 1} items", flush=True)
    data_dir = bench.prepared(args.dataset, bench.SHARED)
    if data_dir is None:
        return 0
    # the one change against the benchmark's run: the codes
    with mock.patch("srlaw.train.trainer.assign_codes", lambda *a, **k: codes):
        row = bench.run_one(args.runs, args.dataset, args.setting, args.seed, data_dir)
    reference = json.loads((args.reference / "bench.json").read_text())
    out = {"reference": {k: reference[k] for k in ("dataset", "setting", "seed", "test_ndcg@10", "test_hr@10",
                                                    "params_total", "device")},
           "codes": "k-means of each split's block of the reference's trained item table",
           "distinct_code_tuples": distinct, "run": row,
           "ndcg@10_change": row["test_ndcg@10"] / reference["test_ndcg@10"] - 1,
           "hr@10_change": row["test_hr@10"] / reference["test_hr@10"] - 1}
    write_json_atomic(args.out, out)
    print(json.dumps({k: out[k] for k in ("distinct_code_tuples", "ndcg@10_change", "hr@10_change")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
