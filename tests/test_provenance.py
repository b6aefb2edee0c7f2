"""Provenance records name the commit and exactly which tracked files differed from it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from srlaw.core.provenance import git_commit

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_git_commit_lists_modified_tracked_files(tmp_path):
    _git(tmp_path, "init", "-q")
    for name in ("a.py", "b.json"):
        (tmp_path / name).write_text("1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "init")
    clean = git_commit(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False and clean["modified"] == []

    (tmp_path / "b.json").write_text("2\n")
    (tmp_path / "untracked.txt").write_text("x\n")  # untracked files are not part of the code version
    rec = git_commit(tmp_path)
    assert rec["commit"] == clean["commit"]
    assert rec["dirty"] is True and rec["modified"] == ["b.json"]


def test_git_commit_outside_a_repository(tmp_path):
    assert git_commit(tmp_path / "nowhere")["commit"] == "unknown"


def test_provenance_of_artifacts_is_deterministic_and_names_the_code(tmp_path):
    from srlaw.core.provenance import code_sha256, provenance_record
    first, second = provenance_record({"a": 1}), provenance_record({"a": 1})
    assert first == second  # no clock, no commit: a rerun writes the same bytes
    assert set(first) == {"srlaw_version", "code_sha256", "versions", "params_sha256"}
    assert len(first["code_sha256"]) == 64 and provenance_record({"a": 2})["params_sha256"] != first["params_sha256"]
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "sub" / "law.schema.json").write_text("{}")
    (tmp_path / "pkg" / "notes.txt").write_text("not code")
    base = code_sha256(tmp_path / "pkg")
    (tmp_path / "pkg" / "notes.txt").write_text("still not code")
    assert code_sha256(tmp_path / "pkg") == base
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert code_sha256(tmp_path / "pkg") != base
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "a.py").rename(tmp_path / "pkg" / "b.py")  # same bytes under another name
    assert code_sha256(tmp_path / "pkg") != base
