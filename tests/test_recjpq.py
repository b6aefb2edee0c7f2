"""RecJPQ item embeddings: code assignment from training data only, composition and gradients, exact parameter
counts (model = sizing = predictor), checkpoints and ONNX, a real run on the embedded data, advice."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from srlaw.pipeline.params import load_params
from srlaw.train.settings import ModelConfig, TrainConfig
from srlaw.data.dataset import build_dataset, save_dataset
from srlaw.train.models import LastPositionScorer, SequentialRecommender
from srlaw.train.onnx_export import load_checkpoint_model, onnx_bytes, ort_session, parity
from srlaw.predictor import Law
from srlaw.data.protocol import evaluate_scores
from srlaw.data.readers import Interactions
from srlaw.train.recjpq import JPQItemEmbedding, assign_codes
from srlaw.core.sizing import non_embedding_params, total_params
from srlaw.train.trainer import SequenceDataModule, train_run

from tests.conftest import ROOT


def _dataset(tmp_path, name, sequences):
    users = np.concatenate([np.full(len(s), u) for u, s in enumerate(sequences)])
    ds, _ = build_dataset(Interactions(users, np.concatenate(sequences), None, None, "synthetic"))
    save_dataset(ds, tmp_path / name)
    return tmp_path / name


def _codes(path, assignment="svd", seed=0, n_splits=4, n_centroids=8):
    dm = SequenceDataModule(path, 10, 32, 512, seed)
    return assign_codes(dm.train_sequences, dm.n_items, n_splits, n_centroids, assignment, seed)


def test_assignment_is_deterministic_and_sees_only_the_training_split(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.permutation(np.arange(1, 41))[:12] for _ in range(60)]
    # each user's last two items are validation and test: replace them with other items
    held_out_changed = [np.concatenate([s[:-2], (s[-2:] % 40) + 1]) for s in seqs]
    # the same users with one training item changed
    train_changed = [np.concatenate([[(s[0] % 40) + 1], s[1:]]) if u < 30 else s for u, s in enumerate(seqs)]
    a = _dataset(tmp_path, "a", seqs)
    for assignment in ("svd", "random"):
        first = _codes(a, assignment)
        assert np.array_equal(first, _codes(a, assignment))  # deterministic
        assert np.array_equal(first, _codes(_dataset(tmp_path, f"b-{assignment}", held_out_changed), assignment))
        assert first.shape == (41, 4) and (first[0] == 0).all() and first.min() >= 0 and first.max() < 8
    assert not np.array_equal(_codes(a, "svd"), _codes(_dataset(tmp_path, "c", train_changed), "svd"))
    assert not np.array_equal(_codes(a, "random", seed=0), _codes(a, "random", seed=1))  # seeded


def test_svd_codes_follow_co_consumption_and_fill_every_centroid():
    # two user groups with disjoint item sets: some split must put the groups in different centroids
    rng = np.random.default_rng(1)
    seqs = [rng.choice(np.arange(1, 21), 8, replace=False) for _ in range(50)] + \
           [rng.choice(np.arange(21, 41), 8, replace=False) for _ in range(50)]
    codes = assign_codes(seqs, 40, n_splits=2, n_centroids=2, assignment="svd", seed=0)
    separates = [len(set(codes[1:21, j])) == 1 and len(set(codes[21:, j])) == 1 and codes[1, j] != codes[21, j]
                 for j in range(2)]
    assert any(separates), codes
    many = assign_codes(seqs, 40, n_splits=3, n_centroids=8, assignment="svd", seed=0)
    for j in range(3):  # equal-count buckets: 40 items over 8 centroids, 5 each
        assert np.bincount(many[1:, j], minlength=8).tolist() == [5] * 8


def test_composed_embedding_shape_padding_and_gradients():
    emb = JPQItemEmbedding(n_items=30, d_model=16, n_splits=4, n_centroids=8)
    codes = np.random.default_rng(0).integers(0, 8, (31, 4))
    codes[0] = 0
    emb.assign(codes)
    assert emb.codes.dtype == torch.uint8 and [n for n, _ in emb.named_parameters()] == ["sub"]
    table = emb.weight
    assert table.shape == (31, 16) and torch.all(table[0] == 0)
    ids = torch.tensor([[0, 3, 7], [5, 5, 30]])
    assert torch.equal(emb(ids), table[ids])
    # an item's vector is its sub-embeddings, split by split
    j = 2
    assert torch.equal(table[7, 4 * j:4 * j + 4], emb.sub[j * 8 + int(codes[7, j])])
    emb(torch.tensor([[3]])).sum().backward()
    used = {j * 8 + int(codes[3, j]) for j in range(4)}
    grad_rows = set(torch.nonzero(emb.sub.grad.abs().sum(1)).ravel().tolist())
    assert grad_rows == used  # gradients reach exactly item 3's sub-embeddings
    with pytest.raises(ValueError, match="codes must lie in"):
        emb.assign(np.full((31, 4), 8))


@pytest.mark.parametrize("backbone", ["sasrec", "hstu"])
@pytest.mark.parametrize("jpq", [None, {"n_splits": 4, "n_centroids": 16}, {"n_splits": 8, "n_centroids": 300}])
def test_parameter_counts_are_exact(backbone, jpq):
    shape = dict(backbone=backbone, ffn_mult=2, n_heads=2, max_len=20)
    emb = {"item_embedding": "jpq", "jpq": jpq} if jpq else {"item_embedding": "full"}
    for n_layers, d_model in [(1, 16), (3, 32)]:
        model = SequentialRecommender(ModelConfig(n_items=500, n_layers=n_layers, d_model=d_model, **shape, **emb))
        assert model.get_num_params(False) == sum(p.numel() for p in model.parameters())
        assert model.get_num_params(False) == total_params(n_layers, d_model, 500, **shape, **emb)
        assert model.get_num_params(True) == non_embedding_params(n_layers, d_model, **shape)


def _jpq_law_doc(tmp_path, item_embedding):
    from tests.test_predictor import make_law_folder
    folder, _ = make_law_folder(tmp_path, with_manifest=False)
    doc = json.loads((folder / "law.json").read_text())
    doc["training_protocol"]["train"].update(item_embedding)
    doc["n_items"] = 5000
    (folder / "law.json").write_text(json.dumps(doc))
    return Law.load(folder, verify=False)


def test_predictor_sizes_a_jpq_law_as_the_model_counts(tmp_path):
    law = _jpq_law_doc(tmp_path, {"item_embedding": "jpq", "jpq": {"n_splits": 8, "n_centroids": 64,
                                                                   "assignment": "svd"}})
    _, total = law.params_of([2], [32])
    model = SequentialRecommender(ModelConfig(n_items=5000, n_layers=2, d_model=32, max_len=50,
                                              item_embedding="jpq", jpq={"n_splits": 8, "n_centroids": 64}))
    assert int(total[0]) == model.get_num_params(False)
    advice = law.advise(budget={"params": 1e6}, variant="full")
    assert advice.item_embedding["item_embedding"] == "jpq"
    assert advice.jpq_saving is None


def test_full_law_advice_states_what_jpq_would_save(tmp_path):
    law = _jpq_law_doc(tmp_path, {})
    # a budget that the full item table (5,001 × d) breaks for the wide candidates
    advice = law.advise(budget={"params": 200_000}, variant="full")
    s = advice.jpq_saving
    best = advice.ranked[0]
    assert s["item_params_full"] == 5001 * best["d_model"]
    assert s["item_params_jpq"] == 256 * best["d_model"]
    assert s["params_total_jpq"] == best["params_total"] - s["item_params_full"] + s["item_params_jpq"]
    assert s["more_candidates_within_budget"] > 0
    assert "does not predict quality under jpq" in s["note"]
    # the measured price beside the saving: the predictor cannot read the benchmark, so it is held to it here
    bench = json.loads((ROOT / "benchmarks" / "results" / "bench_recjpq.json").read_text())
    setting = f"jpq-{s['settings']['n_splits']}x{s['settings']['n_centroids']}"
    loss = {r["dataset"]: -100 * r["test_ndcg@10_change"] for r in bench["summary"] if r["setting"] == setting}
    assert (f"{s['settings']['n_splits']} x {s['settings']['n_centroids']} codes cost {loss['ml-1m']:.0f} % of NDCG@10 "
            f"on ML-1M and {loss['beauty']:.0f} % on Amazon Beauty") in s["note"]
    assert law.advise(variant="full").jpq_saving is None  # no parameter budget: nothing to say
    bad = _jpq_law_doc(tmp_path / "bad", {"item_embedding": "jpq", "jpq": {"n_centroids": "many"}})
    with pytest.raises(Exception, match="training_protocol.train.item_embedding"):
        bad.params_of([1], [16])


@pytest.mark.parametrize("backbone", ["sasrec", "hstu"])
def test_onnx_parity_with_jpq(backbone):
    torch.manual_seed(0)
    model = SequentialRecommender(ModelConfig(n_items=300, max_len=24, n_layers=2, d_model=32, n_heads=2,
                                              backbone=backbone, item_embedding="jpq",
                                              jpq={"n_splits": 4, "n_centroids": 16}))
    model.item_emb.assign(np.random.default_rng(0).integers(0, 16, (301, 4)))
    model.eval()
    sess = ort_session(onnx_bytes(model))
    rng = np.random.default_rng(1)
    from srlaw.data.protocol import left_pad
    x = left_pad([rng.integers(1, 301, rng.integers(1, 25)) for _ in range(100)], 24)
    for batch in (x, x[:1], x[5:6], x[:30, -7:]):  # many rows, batch 1, a shorter sequence axis
        check = parity(model, sess, batch)
        assert check["max_abs_diff"] <= 1e-4 and check["top10_identical"], check


def test_a_jpq_run_on_the_embedded_data_beats_popularity_and_round_trips(tmp_path):
    from srlaw.data.prepare import prepare
    data = load_params(ROOT / "params.yaml").data  # the pipeline's own preparation of the embedded file
    ds, _ = prepare(replace(data, source=str(ROOT / data.source)))
    save_dataset(ds, tmp_path / "data")
    cfg = ModelConfig(n_items=ds.n_items, max_len=32, n_layers=1, d_model=32, dropout=0.2, item_embedding="jpq",
                      jpq={"n_splits": 4, "n_centroids": 64})
    m = train_run(tmp_path / "data", tmp_path / "run", cfg,
                  TrainConfig(max_epochs=10, patience=10, batch_size=64, lr=2e-3, progress_bar=False,
                              accelerator="cpu", devices=1))
    dm = SequenceDataModule(tmp_path / "data", 32, 64, 10_000, 0)
    counts = np.bincount(np.concatenate(dm.train_sequences), minlength=ds.n_items + 1).astype(np.float32)
    _, targets, history = next(iter(dm.eval_dataloader("test")))
    pop = evaluate_scores(torch.from_numpy(np.tile(counts, (len(targets), 1))), targets, history)
    assert m["test"]["ndcg@10"] > 1.2 * pop["ndcg@10"], (m["test"], pop)
    assert m["jpq"] == {"n_splits": 4, "n_centroids": 64, "assignment": "svd", "assignment_version": 1}
    assert m["params_total"] - m["params_non_embedding"] == 64 * 32 + 32 * 32  # sub-embeddings + positions
    # the saved model carries its codes: reloaded without Lightning it scores exactly as trained
    loaded = load_checkpoint_model(tmp_path / "run" / "checkpoints" / "best.ckpt")
    expected = assign_codes(dm.train_sequences, ds.n_items, 4, 64, "svd", 42)
    assert np.array_equal(loaded.item_emb.codes.numpy(), expected)
    x = torch.from_numpy(dm.train_inputs[:8])
    assert torch.isfinite(LastPositionScorer(loaded)(x)[:, 1:]).all()
