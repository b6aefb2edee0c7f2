"""The fused (chunked) full-catalogue cross-entropy equals the plain one, in value and in gradients."""

import pytest
import torch
import torch.nn.functional as F

from srlaw.train.settings import ModelConfig
from srlaw.train.losses import chunk_rows, linear_cross_entropy, sequence_loss
from srlaw.train.models import SequentialRecommender


def _problem(rows=257, classes=1000, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(rows, dim, generator=g, requires_grad=True)
    w = (0.3 * torch.randn(classes, dim, generator=g)).requires_grad_()
    y = torch.randint(0, classes, (rows,), generator=g)
    return h, w, y


@pytest.mark.parametrize("chunk", [1, 64, 100, 257, 1000])
def test_fused_loss_and_gradients_equal_plain(chunk):
    h, w, y = _problem()
    plain = F.cross_entropy(h @ w.T, y)
    gh, gw = torch.autograd.grad(3.0 * plain, [h, w])
    fused = linear_cross_entropy(h, w, y, fused=True, chunk=chunk)
    fh, fw = torch.autograd.grad(3.0 * fused, [h, w])  # the incoming scale reaches both gradients
    assert fused.item() == pytest.approx(plain.item(), rel=1e-6)
    torch.testing.assert_close(fh, gh, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(fw, gw, rtol=1e-5, atol=1e-7)


def test_fused_loss_without_gradients_scores_only():
    h, w, y = _problem()
    with torch.no_grad():
        loss = linear_cross_entropy(h, w, y, fused=True, chunk=50)
    assert loss.grad_fn is None
    assert loss.item() == pytest.approx(F.cross_entropy(h @ w.T, y).item(), rel=1e-6)


def test_chunk_rows_bounded():
    assert chunk_rows(100) == 512  # small catalogue: big chunks keep matmuls efficient
    assert chunk_rows(3416) == 2 ** 20 // 3416
    assert chunk_rows(10 ** 7) == 64


def test_sequence_loss_fused_is_opt_in_and_a_step_matches_plain():
    cfg = ModelConfig(n_items=300, max_len=12, n_layers=1, d_model=16, n_heads=1, dropout=0.0)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 301, (8, 12), generator=g)
    y = torch.randint(1, 301, (8, 12), generator=g)
    y[x == 0] = 0
    grads = {}
    for fused in (True, False):
        torch.manual_seed(0)
        model = SequentialRecommender(cfg)
        loss = sequence_loss(model, x, y, fused=fused)
        assert ("FusedLinearCrossEntropy" in type(loss.grad_fn).__name__) == fused
        loss.backward()
        grads[fused] = (loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()})
    (lf, gf), (lp, gp) = grads[True], grads[False]
    assert "FusedLinearCrossEntropy" not in type(sequence_loss(model, x, y).grad_fn).__name__  # training's default
    assert lf == pytest.approx(lp, rel=1e-6)
    assert gf["item_emb.weight"].abs().sum() > 0  # the tied table gets input- and output-side gradients
    for name in gp:
        torch.testing.assert_close(gf[name], gp[name], rtol=1e-4, atol=1e-6)


def test_fused_loss_under_bf16_autocast_keeps_input_dtypes():
    """GPU training runs under bf16 autocast: gradients come back in each input's dtype, close to the plain loss."""
    h, w, y = _problem()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = linear_cross_entropy(h, w, y, fused=True, chunk=64)
        plain = F.cross_entropy((h @ w.T).float(), y)
    fh, fw = torch.autograd.grad(fused, [h, w])
    gh, gw = torch.autograd.grad(plain, [h, w])
    assert fh.dtype == h.dtype
    assert fw.dtype == w.dtype
    assert fused.item() == pytest.approx(plain.item(), rel=1e-2)
    torch.testing.assert_close(fw, gw, rtol=0.05, atol=2e-3)
    torch.testing.assert_close(fh, gh, rtol=0.05, atol=2e-3)
