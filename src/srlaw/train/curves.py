"""A run's per-epoch validation curve and how fast it reached quality.

The fit stage plots every grid run's curve; ``benchmarks/bench_time_to_quality.py`` reads the same curves to count
epochs and seconds until a run first reaches a quality target.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

CONVERGED_SHARE = 0.95  # "reached quality": the first epoch at >= 95 % of the run's converged (best) value


def best_so_far(curve) -> np.ndarray:
    """Running maximum of a validation curve (epoch 1 first): what early stopping keeps if the run ends there."""
    return np.maximum.accumulate(np.asarray(curve, dtype=np.float64))


def _tsv_by_step(path: Path) -> dict[int, float]:
    """A DVCLive series ``step<TAB>value`` as {step: value} (a resumed run may repeat a step: the last one wins)."""
    if not path.is_file():
        return {}
    lines = path.read_text().splitlines()[1:]
    return {int(step): float(value) for step, value in (line.split("\t")[:2] for line in lines if line.strip())}


def read_curve(run_dir) -> list[dict]:
    """One row per validated epoch: ``epoch`` (1-based), ``val_ndcg@10``, ``val_hr@10``, ``val_loss``,
    ``train_loss`` and ``seconds`` (None where absent).

    From the run's ``curve.json`` (``training.CurveRecorder``); a run written before that file existed is read from
    its DVCLive series instead, where a resumed run's repeated step is counted once. A run begun before the file
    existed and resumed after holds its first epochs only in DVCLive: those come from there, the rest from the file.
    """
    path = Path(run_dir) / "curve.json"
    rows = [{"epoch": r["epoch"], "val_ndcg@10": r["valid"]["ndcg@10"], "val_hr@10": r["valid"]["hr@10"],
             "val_loss": r["valid"].get("loss"), "train_loss": r.get("train_loss"), "seconds": r.get("seconds")}
            for r in json.loads(path.read_text())["rows"] if "valid" in r] if path.is_file() else []
    if rows and rows[0]["epoch"] == 1:
        return rows
    first = rows[0]["epoch"] if rows else math.inf
    return [r for r in _dvclive_curve(run_dir) if r["epoch"] < first] + rows


def _dvclive_curve(run_dir) -> list[dict]:
    series = Path(run_dir) / "dvclive" / "plots" / "metrics"
    epoch_of = _tsv_by_step(series / "epoch.tsv")
    ndcg, hr, loss = (_tsv_by_step(series / rel) for rel in ("val/ndcg@10.tsv", "val/hr@10.tsv", "train/loss.tsv"))
    return [{"epoch": int(epoch_of.get(step, i)) + 1, "val_ndcg@10": ndcg[step], "val_hr@10": hr.get(step),
             "val_loss": None, "train_loss": loss.get(step), "seconds": None} for i, step in enumerate(sorted(ndcg))]


def first_epoch_at(epochs, values, target: float) -> int | None:
    """The first epoch whose value is >= ``target`` (None if none is): epochs-to-target."""
    for epoch, value in zip(epochs, values):
        if value >= target:
            return int(epoch)
    return None


def seconds_until(epoch: int | None, epoch_seconds: dict[int, float]) -> float | None:
    """Wall seconds of epochs 1..``epoch`` (None if the epoch was never reached or a second is missing)."""
    if epoch is None or any(e not in epoch_seconds for e in range(1, epoch + 1)):
        return None
    return float(sum(epoch_seconds[e] for e in range(1, epoch + 1)))


def time_to_quality(curve: list[dict], epoch_seconds: dict[int, float], target: float | None,
                    converged: bool, metric: str = "val_ndcg@10") -> dict:
    """Epochs and seconds until ``metric`` first reaches ``target`` and 95 % of the run's converged value.

    ``converged``: the run ended by early stopping, so its best value is its converged value; otherwise the 95 %
    figures are None (a capped run's best is not a converged value).
    """
    epochs = [row["epoch"] for row in curve]
    values = [row[metric] for row in curve]
    best = max(values) if values else None
    out = {"best": best, "best_epoch": epochs[values.index(best)] if values else None, "epochs_run": len(epochs),
           "converged": bool(converged and values), "target": target}
    out["epochs_to_target"] = first_epoch_at(epochs, values, target) if target is not None else None
    out["seconds_to_target"] = seconds_until(out["epochs_to_target"], epoch_seconds)
    if out["converged"]:
        out["epochs_to_95pct"] = first_epoch_at(epochs, values, CONVERGED_SHARE * best)
        out["seconds_to_95pct"] = seconds_until(out["epochs_to_95pct"], epoch_seconds)
    else:
        out["epochs_to_95pct"] = out["seconds_to_95pct"] = None
    return out
