"""Every expected failure of the `srlaw` command is one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from srlaw.cli import main
from srlaw.core.errors import (DataError, ExportError, LawError, LawFitError, ParamsError, SrlawError,
                          UnknownFormError)
from srlaw.law.forms import get_form

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv,fragment", [
    (["prepare", "--variant", "nope"], "params.yaml: variants.nope: no such variant"),
    (["prepare", "--variant", "full", "--params", "missing.yaml"], "missing.yaml: no such params file"),
    (["entropy", "--input", "missing.csv", "--format", "csv"], "missing.csv: no such file"),
    (["entropy", "--input", "ratings.csv"], "--input needs --format"),
    (["entropy"], "give --variant NAME"),
    (["entropy", "--input", "r.csv", "--format", "csv", "--window", "0"], "options: window = 0: expected null or"),
    (["entropy", "--input", "r.csv", "--format", "csv", "--m", "1000000"], "options: m = 1000000: expected an integer"),
    (["entropy", "--input", "r.csv", "--format", "csv", "--r", "-1"], "options: r = -1.0: expected a number >= 0"),
    (["train", "--variant", "full", "--n-layers", "1", "--d-model", "16"], "data/prepared/full/stats.json: missing"),
    (["fit"], "data/scores/full/entropy.json: missing"),
    (["export"], "runs/full-1-16/metrics.json: missing"),
    (["advise", "--law", "nowhere"], "nowhere: no such law artifact"),
    (["advise", "--target", "ndcg@10=abc"], "--target must look like ndcg@10=0.18"),
])
def test_expected_failures_are_one_line(argv, fragment, tmp_path, monkeypatch, capsys):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"srlaw {argv[0]}: error: ") and fragment in err[0], err[0]


def test_one_error_family_per_layer():
    for cls in (ParamsError, DataError, LawFitError, ExportError, LawError):
        assert issubclass(cls, SrlawError)
    with pytest.raises(UnknownFormError, match="unknown law form 'cubic'; known forms: paper"):
        get_form("cubic")
    assert issubclass(UnknownFormError, LawError)
