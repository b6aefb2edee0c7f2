"""srlaw never deletes or overwrites what it did not write; one writer per output folder; a reader never believes a
torn law; interrupted and piped commands end cleanly."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from srlaw.cli import main
from srlaw.core.ownership import MARKER, OutputError, claim
from srlaw.library import calibrate as calibration
from srlaw.predictor import Law

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "ml-latest-small" / "ratings.csv"
BASE = ["--input", str(DATA), "--format", "movielens-csv", "--kcore", "5"]
CAL = ["--no-latency"]  # timed once, in tests/test_example.py
ZERO_SHOT = ["calibrate", *BASE, *CAL, "--runs", "0"]


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command", [ZERO_SHOT, ["run", *BASE, "--n-layers", "1", "--d-model", "16",
                                                 "--max-minutes", "0.05"]])
def test_a_folder_with_foreign_files_is_refused_untouched(tmp_path, capsys, command):
    out = tmp_path / "X"
    (out / "work" / "data").mkdir(parents=True)
    (out / "work" / "data" / "thesis.tex").write_text("years of work")
    before = _tree(out)
    assert main([*command, "--out", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert len(err) == 1 and "holds files srlaw did not write" in err[0] and str(out) in err[0]
    assert _tree(out) == before and not (out / MARKER).exists()


@pytest.mark.parametrize("law", ["artifacts/law", "artifacts/laws/library/ml-1m"])
def test_a_copy_of_a_released_or_pipeline_law_is_never_written_over(tmp_path, capsys, law):
    out = tmp_path / "copy"
    shutil.copytree(ROOT / law, out)
    before = _tree(out)
    assert main([*ZERO_SHOT, "--out", str(out)]) == 2
    assert "holds a law that srlaw released elsewhere" in capsys.readouterr().err
    assert _tree(out) == before
    Law.load(out)  # still loads


def test_another_inputs_work_is_refused_even_without_its_data(tmp_path, capsys):
    out = tmp_path / "X"
    assert main([*ZERO_SHOT, "--out", str(out)]) == 0
    shutil.rmtree(out / "work" / "data")  # the scores of the first input stay behind
    other = tmp_path / "other.csv"
    other.write_text("".join(line for i, line in enumerate(DATA.read_text().splitlines(True)) if i % 2 == 0))
    law = (out / "law.json").read_bytes()
    assert main(["calibrate", *CAL, "--input", str(other), "--format", "movielens-csv", "--runs", "0",
                 "--out", str(out)]) == 2
    assert "holds the work of another input" in capsys.readouterr().err
    assert (out / "law.json").read_bytes() == law


def test_another_kind_of_output_is_refused(tmp_path, capsys):
    out = tmp_path / "X"
    assert main([*ZERO_SHOT, "--out", str(out)]) == 0
    assert main(["run", *BASE, "--n-layers", "1", "--d-model", "16", "--out", str(out)]) == 2
    assert "holds a srlaw calibration output, not a run" in capsys.readouterr().err


def test_finished_work_asked_again_leaves_every_byte(tmp_path):
    out = tmp_path / "X"
    assert main([*ZERO_SHOT, "--out", str(out)]) == 0
    before = _tree(out)
    stamps = {p: os.stat(out / p).st_mtime_ns for p in ("law.json", "manifest.json")}
    assert main([*ZERO_SHOT, "--out", str(out)]) == 0
    assert _tree(out) == before
    assert stamps == {p: os.stat(out / p).st_mtime_ns for p in stamps}  # not even rewritten with the same bytes


def test_one_writer_at_a_time_and_a_dead_writer_leaves_no_lock(tmp_path):
    out = tmp_path / "X"
    held = claim(out, "calibration")
    with pytest.raises(OutputError, match="another srlaw process is writing it"):
        claim(out, "calibration")
    held.release()
    claim(out, "calibration").release()
    # a writer killed while holding the folder: the kernel drops its lock with the process
    code = f"from srlaw.core.ownership import claim; import os; claim({str(out)!r}, 'calibration'); os._exit(9)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    claim(out, "calibration").release()


def test_a_folder_caught_while_another_writer_writes_its_marker_is_waited_for_not_refused(tmp_path):
    import fcntl
    from srlaw.core.ownership import LOCK
    out = tmp_path / "X"
    out.mkdir()
    # the first writer holds the lock and is between its marker's temporary and the rename
    fd = os.open(out / LOCK, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    tmp = out / f".{MARKER}.k3x9q.tmp"
    tmp.write_text(json.dumps({"kind": "grid"}))

    def finish():
        os.replace(tmp, out / MARKER)
        os.close(fd)

    timer = threading.Timer(0.5, finish)
    timer.start()
    try:
        second = claim(out, "grid", wait_s=30)  # waits for the lock, then resumes the first writer's folder
    finally:
        timer.join()
    assert second.marker["kind"] == "grid"
    second.release()
    (out / MARKER).unlink()
    (out / f".{MARKER}x.tmp").write_text("mine")  # a name that only looks alike is still foreign
    with pytest.raises(OutputError, match=r"holds files srlaw did not write \(\.\.srlaw-output\.jsonx\.tmp\)"):
        claim(out, "grid")


def test_a_reader_never_believes_a_law_caught_mid_rewrite(tmp_path):
    from srlaw.core.atomic import write_bytes_atomic
    law_dir = tmp_path / "law"
    shutil.copytree(ROOT / "artifacts" / "laws" / "library" / "ml-1m", law_dir)
    pairs = []
    for bump in range(2):  # two versions of the law, each with its manifest
        doc = json.loads((law_dir / "law.json").read_text())
        doc["calibration"]["seconds"] = float(bump)
        body = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
        manifest = json.loads((law_dir / "manifest.json").read_text())
        manifest["files"]["law.json"] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
        pairs.append((body, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()))
    write_bytes_atomic(law_dir / "law.json", pairs[0][0])
    write_bytes_atomic(law_dir / "manifest.json", pairs[0][1])
    # a re-calibration caught between its two writes: the new law.json beside the old manifest
    write_bytes_atomic(law_dir / "law.json", pairs[1][0])
    finish = threading.Timer(0.1, write_bytes_atomic, (law_dir / "manifest.json", pairs[1][1]))
    finish.start()
    try:
        assert Law.load(law_dir).doc["calibration"]["seconds"] == 1.0  # read again until the pair matches
    finally:
        finish.join()
    (law_dir / "law.json").write_bytes(pairs[0][0] + b" ")  # a real corruption is still refused
    with pytest.raises(Exception, match="does not match"):
        Law.load(law_dir)


def test_ctrl_c_and_sigterm_end_with_a_resume_hint(tmp_path, monkeypatch, capsys):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(calibration, "calibrate_file", interrupted)
    assert main([*ZERO_SHOT, "--out", str(tmp_path / "X")]) == 130
    assert "interrupted; run the same command again to resume" in capsys.readouterr().err

    def terminated(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(calibration, "calibrate_file", terminated)
    assert main([*ZERO_SHOT, "--out", str(tmp_path / "X")]) == 143
    assert "terminated; run the same command again to resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back

    # Ray's wait passes Ctrl-C on as a new KeyboardInterrupt and turns any other exception a signal handler raises
    # into a SystemError
    def terminated_inside_ray_wait(*a, **k):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:
            raise KeyboardInterrupt from None
        except BaseException as e:
            raise SystemError("CoreWorker.wait returned a result with an exception set") from e

    monkeypatch.setattr(calibration, "calibrate_file", terminated_inside_ray_wait)
    assert main([*ZERO_SHOT, "--out", str(tmp_path / "X")]) == 143
    monkeypatch.setattr(calibration, "calibrate_file", interrupted)
    assert main([*ZERO_SHOT, "--out", str(tmp_path / "X")]) == 130  # the next command starts unmarked


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.run(f"{sys.executable} -m srlaw.cli advise --law artifacts/law --top 50 | head -1",
                          shell=True, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() and proc.stderr == ""


def test_an_output_written_before_markers_is_adopted_and_nothing_else(tmp_path):
    out = tmp_path / "X"
    assert main([*ZERO_SHOT, "--out", str(out)]) == 0
    (out / MARKER).unlink()  # as an srlaw of the previous release left it
    assert main([*ZERO_SHOT, "--out", str(out)]) == 0 and (out / MARKER).is_file()
    (out / MARKER).unlink()
    (out / "work" / "notes.txt").write_text("mine")  # one foreign name: not srlaw's folder any more
    assert main([*ZERO_SHOT, "--out", str(out)]) == 2
    assert (out / "work" / "notes.txt").read_text() == "mine"
