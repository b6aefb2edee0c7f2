"""The production config of a chosen size, for any law srlaw writes (pipeline, released, library, calibrated):
the size, the whole recipe to train it with, the prediction with its interval and what that interval measured,
the collapse risk, and the law it came from — pinned by its manifest's sha256, with its validation figures."""

from __future__ import annotations

import hashlib
import os

COVERAGE_CLAIM = 0.95


def manifest_sha256(law) -> str | None:
    """The sha256 of the manifest beside the law (what a production config pins), if there is one."""
    path = os.path.join(os.path.dirname(law.source), "manifest.json")
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def validation_figures(doc: dict, metric: str) -> dict:
    """What the law measured on models it was not fitted on, for ``metric``: held-out error, the coverage of its
    95 % intervals (of seed means and of single runs), and for a calibrated law the library's check of the same
    procedure at its number of runs (capped runs when the calibration was capped)."""
    v = doc.get("validation", {})
    se = v.get("scale_extrapolation", {}).get(metric, {})
    cov = se.get("coverage95", {})
    out = {"heldout_mape": se.get("mape"), "heldout_points": se.get("n"),
           "coverage95_seed_means": cov.get("coverage"),
           "coverage95_single_runs": cov.get("single_runs", {}).get("coverage")}
    for key in ("leave_one_dataset_out", "leave_one_source_out"):
        check = v.get(key, {})
        if isinstance(check, dict) and isinstance(check.get(metric), dict):
            row = check[metric]
            out[key] = {"k": check.get("k"), "runs_cut_by_a_cap": bool(check.get("cut", False)),
                        "mape_median": row.get("mape_median"),
                        "mape_worst": row.get("mape_worst"), "coverage95": row.get("coverage"),
                        "coverage95_single_runs": row.get("coverage_runs")}
    return out


def interval_label(figures: dict) -> str:
    """What the interval may be called: "95 % interval" only where it covered what it claims."""
    checks = [figures] + [figures[k] for k in ("leave_one_source_out", "leave_one_dataset_out") if k in figures]
    measured = next((c.get(key) for key in ("coverage95_single_runs", "coverage95_seed_means", "coverage95")
                     for c in checks if c.get(key) is not None), None)
    if measured is None:
        return "95 % interval (coverage not measured)"
    if measured < 0.8 * COVERAGE_CLAIM:
        return f"interval (claimed 95 %, covered {100 * measured:.0f} % when checked)"
    return "95 % interval"


def production_config(law, row: dict, metric: str) -> dict:
    """The config block of ``row`` (a ranked row of :meth:`Law.advise`)."""
    train = dict(law.doc.get("training_protocol", {}).get("train", {}))
    figures = validation_figures(law.doc, metric)
    return {
        "model": {"n_layers": row["n_layers"], "d_model": row["d_model"],
                  **{k: train[k] for k in ("backbone", "max_len", "n_heads", "ffn_mult") if k in train},
                  **law.item_embedding},
        "recipe": {"name": law.doc.get("training_protocol", {}).get("recipe"), "train": train},
        "expected": {metric: {"value": row[metric], "interval": [row["lower"], row["upper"]],
                              "interval_label": interval_label(figures)}},
        "params_total": row["params_total"], "params_non_embedding": row["params_non_embedding"],
        "latency_ms": row["latency_ms"], "collapse_risk": row["collapse_risk"],
        "law": {"path": os.path.dirname(law.source), "manifest_sha256": manifest_sha256(law),
                "form": law.doc["form"], "srlaw": law.doc.get("provenance", {}).get("srlaw_version"),
                "code_sha256": law.doc.get("provenance", {}).get("code_sha256"), "validation": figures},
    }
