"""Next-item training losses: cross-entropy over the whole catalogue (plain or fused by row chunks), or against
sampled negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F

CE_CHUNK_ELEMENTS = 2 ** 20  # logits formed at once by the fused loss (4 MB fp32): cache-sized, measured fastest


def chunk_rows(n_classes: int) -> int:
    """Rows per chunk of the fused loss: about CE_CHUNK_ELEMENTS logits, 64 to 512 rows (so matmuls stay large)."""
    return min(512, max(64, CE_CHUNK_ELEMENTS // n_classes))


class _FusedLinearCrossEntropy(torch.autograd.Function):
    """mean_i CE(softmax(h_i · wᵀ), y_i), taken ``chunk`` rows at a time.

    The loss is a scalar, so its gradients are known in the forward pass up to the incoming scale: each chunk's
    softmax becomes its gradient in place and is multiplied out at once. No [rows, n_items] tensor outlives its
    chunk — the plain path keeps logits, log-softmax and their gradient for the whole batch.
    """

    @staticmethod
    def forward(ctx, h, w, y, chunk):
        n = h.shape[0]
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros(w.shape, dtype=torch.float32, device=w.device)
        for s in range(0, n, chunk):
            hc, yc = h[s:s + chunk], y[s:s + chunk]
            logits = (hc @ w.T).float()
            lse = torch.logsumexp(logits, dim=1)
            total += (lse - logits.gather(1, yc[:, None]).squeeze(1)).sum()
            probs = logits.sub_(lse[:, None]).exp_()  # softmax, in the logits' memory
            probs[torch.arange(len(yc), device=h.device), yc] -= 1.0  # d CE / d logits
            g = probs.to(h.dtype)
            grad_h[s:s + chunk] = g @ w.to(h.dtype)
            grad_w += (g.T @ hc).float()
        ctx.save_for_backward(grad_h / n, (grad_w / n).to(w.dtype))
        return total / n

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out.to(grad_h.dtype), grad_w * grad_out.to(grad_w.dtype), None, None


def linear_cross_entropy(h: torch.Tensor, w: torch.Tensor, y: torch.Tensor, fused: bool = True,
                         chunk: int | None = None) -> torch.Tensor:
    """Mean cross-entropy of the scores ``h @ w.T`` ([rows, classes]) against class indices ``y``; ``chunk`` rows
    at a time when fused (default: :func:`chunk_rows`)."""
    chunk = chunk or chunk_rows(w.shape[0])
    if not fused:
        return F.cross_entropy((h @ w.T).float(), y)
    if not (torch.is_grad_enabled() and (h.requires_grad or w.requires_grad)):  # scoring only: no gradients
        return sum(F.cross_entropy((h[s:s + chunk] @ w.T).float(), y[s:s + chunk], reduction="sum")
                   for s in range(0, len(h), chunk)) / len(h)
    return _FusedLinearCrossEntropy.apply(h, w, y, chunk)


def sequence_loss(model, inputs, targets, loss: str = "full", n_negatives: int = 256, fused: bool = False):
    """Cross-entropy of next-item prediction, logits computed only at non-padding positions.

    ``fused`` (full loss only): the chunked loss, 0.70–0.75× the step on CPU (benchmarks/bench_step_cost.py) but
    opt-in — as training's default it made a killed-and-resumed run differ from the uninterrupted one at the 1e-9
    level in some processes (tests/test_training.py), and reproducibility comes first until that is found."""
    h = model(inputs)
    keep = targets != 0
    hv, y = h[keep], targets[keep]
    emb = model.item_emb.weight
    if loss == "full":
        # padding (row 0) is never a target: leave it out instead of masking a full copy of the logits
        return linear_cross_entropy(hv, emb[1:], y - 1, fused=fused)
    negs = torch.randint(1, emb.shape[0], (n_negatives,), device=inputs.device)
    pos = (hv * emb[y]).sum(-1, keepdim=True)
    neg = hv @ emb[negs].T
    neg = neg.masked_fill(negs[None, :] == y[:, None], float("-inf"))  # an accidental hit is no negative
    logits = torch.cat([pos, neg], dim=1).float()
    return F.cross_entropy(logits, torch.zeros(len(y), dtype=torch.long, device=inputs.device))
