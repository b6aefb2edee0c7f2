"""What a user would do instead of calibrating a law, at the same compute: train the largest configuration they
care about for as many epochs as calibration's runs cost, and extrapolate its own learning curve to convergence
(the strategy Choshen et al. 2024 set against scaling laws).

Measured on the run store without training: the target's stored run, its validation curve cut to the epochs the
calibration's FLOPs buy at that size, fitted by :func:`srlaw.law.learning_curve.fit_run_curve` (best-so-far
value approaching its limit exponentially); the limit, carried to the test split by the library's median test /
validation ratio, is the forecast. The law's error at the same configuration stands beside it.
"""

from __future__ import annotations

import math

import numpy as np

from srlaw.law.learning_curve import fit_run_curve


def valid_to_test_ratio(records: list[dict], metric: str) -> float:
    """Median over ``records`` of the test value over the best validation value: how a validation curve's level
    carries to the test split (leave-one-out: the test item is one step later than the validation item)."""
    ratios = [r[metric] / max(r["curve"][metric]) for r in records if r["curve"][metric] and max(r["curve"][metric]) > 0]
    return float(np.median(ratios)) if ratios else 1.0


def forecast(curve, epochs: int, ratio: float) -> float:
    """The converged test value that the first ``epochs`` epochs of a validation ``curve`` point to."""
    return math.exp(fit_run_curve(list(curve)[:max(1, epochs)])[0]) * ratio


def equal_compute(run: dict, metric: str, epochs: int, ratio: float, observed: float, law_ape: float) -> dict:
    """The baseline for one held-out dataset: ``run`` (the target configuration's run) trained ``epochs`` epochs
    and extrapolated, against the seed-mean ``observed`` test value; the law's error there beside it."""
    curve = run["curve"][metric]
    f = forecast(curve, epochs, ratio)
    return {"epochs": int(epochs), "run_epochs": len(curve), "forecast": f, "observed": observed,
            "ape": abs(f - observed) / observed, "law_ape": law_ape, "ratio": ratio}


def summary(rows: list[dict]) -> dict:
    """Over held-out datasets: the baseline's and the law's median error at the target, how often the law wins."""
    rows = [r for r in rows if r is not None]
    if not rows:
        return {}
    return {"n": len(rows), "ape_median": float(np.median([r["ape"] for r in rows])),
            "ape_worst": float(np.max([r["ape"] for r in rows])),
            "law_ape_median": float(np.median([r["law_ape"] for r in rows])),
            "law_ape_worst": float(np.max([r["law_ape"] for r in rows])),
            "law_wins": int(sum(r["law_ape"] < r["ape"] for r in rows)),
            "epochs_median": float(np.median([r["epochs"] for r in rows]))}


def markdown(doc: dict) -> list[str]:
    """The report's section: per K, the law against the equal-compute baseline at each dataset's largest target."""
    table = doc.get("baseline", {})
    if not table:
        return []
    lines = ["## The law against the equal-compute baseline", "",
             "For each held-out dataset, the largest configuration the law is scored on, trained for the epochs "
             "that calibration's FLOPs buy at that size and extrapolated along its own validation curve (limit × the "
             "library's test/validation ratio), against the seed-mean test truth; the law's error at the same "
             "configuration beside it (one dataset out, K calibration runs).", "",
             "| metric | K | datasets | epochs bought (median) | baseline MAPE median / worst | law MAPE median / "
             "worst | law better on |", "|---|---|---|---|---|---|---|"]
    for key, s in table.items():
        m, k = key.split("|")
        lines.append(f"| {m} | {k} | {s['n']} | {s['epochs_median']:.0f} | {100 * s['ape_median']:.1f} / "
                     f"{100 * s['ape_worst']:.1f} % | {100 * s['law_ape_median']:.1f} / {100 * s['law_ape_worst']:.1f} % "
                     f"| {s['law_wins']} of {s['n']} |")
    return lines + [""]
