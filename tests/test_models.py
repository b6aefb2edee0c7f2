"""Model shapes, parameter counts, causality, padding invariance, the default recipe, config validation."""

import math

import pytest
import torch
import torch.nn.functional as F

from srlaw.train.models import INIT_STD, LastPositionScorer, ModelConfig, SequentialRecommender


@pytest.mark.parametrize("backbone,block", [("sasrec", "original"), ("sasrec", "pre_ln"), ("hstu", "original")])
def test_shapes_causality_and_left_padding(backbone, block):
    torch.manual_seed(0)
    m = SequentialRecommender(ModelConfig(n_items=30, max_len=12, n_layers=2, d_model=16, n_heads=2,
                                          backbone=backbone, block=block)).eval()
    x = torch.randint(1, 31, (3, 8))
    h = m(x)
    assert h.shape == (3, 8, 16)
    y = x.clone()
    y[:, -1] = (y[:, -1] % 30) + 1  # change only the last item
    assert torch.allclose(m(y)[:, :-1], h[:, :-1], atol=1e-6)  # earlier positions never see the future
    padded = torch.cat([torch.zeros(3, 4, dtype=torch.long), x], dim=1)
    assert torch.allclose(m.score_last(padded), m.score_last(x), atol=1e-5)  # left padding changes nothing
    s = LastPositionScorer(m)(x)
    assert s.shape == (3, 31) and torch.isneginf(s[:, 0]).all()


def test_param_counts_separate_embeddings():
    cfg = ModelConfig(n_items=100, max_len=20, n_layers=2, d_model=8)
    m = SequentialRecommender(cfg)
    total = sum(p.numel() for p in m.parameters())
    assert m.get_num_params(non_embedding=False) == total
    assert m.get_num_params(non_embedding=True) == total - 101 * 8 - 20 * 8
    bigger = SequentialRecommender(ModelConfig(n_items=100, max_len=20, n_layers=4, d_model=8))
    assert bigger.get_num_params() == 2 * m.get_num_params() - m.ln_f.weight.numel() - m.ln_f.bias.numel()


def test_default_recipe_at_initialisation():
    """The recipe chosen by benchmarks/bench_time_to_quality.py; a silent change to it fails here."""
    cfg = ModelConfig(n_items=2000, max_len=50, n_layers=2, d_model=64)
    assert (cfg.block, cfg.activation, cfg.init, cfg.scale_embedding) == ("original", "relu", "normal", True)
    assert cfg.attention_dropout is False
    torch.manual_seed(0)
    m = SequentialRecommender(cfg)
    linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    assert len(linears) == 2 * 4  # qkv, proj, two feed-forward layers per block
    for lin in linears:
        assert abs(float(lin.weight.detach().std()) - INIT_STD) < 0.1 * INIT_STD  # xavier would give ≈ 0.1–0.2 here
        assert float(lin.bias.detach().abs().max()) == 0.0
    assert abs(float(m.item_emb.weight[1:].detach().std()) - INIT_STD) < 0.05 * INIT_STD
    assert float(m.item_emb.weight[0].detach().abs().max()) == 0.0
    for ln in [m.ln_f, *(b.ln1 for b in m.blocks), *(b.ln2 for b in m.blocks)]:
        assert torch.equal(ln.weight, torch.ones(64))
        assert torch.equal(ln.bias, torch.zeros(64))
    assert isinstance(m.blocks[0].ffn.net[1], torch.nn.ReLU)
    xavier = SequentialRecommender(ModelConfig(n_items=2000, max_len=50, n_layers=2, d_model=64, init="xavier"))
    assert float(xavier.blocks[0].ffn.net[0].weight.detach().std()) > 5 * INIT_STD


def test_original_block_is_the_sasrec_order():
    """q = LN1(x); x = LN2(q + Attn(q; keys, values from x)); out = x + FFN(x) (dropout off)."""
    torch.manual_seed(1)
    cfg = ModelConfig(n_items=20, max_len=6, n_layers=1, d_model=8, block="original", init="xavier")
    blk = SequentialRecommender(cfg).blocks[0].eval()
    x = torch.randn(2, 6, 8)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()[None, None]
    q = blk.ln1(x)
    w_q, w_k, w_v = blk.attn.qkv.weight.split(8)
    b_q, b_k, b_v = blk.attn.qkv.bias.split(8)
    scores = (F.linear(q, w_q, b_q) @ F.linear(x, w_k, b_k).transpose(1, 2)) / math.sqrt(8)
    attn = torch.softmax(scores.masked_fill(~mask[0], float("-inf")), -1) @ F.linear(x, w_v, b_v)
    h = blk.ln2(q + blk.attn.proj(attn))
    expected = h + blk.ffn(h)
    assert torch.allclose(blk(x, mask), expected, atol=1e-5)
    pre = SequentialRecommender(ModelConfig(**{**cfg.to_dict(), "block": "pre_ln"}))
    assert pre.get_num_params(non_embedding=False) == SequentialRecommender(cfg).get_num_params(non_embedding=False)


def test_embedding_scale_switch():
    torch.manual_seed(0)
    cfg = ModelConfig(n_items=20, max_len=6, n_layers=1, d_model=16, dropout=0.0)
    scaled = SequentialRecommender(cfg).eval()
    unscaled = SequentialRecommender(ModelConfig(**{**cfg.to_dict(), "scale_embedding": False})).eval()
    unscaled.load_state_dict(scaled.state_dict())
    x = torch.randint(1, 21, (2, 6))
    assert not torch.allclose(scaled(x), unscaled(x), atol=1e-4)
    with torch.no_grad():
        unscaled.item_emb.weight *= 4.0  # √16 folded into the table: the same input to the blocks
    assert torch.allclose(scaled(x), unscaled(x), atol=1e-5)
    for m in (scaled, unscaled):  # and the scale has no parameter of its own
        assert m.get_num_params(non_embedding=False) == scaled.get_num_params(non_embedding=False)


@pytest.mark.parametrize("change,message", [
    ({"n_heads": 3, "d_model": 16}, "model.n_heads = 3: expected a divisor of d_model \\(16\\)"),
    ({"max_len": 1}, "model.max_len = 1: expected an integer in \\[2, 65536\\]"),
    ({"backbone": "gpt"}, "model.backbone = 'gpt': expected one of sasrec, hstu"),
    ({"n_items": 0}, "model.n_items = 0: expected an integer in \\[1, 10,000,000,000\\]"),
    ({"dropout": True}, "model.dropout = True: expected a number in \\[0, 1\\)"),
    ({"block": "post"}, "model.block = 'post': expected one of pre_ln, original"),
    ({"init": "kaiming"}, "model.init = 'kaiming': expected one of normal, xavier"),
    ({"activation": "silu"}, "model.activation = 'silu': expected one of gelu, relu"),
])
def test_bad_config_refused(change, message):
    cfg = ModelConfig(**{"n_items": 10, **change})
    with pytest.raises(ValueError, match=message):
        SequentialRecommender(cfg)


def test_a_config_saved_before_the_recipe_keys_keeps_its_recipe():
    """A checkpoint from before the recipe became a setting was trained pre-LN/GELU/xavier: it must not load as
    today's default block (same parameter names, so nothing else would notice)."""
    old = ModelConfig.from_saved({"n_items": 10, "n_layers": 1, "d_model": 8})
    assert (old.block, old.activation, old.init, old.attention_dropout) == ("pre_ln", "gelu", "xavier", True)
    new = ModelConfig.from_saved(ModelConfig(n_items=10).to_dict())
    assert (new.block, new.activation, new.init, new.attention_dropout) == ("original", "relu", "normal", False)
    # saved between the recipe keys and the attention_dropout key: trained with dropout on attention probabilities
    mid = ModelConfig.from_saved({k: v for k, v in ModelConfig(n_items=10).to_dict().items() if k != "attention_dropout"})
    assert (mid.block, mid.attention_dropout) == ("original", True)
