"""Bad input gets one line naming the file, line or field and exit 2 — never a traceback, a hang or a nonsense
answer; the law library is verified like a law."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from srlaw.cli import main
from srlaw.core.errors import LawInputError
from srlaw.library import calibrate as calibration
from srlaw.library.index import load_library, write_index
from srlaw.predictor import Law

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "ml-latest-small" / "ratings.csv"
INDEX = ROOT / "artifacts" / "laws" / "index.json"
BASE = ["--input", str(DATA), "--format", "movielens-csv", "--kcore", "5"]
CAL = ["--no-latency", "--parallel", "1"]  # latency timed once, in tests/test_example.py; Ray in test_grid.py


def one_line(capsys, *expected) -> str:
    """The one error line (progress lines may precede it), holding every ``expected`` text; no traceback."""
    text = capsys.readouterr().err
    err = [line for line in text.splitlines() if ": error: " in line]
    assert len(err) == 1 and all(e in err[0] for e in expected), text
    assert "Traceback" not in text
    return err[0]


@pytest.fixture
def library(tmp_path):
    """A released copy of the committed library: its index and manifest."""
    path = tmp_path / "lib" / "index.json"
    path.parent.mkdir()
    write_index(path, json.loads(INDEX.read_text()))
    return path


# ---------------------------------------------------------------- the library is verified like a law

def test_a_tampered_library_is_refused(library, tmp_path, capsys):
    doc = json.loads(library.read_text())
    doc["library"]["fits"]["ndcg@10"]["w"] *= 2
    library.write_text(json.dumps(doc))
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--library", str(library), "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, str(library), "does not match", "manifest.json")
    assert not (tmp_path / "o").exists()


def test_a_library_without_its_manifest_is_refused(library, capsys):
    (library.parent / "manifest.json").unlink()
    with pytest.raises(Exception, match="missing; a law library loads only with its manifest"):
        load_library(library)


def test_the_library_pin(library, tmp_path, monkeypatch, capsys):
    args = ["calibrate", *BASE, *CAL, "--runs", "0", "--library", str(library)]
    assert main([*args, "--library-sha256", "0" * 64, "--out", str(tmp_path / "a")]) == 2
    one_line(capsys, "is not the pinned")
    monkeypatch.setenv("SRLAW_LIBRARY_SHA256", "1" * 64)
    assert main([*args, "--out", str(tmp_path / "b")]) == 2
    one_line(capsys, "$SRLAW_LIBRARY_SHA256")
    import hashlib
    monkeypatch.setenv("SRLAW_LIBRARY_SHA256", hashlib.sha256(library.read_bytes()).hexdigest())
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    assert f"law library: {library}" in capsys.readouterr().err  # the terminal says which library was used


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("library"),
    lambda d: d["library"].__setitem__("fits", []),
    lambda d: d["library"]["fits"]["ndcg@10"].pop("prior"),
    lambda d: d["library"].__setitem__("recipe_name", 3),
    lambda d: d["library"].__setitem__("laws", "x"),
])
def test_a_malformed_library_is_one_line(library, tmp_path, capsys, damage):
    doc = json.loads(library.read_text())
    damage(doc)
    write_index(library, doc)  # released as it is: the manifest matches, the content is wrong
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--library", str(library), "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, str(library), "field library")


def test_a_deeply_nested_library_is_one_line(library, tmp_path, capsys):
    import hashlib
    library.write_text("[" * 100_000 + "]" * 100_000)  # deeper than any parser recurses
    digest = hashlib.sha256(library.read_bytes()).hexdigest()
    (library.parent / "manifest.json").write_text(json.dumps({"files": {"index.json": {"sha256": digest}}}))
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--library", str(library), "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, str(library), "not valid JSON")


def test_advise_says_when_a_calibrated_laws_library_changed(library, tmp_path, capsys):
    out = tmp_path / "law"
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--library", str(library), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["advise", "--law", str(out), "--top", "1"]) == 0
    assert "has changed" not in capsys.readouterr().err
    doc = json.loads(library.read_text())
    doc["library"]["note"] = "re-released"
    write_index(library, doc)
    assert main(["advise", "--law", str(out), "--top", "1"]) == 0
    assert "has changed since this law was calibrated" in capsys.readouterr().err


# ---------------------------------------------------------------- sizes are integers in range

def test_catalogues_sizes_and_candidates_in_range(capsys):
    law = Law.load(ROOT / "artifacts" / "law")
    assert main(["advise", "--law", "artifacts/law", "--n-items", str(9 * 10**18), "--max-params", "1e6"]) == 2
    one_line(capsys, "n_items must be an integer in [1, 10,000,000,000]")
    with pytest.raises(LawInputError, match=r"d_model must be in \[1, 16,384\]"):
        law.params_of(2, 3e9)
    with pytest.raises(LawInputError, match="no 2.5 layers"):
        law.advise(candidates=[(2.5, 32)], variant="full")
    with pytest.raises(LawInputError, match="non-empty"):
        law.advise(candidates=np.empty((0, 2)), variant="full")
    pne, total = law.params_of(np.array([1, 256]), np.array([16, 16_384]), n_items=10**10)
    assert (pne > 0).all() and (total > pne).all()  # exact at the caps: no int64 overflow


def test_nothing_to_bind_is_not_a_crash():
    law = Law.load(ROOT / "artifacts" / "law")
    advice = law.advise(target={"ndcg@10": 0.99}, variant="full", allow_extrapolation=True)
    assert advice.binding == "target" and not advice.ranked


def test_a_data_value_far_outside_the_domain_is_no_prediction(capsys):
    assert main(["advise", "--law", "artifacts/law", "--data", "1e308", "--target", "ndcg@10=0.9"]) == 0
    out = capsys.readouterr().out
    assert "no prediction" in out and "1.0000" not in out


@pytest.mark.parametrize("args, expected", [
    (["--budget-share", "nan"], "--budget-share nan: expected a number in [0, 1]"),
    (["--runs", "99"], "--runs 99: expected 0 to"),
])
def test_calibrate_numbers_in_range(tmp_path, capsys, args, expected):
    assert main(["calibrate", *BASE, *CAL, *args, "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, expected)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, expected", [
    (["--d-model", "16", "--seed", "99999999999"], "--seed 99999999999: expected an integer in [0, 4294967295]"),
    (["--d-model", "1000000"], "d_model = 1000000: expected an integer in [1, 16,384]"),
])
def test_run_sizes_and_seeds_refused_before_anything_is_built(tmp_path, capsys, args, expected):
    assert main(["run", *BASE, "--n-layers", "1", *args, "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, expected)
    assert not (tmp_path / "o").exists()


def test_a_model_larger_than_memory_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "sysconf", lambda name: 4096 if name == "SC_PAGE_SIZE" else 1024)  # a 4 MiB machine
    monkeypatch.setenv("SRLAW_MAX_INPUT_BYTES", str(10**9))  # whose input cap is lifted
    assert main(["run", *BASE, "--n-layers", "2", "--d-model", "64", "--out", str(tmp_path / "o")]) == 2
    one_line(capsys, "training needs at least", "this machine has")


def test_describe_and_data_are_one_or_the_other(capsys):
    assert main(["advise", "--law", "artifacts/law", "--describe", str(DATA), "--format", "movielens-csv",
                 "--data", "0.05"]) == 2
    one_line(capsys, "--data and --describe both give your data's value")


def test_undefined_scores_are_null_in_standard_json(tmp_path, capsys):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("".join(f"{u} {i}\n" for u in (1, 2, 3) for i in (1, 2, 3)))
    assert main(["entropy", "--input", str(tiny), "--format", "sasrec", "--m", "10"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert doc["apen_mean"] is None and "apen_mean" in doc["non_finite_as_null"][0]


# ---------------------------------------------------------------- files that are not files, fields too large

@pytest.mark.parametrize("where", ["input", "params"])
def test_a_pipe_or_a_device_is_refused_not_read(tmp_path, capsys, where):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for special in (fifo, Path("/dev/zero")):
        args = ["describe", "--input", str(special if where == "input" else DATA), "--format", "movielens-csv"]
        if where == "params":
            args += ["--params", str(special)]
        assert main(args) == 2  # returns at once: nothing opened the pipe or read the device
        one_line(capsys, str(special), "not a regular file")


def test_a_csv_field_over_the_limit_names_its_line(tmp_path, capsys):
    big = tmp_path / "big.csv"
    big.write_text("user,item\n1,2\n1," + "9" * 200_000 + "\n")
    assert main(["describe", "--input", str(big), "--format", "csv"]) == 2
    one_line(capsys, f"{big}:3", "not a valid delimited line")


def test_an_input_over_the_size_cap_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SRLAW_MAX_INPUT_BYTES", "1000")
    assert main(["describe", *BASE]) == 2
    one_line(capsys, "srlaw reads at once", "SRLAW_MAX_INPUT_BYTES")


def test_a_law_is_loaded_from_a_path():
    with pytest.raises(LawInputError, match="got bytes"):
        Law.load(b"artifacts/law")


# ---------------------------------------------------------------- damaged resume state

@pytest.mark.parametrize("name, content", [("plan.json", "{"), ("plan.json", '{"runs_asked": 0, "configs": "x"}'),
                                           ("scores.json", "[]"), ("data/stats.json", "nul")])
def test_damaged_resume_state_is_named(tmp_path, capsys, name, content):
    out = tmp_path / "o"
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    (out / "work" / name).write_text(content)
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", str(out)]) == 2
    one_line(capsys, name, "damaged", "delete it")


def test_a_damaged_run_record_is_named(tmp_path, capsys, monkeypatch):
    out = tmp_path / "o"
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", str(out)]) == 0
    monkeypatch.setattr(calibration, "_plan", lambda *a, **k: {"configs": [[1, 16]]})
    run = out / "work" / "runs" / "L1-d16"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"n_layers": 1}')
    capsys.readouterr()
    assert main(["calibrate", *BASE, *CAL, "--runs", "1", "--out", str(out)]) == 2
    one_line(capsys, "metrics.json", "damaged")


def test_a_run_folder_holds_one_configuration(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", *BASE, "--n-layers", "1", "--d-model", "16", "--max-minutes", "0.05", "--out", str(out)]) == 0
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    (out / "metrics.json").unlink()  # as if killed: a later call with another width must not resume it
    capsys.readouterr()
    assert main(["run", *BASE, "--n-layers", "1", "--d-model", "32", "--out", str(out)]) == 2
    one_line(capsys, "holds the work of another configuration")


def test_a_full_disk_names_the_file_it_could_not_write(tmp_path, monkeypatch, capsys):
    import errno
    from srlaw.core import atomic

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", no_space)
    out = tmp_path / "o"
    assert main(["calibrate", *BASE, *CAL, "--runs", "0", "--out", str(out)]) == 2
    line = one_line(capsys, "No space left on device")
    assert f"{out}/" in line and ": error: : " not in line  # the file is named
    assert not [p for p in out.rglob("*.tmp")]  # no temporary left behind
