"""An exploration, not a release: can a calibration run stopped early tell its converged value better than the
library's median learning curve credits it with — cheap calibration at the accuracy of a converged one?

    python -m studies.library.cut_runs     # reports/cut_runs.md and .json (≈ 2 min on one core)

`srlaw calibrate` counts a run stopped by a time cap as its best validation value so far, raised by the gain the
library's small runs still made after that epoch: their median, its spread added to the variance — the same for
every run. Runs cut that way to 10 % of one wide run miss the K = 1 targets (reports/calibration.md). Two ways to
read more from the run itself, each learnt on the other datasets' learning curves only:

- **own pace**: per epoch, the log gain still to come regressed on the run's improvement over its last two epochs
  and the data's size (log users: an epoch of a large dataset is many more steps); the residual sd its spread.
  Scored on every cut a cap could make, and through the calibration check (validate's cut check, gain swapped);
- **shorter patience**: calibration runs early-stopped after fewer epochs without improvement than the recipe's
  four, the best so far their result: the recorded curves replay this exactly (training is deterministic and
  nothing in the recipe depends on when a run will stop); the compute it saves against the value it loses.
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache

import numpy as np

from srlaw.library.fits import METRICS
from srlaw.library.shape import SMALL_WIDTH, convergence_table, library_without, training_cost
from srlaw.library.store import ROOT, report_main
from srlaw.library.validate import CUT_SHARE, KS, TARGETS, evaluate, library_gain, summarise
from srlaw.predictor.law import Z95
from srlaw.report.format import pct
from srlaw.train.curves import best_so_far

REPORT = ROOT / "reports" / "cut_runs.md"
BANDS = ((1, 6), (7, 12), (13, 30))  # epochs at the cut (a 10 % cap leaves the check's calibration runs 9–34)
PATIENCES = (1, 2, 3)


def _best(run: dict, metric: str, epochs: int) -> float:
    curve = best_so_far(run["curve"][metric])
    return max(curve[min(epochs, len(curve)) - 1], 1e-9)


def features(run: dict, epochs: int, metric: str, n_users: int) -> list[float]:
    """What a run cut after ``epochs`` shows of its pace: its log improvement over its last two epochs (best so
    far), and the data's log users; with an intercept."""
    return [1.0, math.log(_best(run, metric, epochs) / _best(run, metric, max(epochs - 2, 1))), math.log(n_users)]


def final_gain(run: dict, epochs: int, metric: str) -> float:
    """The log gain a run cut after ``epochs`` still had coming (zero once it had ended)."""
    return math.log(_best(run, metric, len(run["curve"][metric])) / _best(run, metric, epochs))


def own_pace_gain(records: list[dict], datasets: dict, max_width: int = SMALL_WIDTH):
    """``gain(run, epochs, metric)`` → (mean, variance) of the log gain still to come, regressed per epoch on
    :func:`features` over ``records``' runs up to ``max_width`` wide (a run that had ended gains zero; its features
    are its last epoch's). The mean is floored at zero: a best-so-far value cannot fall."""
    train = [r for r in records if r["d_model"] <= max_width and best_so_far(r["curve"][METRICS[0]])[-1] > 0]

    @lru_cache(maxsize=None)
    def fitted(epochs: int, metric: str):
        X = np.array([features(r, epochs, metric, datasets[r["variant"]]["n_users"]) for r in train])
        y = np.array([final_gain(r, epochs, metric) for r in train])
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        return coef, float(np.var(y - X @ coef, ddof=X.shape[1]))

    def gain(run: dict, epochs: int, metric: str) -> tuple[float, float]:
        coef, var = fitted(epochs, metric)
        x = features(run, epochs, metric, datasets[run["variant"]]["n_users"])
        return max(float(np.dot(coef, x)), 0.0), var
    return gain


def gain_errors(records: list[dict], datasets: dict, hold: str, gains: dict) -> list[dict]:
    """Every cut a cap could make of ``hold``'s small runs (an epoch before the run ended, up to 30): each gain
    model's error in the log gain still to come, and that error over the model's sd."""
    rows = []
    for r in (r for r in records if r["variant"] == hold and r["d_model"] <= SMALL_WIDTH):
        for m in METRICS:
            if best_so_far(r["curve"][m])[-1] <= 0:
                continue
            for e in range(1, min(len(r["curve"][m]), BANDS[-1][1] + 1)):
                true = final_gain(r, e, m)
                for name, gain in gains.items():
                    mean, var = gain(r, e, m)
                    rows.append({"model": name, "metric": m, "epochs": e, "error": true - mean,
                                 "z": (true - mean) / math.sqrt(var) if var > 0 else math.inf})
    return rows


def error_summary(rows: list[dict]) -> list[dict]:
    """Per gain model, metric and band of epochs: how many cuts, mean abs. and rms error, 95 % coverage."""
    out = []
    for name in sorted({r["model"] for r in rows}):
        for m in METRICS:
            for lo, hi in BANDS:
                band = [r for r in rows if r["model"] == name and r["metric"] == m and lo <= r["epochs"] <= hi]
                err = np.array([r["error"] for r in band])
                out.append({"model": name, "metric": m, "epochs": [lo, hi], "n": len(band),
                            "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
                            "coverage": float(np.mean([abs(r["z"]) <= Z95 for r in band]))})
    return out


def stopped_sooner(run: dict, patience: int, metric: str = "ndcg@10") -> tuple[int, float]:
    """(epochs, best so far ÷ the recorded run's best) of ``run`` early-stopped after ``patience`` epochs without
    improvement of ``metric``, replayed on its recorded curve."""
    curve = run["curve"][metric]
    best, at = -math.inf, 0
    for e, v in enumerate(curve):
        if v > best:
            best, at = v, e
        if e - at >= patience:
            break
    return e + 1, best / max(max(curve), 1e-9)


def _calibration_at(res: dict, patience: int, runs: dict, datasets: dict) -> tuple[float, float]:
    """(compute share, least value kept by a run it used) of validate's calibration ``res`` at ``patience``."""
    ds = datasets[res["dataset"]]
    flops = sooner = 0.0
    worst = 1.0
    for c in res["calibration_runs"]:
        cost = float(training_cost(c["n_layers"], c["d_model"], ds["n_items"], ds["n_users"],
                                   ds["recipe"]["model"]["max_len"]))
        epochs, keep = stopped_sooner(runs[(res["dataset"], c["n_layers"], c["d_model"], c["seed"])], patience)
        flops, sooner = flops + cost * c["epochs"], sooner + cost * min(epochs, c["epochs"])
        worst = min(worst, keep) if c["used"] else worst
    return res["metrics"]["ndcg@10"]["compute_share_flops"] * sooner / flops, worst


def patience_rows(records: list[dict], datasets: dict, converged: list[dict]) -> list[dict]:
    """Per patience: over the library's small runs, the share of their epochs trained and the value kept; over the
    calibrations ``converged`` (validate's default-budget results, per K), the compute at that patience and the value
    their runs keep (median / worst calibration)."""
    small = [r for r in records if r["d_model"] <= SMALL_WIDTH]
    runs = {(r["variant"], r["n_layers"], r["d_model"], r["seed"]): r for r in records}
    out = []
    for p in PATIENCES:
        done = [stopped_sooner(r, p) for r in small]
        kept = [k for _, k in done]
        share = [e / len(r["curve"]["ndcg@10"]) for (e, _), r in zip(done, small)]
        row = {"patience": p, "n_runs": len(small), "epochs_share_median": float(np.median(share)),
               "kept_median": float(np.median(kept)), "kept_p10": float(np.percentile(kept, 10)), "by_k": {}}
        for k in KS[1:]:
            at = [_calibration_at(res, p, runs, datasets) for res in converged if res["k"] == k]
            row["by_k"][str(k)] = {"compute_median": float(np.median([c for c, _ in at])),
                                   "kept_median": float(np.median([w for _, w in at])),
                                   "kept_worst": float(min(w for _, w in at))}
        out.append(row)
    return out


def study(records: list[dict], datasets: dict) -> dict:
    errors, cut, converged = [], {"library median": [], "own pace": []}, []
    for hold in sorted(datasets):
        others = [r for r in records if r["variant"] != hold]
        gains = {"library median": library_gain({m: convergence_table(others, m) for m in METRICS}),
                 "own pace": own_pace_gain(others, datasets)}
        errors += gain_errors(records, datasets, hold, gains)
        fits = library_without(records, datasets, hold)
        for name, gain in gains.items():
            cut[name] += [evaluate(records, datasets, hold, k, fits, gain=gain) for k in KS[1:]]
        converged += [evaluate(records, datasets, hold, k, fits) for k in KS[1:]]
    return {"datasets": sorted(datasets), "cut_share": CUT_SHARE, "gain_errors": error_summary(errors),
            "cut": {name: summarise(rows, KS[1:]) for name, rows in cut.items()},
            "converged": summarise(converged, KS[1:]), "patience": patience_rows(records, datasets, converged)}


def markdown(doc: dict) -> str:
    lines = ["# Reading more from a calibration run stopped early (an exploration)", "",
             "Regenerate: `python -m studies.library.cut_runs`. JSON beside this file. What it is: the module's "
             f"docstring. {len(doc['datasets'])} datasets, each held out in turn; what is learnt comes from the "
             "others.", "",
             "## The gain still to come, at every cut a cap could make", "",
             "Error in the log of (final best ÷ best so far) of the held-out datasets' small runs, cut at every epoch "
             "before they ended; coverage: the share inside the model's 95 % interval.", "",
             "| gain model | metric | epochs at the cut | cuts | mean abs. error | rms error | 95 % coverage |",
             "|---|---|---|---|---|---|---|"]
    for r in doc["gain_errors"]:
        lines.append(f"| {r['model']} | {r['metric'].upper()} | {r['epochs'][0]}–{r['epochs'][1]} | {r['n']} | "
                     f"{r['mae']:.3f} | {r['rmse']:.3f} | {pct(r['coverage'])} |")
    lines += ["", f"## Calibration on runs cut to {pct(doc['cut_share'])} of one wide run", "",
              "One dataset out, as in [`calibration.md`](calibration.md) (default budget; truth: seed mean, held-out "
              "sizes); the converged runs' row is the same check uncut.", "",
              "| runs | K | NDCG@10 MAPE median / worst | HR@10 MAPE median / worst | coverage NDCG / HR | "
              "compute, FLOPs (median) |", "|---|---|---|---|---|---|"]
    for name, summary in [*doc["cut"].items(), ("converged (uncut)", doc["converged"])]:
        for k in KS[1:]:
            n, h = summary[f"ndcg@10|{k}"], summary[f"hr@10|{k}"]
            lines.append(f"| {name} | {k} | {pct(n['mape_median'])} / {pct(n['mape_worst'])} | "
                         f"{pct(h['mape_median'])} / {pct(h['mape_worst'])} | {pct(n['coverage'])} / "
                         f"{pct(h['coverage'])} | {pct(n['compute_share_flops_median'])} |")
    lines += ["", "## Shorter patience", "",
              "Small runs replayed with early stopping after fewer epochs without improvement (the recipe: 4); "
              "value kept: best NDCG@10 so far ÷ the recorded run's best. Per K, the default budget's calibrations: "
              "their compute at that patience (median) and the least value any of their runs keeps (median / worst "
              "calibration) — a calibration run low by x % lowers the level it sets by about as much.", "",
              "| patience | epochs trained (median share) | value kept: median / 10th percentile | " + " | ".join(
                  f"K = {k}: compute, value kept median / worst" for k in KS[1:]) + " |",
              "|---|---|---|" + "---|" * len(KS[1:])]
    for r in doc["patience"]:
        lines.append(f"| {r['patience']} | {pct(r['epochs_share_median'])} | {pct(r['kept_median'])} / "
                     f"{pct(r['kept_p10'])} | " + " | ".join(
                         f"{pct(b['compute_median'])}, {pct(b['kept_median'])} / {pct(b['kept_worst'])}"
                         for b in r["by_k"].values()) + " |")
    lines += ["", verdict(doc), "", "What `srlaw calibrate` does today: the recipe's patience, and a capped run credited "
              "with the library's median gain (`srlaw.library.shape.unconverged_gain`)."]
    return "\n".join(lines) + "\n"


def verdict(doc: dict) -> str:
    """Where each idea lands against the K = 1 targets (validate's ``TARGETS``) within the cut's compute, computed."""
    own, lib, conv = doc["cut"]["own pace"], doc["cut"]["library median"], doc["converged"]
    cells = [(f"{m}|{k}", f"mape_{s}") for m in METRICS for k in KS[1:] for s in ("median", "worst")]
    better = sum(own[c][key] < lib[c][key] for c, key in cells)
    meets = all(own[f"{m}|1"][f"mape_{s}"] <= TARGETS[f"mape_{s}"] for m in METRICS for s in ("median", "worst"))
    n1, h1 = own["ndcg@10|1"], own["hr@10|1"]
    within = [r for r in doc["patience"] if r["by_k"]["1"]["compute_median"] <= doc["cut_share"]]
    return (f"Credited by their own pace, runs cut to {pct(doc['cut_share'])} of one wide run score at K = 1 "
            f"NDCG@10 {pct(n1['mape_median'])} / {pct(n1['mape_worst'])} and HR@10 {pct(h1['mape_median'])} / "
            f"{pct(h1['mape_worst'])} (median / worst; converged runs: {pct(conv['ndcg@10|1']['mape_median'])} / "
            f"{pct(conv['ndcg@10|1']['mape_worst'])} and {pct(conv['hr@10|1']['mape_median'])} / "
            f"{pct(conv['hr@10|1']['mape_worst'])} at {pct(conv['ndcg@10|1']['compute_share_flops_median'])}), better "
            f"than the library's median gain in {better} of {len(cells)} figures (K = 1–3), and "
            + ("within" if meets else "not within") + " the K = 1 targets. "
            + (f"A shorter patience fits {pct(doc['cut_share'])} at K = 1 only at patience "
               f"{max(r['patience'] for r in within)}, whose worst calibration keeps "
               f"{pct(min(r['by_k']['1']['kept_worst'] for r in within))} of its run's value"
               if within else f"No shorter patience brings K = 1 within {pct(doc['cut_share'])}")
            + f"; patience 2 spends {pct(next(r for r in doc['patience'] if r['patience'] == 2)['by_k']['1']['compute_median'])}.")


def show(doc: dict) -> None:
    print(verdict(doc))


def main(argv=None) -> int:
    return report_main(argv, "cut_runs", __doc__, REPORT, study, markdown, show, min_datasets=3)


if __name__ == "__main__":
    sys.exit(main())
