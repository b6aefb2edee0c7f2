"""The evaluation protocol (SCIENCE.md §4–5), defined once for training, evaluation, the Markov probe and export.

Leave-one-out, per user in chronological order: the last item is the **test** target, the second-to-last the
**validation** target, everything before the validation item is **training** data. A model's input for a split is
the user's history before that split's target, **left-padded** with item id 0 so the newest item is always the
last column.

Full ranking (every item of the catalogue is a candidate):

- column 0 (padding) and every item in the user's input history score −inf; a target seen before (a repeat) is
  therefore a miss at every K — the same as the reference implementations;
- rank of the target = number of *other* items scoring >= the target (ties count against the target, so a
  constant model scores no better than chance); a filtered target gets :data:`MISS_RANK`;
- HR@K = [rank < K], NDCG@K = [rank < K] / log2(rank + 2), MRR = 1 / (rank + 1), averaged over users.

Scores may be numpy arrays or torch tensors (on any device); numpy is the only import here.
"""

from __future__ import annotations

import numpy as np

PROTOCOL = "full ranking over all items, seen items filtered, leave-one-out"  # recorded in every law
SPLITS = ("valid", "test")
HELD_OUT = 2  # items at the end of each user that are never training data: the validation and test targets
MIN_ITEMS = HELD_OUT + 1  # a user needs one training item besides the two targets
KS = (1, 5, 10, 20, 50)
MISS_RANK = 2**53  # rank of a filtered target: beyond every K, MRR contribution ~0


# ---------------------------------------------------------------- leave-one-out

def _cut(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return 2 if split == "valid" else 1


def target_positions(offsets, split: str) -> np.ndarray:
    """Index into the flat item array of each user's ``split`` target (users with >= 3 items)."""
    return np.asarray(offsets)[1:] - _cut(split)


def training_ends(offsets) -> np.ndarray:
    """Exclusive end (flat index) of each user's training part."""
    return np.asarray(offsets)[1:] - HELD_OUT


def training_part(sequence) -> np.ndarray:
    """A user's training items: everything before the validation target."""
    return np.asarray(sequence)[:-HELD_OUT]


def history_and_target(sequence, split: str) -> tuple[np.ndarray, int]:
    """(input history, target) of one user's chronological sequence for ``split``."""
    cut = _cut(split)
    seq = np.asarray(sequence)
    return seq[:-cut], int(seq[-cut])


def left_pad(seqs, length: int) -> np.ndarray:
    """Stack 1-D arrays into ``[n, length]`` int64, keeping each one's last ``length`` items, zeros on the left."""
    out = np.zeros((len(seqs), length), dtype=np.int64)
    for i, s in enumerate(seqs):
        s = s[-length:] if length else s[:0]
        if len(s):
            out[i, length - len(s):] = s
    return out


# ---------------------------------------------------------------- ranking metrics

def metric_names(ks=KS) -> list[str]:
    return [f"{m}@{k}" for k in ks for m in ("hr", "ndcg")] + ["mrr"]


def _row_index(scores, n: int):
    if isinstance(scores, np.ndarray):
        return np.arange(n)
    import torch  # only reached with a torch tensor, so torch is already loaded
    return torch.arange(n, device=scores.device)


def filter_seen_(scores, history):
    """In place: −inf for padding (column 0) and every item id in the rows of ``history`` (0 = padding)."""
    scores[_row_index(scores, len(scores))[:, None], history] = float("-inf")
    scores[:, 0] = float("-inf")
    return scores


def target_ranks(scores, targets):
    """0-based pessimistic rank of each target: #{j ≠ t : s_j >= s_t}; a filtered (−inf) target gets MISS_RANK."""
    s_t = scores[_row_index(scores, len(targets)), targets]
    ranks = (scores >= s_t[:, None]).sum(1) - 1
    ranks[s_t == float("-inf")] = MISS_RANK
    return ranks


def ranking_metric_sums(ranks, ks=KS) -> dict[str, float]:
    """Sums (not means) of HR@K, NDCG@K and MRR over a batch of ranks, so batches and processes add up exactly."""
    if not isinstance(ranks, np.ndarray):
        ranks = ranks.detach().cpu().numpy()
    r = ranks.astype(np.float64)
    out = {}
    for k in ks:
        hit = r < k
        out[f"hr@{k}"] = float(hit.sum())
        out[f"ndcg@{k}"] = float((hit / np.log2(r + 2)).sum())
    out["mrr"] = float((1.0 / (r + 1)).sum())
    return out


def evaluate_scores(scores, targets, history, ks=KS) -> dict[str, float]:
    """Mean metrics of one score matrix ``[users, n_items + 1]`` (filtered in place)."""
    sums = ranking_metric_sums(target_ranks(filter_seen_(scores, history), targets), ks)
    return {k: v / len(targets) for k, v in sums.items()}
