"""The law library: the joint fit recovers a shared shape, calibration narrows, a calibrated law round-trips."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from srlaw.library.calibrate import BUDGET_SHARE
from srlaw.law.forms import get_form
from srlaw.library.shape import (MISFIT_DESIGNS, LibraryFit, Noise, Prior, calibrate, choose_runs, collapse_counts,
                               collapsed, failed_run, fit_joint, fit_library, law_document, posterior, unstable_sizes)
from srlaw.law.schema import write_law
from srlaw.predictor import Law
from srlaw.core.provenance import write_manifest

FORM = get_form("shared_power")
GRID = [(n, d) for n in (1, 2, 4) for d in (16, 32, 64, 128, 256)]
TRUE = {"w": 0.6, "gamma": 1.5}
# per dataset: (mu, a, beta), Markov probe, users
DATASETS = {"a": ((-1.8, 0.06, 0.8), 0.13, 6000), "b": ((-2.9, 0.03, 2.0), 0.055, 20000),
            "c": ((-2.3, 0.05, 1.2), 0.075, 1000), "d": ((-4.1, 0.04, 1.5), 0.017, 9000),
            "e": ((-2.8, 0.08, 1.0), 0.05, 3000)}


def synthetic_records(noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for name, ((mu, a, beta), _, _) in DATASETS.items():
        for n, d in GRID:
            y = math.exp(mu - a * ((d / 64) ** -beta + TRUE["w"] * n ** -TRUE["gamma"]) + noise * rng.standard_normal())
            out.append({"variant": name, "n_layers": n, "d_model": d, "seed": 0, "ndcg@10": y,
                        "params_non_embedding": n * 6 * d * d})
    return out


def library(records, **kw):
    return fit_library(records, "ndcg@10", {k: v[1] for k, v in DATASETS.items()},
                       {k: v[2] for k, v in DATASETS.items()}, **kw)


def test_joint_fit_recovers_the_shared_shape_and_each_level():
    recs = synthetic_records()
    sets = sorted(DATASETS)
    idx = np.array([sets.index(r["variant"]) for r in recs])
    w, gamma, levels = fit_joint(idx, np.array([r["n_layers"] for r in recs], float),
                                 np.array([r["d_model"] for r in recs], float),
                                 np.log([r["ndcg@10"] for r in recs]), len(sets))
    assert w == pytest.approx(TRUE["w"], rel=1e-3)
    assert gamma == pytest.approx(TRUE["gamma"], rel=1e-3)
    for k, name in enumerate(sets):
        np.testing.assert_allclose(levels[k], DATASETS[name][0], rtol=1e-3)


def test_fitted_on_sizes_a_seeded_size_weighs_as_much_as_one_trained_once():
    recs = synthetic_records(noise=0.03, seed=3)
    # seeds at the wide sizes of one dataset: the same metric again and a spread around it (mean log unchanged)
    seeded = recs + [{**r, "seed": s, "ndcg@10": r["ndcg@10"] * math.exp(e)} for r in recs
                     if r["variant"] == "a" and r["d_model"] >= 128 for s, e in ((1, 0.05), (2, -0.05))]
    on_sizes = [library(rs, misfit=False, per_size=True) for rs in (recs, seeded)]
    on_runs = [library(rs, misfit=False) for rs in (recs, seeded)]
    # the same points up to rounding, which the depth term's flat valley turns into a few parts per million
    assert on_sizes[1].w == pytest.approx(on_sizes[0].w, rel=1e-4)
    np.testing.assert_allclose(on_sizes[1].levels["a"], on_sizes[0].levels["a"], rtol=1e-4)
    assert abs(on_runs[1].w / on_runs[0].w - 1) > 0.1  # fitted on runs, the seeds pull the shape
    assert on_sizes[0].w == pytest.approx(on_runs[0].w, rel=1e-9)  # one run per size: the two fits are one
    assert on_sizes[1].noise != on_sizes[0].noise  # the noise is fitted on the runs: it sees the seeds' spread


def test_prior_reads_the_ceiling_from_the_probe():
    fit = library(synthetic_records(noise=0.01), misfit=False)
    # mu follows log probe across the synthetic datasets: the regression's slope is positive and near 1
    assert 0.5 < fit.prior.c1 < 1.5
    assert fit.prior.cov[0, 0] > 0 and fit.prior.cov[1, 1] > 0


def held_out(held="e"):
    """The library without ``held`` (synthetic runs, 1 % noise), ``held``'s runs by size, its probe and users."""
    recs = synthetic_records(noise=0.01)
    fit = library([r for r in recs if r["variant"] != held], misfit=False)
    mine = {(r["n_layers"], r["d_model"]): r for r in recs if r["variant"] == held}
    return fit, mine, DATASETS[held][1], DATASETS[held][2]


def test_more_calibration_runs_narrow_the_interval_and_move_towards_the_truth():
    fit, mine, probe, users = held_out()
    truth = mine[(2, 256)]["ndcg@10"]
    widths, errors = [], []
    for cal in ([], [(1, 16)], [(1, 16), (2, 64)], [(1, 16), (1, 32), (2, 64)]):
        c = calibrate(fit, probe, users, [mine[k] for k in cal])
        pred = FORM.fn(c["samples"].T, 2.0, 256.0, 1.0)
        widths.append(float(np.std(np.log(pred))))
        errors.append(abs(math.log(FORM.fn(np.array(list(c["params"].values())), 2.0, 256.0, 1.0) / truth)))
    assert widths[0] > widths[1] > widths[3]  # zero runs: the library's spread; each run narrows it
    assert errors[3] < errors[0]


def test_the_calibrated_point_moves_smoothly_as_the_posterior_shifts_between_curvatures():
    fit, mine, probe, users = held_out()
    preds, betas = [], []
    for f in np.linspace(0.85, 1.15, 61):  # one calibration run swept: the posterior moves from one curvature to another
        run = {**mine[(2, 64)], "ndcg@10": mine[(2, 64)]["ndcg@10"] * f}
        c = calibrate(fit, probe, users, [mine[(1, 16)], mine[(2, 32)], run])
        preds.append(float(FORM.fn(np.array(list(c["params"].values())), 2.0, 256.0, 1.0)))
        betas.append(c["params"]["beta"])
        assert c["params"]["beta"] == pytest.approx(math.exp(np.dot(c["weights"], np.log(c["betas"]))))
    assert max(betas) > 2 * min(betas)  # the sweep does cross curvatures
    steps = np.abs(np.diff(np.log(preds)))
    # taking the most probable curvature, the point jumped where two curvatures swap ranks (9× the median step here)
    assert steps.max() < 4 * np.median(steps)


def test_posterior_with_no_runs_is_the_prior_and_with_runs_is_tighter():
    m0, c0 = np.array([-2.0, 0.05]), np.diag([0.04, 0.0004])
    m, c = posterior(m0, c0, np.zeros((0, 2)), np.zeros(0), np.zeros(0))
    np.testing.assert_array_equal(m, m0)
    X = np.array([[1.0, -2.0], [1.0, -0.5]])
    m, c = posterior(m0, c0, X, np.array([-2.1, -2.03]), np.array([1e-4, 1e-4]))
    assert c[0, 0] < c0[0, 0] and c[1, 1] < c0[1, 1]


def test_collapsed_runs_are_those_far_below_their_width():
    recs = [{"variant": "v", "n_layers": n, "d_model": 256, "seed": 0, "ndcg@10": y}
            for n, y in ((1, 0.16), (2, 0.17), (4, 0.02))]
    out = collapsed(recs)
    assert [(r["n_layers"], r["peer_median"]) for r in out] == [(4, 0.16)]
    assert collapsed(recs[:2]) == []  # two runs cannot say which one failed


def test_a_calibration_run_far_below_the_zero_run_prediction_is_called_failed():
    fit = library(synthetic_records(), misfit=False)
    probe, users = DATASETS["b"][1], DATASETS["b"][2]
    t = calibrate(fit, probe, users, [], n_samples=1)["params"]
    expected = float(FORM.fn(np.array([t[k] for k in FORM.param_names]), 2, 32, 1.0))
    run = {"n_layers": 2, "d_model": 32}
    assert failed_run(fit, probe, users, {**run, "ndcg@10": 0.6 * expected}) is None  # low, but a size effect
    assert failed_run(fit, probe, users, {**run, "ndcg@10": 0.4 * expected}) == pytest.approx(0.4)


def test_choose_runs_respects_the_compute_budget_and_prefers_informative_runs():
    fit = LibraryFit("ndcg@10", 0.5, 1.5, {"x": np.array([-2.0, 0.05, 1.0]), "y": np.array([-3.0, 0.04, 2.0])},
                     Prior(0.3, 1.0, 0.05, np.diag([0.04, 0.0004])), Noise(1e-4, 0.1))
    cand = [(n, d) for n in (1, 2) for d in (16, 32, 64)]
    targets = [(2, 256), (4, 256)]
    free = choose_runs(fit, 0.1, 5000, 3000, 50, 1, cand, targets, budget_share=None)
    tight = choose_runs(fit, 0.1, 5000, 3000, 50, 2, cand, targets, budget_share=0.05)
    assert free == [(2, 64)]  # unconstrained, one run: the widest (nearest the targets)
    assert all(d <= 32 for _, d in tight) and len(tight) == 2


def test_calibrated_law_round_trips_through_law_load(tmp_path):
    recs = synthetic_records(noise=0.01)
    fit = library([r for r in recs if r["variant"] != "e"], misfit=False)
    cal = [r for r in recs if r["variant"] == "e" and (r["n_layers"], r["d_model"]) in ((1, 16), (2, 32))]
    calibs = {"ndcg@10": calibrate(fit, DATASETS["e"][1], DATASETS["e"][2], cal)}
    ds = {"name": "e", "content_hash": "0" * 64, "probe": DATASETS["e"][1], "n_users": DATASETS["e"][2],
          "n_items": 3000}
    write_law(tmp_path / "law.json", law_document({"ndcg@10": fit}, calibs, ds, "library", cal))
    write_manifest(tmp_path, {}, only=["law.json"])
    law = Law.load(tmp_path)
    p = law.predict(2, 128)  # no other argument: the calibrated dataset is the law's default
    theta = np.array([calibs["ndcg@10"]["params"][k] for k in FORM.param_names])
    assert float(p.value) == pytest.approx(float(FORM.fn(theta, 2.0, 128.0, 1.0)), rel=1e-12)
    assert p.lower < p.value < p.upper
    doc = json.loads((tmp_path / "law.json").read_text())
    assert doc["form"] == "shared_power" and doc["calibration"]["n_runs"] == 2


def guarded_laws(tmp_path, recs, **variants) -> dict:
    """Dataset c's zero-run law from the library of ``recs`` (collapsed runs left out), once per keyword set of
    :func:`law_document` (``unstable``, ``collapse``), written and loaded as a user loads one."""
    fit = library([r for r in recs if r["ndcg@10"] > 0.005], misfit=False)
    calibs = {"ndcg@10": calibrate(fit, DATASETS["c"][1], DATASETS["c"][2], [])}
    ds = {"name": "c", "content_hash": "0" * 64, "probe": DATASETS["c"][1], "n_users": 1000, "n_items": 3000}
    laws = {}
    for name, kw in variants.items():
        write_law(tmp_path / name / "law.json", law_document({"ndcg@10": fit}, calibs, ds, "library", [], **kw))
        write_manifest(tmp_path / name, {}, only=["law.json"])
        laws[name] = Law.load(tmp_path / name)
    return laws


def test_advise_never_recommends_a_size_that_diverged_on_the_library(tmp_path):
    recs = synthetic_records(noise=0.01)
    for r in recs:  # 4 x 256 diverges on two of five datasets: far under the other depths at its width
        if r["variant"] in ("a", "b") and (r["n_layers"], r["d_model"]) == (4, 256):
            r["ndcg@10"] *= 0.1
    unstable = unstable_sizes(recs)
    assert [(u["n_layers"], u["d_model"], u["collapsed_on"], u["datasets"]) for u in unstable] == [(4, 256, 2, 5)]
    laws = guarded_laws(tmp_path, recs, plain={}, guarded={"unstable": unstable})
    grid = [(n, d) for n in (1, 2, 4) for d in (64, 128, 256)]
    assert (laws["plain"].advise(candidates=grid).ranked[0]["n_layers"],
            laws["plain"].advise(candidates=grid).ranked[0]["d_model"]) == (4, 256)  # the law alone prefers it
    advice = laws["guarded"].advise(candidates=grid)
    assert (4, 256) not in {(r["n_layers"], r["d_model"]) for r in advice.ranked}
    assert advice.exclusion_counts["stable"] == 1
    assert any("diverged" in why for row in advice.excluded for why in row["reasons"])
    # one collapsed dataset of five is under the share: a bad seed, not the size
    assert unstable_sizes([r for r in recs if not (r["variant"] == "b" and r["d_model"] == 256
                                                   and r["n_layers"] == 4)]) == []


def test_advise_prices_in_the_collapse_risk_of_a_size(tmp_path):
    recs = synthetic_records()
    recs += [{**r, "seed": s} for s in (1, 2) for r in synthetic_records() if (r["n_layers"], r["d_model"]) == (4, 128)]
    for r in recs:  # 4 x 128 diverges on 1 of its 15 runs: not unstable, but a risk
        if (r["variant"], r["n_layers"], r["d_model"], r["seed"]) == ("a", 4, 128, 1):
            r["ndcg@10"] *= 0.1
    assert unstable_sizes(recs) == []
    counts = collapse_counts(recs)
    assert [c for c in counts if c["collapsed"]] == [{"n_layers": 4, "d_model": 128, "collapsed": 1, "runs": 15}]
    assert len(counts) == len(GRID)  # every trained size, safe ones too
    laws = guarded_laws(tmp_path, recs, plain={}, priced={"collapse": counts})
    grid = [(2, 128), (4, 128)]
    pred = {c: float(laws["plain"].predict(*c, interval=False).value) for c in grid}
    assert 1 < pred[(4, 128)] / pred[(2, 128)] < 15 / 14  # deeper is better on paper, by less than the risk
    plain, priced = (laws[k].advise(candidates=grid).ranked for k in ("plain", "priced"))
    assert [(r["n_layers"], r["d_model"]) for r in plain] == [(4, 128), (2, 128)]
    assert [(r["n_layers"], r["d_model"]) for r in priced] == [(2, 128), (4, 128)]
    assert [r["collapse_risk"] for r in priced] == [0.0, pytest.approx(1 / 15)]
    assert priced[1]["ndcg@10"] == pytest.approx(pred[(4, 128)])  # the row keeps the prediction of a run that trained
    assert laws["priced"].collapse_risk([4, 4, 1], [128, 256, 16]).tolist() == [pytest.approx(1 / 15), 0.0, 0.0]
    # a depth never trained sits between its trained neighbours (2 x 128: none of 5 collapsed), and says so
    assert float(laws["priced"].collapse_risk(3, 128)) == pytest.approx(1 / 30)
    assert laws["priced"].collapse_trained([3, 4], [128, 128]).tolist() == [False, True]
    assert float(laws["plain"].collapse_risk(4, 128)) == 0.0  # a law without counts prices nothing
    untrained = laws["priced"].advise(candidates=[(3, 128)]).ranked[0]
    assert untrained["collapse_risk"] == pytest.approx(1 / 30) and not untrained["collapse_risk_measured"]
    from srlaw.cli import advice_table
    table = advice_table(laws["priced"], laws["priced"].advise(candidates=grid), tmp_path / "priced", {})
    assert "4 x 128 7 %; ranked by the expected value of one run" in table
    table = advice_table(laws["priced"], laws["priced"].advise(candidates=[(3, 128)]), tmp_path / "priced", {})
    assert "3 x 128 3 % (never trained: between its depths')" in table


def test_relative_noise_is_a_share_of_the_prediction(tmp_path):
    from srlaw.predictor.law import Z95
    recs = synthetic_records(noise=0.01)
    fit = library(recs, misfit=False)
    calibs = {"ndcg@10": calibrate(fit, DATASETS["a"][1], DATASETS["a"][2], [])}
    ds = {"name": "a", "content_hash": "0" * 64, "probe": DATASETS["a"][1], "n_users": 6000, "n_items": 3000}
    doc = law_document({"ndcg@10": fit}, calibs, ds, "library", [])
    doc["bootstrap"] = {"ndcg@10": []}  # the noise alone
    law = Law(doc)
    for n, d in ((1, 16), (4, 256)):
        p = law.predict(n, d)
        assert float(p.upper - p.value) == pytest.approx(Z95 * doc["noise"]["ndcg@10"]["sigma"] * float(p.value))


def test_misfit_variance_makes_scaled_errors_average_one():
    from srlaw.library.shape import misfit_variance
    var = np.array([0.01, 0.0001, 0.0001])
    sq = np.array([0.001, 0.0009, 0.0009])  # the two precise points miss by 3 sd: a misfit
    tau2 = misfit_variance(sq, var)
    assert np.mean(sq / (var + tau2)) == pytest.approx(1.0, rel=1e-6)
    assert misfit_variance(np.array([0.0001]), np.array([0.01])) == 0.0  # errors inside their spread: none


def test_misfit_is_measured_per_number_of_calibration_runs():
    clean = library(synthetic_records(noise=0.005))
    recs = synthetic_records(noise=0.005)
    for r in recs:  # two datasets leave the shared shape at the wide end, where no calibration run can see it
        if r["d_model"] >= 128 and r["variant"] in ("a", "c"):
            r["ndcg@10"] *= 1.15 if r["variant"] == "a" else 0.87
    bent = library(recs)
    assert len(bent.misfit) == len(clean.misfit) == len(MISFIT_DESIGNS)
    assert min(bent.misfit) > max(clean.misfit)


def test_calibration_adds_the_misfit_of_as_many_runs():
    fit = library(synthetic_records(noise=0.01), misfit=False)
    probe, users = DATASETS["b"][1], DATASETS["b"][2]
    runs = [r for r in synthetic_records(noise=0.01) if r["variant"] == "b" and r["d_model"] <= 64]
    # beyond the designs measured (three runs here), the widest measured misfit, not the last
    for n_runs, tau2 in ((0, 0.01), (1, 0.01), (2, 0.03), (3, 0.02), (5, 0.03)):
        fit.misfit = (0.0,)
        plain = calibrate(fit, probe, users, runs[:n_runs], n_samples=10)["sigma"]
        fit.misfit = (0.01, 0.03, 0.02)
        assert calibrate(fit, probe, users, runs[:n_runs], n_samples=10)["sigma"] ** 2 == pytest.approx(
            plain ** 2 + tau2, rel=1e-9)


def test_an_index_with_one_misfit_number_still_loads():
    doc = library(synthetic_records(), misfit=False).to_dict()
    doc["misfit"] = 0.004  # an index written before the misfit was measured per number of runs
    fit = LibraryFit.from_dict(doc)
    assert fit.misfit_for(0) == fit.misfit_for(3) == pytest.approx(0.004)


def test_the_misfit_designs_hold_what_choose_runs_picks_for_the_released_library():
    from srlaw.library.grid import MAX_RUNS
    assert sorted(MISFIT_DESIGNS) == list(range(1, MAX_RUNS + 1))  # every K that `srlaw calibrate` allows
    assert all(len(d) == k for k, designs in MISFIT_DESIGNS.items() for d in designs)
    index = json.loads((Path(__file__).resolve().parents[1] / "artifacts" / "laws" / "index.json").read_text())
    lib = index["library"]
    fit = LibraryFit.from_dict(lib["fits"]["ndcg@10"])
    max_len = lib["recipe"]["model"]["max_len"]
    for name, e in lib["laws"].items():
        for k, designs in MISFIT_DESIGNS.items():
            picked = choose_runs(fit, e["probe_ndcg@10"], e["n_users"], e["n_items"], max_len, k, lib["candidates"],
                                 lib["targets"], BUDGET_SHARE)
            assert frozenset(picked) in {frozenset(d) for d in designs}, (name, k, picked)


def test_convergence_table_reads_the_gain_still_to_come_from_learning_curves():
    from srlaw.library.shape import convergence_table, unconverged_gain
    # runs that double from epoch 1 to 5, then stay: after 5 epochs nothing more is gained
    recs = [{"d_model": 32, "curve": {"ndcg@10": [0.05, 0.06, 0.07, 0.08, 0.1, 0.1, 0.09 + 0.001 * i]}}
            for i in range(6)]
    recs.append({"d_model": 256, "curve": {"ndcg@10": [0.001] * 7}})  # wider than calibration runs: not counted
    t = convergence_table(recs, "ndcg@10")
    assert t["n"][0] == 6
    assert t["median"][0] == pytest.approx(math.log(2))
    mean, var = unconverged_gain(t, 6)
    assert mean == pytest.approx(0.0) and var == pytest.approx(0.0)
    assert unconverged_gain(t, 3)[0] == pytest.approx(math.log(0.1 / 0.07))


def test_a_prior_with_no_scatter_still_has_its_floor():
    from srlaw.library.shape import PRIOR_FLOOR, fit_prior
    probes = np.array([0.02, 0.05, 0.1, 0.2])
    levels = np.column_stack([np.log(probes) - 0.5, np.full(4, 0.04)])  # both on their lines exactly
    prior = fit_prior(levels, probes)
    np.testing.assert_allclose(np.sqrt(np.diag(prior.cov)), PRIOR_FLOOR)
    assert prior.cov[0, 1] == 0.0
