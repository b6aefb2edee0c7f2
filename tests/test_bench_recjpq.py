"""The RecJPQ benchmark's side-by-side measurements and its summary (the training runs themselves take hours)."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_recjpq as bench  # noqa: E402

RATINGS = ROOT / "data" / "ml-latest-small" / "ratings.csv"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from srlaw.data.dataset import build_dataset, save_dataset
    from srlaw.data.readers import read_interactions

    out = tmp_path_factory.mktemp("bench") / "data"
    ds, _ = build_dataset(read_interactions(RATINGS, "movielens-csv"))
    save_dataset(ds, out)
    return out


def test_settings_build_their_models(data_dir):
    from srlaw.data.dataset import read_stats
    from srlaw.train.models import SequentialRecommender
    from srlaw.core.sizing import total_params

    n_items = int(read_stats(data_dir)["n_items"])
    for setting in ("full", "full-d32", "jpq-d128-4x2048"):
        cfg = bench.model_config("beauty", setting, n_items)
        assert cfg.d_model == bench.SETTINGS[setting].get("d_model", bench.MODEL["d_model"])
        model = SequentialRecommender(cfg)
        assert model.get_num_params(non_embedding=False) == total_params(
            cfg.n_layers, cfg.d_model, n_items, backbone=cfg.backbone, ffn_mult=cfg.ffn_mult, n_heads=cfg.n_heads,
            max_len=cfg.max_len, item_embedding=cfg.item_embedding,
            jpq=None if cfg.item_embedding == "full" else bench.SETTINGS[setting]["jpq"])


def test_paired_latency_times_every_setting_against_full(data_dir):
    out = bench.paired_latency("beauty", data_dir, ["full", "jpq-8x256", "full-d32"], repeats=5)
    assert out["repeats"] == 5
    assert set(out["settings"]) == {"full", "jpq-8x256", "full-d32"}
    assert out["settings"]["full"]["ratio"] == 1.0
    assert all(v["p50_ms"] > 0 for v in out["settings"].values())
    assert bench.paired_latency("beauty", data_dir, ["full"], repeats=0) == {}


def _row(setting, seed, ndcg, params):
    return {"dataset": "beauty", "setting": setting, "seed": seed, "params_total": params, "onnx_bytes": params * 4,
            "s_per_epoch": 1.0, "test_ndcg@10": ndcg, "test_hr@10": 2 * ndcg, "epochs": 10,
            "stopped_by": "early_stopping", "device": "cpu"}


def test_summary_is_seed_means_with_changes_against_full():
    rows = [_row("full", 42, 0.050, 1000), _row("full", 43, 0.054, 1000),
            _row("jpq-8x256", 42, 0.039, 400), _row("jpq-8x256", 43, 0.039, 400)]
    latency = {"beauty": {"settings": {"full": {"p50_ms": 2.0, "ratio": 1.0},
                                       "jpq-8x256": {"p50_ms": 1.5, "ratio": 0.8}}}}
    full, jpq = bench.summarise(rows, latency)
    assert full["test_ndcg@10"] == pytest.approx(0.052)
    assert full["test_ndcg@10_sd"] == pytest.approx(np.std([0.050, 0.054], ddof=1))
    assert "test_ndcg@10_change" not in full
    assert jpq["test_ndcg@10_change"] == pytest.approx(0.039 / 0.052 - 1)
    assert jpq["params_total_change"] == pytest.approx(-0.6)
    assert jpq["latency_ms_b1"] == 1.5
    assert jpq["latency_ms_b1_change"] == pytest.approx(-0.2)


def test_codes_from_a_trained_table_follow_its_clusters():
    from studies.recjpq.codes_from_model import model_codes

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (4, 8))
    group = np.repeat(np.arange(4), 25)
    table = np.concatenate([np.zeros((1, 8)), centres[group] + rng.normal(0, 0.1, (100, 8))])  # row 0: padding
    codes = model_codes(table, n_splits=2, n_centroids=4, seed=0)
    assert codes.shape == (101, 2)
    assert (codes[0] == 0).all()
    for j in range(2):  # each split's codes are the four groups, whatever the labels
        assert len({(g, c) for g, c in zip(group, codes[1:, j])}) == 4
    assert (model_codes(table, 2, 4, seed=0) == codes).all()
