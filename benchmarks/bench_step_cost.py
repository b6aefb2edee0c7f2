"""What one training step costs, side by side in one process: srlaw's earlier recipe and today's, the fused
(chunked) full-catalogue cross-entropy vs the plain one, dropout on attention probabilities or not (today's default:
not), eager vs ``torch.compile``, fp32 vs bf16 autocast (GPU only), and the data loader's share of an epoch.

Steps alternate between the variants being compared (ABAB…), so a machine that slows down mid-run slows both; the
table reports each variant's median seconds per step and its ratio to the eager fp32 step of today's recipe with
dropout on attention probabilities and the plain cross-entropy (the base of every recorded result).

    python benchmarks/bench_step_cost.py [--raw ../shared/data/ml-1m/ml-1m.txt --max-len 200] [--steps 20]
    python benchmarks/bench_step_cost.py --raw ../shared/data/amazon-beauty-bert4rec/beauty.txt --max-len 50 \
        --out benchmarks/results/bench_step_cost_beauty.json   # a 54 k-item catalogue
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "bench_step_cost.json"

from srlaw.core.atomic import write_json_atomic
from srlaw.train.settings import LEGACY_RECIPE, ModelConfig
from srlaw.train.models import SequentialRecommender
from srlaw.train.losses import sequence_loss
from srlaw.train.trainer import SequenceDataModule


BASE = "today's recipe, plain CE, eager fp32"


def make_step(cfg: ModelConfig, device: torch.device, compiled: bool, bf16: bool, fused: bool, tf32: bool = False):
    torch.manual_seed(0)
    model = SequentialRecommender(cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.compile(sequence_loss) if compiled else sequence_loss

    def step(x, y):
        # TF32 is a process-wide switch: set per step so that paired variants each run under their own
        torch.backends.cuda.matmul.allow_tf32 = tf32
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model, x, y, fused=fused)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        torch.backends.cuda.matmul.allow_tf32 = False
    return step


def paired_seconds(steps: dict, batches, n_steps: int, warmup: int = 3) -> dict[str, list[float]]:
    """Seconds per step of each variant, the variants interleaved step by step; ``warmup`` untimed steps each
    (torch.compile compiles in its first steps)."""
    times = {name: [] for name in steps}
    for i in range(n_steps + warmup):
        x, y = batches[i % len(batches)]
        for name, step in steps.items():
            t0 = time.perf_counter()
            step(x, y)
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def loader_seconds(dm: SequenceDataModule) -> dict:
    """One epoch of batches from the DataLoader (per-sample indexing + collate) vs slicing a shuffled index."""
    t0 = time.perf_counter()
    n = sum(len(x) for x, _ in dm.train_dataloader())
    loader = time.perf_counter() - t0
    inputs, targets = torch.from_numpy(dm.train_inputs), torch.from_numpy(dm.train_targets)
    t0 = time.perf_counter()
    m = 0
    for idx in torch.randperm(len(inputs)).split(dm.batch_size):
        x, y = inputs[idx], targets[idx]
        m += min(len(x), len(y))
    sliced = time.perf_counter() - t0
    assert n == m
    return {"dataloader_s": loader, "index_slicing_s": sliced}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw", type=Path, default=ROOT.parent / "shared" / "data" / "ml-1m" / "ml-1m.txt")
    p.add_argument("--format", default="sasrec")
    p.add_argument("--data", type=Path, help="a prepared (canonical) dataset folder instead of --raw, e.g. on a GPU "
                                             "machine, where raw files never travel (benchmarks/gpu_checks.sh)")
    p.add_argument("--max-len", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.data is not None:
        data = args.data
    elif not args.raw.is_file():
        print(f"skip: {args.raw} not found (licence-restricted data lives only in ../shared/data)")
        return 0
    else:
        from srlaw.data.dataset import build_dataset, save_dataset
        from srlaw.data.readers import read_interactions
        data = Path(tempfile.mkdtemp()) / "data"
        save_dataset(build_dataset(read_interactions(args.raw, args.format))[0], data)
    dm = SequenceDataModule(data, args.max_len, args.batch_size, 512, seed=0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batches = [(x.to(device), y.to(device)) for x, y in list(dm.train_dataloader())[:8]]
    shape = dict(n_items=dm.n_items, max_len=args.max_len, n_layers=args.n_layers, d_model=args.d_model, n_heads=1,
                 dropout=0.1)
    # today's recipe with dropout on attention probabilities is the base every recorded ratio is against;
    # today's default leaves that dropout out
    attn, before = ModelConfig(**shape, attention_dropout=True), ModelConfig(**shape, **LEGACY_RECIPE)
    default = ModelConfig(**shape, attention_dropout=False)
    steps = {BASE: make_step(attn, device, False, False, False),
             "default (no attention dropout), plain CE": make_step(default, device, False, False, False),
             "today's recipe, fused CE, eager fp32": make_step(attn, device, False, False, True),
             "default (no attention dropout), fused CE": make_step(default, device, False, False, True),
             "earlier recipe (pre-LN, GELU, xavier), eager fp32": make_step(before, device, False, False, False)}
    if not args.no_compile:
        steps["today's recipe, plain CE, torch.compile fp32"] = make_step(attn, device, True, False, False)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        steps["today's recipe, plain CE, eager bf16 autocast"] = make_step(attn, device, False, True, False)
        steps["today's recipe, fused CE, bf16 autocast"] = make_step(attn, device, False, True, True)
        # what `precision: auto` chooses between on a GPU, at today's default recipe
        steps["default, plain CE, eager bf16 autocast"] = make_step(default, device, False, True, False)
        steps["default, plain CE, eager fp32 with TF32 matmuls"] = make_step(default, device, False, False, False,
                                                                             tf32=True)
    times = paired_seconds(steps, batches, args.steps)
    base = statistics.median(times[BASE])
    rows = [{"variant": name, "median_s_per_step": statistics.median(t), "ratio": statistics.median(t) / base,
             "steps": len(t)} for name, t in times.items()]
    loader = loader_seconds(dm)
    steps_per_epoch = -(-len(dm.train_inputs) // args.batch_size)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu, {torch.get_num_threads()} threads"
    print(f"{(args.data or args.raw).name}: {dm.n_items} items, max_len {args.max_len}, batch {args.batch_size}, "
          f"SASRec {args.n_layers} × {args.d_model}; "
          f"{device_name}; {args.steps} paired steps")
    print(f"{'variant':44} {'s/step':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['variant']:44} {r['median_s_per_step']:8.3f} {r['ratio']:6.2f}")
    print(f"data loading, one epoch ({steps_per_epoch} steps): DataLoader {loader['dataloader_s']:.3f} s, index "
          f"slicing {loader['index_slicing_s']:.3f} s; the epoch's steps ≈ {base * steps_per_epoch:.1f} s")
    write_json_atomic(args.out, {"rows": rows, "loader": loader, "steps_per_epoch": steps_per_epoch,
                                 "device": device_name, "torch": torch.__version__, "max_len": args.max_len,
                                 "batch_size": args.batch_size, "n_items": dm.n_items, "n_layers": args.n_layers,
                                 "d_model": args.d_model})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
