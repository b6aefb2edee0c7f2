"""RecJPQ against full item embeddings: SASRec 2 × 64 on Amazon Beauty and ML-1M, same recipe, several seeds.

For every dataset × setting × seed it trains one run (early stopping on validation NDCG@10, full ranking, seen items
filtered), exports the best checkpoint to ONNX and measures: total parameters, ONNX file size, train seconds per
epoch (validation included), test NDCG@10 / HR@10 and ONNX Runtime batch-1 latency. Prints a table of seed means
with the change against ``full`` and writes JSON. Runs live in ``benchmarks/runs/recjpq/`` (not committed): a
finished run is read back, a killed one resumes from its last checkpoint — rerun the same command.

    python benchmarks/bench_recjpq.py [--datasets beauty ml-1m] [--seeds 42 43] [--settings full jpq-8x256 …]

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

from srlaw.config import LEGACY_RECIPE

DATASETS = {  # name: (file under ../shared/data, format, max_len)
    "beauty": ("amazon-s3rec-5core/Beauty.txt", "s3rec", 50),
    "ml-1m": ("ml-1m/ml-1m.txt", "sasrec", 50),  # len 50, not the paper's 200: 4× cheaper epochs on 2 CPU cores
}
SETTINGS = {  # name: model overrides
    "full": {"item_embedding": "full"},
    "jpq-8x256": {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 256, "assignment": "svd"}},
    "jpq-8x64": {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 64, "assignment": "svd"}},
    "jpq-8x2048": {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 2048, "assignment": "svd"}},
    # fewer, wider sub-embeddings: 4 × 16 dims, about 3 Beauty items per centroid (−62 % of 2 × 64's parameters)
    "jpq-4x4096": {"item_embedding": "jpq", "jpq": {"n_splits": 4, "n_centroids": 4096, "assignment": "svd"}},
    "jpq-8x256-random": {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 256, "assignment": "random"}},
}
# one recipe for every setting: SASRec+ (full-softmax CE), as in benchmarks/reproduce_sasrec.py, shorter patience
MODEL = {"n_layers": 2, "d_model": 64, "n_heads": 1, "dropout": 0.5,
         **LEGACY_RECIPE}  # what the recorded results were trained with (before issue #18)
TRAIN = {"batch_size": 128, "lr": 1e-3, "warmup_epochs": 0.0, "patience": 5, "max_epochs": 60, "loss": "full"}


def prepared(name: str, data_root: Path) -> Path | None:
    """The canonical dataset (the pipeline's reader and cleaning), cached under the runs folder."""
    from srlaw.dataset import build_dataset, save_dataset
    from srlaw.readers import read_interactions

    rel, fmt, _ = DATASETS[name]
    src = data_root / rel
    if not src.is_file():
        print(f"skip {name}: {src} not found (its licence forbids shipping it; it lives in ../shared/data)")
        return None
    out = RUNS / name / "data"
    if not (out / "stats.json").is_file():
        ds, _ = build_dataset(read_interactions(src, fmt))
        save_dataset(ds, out)
    return out


def onnx_measures(ckpt: Path, data_dir: Path, out_dir: Path, repeats: int) -> dict:
    """ONNX file size and batch-1 latency (p50 over ``repeats``) of the best checkpoint, on full-length inputs."""
    from srlaw.onnx_export import export_onnx, load_checkpoint_model, ort_session, time_call

    model = load_checkpoint_model(ckpt)
    path = export_onnx(model, out_dir / "model.onnx")
    sess = ort_session(str(path))
    x = np.random.default_rng(0).integers(1, model.cfg.n_items + 1, (1, model.cfg.max_len)).astype(np.int64)
    t = time_call(lambda: sess.run(["scores"], {"item_ids": x}), repeats=repeats)
    return {"onnx_bytes": path.stat().st_size, "latency_ms_b1": t["p50_ms"]}


def run_one(name: str, setting: str, seed: int, data_dir: Path, repeats: int) -> dict:
    from srlaw.config import ModelConfig, TrainConfig
    from srlaw.dataset import read_stats
    from srlaw.training import train_run

    run_dir = RUNS / name / setting / f"seed{seed}"
    done = run_dir / "bench.json"
    if done.is_file():
        row = json.loads(done.read_text())
        # runs here have no time cap: fewer epochs than the cap means early stopping (rows written before the
        # stopped_by fix of training.py said time_cap)
        return {**row, "stopped_by": "early_stopping" if row["epochs"] < TRAIN["max_epochs"] else "epoch_cap"}
    stats = read_stats(data_dir)
    cfg = ModelConfig(n_items=int(stats["n_items"]), max_len=DATASETS[name][2], **MODEL, **SETTINGS[setting])
    t0 = time.perf_counter()
    m = train_run(data_dir, run_dir, cfg, TrainConfig(**TRAIN, seed=seed, deterministic=False, progress_bar=False),
                  meta={"dataset": name, "setting": setting})
    row = {"dataset": name, "setting": setting, "seed": seed, "params_total": m["params_total"],
           "params_non_embedding": m["params_non_embedding"], "test_ndcg@10": m["test"]["ndcg@10"],
           "test_hr@10": m["test"]["hr@10"], "valid_ndcg@10": m["valid"]["ndcg@10"], "epochs": m["epochs"],
           "best_epoch": m["best_epoch"], "stopped_by": m["stopped_by"],
           "s_per_epoch": m["train_seconds"] / max(m["epochs"], 1), "wall_seconds": time.perf_counter() - t0,
           "device": m["device"], **onnx_measures(run_dir / "checkpoints" / "best.ckpt", data_dir, run_dir, repeats)}
    from srlaw.atomic_write import write_json_atomic
    write_json_atomic(done, row)
    return row


def paired_step_times(name: str, data_dir: Path, settings: list[str], rounds: int) -> dict:
    """Median seconds of one training step (forward, backward, Adam) and of one evaluation batch per setting,
    measured in alternation in this process (round r times every setting on batch r), with each setting's median
    ratio to ``full`` over the rounds: a speed ratio that machine load cannot bias."""
    import torch

    from srlaw.config import ModelConfig
    from srlaw.losses import sequence_loss
    from srlaw.models import SequentialRecommender
    from srlaw.recjpq import assign_codes
    from srlaw.training import SequenceDataModule

    dm = SequenceDataModule(data_dir, DATASETS[name][2], TRAIN["batch_size"], 256, seed=0)
    batches = [b for _, b in zip(range(rounds + 2), dm.train_dataloader())]
    users = next(iter(dm.eval_dataloader("valid")))[0]
    models, opts = {}, {}
    for setting in settings:
        torch.manual_seed(0)
        cfg = ModelConfig(n_items=dm.n_items, max_len=DATASETS[name][2], **MODEL, **SETTINGS[setting])
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
    """The validation curve of a run stopped before it converged (its DVCLive series), or None."""
    tsv = run_dir / "dvclive" / "plots" / "metrics" / "val" / "ndcg@10.tsv"
    if not tsv.is_file():
        return None
    values = [float(line.split("\t")[1]) for line in tsv.read_text().splitlines()[1:] if line.strip()]
    return {"valid_ndcg@10": values, "best_valid_ndcg@10": max(values)} if values else None


def summarise(rows: list[dict]) -> list[dict]:
    """Seed means per dataset × setting, with the change against the dataset's ``full`` rows."""
    out = []
    for name in dict.fromkeys(r["dataset"] for r in rows):
        groups = {s: [r for r in rows if r["dataset"] == name and r["setting"] == s]
                  for s in dict.fromkeys(r["setting"] for r in rows if r["dataset"] == name)}
        base = groups.get("full")
        for setting, rs in groups.items():
            mean = {k: float(np.mean([r[k] for r in rs])) for k in
                    ("params_total", "onnx_bytes", "s_per_epoch", "test_ndcg@10", "test_hr@10", "latency_ms_b1",
                     "epochs")}
            sd = {f"{k}_sd": float(np.std([r[k] for r in rs], ddof=1)) if len(rs) > 1 else None
                  for k in ("test_ndcg@10", "test_hr@10")}
            row = {"dataset": name, "setting": setting, "seeds": [r["seed"] for r in rs], **mean, **sd}
            if base and setting != "full":
                b = {k: float(np.mean([r[k] for r in base])) for k in mean}
                row.update({f"{k}_change": mean[k] / b[k] - 1 for k in
                            ("params_total", "onnx_bytes", "s_per_epoch", "test_ndcg@10", "test_hr@10",
                             "latency_ms_b1")})
            out.append(row)
    return out


def print_table(summary: list[dict]) -> None:
    pct = lambda r, k: f"{100 * r[k]:+6.1f}%" if f"{k}" in r else "      -"  # noqa: E731
    # s/epoch is wall time on a shared machine (other jobs ran beside it): the speed ratio is the paired table
    print(f"{'dataset':8} {'setting':17} {'seeds':>5} {'params':>10} {'Δ':>7} {'ONNX MB':>8} {'s/epoch':>8} "
          f"{'epochs':>6} {'NDCG@10':>8} {'± sd':>7} {'Δ':>7} {'HR@10':>7} {'Δ':>7} {'b1 ms':>6}")
    for r in summary:
        sd = f"{r['test_ndcg@10_sd']:7.4f}" if r["test_ndcg@10_sd"] is not None else "      -"
        print(f"{r['dataset']:8} {r['setting']:17} {len(r['seeds']):5d} {r['params_total']:10,.0f} "
              f"{pct(r, 'params_total_change')} {r['onnx_bytes'] / 1e6:8.2f} {r['s_per_epoch']:8.1f} "
              f"{r['epochs']:6.1f} {r['test_ndcg@10']:8.4f} {sd} {pct(r, 'test_ndcg@10_change')} "
              f"{r['test_hr@10']:7.4f} {pct(r, 'test_hr@10_change')} {r['latency_ms_b1']:6.2f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--settings", nargs="+", default=["full", "jpq-8x256", "jpq-8x64"], choices=list(SETTINGS))
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 43])
    p.add_argument("--data-root", type=Path, default=SHARED)
    p.add_argument("--latency-repeats", type=int, default=200)
    p.add_argument("--step-rounds", type=int, default=30, help="alternating timed training steps per setting")
    p.add_argument("--finished-only", action="store_true",
                   help="summarise the runs already finished; train nothing (a long benchmark read mid-way)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    from srlaw.atomic_write import write_json_atomic

    rows, speed, unfinished = [], {}, []
    for name in args.datasets:
        data_dir = prepared(name, args.data_root)
        if data_dir is None:
            continue
        speed[name] = paired_step_times(name, data_dir, args.settings, args.step_rounds)
        # seeds outermost: an interrupted benchmark already holds a side-by-side comparison of every setting
        for seed in args.seeds:
            for setting in args.settings:
                run_dir = RUNS / name / setting / f"seed{seed}"
                if args.finished_only and not (run_dir / "bench.json").is_file():
                    curve = unfinished_curve(run_dir)
                    if curve:
                        unfinished.append({"dataset": name, "setting": setting, "seed": seed, **curve})
                    print(f"{name} {setting} seed {seed}: not finished" + (f" ({len(curve['valid_ndcg@10'])} epochs, "
                          f"best valid NDCG@10 {curve['best_valid_ndcg@10']:.4f})" if curve else ""))
                    continue
                rows.append(run_one(name, setting, seed, data_dir, args.latency_repeats))
                r = rows[-1]
                print(f"{name} {setting} seed {seed}: NDCG@10 {r['test_ndcg@10']:.4f}, HR@10 {r['test_hr@10']:.4f}, "
                      f"{r['epochs']} epochs ({r['stopped_by']}), {r['s_per_epoch']:.1f} s/epoch", flush=True)
    summary = summarise(rows)
    print_table(summary)
    print("\npaired step times (alternating, one process; ratio = median of per-round ratios to full)")
    print(f"{'dataset':8} {'setting':17} {'train step s':>12} {'ratio':>6} {'eval batch s':>12} {'ratio':>6}")
    for name, sp in speed.items():
        for s, t in sp["settings"].items():
            print(f"{name:8} {s:17} {t['step_s']:12.4f} {t.get('step_ratio', 1.0):6.2f} {t['eval_batch_s']:12.4f} "
                  f"{t.get('eval_ratio', 1.0):6.2f}")
    write_json_atomic(args.out, {"recipe": {"model": MODEL, "train": TRAIN},
                                 "datasets": {k: DATASETS[k] for k in args.datasets}, "settings": SETTINGS,
                                 "summary": summary, "paired_step_times": speed, "runs": rows,
                                 "unfinished": unfinished})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
