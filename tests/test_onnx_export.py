"""ONNX export parity: onnxruntime vs torch on varied lengths, batch 1 and many; both backbones."""

import numpy as np
import pytest
import torch

from srlaw.train.models import LastPositionScorer, ModelConfig, SequentialRecommender
from srlaw.train.onnx_export import load_checkpoint_model, onnx_bytes, ort_session, parity
from srlaw.data.protocol import left_pad


def varied_inputs(n_rows, n_items, max_len, seed=0):
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(1, n_items + 1, rng.integers(1, max_len + 1)) for _ in range(n_rows)]
    return left_pad(seqs, max_len)


@pytest.mark.parametrize("backbone", ["sasrec", "hstu"])
def test_onnxruntime_matches_torch(backbone):
    torch.manual_seed(0)
    model = SequentialRecommender(ModelConfig(n_items=300, max_len=24, n_layers=2, d_model=32, n_heads=2,
                                              backbone=backbone)).eval()
    sess = ort_session(onnx_bytes(model))
    x = varied_inputs(300, 300, 24)
    many = parity(model, sess, x)
    assert many["max_abs_diff"] <= 1e-4 and many["top10_identical"] and many["padding_masked"]
    for row in x[:20]:  # batch 1
        one = parity(model, sess, row[None])
        assert one["max_abs_diff"] <= 1e-4 and one["top10_identical"]
    short = parity(model, sess, x[:50, -7:])  # a shorter sequence axis than at export time
    assert short["max_abs_diff"] <= 1e-4 and short["top10_identical"]


def test_checkpoint_roundtrip_without_lightning(tmp_path):
    from srlaw.train.trainer import SeqRecModule
    module = SeqRecModule(ModelConfig(n_items=40, max_len=8, n_layers=1, d_model=8).to_dict())
    import lightning as L
    trainer = L.Trainer(max_epochs=0, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = load_checkpoint_model(tmp_path / "m.ckpt")
    x = torch.randint(1, 41, (4, 8))
    assert torch.allclose(LastPositionScorer(loaded)(x), LastPositionScorer(module.model.eval())(x))


# ---- the serving contract: hostile or odd inputs, the same answer in torch and onnxruntime

@pytest.fixture(scope="module", params=["sasrec", "hstu"])
def served(request):
    torch.manual_seed(1)
    n_items, max_len = 60, 12
    model = SequentialRecommender(ModelConfig(n_items=n_items, max_len=max_len, n_layers=2, d_model=16,
                                              backbone=request.param)).eval()
    fallback = torch.arange(n_items + 1, dtype=torch.float32) / 1000.0  # a recognisable "popularity"
    return model, fallback, ort_session(onnx_bytes(model, fallback=fallback))


def both(served, x):
    """(torch, onnxruntime) scores of int64 input ``x``; asserts they agree."""
    model, fallback, sess = served
    with torch.no_grad():
        ref = LastPositionScorer(model, fallback)(torch.from_numpy(x)).numpy()
    got = sess.run(["scores"], {"item_ids": x})[0]
    assert got.shape == ref.shape and np.array_equal(np.isneginf(ref), np.isneginf(got))
    finite = np.isfinite(ref)
    assert np.max(np.abs(ref[finite] - got[finite]), initial=0.0) <= 1e-4
    return ref, got


def test_ids_outside_the_catalogue_are_padding(served):
    x = varied_inputs(16, 60, 12, seed=3)
    hostile = x.copy()
    hostile[:, :4] = np.array([-1, -60, 61, 2**40])  # negative, past the catalogue, huge
    clean = x.copy()
    clean[:, :4] = 0
    for a, b in zip(both(served, hostile), both(served, clean)):
        assert np.allclose(a, b, atol=1e-6)


def test_longer_than_max_len_scores_the_last_max_len_items(served):
    rng = np.random.default_rng(4)
    long = rng.integers(1, 61, (8, 30)).astype(np.int64)
    for a, b in zip(both(served, long), both(served, long[:, -12:])):
        assert np.allclose(a, b, atol=1e-6)


def test_empty_and_all_padding_rows_score_by_fallback(served):
    _, fallback, _ = served
    expected = fallback.numpy().copy()
    expected[0] = -np.inf
    for x in (np.zeros((3, 0), np.int64), np.zeros((3, 5), np.int64), np.full((2, 4), -7, np.int64)):
        for scores in both(served, x):
            assert np.array_equal(scores, np.tile(expected, (len(x), 1)))
    mixed = np.array([[0, 0, 0], [0, 5, 9]], np.int64)  # one empty row beside a real one
    ref, _ = both(served, mixed)
    assert np.array_equal(ref[0], expected) and not np.array_equal(ref[1], expected)


def test_padding_column_in_front_changes_nothing(served):
    """The scorer's extra padding column leaves ordinary inputs as the model scores them."""
    model, fallback, _ = served
    x = torch.from_numpy(varied_inputs(20, 60, 12, seed=5))
    with torch.no_grad():
        plain = model.score_last(x)
        served_scores = LastPositionScorer(model, fallback)(x)
    assert torch.allclose(served_scores[:, 1:], plain[:, 1:], atol=1e-5)


# ---- the one checked export (the pipeline's reference model and srlaw distill's student)

def _tiny_dataset(n_users=30, n_items=50, seed=0):
    from srlaw.data.dataset import SequenceDataset
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(1, n_items + 1, rng.integers(4, 15)) for _ in range(n_users)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    return SequenceDataset(np.concatenate(seqs).astype(np.int32), offsets, n_items, np.arange(n_users),
                           np.concatenate([[-1], np.arange(n_items)]).astype(np.int64))


def test_export_checked_writes_only_a_model_onnx_runtime_agrees_with(tmp_path, monkeypatch):
    from srlaw.core.errors import ExportError
    from srlaw.pipeline import export_stage
    torch.manual_seed(0)
    ds = _tiny_dataset()
    model = SequentialRecommender(ModelConfig(n_items=ds.n_items, max_len=10, n_layers=1, d_model=16)).eval()
    check = export_stage.export_checked(model, ds, tmp_path / "model.onnx", rows=20, seed=0)
    assert check["max_abs_diff"] <= 1e-4 and check["top10_identical"] and (tmp_path / "model.onnx").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]

    import srlaw.train.onnx_export as onnx_export
    monkeypatch.setattr(onnx_export, "parity", lambda *a, **k: {"max_abs_diff": 0.5, "top10_identical": False})
    with pytest.raises(ExportError, match="disagrees"):
        export_stage.export_checked(model, ds, tmp_path / "other.onnx", rows=20, seed=0)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # nothing written, no partial file left
