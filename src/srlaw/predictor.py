"""Load a fitted performance law and advise deployment sizing — numpy and the standard library only.

    from srlaw.predictor import Law
    law = Law.load("artifacts/law")
    law.predict(n_layers=2, d_model=64, variant="full")          # metric with a 95 % prediction interval
    law.advise(target={"ndcg@10": 0.05}, budget={"params": 5e6, "latency_ms": 2.0}, variant="full")

Safety: the JSON is parsed, never unpickled or evaluated; when a ``manifest.json`` sits beside the artifact
folder (or in it), every file read is checked against its sha256 first and a mismatch is an error. Predictions
outside the fitted domain are flagged and warned about, never silently extrapolated. Every formula is the fitter's
own (:mod:`srlaw.law_forms`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings

import numpy as np

from srlaw.law_forms import get_form
from srlaw.sizing import non_embedding_params, total_params

SUPPORTED_SCHEMA = (1, 0)
Z95 = 1.959963984540054


class LawError(Exception):
    """Base class of every error the predictor raises."""


class LawFileError(LawError):
    """The law artifact is missing or is not valid law JSON."""


class LawSchemaError(LawError):
    """The artifact's schema version is newer than this predictor understands."""


class LawIntegrityError(LawError):
    """A file's sha256 does not match the manifest: the file is not used."""


class LawInputError(LawError, ValueError):
    """Bad arguments to predict/advise (unknown metric, missing data value, bad budget...)."""


class LawDomainWarning(UserWarning):
    """A prediction lies outside the range of configurations and data the law was fitted on."""


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _sha256(path: str) -> str:
    return hashlib.sha256(_read(path)).hexdigest()


def _find_manifest(folder: str):
    """artifacts/manifest.json lists law files as 'law/law.json'; a manifest inside the folder lists 'law.json'."""
    folder = os.path.abspath(folder)
    for manifest, prefix in ((os.path.join(folder, "manifest.json"), ""),
                             (os.path.join(os.path.dirname(folder), "manifest.json"), os.path.basename(folder) + "/")):
        if os.path.isfile(manifest):
            return manifest, prefix
    return None, ""


def _verified_json(path: str, manifest: dict | None, key: str, manifest_path) -> dict:
    if manifest is not None:
        entry = manifest.get("files", {}).get(key)
        if entry is None:
            raise LawIntegrityError(f"{path}: not listed in {manifest_path} (as {key!r}); refusing an unlisted file")
        got = _sha256(path)
        if got != entry.get("sha256"):
            raise LawIntegrityError(f"{path}: sha256 {got[:16]}… does not match {manifest_path} "
                                    f"({str(entry.get('sha256'))[:16]}…); the file is not used")
    try:
        return json.loads(_read(path))
    except (OSError, ValueError) as e:
        raise LawFileError(f"{path}: not readable JSON: {e}") from None


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


class Advice:
    """Ranked feasible configurations, excluded ones with reasons, and what binds when nothing fits."""

    def __init__(self, metric, ranked, excluded_count, exclusion_counts, excluded_fn, binding=None,
                 best_achievable=None, optimum=None):
        self.metric, self.ranked, self.excluded_count = metric, ranked, excluded_count
        self.exclusion_counts, self._excluded = exclusion_counts, excluded_fn
        self.binding, self.best_achievable, self.optimum = binding, best_achievable, optimum

    @property
    def excluded(self) -> list:
        """Every excluded candidate with its reasons (built on demand: 10,000 candidates stay fast)."""
        return self._excluded()

    def to_dict(self, max_excluded: int = 50) -> dict:
        return {"metric": self.metric, "ranked": self.ranked, "excluded_count": self.excluded_count,
                "exclusion_counts": self.exclusion_counts, "excluded": self.excluded[:max_excluded],
                "binding": self.binding, "best_achievable": self.best_achievable, "optimum": self.optimum}


class Law:
    """A fitted performance law loaded from ``law.json`` (and ``latency.json`` when present)."""

    def __init__(self, doc: dict, latency: dict | None = None, source: str = "<memory>"):
        self.doc, self.latency, self.source = doc, latency, source
        for key in ("schema_version", "form", "metric", "params", "domain", "param_names"):
            if key not in doc:
                raise LawFileError(f"{source}: missing field {key!r}; not a srlaw law artifact")
        version = str(doc["schema_version"])
        try:
            major, minor = (int(x) for x in version.split(".")[:2])
        except ValueError:
            raise LawFileError(f"{source}: schema_version {version!r} is not 'MAJOR.MINOR'") from None
        if major > SUPPORTED_SCHEMA[0]:
            raise LawSchemaError(f"{source}: schema_version {version} is newer than this predictor supports "
                                 f"({SUPPORTED_SCHEMA[0]}.{SUPPORTED_SCHEMA[1]}); upgrade srlaw")
        try:
            self.form = get_form(doc["form"])
        except KeyError as e:
            raise LawFileError(f"{source}: {e.args[0]}") from None
        self.metrics = list(doc["metric"]) if isinstance(doc["metric"], list) else [doc["metric"]]
        self._theta = {m: np.array([doc["params"][m][k] for k in self.form.param_names]) for m in self.metrics}
        self._boot = {m: np.asarray(doc.get("bootstrap", {}).get(m, []), float).reshape(-1, self.form.n_params)
                      for m in self.metrics}
        self._sigma = {m: float(doc.get("noise", {}).get(m, {}).get("sigma", 0.0)) for m in self.metrics}
        self._latency_model = self._fit_latency_model()

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, path) -> "Law":
        """Load ``law.json`` (a file or the folder holding it), verifying sha256 against a manifest if present."""
        path = os.fspath(path)
        folder, law_path = (path, os.path.join(path, "law.json")) if os.path.isdir(path) else \
            (os.path.dirname(path) or ".", path)
        if not os.path.isfile(law_path):
            raise LawFileError(f"{law_path}: no such law artifact (run `dvc repro` or `dvc pull`)")
        manifest_path, prefix = _find_manifest(folder)
        manifest = None
        if manifest_path is not None:
            try:
                manifest = json.loads(_read(manifest_path))
            except (OSError, ValueError) as e:
                raise LawFileError(f"{manifest_path}: not readable JSON: {e}") from None
        doc = _verified_json(law_path, manifest, prefix + os.path.basename(law_path), manifest_path)
        latency = None
        lat_path = os.path.join(folder, "latency.json")
        if os.path.isfile(lat_path):
            latency = _verified_json(lat_path, manifest, prefix + "latency.json", manifest_path)
        return cls(doc, latency, source=str(law_path))

    # ------------------------------------------------------------ prediction

    def _metric(self, metric):
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
        metric = self._metric(metric)
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

    def _fit_latency_model(self):
        """ms ≈ a + b·(non-embedding params) + c·(output-layer size d·n_items), fitted on measured configs."""
        rows = (self.latency or {}).get("configs", [])
        if len(rows) < 3:
            return None
        n_items = self.latency.get("n_items", 0)
        X = np.array([[1.0, r["params_non_embedding"], r["d_model"] * n_items] for r in rows])
        y = np.array([r["latency_ms"] for r in rows])
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        keys = np.array([r["n_layers"] * 1e6 + r["d_model"] for r in rows])
        order = np.argsort(keys)
        return coef, n_items, keys[order], y[order]

    def _sizing(self):
        tp = self.doc.get("training_protocol", {}).get("train", {})
        n_items = (self.latency or {}).get("n_items") or self.doc.get("n_items") or 0
        return (tp.get("backbone", "sasrec"), int(tp.get("ffn_mult", 1)), int(tp.get("n_heads", 1)),
                int(tp.get("max_len", 50)), int(n_items))

    def params_of(self, n_layers, d_model):
        """(non-embedding, total) parameter counts of candidate configurations."""
        backbone, ffn, heads, max_len, n_items = self._sizing()
        return (non_embedding_params(n_layers, d_model, backbone, ffn, heads, max_len),
                total_params(n_layers, d_model, n_items, max_len, backbone, ffn, heads))

    def latency_of(self, n_layers, d_model, non_embedding):
        """Latency in ms (measured at export where available, else the fitted latency model), and which."""
        if self._latency_model is None:
            nan = np.full(np.shape(n_layers), np.nan)
            return nan, np.zeros(np.shape(n_layers), bool)
        coef, n_items, keys, values = self._latency_model
        N, d = np.asarray(n_layers, float), np.asarray(d_model, float)
        est = coef[0] + coef[1] * non_embedding + coef[2] * d * n_items
        key = N * 1e6 + d
        pos = np.clip(np.searchsorted(keys, key), 0, len(keys) - 1)
        is_measured = keys[pos] == key
        return np.where(is_measured, values[pos], est), is_measured

    def default_candidates(self):
        dom = self.doc["domain"]
        depths = np.arange(1, int(2 * dom["n_layers"][1]) + 1)
        widths = 2.0 ** np.arange(np.floor(np.log2(dom["d_model"][0])), np.ceil(np.log2(dom["d_model"][1])) + 2)
        N, d = np.meshgrid(depths, widths, indexing="ij")
        return N.ravel(), d.ravel()

    def advise(self, target: dict | None = None, objective: str = "max", budget: dict | None = None,
               candidates=None, metric: str | None = None, data=None, variant=None, top: int = 10,
               allow_extrapolation: bool = False, **named) -> Advice:
        """Rank candidate (n_layers, d_model) configurations under a target metric and a budget.

        ``target={"ndcg@10": 0.18}`` ranks the cheapest configurations whose predicted metric reaches the target;
        otherwise ``objective="max"`` ranks by predicted metric. ``budget`` keys: ``params`` (total parameters),
        ``params_non_embedding``, ``latency_ms``. Candidates default to a depth × width grid around the domain;
        those outside the fitted domain are excluded unless ``allow_extrapolation``.
        """
        if target:
            if len(target) != 1:
                raise LawInputError(f"target takes one metric, got {target}")
            metric, goal = next(iter(target.items()))
        elif objective != "max":
            raise LawInputError(f"objective must be 'max' (or give a target), got {objective!r}")
        metric = self._metric(metric)
        budget = dict(budget or {})
        unknown = set(budget) - {"params", "params_non_embedding", "latency_ms"}
        if unknown:
            raise LawInputError(f"unknown budget keys {sorted(unknown)}; use params, params_non_embedding, latency_ms")
        if candidates is None:
            N, d = self.default_candidates()
        else:
            cand = np.asarray(candidates, float)
            if cand.ndim != 2 or cand.shape[1] != 2:
                raise LawInputError("candidates must be a sequence of (n_layers, d_model) pairs")
            N, d = cand[:, 0], cand[:, 1]
        pred = self.predict(N, d, metric=metric, data=data, variant=variant, warn=False, interval=False, **named)
        D = self.data_value(data, variant, **named)
        pne, ptot = self.params_of(N, d)
        lat, measured = self.latency_of(N, d, pne)
        checks = []  # (name, ok mask, reason template)
        if not allow_extrapolation:
            checks.append(("domain", pred.in_domain, "outside the fitted domain"))
        if "params" in budget:
            checks.append(("params", ptot <= budget["params"], f"params > {budget['params']:g}"))
        if "params_non_embedding" in budget:
            checks.append(("params_non_embedding", pne <= budget["params_non_embedding"],
                           f"non-embedding params > {budget['params_non_embedding']:g}"))
        if "latency_ms" in budget:
            if self._latency_model is None:
                raise LawInputError("this law has no latency.json: a latency budget cannot be checked")
            checks.append(("latency_ms", lat <= budget["latency_ms"], f"latency > {budget['latency_ms']:g} ms"))
        budget_ok = np.ones(len(N), bool)
        for _, ok, _ in checks:
            budget_ok &= ok
        if target:
            checks.append(("target", pred.value >= goal, f"predicted {metric} < {goal:g}"))
        feasible = np.ones(len(N), bool)
        for _, ok, _ in checks:
            feasible &= ok

        def rows(ids):
            # intervals (a bootstrap evaluation) only for the rows returned, not for every candidate
            ids = np.asarray(ids, dtype=int)
            if not len(ids):
                return []
            Di = np.broadcast_to(D, N.shape)[ids]
            iv = self.predict(N[ids], d[ids], metric=metric, data=Di, warn=False)
            return [{"n_layers": int(N[i]), "d_model": int(d[i]), metric: float(pred.value[i]),
                     "lower": float(lo), "upper": float(hi), "params_total": int(ptot[i]),
                     "params_non_embedding": int(pne[i]), "latency_ms": None if np.isnan(lat[i]) else float(lat[i]),
                     "latency_measured": bool(measured[i]), "in_domain": bool(pred.in_domain[i])}
                    for i, lo, hi in zip(ids, iv.lower, iv.upper)]

        idx = np.flatnonzero(feasible)
        order = np.lexsort((-pred.value[idx], ptot[idx])) if target else np.argsort(-pred.value[idx], kind="stable")
        ranked = rows(idx[order][:top])
        counts = {name: int((~ok).sum()) for name, ok, _ in checks}

        def excluded():
            ids = np.flatnonzero(~feasible)
            out = rows(ids)
            for i, r in zip(ids, out):
                r["reasons"] = [msg for _, ok, msg in checks if not ok[i]]
            return out

        binding, best = None, None
        if not len(idx):
            within = np.flatnonzero(budget_ok)
            if target and len(within):
                binding = "target"
                best = rows([within[np.argmax(pred.value[within])]])[0]
            else:
                # the budget constraint that excludes the most candidates binds; the cheapest candidate shows how far off
                binding = max((c for c in checks if c[0] != "target"), key=lambda c: (~c[1]).sum())[0]
                pool = np.flatnonzero(pred.in_domain) if pred.in_domain.any() else np.arange(len(N))
                best = rows([pool[np.argmin(ptot[pool])]])[0]
        optimum = None
        if self.form.optimum is not None and not budget:
            optimum = self.form.optimum(self._theta[metric])
        return Advice(metric, ranked, int((~feasible).sum()), counts, excluded, binding, best, optimum)
