"""The data path at user scale: `srlaw describe` (read, prepare, every score) on synthetic logs of 10^6 to 10^8
interactions, and training throughput per catalogue size (plain and fused full-catalogue loss). Prints tables and writes JSON.

Targets (2 cores, 24 GiB): 10^8 interactions described in <= 10 minutes and <= 12 GiB peak; 10^7 in <= 1 minute;
seconds per interaction from the smallest size to the largest within 1.5x.

    python benchmarks/bench_scale.py [--sizes 1e6 1e7 1e8] [--catalogues 1e4 1e5 1e6] [--work DIR] [--out FILE]

Each log is a SASRec file (``user item`` lines, chronological per user), deterministic for its size: users of 5 to
95 interactions, items Zipf(1.1) over a catalogue of size/100, and half of all steps Markov-ish (the next item a
fixed function of the previous one), so the scores have structure to find. Each `describe` runs in a fresh process;
its peak memory is that process's maximum resident set (getrusage).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from srlaw.core.atomic import write_json_atomic  # noqa: E402
from srlaw.core.pages import with_block  # noqa: E402

TARGETS = {"max_minutes_1e8": 10.0, "max_gib_1e8": 12.0, "max_minutes_1e7": 1.0, "max_growth": 1.5}
LINES_PER_WRITE = 1 << 22
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "bench_scale.json"


def ascii_lines(users: np.ndarray, items: np.ndarray) -> bytes:
    """``f"{u} {i}\\n"`` for every pair, formatted by numpy (non-negative ints)."""
    cols = [np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)]
    widths = [np.maximum(1, np.floor(np.log10(np.maximum(c, 1))).astype(np.int64) + 1) for c in cols]
    line_len = widths[0] + widths[1] + 2
    ends = np.cumsum(line_len)
    buf = np.empty(int(ends[-1]), dtype=np.uint8)
    starts = ends - line_len
    for col, width, offset in ((cols[0], widths[0], starts), (cols[1], widths[1], starts + widths[0] + 1)):
        value = col.copy()
        for k in range(int(width.max())):
            inside = k < width
            pos = offset + width - 1 - k
            buf[pos[inside]] = 48 + (value[inside] % 10)
            value //= 10
    buf[starts + widths[0]] = 32
    buf[ends - 1] = 10
    return buf.tobytes()


def synthetic_log(path: Path, n: int, seed: int = 0) -> dict:
    """Write a deterministic log of about ``n`` interactions (kept logs are reused); returns its shape."""
    shape_file = path.with_suffix(".json")
    if path.is_file() and shape_file.is_file():
        shape = json.loads(shape_file.read_text())
        if shape.get("bytes") == path.stat().st_size and shape.get("seed") == seed:
            return {k: v for k, v in shape.items() if k != "seed"}
    rng = np.random.default_rng([seed, n])
    n_items = max(1000, n // 100)
    lengths = rng.integers(5, 96, size=n // 50 + 1)
    lengths = lengths[:np.searchsorted(np.cumsum(lengths), n) + 1]
    n_users, total = len(lengths), int(lengths.sum())
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        user_start = np.concatenate([[0], np.cumsum(lengths)])
        for lo in range(0, total, LINES_PER_WRITE):
            hi = min(total, lo + LINES_PER_WRITE)
            user = np.searchsorted(user_start, np.arange(lo, hi), side="right") - 1
            zipf = rng.zipf(1.1, size=hi - lo)
            anchor_item = (zipf - 1) % n_items + 1
            follow = rng.random(hi - lo) < 0.5
            follow[np.flatnonzero(np.diff(user, prepend=-1))] = False  # a user starts from a fresh draw
            anchor = np.maximum.accumulate(np.where(follow, 0, np.arange(hi - lo)))
            steps = np.arange(hi - lo) - anchor
            item = (anchor_item[anchor] + 7919 * steps - 1) % n_items + 1
            f.write(ascii_lines(user, item))
    os.replace(tmp, path)
    shape = {"interactions": total, "users": n_users, "catalogue": n_items, "bytes": path.stat().st_size}
    shape_file.write_text(json.dumps({**shape, "seed": seed}))
    return shape


def run_describe(path: Path) -> dict:
    """`srlaw describe --json` on ``path`` in a fresh process: wall seconds, peak resident memory, its counts."""
    code = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
            "p = subprocess.run([sys.executable, '-m', 'srlaw.cli', 'describe', '--input', sys.argv[1], '--format', "
            "'sasrec', '--json'], capture_output=True, text=True); s = time.perf_counter() - t; "
            "print(json.dumps({'rc': p.returncode, 'seconds': s, 'peak_kib': "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'out': p.stdout, 'err': p.stderr[-2000:]}))")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT, check=True)
    res = json.loads(proc.stdout)
    if res["rc"] != 0:
        raise SystemExit(f"describe failed on {path}: {res['err']}")
    doc = json.loads(res["out"])
    return {"seconds": res["seconds"], "peak_gib": res["peak_kib"] / 2**20, "n_users": doc["n_users"],
            "n_items": doc["n_items"], "n_interactions": doc["n_interactions"],
            "score_seconds": doc["scores"]["seconds"], "markov_ndcg@10": doc["scores"]["markov_ndcg@10"]}


TRAIN_MEMORY_CAP = 16 << 30  # address space of a training child: a loss too large fails cleanly, not by the OOM killer


def training_throughput(n_items: int, steps: int = 3, batch: int = 128, max_len: int = 50, fused: bool = True) -> dict:
    """Steps of a 2 x 64 SASRec with the full-catalogue loss: examples per second and peak memory, in this process."""
    import torch

    from srlaw.train.losses import sequence_loss
    from srlaw.train.models import SequentialRecommender
    from srlaw.train.settings import ModelConfig
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model = SequentialRecommender(ModelConfig(n_items=n_items, n_layers=2, d_model=64, max_len=max_len))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randint(1, n_items + 1, (batch, max_len), generator=gen)
    targets = torch.randint(1, n_items + 1, (batch, max_len), generator=gen)
    times = []
    for _ in range(steps + 1):  # the first step warms up
        t0 = time.perf_counter()
        opt.zero_grad()
        sequence_loss(model, inputs, targets, "full", fused=fused).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    step = float(np.median(times[1:]))
    return {"n_items": n_items, "fused": fused, "step_seconds": step, "examples_per_second": batch / step,
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_training(n_items: int, fused: bool) -> dict:
    code = (f"import json, resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({TRAIN_MEMORY_CAP}, "
            f"{TRAIN_MEMORY_CAP})); sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_scale as b; "
            f"print(json.dumps(b.training_throughput({n_items}, fused={fused})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["killed"])[-1]
        return {"n_items": n_items, "fused": fused, "failed": [last[:160]]}
    return json.loads(proc.stdout)


def growth(rows: list[dict]) -> dict:
    """Seconds per interaction, largest size over smallest, and the log-log slope of time on size."""
    if len(rows) < 2:
        return {"ratio": None, "exponent": None}
    a, b = rows[0], rows[-1]
    per = [r["seconds"] / r["n_interactions"] for r in (a, b)]
    x = np.log([r["n_interactions"] for r in rows])
    y = np.log([r["seconds"] for r in rows])
    return {"ratio": per[1] / per[0], "exponent": float(np.polyfit(x, y, 1)[0])}


PAGE = ROOT / "docs" / "scale.md"
BEGIN, END = "<!-- bench_scale: begin (python benchmarks/bench_scale.py writes this) -->", "<!-- bench_scale: end -->"


def page_block(doc: dict) -> str:
    """The measured tables of docs/scale.md, from the benchmark's JSON."""
    t = doc["targets"]
    lines = [f"Measured on {doc['cpus']} CPU cores ({doc['machine']}); each `srlaw describe` in a fresh process"
                    + (f"; {doc['conditions']}." if doc.get("conditions") else "."),
             "", "| interactions | users | items | file | `srlaw describe` | µs per interaction | peak memory |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["describe"]:
        lines.append(f"| {r['n_interactions']:,} | {r['n_users']:,} | {r['n_items']:,} | {r['bytes'] / 1e6:,.0f} MB | "
                     f"{r['seconds']:,.1f} s | {r['us_per_interaction']:.2f} | {r['peak_gib']:.2f} GiB |")
    g = doc["growth"]
    if g["ratio"] is not None:
        verdict = "met" if g["ratio"] <= t["max_growth"] else "**missed**"
        a, b = doc["describe"][0], doc["describe"][-1]
        scores = (b["score_seconds"]["total"] / b["n_interactions"]) / (a["score_seconds"]["total"] / a["n_interactions"])
        lines += ["", f"Seconds per interaction, largest size over smallest: {g['ratio']:.2f}× (target ≤ "
                      f"{t['max_growth']}×: {verdict}; log-log slope of time on size {g['exponent']:.3f}). The "
                      f"command's fixed start (Python, imports) weighs on the smallest size; the scores alone grow "
                      f"{scores:.2f}× per interaction."]
    by_size = {round(math.log10(r["n_interactions"])): r for r in doc["describe"]}
    checks = []
    if 8 in by_size:
        r = by_size[8]
        ok = r["seconds"] <= 60 * t["max_minutes_1e8"] and r["peak_gib"] <= t["max_gib_1e8"]
        checks.append(f"10^8: {r['seconds'] / 60:.1f} min and {r['peak_gib']:.1f} GiB (target ≤ {t['max_minutes_1e8']:.0f} "
                      f"min, ≤ {t['max_gib_1e8']:.0f} GiB): {'met' if ok else '**missed**'}")
    if 7 in by_size:
        r = by_size[7]
        ok = r["seconds"] <= 60 * t["max_minutes_1e7"]
        checks.append(f"10^7: {r['seconds']:.0f} s (target ≤ {60 * t['max_minutes_1e7']:.0f} s): "
                      f"{'met' if ok else '**missed**'}")
    if checks:
        lines += [""] + [f"- {c}" for c in checks]
    parts = ("apen", "pooled_apen", "conditional_entropy", "lz_entropy_rate", "markov_probe")
    lines += ["", "Where the time goes (seconds; *start, read, prepare* is the rest of the command: Python's start, reading,",
              "preparing, hashing, placing on each law):", "",
              "| interactions | start, read, prepare | ApEn | pooled ApEn | H(next∣prev) ×2 | LZ78 | Markov probe |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["describe"]:
        sec = r["score_seconds"]
        lines.append(f"| {r['n_interactions']:,} | {r['seconds'] - sec['total']:,.1f} | "
                     + " | ".join(f"{sec.get(k, float('nan')):,.1f}" for k in parts) + " |")
    if doc["training"]:
        lines += ["", "| catalogue | loss | step (128 sequences × 50) | sequences / s | peak memory |", "|---:|---|---:|---:|---:|"]
        for r in doc["training"]:
            loss = "fused" if r["fused"] else "plain"
            if "failed" in r:
                lines.append(f"| {r['n_items']:,} | {loss} | {failure(r['failed'][0])} | | |")
            else:
                lines.append(f"| {r['n_items']:,} | {loss} | {r['step_seconds']:.3f} s | {r['examples_per_second']:,.0f} | "
                             f"{r['peak_gib']:.2f} GiB |")
    return "\n".join(lines)


def failure(message: str) -> str:
    """A failed training step in a few words: an allocation refused is named with its size."""
    found = re.search(r"allocate (\d+) bytes", message)
    return f"out of memory: asked for {int(found.group(1)) / 2**30:,.1f} GiB at once" if found else f"failed: {message}"


def write_page(doc: dict, page: Path = PAGE) -> None:
    page.write_text(with_block(page.read_text(), BEGIN, END, page_block(doc), page))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    p.add_argument("--catalogues", type=float, nargs="*", default=[1e4, 1e5, 1e6])
    p.add_argument("--work", type=Path, default=ROOT / ".bench_scale", help="where the synthetic logs are written")
    p.add_argument("--keep", action="store_true", help="keep the logs (they are regenerated identically otherwise)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--conditions", help="what else ran on the machine meanwhile (recorded with the numbers)")
    p.add_argument("--page-only", action="store_true", help="rewrite docs/scale.md from the committed JSON, measure nothing")
    args = p.parse_args(argv)
    if args.page_only:
        write_page(json.loads(DEFAULT_OUT.read_text()))
        print(f"wrote {PAGE}")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'interactions':>12} {'users':>10} {'items':>9} {'file MB':>8} {'describe s':>10} {'µs/inter.':>9} "
          f"{'peak GiB':>8} {'scores s':>8}")
    for size in args.sizes:
        n = int(size)
        path = args.work / f"synthetic-{n}.txt"
        shape = synthetic_log(path, n)
        row = {**shape, **run_describe(path)}
        if not args.keep:
            path.unlink()
            path.with_suffix(".json").unlink()
        row["us_per_interaction"] = 1e6 * row["seconds"] / row["n_interactions"]
        rows.append(row)
        print(f"{row['n_interactions']:>12,} {row['n_users']:>10,} {row['n_items']:>9,} {row['bytes'] / 1e6:>8.0f} "
              f"{row['seconds']:>10.1f} {row['us_per_interaction']:>9.2f} {row['peak_gib']:>8.2f} "
              f"{row['score_seconds']['total']:>8.1f}", flush=True)
    g = growth(rows)
    if g["ratio"] is not None:
        print(f"growth: {g['ratio']:.2f}x seconds per interaction from the smallest to the largest size "
              f"(log-log slope {g['exponent']:.3f}; target <= {TARGETS['max_growth']}x)")
    train = []
    if args.catalogues:
        print(f"\n{'catalogue':>10} {'loss':>6} {'step s':>8} {'seqs/s':>10} {'peak GiB':>8}")
    for cat in args.catalogues:
        for fused in (False, True):
            r = run_training(int(cat), fused)
            train.append(r)
            loss = "fused" if fused else "plain"
            if "failed" in r:
                print(f"{int(cat):>10,} {loss:>6} failed: {r['failed'][0]}")
            else:
                print(f"{r['n_items']:>10,} {loss:>6} {r['step_seconds']:>8.3f} {r['examples_per_second']:>10.0f} "
                      f"{r['peak_gib']:>8.2f}", flush=True)
    doc = {"targets": TARGETS, "describe": rows, "growth": g, "training": train, "cpus": os.cpu_count(),
           "machine": os.uname().machine, "conditions": args.conditions}
    write_json_atomic(args.out, doc)
    print(f"wrote {args.out}")
    if args.out == DEFAULT_OUT:  # the committed results: their page follows them
        write_page(doc)
        print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
