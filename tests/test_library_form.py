"""The library form in the pipeline's fit stage: judged on the same held-out runs as the direct forms, with the
library's own dataset left out, refused for runs of another recipe, and shipped as a loadable law when it wins."""

import json
import math

import numpy as np
import pytest

from srlaw.law.settings import LawConfig
from srlaw.core.errors import LawFitError, SrlawError
from srlaw.library.shape import fit_library
from srlaw.library.index import fits_without, load_library, recipe_differences
from srlaw.library.index import write_index as release_index
from srlaw.predictor import Law
from srlaw.train.recipes import recipe
from srlaw.core.sizing import non_embedding_params
from srlaw.pipeline.fit_stage import fit_law

METRICS = ("hr@10", "ndcg@10")
SHAPE = {"w": 0.6, "gamma": 1.5}
# library datasets: (mu, a, beta) of NDCG@10 (HR@10 sits 0.5 higher on the log scale), probe, users
LIBRARY = {"a": ((-1.8, 0.06, 0.8), 0.13, 6000), "b": ((-2.9, 0.03, 2.0), 0.055, 20000),
           "c": ((-2.3, 0.05, 1.2), 0.075, 1000), "d": ((-4.1, 0.04, 1.5), 0.017, 9000),
           "e": ((-2.8, 0.08, 1.0), 0.05, 3000)}
GRID = [(n, d) for n in (1, 2, 4) for d in (16, 32, 64, 128, 256)]
TRAIN = recipe("library").to_dict()


def value(level, n, d, metric):
    mu, a, beta = level
    h = (d / 64) ** -beta + SHAPE["w"] * n ** -SHAPE["gamma"]
    return math.exp(mu + (0.5 if metric == "hr@10" else 0.0) - a * h)


def probes(probe):
    return {"markov_ndcg@10": probe, "markov_hr@10": probe * 1.6}


def write_index(path, names=tuple(LIBRARY)):
    rng = np.random.default_rng(0)
    recs = [{"variant": k, "n_layers": n, "d_model": d, "seed": 0,
             **{m: value(LIBRARY[k][0], n, d, m) * math.exp(0.01 * rng.standard_normal()) for m in METRICS}}
            for k in names for n, d in GRID]
    users = {k: LIBRARY[k][2] for k in names}

    def fits(recs):
        return {m: fit_library(recs, m, {k: probes(LIBRARY[k][1])[f"markov_{m}"] for k in names}, users,
                               misfit=False).to_dict() for m in METRICS}
    index = {"library": {"recipe_name": "library", "fits": fits(recs), "unstable": [], "collapse": [],
                         "laws": {k: {"content_hash": k * 64} for k in names},
                         "without": {k: fits([r for r in recs if r["variant"] != k]) for k in names}}}
    release_index(path, index)
    return index


def pipeline(level, probe, n_users=5000, hashes=("f" * 64, "h" * 64), seed=1):
    """Two variants of one dataset (full, and half its users a little lower), 1-3 layers x 16-64 wide."""
    rng = np.random.default_rng(seed)
    records, variants = [], {}
    for (name, shift), h in zip((("full", 0.0), ("users50", -0.15)), hashes):
        lv = (level[0] + shift, *level[1:])
        variants[name] = {"content_hash": h, "data": probe, "n_items": 3000,
                          "scores": {"markov_ndcg@10": probe * math.exp(shift),
                                     "markov_hr@10": 1.6 * probe * math.exp(shift),
                                     "n_users": n_users}}
        for n in (1, 2, 3):
            for d in (16, 32, 64):
                pne = non_embedding_params(n, d, backbone="sasrec", ffn_mult=1, n_heads=1, max_len=50)
                records.append({"variant": name, "n_layers": n, "d_model": d, "params_non_embedding": int(pne),
                                "params_total": int(pne + 3001 * d), "data": probe, "split": "test",
                                **{m: value(lv, n, d, m) * math.exp(0.01 * rng.standard_normal()) for m in METRICS}})
    return records, variants


LAW = LawConfig(forms=["saturating", "shared_power"], n_starts=8, n_bootstrap=10)


def test_recipe_differences_name_each_learning_setting_and_skip_execution():
    assert recipe_differences(TRAIN, "library") == []
    assert recipe_differences({**TRAIN, "accelerator": "gpu", "seed": 7}, "library") == []
    diff = recipe_differences({**TRAIN, "lr": 0.003, "max_len": 32}, "library")
    assert diff == ["lr = 0.003 (library: 0.002)", "max_len = 32 (library: 50)"]


def test_fits_without_returns_the_leave_one_out_fit_of_a_matching_dataset(tmp_path):
    index = write_index(tmp_path / "index.json")
    lib = index["library"]
    assert fits_without(lib, ["z" * 64]) == (None, [])
    fits, left = fits_without(lib, ["c" * 64, "z" * 64])
    assert left == ["c"]
    assert set(fits["ndcg@10"].levels) == {"a", "b", "d", "e"}
    del lib["without"]
    with pytest.raises(SrlawError, match="no fits without 'c'"):
        fits_without(lib, ["c" * 64])


def test_library_form_competes_and_wins_on_runs_of_its_shape(tmp_path):
    write_index(tmp_path / "index.json")
    records, variants = pipeline((-2.5, 0.05, 1.1), 0.07)
    doc = fit_law(records, variants, LAW, 0, TRAIN, default_variant="full", library_index=tmp_path / "index.json")
    sel = doc["validation"]["selection"]
    assert set(sel["ranking"]) == {"saturating", "shared_power"}
    assert doc["form"] == "shared_power" == sel["ranking"][0]
    se = doc["validation"]["scale_extrapolation"]["ndcg@10"]
    # the held-out points are the direct forms' (<= 25 % of the largest non-embedding count), predicted closely
    assert se["n"] == se["coverage95"]["n"] > 0 and se["n_fit"] > 0
    assert se["mape"] < 0.05
    assert all(p["lower"] <= p["predicted"] <= p["upper"] for p in se["points"])
    assert doc["validation"]["library_index"]["left_out"] == []
    assert {r["variant"] for r in doc["runs"]} == {"full"} and doc["calibration"]["n_runs"] == 9
    law = Law(doc, source="test")
    truth = value((-2.5, 0.05, 1.1), 3, 64, "ndcg@10")
    assert law.predict(3, 64, "ndcg@10").value == pytest.approx(truth, rel=0.05)
    from srlaw.report.markdown import write_report
    write_report(doc, tmp_path / "law")  # the fit stage's report reads a law of this form as any other
    text = (tmp_path / "law" / "report.md").read_text()
    assert "# Performance law — `shared_power`" in text
    assert "Coverage: the predictor's intervals of each variant's law calibrated on its small runs." in text
    assert "the runs of users50 took part in the form's selection only" in text


def test_a_failed_small_run_is_left_out_of_the_calibration_as_srlaw_calibrate_leaves_it(tmp_path):
    write_index(tmp_path / "index.json")
    level = (-2.5, 0.05, 1.1)
    records, variants = pipeline(level, 0.07)
    bad = next(r for r in records if (r["variant"], r["n_layers"], r["d_model"]) == ("full", 1, 32))
    for m in METRICS:  # a false plateau: a third of what its size reaches
        bad[m] /= 3
    doc = fit_law(records, variants, LAW, 0, TRAIN, default_variant="full", library_index=tmp_path / "index.json")
    assert doc["form"] == "shared_power"
    assert [(r["n_layers"], r["d_model"]) for r in doc["calibration"]["failed_runs"]] == [(1, 32)]
    assert doc["calibration"]["n_runs"] == 8 and "1 under half" in doc["calibration"]["note"]
    assert doc["validation"]["scale_extrapolation"]["ndcg@10"]["mape"] < 0.05  # the small runs' fit kept its level
    law = Law(doc, source="test")
    assert law.predict(3, 64, "ndcg@10").value == pytest.approx(value(level, 3, 64, "ndcg@10"), rel=0.05)


def test_a_library_dataset_is_judged_by_the_library_without_it(tmp_path):
    index = write_index(tmp_path / "index.json")
    level = LIBRARY["c"][0]
    records, variants = pipeline(level, LIBRARY["c"][1], hashes=("c" * 64, "h" * 64))
    doc = fit_law(records, variants, LawConfig(forms=["shared_power"], n_starts=8, n_bootstrap=10), 0, TRAIN,
                  default_variant="full", library_index=tmp_path / "index.json")
    assert doc["validation"]["library_index"]["left_out"] == ["c"]
    shipped = doc["calibration"]["library"]["ndcg@10"]
    assert set(shipped["levels"]) == {"a", "b", "d", "e"}
    assert shipped["w"] == index["library"]["without"]["c"]["ndcg@10"]["w"]


def test_runs_of_another_recipe_leave_the_direct_forms(tmp_path):
    write_index(tmp_path / "index.json")
    records, variants = pipeline((-2.5, 0.05, 1.1), 0.07)
    other = {**TRAIN, "lr": 0.003}
    doc = fit_law(records, variants, LAW, 0, other, default_variant="full", library_index=tmp_path / "index.json")
    assert doc["form"] == "saturating"
    assert doc["validation"]["selection"]["scores"]["shared_power"] == math.inf
    with pytest.raises(LawFitError, match=r"lr = 0.003 \(library: 0.002\)"):
        fit_law(records, variants, LawConfig(forms=["shared_power"]), 0, other, library_index=tmp_path / "index.json")
    with pytest.raises(LawFitError, match="no law library"):
        fit_law(records, variants, LawConfig(forms=["shared_power"]), 0, TRAIN, library_index=tmp_path / "none.json")


def test_the_released_index_stores_a_leave_one_out_fit_per_dataset():
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "artifacts" / "laws" / "index.json"
    fits, _, lib = load_library(path)
    assert set(lib["without"]) == set(lib["laws"])
    for name, entry in lib["laws"].items():
        without, left = fits_without(lib, [entry["content_hash"]], path)
        assert left == [name] and name not in without["ndcg@10"].levels
        assert set(without["ndcg@10"].levels) == set(fits["ndcg@10"].levels) - {name}


def test_the_committed_pipeline_law_says_how_the_library_form_took_part():
    """Under another recipe the selection names every setting that kept the library form out; under the library's,
    the law names the index it was judged with, which must be the released one (else: dvc repro; the index is a
    dependency of fit)."""
    from pathlib import Path
    from srlaw.pipeline.params import load_params
    from srlaw.core.provenance import sha256_file
    root = Path(__file__).resolve().parents[1]
    law = json.loads((root / "artifacts" / "law" / "law.json").read_text())
    diff = recipe_differences(load_params(root / "params.yaml").train.to_dict(), "library")
    if diff:
        forms = law["validation"]["selection"]["forms"]["shared_power"]
        assert all("; ".join(diff) in f["error"] for f in forms.values())
    else:
        assert law["validation"]["library_index"]["index_sha256"] == sha256_file(root / "artifacts/laws/index.json")
