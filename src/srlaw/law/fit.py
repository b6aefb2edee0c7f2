"""Fitting performance laws: robust multi-start fits, bootstrap intervals, held-out validation, form selection.

The estimator follows scikit-learn's contract: ``PerformanceLaw(form=..., ...)`` stores its arguments,
``fit(N, d, D, y)`` sets ``params_``, ``cost_``, ``bootstrap_``, ``residual_std_``, ``domain_`` and returns self.
Every formula comes from :mod:`srlaw.law.forms`.

Validation (SCIENCE.md §2.1: in-sample R² counts for nothing):
- :func:`scale_extrapolation_error` fits on configurations with at most ``fraction`` of the largest
  non-embedding parameter count and scores the larger rest;
- :func:`leave_one_variant_out_error` predicts each data variant from the others;
- :func:`advise_regret` scores the decision a law makes: the best predicted configuration within a budget against
  the best observed one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from srlaw.core.errors import LawFitError
from srlaw.law.forms import LawForm, get_form, mape, r_squared


@dataclass
class RunTable:
    """One row per trained run: the law's inputs and the measured metrics."""

    variant: np.ndarray
    n_layers: np.ndarray
    d_model: np.ndarray
    params_non_embedding: np.ndarray
    data: np.ndarray
    metrics: dict  # metric name -> np.ndarray

    def __len__(self):
        return len(self.variant)

    def subset(self, mask) -> "RunTable":
        mask = np.asarray(mask)
        return RunTable(self.variant[mask], self.n_layers[mask], self.d_model[mask], self.params_non_embedding[mask],
                        self.data[mask], {k: v[mask] for k, v in self.metrics.items()})

    @classmethod
    def from_records(cls, records: list[dict], metrics=("hr@10", "ndcg@10")) -> "RunTable":
        """``records``: dicts with variant, n_layers, d_model, params_non_embedding, data and each metric."""
        return cls(
            variant=np.array([r["variant"] for r in records]),
            n_layers=np.array([r["n_layers"] for r in records], dtype=float),
            d_model=np.array([r["d_model"] for r in records], dtype=float),
            params_non_embedding=np.array([r["params_non_embedding"] for r in records], dtype=float),
            data=np.array([r["data"] for r in records], dtype=float),
            metrics={m: np.array([r[m] for r in records], dtype=float) for m in metrics},
        )


def _clip_start(x0, form: LawForm):
    lo, hi = np.array(form.lower, float), np.array(form.upper, float)
    span = hi - lo
    return np.clip(np.asarray(x0, float), lo + 1e-9 * span, hi - 1e-9 * span)


def _fit_once(form: LawForm, x0, N, d, D, y, scale, delta):
    fn = form.fn  # the raw formula: predict()'s conversions would dominate a 10-point fit

    def residuals(theta):
        r = (fn(theta, N, d, D) - y) / scale
        return np.where(np.isfinite(r), r, 1e6)

    def jacobian(theta):
        # forward differences for all parameters in one broadcast call (a column of thetas per parameter)
        h = 1e-7 * np.maximum(1.0, np.abs(theta))
        thetas = theta[:, None] + np.diag(h)
        f = fn(thetas[:, :, None], N, d, D)  # [n_params, n_points]
        jac = ((f - fn(theta, N, d, D)[None, :]) / h[:, None]).T / scale
        return np.where(np.isfinite(jac), jac, 0.0)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return least_squares(residuals, _clip_start(x0, form), jac=jacobian, bounds=(form.lower, form.upper),
                             loss="huber", f_scale=delta, method="trf", max_nfev=400, x_scale="jac")


class PerformanceLaw:
    """One law form fitted to one metric.

    >>> import numpy as np
    >>> N, d = np.meshgrid([1, 2, 4], [16, 32, 64]); N, d = N.ravel(), d.ravel()
    >>> y = get_form("logistic").predict([0.3, -1.0, 0.1, 0.2, 0.0, 0.0], N, d, np.full(9, 100.0))
    >>> law = PerformanceLaw("logistic", n_starts=8, n_bootstrap=0).fit(N, d, np.full(9, 100.0), y)
    >>> bool(np.allclose(law.predict(N, d, np.full(9, 100.0)), y, rtol=1e-4))
    True
    """

    def __init__(self, form: str = "saturating", huber_delta: float = 0.05, n_starts: int = 32,
                 n_bootstrap: int = 100, seed: int = 0):
        self.form = form
        self.huber_delta = huber_delta
        self.n_starts = n_starts
        self.n_bootstrap = n_bootstrap
        self.seed = seed

    def _starts(self, y, rng):
        starts = get_form(self.form).starts(y)
        if len(starts) > self.n_starts:
            idx = rng.choice(len(starts), self.n_starts, replace=False)
            starts = [starts[i] for i in sorted(idx)]
        return starts

    def fit(self, n_layers, d_model, data, y) -> "PerformanceLaw":
        form = get_form(self.form)
        N, d, D, y = (np.asarray(a, dtype=float) for a in (n_layers, d_model, data, y))
        # a form with k parameters needs k + 1 runs to leave one degree of freedom
        if len(y) <= form.n_params:
            raise LawFitError(f"form {form.name!r} has {form.n_params} parameters and needs at least "
                              f"{form.n_params + 1} runs, got {len(y)}")
        rng = np.random.default_rng(self.seed)
        scale = float(np.mean(np.abs(y))) or 1.0
        converged, stopped = None, None  # best start that met a tolerance / best that ran out of evaluations
        for x0 in self._starts(y, rng):
            res = _fit_once(form, x0, N, d, D, y, scale, self.huber_delta)
            if not np.isfinite(res.cost):
                continue
            if res.status > 0 and (converged is None or res.cost < converged.cost):
                converged = res
            elif res.status == 0 and (stopped is None or res.cost < stopped.cost):
                stopped = res
        best = converged or stopped
        if best is None:
            raise LawFitError(f"form {form.name!r}: no start converged ({self.n_starts} starts, all non-finite)")
        self.converged_ = converged is not None
        self.params_ = best.x
        self.cost_ = float(best.cost)
        fitted = form.predict(self.params_, N, d, D)
        self.residual_std_ = float(np.std(fitted - y, ddof=min(form.n_params, len(y) - 1)))
        self.r2_ = r_squared(y, fitted)
        self.domain_ = {"n_layers": [float(N.min()), float(N.max())], "d_model": [float(d.min()), float(d.max())],
                        "data": [float(D.min()), float(D.max())]}
        self.bootstrap_ = self._bootstrap(form, N, d, D, y, scale, rng)
        return self

    def _bootstrap(self, form, N, d, D, y, scale, rng):
        """Refit on runs resampled with replacement; warm start plus fresh grid starts (warm alone is too narrow)."""
        samples = []
        grid = form.starts(y)
        for _ in range(self.n_bootstrap):
            idx = rng.integers(0, len(y), len(y))
            if len(np.unique(idx)) <= form.n_params // 2:
                continue
            best = None
            for x0 in [self.params_] + [grid[i] for i in rng.choice(len(grid), min(2, len(grid)), replace=False)]:
                res = _fit_once(form, x0, N[idx], d[idx], D[idx], y[idx], scale, self.huber_delta)
                if res.status >= 0 and np.isfinite(res.cost) and (best is None or res.cost < best.cost):
                    best = res
            if best is not None:
                samples.append(best.x)
        return np.array(samples).reshape(-1, form.n_params)

    def predict(self, n_layers, d_model, data):
        return get_form(self.form).predict(self.params_, n_layers, d_model, data)


def draws_interval(value: float, log_draws, sigma: float, level: float = 0.95, seed: int = 1):
    """(value, lower, upper): percentiles of bootstrap draws of a log prediction, each widened by N(0, sigma²)
    scatter (seed noise and misfit); the interval always contains ``value``."""
    log_draws = np.asarray(log_draws, dtype=np.float64)
    if not len(log_draws):
        return value, value, value
    logs = log_draws + np.random.default_rng(seed).normal(0.0, sigma, len(log_draws))
    q = (1 - level) / 2
    lower, upper = np.exp(np.quantile(logs, [q, 1 - q]))
    return value, float(min(lower, value)), float(max(upper, value))


# ---------------------------------------------------------------- validation

def prediction_errors(y, pred) -> dict:
    """MAPE, median and max errors of ``pred`` against observations ``y`` (inf where a prediction is not finite)."""
    pred = np.asarray(pred, float)
    if not np.all(np.isfinite(pred)):
        return {"mape": math.inf, "max_abs_error": math.inf, "max_rel_error": math.inf, "n": int(len(y))}
    nonzero = y != 0
    rel = np.abs(pred - y)[nonzero] / np.abs(y[nonzero])
    # the median beside the mean: one collapsed run can dominate a mean of a few held-out points
    return {"mape": mape(y, pred), "median_ape": float(np.median(rel)) if rel.size else math.nan,
            "max_abs_error": float(np.max(np.abs(pred - y))),
            "max_rel_error": float(rel.max()) if rel.size else math.nan,
            "n": int(len(y)), "n_zero_observed": int((~nonzero).sum())}


def scale_extrapolation_error(table: RunTable, metric: str, form: str, fraction: float = 0.25, **fit_kw) -> dict:
    """Fit on runs with params_non_embedding <= fraction × the largest; errors on the larger rest."""
    limit = fraction * table.params_non_embedding.max()
    small = table.params_non_embedding <= limit
    if small.all() or not small.any():
        raise LawFitError(f"scale extrapolation with fraction={fraction}: no runs on one side of the split")
    law = PerformanceLaw(form, **{**fit_kw, "n_bootstrap": 0}).fit(
        table.n_layers[small], table.d_model[small], table.data[small], table.metrics[metric][small])
    big = ~small
    pred = law.predict(table.n_layers[big], table.d_model[big], table.data[big])
    out = prediction_errors(table.metrics[metric][big], pred)
    out["regret"] = regret_summary(table, metric, law.predict(table.n_layers, table.d_model, table.data), big)
    out.update({"fraction": fraction, "fit_params_max": float(table.params_non_embedding[small].max()),
                "n_fit": int(small.sum()), "points": [
                    {"variant": str(v), "n_layers": int(n), "d_model": int(dd), "observed": float(o), "predicted": float(p)}
                    for v, n, dd, o, p in zip(table.variant[big], table.n_layers[big], table.d_model[big],
                                              table.metrics[metric][big], pred)]})
    return out


def sampling_se_bound(y, n_users) -> np.ndarray:
    """An upper bound on the sampling standard error of a metric that averages a per-user score in [0, 1] (HR@K,
    NDCG@K) over ``n_users`` users, at mean ``y``: such a score has variance at most y (1 − y) (HR@K's exactly)."""
    y = np.asarray(y, dtype=float)
    return np.sqrt(y * (1 - y) / np.asarray(n_users, dtype=float))


def noise_floor(points: list[dict], n_users: dict) -> dict:
    """The held-out points' sampling noise relative to their observed value (:func:`sampling_se_bound`): the
    error a law cannot be judged below with one seed per configuration."""
    rel = [float(sampling_se_bound(p["observed"], n_users[p["variant"]]) / p["observed"])
           for p in points if p["observed"] > 0 and n_users.get(p["variant"])]
    return {"relative_se_bound_median": float(np.median(rel)) if rel else math.nan,
            "relative_se_bound_max": float(np.max(rel)) if rel else math.nan, "n": len(rel)}


def advise_regret(params, predicted, observed, budgets) -> list[dict]:
    """At each parameter budget: the configuration with the best prediction within it (what ``advise`` picks)
    against the best observed within it. ``regret`` = (best observed − observed of the advised) / best observed:
    0 when the law chose as well as hindsight. ``advised``/``best`` index the inputs."""
    params, predicted, observed = (np.asarray(a, dtype=float) for a in (params, predicted, observed))
    out = []
    for budget in sorted(set(budgets)):  # each as given: parameter counts stay integers where they were
        ok = np.flatnonzero(params <= budget)
        if not ok.size:
            continue
        advised, best = int(ok[np.argmax(predicted[ok])]), int(ok[np.argmax(observed[ok])])
        out.append({"budget": budget, "advised": advised, "best": best,
                    "regret": float((observed[best] - observed[advised]) / observed[best])})
    return out


def regret_summary(table: RunTable, metric: str, pred, held: np.ndarray) -> dict:
    """:func:`advise_regret` per data variant, each held-out size a budget, every run of the variant a candidate
    ranked by ``pred`` (a prediction for every row of ``table``, from a law fitted without the ``held`` rows)."""
    per_budget = []
    for v in sorted(set(table.variant[held].tolist())):
        idx = np.flatnonzero(table.variant == v)
        for r in advise_regret(table.params_non_embedding[idx], pred[idx], table.metrics[metric][idx],
                               [float(p) for p in table.params_non_embedding[idx][held[idx]]]):
            a, b = idx[r["advised"]], idx[r["best"]]
            per_budget.append({"variant": str(v), "budget": r["budget"], "regret": r["regret"],
                               "advised": [int(table.n_layers[a]), int(table.d_model[a])],
                               "best": [int(table.n_layers[b]), int(table.d_model[b])]})
    values = [r["regret"] for r in per_budget]
    return {"median": float(np.median(values)) if values else math.nan,
            "max": float(np.max(values)) if values else math.nan, "n": len(values), "budgets": per_budget}


def leave_one_variant_out_error(table: RunTable, metric: str, form: str, **fit_kw) -> dict:
    """Predict each variant from a fit on the others; errors pooled over all held-out runs."""
    variants = sorted(set(table.variant.tolist()))
    if len(variants) < 2:
        return {"skipped": "needs at least 2 data variants"}
    ys, preds, per = [], [], {}
    for v in variants:
        held = table.variant == v
        try:
            law = PerformanceLaw(form, **{**fit_kw, "n_bootstrap": 0}).fit(
                table.n_layers[~held], table.d_model[~held], table.data[~held], table.metrics[metric][~held])
        except LawFitError as e:
            per[v] = {"error": str(e)}
            continue
        pred = law.predict(table.n_layers[held], table.d_model[held], table.data[held])
        per[v] = prediction_errors(table.metrics[metric][held], pred)
        ys.append(table.metrics[metric][held])
        preds.append(pred)
    if not ys:
        return {"skipped": "no variant could be predicted", "per_variant": per}
    out = prediction_errors(np.concatenate(ys), np.concatenate(preds))
    out["per_variant"] = per
    if len(variants) < 3:
        out["note"] = ("with 2 variants each fit sees one data value, so the data term is not identified: "
                       "treat this number as a stress test")
    return out


def _selection_score(per_metric: dict, metrics, n_variants: int) -> float:
    held = [per_metric[m]["scale_extrapolation"].get("mape", math.inf) for m in metrics]
    if n_variants >= 3:  # with 2 variants each LOVO fit sees one data value: the data term is unidentified
        held += [per_metric[m]["leave_one_variant_out"].get("mape", math.inf) for m in metrics]
    return float(np.mean(held)) if held else math.inf


def select_form(table: RunTable, metrics, forms, fraction=0.25, judged: dict | None = None, **fit_kw) -> dict:
    """Validate every form on every metric; the lowest mean held-out MAPE wins (in-sample R² is only reported).

    ``judged``: forms validated elsewhere on the same held-out points (name -> metric -> its scale_extrapolation,
    leave_one_variant_out and in_sample_r2 entries), ranked with the rest.
    """
    results = {}
    n_variants = len(set(table.variant.tolist()))
    for name in forms:
        per_metric = {}
        for metric in metrics:
            entry = {}
            try:
                entry["scale_extrapolation"] = scale_extrapolation_error(table, metric, name, fraction, **fit_kw)
            except LawFitError as e:
                entry["scale_extrapolation"] = {"error": str(e), "mape": math.inf}
            entry["leave_one_variant_out"] = leave_one_variant_out_error(table, metric, name, **fit_kw)
            try:
                full = PerformanceLaw(name, **{**fit_kw, "n_bootstrap": 0}).fit(
                    table.n_layers, table.d_model, table.data, table.metrics[metric])
                entry["in_sample_r2"] = full.r2_
            except LawFitError as e:
                entry["in_sample_r2"] = None
                entry["fit_error"] = str(e)
            per_metric[metric] = entry
        results[name] = per_metric
    results.update(judged or {})
    results = {n: {"metrics": pm, "selection_score": _selection_score(pm, metrics, n_variants)}
               for n, pm in results.items()}
    ranking = sorted(results, key=lambda n: results[n]["selection_score"])
    return {"ranking": ranking, "winner": ranking[0], "runner_up": ranking[1] if len(ranking) > 1 else None,
            "forms": results,
            "criterion": "mean held-out MAPE over metrics of scale extrapolation" + (
                " and leave-one-variant-out" if n_variants >= 3 else
                " (leave-one-variant-out is reported but not used: it needs >= 3 data variants)")}
