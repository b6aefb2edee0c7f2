"""Time to quality: epochs and wall seconds until validation NDCG@10 first reaches a target, per training recipe.

Every recipe trains SASRec 2 × 64, 1 head, dropout 0.1, batch 128, Adam, full-softmax CE, early stopping on
validation NDCG@10 (patience 10) — the protocol of SCIENCE.md §5 — and changes one thing at a time: initialisation,
block order, feed-forward activation, embedding scaling, learning rate, batch size, warm-up, dropout placement,
learning-rate decay. Targets:

- ML-1M (ml-1m.txt, max_len 200): valid NDCG@10 >= 0.173 (95 % of the published 0.1821), and 95 % of the run's
  own converged value;
- Beauty (the BERT4Rec file, max_len 50): 95 % of the run's converged value.

Runs live in ``benchmarks/runs/time_to_quality/`` (gitignored) and resume where a killed attempt stopped; a finished
run is read, not retrained, so ``--max-epochs 8`` screens every recipe cheaply and a later call with a larger cap
continues the same runs. Seconds per epoch (training and validation) are recorded by epoch, so a resumed run keeps
its killed attempt's seconds. The data are read from ../shared/data and never copied into the project.

    python benchmarks/bench_time_to_quality.py [--datasets ml-1m] [--recipes v1 sasrec] [--max-epochs 8]
        [--seeds 42] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RUNS = ROOT / "benchmarks" / "runs" / "time_to_quality"
OUT = ROOT / "benchmarks" / "results" / "bench_time_to_quality.json"

from srlaw.core.atomic import write_json_atomic
from srlaw.train.settings import ModelConfig, TrainConfig
from srlaw.train.curves import read_curve, time_to_quality

DATASETS = {  # name: file, format, max_len, fixed target (valid NDCG@10) or None, published test NDCG@10 / HR@10
    "ml-1m": ("ml-1m/ml-1m.txt", "sasrec", 200, 0.173, 0.1821, 0.3152),
    "beauty": ("amazon-beauty-bert4rec/beauty.txt", "sasrec", 50, None, 0.0327, 0.0533),
}
# The peer: Klenitskiy & Vasilev's SASRec+ (RecSys 2023 code), measured beside srlaw on ML-1M
# (same split, size, optimiser, torch, 2 threads): valid NDCG@10 after 3 epochs, its published best epoch, and
# srlaw's seconds per epoch (with validation) as a share of the peer's.
PEER = {"ml-1m": {"val_ndcg@10_epoch3": 0.0995, "best_epoch_published": 63, "srlaw_epoch_seconds_share": 0.58}}

BASE_MODEL = {"n_layers": 2, "d_model": 64, "n_heads": 1, "dropout": 0.1}
BASE_TRAIN = {"batch_size": 128, "lr": 1e-3, "warmup_epochs": 0.0, "patience": 10}  # SCIENCE.md §5
# every recipe names all five model keys, so a changed default never changes what a recorded run name means
V1 = {"block": "pre_ln", "activation": "gelu", "init": "xavier", "scale_embedding": True,
      "attention_dropout": True}  # srlaw's earlier recipe
SASREC = {"block": "original", "activation": "relu", "init": "normal", "scale_embedding": True,
          "attention_dropout": True}
# name: (what changes, model settings, training settings); each is one step from v1 or from the original block
RECIPES = {
    "v1": ("srlaw's earlier recipe: pre-LN, GELU, xavier", V1, {}),
    "v1+normal-init": ("v1 with N(0, 0.02) weights", {**V1, "init": "normal"}, {}),
    "v1+original-block": ("v1 with the original SASRec block", {**V1, "block": "original"}, {}),
    "v1+relu": ("v1 with a ReLU feed-forward", {**V1, "activation": "relu"}, {}),
    "original+normal": ("original block, N(0, 0.02), GELU", {**V1, "block": "original", "init": "normal"}, {}),
    "sasrec": ("original block, ReLU, N(0, 0.02): the SASRec paper's recipe", SASREC, {}),
    "sasrec-unscaled": ("sasrec without the √d item-embedding scale", {**SASREC, "scale_embedding": False}, {}),
    "sasrec+lr2e-3": ("sasrec, learning rate 2e-3", SASREC, {"lr": 2e-3}),
    "sasrec+lr3e-3+warmup": ("sasrec, learning rate 3e-3, 1 warm-up epoch", SASREC,
                             {"lr": 3e-3, "warmup_epochs": 1.0}),
    "sasrec+b256+lr2e-3": ("sasrec, batch 256, learning rate 2e-3", SASREC, {"batch_size": 256, "lr": 2e-3}),
    # one step from sasrec+lr3e-3+warmup; the default since three seeds (README "How srlaw trains") chose it
    "default-attn-dropout": ("today's default: sasrec+lr3e-3+warmup without dropout on attention probabilities",
                             {**SASREC, "attention_dropout": False}, {"lr": 3e-3, "warmup_epochs": 1.0}),
    "default+inverse-sqrt": ("sasrec+lr3e-3+warmup with an inverse-√step decay after the warm-up", SASREC,
                             {"lr": 3e-3, "warmup_epochs": 1.0, "lr_schedule": "inverse_sqrt"}),
}


class EpochSeconds(L.Callback):
    """Wall seconds of every epoch (training and validation) into ``path`` as {epoch: seconds}, kept across
    attempts: a resumed run's repeated epoch is overwritten, earlier epochs stay."""

    def __init__(self, path: Path):
        self.path, self._t0 = path, None

    def on_train_epoch_start(self, trainer, module):
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, module):
        if self._t0 is None or not trainer.is_global_zero:
            return
        seconds = json.loads(self.path.read_text()) if self.path.is_file() else {}
        seconds[str(trainer.current_epoch + 1)] = time.perf_counter() - self._t0
        write_json_atomic(self.path, seconds)


def prepared(name: str, data_root: Path, runs: Path = RUNS) -> Path | None:
    """The canonical dataset of ``name`` under ``runs`` (built once), or None when its raw file is absent."""
    rel, fmt = DATASETS[name][:2]
    out = runs / "data" / name
    if (out / "stats.json").is_file():
        return out
    path = data_root / rel
    if not path.is_file():
        print(f"skip {name}: {path} not found (the licence forbids shipping it; it lives in ../shared/data)")
        return None
    from srlaw.data.dataset import build_dataset, save_dataset
    from srlaw.data.readers import read_interactions
    ds, _ = build_dataset(read_interactions(path, fmt))
    save_dataset(ds, out)
    return out


def configs(dataset: str, recipe: str, data_dir: Path, seed: int, max_epochs: int) -> tuple[ModelConfig, TrainConfig]:
    from srlaw.data.dataset import read_stats
    model, train = RECIPES[recipe][1:]
    n_items = read_stats(data_dir)["n_items"]
    cfg = ModelConfig(n_items=n_items, max_len=DATASETS[dataset][2], **BASE_MODEL, **model)
    return cfg, TrainConfig(**{**BASE_TRAIN, **train}, max_epochs=max_epochs, seed=seed, progress_bar=False)


def finished(run_dir: Path, max_epochs: int) -> dict | None:
    """The run's metrics when it needs no more training: early-stopped, or already at ``max_epochs`` epochs."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    return m if m["stopped_by"] == "early_stopping" or m["epochs"] >= max_epochs else None


def train(dataset: str, recipe: str, seed: int, data_dir: Path, max_epochs: int, runs: Path = RUNS) -> None:
    from srlaw.train.trainer import train_run
    run_dir = runs / dataset / f"{recipe}-s{seed}"
    if finished(run_dir, max_epochs):
        return
    model_cfg, train_cfg = configs(dataset, recipe, data_dir, seed, max_epochs)
    print(f"train {dataset} {recipe} seed {seed} (up to {max_epochs} epochs)", file=sys.stderr, flush=True)
    train_run(data_dir, run_dir, model_cfg, train_cfg, callbacks=[EpochSeconds(run_dir / "epoch_seconds.json")])


def row(dataset: str, recipe: str, seed: int, runs: Path = RUNS) -> dict | None:
    run_dir = runs / dataset / f"{recipe}-s{seed}"
    curve = read_curve(run_dir)
    if not curve:
        return None
    seconds_path = run_dir / "epoch_seconds.json"
    seconds = {int(k): v for k, v in json.loads(seconds_path.read_text()).items()} if seconds_path.is_file() else {}
    metrics_path = run_dir / "metrics.json"
    m = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    run_json = run_dir / "run.json"
    device = json.loads(run_json.read_text())["device"] if run_json.is_file() else None
    converged = m is not None and m["stopped_by"] == "early_stopping" and m["epochs"] == len(curve)
    ttq = time_to_quality(curve, seconds, DATASETS[dataset][3], converged)
    at3 = next((r["val_ndcg@10"] for r in curve if r["epoch"] == 3), None)
    return {
        "dataset": dataset, "recipe": recipe, "what": RECIPES[recipe][0], "seed": seed,
        "model": {**BASE_MODEL, **RECIPES[recipe][1]}, "train": {**BASE_TRAIN, **RECIPES[recipe][2]},
        **ttq, "val_ndcg@10_epoch3": at3,
        "seconds_per_epoch_median": statistics.median(seconds.values()) if seconds else None,
        # a curve longer than the metrics' epochs: an attempt after them was killed before it finished
        "stopped_by": m["stopped_by"] if m and m["epochs"] == len(curve) else "unfinished",
        "test_ndcg@10": m["test"]["ndcg@10"] if converged else None,
        "test_hr@10": m["test"]["hr@10"] if converged else None,
        "device": device, "curve": [[r["epoch"], r["val_ndcg@10"]] for r in curve],
    }


def _f(v, fmt):
    return "—" if v is None else format(v, fmt)


def report(rows: list[dict]) -> None:
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        target = DATASETS[dataset][3]
        print(f"\n{dataset}: epochs (seconds) to valid NDCG@10 >= {target if target else '—'} and to 95 % of the "
              f"run's converged value")
        print(f"{'recipe':22} {'seed':>4} {'@3 ep':>7} {'best':>7} {'at':>4} {'→target':>14} {'→95%':>14} "
              f"{'s/ep':>6} {'test NDCG':>9} {'test HR':>8}  stopped")
        for r in (r for r in rows if r["dataset"] == dataset):
            to_t = f"{_f(r['epochs_to_target'], 'd')} ({_f(r['seconds_to_target'], '.0f')})"
            to_95 = f"{_f(r['epochs_to_95pct'], 'd')} ({_f(r['seconds_to_95pct'], '.0f')})"
            print(f"{r['recipe']:22} {r['seed']:4d} {_f(r['val_ndcg@10_epoch3'], '.4f'):>7} {r['best']:7.4f} "
                  f"{r['best_epoch']:4d} {to_t:>14} {to_95:>14} {_f(r['seconds_per_epoch_median'], '.1f'):>6} "
                  f"{_f(r['test_ndcg@10'], '.4f'):>9} {_f(r['test_hr@10'], '.4f'):>8}  {r['stopped_by']} "
                  f"after {r['epochs_run']}")
        if dataset in PEER:
            p = PEER[dataset]
            print(f"{'peer SASRec+':22} {'':4} {p['val_ndcg@10_epoch3']:7.4f} {'':7} {p['best_epoch_published']:4d}"
                  f"  (the side-by-side run; srlaw's s/epoch = {p['srlaw_epoch_seconds_share']} × the peer's)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["ml-1m"], choices=list(DATASETS))
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--seeds", nargs="+", type=int, default=[42])
    p.add_argument("--max-epochs", type=int, default=200)
    p.add_argument("--data-root", type=Path, default=SHARED)
    p.add_argument("--report-only", action="store_true", help="read the runs, train nothing")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--runs", type=Path, default=RUNS, help="where runs (and their prepared data, under data/) live; "
                   "a GPU call keeps its own (benchmarks/gpu_checks.sh)")
    args = p.parse_args(argv)
    torch.set_float32_matmul_precision("high")
    for dataset in args.datasets:
        data_dir = prepared(dataset, args.data_root, args.runs)
        if data_dir is None:
            continue
        for seed in args.seeds:
            for recipe in args.recipes:
                if not args.report_only:
                    train(dataset, recipe, seed, data_dir, args.max_epochs, args.runs)
    rows = [r for d in args.datasets for s in args.seeds for n in args.recipes if (r := row(d, n, s, args.runs))]
    report(rows)
    write_json_atomic(args.out, {"rows": rows, "peer": PEER, "recipes": {k: v[0] for k, v in RECIPES.items()}})
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
