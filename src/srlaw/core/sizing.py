"""Parameter counts of srlaw's models as closed-form numpy expressions (no torch).

The predictor sizes candidate configurations without building them; a test checks these formulas against
``SequentialRecommender.get_num_params`` for both backbones, so they cannot drift from the model code.
"""

from __future__ import annotations

import numpy as np


SHAPE_KEYS = ("backbone", "ffn_mult", "n_heads", "max_len")  # what sizes a model besides depth, width, catalogue
JPQ_DEFAULT = {"n_splits": 8, "n_centroids": 256, "assignment": "svd"}  # RecJPQ settings when none are given
# the largest sizes srlaw sizes or builds: every count below stays an exact int64 (at the caps, a model's
# parameters are under 10^15), and a size past them is refused before anything is allocated
MAX_LAYERS, MAX_WIDTH, MAX_HEADS, MAX_FFN_MULT, MAX_SEQ = 256, 16_384, 256, 64, 65_536
MAX_ITEMS = 10_000_000_000
MAX_SEED = 2**32 - 1  # numpy's and Lightning's seeds are 32-bit
BYTES_PER_PARAM = 16  # fp32 weights, gradients and Adam's two moments: the floor of a training run's memory


def training_bytes(n_params: int) -> int:
    """The least memory a training run of ``n_params`` parameters needs (activations come on top)."""
    return int(n_params) * BYTES_PER_PARAM


def non_embedding_params(n_layers, d_model, *, backbone: str, ffn_mult: int, n_heads: int, max_len: int):
    """Parameters outside the item and position embeddings (the law's size axis)."""
    L = np.asarray(n_layers, dtype=np.int64)
    d = np.asarray(d_model, dtype=np.int64)
    ln = 2 * d
    if backbone == "sasrec":
        attn = 3 * d * d + 3 * d + d * d + d
        h = ffn_mult * d
        ffn = d * h + h + h * d + d
        per_layer = 2 * ln + attn + ffn
    elif backbone == "hstu":
        # LN in, UVQK projection, LN on the attention output, output projection, relative bias per head
        per_layer = ln + 4 * d * d + 4 * d + ln + d * d + d + max_len * n_heads
    else:
        raise ValueError(f"backbone must be 'sasrec' or 'hstu', got {backbone!r}")
    return L * per_layer + ln  # + the final LayerNorm


def item_embedding_params(d_model, n_items: int, item_embedding: str = "full", jpq: dict | None = None):
    """The item table: ``(n_items + 1) × d`` rows in full, ``n_centroids × d`` with RecJPQ (whatever the catalogue)."""
    d = np.asarray(d_model, dtype=np.int64)
    if item_embedding == "full":
        return (n_items + 1) * d
    if item_embedding == "jpq":
        return int(jpq["n_centroids"]) * d  # n_splits tables of n_centroids rows, each d / n_splits wide
    raise ValueError(f"item_embedding must be 'full' or 'jpq', got {item_embedding!r}")


def total_params(n_layers, d_model, n_items: int, *, backbone: str, ffn_mult: int, n_heads: int, max_len: int,
                 item_embedding: str = "full", jpq: dict | None = None):
    """All parameters: non-embedding + item table (:func:`item_embedding_params`) + position embedding (SASRec)."""
    d = np.asarray(d_model, dtype=np.int64)
    emb = item_embedding_params(d_model, n_items, item_embedding, jpq) + (max_len * d if backbone == "sasrec" else 0)
    shape = {"backbone": backbone, "ffn_mult": ffn_mult, "n_heads": n_heads, "max_len": max_len}
    return non_embedding_params(n_layers, d_model, **shape) + emb
