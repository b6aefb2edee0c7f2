"""Inference latency: ONNX Runtime vs torch eager for the exported reference model, batch 1 and 256, side by
side in one process. Prints a table, writes JSON.  python benchmarks/bench_onnx.py [--model artifacts/model]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
from srlaw.core.atomic import write_json_atomic
from srlaw.train.models import LastPositionScorer, ModelConfig, SequentialRecommender
from srlaw.train.onnx_export import ort_session, time_call


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=ROOT / "artifacts" / "model")
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bench_onnx.json")
    args = p.parse_args(argv)
    if not (args.model / "model.onnx").is_file():
        print(f"skip: {args.model}/model.onnx not found (run `make repro` or `dvc pull`)")
        return 0
    meta = json.loads((args.model / "model.json").read_text())
    cfg = ModelConfig.from_saved(meta["config"])
    # latency does not depend on the weights; the torch side gets the same architecture
    scorer = LastPositionScorer(SequentialRecommender(cfg)).eval()
    sess = ort_session(str(args.model / "model.onnx"))
    rows = []
    rng = np.random.default_rng(0)
    for batch in (1, 256):
        x = rng.integers(1, cfg.n_items + 1, (batch, cfg.max_len)).astype(np.int64)
        xt = torch.from_numpy(x)
        with torch.inference_mode():
            t_torch = time_call(lambda: scorer(xt), repeats=args.repeats if batch == 1 else 20)
        t_ort = time_call(lambda: sess.run(["scores"], {"item_ids": x}), repeats=args.repeats if batch == 1 else 20)
        rows.append({"batch": batch, "torch_ms": t_torch["p50_ms"], "onnxruntime_ms": t_ort["p50_ms"],
                     "ratio_ort_over_torch": t_ort["p50_ms"] / t_torch["p50_ms"]})
    print(f"model {meta['run']} (L={cfg.n_layers}, d={cfg.d_model}, {cfg.n_items} items, seq {cfg.max_len}); "
          f"torch {torch.__version__} eager, {torch.get_num_threads()} threads vs onnxruntime CPU")
    print(f"{'batch':>5} {'torch ms':>9} {'ORT ms':>8} {'ORT/torch':>10}")
    for r in rows:
        print(f"{r['batch']:>5} {r['torch_ms']:>9.3f} {r['onnxruntime_ms']:>8.3f} {r['ratio_ort_over_torch']:>10.2f}")
    write_json_atomic(args.out, {"rows": rows, "model": meta["run"], "config": meta["config"]})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
