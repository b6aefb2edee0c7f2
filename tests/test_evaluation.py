"""The protocol's full-ranking metrics against a naive per-user loop, with ties and seen-item filtering, on
torch tensors and numpy arrays alike (training evaluates in torch, the Markov probe in numpy)."""

import numpy as np
import pytest
import torch

from srlaw.data.protocol import KS, MISS_RANK, evaluate_scores, metric_names


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


@pytest.mark.parametrize("seed", range(5))
def test_batched_equals_naive_with_ties_and_seen(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 64, 40
    scores = rng.integers(0, 6, (n_users, n_items + 1)).astype(np.float32)  # many ties on purpose
    targets = rng.integers(1, n_items + 1, n_users)
    hist = rng.integers(0, n_items + 1, (n_users, 12))  # 0 = padding; some histories contain the target
    ours = evaluate_scores(torch.from_numpy(scores.copy()), torch.from_numpy(targets), torch.from_numpy(hist))
    in_numpy = evaluate_scores(scores.copy(), targets, hist)
    naive = evaluate_naive(scores, targets, hist)
    for k in naive:
        assert ours[k] == pytest.approx(naive[k], abs=1e-9), k
        assert in_numpy[k] == ours[k], k


def test_hand_computed_case():
    scores = torch.tensor([[9.0, 1.0, 5.0, 3.0, 5.0, 0.0]])  # item 0 is padding and must not count
    # target 2 ties with item 4 (counted against it) and is below nothing else → rank 1
    m = evaluate_scores(scores.clone(), torch.tensor([2]), torch.tensor([[0]]))
    assert m["hr@1"] == 0 and m["hr@5"] == 1 and m["ndcg@5"] == pytest.approx(1 / np.log2(3))
    # filtering seen item 4 lifts the target to rank 0
    m = evaluate_scores(scores.clone(), torch.tensor([2]), torch.tensor([[4]]))
    assert m["hr@1"] == 1 and m["mrr"] == 1
    # a seen target is a miss
    m = evaluate_scores(scores.clone(), torch.tensor([2]), torch.tensor([[2]]))
    assert m["hr@50"] == 0
