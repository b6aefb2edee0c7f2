"""Per-epoch curves and time-to-quality: what benchmarks/bench_time_to_quality.py counts."""

import json

import pytest

from srlaw.train.curves import CONVERGED_SHARE, first_epoch_at, read_curve, seconds_until, time_to_quality

CURVE = [{"epoch": e, "val_ndcg@10": v} for e, v in enumerate([0.02, 0.06, 0.11, 0.150, 0.171, 0.174, 0.18, 0.179], 1)]
SECONDS = {e: 10.0 + e for e in range(1, 9)}


def test_epochs_and_seconds_to_a_fixed_target_and_to_95_percent():
    out = time_to_quality(CURVE, SECONDS, target=0.173, converged=True)
    assert out["epochs_to_target"] == 6  # 0.171 at epoch 5 is short of 0.173
    assert out["seconds_to_target"] == pytest.approx(sum(10.0 + e for e in range(1, 7)))
    assert (out["best"], out["best_epoch"]) == (0.18, 7)
    assert CONVERGED_SHARE * 0.18 == pytest.approx(0.171)
    assert out["epochs_to_95pct"] == 5  # 0.171 >= 0.95 × 0.18
    assert out["epochs_run"] == 8


def test_unreached_target_unconverged_run_and_missing_seconds():
    out = time_to_quality(CURVE, SECONDS, target=0.2, converged=False)
    assert out["epochs_to_target"] is None and out["seconds_to_target"] is None
    assert out["epochs_to_95pct"] is None  # a capped run's best is not a converged value
    assert not out["converged"]
    assert seconds_until(3, {1: 1.0, 3: 1.0}) is None  # epoch 2's seconds were never recorded
    assert seconds_until(2, {1: 1.5, 2: 2.0, 3: 9.0}) == 3.5
    assert first_epoch_at([1, 2, 3], [0.1, 0.3, 0.2], 0.2) == 2


def test_read_curve_counts_a_resumed_step_once(tmp_path):
    series = tmp_path / "dvclive" / "plots" / "metrics"
    (series / "val").mkdir(parents=True)
    (series / "train").mkdir()
    # a killed attempt logged step 1; the resumed attempt logged it again with the same epoch
    (series / "epoch.tsv").write_text("step\tepoch\n0\t0\n1\t1\n1\t1\n2\t2\n")
    (series / "val" / "ndcg@10.tsv").write_text("step\tval/ndcg@10\n0\t0.1\n1\t0.15\n1\t0.2\n2\t0.25\n")
    (series / "val" / "hr@10.tsv").write_text("step\tval/hr@10\n0\t0.2\n1\t0.3\n2\t0.4\n")
    curve = read_curve(tmp_path)
    assert [r["epoch"] for r in curve] == [1, 2, 3]
    assert [r["val_ndcg@10"] for r in curve] == [0.1, 0.2, 0.25]
    assert [r["train_loss"] for r in curve] == [None, None, None]
    assert read_curve(tmp_path / "absent") == []


def test_read_curve_takes_the_first_epochs_of_a_run_resumed_across_versions_from_dvclive(tmp_path):
    """Begun before curve.json existed (epochs 1-2 only in DVCLive), resumed after (curve.json from epoch 3): one
    curve, each epoch once, the file's rows where both have it."""
    series = tmp_path / "dvclive" / "plots" / "metrics"
    (series / "val").mkdir(parents=True)
    (series / "epoch.tsv").write_text("step\tepoch\n0\t0\n1\t1\n2\t2\n")
    (series / "val" / "ndcg@10.tsv").write_text("step\tval/ndcg@10\n0\t0.1\n1\t0.15\n2\t0.2\n")
    rows = [{"epoch": e, "seconds": 1.0, "train_loss": 5.0, "valid": {"ndcg@10": v, "hr@10": 2 * v, "loss": 7.0}}
            for e, v in ((3, 0.25), (4, 0.3))]
    (tmp_path / "curve.json").write_text(json.dumps({"rows": rows}))
    curve = read_curve(tmp_path)
    assert [r["epoch"] for r in curve] == [1, 2, 3, 4]
    assert [r["val_ndcg@10"] for r in curve] == [0.1, 0.15, 0.25, 0.3]
    assert [r["val_loss"] for r in curve] == [None, None, 7.0, 7.0]
