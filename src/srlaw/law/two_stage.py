"""The two-stage law (cf. Gadre et al. 2024): a loss law in model size, then a link from loss to a metric.

Stage 1, per dataset: the held-out full-catalogue cross-entropy of the chosen checkpoint,
L(P) = E + A·P^−α (P: non-embedding parameters), fitted with a Huber loss on log residuals from a grid of starts.
Stage 2, per dataset and metric: a bounded monotone link y = exp(a − b·L), b ≥ 0 — a lower loss never predicts a
lower metric, and y stays below exp(a). Prediction: y(P) = link(L(P)).

Intervals: a bootstrap over runs (both stages refitted on each resample) for parameter uncertainty, each draw
widened by the link's residual scatter (seed noise and what the link misses), percentiles of the draws.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares

from srlaw.law.fit import draws_interval
from srlaw.law.forms import huber_cost

ALPHA_GRID = np.geomspace(1e-3, 3.0, 60)  # the starts: for each α the rest of the loss law is linear
HUBER_DELTA = 0.01  # on log loss: cross-entropies differ by a few per cent across a grid


def loss_curve(theta, P):
    """L(P) = E + A·P^−α for ``theta`` = (E, log A, α)."""
    E, log_a, alpha = theta
    return E + np.exp(log_a - alpha * np.log(np.asarray(P, dtype=np.float64)))


def _levels(x, L, delta, iters: int = 4):
    """(E, A) ≥ 0 of L ≈ E + A·x, relative residuals (≈ log residuals) Huber-weighted by a few IRLS rounds."""
    from scipy.optimize import nnls
    w = 1.0 / L
    X = np.column_stack([np.ones_like(x), x])
    coef = np.zeros(2)
    for _ in range(iters):
        coef = nnls(X * w[:, None], L * w)[0]
        r = np.log(np.maximum(X @ coef, 1e-12)) - np.log(L)
        w = (1.0 / L) * np.sqrt(np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-12)))
    return coef


def fit_loss_law(P, L, delta: float = HUBER_DELTA) -> np.ndarray:
    """(E, log A, α) of the loss law: Huber on log residuals, profiled over a grid of exponents (E, A ≥ 0 are
    linear given α), the best grid point refined by a bounded least-squares fit."""
    P, L = np.asarray(P, dtype=np.float64), np.asarray(L, dtype=np.float64)
    best, best_cost = None, math.inf
    for alpha in ALPHA_GRID:
        x = P ** -alpha
        E, A = _levels(x, L, delta)
        theta = np.array([E, math.log(max(A, 1e-300)), alpha])
        cost = huber_cost(np.log(loss_curve(theta, P)) - np.log(L), delta)
        if cost < best_cost:
            best, best_cost = theta, cost
    if best[1] < -600:  # no size dependence at all: nothing to refine
        return best
    lo = float(L.min())
    x0 = np.clip(best, [0.0, -50.0, 1e-3], [lo * (1 - 1e-9), 50.0, 3.0])
    res = least_squares(lambda t: np.log(loss_curve(t, P)) - np.log(L), x0, loss="huber", f_scale=delta,
                        bounds=([0.0, -50.0, 1e-3], [lo, 50.0, 3.0]))
    return res.x if res.cost <= best_cost else best  # both are the same Huber sum


def fit_link(L, y) -> tuple[float, float]:
    """(a, b) of log y = a − b·L with b ≥ 0: least squares, b clipped at 0 (then a is the mean of log y)."""
    L, logy = np.asarray(L, dtype=np.float64), np.log(np.asarray(y, dtype=np.float64))
    if len(L) < 2 or np.ptp(L) == 0:
        return float(logy.mean()), 0.0
    slope, a = np.polyfit(L, logy, 1)
    if slope > 0:  # a monotone link cannot follow a metric that rises with the loss: flat
        return float(logy.mean()), 0.0
    return float(a), float(-slope)


class TwoStageLaw:
    """Fitted on one dataset's runs: ``P`` sizes, ``L`` held-out losses, ``y`` metric values (one per run)."""

    def __init__(self, P, L, y, n_bootstrap: int = 200, seed: int = 0):
        self.P, self.L, self.y = (np.asarray(v, dtype=np.float64) for v in (P, L, y))
        self.theta = fit_loss_law(self.P, self.L)
        self.link = fit_link(self.L, self.y)
        resid = np.log(self.y) - (self.link[0] - self.link[1] * self.L)
        self.sigma = float(np.std(resid, ddof=min(2, len(resid) - 1))) if len(resid) > 2 else 0.0
        self._draws = self._bootstrap(n_bootstrap, seed)

    def _bootstrap(self, n: int, seed: int) -> list[tuple]:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(n):
            i = rng.integers(0, len(self.P), len(self.P))
            if len(np.unique(self.P[i])) < 3:  # three sizes at least, or the loss law is not identified
                continue
            draws.append((fit_loss_law(self.P[i], self.L[i]), fit_link(self.L[i], self.y[i])))
        return draws

    def predict_loss(self, P):
        return loss_curve(self.theta, P)

    def predict(self, P, level: float = 0.95):
        """(value, lower, upper) of the metric at size ``P``; the interval at ``level``."""
        a, b = self.link
        value = float(math.exp(a - b * float(self.predict_loss(P))))
        logs = [la - lb * float(loss_curve(theta, P)) for theta, (la, lb) in self._draws]
        return draws_interval(value, logs, self.sigma, level)
