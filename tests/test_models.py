"""Model shapes, parameter counts, causality, padding invariance, config validation."""

import pytest
import torch

from srlaw.models import LastPositionScorer, ModelConfig, SequentialRecommender


@pytest.mark.parametrize("backbone", ["sasrec", "hstu"])
def test_shapes_causality_and_left_padding(backbone):
    torch.manual_seed(0)
    m = SequentialRecommender(ModelConfig(n_items=30, max_len=12, n_layers=2, d_model=16, n_heads=2,
                                          backbone=backbone)).eval()
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


@pytest.mark.parametrize("change,message", [
    ({"n_heads": 3, "d_model": 16}, "model.n_heads = 3: expected a divisor of d_model \\(16\\)"),
    ({"max_len": 1}, "model.max_len = 1: expected an integer >= 2"),
    ({"backbone": "gpt"}, "model.backbone = 'gpt': expected one of sasrec, hstu"),
    ({"n_items": 0}, "model.n_items = 0: expected an integer >= 1"),
    ({"dropout": True}, "model.dropout = True: expected a number in \\[0, 1\\)"),
])
def test_bad_config_refused(change, message):
    cfg = ModelConfig(**{"n_items": 10, **change})
    with pytest.raises(ValueError, match=message):
        SequentialRecommender(cfg)
