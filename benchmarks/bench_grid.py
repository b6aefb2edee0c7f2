"""The grid engine's cost: a 6-run grid trained on Ray (srlaw.grid.engine) against the same runs one after another
in one process, side by side on this machine.

- **overhead**: Ray with one CPU (runs one at a time, as in-process) vs in-process: (Ray − in-process) / Ray wall
  time — Ray's start-up, task dispatch and the workers' imports; target ≤ 10 %.
- **parallel**: Ray with every CPU of this machine (one run per CPU) vs in-process: what the engine buys here.
- On a GPU (``--gpus-per-run 0.25``): runs per hour with four runs sharing the GPU vs one run at a time.

Runs on a slice of the embedded ml-latest-small (its first ``--users`` users) under the library recipe, capped at
``--max-epochs``. Prints a table and writes JSON.

    python benchmarks/bench_grid.py [--users 610] [--max-epochs 3] [--gpus-per-run 0.25]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "bench_grid.json"
RATINGS = ROOT / "data" / "ml-latest-small" / "ratings.csv"
GRID = [(n, d) for n in (1, 2) for d in (16, 32, 64)]
TARGET_OVERHEAD = 0.10

from srlaw.core.atomic import write_json_atomic  # noqa: E402
from srlaw.core.ownership import claim  # noqa: E402
from srlaw.data.prepare import prepare_input, user_data  # noqa: E402
from srlaw.grid.engine import Job, Run, run_jobs, train_one  # noqa: E402


def slice_of_data(users: int, work: Path) -> tuple[Path, int]:
    """The first ``users`` users of ml-latest-small, prepared as a user's file is: (data folder, catalogue size)."""
    lines = RATINGS.read_text().splitlines()
    path = work / "ratings.csv"
    path.write_text("\n".join([lines[0]] + [x for x in lines[1:] if int(x.split(",")[0]) <= users]) + "\n")
    with claim(work / "grid", "grid") as held:
        stats = prepare_input(user_data(path, "movielens-csv"), work / "grid" / "data", held)
    return work / "grid" / "data", stats["n_items"]


def in_process(data: Path, n_items: int, out: Path, max_epochs: int) -> float:
    t0 = time.perf_counter()
    for n, d in GRID:
        train_one(data, out / f"L{n}-d{d}-s0", "library", n, d, 0, n_items, max_epochs=max_epochs, threads=1)
    return time.perf_counter() - t0


def on_ray(data: Path, n_items: int, out: Path, max_epochs: int, cpus: int, gpus: float = 0.0) -> float:
    import ray
    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        jobs = [Job(data, out / f"L{n}-d{d}-s0", Run(n, d), n_items, f"L{n}-d{d}") for n, d in GRID]
        _, failed = run_jobs(jobs, "library", None, max_epochs, None, 1.0, gpus, out)
        assert not failed, failed
    finally:
        ray.shutdown()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=610)
    p.add_argument("--max-epochs", type=int, default=3)
    p.add_argument("--gpus-per-run", type=float, default=0.25)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    import torch
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, n_items = slice_of_data(args.users, work)
        rows = {"in_process": in_process(data, n_items, work / "seq", args.max_epochs),
                "ray_1cpu": on_ray(data, n_items, work / "ray1", args.max_epochs, 1),
                f"ray_{cpus}cpu": on_ray(data, n_items, work / "rayn", args.max_epochs, cpus)}
        gpu = None
        if torch.cuda.is_available():
            one = on_ray(data, n_items, work / "gpu1", args.max_epochs, cpus, gpus=1.0)
            shared = on_ray(data, n_items, work / "gpus", args.max_epochs, cpus, gpus=args.gpus_per_run)
            gpu = {"device": torch.cuda.get_device_name(0), "runs_per_hour_one_at_a_time": 3600 * len(GRID) / one,
                   "runs_per_hour_shared": 3600 * len(GRID) / shared, "gpus_per_run": args.gpus_per_run}
        shutil.rmtree(work / "grid", ignore_errors=True)
    overhead = (rows["ray_1cpu"] - rows["in_process"]) / rows["ray_1cpu"]
    doc = {"grid": [f"{n}x{d}" for n, d in GRID], "users": args.users, "max_epochs": args.max_epochs,
           "machine": f"{platform.machine()}, {cpus} CPUs", "seconds": rows, "overhead_share": overhead,
           "overhead_target": TARGET_OVERHEAD, "overhead_met": overhead <= TARGET_OVERHEAD,
           "parallel_speedup": rows["in_process"] / rows[f"ray_{cpus}cpu"], "gpu": gpu}
    print(f"{'how':<14}{'seconds':>10}")
    for name, sec in rows.items():
        print(f"{name:<14}{sec:>10.1f}")
    print(f"Ray overhead (one CPU vs in-process): {100 * overhead:.1f} % of Ray's wall time "
          f"(target <= {100 * TARGET_OVERHEAD:.0f} %: {'met' if doc['overhead_met'] else 'missed'}); "
          f"{cpus} CPUs on Ray: {doc['parallel_speedup']:.2f}x in-process")
    if gpu:
        print(f"GPU {gpu['device']}: {gpu['runs_per_hour_shared']:.0f} runs/h sharing ({args.gpus_per_run} GPU a "
              f"run) vs {gpu['runs_per_hour_one_at_a_time']:.0f} one at a time")
    write_json_atomic(args.out, doc)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
