"""Deployment sizing: rank candidate (n_layers, d_model) under a target metric and budgets.

Each constraint is data — a name, a mask over the candidates and a reason — so the ranking, the exclusion
counts, the per-candidate reasons and "what binds when nothing fits" are all read off one list.
"""

from __future__ import annotations

import numpy as np

from srlaw.core.errors import LawInputError
from srlaw.core.sizing import JPQ_DEFAULT, MAX_LAYERS, MAX_WIDTH

BUDGET_KEYS = ("params", "params_non_embedding", "latency_ms")


class Constraint:
    """A rule the advised configurations must satisfy: ``ok[i]`` says whether candidate i does, ``reason`` why not."""

    __slots__ = ("name", "ok", "reason", "is_budget")

    def __init__(self, name: str, ok, reason: str, is_budget: bool = True):
        self.name, self.ok, self.reason, self.is_budget = name, np.asarray(ok, bool), reason, is_budget


class Advice:
    """Ranked feasible configurations, excluded ones with reasons, and what binds when nothing fits."""

    def __init__(self, metric, ranked, constraints, excluded_rows, binding=None, best_achievable=None, optimum=None,
                 item_embedding=None, jpq_saving=None, n_candidates: int = 0):
        self.metric, self.ranked, self.constraints = metric, ranked, constraints
        self.n_candidates = n_candidates  # feasible when no constraint applies (extrapolation allowed, no budget)
        self._excluded_rows = excluded_rows
        self.binding, self.best_achievable, self.optimum = binding, best_achievable, optimum
        self.item_embedding = item_embedding or {"item_embedding": "full"}  # the law's: what the rows are sized with
        self.jpq_saving = jpq_saving  # under a parameter budget, what RecJPQ would save (full-embedding laws only)
        self.distilled = []  # measured distilled students that reach a target no plain size reaches in the budget

    @property
    def feasible(self) -> np.ndarray:
        ok = np.ones(len(self.constraints[0].ok) if self.constraints else self.n_candidates, bool)
        for c in self.constraints:
            ok &= c.ok
        return ok

    @property
    def excluded_count(self) -> int:
        return int((~self.feasible).sum()) if self.constraints else 0

    @property
    def exclusion_counts(self) -> dict[str, int]:
        return {c.name: int((~c.ok).sum()) for c in self.constraints}

    @property
    def excluded(self) -> list:
        """Every excluded candidate with its reasons (built on demand: 10,000 candidates stay fast)."""
        ids = np.flatnonzero(~self.feasible)
        out = self._excluded_rows(ids)
        for i, row in zip(ids, out):
            row["reasons"] = [c.reason for c in self.constraints if not c.ok[i]]
        return out

    def __repr__(self) -> str:
        if self.ranked:
            r = self.ranked[0]
            return (f"Advice({self.metric}: best {r['n_layers']} × {r['d_model']} → {r[self.metric]:.4f}, "
                    f"{r['params_total']:,} params; {len(self.ranked)} ranked, {self.excluded_count} excluded)")
        return f"Advice({self.metric}: nothing qualifies, '{self.binding}' binds; {self.excluded_count} excluded)"

    def to_dict(self, max_excluded: int = 50) -> dict:
        return {"metric": self.metric, "ranked": self.ranked, "excluded_count": self.excluded_count,
                "exclusion_counts": self.exclusion_counts, "excluded": self.excluded[:max_excluded],
                "binding": self.binding, "best_achievable": self.best_achievable, "optimum": self.optimum,
                "item_embedding": self.item_embedding, "jpq_saving": self.jpq_saving, "distilled": self.distilled}


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise LawInputError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def budget_in_words(budget: dict | None) -> str:
    """``{"params": 5e6, "latency_ms": 2}`` → ``"at most 5,000,000 parameters and 2 ms batch-1 latency"``."""
    words = {"params": lambda v: f"at most {v:,.0f} parameters",
             "params_non_embedding": lambda v: f"at most {v:,.0f} non-embedding parameters",
             "latency_ms": lambda v: f"{v:g} ms batch-1 latency"}
    parts = [words[k](v) for k, v in (budget or {}).items() if k in words]
    return " and ".join(parts) if parts else "no budget"


def budget_constraints(budget: dict, params_total, params_non_embedding, latency_ms, latency_known: str | None):
    """The budget's constraints; ``latency_known`` is None when latency can be told, else why it cannot."""
    unknown = set(budget) - set(BUDGET_KEYS)
    if unknown:
        raise LawInputError(f"unknown budget keys {sorted(unknown)}; use {', '.join(BUDGET_KEYS)}")
    budget = {k: _positive(f"budget {k}", v) for k, v in budget.items()}
    out = []
    if "params" in budget:
        out.append(Constraint("params", params_total <= budget["params"], f"params > {budget['params']:g}"))
    if "params_non_embedding" in budget:
        out.append(Constraint("params_non_embedding", params_non_embedding <= budget["params_non_embedding"],
                              f"non-embedding params > {budget['params_non_embedding']:g}"))
    if "latency_ms" in budget:
        if latency_known is not None:
            raise LawInputError(f"{latency_known}: a latency budget cannot be checked")
        out.append(Constraint("latency_ms", latency_ms <= budget["latency_ms"], f"latency > {budget['latency_ms']:g} ms"))
    return out


def advise(law, target: dict | None = None, objective: str = "max", budget: dict | None = None, candidates=None,
           metric: str | None = None, data=None, variant=None, top: int = 10, allow_extrapolation: bool = False,
           n_items: int | None = None, **named) -> Advice:
    """See :meth:`srlaw.predictor.Law.advise`."""
    metric, goal = _goal(target, objective, metric)
    metric = law.resolve_metric(metric)
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise LawInputError(f"top must be an integer >= 1, got {top!r}")
    budget = dict(budget or {})
    N, d = _candidates(law, candidates)
    pred = law.predict(N, d, metric=metric, data=data, variant=variant, warn=False, interval=False, **named)
    D = np.broadcast_to(law.data_value(data, variant, **named), N.shape)
    pne, ptot = law.params_of(N, d, n_items)
    lat, measured = law.latency_of(N, d, pne, n_items)
    constraints = _constraints(law, N, d, pred, budget, ptot, pne, lat, n_items, allow_extrapolation)
    within_budget = np.ones(len(N), bool)
    for c in constraints:
        within_budget &= c.ok
    if goal is not None:
        constraints.append(Constraint("target", pred.value >= goal, f"predicted {metric} < {goal:g}", is_budget=False))
    risk, trained = law.collapse_risk(N, d), law.collapse_trained(N, d)

    def rows(ids):
        # intervals (a bootstrap evaluation) only for the rows returned, not for every candidate
        ids = np.asarray(ids, dtype=int)
        if not len(ids):
            return []
        iv = law.predict(N[ids], d[ids], metric=metric, data=D[ids], warn=False)
        return [{"n_layers": int(N[i]), "d_model": int(d[i]), metric: float(pred.value[i]),
                 "lower": float(lo), "upper": float(hi), "params_total": int(ptot[i]),
                 "params_non_embedding": int(pne[i]), "latency_ms": None if np.isnan(lat[i]) else float(lat[i]),
                 "latency_measured": bool(measured[i]), "in_domain": bool(pred.in_domain[i]),
                 "collapse_risk": float(risk[i]), "collapse_risk_measured": bool(trained[i])}
                for i, lo, hi in zip(ids, iv.lower, iv.upper)]

    advice = Advice(metric, [], constraints, rows, n_candidates=len(N))
    idx = np.flatnonzero(advice.feasible)
    # with a target: the cheapest that reach it; without: the best expected of one run (collapse risk priced in)
    order = np.lexsort((-pred.value[idx], ptot[idx])) if goal is not None else \
        np.argsort(-expected_value(pred.value, risk)[idx], kind="stable")
    advice.ranked = rows(idx[order][:top])
    if not len(idx):
        _explain_infeasible(advice, rows, goal, within_budget, pred, ptot, constraints)
    if law.form.optimum is not None and not budget:
        advice.optimum = law.form.optimum(law.theta(metric))
    advice.item_embedding = law.item_embedding
    if goal is not None and not advice.ranked and data is None and not named \
            and variant in (None, law.doc.get("default_variant")):  # measured on the law's own data alone
        advice.distilled = distilled_options(law, metric, goal, budget, n_items)
    if "params" in budget and advice.item_embedding["item_embedding"] == "full":
        advice.jpq_saving = jpq_saving(law, N, d, ptot, n_items, [c for c in constraints if c.name != "params"],
                                       budget["params"], advice.ranked[0] if advice.ranked else advice.best_achievable)
    return advice


def _goal(target: dict | None, objective: str, metric: str | None) -> tuple[str | None, float | None]:
    """(metric, target value) from ``target`` ({metric: value}); (metric, None) to maximise."""
    if not target:
        if objective != "max":
            raise LawInputError(f"objective must be 'max' (or give a target), got {objective!r}")
        return metric, None
    if not isinstance(target, dict) or len(target) != 1:
        raise LawInputError(f"target takes one metric, e.g. {{'ndcg@10': 0.18}}, got {target!r}")
    metric, goal = next(iter(target.items()))
    if not isinstance(metric, str) or not metric:
        raise LawInputError(f"target names no metric (got {target!r}); e.g. {{'ndcg@10': 0.18}}")
    if isinstance(goal, bool) or not isinstance(goal, (int, float, np.integer, np.floating)) \
            or not 0 <= goal <= 1:  # NaN fails this too
        raise LawInputError(f"target {metric} must be a rate in [0, 1], got {goal!r}")
    return metric, float(goal)


def _candidates(law, candidates) -> tuple[np.ndarray, np.ndarray]:
    if candidates is None:
        return law.default_candidates()
    try:
        cand = np.asarray(candidates, float)
    except (TypeError, ValueError):
        raise LawInputError("candidates must be a sequence of (n_layers, d_model) pairs of integers") from None
    if cand.ndim != 2 or cand.shape[1] != 2 or not len(cand):
        raise LawInputError("candidates must be a non-empty sequence of (n_layers, d_model) pairs")
    if not np.all(np.isfinite(cand)) or np.any(cand != np.round(cand)):
        raise LawInputError("candidates must be whole numbers of layers and widths (a model has no 2.5 layers)")
    if np.any(cand[:, 0] < 1) or np.any(cand[:, 0] > MAX_LAYERS) or np.any(cand[:, 1] < 1) \
            or np.any(cand[:, 1] > MAX_WIDTH):
        raise LawInputError(f"candidates must have 1 to {MAX_LAYERS} layers and widths 1 to {MAX_WIDTH:,}")
    return cand[:, 0], cand[:, 1]


def _constraints(law, N, d, pred, budget: dict, ptot, pne, lat, n_items, allow_extrapolation: bool) -> list:
    """The domain, stability and budget constraints on the candidates (the target is added by the caller)."""
    constraints = [] if allow_extrapolation else [Constraint("domain", pred.in_domain, "outside the fitted domain",
                                                             is_budget=False)]
    bad = law.unstable
    if bad:  # sizes that diverged under the law's recipe: a prediction for them is for a run that trained
        constraints.append(Constraint("stable", [(int(n), int(w)) not in bad for n, w in zip(N, d)],
                                      "diverged under this recipe on the law library's datasets", is_budget=False))
    return constraints + budget_constraints(budget, ptot, pne, lat, _latency_unknown(law, n_items))


def _latency_unknown(law, n_items) -> str | None:
    """None when the law can tell a shape's latency for ``n_items``, else why not."""
    if law.latency is None:
        return "this law has no latency.json (no latency model)"
    if not law.latency_model.knows(n_items):
        return f"latency was measured for a catalogue of {law.latency_model.n_items:,} items, not {n_items:,}"
    return None


def distilled_options(law, metric: str, goal: float, budget: dict, n_items) -> list[dict]:
    """The students the law's dataset was measured distilled at (``law.json`` ``distillation``) whose distilled
    seed mean reaches ``goal`` within ``budget``: what advise offers when no plain size is predicted to. Each is
    a measurement at its own size, with its lift over the same size trained alone and that lift's noise; nothing
    is predicted for a size that was not measured."""
    record = law.doc.get("distillation") or {}
    out = []
    for s in record.get("students", []):
        got = s["metrics"].get(metric)
        if got is None or got["distilled"] < goal:
            continue
        N, d = np.array([float(s["n_layers"])]), np.array([float(s["d_model"])])
        pne, ptot = law.params_of(N, d, n_items)
        lat, _ = law.latency_of(N, d, pne, n_items)
        if not all(c.ok[0] for c in budget_constraints(budget, ptot, pne, lat, _latency_unknown(law, n_items))):
            continue
        t = s["teacher"]
        out.append({"n_layers": s["n_layers"], "d_model": s["d_model"], "teacher": dict(t), metric: got["distilled"],
                    "seed_sd": got["distilled_seed_sd"], "seeds": s["seeds"], "alone": got["alone"],
                    "lift": got["lift"], "lift_over_2sd": got["lift_over_2sd"], "gap_recovered": got["gap_recovered"],
                    "params_total": int(ptot[0]), "latency_ms": None if np.isnan(lat[0]) else float(lat[0]),
                    "note": f"distilled from a {t['n_layers']} x {t['d_model']} teacher (srlaw distill; the teacher "
                            f"trains first): {metric} {got['distilled']:.4f} measured over {s['seeds']} seeds "
                            f"(sd {_num(got['distilled_seed_sd'])}), {got['lift']:+.4f} over the same size trained alone"
                            + (" (beyond two seed sds)" if got["lift_over_2sd"] else " (within two seed sds: noise "
                               "cannot be ruled out)") + f"; {record.get('source', 'measured')}, on this dataset and "
                            "at this size only"})
    return sorted(out, key=lambda r: r["params_total"])


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _explain_infeasible(advice: Advice, rows, goal, within_budget, pred, ptot, constraints) -> None:
    """Nothing qualifies: say which constraint binds and the best (or cheapest) candidate within reach."""
    within = np.flatnonzero(within_budget)
    if goal is not None and len(within):
        advice.binding = "target"
        advice.best_achievable = rows([within[np.argmax(pred.value[within])]])[0]
        return
    # the constraint that excludes the most candidates binds; the cheapest candidate shows how far off
    others = [c for c in constraints if c.name != "target"]
    advice.binding = max(others, key=lambda c: (~c.ok).sum()).name if others else "target"
    pool = np.flatnonzero(pred.in_domain) if pred.in_domain.any() else np.arange(len(ptot))
    advice.best_achievable = rows([pool[np.argmin(ptot[pool])]])[0]


MATERIAL_RISK = 0.1  # a size whose runs collapsed this often is not recommended without saying so


def indistinguishable(ranked: list[dict], metric: str) -> list[dict]:
    """The ranked rows the law cannot tell from the first: each predicted inside the first's interval, and the
    first inside each one's."""
    if not ranked:
        return []
    top = ranked[0]
    return [r for r in ranked if top["lower"] <= r[metric] <= top["upper"] and r["lower"] <= top[metric] <= r["upper"]]


def expected_value(predicted, collapse_risk) -> np.ndarray:
    """What one training run is expected to reach: the prediction (a run that trained) times the chance that the
    run does not collapse (``Law.collapse_risk``); a collapsed run counts as worthless. ``advise`` ranks by it."""
    return np.asarray(predicted, float) * (1.0 - np.asarray(collapse_risk, float))


def jpq_saving(law, N, d, ptot, n_items, other_constraints, max_params, row) -> dict | None:
    """What RecJPQ item embeddings (default settings) would save under a parameter budget, for a full-embedding law.

    The law cannot say what quality jpq keeps (it was fitted on full embeddings): this is memory only — the item
    table of the shown configuration, and how many more candidates the budget would admit — with the quality cost
    the RecJPQ benchmark measured, so that nobody reads the saving as free.
    """
    if row is None:
        return None
    jpq = {"item_embedding": "jpq", "jpq": dict(JPQ_DEFAULT)}
    saved = law.item_table_params(d, n_items) - law.item_table_params(d, n_items, jpq)
    others = np.ones(len(N), bool)
    for c in other_constraints:
        others &= c.ok
    admitted = int((others & (ptot > max_params) & (ptot - saved <= max_params)).sum())
    full = int(law.item_table_params(row["d_model"], n_items))
    small = int(law.item_table_params(row["d_model"], n_items, jpq))
    return {"settings": JPQ_DEFAULT, "n_layers": row["n_layers"], "d_model": row["d_model"],
            "item_params_full": full, "item_params_jpq": small, "params_total_jpq": row["params_total"] - full + small,
            "more_candidates_within_budget": admitted,
            "note": f"RecJPQ ({JPQ_DEFAULT['n_splits']} splits x {JPQ_DEFAULT['n_centroids']} centroids) would hold "
                    f"the item table of {row['n_layers']} x {row['d_model']} in {small:,} instead of {full:,} "
                    f"parameters ({100 * (small / full - 1):+.0f} %)"
                    + (f"; {admitted} more candidates would fit the budget" if admitted else "")
                    + ". This law was fitted on full item embeddings: it does not predict quality under jpq, and "
                    "measured at 2 x 64 (benchmarks/results/bench_recjpq.json) 8 x 256 codes cost 36 % of NDCG@10 on "
                    "ML-1M and 63 % on Amazon Beauty: train both before choosing it."}
