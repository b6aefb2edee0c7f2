"""Every law form recovers its parameters from noisy synthetic data and predicts held-out points."""

import math

import numpy as np
import pytest

from srlaw.law.fit import (LawFitError, PerformanceLaw, RunTable, advise_regret, leave_one_variant_out_error,
                           scale_extrapolation_error, select_form)
from srlaw.law.forms import FORMS, get_form, mape

TRUE = {
    "paper": [0.01, 0.02, 0.8, 0.6, 0.3, 0.05, -8.0],
    "paper_script": [0.02, 0.03, 0.5, 0.4, 0.05, 0.6],
    "saturating": [0.30, 0.05, 0.7, 0.4, 0.5, 0.3, 0.6, 1e-6],
    "logistic": [0.5, -2.5, 0.15, 0.3, 0.1, 2e-7],
    "shared_power": [-1.9, 0.06, 0.9, 0.5, 1.2],  # one dataset's level and shape: the generic fitter handles it too
}


def synthetic(form_name, noise=0.003, seed=0, depths=(1, 2, 3, 4, 6), widths=(16, 32, 64, 128), datas=(800, 2000, 5000)):
    form = get_form(form_name)
    N, d, D = (a.ravel() for a in np.meshgrid(depths, widths, datas, indexing="ij"))
    clean = form.predict(TRUE[form_name], N, d, D)
    y = clean * (1 + noise * np.random.default_rng(seed).standard_normal(len(clean)))
    return N.astype(float), d.astype(float), D.astype(float), y, clean


@pytest.mark.parametrize("name", sorted(FORMS))
def test_fit_recovers_form_and_predicts_held_out(name):
    N, d, D, y, clean = synthetic(name)
    train = (N * d * d) <= np.quantile(N * d * d, 0.6)
    law = PerformanceLaw(name, n_starts=24, n_bootstrap=0, seed=1).fit(N[train], d[train], D[train], y[train])
    assert mape(clean[~train], law.predict(N[~train], d[~train], D[~train])) < 0.03
    assert law.r2_ > 0.9
    assert law.domain_["n_layers"] == [1.0, float(N[train].max())] and law.domain_["d_model"][0] == 16.0


def test_logistic_parameters_recovered():
    N, d, D, y, _ = synthetic("logistic", noise=0.0005)
    law = PerformanceLaw("logistic", n_starts=32, n_bootstrap=0).fit(N, d, D, y)
    assert np.allclose(law.params_[:5], TRUE["logistic"][:5], rtol=0.1, atol=0.02)


def test_bootstrap_intervals_cover_truth_at_about_nominal_rate():
    form = get_form("logistic")
    hits, total = 0, 0
    for seed in range(12):
        N, d, D, y, clean = synthetic("logistic", noise=0.02, seed=seed, depths=(1, 2, 4), widths=(16, 32, 64),
                                      datas=(1000, 4000))
        law = PerformanceLaw("logistic", n_starts=8, n_bootstrap=30, seed=seed).fit(N, d, D, y)
        preds = np.array([form.predict(b, N, d, D) for b in law.bootstrap_])
        lo, hi = np.nanpercentile(preds, 2.5, axis=0), np.nanpercentile(preds, 97.5, axis=0)
        hits += int(((clean >= lo) & (clean <= hi)).sum())
        total += len(clean)
    assert 0.6 <= hits / total <= 1.0  # parameter-uncertainty bands for the mean: near nominal, not collapsed


def test_too_few_runs_refused_naming_form():
    with pytest.raises(LawFitError, match="'saturating' has 8 parameters and needs at least 9 runs, got 5"):
        PerformanceLaw("saturating").fit([1, 2, 3, 4, 5], [16] * 5, [1] * 5, [0.1] * 5)


def _table(name="logistic", noise=0.003):
    N, d, D, y, _ = synthetic(name, noise=noise)
    variant = np.array([f"v{int(x)}" for x in D])
    pne = N * d * d * 6
    return RunTable(variant, N, d, pne, D, {"ndcg@10": y, "hr@10": y * 1.7})


def test_scale_extrapolation_and_lovo_on_synthetic():
    t = _table()
    se = scale_extrapolation_error(t, "ndcg@10", "logistic", fraction=0.25, n_starts=16)
    assert se["mape"] < 0.03 and se["n"] > 0 and se["fit_params_max"] <= 0.25 * t.params_non_embedding.max()
    lovo = leave_one_variant_out_error(t, "ndcg@10", "logistic", n_starts=16)
    assert lovo["mape"] < 0.05 and set(lovo["per_variant"]) == {"v800", "v2000", "v5000"}
    # a law close to the truth advises about as well as hindsight, at every held-out size of every variant
    reg = se["regret"]
    assert reg["n"] == len({(b["variant"], b["budget"]) for b in reg["budgets"]}) >= 3
    assert 0 <= reg["median"] <= reg["max"] < 0.02


def test_advise_regret_is_the_advised_shortfall_against_hindsight():
    params = [10, 20, 30, 40]
    observed = [0.10, 0.14, 0.12, 0.16]
    predicted = [0.10, 0.12, 0.15, 0.13]  # ranks 30 above 20 and 40: wrong at budgets 30 and 40
    out = advise_regret(params, predicted, observed, budgets=[40, 20, 30, 5])  # 5: no candidate, skipped
    assert [r["budget"] for r in out] == [20, 30, 40]
    assert [(r["advised"], r["best"]) for r in out] == [(1, 1), (2, 1), (2, 3)]
    assert out[0]["regret"] == 0.0
    assert out[1]["regret"] == pytest.approx((0.14 - 0.12) / 0.14)
    assert out[2]["regret"] == pytest.approx((0.16 - 0.12) / 0.16)


def test_select_form_prefers_held_out_accuracy():
    sel = select_form(_table("saturating"), ["ndcg@10"], ["saturating", "paper"], fraction=0.25, n_starts=16)
    assert sel["winner"] == "saturating" and sel["runner_up"] == "paper"
    assert math.isfinite(sel["forms"]["saturating"]["selection_score"])


@pytest.mark.parametrize("bend,lo,hi", [(0.0, 0.8, 1.0), (0.25, 0.0, 0.2)], ids=["honest", "bent"])
def test_held_out_coverage_of_the_intervals(bend, lo, hi):
    """Data that follow the form: the intervals of a fit on the small runs cover the larger ones. Data whose large
    runs fall 25 % below the form: they do not — the coverage can fail."""
    from srlaw.law.settings import LawConfig
    from srlaw.pipeline.fit_stage import fit_law
    N, d, D, y, _ = synthetic("logistic", noise=0.01, seed=3)
    pne = N * d * d * 6
    y = np.where(pne > 0.25 * pne.max(), y * (1 - bend), y)
    records = [{"variant": f"v{int(x)}", "n_layers": int(n), "d_model": int(w), "params_non_embedding": float(p),
                "params_total": float(p), "data": float(x), "split": "test", "ndcg@10": float(v), "hr@10": 1.7 * float(v)}
               for n, w, p, x, v in zip(N, d, pne, D, y)]
    variants = {f"v{int(x)}": {"content_hash": "0" * 64, "data": float(x), "n_items": 100} for x in set(D)}
    law = LawConfig(forms=["logistic"], n_starts=8, n_bootstrap=30)
    doc = fit_law(records, variants, law, 0, {"backbone": "sasrec", "max_len": 50, "n_heads": 1, "ffn_mult": 1})
    cov = doc["validation"]["scale_extrapolation"]["ndcg@10"]["coverage95"]
    assert cov["n"] == int((pne > 0.25 * pne.max()).sum()) and cov["mean_width"] > 0
    assert lo <= cov["coverage"] <= hi, cov


def test_sampling_se_bound_holds_for_scores_in_the_unit_interval():
    from srlaw.law.fit import noise_floor, sampling_se_bound
    rng = np.random.default_rng(0)
    n = 500
    hits = rng.random((4000, n)) < 0.1  # HR@K: Bernoulli per user, where the bound is the exact s.e.
    assert sampling_se_bound(0.1, n) == pytest.approx(hits.mean(axis=1).std(), rel=0.05)
    ranks = rng.integers(0, 40, size=(4000, n))  # NDCG@10-like: 1/log2(rank+2) inside the top 10, else 0
    ndcg = np.where(ranks < 10, 1 / np.log2(ranks + 2), 0.0)
    y = float(ndcg.mean())
    assert ndcg.mean(axis=1).std() < sampling_se_bound(y, n)
    assert ndcg.mean(axis=1).std() > 0.5 * sampling_se_bound(y, n)  # a bound, not a loose one
    floor = noise_floor([{"variant": "a", "observed": 0.1}, {"variant": "b", "observed": 0.02},
                         {"variant": "c", "observed": 0.0}], {"a": 1000, "b": 1000, "c": 1000})
    assert floor["n"] == 2  # a zero observation has no relative error
    assert floor["relative_se_bound_max"] == pytest.approx(math.sqrt(0.98 / (0.02 * 1000)))
