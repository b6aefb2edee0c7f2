"""What distillation buys: a teacher at the library's widest stable size, students at ¼ and ⅛ of its non-embedding
parameters trained alone and distilled from it (``srlaw distill``), several seeds, one recipe (the library's).

For each dataset × seed: the teacher (seed s), each student size alone (seed s) and distilled from the seed-s
teacher. Reports test NDCG@10 / HR@10 as seed means with their seed sd and the sampling s.e. of one run's mean
over the test users (an upper bound for NDCG: sqrt(m(1 − m)/n), as every user's NDCG lies in [0, 1]), the share of
the teacher–student gap the distilled student recovers, training seconds and epochs, and batch-1 ONNX Runtime
latency of each size measured side by side in this process. Prints a table, writes JSON and the table of
docs/distill.md between its markers.

    python benchmarks/bench_distill.py [--datasets ml-1m beauty ml-100k] [--seeds 0 1] [--threads 1]

Runs live in ``--runs`` (default ``benchmarks/runs/distill/``, not committed): a finished run is read back, a
killed one resumes — rerun the same command. Data are read from ../shared/data; a missing file is skipped.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RUNS = ROOT / "benchmarks" / "runs" / "distill"
OUT = ROOT / "benchmarks" / "results" / "bench_distill.json"
PAGE = ROOT / "docs" / "distill.md"
BEGIN, END = "<!-- bench_distill: begin (written by benchmarks/bench_distill.py) -->", "<!-- bench_distill: end -->"

# name: its entry of srlaw.library.catalogue (the record's key); ML-1M and Beauty are the targets' datasets (ML-1M a
# GPU's work: about an hour a teacher on one CPU thread; Beauty a seed in about 100 minutes of one thread), ML-100K
# what one CPU measures in minutes
DATASETS = {"ml-1m": "ml-1m", "beauty": "beauty-s3rec", "ml-100k": "ml-100k"}
TEACHER = (4, 128)  # the library's widest size that trains stably on every dataset (4 × 256 collapses)
# ... most of the time: 4 of the library's 9 ML-1M seeds at 4 × 128 stopped by epoch 9 far below the others. A
# collapsed teacher (under the library's collapse ratio of its best student trained alone, on validation) has nothing
# to teach, so it is trained again; one merely level with its students (Beauty: 4 × 128 ≈ 4 × 64) is the measurement
TEACHER_TRIES = 3
STUDENTS = ((4, 64), (2, 64))  # ¼ and ⅛ of the teacher's non-embedding parameters
METRICS = ("ndcg@10", "hr@10")


def _data(name: str):
    from srlaw.data.prepare import user_data
    from srlaw.library.catalogue import CATALOGUE
    entry = CATALOGUE[DATASETS[name]]
    path = SHARED / entry.file
    if not path.is_file():
        return None
    return user_data(path, entry.format, kcore=entry.kcore)


def _train(data, n_layers: int, d_model: int, out: Path, seed: int) -> dict:
    from srlaw.library.calibrate import run_file
    return run_file(data.source, data.format, n_layers, d_model, out, kcore=data.kcore, seed=seed)


def _distill(teacher: Path, n_layers: int, d_model: int, out: Path, seed: int) -> dict:
    from srlaw.pipeline.distill import distill_run
    from srlaw.train.distill import DistillConfig
    return distill_run(teacher, n_layers, d_model, out, DistillConfig(), seed=seed)


def _row(m: dict, arm: str, size, seed: int) -> dict:
    return {"arm": arm, "n_layers": size[0], "d_model": size[1], "seed": seed,
            "params_non_embedding": m["params_non_embedding"], "epochs": m["epochs"],
            "train_seconds": m["train_seconds"], "device": m["device"], **{k: m["test"][k] for k in METRICS}}


def _teacher_dir(runs: Path, seed: int) -> Path:
    return runs / f"teacher-L{TEACHER[0]}-d{TEACHER[1]}-s{seed}"


def _teacher(data, runs: Path, seed: int, student: float) -> tuple[Path, dict, list[int]]:
    """The first teacher, at ``seed``, ``seed`` + 1000, …, that did not collapse: validation NDCG@10 at least the
    library's collapse ratio of ``student`` (the best student trained alone at ``seed``). Its folder, its metrics and
    the seeds tried before it."""
    from srlaw.library.shape import COLLAPSE_RATIO
    floor = COLLAPSE_RATIO * student
    failed = []
    for k in range(TEACHER_TRIES):
        t_dir = _teacher_dir(runs, seed + 1000 * k)
        m = _train(data, *TEACHER, t_dir, seed + 1000 * k)
        if m["valid"]["ndcg@10"] >= floor:
            return t_dir, m, failed
        print(f"{runs.name}: the {TEACHER[0]} × {TEACHER[1]} teacher at seed {m['seed']} collapsed (valid ndcg@10 "
              f"{m['valid']['ndcg@10']:.4f}, its student alone {student:.4f}): trained again")
        failed.append(m["seed"])
    raise SystemExit(f"{runs.name}: the {TEACHER[0]} × {TEACHER[1]} teacher collapsed at seeds {failed}")


def run_dataset(name: str, seeds, runs: Path) -> list[dict] | None:
    data = _data(name)
    if data is None:
        print(f"skip {name}: {SHARED / DATASETS[name]} not present (licence-restricted data live in ../shared/data)")
        return None
    rows = []
    for seed in seeds:
        alone = {(n, d): _train(data, n, d, runs / name / f"alone-L{n}-d{d}-s{seed}", seed) for n, d in STUDENTS}
        t_dir, teacher, failed = _teacher(data, runs / name, seed, max(m["valid"]["ndcg@10"] for m in alone.values()))
        rows.append({**_row(teacher, "teacher", TEACHER, teacher["seed"]), "failed_teacher_seeds": failed})
        for n, d in STUDENTS:
            rows.append(_row(alone[(n, d)], "alone", (n, d), seed))
            rows.append(_row(_distill(t_dir, n, d, runs / name / f"distilled-L{n}-d{d}-s{seed}", seed), "distilled",
                             (n, d), seed))
    stats = json.loads((_teacher_dir(runs / name, seeds[0]) / "work" / "data" / "stats.json").read_text())
    for r in rows:
        r["n_users"] = stats["n_users"]
    return rows


def _beyond_2sd(diff: float, a: dict, b: dict, m: str) -> bool:
    """Whether ``diff`` between two arms' seed means exceeds twice the larger of their seed sds (False where
    neither has two seeds)."""
    sds = [x[f"{m}_seed_sd"] for x in (a, b) if x[f"{m}_seed_sd"] is not None]
    return bool(sds) and diff > 2 * max(sds)


def summarise(rows: list[dict]) -> list[dict]:
    """Per arm and size: seed means, seed sd, sampling s.e.; per student size, its lift over the same size alone and
    the share of the teacher's gap it recovers (where that gap is beyond two seed sds)."""
    out = []
    arms = sorted({(r["arm"], r["n_layers"], r["d_model"]) for r in rows}, key=lambda k: (-k[1] * k[2] ** 2, k[0]))
    for arm, n, d in arms:
        rs = [r for r in rows if (r["arm"], r["n_layers"], r["d_model"]) == (arm, n, d)]
        s = {"arm": arm, "n_layers": n, "d_model": d, "seeds": len(rs),
             "params_non_embedding": rs[0]["params_non_embedding"],
             "train_seconds": float(np.mean([r["train_seconds"] for r in rs])),
             "epochs": float(np.mean([r["epochs"] for r in rs]))}
        for m in METRICS:
            v = np.array([r[m] for r in rs])
            s[m] = float(v.mean())
            s[f"{m}_seed_sd"] = float(v.std(ddof=1)) if len(v) > 1 else None
            s[f"{m}_sampling_se"] = math.sqrt(s[m] * (1 - s[m]) / rs[0]["n_users"])
        out.append(s)
    teacher = next(s for s in out if s["arm"] == "teacher")
    for s in out:
        if s["arm"] != "distilled":
            continue
        alone = next(a for a in out
                     if (a["arm"], a["n_layers"], a["d_model"]) == ("alone", s["n_layers"], s["d_model"]))
        s["share_of_teacher_params"] = s["params_non_embedding"] / teacher["params_non_embedding"]
        for m in METRICS:
            gap = teacher[m] - alone[m]
            lift = s[m] - alone[m]
            s[f"{m}_lift"] = lift
            s[f"{m}_lift_over_2sd"] = _beyond_2sd(lift, s, alone, m)
            # a share of a gap within the seeds' noise is noise over noise: none is stated
            s[f"{m}_gap_over_2sd"] = _beyond_2sd(gap, teacher, alone, m)
            s[f"{m}_gap_recovered"] = lift / gap if s[f"{m}_gap_over_2sd"] else None
    return out


def latency(cfg_of, sizes, repeats: int) -> dict:
    """Batch-1 ONNX Runtime latency (ms, median) of each size, measured in alternation in this process."""
    from srlaw.train.onnx_export import latency_table
    rows = latency_table(sizes, cfg_of, batch=1, repeats=repeats)
    return {f"{r['n_layers']}x{r['d_model']}": r["latency_ms"] for r in rows}


def table(doc: dict) -> str:
    lines = []
    for name, ds in sorted(doc["datasets"].items()):  # the order of the JSON, which is written with sorted keys
        threads = ds.get("threads", doc["threads"])
        lines += [f"**{name}** ({ds['n_users']:,} test users; {threads} CPU thread(s); latency: ONNX Runtime, batch 1)",
                  "",
                  "| model | non-emb. params | seeds | test NDCG@10 (seed sd; s.e.) | test HR@10 | gap recovered "
                  "(NDCG / HR) | train s | epochs | latency ms |", "|---|---|---|---|---|---|---|---|---|"]
        for s in ds["summary"]:
            size = f"{s['n_layers']}x{s['d_model']}"
            sd = f"{s['ndcg@10_seed_sd']:.4f}" if s["ndcg@10_seed_sd"] is not None else "–"
            rec = "" if s["arm"] != "distilled" else " / ".join(
                "–" if s[f"{m}_gap_recovered"] is None else f"{100 * s[f'{m}_gap_recovered']:.0f} %" for m in METRICS)
            lines.append(f"| {s['arm']} {s['n_layers']} × {s['d_model']} | {s['params_non_embedding']:,} | {s['seeds']} "
                         f"| {s['ndcg@10']:.4f} ({sd}; {s['ndcg@10_sampling_se']:.4f}) | {s['hr@10']:.4f} | {rec} "
                         f"| {s['train_seconds']:.0f} | {s['epochs']:.0f} "
                         f"| {ds['latency_ms'][size]:.3f} |")
        lines.append("")
    return "\n".join(lines)


def write_page(doc: dict, page: Path = PAGE) -> None:
    from srlaw.core.pages import with_block
    page.write_text(with_block(page.read_text(), BEGIN, END, table(doc), page))


def kept(out: Path, doc: dict) -> dict:
    """The datasets an earlier record at ``out`` measured with the same teacher, students and recipe that this run
    did not measure again: a run on one dataset adds to the record, never drops the others."""
    if not out.is_file():
        return {}
    before = json.loads(out.read_text())
    if any(before.get(k) != doc[k] for k in ("teacher", "students", "recipe", "distill")):
        return {}
    return {k: {"threads": before["threads"], **v, "summary": summarise(v["runs"])}  # summarised as this run's are
            for k, v in before["datasets"].items() if k not in doc["datasets"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (recorded)")
    p.add_argument("--runs", type=Path, default=RUNS)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--latency-repeats", type=int, default=200)
    p.add_argument("--page-only", action="store_true", help="rewrite docs/distill.md from --out; train nothing")
    args = p.parse_args(argv)
    if args.page_only:
        write_page(json.loads(args.out.read_text()))
        return 0
    import torch
    torch.set_num_threads(args.threads)
    from srlaw.train.onnx_export import load_checkpoint_model
    doc = {"teacher": list(TEACHER), "students": [list(s) for s in STUDENTS], "seeds": args.seeds,
           "threads": args.threads, "recipe": "library", "distill": {"alpha": 0.5, "temperature": 1.0, "beta": 1.0},
           "datasets": {}}
    t0 = time.perf_counter()
    for name in args.datasets:
        rows = run_dataset(name, args.seeds, args.runs)
        if rows is None:
            continue
        shape = load_checkpoint_model(_teacher_dir(args.runs / name, args.seeds[0]) / "checkpoints" / "best.ckpt").cfg
        # keyed by the library's name for the dataset: the release carries the record into that dataset's law
        doc["datasets"][DATASETS[name]] = {
            "n_users": rows[0]["n_users"], "threads": args.threads, "runs": rows, "summary": summarise(rows),
            "latency_ms": latency(shape, [TEACHER, *STUDENTS], args.latency_repeats)}
    doc["seconds"] = time.perf_counter() - t0
    if not doc["datasets"]:
        print("no dataset present; nothing measured")
        return 0
    doc["datasets"] = {**kept(args.out, doc), **doc["datasets"]}
    from srlaw.core.atomic import write_json_atomic
    write_json_atomic(args.out, doc)
    print(table(doc))
    if args.out == OUT:
        write_page(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
