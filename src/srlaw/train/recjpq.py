"""RecJPQ item embeddings (Petrov & Macdonald, WSDM 2024): items as concatenations of shared sub-item embeddings.

Every item gets ``n_splits`` sub-ids, one of ``n_centroids`` per split, **before** training and from the training
split only (:func:`assign_codes`); the model learns ``n_splits × n_centroids`` sub-embeddings of width
``d_model / n_splits`` and composes an item's embedding by concatenating its sub-embeddings. Input embeddings and
output scores use the same composed table, so the item table costs ``n_centroids × d_model`` parameters whatever
the catalogue size (plus the codes: one byte per item and split up to 256 centroids, a buffer, not trained).

Assignments:

- ``svd`` (the paper's default): a truncated SVD of the binary user × item matrix of the training split with
  ``n_splits`` components; in each component the items, ordered by their loading, are cut into ``n_centroids``
  equal-count buckets. Items that interact with the same users share sub-ids, so sharing costs little.
- ``random``: uniform sub-ids from the run's seed (the paper's ablation).

Both are deterministic functions of (training split, settings, seed); :data:`ASSIGNMENT_VERSION` names the rule and
is stored with every model that uses it, so a changed rule can never silently reinterpret saved codes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

ASSIGNMENT_VERSION = 1


def code_dtype(n_centroids: int) -> torch.dtype:
    """The narrowest stored type: one byte per code up to 256 centroids (the saving is the point of RecJPQ)."""
    return torch.uint8 if n_centroids <= 256 else torch.int32


def interaction_matrix(train_sequences, n_items: int):
    """Binary users × (n_items + 1) CSR matrix of the training split (column 0, padding, stays empty)."""
    from scipy import sparse

    rows = np.concatenate([np.full(len(s), u, dtype=np.int64) for u, s in enumerate(train_sequences)] or
                          [np.zeros(0, np.int64)])
    cols = np.concatenate([np.asarray(s, dtype=np.int64) for s in train_sequences] or [np.zeros(0, np.int64)])
    m = sparse.csr_matrix((np.ones(len(rows), np.float64), (rows, cols)), shape=(len(train_sequences), n_items + 1))
    m.data[:] = 1.0  # repeated interactions count once
    return m


def _item_factors(matrix, k: int, seed: int) -> np.ndarray:
    """The top-``k`` right singular vectors scaled by their singular values, ``[n_items + 1, k]``, signs fixed."""
    from scipy.sparse.linalg import svds

    n_users, n_cols = matrix.shape
    if k < min(n_users, n_cols) - 1 and n_users * n_cols > 4_000_000:
        rng = np.random.default_rng(seed)
        _, s, vt = svds(matrix, k=k, v0=rng.standard_normal(min(n_users, n_cols)), solver="arpack")
        order = np.argsort(-s, kind="stable")
        s, vt = s[order], vt[order]
    else:  # small matrices (tests, tiny catalogues): the exact dense SVD
        _, s, vt = np.linalg.svd(matrix.toarray(), full_matrices=False)
        s, vt = s[:k], vt[:k]
        if len(s) < k:  # fewer users than splits: the missing components carry no information
            s = np.concatenate([s, np.zeros(k - len(s))])
            vt = np.concatenate([vt, np.zeros((k - len(vt), n_cols))])
    factors = (vt * s[:, None]).T
    # a singular vector's sign is arbitrary: make each component's largest loading positive
    big = np.abs(factors).argmax(axis=0)
    signs = np.sign(factors[big, np.arange(k)])
    return factors * np.where(signs == 0, 1.0, signs)


def assign_codes(train_sequences, n_items: int, n_splits: int, n_centroids: int, assignment: str,
                 seed: int) -> np.ndarray:
    """Sub-ids ``[n_items + 1, n_splits]`` (row 0, padding, all zeros) from the training split only."""
    if assignment == "random":
        codes = np.random.default_rng(seed).integers(0, n_centroids, size=(n_items + 1, n_splits))
    elif assignment == "svd":
        factors = _item_factors(interaction_matrix(train_sequences, n_items), n_splits, seed)[1:]
        codes = np.zeros((n_items + 1, n_splits), dtype=np.int64)
        for j in range(n_splits):
            # rank by loading (ties by item id), then equal-count buckets: every centroid gets items
            order = np.lexsort((np.arange(n_items), factors[:, j]))
            rank = np.empty(n_items, np.int64)
            rank[order] = np.arange(n_items)
            codes[1:, j] = rank * n_centroids // n_items
    else:
        raise ValueError(f"assignment must be 'svd' or 'random', got {assignment!r}")
    codes[0] = 0
    return codes.astype(np.int64)


class JPQItemEmbedding(nn.Module):
    """Drop-in for the tied ``nn.Embedding``: ``module(ids)`` embeds, ``module.weight`` is the composed table.

    The codes are a buffer (saved in checkpoints and in the ONNX graph); :meth:`assign` fills them once, before
    training. Row 0 (padding) composes to zeros.
    """

    def __init__(self, n_items: int, d_model: int, n_splits: int, n_centroids: int):
        super().__init__()
        if d_model % n_splits:
            raise ValueError(f"d_model {d_model} is not a multiple of n_splits {n_splits}")
        self.n_items, self.n_splits, self.n_centroids = n_items, n_splits, n_centroids
        self.sub = nn.Parameter(torch.empty(n_splits * n_centroids, d_model // n_splits))
        nn.init.normal_(self.sub, std=0.02)
        self.register_buffer("codes", torch.zeros(n_items + 1, n_splits, dtype=code_dtype(n_centroids)))
        # split j's sub-ids live in rows [j * n_centroids, (j + 1) * n_centroids) of ``sub``
        self.register_buffer("offsets", torch.arange(n_splits) * n_centroids, persistent=False)

    def assign(self, codes) -> None:
        codes = torch.as_tensor(np.asarray(codes), dtype=torch.int64)
        if codes.shape != self.codes.shape:
            raise ValueError(f"codes must have shape {tuple(self.codes.shape)}, got {tuple(codes.shape)}")
        if codes.min() < 0 or codes.max() >= self.n_centroids:
            raise ValueError(f"codes must lie in [0, {self.n_centroids})")
        with torch.no_grad():
            self.codes.copy_(codes.to(self.codes.dtype))

    def forward(self, item_ids: torch.Tensor) -> torch.Tensor:
        rows = self.codes[item_ids].long() + self.offsets  # [..., n_splits]
        emb = nn.functional.embedding(rows, self.sub)  # [..., n_splits, d / n_splits]
        emb = emb.flatten(-2)
        return emb * (item_ids != 0).unsqueeze(-1).to(emb.dtype)

    @property
    def weight(self) -> torch.Tensor:
        """The composed table ``[n_items + 1, d_model]``: what scores and the full-softmax loss multiply with."""
        return self.forward(torch.arange(self.n_items + 1, device=self.codes.device))
