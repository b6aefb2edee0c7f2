"""`srlaw calibrate` on a Beauty-size file on this machine: wall time and peak memory (the calibration target: `--runs 3`
within 15 minutes on 2 CPU cores), and how close the law it writes comes to the run store's truth.

A fair check needs a library that has never seen the file: the library is released into a temporary folder with
every cut of the dataset's raw data left out (``srlaw.library.grid.same_source``: for Amazon Beauty (S3Rec) also
both Beauty (BERT4Rec) cuts), then `srlaw calibrate` runs on the raw file exactly as a user runs it, and once more
with ``--runs 0`` (zero-shot, seconds). Both laws are scored on the store's configurations of that dataset larger
than the largest calibration run (truth: the seed mean of its runs, collapsed runs left out; the store's runs were
trained on H100s under the same recipe): MAPE and the 95 % intervals' coverage of seed means and of single runs.

Prints a table and writes JSON. Needs ../shared/data (licence-restricted data are never committed).

    python benchmarks/bench_calibrate.py [--dataset beauty-s3rec] [--runs 3] [--max-minutes 14]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "bench_calibrate.json"
sys.path.insert(0, str(ROOT))  # the run store's reader and the library's release live in studies/

from srlaw.core.atomic import write_json_atomic
from srlaw.predictor import Law
from srlaw.library.catalogue import CATALOGUE
from srlaw.library.grid import same_source
from srlaw.library.store import METRICS, load_store
from srlaw.library.validate import scored

TARGET_MINUTES = 15.0


def _env() -> dict:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


# runs a command and writes the largest resident set of its process tree (Linux: KiB) to argv[1]
_PEAK = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[2:]).returncode; "
         "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(rc)")


def timed_run(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` (its output to this terminal): its wall seconds and peak memory (MiB). A failure ends the
    benchmark."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _PEAK, peak.name, *cmd], cwd=ROOT, env=_env(), check=True)
        seconds = time.perf_counter() - t0
        return seconds, int(Path(peak.name).read_text()) / 1024


def score(law: Law, runs: list[dict]) -> dict:
    """The law's errors on ``runs`` (one dataset's store runs) larger than its largest calibration run, scored as
    the calibration study scores (``validate.scored``)."""
    p_cal = max((r["params_non_embedding"] for r in law.doc["runs"]), default=0)
    out = {}
    for m in METRICS:
        truth, cfg, y, pred, scores = scored(law, runs, m, p_cal)
        out[m] = {**scores, "points": [{"n_layers": c[0], "d_model": c[1], "observed": float(t), "predicted": float(p),
                                        "lower": float(lo), "upper": float(hi), "n_seeds": len(truth[c])}
                                       for c, t, p, lo, hi in zip(cfg, y, pred.value, pred.lower, pred.upper)]}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="beauty-s3rec", help="a whole-file library dataset (default beauty-s3rec)")
    p.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--max-minutes", type=float, default=14.0)
    p.add_argument("--work", type=Path, help="keep the library and laws here (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.dataset not in CATALOGUE or CATALOGUE[args.dataset].cut:
        print(f"bench_calibrate: --dataset {args.dataset!r} is not a whole raw file of the catalogue "
              f"({', '.join(k for k, v in CATALOGUE.items() if not v.cut)})", file=sys.stderr)
        return 2
    entry = CATALOGUE[args.dataset]
    rel, fmt, kcore = entry.file, entry.format, entry.kcore
    raw = args.data_root / entry.file
    if not raw.is_file():
        print(f"bench_calibrate: {raw} not found (licence-restricted data live only in ../shared/data)",
              file=sys.stderr)
        return 2
    records, datasets = load_store()
    left_out = sorted(same_source(args.dataset) & set(datasets))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        laws = work / "laws"
        timed_run([sys.executable, "-m", "srlaw.library.release", "--laws", str(laws), "--exclude", *left_out])
        base = ["srlaw", "calibrate", "--input", str(raw), "--format", fmt, "--kcore", str(kcore),
                "--library", str(laws / "index.json")]
        seconds, peak_mib = timed_run([*base, "--runs", str(args.runs), "--max-minutes", str(args.max_minutes),
                             "--out", str(work / "calibrated")])
        zero_seconds, _ = timed_run([*base, "--runs", "0", "--out", str(work / "zero_shot")])
        mine = [r for r in records if r["variant"] == args.dataset]
        law = Law.load(work / "calibrated")  # its manifest verified
        calibrated, zero_shot = score(law, mine), score(Law.load(work / "zero_shot"), mine)
        cal_runs = [{k: r.get(k) for k in ("n_layers", "d_model", "seed", "epochs", "stopped_by", "ndcg@10")}
                    for r in law.doc["runs"]]
        failed = law.doc["calibration"].get("failed_runs", [])
    doc = {"dataset": args.dataset, "input": rel, "format": fmt, "library_left_out": left_out,
           "runs": args.runs, "max_minutes": args.max_minutes, "wall_seconds": seconds,
           "peak_rss_mib": peak_mib, "zero_shot_wall_seconds": zero_seconds,
           "target_minutes": TARGET_MINUTES, "within_target": seconds <= 60 * TARGET_MINUTES,
           "calibration_runs": cal_runs, "failed_runs": len(failed),
           "calibrated": calibrated, "zero_shot": zero_shot,
           "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                       "python": platform.python_version()}}
    print(f"\n{args.dataset} ({rel}), library without {', '.join(left_out)}; {os.cpu_count()} CPUs")
    print(f"{'':28} {'wall, s':>9} {'NDCG@10 MAPE (max)':>20} {'HR@10 MAPE (max)':>18} {'coverage NDCG/HR':>18}")
    for name, secs, res in ((f"calibrate --runs {args.runs}", seconds, calibrated),
                            ("calibrate --runs 0", zero_seconds, zero_shot)):
        n, h = res["ndcg@10"], res["hr@10"]
        print(f"{name:28} {secs:9.0f} {100 * n['mape']:8.1f} % ({100 * n['max_ape']:4.1f} %) "
              f"{100 * h['mape']:7.1f} % ({100 * h['max_ape']:4.1f} %) "
              f"{100 * n['coverage_runs']:7.1f} / {100 * h['coverage_runs']:.1f} %")
    sizes = ", ".join(f"{r['n_layers']}x{r['d_model']} ({r['epochs']} epochs, {r['stopped_by']})" for r in cal_runs)
    print(f"calibration runs: {sizes}; peak memory {peak_mib:.0f} MiB; target ≤ {TARGET_MINUTES:.0f} min: "
          f"{'met' if doc['within_target'] else 'missed'}")
    write_json_atomic(args.out, doc)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
