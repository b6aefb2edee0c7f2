"""The law library's form as a candidate of the pipeline's ``fit`` stage (``law.forms: [..., shared_power]``).

Its shape — depth term, curvature prior, noise and misfit — comes from the released library
(``artifacts/laws/index.json``); each data variant's level is calibrated on that variant's own runs, exactly as
``srlaw calibrate`` calibrates a new dataset on its K runs. It is judged like the direct forms, on the same points:
calibrated on the scale split's small runs and scored on the larger ones, with the predictor's own intervals;
for leave-one-variant-out, a variant is predicted from its data scores alone (zero runs). When the pipeline's data
is a library dataset, the library fitted without that dataset is used throughout: the shape must not have seen
the runs it is judged on. The shape holds for the library's recipe alone, so runs of another recipe are refused.

A law of this form describes one dataset: when it wins, the shipped law is the default variant's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srlaw.core.errors import LawFitError, SrlawError
from srlaw.law.fit import RunTable, prediction_errors, regret_summary
from srlaw.law.forms import r_squared
from srlaw.library.shape import calibrated_document, failed_run, probe_of
from srlaw.library.index import LIBRARY_INDEX, fits_without, load_library, recipe_differences

LIBRARY_FORM = "shared_power"
RUN_KEYS = ("n_layers", "d_model", "params_non_embedding", "params_total")


@dataclass
class Library:
    """The library as one pipeline uses it: the fits (with its own dataset left out), recipe and index entry."""

    fits: dict
    recipe_name: str
    index: dict
    left_out: list
    path: Path

    def describe(self) -> dict:
        from srlaw.core.provenance import sha256_file
        return {"index": self.path.as_posix(), "index_sha256": sha256_file(self.path), "recipe": self.recipe_name,
                "left_out": list(self.left_out)}


def open_library(variants: dict, train: dict, split: str, path: Path = LIBRARY_INDEX) -> Library:
    """The library for runs of ``variants`` trained with ``train``; LawFitError naming why it does not apply."""
    try:
        fits, recipe_name, index = load_library(path)
        without, left_out = fits_without(index, [v["content_hash"] for v in variants.values()], path)
    except SrlawError as e:
        raise LawFitError(str(e)) from None
    if split != "test":
        raise LawFitError(f"law.split = {split!r}: the library's levels describe the test split")
    diff = recipe_differences(train, recipe_name)
    if diff:
        raise LawFitError(f"the runs trained with {'; '.join(diff)}: the library's shape holds for its recipe "
                          f"{recipe_name!r} alone")
    return Library(without or fits, recipe_name, index, left_out, Path(path))


def calibrated_law(lib: Library, name: str, info: dict, runs: list[dict], metrics, note: str | None = None,
                   **kw) -> dict:
    """The law.json document of variant ``name`` (``info``: its entry of the fit stage's variants) calibrated on
    ``runs`` (no runs: from its data scores alone). A run under half of what the library expects at its size
    (``failed_run``: a false plateau or a diverged stack) is left out, as ``srlaw calibrate`` leaves it out, and
    listed in ``calibration.failed_runs``; ``note`` ends the calibration's note; ``kw`` go to
    :func:`srlaw.library.shape.law_document`."""
    scores = info["scores"]
    fits = {m: lib.fits[m] for m in metrics}
    n_users = int(scores["n_users"])
    judge_by = "ndcg@10" if "ndcg@10" in metrics else metrics[0]
    used, failed = [], []
    for r in runs:
        r = {k: r[k] for k in (*RUN_KEYS, *metrics) if k in r}
        share = failed_run(fits[judge_by], probe_of(scores, judge_by), n_users, r)
        if share is None:
            used.append(r)
        else:
            failed.append({**r, "share_of_expected": share})
    dataset = {"name": name, "content_hash": info["content_hash"], "probe": probe_of(scores, "ndcg@10"),
               "n_users": n_users, "n_items": int(info["n_items"]), "scores": scores}
    calibration = {"failed_runs": failed}
    if note is not None:
        calibration["note"] = (f"variant {name!r} calibrated on its {len(used)} runs"
                               + (f" ({len(failed)} under half of what the library expects left out)" if failed
                                  else "") + f"; {note}")
    return calibrated_document(fits, dataset, lib.recipe_name, used, metrics, unstable=lib.index.get("unstable", []),
                               collapse=lib.index.get("collapse", []), calibration=calibration, **kw)


def _predictions(lib: Library, table: RunTable, records: list[dict], variants: dict, metrics, fit_rows) -> dict:
    """Per metric, (value, lower, upper) for every row of ``table``: each variant's law calibrated once, on its
    rows in ``fit_rows``, for every metric (so one failed-run judgement serves them all)."""
    from srlaw.predictor.law import Law
    out = {m: tuple(np.full(len(table), np.nan) for _ in range(3)) for m in metrics}
    for v in sorted(set(table.variant.tolist())):
        rows = table.variant == v
        law = Law(calibrated_law(lib, v, variants[v], [records[i] for i in np.flatnonzero(rows & fit_rows)],
                                 metrics), source=f"{LIBRARY_FORM} calibrated on {v}")
        for m in metrics:
            p = law.predict(table.n_layers[rows], table.d_model[rows], m, warn=False)
            for arr, col in zip(out[m], (p.value, p.lower, p.upper)):
                arr[rows] = col
    return out


def scale_extrapolation(table: RunTable, metric: str, small, prediction) -> dict:
    """Errors on the rows not in ``small`` of ``prediction`` (value, lower, upper) from each variant's law
    calibrated on its ``small`` rows: MAPE, advise regret, and the 95 % intervals' coverage."""
    value, lower, upper = prediction
    big = ~small
    y = table.metrics[metric]
    out = prediction_errors(y[big], value[big])
    out["regret"] = regret_summary(table, metric, value, big)
    inside = (lower[big] <= y[big]) & (y[big] <= upper[big])
    out.update({"fit_params_max": float(table.params_non_embedding[small].max()), "n_fit": int(small.sum()),
                "coverage95": {"coverage": float(inside.mean()), "n": int(big.sum()),
                               "mean_width": float(np.mean(upper[big] - lower[big])),
                               "note": "the predictor's intervals of each variant's law calibrated on its small runs"},
                "points": [{"variant": str(v), "n_layers": int(n), "d_model": int(d), "observed": float(o),
                            "predicted": float(p), "lower": float(lo), "upper": float(hi)}
                           for v, n, d, o, p, lo, hi in zip(table.variant[big], table.n_layers[big], table.d_model[big],
                                                            y[big], value[big], lower[big], upper[big])]})
    return out


def judge(records: list[dict], variants: dict, table: RunTable, metrics, fraction: float, train: dict, split: str,
          path: Path = LIBRARY_INDEX) -> tuple[dict, Library | None]:
    """The form's entries for ``select_form(judged=...)`` and the library it used (None, and the reason in every
    entry, where the library does not apply to these runs).

    Scale extrapolation: calibrated on each variant's runs with <= ``fraction`` of the largest non-embedding
    parameter count (the direct forms' split), scored on the larger ones."""
    metrics = list(metrics)
    try:
        lib = open_library(variants, train, split, path)
    except LawFitError as e:
        return {m: {"scale_extrapolation": {"error": str(e), "mape": math.inf},
                    "leave_one_variant_out": {"skipped": str(e)}, "in_sample_r2": None} for m in metrics}, None
    small = table.params_non_embedding <= fraction * table.params_non_embedding.max()
    split_error = None if small.any() and not small.all() else \
        f"scale extrapolation with fraction={fraction}: no runs on one side of the split"
    none = np.zeros(len(table), bool)
    scaled = None if split_error else _predictions(lib, table, records, variants, metrics, small)
    zero_shot = _predictions(lib, table, records, variants, metrics, none)
    in_sample = _predictions(lib, table, records, variants, metrics, ~none)
    out = {}
    for m in metrics:
        y = table.metrics[m]
        out[m] = {"scale_extrapolation": {"error": split_error, "mape": math.inf} if split_error else
                  {**scale_extrapolation(table, m, small, scaled[m]), "fraction": fraction},
                  "leave_one_variant_out": {
                      **prediction_errors(y, zero_shot[m][0]),
                      "note": "each variant from its data scores alone (zero runs of its own)",
                      "per_variant": {v: prediction_errors(y[table.variant == v], zero_shot[m][0][table.variant == v])
                                      for v in sorted(set(table.variant.tolist()))}},
                  "in_sample_r2": float(r_squared(y, in_sample[m][0]))}
    return out, lib
