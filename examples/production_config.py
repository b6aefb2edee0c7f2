"""A deployment config that sizes its sequential recommender with a fitted srlaw law.

Only numpy and srlaw.predictor are needed at deploy time (no torch, no DVC). Run:

    python examples/production_config.py --law artifacts/law --target-ndcg 0.05 --max-params 5e6 --max-latency-ms 2
"""

from __future__ import annotations

import argparse
import json
import sys

from srlaw.predictor import Law, LawError
from srlaw.predictor.config import production_config


def choose_model_size(law_path: str, target_ndcg: float | None, max_params: float, max_latency_ms: float | None,
                      variant: str | None = None, data: float | None = None, sha256: str | None = None) -> dict:
    """The deployment's block: the cheapest size predicted to reach the target within budget, with the recipe to
    train it, the prediction and what its interval measured, and the law pinned by its manifest's sha256.

    Works with every law srlaw writes (pipeline, released, library, calibrated); ``variant`` defaults to the
    law's own data. ``sha256`` pins the law's manifest (README, "Trusting a law"): any other artifact is refused.
    """
    law = Law.load(law_path, sha256=sha256)
    budget = {"params": max_params}
    if max_latency_ms is not None:
        budget["latency_ms"] = max_latency_ms
    target = {"ndcg@10": target_ndcg} if target_ndcg is not None else None
    advice = law.advise(target=target, budget=budget, data=data, variant=None if data is not None else variant)
    if not advice.ranked:
        best = advice.best_achievable
        # a student measured distilled on the law's own data may reach what no plain size is predicted to
        return {"status": "infeasible", "binding": advice.binding,
                "best_achievable": {k: best[k] for k in ("n_layers", "d_model", "ndcg@10", "params_total")},
                "distilled": advice.distilled}
    return {"status": "ok", **production_config(law, advice.ranked[0], "ndcg@10")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--law", default="artifacts/law")
    p.add_argument("--target-ndcg", type=float, default=None)
    p.add_argument("--max-params", type=float, default=5e6)
    p.add_argument("--max-latency-ms", type=float, default=None)
    p.add_argument("--variant", default=None, help="a data variant the law knows (default: the law's own data)")
    p.add_argument("--data", type=float, default=None, help="your dataset's data value D (law.json data_axis)")
    p.add_argument("--sha256", default=None, help="pinned sha256 of the law's manifest.json")
    args = p.parse_args(argv)
    try:
        cfg = choose_model_size(args.law, args.target_ndcg, args.max_params, args.max_latency_ms, args.variant,
                                args.data, args.sha256)
    except LawError as e:
        print(f"production_config: {e}", file=sys.stderr)
        return 2
    print(json.dumps(cfg, indent=2))
    return 0 if cfg["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
