"""Performance-law forms: the one source of truth for every formula (numpy and the standard library only).

A form maps model depth N (layers), width d (d_model) and a data axis D (effective data computed from a
variant's ``entropy.json``) to a metric P (HR@10 or NDCG@10). The fitter (``srlaw.law.fit``), the predictor
(``srlaw.predictor``), the report and the tests all evaluate these functions; no formula is written twice.

Forms (SCIENCE.md §1–2):

- ``paper``: the law as published, P = w1·(ln N + p1/N^w3) + w2·(ln d + p1/d^w4) + ln D + p2/D^w5;
- ``paper_script``: what the public script fits, with pf1 = pf2 = 2 fixed,
  P = w1·(−w3 ln N − N^−w3/2) + w2·(−w4 ln d − d^−w4/2) + (−w5 ln D − D^−w5/2) + b — each term has an interior
  maximum, N* = 2^(−1/w3), d* = 2^(−1/w4);
- ``saturating``: bounded, P = Pmax − A·N^−α − B·d^−β − C·D^−γ, plus an over-parameterisation decay
  − K·(N·d²/D) (parameters per unit of effective data) so more capacity on little data can hurt;
- ``logistic``: bounded, P = Pmax · σ(a + b ln N + c ln d + e ln D − k·N·d²/D);
- ``shared_power``: the law library's form (``srlaw.library.shape``), P = exp(mu − a·h(N, d)) with the shape
  h = (d/64)^−beta + w·N^−gamma shared by every library dataset and the level (mu, a) the dataset's own; D does not
  enter (a calibrated law predicts one dataset).
"""

from __future__ import annotations

import math

import numpy as np

from srlaw.core.errors import UnknownFormError

PF = 2.0  # the public script's fixed pf1 = pf2


class LawForm:
    """A named, versioned law: parameter names with bounds, a numpy ``predict`` and start values for fitting.

    ``fn(theta, N, d, D) -> P``; ``starts(y)`` gives a grid of start vectors (Chinchilla "approach 3" style);
    ``optimum(theta)`` gives the analytic (N*, d*) where the form has one. A plain class, not a dataclass:
    importing dataclasses (and with it inspect) would double the predictor's import time.
    """

    __slots__ = ("name", "version", "param_names", "lower", "upper", "fn", "starts", "bounded", "description",
                 "optimum", "formula")

    def __init__(self, name, version, param_names, lower, upper, fn, starts, bounded, description="", optimum=None,
                 formula=""):
        self.name, self.version, self.param_names = name, version, tuple(param_names)
        self.lower, self.upper, self.fn, self.starts = tuple(lower), tuple(upper), fn, starts
        self.bounded, self.description, self.optimum = bounded, description, optimum
        self.formula = formula  # for people: the report prints it with the fitted values

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def predict(self, theta, n_layers, d_model, data):
        """Vectorised P(N, d, D); ``theta`` is a sequence or a name→value mapping."""
        if isinstance(theta, dict):
            theta = [theta[k] for k in self.param_names]
        N = np.asarray(n_layers, dtype=np.float64)
        d = np.asarray(d_model, dtype=np.float64)
        D = np.asarray(data, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self.fn(np.asarray(theta, dtype=np.float64), N, d, D)


def _grid(*axes):
    mesh = np.meshgrid(*axes, indexing="ij")
    return [np.array(v) for v in zip(*(m.ravel() for m in mesh))]


# ---------------------------------------------------------------- paper, as published

def _paper(t, N, d, D):
    w1, w2, w3, w4, w5, p1, p2 = t
    return w1 * (np.log(N) + p1 / N**w3) + w2 * (np.log(d) + p1 / d**w4) + np.log(D) + p2 / D**w5


def _paper_starts(y):
    # ln D dominates P here; p2 must cancel it, so starts span its scale
    return _grid([0.0, 0.01], [0.0, 0.01], [0.5, 1.0], [0.5, 1.0], [0.05, 0.2], [0.0, 0.1], [-10.0, -1.0])


# ---------------------------------------------------------------- paper, as its script fits it

def _paper_script(t, N, d, D):
    w1, w2, w3, w4, w5, b = t
    return (w1 * (-w3 * np.log(N) - N ** (-w3) / PF) + w2 * (-w4 * np.log(d) - d ** (-w4) / PF)
            + (-w5 * np.log(D) - D ** (-w5) / PF) + b)


def _paper_script_starts(y):
    m = float(np.mean(y))
    return _grid([0.01, 0.1], [0.01, 0.1], [0.3, 1.0, 2.0], [0.3, 1.0, 2.0], [0.01, 0.1], [m, m + 0.5])


def _paper_script_optimum(t):
    w1, w2, w3, w4 = t[:4]
    out = {}
    # the term w·(−a ln x − x^−a/2) peaks at x* = 2^(−1/a) when w > 0 and a < 0 (an interior maximum for x > 1)
    for key, w, a in (("n_layers", w1, w3), ("d_model", w2, w4)):
        if w > 0 and a < 0:
            out[key] = float(PF ** (-1.0 / a))
    return out or None


# ---------------------------------------------------------------- bounded, saturating

def _saturating(t, N, d, D):
    pmax, A, alpha, B, beta, C, gamma, K = t
    return pmax - A * N**-alpha - B * d**-beta - C * D**-gamma - K * (N * d * d / D)


def _saturating_starts(y):
    top = float(np.max(y))
    return _grid([top * 1.1, top * 1.5], [0.0, top * 0.5], [0.5], [0.0, top], [0.5, 1.0], [0.0, top],
                 [0.3, 1.0], [0.0, 1e-6])


# ---------------------------------------------------------------- bounded, logistic in log space

def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _logistic(t, N, d, D):
    pmax, a, b, c, e, k = t
    return pmax * _sigmoid(a + b * np.log(N) + c * np.log(d) + e * np.log(D) - k * (N * d * d / D))


def _logistic_starts(y):
    top = float(np.max(y))
    return _grid([min(1.0, top * 1.2), min(1.0, top * 3.0)], [-3.0, 0.0], [0.0, 0.3], [0.0, 0.3], [0.0, 0.3],
                 [0.0, 1e-6])


# ---------------------------------------------------------------- the law library's shared shape

WIDTH_REF = 64.0  # h = 1 + w·N^−gamma at d = 64: ``a`` reads as the log-gap to the ceiling there


def shared_shape(N, d, beta, w, gamma):
    """h(N, d) ≥ 0: how far a depth-N, width-d model sits below its dataset's ceiling, in units of ``a``."""
    return (d / WIDTH_REF) ** -beta + w * N ** -gamma


def _shared_power(t, N, d, D):
    mu, a, beta, w, gamma = t
    return np.exp(mu - a * shared_shape(N, d, beta, w, gamma))


def _shared_power_starts(y):
    top = float(np.log(np.max(y)))
    return _grid([top], [0.05, 0.2], [0.5, 1.5], [0.0, 1.0], [1.0])


FORMS: dict[str, LawForm] = {f.name: f for f in (
    LawForm("paper", 1, ("w1", "w2", "w3", "w4", "w5", "p1", "p2"),
            (-10, -10, -5, -5, -5, -100, -1e6), (10, 10, 5, 5, 5, 100, 1e6), _paper, _paper_starts, False,
            "Shen et al. as published: unbounded log terms, D' enters with coefficient 1",
            formula="P = w1·(ln N + p1/N^w3) + w2·(ln d + p1/d^w4) + ln D + p2/D^w5"),
    LawForm("paper_script", 1, ("w1", "w2", "w3", "w4", "w5", "b"),
            (-10, -10, -5, -5, -5, -100), (10, 10, 5, 5, 5, 100), _paper_script, _paper_script_starts, False,
            "the public fitting script's form with pf1 = pf2 = 2", optimum=_paper_script_optimum,
            formula="P = w1·(−w3·ln N − N^−w3/2) + w2·(−w4·ln d − d^−w4/2) + (−w5·ln D − D^−w5/2) + b"),
    LawForm("saturating", 1, ("p_max", "A", "alpha", "B", "beta", "C", "gamma", "K"),
            (0, 0, 0, 0, 0, 0, 0, 0), (1, 10, 5, 10, 5, 10, 5, 1), _saturating, _saturating_starts, True,
            "bounded power-law saturation with an over-parameterisation decay term",
            formula="P = p_max − A·N^−alpha − B·d^−beta − C·D^−gamma − K·N·d²/D"),
    LawForm("logistic", 1, ("p_max", "a", "b", "c", "e", "k"),
            (0, -50, -5, -5, -5, 0), (1, 50, 5, 5, 5, 1), _logistic, _logistic_starts, True,
            "bounded logistic in log space with an over-parameterisation decay term",
            formula="P = p_max · σ(a + b·ln N + c·ln d + e·ln D − k·N·d²/D)"),
    LawForm("shared_power", 1, ("mu", "a", "beta", "w", "gamma"),
            (-20, -5, 0, 0, 0), (0, 5, 5, 10, 5), _shared_power, _shared_power_starts, True,
            "the law library's form: a shape shared across datasets, a level (mu, a) per dataset",
            formula="P = exp(mu − a·((d/64)^−beta + w·N^−gamma))"),
)}


def get_form(name: str) -> LawForm:
    if name not in FORMS:
        raise UnknownFormError(f"unknown law form {name!r}; known forms: {', '.join(FORMS)}")
    return FORMS[name]


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error as a fraction (0.03 = 3 %), over the points with a non-zero observation.

    A run that scored exactly 0 (a tiny evaluation set) has no percentage error; nan if every point is 0.
    """
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ok = y_true != 0
    return float(np.mean(np.abs(y_pred[ok] - y_true[ok]) / np.abs(y_true[ok]))) if ok.any() else math.nan


def huber_cost(residuals, delta: float) -> float:
    """Σ Huber(r): r²/2 within ``delta``, linear beyond (scipy's ``least_squares(loss="huber")`` cost, same scale)."""
    a = np.abs(np.asarray(residuals, float))
    return float(np.sum(np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))))


def r_squared(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    return float(1 - ((y_true - y_pred) ** 2).sum() / ss_tot) if ss_tot > 0 else math.nan
