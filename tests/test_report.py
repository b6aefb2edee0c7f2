"""The law's report: per-run validation curves for the DVC plot template, sizing frontiers by parameters and by
latency."""

from __future__ import annotations

import csv
import json

import numpy as np
import yaml

from srlaw.pipeline.params import params_from_dict
from srlaw.report.markdown import frontier, plot_frontier
from srlaw.predictor import Law
from srlaw.pipeline.fit_stage import CURVE_COLUMNS, collect_curves, write_curves

from tests.conftest import ROOT
from tests.test_predictor import make_law_folder


def _series(path, name, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"step\t{name}\n" + "".join(f"{s}\t{v}\n" for s, v in rows))


def test_curves_one_row_per_run_and_epoch_resumed_steps_once(tmp_path):
    doc = yaml.safe_load((ROOT / "params.yaml").read_text())
    doc["grid"] = {"variants": ["full"], "n_layers": [1], "d_model": [16, 32]}
    doc["export"]["reference"] = "best"
    params = params_from_dict(doc, "params.yaml")
    for d_model, epochs in ((16, 3), (32, 2)):
        m = tmp_path / f"full-1-{d_model}" / "dvclive" / "plots" / "metrics"
        steps = [10 * (e + 1) - 1 for e in range(epochs)]
        _series(m / "epoch.tsv", "epoch", [(s, e) for e, s in enumerate(steps)] + [(steps[-1], epochs - 1)])
        # a killed attempt logged its last epoch, the resumed one logged it again: one row, the later value
        _series(m / "val" / "ndcg@10.tsv", "ndcg@10", [(s, 0.01 * (e + 1)) for e, s in enumerate(steps)]
                + [(steps[-1], 0.5)])
        _series(m / "val" / "hr@10.tsv", "hr@10", [(s, 0.02 * (e + 1)) for e, s in enumerate(steps)])
        _series(m / "train" / "loss.tsv", "loss", [(s, 8.0 - e) for e, s in enumerate(steps)])
    rows = collect_curves(params, tmp_path)
    assert [(r["run"], r["epoch"]) for r in rows] == [("full-1-16", 1), ("full-1-16", 2), ("full-1-16", 3),
                                                      ("full-1-32", 1), ("full-1-32", 2)]
    assert rows[2]["val_ndcg@10"] == 0.5 and rows[0]["train_loss"] == 8.0 and rows[4]["val_hr@10"] == 0.04
    write_curves(rows, tmp_path / "curves.csv")
    with open(tmp_path / "curves.csv", newline="") as f:
        back = list(csv.DictReader(f))
    assert tuple(back[0]) == CURVE_COLUMNS and float(back[1]["val_ndcg@10"]) == rows[1]["val_ndcg@10"]
    template = json.loads((ROOT / ".dvc" / "plots" / "curves.json").read_text())
    assert template["encoding"]["color"]["field"] == "run" and "<DVC_METRIC_DATA>" in json.dumps(template)


def test_frontiers_by_parameters_and_by_latency(tmp_path):
    folder, _ = make_law_folder(tmp_path, with_manifest=False)
    law = Law.load(folder, verify=False)
    N, d = law.default_candidates()
    pne, total = law.params_of(N, d)
    ms = law.latency_of(N, d, pne)[0]
    value = law.predict(N, d, variant="full", warn=False, interval=False)
    for by, cost in (("params", total), ("latency", ms)):
        budgets = np.sort(np.unique(cost))
        got = frontier(law, budgets, "full", by)
        brute = [value.value[(cost <= b) & value.in_domain].max(initial=-np.inf) for b in budgets]
        expected = np.where(np.isneginf(brute), np.nan, brute)
        assert np.allclose(got, expected, equal_nan=True)
        finite = got[np.isfinite(got)]
        assert np.all(np.diff(finite) >= 0)  # a larger budget never predicts worse
    plot_frontier(law, tmp_path / "frontier.png")
    import matplotlib.image
    h, w = matplotlib.image.imread(tmp_path / "frontier.png").shape[:2]
    assert w > 1.6 * h  # two panels side by side: parameters and latency
