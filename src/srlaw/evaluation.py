"""Full-ranking evaluation (SCIENCE.md §4–5): rank the target among all items, seen items filtered.

Conventions (one place, used by training, benchmarks and tests):
- column 0 (padding) and every item already in the user's input history get score −inf; a target that was seen
  before (a repeat) is therefore a miss at every K — the same as the reference implementations;
- rank of the target = number of *other* items whose score is >= the target's (ties count against the target,
  so a constant model scores no better than chance);
- HR@K = [rank < K], NDCG@K = [rank < K] / log2(rank + 2), MRR = 1 / (rank + 1); all averaged over users.
"""

from __future__ import annotations

import numpy as np
import torch

KS = (1, 5, 10, 20, 50)
MISS_RANK = 2**53  # rank given to a filtered target: beyond every K, MRR contribution ~0


def metric_names(ks=KS) -> list[str]:
    return [f"{m}@{k}" for k in ks for m in ("hr", "ndcg")] + ["mrr"]


def filter_seen_(scores: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    """In place: −inf for padding (column 0) and for every item id present in ``history`` rows."""
    scores.scatter_(1, history.long(), float("-inf"))  # history padding is 0, which is masked anyway
    scores[:, 0] = float("-inf")
    return scores


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based pessimistic rank of each target: #{j ≠ t : s_j >= s_t}; a filtered (−inf) target ranks last."""
    t = scores.gather(1, targets.long()[:, None])
    ranks = (scores >= t).sum(dim=1) - 1
    return torch.where(torch.isneginf(t[:, 0]), torch.full_like(ranks, MISS_RANK), ranks)


def ranking_metric_sums(ranks: torch.Tensor, ks=KS) -> dict[str, float]:
    """Sums (not means) of HR@K, NDCG@K and MRR over a batch, so batches add up exactly."""
    r = ranks.double()
    out = {}
    for k in ks:
        hit = (r < k).double()
        out[f"hr@{k}"] = float(hit.sum())
        out[f"ndcg@{k}"] = float((hit / torch.log2(r + 2)).sum())
    out["mrr"] = float((1.0 / (r + 1)).sum())
    return out


def evaluate_scores(scores: torch.Tensor, targets: torch.Tensor, history: torch.Tensor, ks=KS) -> dict[str, float]:
    """Mean metrics of one score matrix ``[users, n_items + 1]`` (modified in place by the filter)."""
    ranks = target_ranks(filter_seen_(scores, history), targets)
    sums = ranking_metric_sums(ranks, ks)
    return {k: v / len(targets) for k, v in sums.items()}


def evaluate_naive(scores: np.ndarray, targets, histories, ks=KS) -> dict[str, float]:
    """Per-user loop over plain Python lists: the oracle for the batched evaluator."""
    totals = {name: 0.0 for name in metric_names(ks)}
    for row, t, hist in zip(scores, targets, histories):
        row = [float(x) for x in row]
        seen = set(int(h) for h in hist if h != 0) | {0}
        filtered = [float("-inf") if j in seen else s for j, s in enumerate(row)]
        st = filtered[int(t)]
        rank = MISS_RANK if st == float("-inf") else sum(1 for j, s in enumerate(filtered) if j != t and s >= st)
        for k in ks:
            if rank < k:
                totals[f"hr@{k}"] += 1.0
                totals[f"ndcg@{k}"] += 1.0 / np.log2(rank + 2)
        totals["mrr"] += 1.0 / (rank + 1)
    return {k: v / len(targets) for k, v in totals.items()}
