"""`srlaw run` and `srlaw calibrate`: the public contract, resuming a killed calibration, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from srlaw.library import calibrate as calibration
from srlaw.cli import main
from srlaw.predictor import Law

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "ml-latest-small" / "ratings.csv"
INDEX = ROOT / "artifacts" / "laws" / "index.json"
BASE = ["--input", str(DATA), "--format", "movielens-csv", "--kcore", "5"]
CAL = ["--no-latency", "--parallel", "1"]  # latency timed once, in tests/test_example.py; Ray in test_grid.py


def fake_train(calls, stopped_by="early_stopping"):
    """Stands in for training: records the call and writes what a finished run writes (metrics.json)."""
    def train(data_dir, run_dir, recipe_name, n_layers, d_model, seed, n_items, max_minutes, eta=None):
        calls.append((n_layers, d_model))
        m = {"n_layers": n_layers, "d_model": d_model, "recipe": recipe_name, "seed": seed, "epochs": 9,
             "stopped_by": stopped_by, "params_non_embedding": n_layers * 6 * d_model ** 2,
             "valid": {"hr@10": 0.1, "ndcg@10": 0.05}, "test": {"hr@10": 0.09 + d_model / 1e4, "ndcg@10": 0.045}}
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / "metrics.json").write_text(json.dumps(m))
        return m
    return train


def test_run_writes_the_contracted_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *BASE, "--n-layers", "1", "--d-model", "16", "--max-minutes", "0.15", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    for split in ("valid", "test"):
        for metric in ("hr@10", "ndcg@10"):
            assert 0 <= m[split][metric] <= 1
    assert m["recipe"] == "library" and m["n_layers"] == 1 and m["epochs"] >= 1 and m["train_seconds"] > 0
    assert "test ndcg@10" in capsys.readouterr().out
    # the same folder again: nothing is retrained, and another configuration is refused
    assert main(["run", *BASE, "--n-layers", "1", "--d-model", "16", "--out", str(out)]) == 0
    assert main(["run", *BASE, "--n-layers", "2", "--d-model", "16", "--out", str(out)]) == 2
    assert "holds the work of another configuration (d_model 16, n_layers 1" in capsys.readouterr().err


def test_calibrate_writes_a_law_that_loads_and_predicts_without_arguments(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(calibration, "_train", fake_train(calls))
    out = tmp_path / "law"
    assert main(["calibrate", *BASE, *CAL, "--runs", "2", "--out", str(out), "--library", str(INDEX)]) == 0
    assert len(calls) == 2 and all(n <= 2 and d <= 64 for n, d in calls)  # cheap configurations only
    law = Law.load(out)
    p = law.predict(n_layers=2, d_model=128)
    assert 0 < float(p.lower) < float(p.value) < float(p.upper) < 1
    assert law.doc["calibration"]["n_runs"] == 2 and law.doc["n_items"] > 0
    assert json.loads((out / "manifest.json").read_text())["files"].keys() == {"law.json"}
    # what the library measured for the same procedure, at the same number of runs, travels with the law
    check = law.doc["validation"]["leave_one_dataset_out"]
    summary = json.loads(INDEX.read_text())["library"]["validation"]["leave_one_dataset_out"]["k"]["2"]
    assert check["k"] == 2 and check["ndcg@10"] == summary["ndcg@10"] and "not on this input" in check["note"]


def test_a_calibrated_law_beyond_the_measured_runs_carries_the_largest_measured_check():
    lib = json.loads(INDEX.read_text())["library"]
    assert calibration.library_check(lib, 5)["leave_one_dataset_out"]["k"] == 3
    assert calibration.library_check(lib, 0)["leave_one_dataset_out"]["k"] == 0
    assert calibration.library_check({**lib, "validation": {}}, 1) is None  # an index released unvalidated
    # the stricter check (every cut of the held-out source left out) travels beside it, at the same K
    strict = calibration.library_check(lib, 2)["leave_one_source_out"]
    assert strict["k"] == 2 and strict["hr@10"] == lib["validation"]["leave_one_source_out"]["k"]["2"]["hr@10"]
    older = {**lib, "validation": {"leave_one_dataset_out": lib["validation"]["leave_one_dataset_out"]}}
    assert "leave_one_source_out" not in calibration.library_check(older, 2)


def test_zero_runs_is_zero_shot_and_wider_than_calibrated(tmp_path, monkeypatch):
    monkeypatch.setattr(calibration, "_train", fake_train([]))
    for k in (0, 3):
        assert main(["calibrate", *BASE, *CAL, "--runs", str(k), "--out", str(tmp_path / f"k{k}"),
                     "--library", str(INDEX)]) == 0
    wide, narrow = (Law.load(tmp_path / f"k{k}").predict(2, 256) for k in (0, 3))
    assert (wide.upper - wide.lower) / wide.value > (narrow.upper - narrow.lower) / narrow.value


def test_a_run_stopped_by_a_cap_counts_as_its_expected_converged_value(tmp_path, monkeypatch):
    laws = {}
    for how in ("early_stopping", "time_cap"):
        monkeypatch.setattr(calibration, "_train", fake_train([], stopped_by=how))
        assert main(["calibrate", *BASE, *CAL, "--runs", "1", "--out", str(tmp_path / how), "--library", str(INDEX)]) == 0
        laws[how] = Law.load(tmp_path / how)
    converged, capped = (laws[h].predict(2, 128) for h in ("early_stopping", "time_cap"))
    assert float(capped.value) > float(converged.value)  # the same number, but from a run that was still learning
    assert laws["time_cap"].doc["runs"][0]["gain"]["ndcg@10"][0] > 0
    # each law carries what the library measured for a calibration like its own: capped runs' figures are worse
    checks = json.loads(INDEX.read_text())["library"]["validation"]
    for how, key, cut in (("early_stopping", "leave_one_dataset_out", False),
                          ("time_cap", "leave_one_dataset_out_cut", True)):
        got = laws[how].doc["validation"]["leave_one_dataset_out"]
        assert got["cut"] is cut and got["ndcg@10"] == checks[key]["k"]["1"]["ndcg@10"]
    assert checks["leave_one_dataset_out_cut"]["k"]["1"]["ndcg@10"]["mape_worst"] > \
        checks["leave_one_dataset_out"]["k"]["1"]["ndcg@10"]["mape_worst"]


def test_a_failed_calibration_run_is_trained_again_at_the_next_seed(tmp_path, monkeypatch, capsys):
    calls, real = [], fake_train([])

    def collapses_at_seed_0(data_dir, run_dir, recipe_name, n_layers, d_model, seed, n_items, max_minutes, eta=None):
        calls.append(seed)
        m = real(data_dir, run_dir, recipe_name, n_layers, d_model, seed, n_items, max_minutes)
        if seed == 0:  # a failed optimisation: far under anything the library expects
            m["test"] = {"hr@10": 0.004, "ndcg@10": 0.002}
            (Path(run_dir) / "metrics.json").write_text(json.dumps(m))
        return m
    monkeypatch.setattr(calibration, "_train", collapses_at_seed_0)
    out = tmp_path / "law"
    assert main(["calibrate", *BASE, *CAL, "--runs", "1", "--out", str(out), "--library", str(INDEX)]) == 0
    assert calls == [0, 1]
    assert "a failed optimisation" in capsys.readouterr().err
    doc = Law.load(out).doc
    assert [r["seed"] for r in doc["runs"]] == [1] and doc["runs"][0]["ndcg@10"] == 0.045
    assert [r["seed"] for r in doc["calibration"]["failed_runs"]] == [0]
    # resumed in the same folder: both attempts are found, neither is trained again
    calls.clear()
    assert main(["calibrate", *BASE, *CAL, "--runs", "1", "--out", str(out), "--library", str(INDEX)]) == 0
    assert calls == []


def test_a_killed_calibration_resumes_without_retraining(tmp_path, monkeypatch):
    calls = []
    real = fake_train(calls)

    def dies_on_second(*a, **kw):
        if len(calls) == 1:
            raise KeyboardInterrupt  # as if killed while training the second run
        return real(*a, **kw)

    out = tmp_path / "law"
    monkeypatch.setattr(calibration, "_train", dies_on_second)
    assert main(["calibrate", *BASE, *CAL, "--runs", "2", "--out", str(out), "--library", str(INDEX)]) == 130
    assert not (out / "law.json").exists() and len(calls) == 1
    first = calls[0]
    monkeypatch.setattr(calibration, "_train", real)
    assert main(["calibrate", *BASE, *CAL, "--runs", "2", "--out", str(out), "--library", str(INDEX)]) == 0
    assert calls[0] == first and len(calls) == 2 and calls[1] != first  # the finished run was not trained again
    assert Law.load(out).doc["calibration"]["n_runs"] == 2


@pytest.mark.parametrize("args,message", [
    (["--runs", "9"], "--runs 9: expected 0 to 6"),
    (["--max-minutes", "-1"], "--max-minutes -1.0: expected a number > 0"),
    (["--recipe", "other"], "--recipe 'other': the library at"),
    (["--library", "/nonexistent/index.json"], "no law library"),
])
def test_calibrate_bad_options_fail_with_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "law"
    assert main(["calibrate", *BASE, *CAL, "--out", str(out), *args]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(err) == 1 and message in err[0]
    assert not out.exists()  # nothing written before the input is validated


def test_calibrate_finds_the_library_from_any_folder_and_pins_it(tmp_path, monkeypatch, capsys):
    from srlaw.core.provenance import sha256_file
    monkeypatch.setattr(calibration, "_train", fake_train([]))
    monkeypatch.delenv("SRLAW_LIBRARY", raising=False)
    monkeypatch.chdir(tmp_path)  # no artifacts/ here: the checkout's library is found
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", "law"]) == 0
    cal = Law.load(tmp_path / "law").doc["calibration"]
    assert Path(cal["library"]).resolve() == INDEX.resolve() and cal["library_sha256"] == sha256_file(INDEX)
    # the embedded data is a library dataset: the calibration says so and names its whole-grid law
    assert cal["library_dataset"]["name"] == "ml-latest-small"
    assert Path(cal["library_dataset"]["law"]).resolve() == (INDEX.parent / "library" / "ml-latest-small").resolve()
    assert "this is the library's dataset 'ml-latest-small'" in capsys.readouterr().err


def test_calibrate_without_a_library_says_where_it_looked(tmp_path, monkeypatch, capsys):
    from srlaw.library import index as library_index
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRLAW_LIBRARY", str(tmp_path / "gone.json"))
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", "law"]) == 2
    assert capsys.readouterr().err.strip().endswith("gone.json: no law library (from $SRLAW_LIBRARY)")
    monkeypatch.delenv("SRLAW_LIBRARY")
    monkeypatch.setattr(library_index, "CHECKOUT_INDEX", tmp_path / "checkout" / "index.json")
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", "law"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "pass --library FILE or set $SRLAW_LIBRARY" in err
    assert not (tmp_path / "law").exists()
    monkeypatch.setenv("SRLAW_LIBRARY", str(INDEX))  # the variable names a library: it is used
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", "law"]) == 0


def test_bad_input_file_and_foreign_folder_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(calibration, "_train", fake_train([]))
    assert main(["calibrate", "--input", str(tmp_path / "missing.csv"), "--format", "movielens-csv",
                 "--out", str(tmp_path / "a"), "--library", str(INDEX)]) == 2
    assert "missing.csv" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    lines = DATA.read_text().splitlines()
    other.write_text("\n".join(lines[:20000]) + "\n")
    out = tmp_path / "law"
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", str(out), "--library", str(INDEX)]) == 0
    before = (out / "law.json").read_bytes()
    assert main(["calibrate", *CAL, "--input", str(other), "--format", "movielens-csv", "--runs", "0", "--out", str(out),
                 "--library", str(INDEX)]) == 2
    assert "holds the work of another input" in capsys.readouterr().err
    assert (out / "law.json").read_bytes() == before  # the earlier law is untouched
    assert main(["run", *BASE, "--n-layers", "0", "--d-model", "16", "--out", str(tmp_path / "r")]) == 2
    assert "n_layers" in capsys.readouterr().err


def test_library_index_and_released_laws_load():
    fits, recipe_name, lib = calibration.load_library(INDEX)
    assert recipe_name == "library" and set(fits) == {"hr@10", "ndcg@10"}
    assert len(lib["laws"]) >= 5 and lib["early_stopped_share"] >= 0.9
    for name, entry in lib["laws"].items():
        law = Law.load(INDEX.parent / entry["law"])
        assert law.doc["default_variant"] == name
        assert 0 < float(law.predict(2, 64).value) < 1


def test_the_plan_states_minutes_per_run_in_all_and_a_cap_that_covers_them():
    from srlaw.library.shape import epoch_seconds_model
    import re
    released = json.loads(INDEX.read_text())["library"]
    assert released["epoch_seconds"]["n_runs"] >= 3  # the release measured it on the library's CPU runs
    lib = {**released, "epoch_seconds": {"intercept": -15.2, "slope": 0.64, "n_runs": 52, "error_median": 0.2,
                                         "error_p90": 0.5, "devices": ["cpu (x86_64, 1 threads)"]}}
    stats = {"n_users": 6040, "n_items": 3416}
    line = calibration.plan_line([[1, 16], [2, 32]], lib, stats, lib["recipe_name"])
    per_run = [float(x) for x in re.findall(r"≈ (\d+) min\)", line)]
    total = float(re.search(r"≈ (\d+) min in all", line).group(1))
    cap = int(re.search(r"--max-minutes (\d+) would cap it", line).group(1))
    assert len(per_run) == 2 and per_run[0] <= per_run[1] and abs(sum(per_run) - total) <= 1 and cap >= total
    assert "no runs (zero-shot)" in calibration.plan_line([], lib, stats, lib["recipe_name"])
    assert " min" not in calibration.plan_line([[1, 16]], {**lib, "epoch_seconds": None}, stats, "library")
    # the timing model recovers seconds that grow as a power of the work, from CPU runs only
    datasets = {"a": {"n_users": 1000, "n_items": 500}}
    records = [{"variant": "a", "n_layers": n, "d_model": d, "epochs": 10, "device": dev,
                "train_seconds": 10 * 3e-6 * (n * d * d) ** 0.5} for n in (1, 2, 4) for d in (16, 64, 256)
               for dev in ("cpu (x86_64, 1 threads)", "NVIDIA H100")]
    model = epoch_seconds_model(records, datasets, 50)
    assert model["n_runs"] == 9 and model["devices"] == ["cpu (x86_64, 1 threads)"] and 0 < model["slope"] < 1
    assert epoch_seconds_model([r for r in records if r["device"] != "cpu (x86_64, 1 threads)"], datasets, 50) is None


def test_a_recalibrated_folder_keeps_its_latency_listed_so_the_law_still_loads(tmp_path, monkeypatch):
    from srlaw.library.latency import write_law_latency
    monkeypatch.setattr(calibration, "_train", fake_train([]))
    out = tmp_path / "law"
    assert main(["calibrate", *BASE, *CAL, "--runs", "1", "--out", str(out), "--library", str(INDEX)]) == 0
    latency = json.loads((INDEX.parents[1] / "law" / "latency.json").read_text())  # a real measurement's shape
    write_law_latency(out, latency, {"test": True})
    assert main(["calibrate", *BASE, *CAL, "--runs", "2", "--out", str(out), "--library", str(INDEX)]) == 0
    listed = json.loads((out / "manifest.json").read_text())["files"]
    assert listed.keys() == {"law.json", "latency.json"}  # the law was rewritten (two runs), the latency kept
    assert Law.load(out).doc["calibration"]["n_runs"] == 2
