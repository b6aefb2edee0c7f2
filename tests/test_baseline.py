"""The equal-compute baseline: the target's own learning curve, cut where calibration's compute runs out."""

import math

import pytest

from srlaw.library.baseline import equal_compute, forecast, markdown, summary, valid_to_test_ratio


def curve(limit=0.1, c=0.8, tau=4.0, epochs=30):
    return [limit * math.exp(-c * math.exp(-t / tau)) for t in range(1, epochs + 1)]


def test_a_whole_curve_forecasts_its_limit_and_a_short_prefix_cannot():
    full = curve()
    assert forecast(full, 30, 1.0) == pytest.approx(0.1, rel=0.01)
    assert forecast(full, 30, 0.8) == pytest.approx(0.08, rel=0.01)  # carried to the test split
    assert forecast(full, 2, 1.0) < 0.065  # two epochs show no bend: the best value so far is all they say
    assert forecast(full, 10, 1.0) == pytest.approx(0.1, rel=0.05)  # the bend shows: the limit is found


def test_the_ratio_is_the_median_test_over_best_validation():
    recs = [{"ndcg@10": t, "curve": {"ndcg@10": [0.05, v, v / 2]}} for t, v in ((0.08, 0.1), (0.09, 0.1), (0.2, 0.1))]
    assert valid_to_test_ratio(recs, "ndcg@10") == pytest.approx(0.9)
    assert valid_to_test_ratio([], "ndcg@10") == 1.0


def test_the_summary_counts_where_the_law_wins():
    run = {"curve": {"ndcg@10": curve()}}
    rows = [equal_compute(run, "ndcg@10", e, 1.0, 0.1, law) for e, law in ((2, 0.03), (30, 0.05), (3, 0.02))]
    s = summary([*rows, None])
    assert s["n"] == 3 and s["law_wins"] == 2  # the full curve beats a 5 % law; two epochs do not
    assert s["epochs_median"] == 3 and s["ape_worst"] == pytest.approx(max(r["ape"] for r in rows))
    text = "\n".join(markdown({"baseline": {"ndcg@10|1": s}}))
    assert "| ndcg@10 | 1 | 3 | 3 |" in text and "2 of 3" in text
    assert markdown({}) == []
