"""The two-stage law: a loss law in size, a monotone loss → metric link, bootstrap intervals."""

import math

import numpy as np
import pytest

from srlaw.law.two_stage import TwoStageLaw, fit_link, fit_loss_law, loss_curve

TRUE = (5.5, math.log(40.0), 0.35)  # E, log A, alpha
SIZES = np.geomspace(1_700, 200_000, 8).repeat(2)  # two decades, two seeds


def _metric(L):
    return np.exp(4.0 - 1.2 * L)


def test_loss_law_recovers_a_synthetic_law_and_ignores_an_outlier():
    L = loss_curve(TRUE, SIZES)
    L[3] *= 1.05  # one bad run: the Huber loss must not follow it
    E, log_a, alpha = fit_loss_law(SIZES, L)
    assert E == pytest.approx(TRUE[0], abs=0.05)
    assert alpha == pytest.approx(TRUE[2], abs=0.03)
    assert float(loss_curve((E, log_a, alpha), 1e6)) == pytest.approx(float(loss_curve(TRUE, 1e6)), rel=2e-3)


def test_link_is_monotone_or_flat():
    L = np.array([6.0, 6.1, 6.2, 6.3])
    a, b = fit_link(L, _metric(L))
    assert (a, b) == pytest.approx((4.0, 1.2))
    a, b = fit_link(L, np.exp(0.5 * L - 5))  # a metric that rises with the loss: no monotone decreasing link
    assert b == 0.0
    assert math.exp(a) == pytest.approx(np.exp(np.mean(0.5 * L - 5)))


def test_two_stage_extrapolates_a_synthetic_law_with_honest_intervals():
    rng = np.random.default_rng(3)
    hits, errors = 0, []
    big = np.array([8e5, 2e6])
    for rep in range(10):
        L = loss_curve(TRUE, SIZES) * np.exp(rng.normal(0, 0.002, len(SIZES)))
        y = _metric(L) * np.exp(rng.normal(0, 0.02, len(SIZES)))  # seed noise on the metric
        law = TwoStageLaw(SIZES, L, y, n_bootstrap=40, seed=rep)
        for P in big:
            truth = float(_metric(loss_curve(TRUE, P)))
            value, lower, upper = law.predict(P)
            errors.append(abs(value - truth) / truth)
            hits += lower <= truth <= upper
    assert np.median(errors) < 0.03  # 4x and 10x the largest fitted size
    assert hits / (10 * len(big)) >= 0.8


# ---------------------------------------------------------------- the learning-curve law

def _curve(limit, epochs, tau=3.0, gain=0.6, noise=0.0, rng=None):
    t = np.arange(1, epochs + 1)
    y = limit * np.exp(-gain * np.exp(-t / tau))
    return y * (np.exp(rng.normal(0, noise, epochs)) if rng is not None else 1.0)


def test_run_curve_limit_is_read_off_an_unconverged_curve():
    from srlaw.law.learning_curve import fit_run_curve
    from srlaw.train.curves import best_so_far
    full = _curve(0.16, 40)
    a, c, tau = fit_run_curve(full[:7])  # cut long before its plateau
    assert math.exp(a) == pytest.approx(0.16, rel=0.01)
    assert tau == pytest.approx(3.0, rel=0.1)
    assert full[6] < 0.152  # the cut value itself is well below the limit
    assert list(best_so_far([0.1, 0.3, 0.2, 0.4])) == [0.1, 0.3, 0.3, 0.4]


def test_learning_curve_law_extrapolates_a_synthetic_size_law_from_cut_runs():
    from srlaw.law.learning_curve import LearningCurveLaw
    rng = np.random.default_rng(0)
    limit = lambda P: math.exp(-3.5 + 0.12 * math.log(P))  # noqa: E731
    sizes = np.geomspace(1_700, 13_000, 5).repeat(2)
    curves = [_curve(limit(P), int(rng.integers(7, 11)), noise=0.005, rng=rng) for P in sizes]
    law = LearningCurveLaw(sizes, curves, ratio=0.9, n_bootstrap=100)
    for P in (52_000, 130_000):  # 4x and 10x
        value, lower, upper = law.predict(P)
        assert value == pytest.approx(0.9 * limit(P), rel=0.03)
        assert lower <= 0.9 * limit(P) <= upper
    # a law on the cut runs' last values would sit well below
    assert np.mean([c[-1] / limit(P) for c, P in zip(curves, sizes)]) < 0.96
