"""The calibration benchmark scores a law as the calibration study does (its training takes 15 minutes)."""

import sys
from pathlib import Path

import numpy as np

from srlaw.library.shape import calibrate, collapsed, law_document, probe_of
from srlaw.library.index import load_library
from srlaw.predictor import Law
from srlaw.library.store import load_store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_calibrate as bench  # noqa: E402


def test_truth_is_the_seed_mean_of_uncollapsed_runs_wider_than_the_calibration():
    records, datasets = load_store()
    ds, mine = datasets["ml-1m"], [r for r in records if r["variant"] == "ml-1m"]
    fits, recipe_name, _ = load_library()
    cal = [r for r in mine if (r["n_layers"], r["d_model"], r["seed"]) == (2, 32, 0)]
    calibs = {m: calibrate(fits[m], probe_of(ds["scores"], m), ds["n_users"], cal) for m in fits}
    law = Law(law_document(fits, calibs, ds, recipe_name, cal))
    out = bench.score(law, mine)["ndcg@10"]
    bad = {(r["n_layers"], r["d_model"], r["seed"]) for r in collapsed(mine)}
    sizes = {(p["n_layers"], p["d_model"]) for p in out["points"]}
    assert sizes == {(r["n_layers"], r["d_model"]) for r in mine if r["params_non_embedding"] > 12_992
                     and (r["n_layers"], r["d_model"], r["seed"]) not in bad}
    assert (4, 256) not in sizes  # every ML-1M run at 4 × 256 collapsed: no truth there
    kept = [r["ndcg@10"] for r in mine if (r["n_layers"], r["d_model"]) == (4, 128)
            and (4, 128, r["seed"]) not in bad]
    at = next(p for p in out["points"] if (p["n_layers"], p["d_model"]) == (4, 128))
    assert 0 < len(kept) < 9 and at["n_seeds"] == len(kept) and at["observed"] == np.mean(kept)
    ape = [abs(p["predicted"] - p["observed"]) / p["observed"] for p in out["points"]]
    assert out["mape"] == np.mean(ape) and out["n_runs"] == sum(p["n_seeds"] for p in out["points"])
