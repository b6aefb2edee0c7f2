"""The learning-curve law: every epoch of every run is a point, training amount is an axis.

Per dataset and metric, on the best-so-far validation value b_r(t) of each run r after t epochs — what early
stopping would keep if the run ended there:

    log b_r(t) = a_r − c_r·exp(−t / tau_r)        (c_r ≥ 0; each run its own approach)
    a_r        = mu + s·log P_r                    (the converged values follow a law in size)

Each run's curve is fitted with a Huber loss, profiled over a grid of tau (the rest is linear given tau); its
limit a_r is the run's converged value; the size law is fitted on those limits (Huber). The approach in t is
exponential, not a power: best-so-far curves plateau, and a slow power leaves the limit unbounded. Prediction:
exp(mu + s·log P) times the dataset's test/valid ratio of the chosen checkpoints. A run stopped early (a time cap,
a killed grid) still informs the law with the value its curve is heading for, where a law on final values would
take its unconverged end as the truth.

Intervals: a bootstrap over runs, each draw widened by the scatter of the runs' limits about the size law.
"""

from __future__ import annotations

import math

import numpy as np

from srlaw.law.fit import draws_interval
from srlaw.law.forms import huber_cost
from srlaw.train.curves import best_so_far

TAU_GRID = np.geomspace(0.5, 60.0, 40)  # epochs
HUBER_DELTA = 0.05  # on log metric: seed noise of NDCG@10 is a few per cent


def _huber_fit(X, z, delta_h, nonneg_last: bool = False, iters: int = 6):
    """Huber regression by iteratively reweighted least squares; (coefficients, Huber cost). With
    ``nonneg_last`` the last coefficient is kept ≥ 0 (dropped to 0 when the unconstrained fit makes it negative)."""
    w = np.ones(len(z))
    coef = np.zeros(X.shape[1])
    for _ in range(iters):
        sw = np.sqrt(w)
        coef = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
        if nonneg_last and coef[-1] < 0:  # no learning left to model: a flat curve
            coef = np.append(np.linalg.lstsq(X[:, :-1] * sw[:, None], z * sw, rcond=None)[0], 0.0)
        r = np.abs(z - X @ coef)
        w = np.minimum(1.0, delta_h / np.maximum(r, 1e-12))
    return coef, huber_cost(z - X @ coef, delta_h)


def fit_run_curve(curve, delta_h: float = HUBER_DELTA) -> tuple[float, float, float]:
    """(a, c, tau) of log b(t) = a − c·exp(−t / tau) on a run's best-so-far curve; a is its converged log value."""
    z = np.log(best_so_far(curve))
    t = np.arange(1, len(z) + 1, dtype=np.float64)
    if len(z) < 3:  # too short to show an approach: its end is all it says
        return float(z[-1]), 0.0, float(TAU_GRID[0])
    best, best_cost = None, math.inf
    for tau in TAU_GRID[TAU_GRID <= max(TAU_GRID[0], len(z) / 2)]:  # the bend must show inside the curve
        coef, cost = _huber_fit(np.column_stack([np.ones_like(t), -np.exp(-t / tau)]), z, delta_h, nonneg_last=True)
        if cost < best_cost:
            best, best_cost = (float(coef[0]), float(coef[1]), float(tau)), cost
    return best


class LearningCurveLaw:
    """Fitted on one dataset's runs: ``P`` sizes, ``curves`` validation values by epoch, ``ratio`` test/valid."""

    def __init__(self, P, curves, ratio: float = 1.0, n_bootstrap: int = 200, seed: int = 0):
        self.P = np.asarray(P, dtype=np.float64)
        self.limits = np.array([fit_run_curve(c)[0] for c in curves])  # converged log values, one per run
        self.ratio = float(ratio)
        self.theta = self._fit(np.arange(len(self.P)))
        resid = self.limits - (self.theta[0] + self.theta[1] * np.log(self.P))
        self.sigma = float(np.std(resid, ddof=2)) if len(resid) > 2 else 0.0
        rng = np.random.default_rng(seed)
        self._draws = []
        for _ in range(n_bootstrap):
            i = rng.integers(0, len(self.P), len(self.P))
            if len(np.unique(self.P[i])) >= 2:
                self._draws.append(self._fit(i))

    def _fit(self, idx) -> np.ndarray:
        X = np.column_stack([np.ones(len(idx)), np.log(self.P[idx])])
        return _huber_fit(X, self.limits[idx], HUBER_DELTA)[0]

    def converged(self, P) -> float:
        """The converged validation value at size ``P``."""
        return math.exp(self.theta[0] + self.theta[1] * math.log(P))

    def predict(self, P, level: float = 0.95):
        """(value, lower, upper) of the converged test metric at size ``P``."""
        value = self.converged(P)
        logs = [th[0] + th[1] * math.log(P) for th in self._draws]
        value, lower, upper = draws_interval(value, logs, self.sigma, level)
        return self.ratio * value, self.ratio * lower, self.ratio * upper
