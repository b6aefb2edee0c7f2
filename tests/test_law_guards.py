"""A calibrated law that cannot say nonsense: the width gain keeps its sign, data unlike the library's and predictions
beyond what the library reached are flagged, and calibrate checks its own law before writing it."""

import math
from pathlib import Path

import numpy as np
import pytest

from srlaw.core.errors import SrlawError
from srlaw.library.calibrate import law_warnings
from srlaw.library.shape import GAIN_FLOOR, _draw_level, calibrate, calibrated_document, library_seen
from srlaw.predictor import Law
from srlaw.predictor.artifact import check_document
from tests.test_law_library import DATASETS, library, synthetic_records

INDEX = Path("artifacts/laws/index.json")


def _law(fit, probe, users, runs):
    ds = {"name": "new", "content_hash": "0" * 64, "probe": probe, "n_users": users, "n_items": 3000,
          "scores": {"markov_ndcg@10": probe}}
    return calibrated_document({"ndcg@10": fit}, ds, "library", runs, metrics=("ndcg@10",))


def test_one_low_run_lowers_the_level_and_never_turns_the_width_gain_negative():
    fit = library(synthetic_records(noise=0.01), misfit=False)
    probe, users = DATASETS["a"][1], DATASETS["a"][2]
    expected = float(Law(_law(fit, probe, users, [])).predict(2, 32, warn=False).value)
    # one run at a fifth of what the library expects: a free Gaussian level fits it by turning the gain negative
    run = {"n_layers": 2, "d_model": 32, "ndcg@10": expected / 5}
    c = calibrate(fit, probe, users, [run])
    assert c["params"]["a"] >= GAIN_FLOOR and (c["samples"][:, 1] >= GAIN_FLOOR).all()
    law = Law(_law(fit, probe, users, [run]))
    for n in (1, 2, 4):
        v = law.predict(n, [16, 32, 64, 128, 256], warn=False).value
        assert (np.diff(v) >= -1e-12).all()  # wider never predicted worse
    assert float(law.predict(2, 32, warn=False).value) < expected / 2  # the level came down to the run


def test_truncated_draws_keep_the_gain_and_the_conditional_level():
    rng = np.random.default_rng(1)
    mean, cov = np.array([-3.0, -0.2]), np.array([[0.04, 0.012], [0.012, 0.01]])
    x = _draw_level(rng, mean, cov, 40000)
    assert (x[:, 1] >= 0).all()
    # mu given a follows the Gaussian's conditional line: mean + cov01 / cov11 · (a − mean_a)
    fitted = np.polyfit(x[:, 1], x[:, 0], 1)
    assert fitted[0] == pytest.approx(1.2, abs=0.1)
    assert fitted[1] == pytest.approx(-3.0 + 1.2 * 0.2, abs=0.02)
    untouched = _draw_level(np.random.default_rng(2), np.array([-3.0, 0.5]), cov, 1000)
    np.testing.assert_array_equal(untouched, np.random.default_rng(2).multivariate_normal([-3.0, 0.5], cov, 1000))


def test_data_outside_the_library_is_flagged_and_its_prior_widened():
    fit = library(synthetic_records(noise=0.01), misfit=False)
    lo, hi = fit.probe_range
    assert (lo, hi) == (min(v[1] for v in DATASETS.values()), max(v[1] for v in DATASETS.values()))
    inside, outside = math.sqrt(lo * hi), lo / 4
    assert fit.prior.cov_at(outside)[0, 0] > fit.prior.cov_at(inside)[0, 0] >= fit.prior.cov[0, 0]
    assert library_seen({"ndcg@10": fit}, outside, 6000)["inside"] is False
    doc = _law(fit, outside, 6000, [])
    assert doc["calibration"]["data_inside_library"] is False
    assert doc["domain"]["data"] == [lo, hi]
    p = Law(doc).predict(2, 64, warn=False)
    assert not p.in_domain and "data outside" in p.reasons[0]
    assert any("outside the library's" in w for w in law_warnings(doc, []))
    with pytest.warns(Warning, match="outside the fitted domain"):
        Law(doc).predict(2, 64)
    advice = Law(doc).advise()
    assert not advice.ranked and advice.binding == "domain"
    assert Law(doc).advise(allow_extrapolation=True).ranked


def test_a_prediction_beyond_what_the_library_reached_is_flagged():
    recs = synthetic_records(noise=0.01)
    fit = library(recs, misfit=False)
    assert fit.envelope == (min(r["ndcg@10"] for r in recs), max(r["ndcg@10"] for r in recs))
    lo, hi = library_seen({"ndcg@10": fit}, 0.05, 6000)["metric"]["ndcg@10"]  # widened by one run's noise
    assert lo < fit.envelope[0] and fit.envelope[1] < hi < 1.2 * fit.envelope[1]
    top = max(DATASETS, key=lambda k: DATASETS[k][1])
    # a run far above anything the library saw: the level follows it, past the library's best
    run = {"n_layers": 2, "d_model": 32, "ndcg@10": 2.5 * fit.envelope[1]}
    doc = _law(fit, DATASETS[top][1], DATASETS[top][2], [run])
    p = Law(doc).predict([1, 4], [16, 256], warn=False)
    assert not p.in_domain[1] and "predicted ndcg@10 outside" in p.reasons[1]
    lines = law_warnings(doc, [run])
    assert any("grid sizes predicted outside the library's range" in w for w in lines)
    assert any("outside the law's own 95 % interval" in w for w in lines) or Law(doc).predict(2, 32).upper >= run[
        "ndcg@10"]


def test_a_sound_calibration_has_no_warning():
    fit = library(synthetic_records(noise=0.01), misfit=False)
    probe, users = DATASETS["c"][1], DATASETS["c"][2]
    truth = math.exp(DATASETS["c"][0][0] - DATASETS["c"][0][1] * ((32 / 64) ** -DATASETS["c"][0][2] + 0.6 * 2 ** -1.5))
    run = {"n_layers": 2, "d_model": 32, "ndcg@10": truth}
    assert law_warnings(_law(fit, probe, users, [run]), [run]) == []


def test_a_metric_range_in_law_json_is_checked():
    fit = library(synthetic_records(noise=0.01), misfit=False)
    doc = _law(fit, DATASETS["a"][1], DATASETS["a"][2], [])
    check_document(doc, "law.json")
    doc["domain"]["ndcg@10"] = [0.2, 0.1]
    with pytest.raises(SrlawError, match=r"law.json: field domain.ndcg@10"):
        check_document(doc, "law.json")


@pytest.mark.skipif(not INDEX.is_file(), reason="no released library in this checkout")
def test_the_new_users_log_of_the_issue_gets_a_plausible_law():
    """A log from a family the library has never seen (30 k users, Markov-probe NDCG@10 0.0126, below every library
    dataset): one 2 × 32 run at test NDCG@10 0.0190. Calibrated with a free level, the width gain came out negative
    and 1 × 16 was predicted at 0.21 (HR@10 1.0), inside the law's domain; 2 × 64 trained for the truth: 0.0186."""
    from srlaw.library.index import load_library
    fits, _, _ = load_library(INDEX)
    run = {"n_layers": 2, "d_model": 32, "hr@10": 0.0369, "ndcg@10": 0.0190}
    ds = {"name": "new", "content_hash": "0" * 64, "probe": 0.0126, "n_users": 30000, "n_items": 20000,
          "scores": {"markov_ndcg@10": 0.0126, "markov_hr@10": 0.025}}
    doc = calibrated_document(fits, ds, "library", [run])
    law = Law(doc)
    for m in ("hr@10", "ndcg@10"):
        v = law.predict([1, 2, 2, 4], [16, 32, 64, 128], metric=m, warn=False).value
        assert v[0] <= v[1] <= v[2] <= v[3] < 2 * run[m]  # no size predicted below a smaller one, none doubled
    assert float(law.predict(1, 16, warn=False).value) < 0.0190
    if fits["ndcg@10"].probes:  # an index that keeps its datasets' probes knows the log is unlike all of them
        assert doc["calibration"]["data_inside_library"] is False


def test_advise_on_data_outside_the_library_says_so_and_extrapolates_when_asked(tmp_path, capsys):
    from srlaw.cli import main
    from srlaw.core.provenance import write_manifest
    from srlaw.law.schema import write_law
    fit = library(synthetic_records(noise=0.01), misfit=False)
    doc = _law(fit, fit.probe_range[0] / 4, 6000, [])
    doc["calibration"]["warnings"] = law_warnings(doc, [])
    write_law(tmp_path / "law.json", doc)
    write_manifest(tmp_path, {}, only=["law.json"])
    main(["advise", "--law", str(tmp_path), "--top", "3"])
    out = capsys.readouterr().out
    assert "nothing qualifies: 'domain' binds" in out and "--allow-extrapolation ranks sizes outside it" in out
    assert "warning (calibration): the data's Markov-probe NDCG@10" in out
    assert main(["advise", "--law", str(tmp_path), "--top", "3", "--allow-extrapolation"]) == 0
    out = capsys.readouterr().out
    assert "   1 " in out and "nothing qualifies" not in out
