"""Sequential-recommendation transformers as plain ``nn.Module``s: SASRec and an HSTU-style block.

Reading order: SASRec attention → feed-forward → SASRec block → HSTU block → the model that stacks them (the
shape, :class:`srlaw.train.settings.ModelConfig`, lives with every other parameter). Input is a left-padded int64 tensor of item ids ``[batch, seq]`` (0 = padding, so the most recent item is
always the last column); output is hidden states ``[batch, seq, d_model]``. Scores over the catalogue come from
the tied item embedding: ``hidden @ item_emb.weight.T`` (column 0 is padding).

Attention uses ``F.scaled_dot_product_attention`` (SASRec) or plain matmuls (HSTU), both of which export to ONNX
with dynamic batch and sequence axes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from srlaw.train.settings import ModelConfig
from srlaw.train.recjpq import JPQItemEmbedding


def attention_mask(item_ids: torch.Tensor) -> torch.Tensor:
    """Boolean ``[batch, 1, seq, seq]``: causal, no attention to padding, but always to oneself.

    Letting a padded query see itself keeps its softmax row finite (a row of all −inf gives NaN).
    """
    pos = torch.arange(item_ids.shape[1], device=item_ids.device)
    causal = pos[None, :] <= pos[:, None]  # comparisons, not tril/eye: those export to ops ORT lacks for bool
    keys = (item_ids != 0)[:, None, None, :]
    return (causal & keys) | (pos[None, :] == pos[:, None])


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout if cfg.attention_dropout else 0.0  # on attention probabilities

    def forward(self, x: torch.Tensor, mask: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        """Queries from ``x``; keys and values from ``kv`` (default ``x``)."""
        b, t, d = x.shape
        if kv is None:
            q, k, v = self.qkv(x).split(d, dim=2)
        else:  # one weight matrix either way, so both block orders have the same parameters
            w_q, w_kv = self.qkv.weight.split([d, 2 * d])
            b_q, b_kv = self.qkv.bias.split([d, 2 * d])
            q, (k, v) = F.linear(x, w_q, b_q), F.linear(kv, w_kv, b_kv).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        hidden = cfg.ffn_mult * cfg.d_model
        act = nn.ReLU() if cfg.activation == "relu" else nn.GELU()
        self.net = nn.Sequential(nn.Linear(cfg.d_model, hidden), act, nn.Dropout(cfg.dropout),
                                 nn.Linear(hidden, cfg.d_model))

    def forward(self, x):
        return self.net(x)


class SASRecBlock(nn.Module):
    """A SASRec block in one of two orders (the same parameters either way):

    - ``pre_ln``: x + Drop(Attn(LN(x))), then x + Drop(FFN(LN(x))) — the GPT-2 order;
    - ``original`` (Kang & McAuley 2018): q = LN(x); x = q + Attn(q, keys and values from x); x = LN(x);
      x + Drop(FFN(x)) — the residual stream is renormalised inside every block.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.original = cfg.block == "original"
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn, self.ffn = CausalSelfAttention(cfg), FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mask):
        if self.original:
            q = self.ln1(x)
            x = self.ln2(q + self.drop(self.attn(q, mask, kv=x)))
            return x + self.drop(self.ffn(x))
        x = x + self.drop(self.attn(self.ln1(x), mask))
        return x + self.drop(self.ffn(self.ln2(x)))


class HSTUBlock(nn.Module):
    """HSTU-style block (Zhai et al. 2024): pointwise SiLU attention with a relative-position bias, gated by U.

    U, V, Q, K = split(SiLU(W·LN(x))); A = SiLU(QKᵀ/√d_h + rab) ⊙ mask / n_valid; y = W_o(LN(A·V) ⊙ U). No FFN.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.max_len = cfg.n_heads, cfg.max_len
        self.ln_in = nn.LayerNorm(cfg.d_model)
        self.uvqk = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.ln_attn = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.rel_bias = nn.Embedding(cfg.max_len, cfg.n_heads)  # bias per (clamped) distance and head
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, mask):
        b, t, d = x.shape
        h = self.n_heads
        u, v, q, k = F.silu(self.uvqk(self.ln_in(x))).split(d, dim=2)
        q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
        pos = torch.arange(t, device=x.device)
        dist = (pos[:, None] - pos[None, :]).clamp(0, self.max_len - 1)
        rab = self.rel_bias(dist).permute(2, 0, 1)[None]  # [1, h, t, t]
        scores = F.silu(q @ k.transpose(-1, -2) / math.sqrt(d // h) + rab) * mask
        n_valid = mask.sum(-1, keepdim=True).clamp(min=1)
        y = (scores / n_valid) @ v
        y = y.transpose(1, 2).reshape(b, t, d)
        return x + self.drop(self.out(self.ln_attn(y) * u))


INIT_STD = 0.02  # init "normal": the std of every linear and embedding weight (BERT, GPT-2, SASRec+)


def init_weights(model: nn.Module, scheme: str) -> None:
    """Weights at initialisation: ``normal`` draws every linear and embedding weight from N(0, INIT_STD); ``xavier``
    draws linear weights xavier-uniform and embeddings from N(0, INIT_STD). Biases 0, LayerNorm 1/0, padding row 0.

    With ``normal`` each block's output starts small next to the √d-scaled item embedding, so the first epochs
    train the embeddings through a near-identity stack (benchmarks/bench_time_to_quality.py).
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            if scheme == "xavier":
                nn.init.xavier_uniform_(module.weight)
            else:
                nn.init.normal_(module.weight, std=INIT_STD)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=INIT_STD)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class SequentialRecommender(nn.Module):
    """Item + position embeddings, a stack of blocks, a final LayerNorm; scores via the tied item embedding."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        if cfg.item_embedding == "jpq":  # composed from shared sub-item embeddings; codes assigned before training
            self.item_emb = JPQItemEmbedding(cfg.n_items, cfg.d_model, cfg.jpq.n_splits, cfg.jpq.n_centroids)
        else:
            self.item_emb = nn.Embedding(cfg.n_items + 1, cfg.d_model, padding_idx=0)
        # HSTU carries order in its relative bias; SASRec needs learned absolute positions.
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model) if cfg.backbone == "sasrec" else None
        self.emb_drop = nn.Dropout(cfg.dropout)
        block = SASRecBlock if cfg.backbone == "sasrec" else HSTUBlock
        self.blocks = nn.ModuleList(block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        init_weights(self, cfg.init)

    def forward(self, item_ids: torch.Tensor, layers: bool = False):
        """Hidden states ``[batch, seq, d_model]`` for left-padded ``item_ids`` (seq <= max_len); with ``layers``,
        also each block's output (before the final LayerNorm), as distillation aligns them."""
        x = self.item_emb(item_ids)
        if self.cfg.scale_embedding:  # the tied table stays small (it scores too); the input is brought to O(1)
            x = x * math.sqrt(self.cfg.d_model)
        if self.pos_emb is not None:
            t = item_ids.shape[1]
            # positions count back from the newest item, so left padding never shifts the recent ones
            pos = torch.arange(self.cfg.max_len - t, self.cfg.max_len, device=item_ids.device)
            x = x + self.pos_emb(pos)[None]
        keep = (item_ids != 0).unsqueeze(-1).to(x.dtype)
        x = self.emb_drop(x) * keep
        mask = attention_mask(item_ids)
        states = []
        for blk in self.blocks:
            x = blk(x, mask) * keep
            states.append(x)
        return (self.ln_f(x), states) if layers else self.ln_f(x)

    def score_last(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Scores over all items ``[batch, n_items + 1]`` at the last position (column 0 = padding)."""
        h = self.forward(item_ids)[:, -1, :]
        return h @ self.item_emb.weight.T

    def get_num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; ``non_embedding=True`` leaves out item and position embeddings.

        The law's size axis is the non-embedding count (Kaplan et al. 2020): embedding rows scale with the
        catalogue, not with model capacity, and position embeddings scale with max_len. RecJPQ's item table counts
        its sub-item embeddings (its codes are a buffer, not parameters).
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= sum(p.numel() for p in self.item_emb.parameters())
            if self.pos_emb is not None:
                n -= self.pos_emb.weight.numel()
        return n


class LastPositionScorer(nn.Module):
    """Wraps a model as ``item_ids -> scores at the last position``: the ONNX export signature and serving contract.

    Input ``item_ids`` int64 ``[batch, seq]``, left-padded with 0; output ``scores`` ``[batch, n_items + 1]``,
    column 0 (padding) = −inf. Every rule lives in the graph, so onnxruntime serves exactly what torch computes:

    - an id outside ``[0, n_items]`` (negative, or past the catalogue) is treated as padding;
    - a sequence longer than ``max_len`` is scored on its last ``max_len`` items;
    - a row with no item left (an empty sequence, all padding, only unknown ids) gets ``fallback`` — the
      training split's item popularity when the exporter provides it, else zeros.
    """

    def __init__(self, model: SequentialRecommender, fallback: torch.Tensor | None = None):
        super().__init__()
        self.model = model
        n = model.cfg.n_items + 1
        fallback = torch.zeros(n) if fallback is None else torch.as_tensor(fallback, dtype=torch.float32)
        if fallback.shape != (n,):
            raise ValueError(f"fallback must have n_items + 1 = {n} scores, got shape {tuple(fallback.shape)}")
        self.register_buffer("fallback", fallback)

    def forward(self, item_ids):
        cfg = self.model.cfg
        ids = torch.where((item_ids < 0) | (item_ids > cfg.n_items), torch.zeros_like(item_ids), item_ids)
        # one padding column in front: an empty sequence still has a position, and a longer one is cut to max_len
        ids = F.pad(ids, (1, 0))[:, -cfg.max_len:]
        scores = self.model.score_last(ids)
        empty = (ids != 0).sum(dim=1, keepdim=True) == 0
        scores = torch.where(empty, self.fallback[None, :].to(scores.dtype), scores)
        pad = torch.arange(scores.shape[1], device=scores.device) == 0
        return scores.masked_fill(pad, float("-inf"))
