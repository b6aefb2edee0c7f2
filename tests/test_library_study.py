"""The law library's study: the plan, the run store, and reports regenerated from the committed store."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from srlaw.library import release, validate
from srlaw.library.grid import SEEDED, Task, tasks
from srlaw.library.train import main as train_main, stored_tasks, todo_tasks

ROOT = Path(__file__).resolve().parents[1]


def test_plan_leads_with_cheap_grids_and_seeds_the_checked_configurations():
    plan = tasks()
    assert len(plan) == len(set(plan))  # no run twice
    assert plan[0] == Task("ml-latest-small", 1, 16, 0)
    ml1m = [t for t in plan if t.variant == "ml-1m"]
    assert {(t.n_layers, t.d_model) for t in ml1m if t.seed > 0} == set(SEEDED)
    assert {t.seed for t in ml1m} == {0, 1, 2}


def test_todo_orders_by_need_and_skips_finished_runs_and_unprepared_data(tmp_path):
    data, store = tmp_path / "data", tmp_path / "store"
    for variant in ("sports-s3rec", "beauty-bert4rec"):
        (data / variant).mkdir(parents=True)
        (data / variant / "stats.json").write_text("{}")
    done = store / "runs" / "sports-s3rec" / "L1-d16-s0"
    done.mkdir(parents=True)
    (done / "metrics.json").write_text(json.dumps({"n_layers": 1, "d_model": 16, "test": {}, "valid": {}, "epochs": 3,
                                                   "stopped_by": "early_stopping", "params_non_embedding": 1}))
    todo = todo_tasks(data, store, ["beauty-bert4rec", "sports-s3rec", "ml-1m"], grid_only=True)
    assert [t.variant for t in todo] == ["beauty-bert4rec"] * 15 + ["sports-s3rec"] * 14
    assert todo[0] == Task("beauty-bert4rec", 1, 16, 0) and all(t.seed == 0 for t in todo)
    assert Task("sports-s3rec", 1, 16, 0) not in todo
    with_seeds = todo_tasks(data, store)
    assert {t.variant for t in with_seeds} == {"sports-s3rec", "beauty-bert4rec"}  # ml-1m is not prepared here
    assert sum(t.seed > 0 for t in with_seeds) == 2 * len(SEEDED)  # sports' seeds; beauty-bert4rec has none
    picked = todo_tasks(data, store, ["sports-s3rec"], seeds_only=True, configs=[(4, 64), (1, 32)])
    assert picked == [Task("sports-s3rec", 4, 64, 1), Task("sports-s3rec", 4, 64, 2),
                      Task("sports-s3rec", 1, 32, 1), Task("sports-s3rec", 1, 32, 2)]
    more = todo_tasks(data, store, ["sports-s3rec"], configs=[(4, 128)], seeds=[3, 4])
    assert more == [Task("sports-s3rec", 4, 128, 3), Task("sports-s3rec", 4, 128, 4)]  # beyond the plan's seeds
    assert todo_tasks(data, store, ["sports-s3rec"], configs=[(1, 16)], seeds=[0, 3]) == []  # s0 done, 1x16 unseeded


def test_collect_keeps_the_scores_of_data_whose_hash_holds(tmp_path):
    store, out, data = tmp_path / "store", tmp_path / "out", tmp_path / "data"
    run = store / "runs" / "ml-100k" / "L1-d16-s1"
    run.mkdir(parents=True)
    (run / "curve.json").write_text(json.dumps({"rows": []}))
    (data / "ml-100k").mkdir(parents=True)  # stats only: scoring these data again would fail to load them
    (data / "ml-100k" / "stats.json").write_text(json.dumps({"n_users": 9, "n_items": 5, "content_hash": "ab"}))
    out.mkdir()
    kept = {"markov_ndcg@10": 0.07, "seconds": {"total": 1.5}}
    (out / "ml-100k.json").write_text(json.dumps({"variant": "ml-100k", "data": {"content_hash": "ab"},
                                                  "scores": kept, "runs": []}))
    assert train_main(["collect", "--store", str(store), "--out", str(out), "--data", str(data)]) == 0
    doc = json.loads((out / "ml-100k.json").read_text())
    assert doc["scores"] == kept and [r["run"] for r in doc["runs"]] == ["ml-100k/L1-d16-s1"]


def test_collect_gathers_every_stored_run_extra_seeds_included(tmp_path):
    store = tmp_path / "store"
    for name in ("ml-1m/L4-d128-s7", "sports-s3rec_users25/L1-d16-s0", "ml-1m/notes", "unknown/L1-d16-s0"):
        (store / "runs" / name).mkdir(parents=True)
    assert stored_tasks(store) == [Task("ml-1m", 4, 128, 7), Task("sports-s3rec/users25", 1, 16, 0)]


def test_collect_keeps_a_finished_run_over_an_unfinished_one(tmp_path):
    store, out = tmp_path / "store", tmp_path / "out"
    run = store / "runs" / "ml-100k" / "L1-d16-s0"
    run.mkdir(parents=True)
    rows = [{"epoch": e, "seconds": 1.0, "train_loss": 7.0 - e, "lr": 0.002,
             "valid": {"ndcg@10": 0.01 * e, "hr@10": 0.02 * e, "loss": 7.5 - e}} for e in (1, 2)]
    (run / "curve.json").write_text(json.dumps({"rows": rows}))
    assert train_main(["collect", "--store", str(store), "--out", str(out)]) == 0
    doc = json.loads((out / "ml-100k.json").read_text())
    assert [r["finished"] for r in doc["runs"]] == [False] and len(doc["runs"][0]["curve"]) == 2
    metrics = {"n_layers": 1, "d_model": 16, "params_non_embedding": 1728, "params_total": 30000, "epochs": 2,
               "best_epoch": 1, "stopped_by": "early_stopping", "precision": "32-true", "seed": 0,
               "recipe": "library", "valid": {"ndcg@10": 0.02}, "test": {"ndcg@10": 0.019}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "run.json").write_text(json.dumps({"device": "cpu", "train_seconds": 2.0, "eval_seconds": 0.1}))
    assert train_main(["collect", "--store", str(store), "--out", str(out)]) == 0
    run_doc = json.loads((out / "ml-100k.json").read_text())["runs"][0]
    assert run_doc["finished"] and run_doc["stopped_by"] == "early_stopping" and run_doc["device"] == "cpu"
    assert run_doc["best_epoch"] == 2  # from the curve, counted from 1 (as the log), whatever metrics.json counted


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        # the fits are multi-start optimisations, converged to rounding on one BLAS thread (srlaw.library.shape):
        # another numpy/scipy release or CPU moves their last digits (1e-6 relative seen between numpy 2.3 and 2.4);
        # the reports print three significant digits, so 5e-4 still catches any change that a reader could see
        assert a == pytest.approx(b, rel=5e-4, abs=1e-9), path
    else:
        assert a == b, path


def test_the_committed_library_fit_regenerates_from_its_store():
    """The index's shared fit, one dataset's leave-one-out fit and the timing model, recomputed from the committed
    store (the whole release is `make library`, whose outputs tests/test_artifacts_current.py holds to their inputs;
    the release's command runs end to end in the refusal test below)."""
    from srlaw.library.fits import METRICS
    from srlaw.library.shape import epoch_seconds_model, fit_library, library_without, probe_of
    from srlaw.library.store import load_store
    from srlaw.train.recipes import RECIPES
    records, datasets = load_store()
    committed = json.loads((ROOT / "artifacts" / "laws" / "index.json").read_text())["library"]
    assert sorted(committed["laws"]) == sorted(committed["without"]) == sorted(datasets)
    users = {v: d["n_users"] for v, d in datasets.items()}
    fits = {m: fit_library(records, m, {v: probe_of(d["scores"], m) for v, d in datasets.items()}, users).to_dict()
            for m in METRICS}
    _close(fits, committed["fits"])
    hold = "lastfm-s3rec"  # the library's only music dataset: its fold leaves a whole family out
    _close({m: f.to_dict() for m, f in library_without(records, datasets, hold).items()}, committed["without"][hold])
    _close(epoch_seconds_model(records, datasets, RECIPES[committed["recipe_name"]]["model"]["max_len"]),
           committed["epoch_seconds"])


def test_validation_regenerates_one_held_out_dataset_and_its_summaries():
    """The calibration report's numbers for one dataset left out, recomputed (the whole study is `make library`,
    whose outputs tests/test_artifacts_current.py holds to its inputs), and every summary from its rows."""
    from srlaw.library.fits import METRICS
    from srlaw.library.release import library_without
    from srlaw.library.shape import convergence_table
    from srlaw.library.store import load_store
    records, datasets = load_store()
    committed = json.loads((ROOT / "reports" / "calibration.json").read_text())
    hold = "ml-100k"
    fits = library_without(records, datasets, hold)
    mine = [r for r in committed["results"] if r["dataset"] == hold]
    assert [r["k"] for r in mine] == list(validate.KS)
    for row in mine:
        _close(validate.evaluate(records, datasets, hold, row["k"], fits), row)
    curves = {m: convergence_table([r for r in records if r["variant"] != hold], m) for m in METRICS}
    for row in (r for r in committed["cut"]["results"] if r["dataset"] == hold):
        got = validate.evaluate(records, datasets, hold, row["k"], fits, gain=validate.library_gain(curves))
        _close({f"{m}_mape": got["metrics"][m]["mape"] for m in METRICS}, {f"{m}_mape": row[f"{m}_mape"] for m in METRICS})
        assert got["metrics"]["ndcg@10"]["compute_share_flops"] <= validate.CUT_SHARE * 1.01
    _close(validate.summarise(committed["results"]), committed["summary"])
    budget = next(b for b in committed["budgets"] if b["budget_share"] == validate.BUDGET_SHARE)
    _close(budget["summary"], committed["summary"])
    assert [b["budget_share"] for b in committed["budgets"]] == list(validate.BUDGET_SHARES)
    _close(validate.subsample_levels(records), committed["subsamples"])  # whole data over a quarter of its users
    assert {tuple(r["left_out"]) for r in committed["source_out"]["results"] if r["dataset"] == "ml-1m"} == {
        ("ml-1m", "ml-1m/users25")}
    assert np.isfinite([row["mape_median"] for row in committed["summary"].values()]).all()
    families = committed["source_out"]["per_family"]  # the whole source out, each domain family alone
    _close(validate.per_family(committed["source_out"]["results"]), families)
    assert {r["family"] for r in families} == {"MovieLens", "Amazon", "music"}
    assert "### Per domain family" in (ROOT / "reports" / "calibration.md").read_text()


def test_each_released_law_carries_its_datasets_numbers_from_both_studies():
    ex = json.loads((ROOT / "reports" / "extrapolation.json").read_text())
    cal = json.loads((ROOT / "reports" / "calibration.json").read_text())
    lib = json.loads((ROOT / "artifacts" / "laws" / "index.json").read_text())["library"]
    assert lib["validation"]["store_digest"] == ex["store_digest"] == cal["store_digest"]
    for name, entry in lib["laws"].items():
        v = json.loads((ROOT / "artifacts" / "laws" / entry["law"] / "law.json").read_text())["validation"]
        for m in ("hr@10", "ndcg@10"):
            pts = [p for p in ex["datasets"][name]["metrics"][m]["points"] if p["factor"] >= release.MIN_FACTOR]
            se = v["scale_extrapolation"][m]
            assert se["n"] == len(pts) == len(se["points"]) > 0
            assert se["mape"] == pytest.approx(np.mean([abs(p["library"][0] / p["observed"] - 1) for p in pts]))
            assert se["coverage95"]["coverage"] == pytest.approx(
                np.mean([p["library"][1] <= p["observed"] <= p["library"][2] for p in pts]))
            for k in ("0", "1", "2", "3"):
                row = next(r for r in cal["results"] if r["dataset"] == name and str(r["k"]) == k)
                assert v["leave_one_dataset_out"]["k"][k][m]["mape"] == row["metrics"][m]["mape"]
        regret = [r["regret"] for r in ex["datasets"][name]["regret_library"]]
        assert v["regret"]["ndcg@10"]["worst"] == max(regret)
    # what bench_distill measured on a library dataset travels in that dataset's law, and in no other
    from srlaw.library.distillation import law_distillation, load_bench
    bench = load_bench()
    carried = {name for name, entry in lib["laws"].items()
               if "distillation" in json.loads((ROOT / "artifacts/laws" / entry["law"] / "law.json").read_text())}
    assert carried == set(bench["datasets"]) & set(lib["laws"]) == {"ml-100k", "beauty-s3rec"}
    law = json.loads((ROOT / "artifacts/laws/library/ml-100k/law.json").read_text())
    assert law["distillation"] == json.loads(json.dumps(law_distillation("ml-100k", bench, lib["recipe_name"])))


def test_a_release_refuses_reports_of_another_store_and_an_excluding_release_is_unvalidated(
        tmp_path, monkeypatch, capsys):
    stale = {}
    for name, path in release.REPORTS.items():
        doc = json.loads(Path(path).read_text())
        doc["store_digest"] = "0" * 64
        stale[name] = tmp_path / f"{name}.json"
        stale[name].write_text(json.dumps(doc))
    monkeypatch.setattr(release, "REPORTS", stale)
    assert release.main(["--laws", str(tmp_path / "laws")]) == 2
    assert "written from another run store" in capsys.readouterr().err
    assert not (tmp_path / "laws").exists()  # nothing released from numbers of another store
    small = tmp_path / "store"  # four datasets: an excluding release is the same code on any store, and quick
    small.mkdir()
    for name in ("ml-100k", "ml-1m", "ml-latest-small", "lastfm-s3rec"):
        shutil.copy(ROOT / "reports" / "library_runs" / f"{name}.json", small)
    assert release.main(["--laws", str(tmp_path / "laws"), "--exclude", "ml-100k", "--store", str(small)]) == 0
    assert "without validation" in capsys.readouterr().err
    index = json.loads((tmp_path / "laws" / "index.json").read_text())["library"]
    assert "ml-100k" not in index["laws"] and index["validation"] == {}
    law = json.loads((tmp_path / "laws" / index["laws"]["ml-1m"]["law"] / "law.json").read_text())
    assert law["validation"]["scale_extrapolation"] == {}


def test_advise_says_what_the_law_measured():
    from srlaw.cli import measured_error
    doc = {"validation": {"scale_extrapolation": {"ndcg@10": {"mape": 0.087, "n": 6, "fit_params_max": 12992.0,
                                                              "coverage95": {"coverage": 0.0, "n": 6, "single_runs": {
                                                                  "coverage": 0.15, "n": 20}}}},
                          "leave_one_dataset_out": {"k": 1, "ndcg@10": {"mape_median": 0.045, "mape_worst": 0.09,
                                                                         "coverage": 1.0}}}}
    lines = measured_error(doc, "ndcg@10")
    assert "MAPE 8.7 %" in lines[0] and "12,992" in lines[0]
    assert "covered 0.0 % of seed means, 15.0 % of single runs" in lines[0]
    assert "1 run(s)" in lines[1] and "median 4.5 %, worst 9.0 %" in lines[1]
    assert "covered 100.0 % of seed means (not measured" in lines[1]  # an older law: no single-run coverage
    doc["validation"]["leave_one_source_out"] = {"k": 1, "ndcg@10": {"mape_median": 0.056, "mape_worst": 0.076,
                                                                     "coverage": 1.0, "coverage_runs": 0.99}}
    assert "a dataset whose raw data the library never saw on 1 run(s): ndcg@10 MAPE median 5.6 %, worst 7.6 %" in (
        measured_error(doc, "ndcg@10")[2])
    assert measured_error(doc, "hr@10") == []  # nothing measured for that metric: nothing claimed
    doc["validation"]["source_left_out"] = {"left_out": ["a/users25"], "regret": {"ndcg@10": {"worst": 0.389}},
                                            "scale_extrapolation": {"ndcg@10": {"4-10x": {"mape": 0.076},
                                                                                "10x+": {"mape": 0.097}}}}
    lines = measured_error(doc, "ndcg@10")
    assert "(a/users25): ndcg@10 MAPE 7.6 % at 4-10x, 9.7 % at 10x+; advise regret worst 38.9 %" in lines[1]


def test_coverage_counts_seed_means_and_each_seeds_run_against_the_one_run_interval():
    from srlaw.library.extrapolate import split_errors
    # at 5x the mean 0.10 sits inside [0.09, 0.11], two of its three runs outside; at 12x all inside
    rows = [{"factor": 5.0, "observed": 0.10, "runs": [0.08, 0.10, 0.12], "seed_sd": 0.02, "law": [0.1, 0.09, 0.11]},
            {"factor": 12.0, "observed": 0.20, "runs": [0.20], "seed_sd": None, "law": [0.21, 0.19, 0.23]}]
    got = split_errors(rows, ("law",))
    assert got["4-10x"]["law"]["coverage"] == 1.0
    assert got["4-10x"]["law"]["coverage_runs"] == pytest.approx(1 / 3) and got["4-10x"]["law"]["n_runs"] == 3
    assert got["10x+"]["law"]["coverage_runs"] == 1.0 and got["10x+"]["law"]["mape"] == pytest.approx(0.05)


def test_a_subsample_is_compared_with_its_whole_data_on_the_configurations_both_trained():
    def run(variant, d, seed, ndcg, seconds):
        return {"variant": variant, "n_layers": 1, "d_model": d, "seed": seed, "ndcg@10": ndcg,
                "train_seconds": seconds}
    records = [run("a", 16, 0, 0.20, 100.0), run("a", 16, 1, 0.22, 100.0), run("a/users25", 16, 0, 0.10, 20.0),
               run("a", 32, 0, 0.30, 200.0), run("a/users25", 32, 0, 0.20, 60.0),
               run("a", 64, 0, 0.40, 400.0),  # no subsample run at 64: not compared
               run("b/users25", 16, 0, 0.10, 10.0)]  # a subsample without its whole data: skipped
    (got,) = validate.subsample_levels(records)
    assert (got["dataset"], got["subsample"], got["n_configs"]) == ("a", "a/users25", 2)
    assert (got["ratio_min"], got["ratio_max"]) == (pytest.approx(1.5), pytest.approx(2.1))
    assert got["seconds_share_median"] == pytest.approx((0.2 + 0.3) / 2)


def test_a_cut_run_is_the_prefix_of_its_curve_raised_by_the_gain_still_expected():
    curve = [0.02, 0.03, 0.04, 0.05, 0.045]
    run = {"n_layers": 1, "d_model": 16, "epochs": 5, "train_seconds": 10.0, "stopped_by": "early_stopping",
           "ndcg@10": 0.06, "hr@10": 0.12, "curve": {"ndcg@10": curve, "hr@10": [2 * v for v in curve]}}
    table = {"epochs": [1, 2, 3, 4], "median": [0.6, 0.4, 0.2, 0.1], "sd": [0.4, 0.3, 0.2, 0.1], "n": [9] * 4}
    cut = validate.cut_run(run, 2, validate.library_gain({"ndcg@10": table, "hr@10": table}))
    assert (cut["epochs"], cut["stopped_by"], cut["train_seconds"]) == (2, "time_cap", 4.0)
    assert cut["ndcg@10"] == pytest.approx(0.06 * 0.03 / 0.05)  # test scaled by best-so-far valid over final best
    assert cut["hr@10"] == pytest.approx(0.12 * 0.06 / 0.10)
    assert cut["gain"]["ndcg@10"] == pytest.approx((0.4, 0.09))
    assert run["epochs"] == 5 and "gain" not in run  # the recorded run is left as it was


def test_regret_counts_an_advised_model_that_diverged():
    from types import SimpleNamespace

    from srlaw.library.extrapolate import regret

    class BiggerIsBetter:  # a law that always advises the largest model within the budget
        unstable = set()
        risk = {}

        def predict(self, n_layers, d_model, **kw):
            return SimpleNamespace(value=n_layers * d_model)

        def collapse_risk(self, n_layers, d_model):
            return self.risk.get((n_layers, d_model), 0.0)

    sizes = [(1, 16), (1, 32), (2, 32), (1, 64), (2, 64), (4, 64), (4, 128)]
    truth = {(4, 128): 0.02, (4, 64): 0.16}  # the largest diverged
    mine = [{"n_layers": n, "d_model": d, "params_non_embedding": n * 6 * d * d, "ndcg@10": truth.get((n, d), 0.15)}
            for n, d in sizes]
    out = regret(mine, BiggerIsBetter(), min_budget=50_000)
    assert [r["budget"] for r in out] == [6 * 64 * 64 * 4, 6 * 128 * 128 * 4]
    assert out[0]["regret"] == 0.0 and out[0]["advised"] == [4, 64]
    assert out[1]["advised"] == [4, 128] and out[1]["best"] == [4, 64]
    assert out[1]["regret"] == pytest.approx((0.16 - 0.02) / 0.16)
    # a law that knows (from the library) that 4 x 128 diverges advises the next best, as `advise` does
    BiggerIsBetter.unstable = {(4, 128)}
    guarded = regret(mine, BiggerIsBetter(), min_budget=50_000)
    assert guarded[1]["advised"] == [4, 64] and guarded[1]["regret"] == 0.0
    # one that saw it collapse on 60 % of the library's runs prices that in: 0.4 x 512 < 256 (4 x 64)
    BiggerIsBetter.unstable, BiggerIsBetter.risk = set(), {(4, 128): 0.6}
    priced = regret(mine, BiggerIsBetter(), min_budget=50_000)
    assert priced[1]["advised"] == [4, 64] and priced[1]["regret"] == 0.0
    assert regret(mine, BiggerIsBetter(), min_budget=50_000, price_risk=False)[1]["advised"] == [4, 128]


def test_a_dataset_enters_the_library_only_with_its_whole_grid(tmp_path, capsys):
    from srlaw.library.grid import DEPTHS, WIDTHS
    from srlaw.library.store import load_store

    def run(n, d, seed=0, finished=True):
        return {"run": f"v/L{n}-d{d}-s{seed}", "finished": finished, "n_layers": n, "d_model": d, "seed": seed,
                "params_non_embedding": n * d * d, "epochs": 5, "train_seconds": 1.0, "device": "cpu",
                "stopped_by": "early_stopping", "test": {"hr@10": 0.1, "ndcg@10": 0.05, "loss": 7.0},
                "curve": [{"epoch": 1, "seconds": 0.5, "valid": {"hr@10": 0.1, "ndcg@10": 0.05}}]}

    grid = [(n, d) for n in DEPTHS for d in WIDTHS]
    doc = {"data": {"n_users": 100, "n_items": 50}, "scores": {"markov_ndcg@10": 0.05}, "recipe_name": "library",
           "recipe": {}}
    (tmp_path / "full.json").write_text(json.dumps({**doc, "variant": "full", "runs": [run(*c) for c in grid]}))
    partial = [run(*c, finished=c != (1, 16)) for c in grid] + [run(1, 16, seed=1)]  # a seed is no stand-in
    (tmp_path / "part.json").write_text(json.dumps({**doc, "variant": "part", "runs": partial}))
    records, datasets = load_store(tmp_path)
    assert sorted(datasets) == ["full"] and {r["variant"] for r in records} == {"full"}
    assert "part left out until its grid is trained; no finished run at 1x16" in capsys.readouterr().err
    assert {r["train_seconds"] for r in records} == {1.0}  # the recorded time: it covers the curve's epochs


def test_a_run_resumed_by_an_older_trainer_counts_its_curves_seconds(tmp_path):
    from srlaw.library.store import _train_seconds
    curve = [{"epoch": e, "seconds": 60.0} for e in (1, 2, 3)]
    assert _train_seconds({"train_seconds": 70.0, "curve": curve}) == 180.0  # only the last attempt was timed
    assert _train_seconds({"train_seconds": 200.0, "curve": curve}) == 200.0  # overhead beyond the epochs stays


def test_a_covariate_prior_reads_the_width_gain_off_its_regression():
    from srlaw.library.shape import PRIOR_FLOOR, LibraryFit, Noise, Prior
    from studies.library.prior_covariates import covariate_prior
    sizes = {"a": 1e5, "b": 3e5, "c": 1e6, "d": 3e6, "held": 1e7}
    datasets = {v: {"n_interactions": n, "scores": {"markov_ndcg@10": 0.1}} for v, n in sizes.items()}
    gain = {v: 0.01 + 0.02 * math.log(n / 1e5) for v, n in sizes.items()}  # a grows with log data, exactly
    fit = LibraryFit("ndcg@10", 0.5, 1.0, {v: np.array([-2.0, gain[v], 1.0]) for v in "abcd"},
                     Prior(-2.0 - math.log(0.1), 1.0, float(np.mean([gain[v] for v in "abcd"])), np.eye(2)),
                     Noise(1e-4, 0.0))
    prior = covariate_prior(fit, datasets, "held", lambda d: math.log(d["n_interactions"]))
    assert prior.mean(0.1)[1] == pytest.approx(gain["held"])  # extrapolated along the fitted line, not the mean
    assert prior.mean(0.1)[0] == pytest.approx(fit.prior.mean(0.1)[0])  # the ceiling's prior is left as it was
    assert np.sqrt(np.diag(prior.cov)) == pytest.approx(PRIOR_FLOOR)  # no scatter about either line: the floors


def test_the_inner_choice_of_a_covariate_never_sees_the_held_out_source(monkeypatch):
    from studies.library import prior_covariates as pc
    seen = []

    def fake_library(records, datasets, hold, also=()):
        seen.append(("fit", hold, sorted(datasets), sorted({r["variant"] for r in records}), sorted(also)))
        return {}

    def fake_evaluate(records, datasets, hold, k, fits, also=()):
        seen.append(("score", hold))
        return {"metrics": {m: {"mape": 0.01 if fits == "users" else 0.05} for m in ("hr@10", "ndcg@10")}}

    monkeypatch.setattr(pc, "library_without", fake_library)
    monkeypatch.setattr(pc, "with_covariate", lambda fits, datasets, hold, value: "users" if value is
                        pc.COVARIATES["log users"][1] else "other")
    monkeypatch.setattr(pc, "evaluate", fake_evaluate)
    names = ["ml-100k", "lastfm-s3rec", "sports-s3rec", "sports-s3rec/users25"]
    pick, means = pc.inner_choice([{"variant": v} for v in names], {v: {} for v in names}, "sports-s3rec")
    assert pick == "log users" and set(means) == set(pc.COVARIATES)
    assert [s[1] for s in seen if s[0] == "fit"] == ["lastfm-s3rec", "ml-100k"]  # each other source held out
    # neither the held-out dataset nor its quarter (the same raw data) is in any inner fit
    assert all(not {"sports-s3rec", "sports-s3rec/users25"} & set(s[2] + s[3]) for s in seen if s[0] == "fit")


def test_a_run_stopped_sooner_is_replayed_on_its_recorded_curve():
    from studies.library.cut_runs import stopped_sooner
    run = {"curve": {"ndcg@10": [0.1, 0.2, 0.2, 0.15, 0.3, 0.28]}}
    assert stopped_sooner(run, 2) == (4, pytest.approx(0.2 / 0.3))  # two epochs without a new best: stop, keep 0.2
    assert stopped_sooner(run, 3) == (6, pytest.approx(1.0))  # patient enough to see the late best


def test_the_own_pace_gain_reads_a_runs_pace_off_other_runs_curves():
    from studies.library.cut_runs import final_gain, own_pace_gain

    def run(variant, level, tau, epochs=40):
        curve = [level * (1 - math.exp(-e / tau)) for e in range(1, epochs + 1)]
        return {"variant": variant, "d_model": 32, "curve": {"ndcg@10": curve, "hr@10": [2 * v for v in curve]}}

    datasets = {v: {"n_users": n} for v, n in (("a", 1000), ("b", 5000), ("c", 20000), ("new", 3000))}
    # two paces, levels and sizes that say nothing about them: the gain still to come is a line through two points
    records = [run(v, level, tau) for v in "abc" for level in (0.05, 0.1) for tau in (2.0, 6.0)]
    gain = own_pace_gain(records, datasets)
    for tau in (2.0, 6.0):
        new = run("new", 0.07, tau)
        mean, var = gain(new, 5, "ndcg@10")
        assert mean == pytest.approx(final_gain(new, 5, "ndcg@10"), abs=1e-9) and var == pytest.approx(0, abs=1e-12)
    assert gain(run("new", 0.07, 2.0), 5, "ndcg@10")[0] < gain(run("new", 0.07, 6.0), 5, "ndcg@10")[0]
    assert gain(run("new", 0.07, 6.0), 40, "hr@10")[0] == pytest.approx(0, abs=1e-9)  # an ended run gains nothing


def test_the_cut_runs_report_is_todays_store_and_calibration_check():
    from srlaw.library.store import load_store
    from studies.library import cut_runs
    records, datasets = load_store()
    doc = json.loads((ROOT / "reports" / "cut_runs.json").read_text())
    calibration = json.loads((ROOT / "reports" / "calibration.json").read_text())
    assert doc["datasets"] == sorted(datasets), "reports/cut_runs.md is stale: python -m studies.library.cut_runs"
    converged = [r for r in calibration["results"] if r["k"]]
    _close(cut_runs.patience_rows(records, datasets, converged), doc["patience"])
    _close({c: calibration["summary"][c] for c in doc["converged"]}, doc["converged"])
    _close(calibration["cut"]["summary"], doc["cut"]["library median"])  # the released credit: validate's cut check
    assert (ROOT / "reports" / "cut_runs.md").read_text() == cut_runs.markdown(doc)


def test_the_shape_weights_report_scores_the_released_fit_as_the_released_reports_do():
    from srlaw.library.store import load_store, store_digest
    from studies.library import shape_weights
    records, _ = load_store()
    doc = json.loads((ROOT / "reports" / "shape_weights.json").read_text())
    assert doc["store_digest"] == store_digest(records), \
        "reports/shape_weights.md is stale: python -m studies.library.shape_weights"
    calibration = json.loads((ROOT / "reports" / "calibration.json").read_text())
    extrapolation = json.loads((ROOT / "reports" / "extrapolation.json").read_text())["datasets"]
    released = doc["weightings"]["runs"]
    _close(calibration["source_out"]["summary"], released["source_out"])
    _close(calibration["summary"], released["one_out"])
    def mapes(entry):
        return {m: {s: c["library"]["mape"] for s, c in entry["metrics"][m]["splits"].items()}
                for m in entry["metrics"]}

    for v, e in released["extrapolation"].items():
        x = extrapolation[v]
        _close(mapes(x), e["one_out"]["mape"])
        assert e["one_out"]["regret_worst"] == pytest.approx(max(r["regret"] for r in x["regret_library"]), abs=5e-4)
        if "source_out" in x:
            _close(mapes(x["source_out"]), e["source_out"]["mape"])
            assert e["source_out"]["regret_worst"] == pytest.approx(max(r["regret"] for r in x["source_out"]["regret"]),
                                                                    abs=5e-4)
    assert (ROOT / "reports" / "shape_weights.md").read_text() == shape_weights.markdown(doc)


def test_extrapolation_figures_draw_every_point_even_far_off(tmp_path):
    from srlaw.library import extrapolation_plots as plots

    def point(factor, observed, sd, off):
        return {"factor": factor, "observed": observed, "seed_sd": sd, "n_seeds": 3 if sd else 1,
                **{law: [observed * off, observed * off * 0.9, observed * off * 1.1] for law in plots.COLOURS}}

    pts = [point(2.0, 0.10, 0.002, 1.02), point(8.0, 0.12, None, 0.9), point(40.0, 0.13, 0.001, 19.0)]  # one at +1800 %
    doc = {"datasets": {"ml-1m": {"metrics": {m: {"points": pts} for m in ("hr@10", "ndcg@10")}}}}
    paths = plots.figure_paths(tmp_path / "extrapolation.md")
    plots.plot_pred_vs_obs(doc, {"ml-1m": "ML-1M", "sports-s3rec": "Sports"}, ("library", "shared"),
                           ("hr@10", "ndcg@10"), paths["pred_vs_obs"])
    plots.plot_error_vs_factor(doc, tuple(plots.COLOURS), ("hr@10", "ndcg@10"), ((4, 10), (10, math.inf)),
                               paths["error_vs_factor"])
    for path in paths.values():
        assert path.parent == tmp_path / "extrapolation"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_library_training_runs_the_plan_on_the_grid_engine(tmp_path, monkeypatch):
    """`train` hands the plan's unfinished runs to the grid engine (srlaw.grid.engine: locks, retries, Ray
    resources; tested in tests/test_grid.py) with the deadline as each run's cap; a capped run trains on."""
    import time
    from srlaw.grid import engine
    from srlaw.library import train as tl
    data, store = tmp_path / "data", tmp_path / "store"
    (data / "ml-100k").mkdir(parents=True)
    (data / "ml-100k" / "stats.json").write_text(json.dumps({"n_items": 1682}))
    done = store / "runs" / "ml-100k" / "L1-d16-s0"
    capped = store / "runs" / "ml-100k" / "L1-d32-s0"
    for run, how in ((done, "early_stopping"), (capped, "time_cap")):
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps({"n_layers": 1, "d_model": 16, "test": {}, "valid": {},
                                                      "epochs": 3, "stopped_by": how, "params_non_embedding": 1}))
    seen = {}
    monkeypatch.setattr(engine, "run_jobs", lambda jobs, recipe, *a: seen.update(jobs=jobs, recipe=recipe, a=a)
                        or ({}, {}))
    assert train_main(["train", "--data", str(data), "--store", str(store), "--only", "ml-100k", "--grid-only",
                       "--gpus-per-run", "0.25", "--deadline-s", "600"]) == 0
    labels = [j.label for j in seen["jobs"]]
    assert "ml-100k/L1-d16-s0" not in labels and "ml-100k/L1-d32-s0" in labels  # finished skipped, capped again
    assert len(labels) == len(set(labels)) == 14  # the rest of the seed-0 grid, in the plan's order
    job = seen["jobs"][labels.index("ml-100k/L1-d32-s0")]
    assert job.run_dir == capped and job.data_dir == data / "ml-100k" and job.n_items == 1682
    max_minutes, max_epochs, address, cpus, gpus, where, policy = seen["a"]
    assert (gpus, cpus, address, where) == (0.25, 1.0, None, store)
    assert policy["resume_capped"] and policy["drop_checkpoints"] and policy["train"] == {"deterministic": False}
    assert 590 < policy["deadline"] - time.time() <= 600
    assert tl.stored_tasks(store)[0] == Task("ml-100k", 1, 16, 0)


def test_the_larger_fit_set_scores_only_models_above_it_and_regenerates_its_committed_numbers():
    from srlaw.library import extrapolate
    from srlaw.library.release import library_without
    from srlaw.library.store import load_store
    from srlaw.library.shape import collapse_counts, unstable_sizes
    records, datasets = load_store()
    name = "sports-s3rec"
    others = [r for r in records if r["variant"] != name]
    mine = [r for r in records if r["variant"] == name]
    got = extrapolate.larger_fit_set(mine, datasets[name], library_without(records, datasets, name),
                                     unstable_sizes(others), collapse_counts(others))
    assert got["largest_fitted"] == max(r["params_non_embedding"] for r in mine
                                        if r["params_non_embedding"] <= extrapolate.LARGER_FIT_MAX)
    for me in got["metrics"].values():
        assert all(p["factor"] > 1 for p in me["points"])
        four = [p for p in me["points"] if p["factor"] >= 4]
        assert me["splits"]["4-10x"]["n"] + me["splits"]["10x+"]["n"] == len(four) > 0
    committed = json.loads((ROOT / "reports" / "extrapolation.json").read_text())["datasets"][name]["larger_fit_set"]
    _close(got, committed)


def test_every_cut_of_a_source_leaves_the_library_with_it_and_the_strict_check_regenerates():
    from srlaw.library import extrapolate
    from srlaw.library.grid import LIBRARY, SOURCES, same_source
    from srlaw.library.release import library_without
    from srlaw.library.store import load_store
    from srlaw.library.shape import collapse_counts, unstable_sizes
    assert set(SOURCES) == set(LIBRARY)  # every library variant names its raw data
    assert same_source("beauty-s3rec") == {"beauty-s3rec", "beauty-bert4rec", "beauty-bert4rec/users25"}
    assert same_source("ml-100k") == {"ml-100k"}
    records, datasets = load_store()
    name = "sports-s3rec"
    siblings = same_source(name) - {name}
    fits = library_without(records, datasets, name, siblings)
    assert not set(fits["ndcg@10"].levels) & same_source(name)  # neither the dataset nor its quarter is fitted
    apart = [r for r in records if r["variant"] not in same_source(name)]
    got = extrapolate.source_out([r for r in records if r["variant"] == name], datasets[name], fits,
                                 unstable_sizes(apart), collapse_counts(apart), sorted(siblings))
    committed = json.loads((ROOT / "reports" / "extrapolation.json").read_text())["datasets"][name]["source_out"]
    _close(got, committed)
    assert "source_out" not in json.loads((ROOT / "reports" / "extrapolation.json").read_text())["datasets"]["ml-100k"]


def test_a_capped_library_run_trains_on_from_its_checkpoint_or_afresh_without_one(tmp_path):
    from srlaw.grid.engine import LOCK, reopen_capped
    metrics = {"n_layers": 1, "d_model": 16, "test": {}, "valid": {}, "epochs": 3, "params_non_embedding": 1}
    runs = {}
    for name, how, ckpt in (("done", "early_stopping", False), ("resume", "time_cap", True),
                            ("afresh", "time_cap", False)):
        run = runs[name] = tmp_path / name
        (run / "checkpoints").mkdir(parents=True)
        if ckpt:
            (run / "checkpoints" / "last.ckpt").write_bytes(b"state")
        (run / LOCK).touch()
        (run / "curve.json").write_text("{}")
        (run / "metrics.json").write_text(json.dumps({**metrics, "stopped_by": how}))
    assert reopen_capped(runs["done"])["stopped_by"] == "early_stopping"  # finished: kept as it is
    assert reopen_capped(runs["resume"]) is None and (runs["resume"] / "checkpoints" / "last.ckpt").is_file()
    assert not (runs["resume"] / "metrics.json").exists() and (runs["resume"] / "curve.json").exists()
    assert reopen_capped(runs["afresh"]) is None  # capped by older code, checkpoints gone: start again
    assert sorted(p.name for p in runs["afresh"].iterdir()) == [LOCK]  # the lock its caller holds stays
