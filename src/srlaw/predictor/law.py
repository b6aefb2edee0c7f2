"""The law itself: predictions with 95 % intervals and domain flags, sizes and latencies of candidates.

Every formula is the fitter's own (:mod:`srlaw.law_forms`); loading and verification live in
:mod:`srlaw.predictor.artifact`, latency in :mod:`srlaw.predictor.latency`, sizing advice in
:mod:`srlaw.predictor.advisor`.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from srlaw.errors import LawDomainWarning, LawFileError, LawInputError
from srlaw.predictor import advisor
from srlaw.predictor.artifact import check_document, read_artifact
from srlaw.predictor.latency import LatencyModel
from srlaw.sizing import SHAPE_KEYS, non_embedding_params, total_params

Z95 = 1.959963984540054


class Prediction:
    """Predicted metric per input point with a 95 % prediction interval and a domain flag."""

    __slots__ = ("metric", "value", "lower", "upper", "in_domain", "reasons")

    def __init__(self, metric, value, lower, upper, in_domain, reasons=()):
        self.metric, self.value, self.lower, self.upper = metric, value, lower, upper
        self.in_domain, self.reasons = in_domain, list(reasons)  # reasons: per point, '' when inside

    def to_dict(self) -> dict:
        scalar = np.ndim(self.value) == 0
        conv = (lambda a: np.asarray(a).item()) if scalar else (lambda a: np.asarray(a).tolist())
        return {"metric": self.metric, "value": conv(self.value), "lower": conv(self.lower),
                "upper": conv(self.upper), "in_domain": conv(self.in_domain), "reasons": self.reasons}


class Law:
    """A fitted performance law loaded from ``law.json`` (and ``latency.json`` when present)."""

    def __init__(self, doc: dict, latency: dict | None = None, source: str = "<memory>"):
        self.form = check_document(doc, source)
        self.doc, self.latency, self.source = doc, latency, source
        self.metrics = list(doc["metric"]) if isinstance(doc["metric"], list) else [doc["metric"]]
        try:
            self._theta = {m: np.array([doc["params"][m][k] for k in self.form.param_names], float)
                           for m in self.metrics}
        except (KeyError, TypeError, ValueError) as e:
            raise LawFileError(f"{source}: params do not hold every {self.form.name} parameter per metric ({e})") from None
        self._boot = {m: np.asarray(doc.get("bootstrap", {}).get(m, []), float).reshape(-1, self.form.n_params)
                      for m in self.metrics}
        self._sigma = {m: float(doc.get("noise", {}).get(m, {}).get("sigma", 0.0)) for m in self.metrics}
        self._latency = LatencyModel.of(latency, os.path.join(os.path.dirname(source), "latency.json"))

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, path) -> "Law":
        """Load ``law.json`` (a file or the folder holding it), verifying sha256 against a manifest if present."""
        doc, latency, source = read_artifact(path)
        return cls(doc, latency, source=source)

    # ------------------------------------------------------------ prediction

    def theta(self, metric: str) -> np.ndarray:
        """The fitted parameters of ``metric``, in the form's order."""
        return self._theta[self.resolve_metric(metric)]

    def resolve_metric(self, metric):
        """``metric``, or the law's default (NDCG@10 when it has it); an unknown metric is refused."""
        metric = metric or ("ndcg@10" if "ndcg@10" in self.metrics else self.metrics[0])
        if metric not in self.metrics:
            raise LawInputError(f"metric {metric!r} not in this law (has {self.metrics})")
        return metric

    def data_value(self, data=None, variant=None, **named):
        """D for prediction: a number (``data=``), a variant the law was fitted on, or the score by name."""
        score_key = self.doc.get("data_axis", {}).get("score", "data")
        aliases = {score_key, score_key.split(".")[0], score_key.split(".")[-1], "data"}
        for k, v in named.items():
            if k not in aliases:
                raise LawInputError(f"unknown argument {k!r}; give data=, variant= or {score_key.split('.')[0]}=")
            data = v
        if variant is not None:
            variants = self.doc.get("variants", {})
            if variant not in variants:
                raise LawInputError(f"variant {variant!r} unknown to this law (has {sorted(variants)})")
            return float(variants[variant]["data"])
        if data is None:
            raise LawInputError(f"give the data value (data=, the law's axis is {score_key!r}) or variant=")
        return np.asarray(data, float)

    def _domain_reasons(self, N, d, D):
        dom = self.doc["domain"]
        checks = (("n_layers", N), ("d_model", d), ("data", D))
        shape = np.broadcast_shapes(N.shape, d.shape, D.shape)
        inside = np.ones(shape, dtype=bool)
        parts = []
        for name, arr in checks:
            lo, hi = dom[name]
            ok = (arr >= lo * (1 - 1e-9)) & (arr <= hi * (1 + 1e-9))
            inside &= np.broadcast_to(ok, shape)
            parts.append((name, np.broadcast_to(ok, shape), lo, hi))
        return inside, parts

    def _parameter_variance(self, metric, N, d, D, value):
        """Variance of the prediction across the bootstrap refits (parameter uncertainty)."""
        boot = self._boot[metric]
        if len(boot) < 2:
            return np.zeros_like(value)
        shape = np.shape(value)
        flat = [np.broadcast_to(a, shape).reshape(-1) for a in (N, d, D)]
        with np.errstate(all="ignore"):
            samples = self.form.fn(boot.T[:, :, None], *flat)
        samples = np.where(np.isfinite(samples), samples, np.nan)
        return np.nanvar(samples, axis=0).reshape(shape)

    def predict(self, n_layers, d_model, metric: str | None = None, data=None, variant=None, warn: bool = True,
                interval: bool = True, **named) -> Prediction:
        """Predicted metric at (n_layers, d_model, D), vectorised, with a 95 % interval and a domain flag.

        The interval combines the spread of the bootstrap refits with the larger of in-sample scatter and
        held-out RMSE (``noise.sigma`` in law.json). ``interval=False`` skips the bootstrap (lower = upper = value).
        """
        metric = self.resolve_metric(metric)
        N, d = np.asarray(n_layers, float), np.asarray(d_model, float)
        D = np.asarray(self.data_value(data, variant, **named), float)
        if np.any(N <= 0) or np.any(d <= 0) or np.any(D <= 0):
            raise LawInputError("n_layers, d_model and the data value must be positive")
        value = self.form.predict(self._theta[metric], N, d, D)
        var = self._parameter_variance(metric, N, d, D, value) if interval else np.zeros_like(value)
        half = Z95 * np.sqrt(var + self._sigma[metric] ** 2) if interval else np.zeros_like(value)
        inside, parts = self._domain_reasons(N, d, D)
        reasons = []
        if not inside.all():
            flat = [", ".join(f"{n} outside [{lo:g}, {hi:g}]" for n, ok, lo, hi in parts if not ok.reshape(-1)[i])
                    for i in range(inside.size)]
            reasons = flat
            if warn:
                warnings.warn(f"{int((~inside).sum())} of {inside.size} points lie outside the fitted domain "
                              f"({flat[int(np.flatnonzero(~inside.reshape(-1))[0])]}): extrapolated, check the "
                              "interval", LawDomainWarning, stacklevel=2)
        return Prediction(metric, value, value - half, value + half, inside, reasons)

    # ------------------------------------------------------------ sizing

    def _shape(self) -> dict:
        """The model shape the law was fitted under (training_protocol.train), as the sizing formulas take it."""
        train = self.doc.get("training_protocol", {}).get("train", {})
        missing = [k for k in SHAPE_KEYS if k not in train]
        if missing:
            raise LawFileError(f"{self.source}: training_protocol.train lacks {', '.join(missing)}; "
                               "candidates cannot be sized (refit the law with this srlaw)")
        return {k: train[k] for k in SHAPE_KEYS}

    def params_of(self, n_layers, d_model):
        """(non-embedding, total) parameter counts of candidate configurations."""
        shape = self._shape()
        n_items = int((self.latency or {}).get("n_items") or self.doc.get("n_items") or 0)
        return (non_embedding_params(n_layers, d_model, **shape), total_params(n_layers, d_model, n_items, **shape))

    def latency_of(self, n_layers, d_model, non_embedding):
        """Latency in ms (measured at export where available, else the stored latency model), and which."""
        if self._latency is None:
            return np.full(np.shape(n_layers), np.nan), np.zeros(np.shape(n_layers), bool)
        return self._latency(n_layers, d_model, non_embedding)

    def default_candidates(self):
        dom = self.doc["domain"]
        depths = np.arange(1, int(2 * dom["n_layers"][1]) + 1)
        widths = 2.0 ** np.arange(np.floor(np.log2(dom["d_model"][0])), np.ceil(np.log2(dom["d_model"][1])) + 2)
        N, d = np.meshgrid(depths, widths, indexing="ij")
        return N.ravel(), d.ravel()

    def advise(self, target: dict | None = None, objective: str = "max", budget: dict | None = None,
               candidates=None, metric: str | None = None, data=None, variant=None, top: int = 10,
               allow_extrapolation: bool = False, **named) -> advisor.Advice:
        """Rank candidate (n_layers, d_model) configurations under a target metric and a budget.

        ``target={"ndcg@10": 0.18}`` ranks the cheapest configurations whose predicted metric reaches the target;
        otherwise ``objective="max"`` ranks by predicted metric. ``budget`` keys: ``params`` (total parameters),
        ``params_non_embedding``, ``latency_ms``. Candidates default to a depth × width grid around the domain;
        those outside the fitted domain are excluded unless ``allow_extrapolation``.
        """
        return advisor.advise(self, target, objective, budget, candidates, metric, data, variant, top,
                              allow_extrapolation, **named)
