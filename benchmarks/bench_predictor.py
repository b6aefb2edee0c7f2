"""Predictor cost: `import srlaw.predictor` in fresh interpreters (total and on top of numpy) and `advise` over
10,000 candidates. Prints a table, writes JSON.  python benchmarks/bench_predictor.py [--law artifacts/law]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from srlaw.core.atomic import write_json_atomic

PROBE = ("import time; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter(); import srlaw.predictor; "
         "t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--law", type=Path, default=ROOT / "artifacts" / "law")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_predictor.json")
    args = p.parse_args(argv)
    env_path = str(ROOT / "src")
    numpy_s, pred_s = [], []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}).stdout.split()
        numpy_s.append(float(out[0]))
        pred_s.append(float(out[1]))
    from srlaw.predictor import Law
    law = Law.load(args.law)
    rng = np.random.default_rng(0)
    dom = law.doc["domain"]
    cand = np.stack([rng.integers(int(dom["n_layers"][0]), int(dom["n_layers"][1]) + 1, 10_000),
                     rng.integers(int(dom["d_model"][0]), int(dom["d_model"][1]) + 1, 10_000)], axis=1)
    variant = sorted(law.doc["variants"])[0]
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        law.advise(objective="max", budget={"params": 5e6, "latency_ms": 2.0}, candidates=cand, variant=variant)
        times.append(time.perf_counter() - t0)
    res = {"import_numpy_ms": 1e3 * statistics.median(numpy_s),
           "import_predictor_over_numpy_ms": 1e3 * statistics.median(pred_s),
           "import_total_ms": 1e3 * statistics.median([a + b for a, b in zip(numpy_s, pred_s)]),
           "advise_10k_ms": 1e3 * statistics.median(times), "runs": args.runs}
    print(f"{'measure':40} {'ms (median)':>12}")
    for k, label in (("import_numpy_ms", "import numpy (fresh interpreter)"),
                     ("import_predictor_over_numpy_ms", "import srlaw.predictor on top of numpy"),
                     ("import_total_ms", "both together"), ("advise_10k_ms", "advise over 10,000 candidates")):
        print(f"{label:40} {res[k]:>12.1f}")
    write_json_atomic(args.out, res)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
