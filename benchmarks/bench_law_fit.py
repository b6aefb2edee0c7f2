"""Seconds to fit every law form, bootstrap included, on a 50-run table (the extrapolation study's target: ≤ 60 s on 2 cores).

The table: the first 50 finished runs of the law library's store (``reports/library_runs/``, ML-1M's 33 runs, then
ML-100K's), each with its test metrics, test loss and validation curve. Per metric (HR@10, NDCG@10) it fits

- every form of the default pipeline (``law_fit.PerformanceLaw``: multi-start Huber fits and the bootstrap, at
  ``params.yaml``'s ``law`` settings), the data axis being each dataset's Markov probe;
- the shared-shape library law (``law_library.fit_library``, joint fit, prior, noise and the inner
  leave-one-dataset-out misfit) over the table's datasets;
- the two-stage law and the learning-curve law per dataset, 200 bootstrap resamples each.

Prints a table of seconds per family and the total in one process, then the wall time of the same fits spread
over ``--workers`` processes (one job per form and metric: the fits are independent); writes JSON.

    python benchmarks/bench_law_fit.py [--runs 50] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "bench_law_fit.json"
sys.path.insert(0, str(ROOT))  # the run store's reader lives in studies/, a package of the repository

from srlaw.core.atomic import write_json_atomic
from srlaw.pipeline.params import load_params
from srlaw.law.fit import PerformanceLaw
from srlaw.law.learning_curve import LearningCurveLaw
from srlaw.library.shape import fit_library, probe_of
from srlaw.law.two_stage import TwoStageLaw
from srlaw.library.store import METRICS, STORE, load_store


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def job(kind: str, metric: str, table: list[dict], datasets: dict, law_cfg) -> tuple[str, float]:
    """Fit one family on one metric; (family, seconds)."""
    names = sorted({r["variant"] for r in table})
    if kind.startswith("pipeline form "):
        N, d = (np.array([r[k] for r in table], float) for k in ("n_layers", "d_model"))
        D = np.array([datasets[r["variant"]]["scores"][f"markov_{metric}"] for r in table])
        y = np.array([r[metric] for r in table])
        law = PerformanceLaw(kind.removeprefix("pipeline form "), huber_delta=law_cfg.huber_delta,
                             n_starts=law_cfg.n_starts, n_bootstrap=law_cfg.n_bootstrap, seed=0)
        return kind, timed(lambda: law.fit(N, d, D, y))
    if kind == "shared library law":
        probes = {v: probe_of(datasets[v]["scores"], metric) for v in names}
        users = {v: datasets[v]["n_users"] for v in names}
        return kind, timed(lambda: fit_library(table, metric, probes, users))
    total = 0.0
    for v in names:
        mine = [r for r in table if r["variant"] == v]
        P = [r["params_non_embedding"] for r in mine]
        if kind == "two-stage law":
            total += timed(lambda: TwoStageLaw(P, [r["loss"] for r in mine], [r[metric] for r in mine]))
        else:
            total += timed(lambda: LearningCurveLaw(P, [r["curve"][metric] for r in mine]))
    return kind, total


def _job(kind_metric, **kw):
    return job(*kind_metric, **kw)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--store", type=Path, default=STORE)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    records, datasets = load_store(args.store)
    order = ["ml-1m", "ml-100k"] + sorted(set(datasets) - {"ml-1m", "ml-100k"})
    table = sorted(records, key=lambda r: order.index(r["variant"]))[:args.runs]
    if len(table) < args.runs:
        print(f"bench_law_fit: only {len(table)} finished runs in {args.store}", file=sys.stderr)
        return 2
    names = sorted({r["variant"] for r in table})
    law_cfg = load_params(ROOT / "params.yaml").law
    kinds = [f"pipeline form {f}" for f in law_cfg.forms] + ["shared library law", "two-stage law",
                                                              "learning-curve law"]
    jobs = [(k, m) for m in METRICS for k in kinds]
    seconds = {}
    for k, m in jobs:
        seconds[k] = seconds.get(k, 0.0) + job(k, m, table, datasets, law_cfg)[1]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:  # the slowest jobs first, so the pool ends together
        queue = sorted(jobs, key=lambda j: -seconds[j[0]])
        list(pool.map(partial(_job, table=table, datasets=datasets, law_cfg=law_cfg), queue))
    parallel = time.perf_counter() - t0
    total = sum(seconds.values())
    print(f"{len(table)} runs ({', '.join(names)}), metrics {', '.join(METRICS)}; "
          f"pipeline forms with {law_cfg.n_starts} starts and {law_cfg.n_bootstrap} bootstrap refits")
    print(f"{'family':34} {'seconds':>8}")
    for k, v in seconds.items():
        print(f"{k:34} {v:8.2f}")
    print(f"{'total, one process':34} {total:8.2f}")
    print(f"{f'wall, {args.workers} processes':34} {parallel:8.2f}   (target ≤ 60 s on 2 cores)")
    write_json_atomic(args.out, {"runs": len(table), "datasets": names, "seconds": seconds, "total_seconds": total,
                                 "workers": args.workers, "parallel_wall_seconds": parallel,
                                 "n_starts": law_cfg.n_starts, "n_bootstrap": law_cfg.n_bootstrap})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
