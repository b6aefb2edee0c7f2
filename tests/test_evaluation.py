"""The batched full-ranking evaluator against a naive per-user loop, with ties and seen-item filtering."""

import numpy as np
import pytest
import torch

from srlaw.evaluation import evaluate_naive, evaluate_scores


@pytest.mark.parametrize("seed", range(5))
def test_batched_equals_naive_with_ties_and_seen(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 64, 40
    scores = rng.integers(0, 6, (n_users, n_items + 1)).astype(np.float32)  # many ties on purpose
    targets = rng.integers(1, n_items + 1, n_users)
    hist = rng.integers(0, n_items + 1, (n_users, 12))  # 0 = padding; some histories contain the target
    ours = evaluate_scores(torch.from_numpy(scores.copy()), torch.from_numpy(targets), torch.from_numpy(hist))
    naive = evaluate_naive(scores, targets, hist)
    for k in naive:
        assert ours[k] == pytest.approx(naive[k], abs=1e-9), k


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
