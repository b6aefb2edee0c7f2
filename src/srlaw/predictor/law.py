"""The law itself: predictions with 95 % intervals and domain flags, sizes and latencies of candidates.

Every formula is the fitter's own (:mod:`srlaw.law.forms`); loading and verification live in
:mod:`srlaw.predictor.artifact`, latency in :mod:`srlaw.predictor.latency`, the sizes, parameter counts and
collapse risk of candidates in :mod:`srlaw.predictor.sizing`, sizing advice in :mod:`srlaw.predictor.advisor`.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from srlaw.core.errors import LawDomainWarning, LawFileError, LawInputError
from srlaw.predictor import advisor
from srlaw.predictor.artifact import check_document, read_artifact
from srlaw.predictor.latency import LatencyModel
from srlaw.predictor.sizing import Sizing

Z95 = 1.959963984540054
MAX_POINTS = 1_000_000  # one call's candidates: larger batches are split by the caller
CHUNK = 1 << 14  # points per bootstrap evaluation: memory stays bounded (CHUNK × refits floats)


def numbers(name: str, value) -> np.ndarray:
    """``value`` as a float array of finite, positive numbers, or :class:`LawInputError` naming ``name``.

    Booleans, strings, None and NaN/inf are refused: ``np.asarray`` would turn ``True`` or ``"2"`` into numbers.
    """
    a = np.asarray(value)
    if a.dtype.kind not in "iuf":
        raise LawInputError(f"{name} must be a number or an array of numbers, got {value!r:.60}")
    a = a.astype(float)
    if a.size > MAX_POINTS:
        raise LawInputError(f"{name}: {a.size:,} points in one call, over the limit of {MAX_POINTS:,}; split the batch")
    if not np.all(np.isfinite(a)):
        raise LawInputError(f"{name} must be finite, got {value!r:.60}")
    if np.any(a <= 0):
        raise LawInputError(f"{name} must be positive, got {value!r:.60}")
    return a


def domain_check(dom: dict, N, d, D, metric: str | None = None, value=None):
    """Per point, whether it lies inside the fitted ``dom``ain, and per axis (name, inside, low, high); with
    ``metric`` and its predicted ``value``, also whether the value lies in the range the domain gives that metric
    (a library law's: what the library's runs reached)."""
    checks = [("n_layers", "n_layers", N), ("d_model", "d_model", d), ("data", "data", D)]
    if metric in dom and value is not None:
        checks.append((metric, f"predicted {metric}", value))
    shape = np.broadcast_shapes(N.shape, d.shape, D.shape)
    inside = np.ones(shape, dtype=bool)
    parts = []
    for key, name, arr in checks:
        lo, hi = dom[key]
        ok = (arr >= lo * (1 - 1e-9)) & (arr <= hi * (1 + 1e-9))
        inside &= np.broadcast_to(ok, shape)
        parts.append((name, np.broadcast_to(ok, shape), lo, hi))
    return inside, parts


class Prediction:
    """Predicted metric per input point with a 95 % prediction interval, a domain flag and a clip flag.

    Metrics are rates in [0, 1]: a formula that leaves that range (far outside its domain) is clipped to it and
    ``clipped`` says where.
    """

    __slots__ = ("metric", "value", "lower", "upper", "in_domain", "clipped", "reasons")

    def __init__(self, metric, value, lower, upper, in_domain, reasons=(), clipped=None):
        self.metric, self.value, self.lower, self.upper = metric, value, lower, upper
        self.in_domain, self.reasons = in_domain, list(reasons)  # reasons: per point, '' when inside
        self.clipped = np.zeros(np.shape(value), bool) if clipped is None else clipped

    def __repr__(self) -> str:
        if np.ndim(self.value) == 0:
            flags = ("" if bool(self.in_domain) else ", outside the fitted domain") + \
                    (", clipped to [0, 1]" if bool(self.clipped) else "")
            return (f"Prediction({self.metric} = {float(self.value):.4f}, 95 % interval "
                    f"[{float(self.lower):.4f}, {float(self.upper):.4f}]{flags})")
        v = np.asarray(self.value)
        return (f"Prediction({self.metric}, {v.size} points: {v.min():.4f} … {v.max():.4f}, "
                f"{int(np.size(self.in_domain) - np.count_nonzero(self.in_domain))} outside the fitted domain)")

    def to_dict(self) -> dict:
        scalar = np.ndim(self.value) == 0
        conv = (lambda a: np.asarray(a).item()) if scalar else (lambda a: np.asarray(a).tolist())
        return {"metric": self.metric, "value": conv(self.value), "lower": conv(self.lower),
                "upper": conv(self.upper), "in_domain": conv(self.in_domain), "clipped": conv(self.clipped),
                "reasons": self.reasons}


class Law(Sizing):
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
        # relative noise: sigma is a share of the predicted value (a library law's seed and sampling scatter)
        self._relative = {m: bool(doc.get("noise", {}).get(m, {}).get("relative", False)) for m in self.metrics}
        self.latency_model = LatencyModel.of(latency, os.path.join(os.path.dirname(source), "latency.json"))

    def __repr__(self) -> str:
        dom = self.doc["domain"]
        return (f"Law({self.form.name} form, metrics {', '.join(self.metrics)}, fitted on n_layers "
                f"{dom['n_layers'][0]:g}–{dom['n_layers'][1]:g}, d_model {dom['d_model'][0]:g}–{dom['d_model'][1]:g}, "
                f"{self.doc.get('data_axis', {}).get('score', 'data')} {dom['data'][0]:.4g}–{dom['data'][1]:.4g}; "
                f"{self.source})")

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, path, sha256: str | None = None, verify: bool = True) -> "Law":
        """Load ``law.json`` (a file or the folder holding it) after checking it against the folder's manifest.

        ``sha256`` pins the digest of that ``manifest.json`` (from the production config); ``verify=False`` loads
        a law without a manifest. See :mod:`srlaw.predictor.artifact` for the threat model.
        """
        doc, latency, source = read_artifact(path, sha256=sha256, verify=verify)
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
        """D for prediction: a number (``data=``), a variant the law was fitted on, or the score by name; with
        none given, the law's ``default_variant`` (its full data) or its only variant."""
        score_key = self.doc.get("data_axis", {}).get("score", "data")
        aliases = {score_key, score_key.split(".")[0], score_key.split(".")[-1], "data"}
        for k, v in named.items():
            if k not in aliases:
                raise LawInputError(f"unknown argument {k!r}; give data=, variant= or {score_key.split('.')[0]}=")
            data = v
        if variant is not None:
            variants = self.doc.get("variants", {})
            if not isinstance(variant, str) or variant not in variants:
                raise LawInputError(f"variant {variant!r} unknown to this law (has {sorted(variants)})")
            return np.asarray(float(variants[variant]["data"]))
        variants = self.doc.get("variants", {})
        default = self.doc.get("default_variant")
        if default not in variants and len(variants) == 1:
            default = next(iter(variants))
        if data is None and default in variants:  # the law's own dataset (its full data) when none is named
            return np.asarray(float(variants[default]["data"]))
        if data is None:
            raise LawInputError(f"give the data value (data=, the law's axis is {score_key!r}) or variant= "
                                f"(one of {sorted(variants)})")
        return numbers("the data value", data)

    def _parameter_variance(self, metric, N, d, D, value):
        """Variance of the prediction across the bootstrap refits (parameter uncertainty), in bounded chunks."""
        boot = self._boot[metric]
        if len(boot) < 2:
            return np.zeros_like(value)
        shape = np.shape(value)
        flat = [np.broadcast_to(a, shape).reshape(-1) for a in (N, d, D)]
        out = np.empty(int(np.prod(shape, dtype=np.int64)))
        for a in range(0, len(out), CHUNK):
            with np.errstate(all="ignore"):
                samples = self.form.fn(boot.T[:, :, None], *(x[a:a + CHUNK] for x in flat))
            samples = np.where(np.isfinite(samples), samples, np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # every refit non-finite at a point: nan, flagged
                out[a:a + CHUNK] = np.nanvar(samples, axis=0)
        return out.reshape(shape)

    def predict(self, n_layers, d_model, metric: str | None = None, data=None, variant=None, warn: bool = True,
                interval: bool = True, **named) -> Prediction:
        """Predicted metric at (n_layers, d_model, D), vectorised, with a 95 % interval and a domain flag.

        The interval combines the spread of the bootstrap refits with the larger of in-sample scatter and
        held-out RMSE (``noise.sigma`` in law.json; a share of the value where ``noise.relative``). ``interval=False`` skips the bootstrap (lower = upper = value).
        """
        metric = self.resolve_metric(metric)
        N, d = numbers("n_layers", n_layers), numbers("d_model", d_model)
        D = self.data_value(data, variant, **named)
        try:
            shape = np.broadcast_shapes(N.shape, d.shape, D.shape)
        except ValueError:
            raise LawInputError(f"n_layers {N.shape}, d_model {d.shape} and data {D.shape} do not broadcast") from None
        if int(np.prod(shape, dtype=np.int64)) > MAX_POINTS:
            raise LawInputError(f"{shape} points in one call, over the limit of {MAX_POINTS:,}; split the batch")
        value = self.form.predict(self._theta[metric], N, d, D)
        var = self._parameter_variance(metric, N, d, D, value) if interval else np.zeros_like(value)
        sigma = self._sigma[metric] * (np.abs(value) if self._relative[metric] else 1.0)
        half = Z95 * np.sqrt(var + sigma ** 2) if interval else np.zeros_like(value)
        lower, upper = value - half, value + half
        # a rate lives in [0, 1]: far outside the domain a formula can leave it, so clip and say so
        clipped = ~np.isfinite(value) | (value < 0) | (value > 1)
        raw = value
        value, lower, upper = (np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0) for a in (value, lower, upper))
        inside, parts = domain_check(self.doc["domain"], N, d, D, metric, raw)
        reasons = []
        if not inside.all() or clipped.any():
            reasons = [", ".join([f"{n} outside [{lo:g}, {hi:g}]" for n, ok, lo, hi in parts if not ok.reshape(-1)[i]]
                                 + (["clipped to [0, 1]"] if np.broadcast_to(clipped, inside.shape).reshape(-1)[i]
                                    else []))
                       for i in range(inside.size)]
        if warn and not inside.all():
            warnings.warn(f"{int((~inside).sum())} of {inside.size} points lie outside the fitted domain "
                          f"({reasons[int(np.flatnonzero(~inside.reshape(-1))[0])]}): extrapolated, check the "
                          "interval", LawDomainWarning, stacklevel=2)
        return Prediction(metric, value, lower, upper, inside, reasons, clipped)

    def advise(self, target: dict | None = None, objective: str = "max", budget: dict | None = None,
               candidates=None, metric: str | None = None, data=None, variant=None, top: int = 10,
               allow_extrapolation: bool = False, n_items: int | None = None, **named) -> advisor.Advice:
        """Rank candidate (n_layers, d_model) configurations under a target metric and a budget.

        ``target={"ndcg@10": 0.18}`` ranks the cheapest configurations whose predicted metric reaches the target;
        otherwise ``objective="max"`` ranks by predicted metric. ``budget`` keys: ``params`` (total parameters),
        ``params_non_embedding``, ``latency_ms``. Candidates default to a depth × width grid around the domain;
        those outside the fitted domain are excluded unless ``allow_extrapolation``. ``n_items``: your catalogue
        size, so that total parameters (and a ``params`` budget) count your item embedding.
        """
        return advisor.advise(self, target, objective, budget, candidates, metric, data, variant, top,
                              allow_extrapolation, n_items, **named)
