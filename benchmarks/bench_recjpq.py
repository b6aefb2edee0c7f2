"""RecJPQ against full item embeddings: SASRec 2 × 64 on Amazon Beauty and ML-1M, same recipe, several seeds.

For every dataset × setting × seed it trains one run (early stopping on validation NDCG@10, full ranking, seen items
filtered), exports the best checkpoint to ONNX and records total parameters, ONNX file size, train seconds per epoch
(validation included), test NDCG@10 / HR@10, device and precision. Speed is measured side by side in this process,
never from the runs' wall time: training steps of every setting in alternation (paired ratios to ``full``) and
ONNX Runtime batch-1 latency of each setting's architecture in alternation. Prints a table of seed means with the
change against ``full`` and writes JSON. Runs live in ``--runs`` (default ``benchmarks/runs/recjpq/``, not
committed): a finished run is read back, a killed one resumes from its last checkpoint — rerun the same command.

    python benchmarks/bench_recjpq.py [--datasets beauty ml-1m] [--seeds 42 43] [--settings full jpq-8x256 …]
    python benchmarks/bench_recjpq.py --workers 16 --deadline-s 470 --step-rounds 0 --latency-repeats 0   # a GPU
    python benchmarks/bench_recjpq.py --runs DIR --finished-only          # runs trained elsewhere: speed measured here

``--workers`` trains that many runs at once on Ray (srlaw.grid.engine; small models leave a GPU idle between kernel
launches, so they share it);
``--deadline-s`` caps every run at that wall-clock deadline (a capped run says ``stopped_by: time_cap``).
Data are read from ../shared/data and never copied into the project; a missing file is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RUNS = ROOT / "benchmarks" / "runs" / "recjpq"
OUT = ROOT / "benchmarks" / "results" / "bench_recjpq.json"

from srlaw.train.settings import LEGACY_RECIPE

DATASETS = {  # name: (its entry of the catalogue, srlaw.library.catalogue, max_len)
    "beauty": ("beauty-s3rec", 50),
    "ml-1m": ("ml-1m", 50),  # len 50, not the paper's 200: 4× cheaper epochs on 2 CPU cores
    # the BERT4Rec paper's Beauty file: 54,542 items for 40,226 users, a catalogue large relative to its data
    "beauty-bert4rec": ("beauty-bert4rec", 50),
}
SETTINGS = {  # name: model overrides
    "full": {"item_embedding": "full"},
    "jpq-8x256": {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 256, "assignment": "svd"}},
    "jpq-8x64": {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 64, "assignment": "svd"}},
    "jpq-8x2048": {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 2048, "assignment": "svd"}},
    # fewer, wider sub-embeddings: 4 × 16 dims, about 3 Beauty items per centroid (−62 % of 2 × 64's parameters)
    "jpq-4x4096": {"item_embedding": "jpq", "jpq": {"n_splits": 4, "n_centroids": 4096, "assignment": "svd"}},
    # the parameters jpq saves spent on width: 2 × 128 with 2,048 centroids, −43 % of 2 × 64's parameters on Beauty
    "jpq-d128-4x2048": {"d_model": 128, "item_embedding": "jpq",
                        "jpq": {"n_splits": 4, "n_centroids": 2048, "assignment": "svd"}},
    # the same saving without jpq: a narrower full table (2 × 32, −51 % on Beauty)
    "full-d32": {"d_model": 32, "item_embedding": "full"},
    "jpq-8x256-random": {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 256, "assignment": "random"}},
}
# one recipe for every setting: SASRec+ (full-softmax CE), as in benchmarks/reproduce_sasrec.py, shorter patience
MODEL = {"n_layers": 2, "d_model": 64, "n_heads": 1, "dropout": 0.5,
         **LEGACY_RECIPE}  # what the recorded results were trained with (before the original SASRec block became the default)
TRAIN = {"batch_size": 128, "lr": 1e-3, "warmup_epochs": 0.0, "patience": 5, "max_epochs": 60, "loss": "full"}


def prepared(name: str, data_root: Path, runs: Path = RUNS) -> Path | None:
    """The canonical dataset (the pipeline's reader and cleaning), cached under the runs folder."""
    from srlaw.data.dataset import build_dataset, save_dataset
    from srlaw.data.readers import read_interactions

    from srlaw.library.catalogue import CATALOGUE
    entry = CATALOGUE[DATASETS[name][0]]
    src, fmt, out = data_root / entry.file, entry.format, runs / name / "data"
    if (out / "stats.json").is_file():  # prepared here before, or carried to a machine without the raw files
        return out
    if not src.is_file():
        print(f"skip {name}: {src} not found (its licence forbids shipping it; it lives in ../shared/data)")
        return None
    ds, _ = build_dataset(read_interactions(src, fmt))
    save_dataset(ds, out)
    return out


def model_config(name: str, setting: str, n_items: int):
    from srlaw.train.settings import ModelConfig

    return ModelConfig(n_items=n_items, max_len=DATASETS[name][1], **{**MODEL, **SETTINGS[setting]})


def run_one(runs: Path, name: str, setting: str, seed: int, data_dir: Path, deadline: float | None = None) -> dict:
    """Train (or resume, or read back) one run; export its best checkpoint to ONNX; the row of the table."""
    from srlaw.core.atomic import write_json_atomic
    from srlaw.train.settings import TrainConfig
    from srlaw.data.dataset import read_stats
    from srlaw.train.onnx_export import export_onnx, load_checkpoint_model
    from srlaw.train.trainer import train_run

    run_dir = runs / name / setting / f"seed{seed}"
    done = run_dir / "bench.json"
    if done.is_file():
        row = json.loads(done.read_text())
        if "precision" not in row:  # rows written before the stopped_by fix of training.py said time_cap
            row["stopped_by"] = "early_stopping" if row["epochs"] < TRAIN["max_epochs"] else "epoch_cap"
        return row
    cfg = model_config(name, setting, int(read_stats(data_dir)["n_items"]))
    minutes = None if deadline is None else max(0.2, (deadline - time.time()) / 60)
    t0 = time.perf_counter()
    m = train_run(data_dir, run_dir, cfg, TrainConfig(**TRAIN, seed=seed, deterministic=False, progress_bar=False,
                                                      max_minutes=minutes),
                  meta={"dataset": name, "setting": setting})
    if m["stopped_by"] == "time_cap":  # not converged: no row (the summary lists it as unfinished)
        raise TimeoutError(f"stopped by the deadline after {m['epochs']} epochs")
    onnx = export_onnx(load_checkpoint_model(run_dir / "checkpoints" / "best.ckpt"), run_dir / "model.onnx")
    row = {"dataset": name, "setting": setting, "seed": seed, "d_model": cfg.d_model, "params_total": m["params_total"],
           "params_non_embedding": m["params_non_embedding"], "test_ndcg@10": m["test"]["ndcg@10"],
           "test_hr@10": m["test"]["hr@10"], "valid_ndcg@10": m["valid"]["ndcg@10"], "epochs": m["epochs"],
           "best_epoch": m["best_epoch"], "stopped_by": m["stopped_by"], "precision": m["precision"],
           "s_per_epoch": m["train_seconds"] / max(m["epochs"], 1), "wall_seconds": time.perf_counter() - t0,
           "device": m["device"], "onnx_bytes": onnx.stat().st_size}
    write_json_atomic(done, row)
    return row


def _train_task(task) -> str:
    runs, name, setting, seed, data_dir, deadline, threads = task
    import torch

    if threads:  # a worker process among many: one thread each
        torch.set_num_threads(threads)
    if deadline is not None and time.time() > deadline - 60:
        return f"not started {name} {setting} seed {seed}: the deadline is near"
    try:
        r = run_one(Path(runs), name, setting, seed, Path(data_dir), deadline)
    except Exception as e:  # one broken run must not take the others down; the log says which and why
        return f"FAILED {name} {setting} seed {seed}: {type(e).__name__}: {e}"
    return (f"{name} {setting} seed {seed}: NDCG@10 {r['test_ndcg@10']:.4f}, HR@10 {r['test_hr@10']:.4f}, "
            f"{r['epochs']} epochs ({r['stopped_by']}), {r['s_per_epoch']:.1f} s/epoch")


def train_all(tasks: list, workers: int) -> None:
    """Train the runs of ``tasks``, ``workers`` at a time, on the grid engine (Ray: a worker that dies is retried;
    on a GPU the runs share it)."""
    import os
    import torch
    from srlaw.grid.engine import map_tasks

    gpus = 1.0 / workers if torch.cuda.is_available() else 0.0
    cpus = max(1.0, (os.cpu_count() or 1) / workers)
    for line in map_tasks(_train_task, [(t,) for t in tasks], cpus=cpus, gpus=gpus):
        print(line, flush=True)


def paired_latency(name: str, data_dir: Path, settings: list[str], repeats: int) -> dict:
    """ONNX Runtime batch-1 latency (full-length input) of each setting's model, timed in alternation in this process
    (round r calls every model once), with each setting's median per-round ratio to ``full``. The models are the
    settings' architectures freshly initialised: weights and codes do not change what a call computes."""
    import torch

    from srlaw.data.dataset import read_stats
    from srlaw.train.models import SequentialRecommender
    from srlaw.train.onnx_export import onnx_bytes, ort_session

    if repeats <= 0:
        return {}
    n_items = int(read_stats(data_dir)["n_items"])
    sessions = {}
    for s in settings:
        torch.manual_seed(0)
        sessions[s] = ort_session(onnx_bytes(SequentialRecommender(model_config(name, s, n_items)).eval()))
    x = np.random.default_rng(0).integers(1, n_items + 1, (1, DATASETS[name][1])).astype(np.int64)
    times = {s: [] for s in sessions}
    for r in range(repeats + 10):
        for s, sess in sessions.items():
            t0 = time.perf_counter()
            sess.run(["scores"], {"item_ids": x})
            if r >= 10:  # warm-up rounds are not timed
                times[s].append((time.perf_counter() - t0) * 1e3)
    out = {s: {"p50_ms": float(np.median(t))} for s, t in times.items()}
    if "full" in times:
        for s in out:
            out[s]["ratio"] = float(np.median(np.array(times[s]) / np.array(times["full"])))
    return {"repeats": repeats, "settings": out}


def paired_step_times(name: str, data_dir: Path, settings: list[str], rounds: int) -> dict:
    """Median seconds of one training step (forward, backward, Adam) and of one evaluation batch per setting,
    measured in alternation in this process (round r times every setting on batch r), with each setting's median
    ratio to ``full`` over the rounds: a speed ratio that machine load cannot bias."""
    import torch

    from srlaw.train.losses import sequence_loss
    from srlaw.train.models import SequentialRecommender
    from srlaw.train.recjpq import assign_codes
    from srlaw.train.trainer import SequenceDataModule

    dm = SequenceDataModule(data_dir, DATASETS[name][1], TRAIN["batch_size"], 256, seed=0)
    batches = [b for _, b in zip(range(rounds + 2), dm.train_dataloader())]
    users = next(iter(dm.eval_dataloader("valid")))[0]
    models, opts = {}, {}
    for setting in settings:
        torch.manual_seed(0)
        cfg = model_config(name, setting, dm.n_items)
        models[setting] = SequentialRecommender(cfg)
        if cfg.item_embedding == "jpq":
            j = cfg.jpq
            models[setting].item_emb.assign(assign_codes(dm.train_sequences, dm.n_items, j.n_splits, j.n_centroids,
                                                         j.assignment, 0))
        opts[setting] = torch.optim.Adam(models[setting].parameters(), lr=TRAIN["lr"])
    step = {s: [] for s in settings}
    score = {s: [] for s in settings}
    for r, (x, y) in enumerate(batches):
        for s in settings:
            m = models[s].train()
            t0 = time.perf_counter()
            loss = sequence_loss(m, x, y)
            opts[s].zero_grad()
            loss.backward()
            opts[s].step()
            t1 = time.perf_counter()
            with torch.no_grad():
                m.eval().score_last(users)
            t2 = time.perf_counter()
            if r >= 2:  # warm-up rounds are not timed
                step[s].append(t1 - t0)
                score[s].append(t2 - t1)
    out = {}
    for s in settings:
        out[s] = {"step_s": float(np.median(step[s])), "eval_batch_s": float(np.median(score[s]))}
        if s != "full" and "full" in settings:
            out[s]["step_ratio"] = float(np.median(np.array(step[s]) / np.array(step["full"])))
            out[s]["eval_ratio"] = float(np.median(np.array(score[s]) / np.array(score["full"])))
    return {"rounds": len(step[settings[0]]), "batch_size": TRAIN["batch_size"], "eval_users": len(users),
            "threads": torch.get_num_threads(), "settings": out}


def unfinished_curve(run_dir: Path) -> dict | None:
    """The validation curve of a run stopped before it converged (``run_curves.read_curve``), or None."""
    from srlaw.train.curves import read_curve

    values = [r["val_ndcg@10"] for r in read_curve(run_dir)] if run_dir.is_dir() else []
    return {"valid_ndcg@10": values, "best_valid_ndcg@10": max(values)} if values else None


def summarise(rows: list[dict], latency: dict) -> list[dict]:
    """Seed means per dataset × setting, with the change against the dataset's ``full`` rows; batch-1 latency from
    the paired measurement (``latency[dataset]``)."""
    out = []
    for name in dict.fromkeys(r["dataset"] for r in rows):
        groups = {s: [r for r in rows if r["dataset"] == name and r["setting"] == s]
                  for s in dict.fromkeys(r["setting"] for r in rows if r["dataset"] == name)}
        base = groups.get("full")
        lat = latency.get(name, {}).get("settings", {})
        for setting, rs in groups.items():
            mean = {k: float(np.mean([r[k] for r in rs])) for k in
                    ("params_total", "onnx_bytes", "s_per_epoch", "test_ndcg@10", "test_hr@10", "epochs")}
            sd = {f"{k}_sd": float(np.std([r[k] for r in rs], ddof=1)) if len(rs) > 1 else None
                  for k in ("test_ndcg@10", "test_hr@10")}
            row = {"dataset": name, "setting": setting, "d_model": rs[0].get("d_model", MODEL["d_model"]),
                   "seeds": [r["seed"] for r in rs], "stopped_by": sorted({r["stopped_by"] for r in rs}),
                   "devices": sorted({r["device"] for r in rs}), **mean, **sd,
                   "latency_ms_b1": lat.get(setting, {}).get("p50_ms")}
            if base and setting != "full":
                b = {k: float(np.mean([r[k] for r in base])) for k in mean}
                row.update({f"{k}_change": mean[k] / b[k] - 1 for k in
                            ("params_total", "onnx_bytes", "test_ndcg@10", "test_hr@10")})
                if setting in lat and "ratio" in lat[setting]:
                    row["latency_ms_b1_change"] = lat[setting]["ratio"] - 1
            out.append(row)
    return out


def print_table(summary: list[dict]) -> None:
    pct = lambda r, k: f"{100 * r[k]:+6.1f}%" if k in r else "      -"  # noqa: E731
    # s/epoch is wall time beside the other runs of the benchmark: the speed ratios are the paired tables
    print(f"{'dataset':8} {'setting':17} {'seeds':>5} {'params':>10} {'Δ':>7} {'ONNX MB':>8} {'s/epoch':>8} "
          f"{'epochs':>6} {'NDCG@10':>8} {'± sd':>7} {'Δ':>7} {'HR@10':>7} {'Δ':>7} {'b1 ms':>6} {'Δ':>7}")
    for r in summary:
        sd = f"{r['test_ndcg@10_sd']:7.4f}" if r["test_ndcg@10_sd"] is not None else "      -"
        lat = f"{r['latency_ms_b1']:6.2f}" if r["latency_ms_b1"] is not None else "     -"
        print(f"{r['dataset']:8} {r['setting']:17} {len(r['seeds']):5d} {r['params_total']:10,.0f} "
              f"{pct(r, 'params_total_change')} {r['onnx_bytes'] / 1e6:8.2f} {r['s_per_epoch']:8.1f} "
              f"{r['epochs']:6.1f} {r['test_ndcg@10']:8.4f} {sd} {pct(r, 'test_ndcg@10_change')} "
              f"{r['test_hr@10']:7.4f} {pct(r, 'test_hr@10_change')} {lat} {pct(r, 'latency_ms_b1_change')}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--settings", nargs="+", default=["full", "jpq-8x256", "jpq-8x64"], choices=list(SETTINGS))
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43])
    p.add_argument("--data-root", type=Path, default=SHARED)
    p.add_argument("--runs", type=Path, default=RUNS, help="where runs live (resumed and read back from there)")
    p.add_argument("--workers", type=int, default=1, help="runs trained at once, each in its own process")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker process (with --workers > 1)")
    p.add_argument("--deadline-s", type=float, default=None, help="cap every run at this many seconds from now")
    p.add_argument("--latency-repeats", type=int, default=200, help="paired ONNX batch-1 rounds (0: not measured)")
    p.add_argument("--step-rounds", type=int, default=30,
                   help="alternating timed training steps per setting (0: not measured)")
    p.add_argument("--finished-only", action="store_true",
                   help="summarise the runs already finished; train nothing (runs read mid-way or from elsewhere)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    from srlaw.core.atomic import write_json_atomic

    deadline = None if args.deadline_s is None else time.time() + args.deadline_s
    data, speed = {}, {}
    for name in args.datasets:
        data_dir = prepared(name, args.data_root, args.runs)
        if data_dir is None:
            continue
        data[name] = data_dir
        if args.step_rounds > 0:  # before any training: the steps are timed alone on the machine
            speed[name] = paired_step_times(name, data_dir, args.settings, args.step_rounds)
    # seeds outer: an interrupted benchmark already holds a side-by-side comparison of every setting
    tasks = [(name, setting, seed) for name in data for seed in args.seeds for setting in args.settings]
    if not args.finished_only and args.workers > 1:
        train_all([(str(args.runs), n, s, seed, str(data[n]), deadline, args.threads) for n, s, seed in tasks],
                  args.workers)
    rows, unfinished = [], []
    for name, setting, seed in tasks:
        run_dir = args.runs / name / setting / f"seed{seed}"
        if not args.finished_only and args.workers == 1 and not (run_dir / "bench.json").is_file():
            print(_train_task((str(args.runs), name, setting, seed, str(data[name]), deadline, None)), flush=True)
        if not (run_dir / "bench.json").is_file():
            curve = unfinished_curve(run_dir)
            if curve:
                unfinished.append({"dataset": name, "setting": setting, "seed": seed, **curve})
            print(f"{name} {setting} seed {seed}: not finished" + (f" ({len(curve['valid_ndcg@10'])} epochs, "
                  f"best valid NDCG@10 {curve['best_valid_ndcg@10']:.4f})" if curve else ""))
            continue
        rows.append(run_one(args.runs, name, setting, seed, data[name]))
    latency = {name: paired_latency(name, data[name], args.settings, args.latency_repeats) for name in data}
    summary = summarise(rows, latency)
    print_table(summary)
    if speed:
        print("\npaired step times (alternating, one process; ratio = median of per-round ratios to full)")
        print(f"{'dataset':8} {'setting':17} {'train step s':>12} {'ratio':>6} {'eval batch s':>12} {'ratio':>6}")
        for name, sp in speed.items():
            for s, t in sp["settings"].items():
                print(f"{name:8} {s:17} {t['step_s']:12.4f} {t.get('step_ratio', 1.0):6.2f} "
                      f"{t['eval_batch_s']:12.4f} {t.get('eval_ratio', 1.0):6.2f}")
    write_json_atomic(args.out, {"recipe": {"model": MODEL, "train": TRAIN},
                                 "datasets": {k: DATASETS[k] for k in data},
                                 "settings": {k: SETTINGS[k] for k in args.settings}, "summary": summary,
                                 "paired_step_times": speed, "paired_latency_b1": latency, "runs": rows,
                                 "unfinished": unfinished})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
