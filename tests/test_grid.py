"""`srlaw grid` on Ray: a tiny grid on a local instance, a real two-node cluster on this machine, a worker killed
mid-run, the driver killed, and two grids on one store at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srlaw.cli import main

ray = pytest.importorskip("ray", reason="Ray is the grid engine: pip install -e '.[grid]' (make venv installs it)")

ROOT = Path(__file__).resolve().parents[1]
RATINGS = ROOT / "data" / "ml-latest-small" / "ratings.csv"
SRLAW = [sys.executable, "-m", "srlaw.cli"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """The first 80 users of ml-latest-small: an epoch takes a second or two, so a grid test costs seconds."""
    lines = RATINGS.read_text().splitlines()
    keep = [lines[0]] + [line for line in lines[1:] if int(line.split(",")[0]) <= 80]
    path = tmp_path_factory.mktemp("data") / "ratings.csv"
    path.write_text("\n".join(keep) + "\n")
    return path


def args(small: Path, out: Path, *extra: str) -> list[str]:
    return ["grid", "--input", str(small), "--format", "movielens-csv", "--out", str(out), *extra]


def spawn(small: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([*SRLAW, *args(small, out, *extra)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_a_tiny_grid_on_local_ray_lands_every_run_in_the_run_schema(small, tmp_path, capsys):
    out = tmp_path / "store"
    assert main(args(small, out, "--depths", "1", "--widths", "8", "16", "--max-epochs", "1")) == 0
    err = capsys.readouterr().err
    for name in ("L1-d8-s0", "L1-d16-s0"):
        m = json.loads((out / name / "metrics.json").read_text())
        for split in ("valid", "test"):
            assert 0 <= m[split]["hr@10"] <= 1 and 0 <= m[split]["ndcg@10"] <= 1
        assert m["epochs"] == 1 and m["stopped_by"] == "epoch_cap" and m["recipe"] == "library"
        info = json.loads((out / name / "run.json").read_text())
        assert len(info["node_id"]) > 16 and info["train_seconds"] > 0 and info["device"]
    grid = json.loads((out / "grid.json").read_text())
    assert grid["n_runs"] == grid["n_finished"] == 2 and all(r["trained_now"] for r in grid["runs"])
    assert "[1/2]" in err and "[2/2]" in err and "Started a local Ray instance" not in err  # no Ray banner
    before = (out / "L1-d8-s0" / "metrics.json").read_bytes()
    assert main(args(small, out, "--depths", "1", "--widths", "8", "16", "--max-epochs", "1")) == 0
    assert "2 already finished, 0 to train" in capsys.readouterr().err
    assert (out / "L1-d8-s0" / "metrics.json").read_bytes() == before


@pytest.mark.parametrize("bad, message", [
    (["--depths", "1", "--widths", "8", "--cpus-per-run", "0"], "--cpus-per-run 0.0: expected a number > 0"),
    (["--depths", "1", "--widths", "8", "--gpus-per-run", "1.5"], "whole GPUs only"),
    (["--depths", "1", "1", "--widths", "8"], "--depths: [1, 1] repeats a value"),
    (["--depths", "0", "--widths", "8"], "n_layers"),
    (["--depths", "1", "--widths", "8", "--recipe", "nope"], "--recipe 'nope': unknown"),
])
def test_a_bad_grid_is_refused_before_the_store_is_touched(small, tmp_path, capsys, bad, message):
    out = tmp_path / "store"
    assert main(args(small, out, *bad)) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_two_nodes_share_the_grid_and_a_killed_worker_is_retried_from_its_checkpoint(small, tmp_path):
    from ray.cluster_utils import Cluster
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out = tmp_path / "store"
        # the deeper run outlasts the victim's first epoch: still busy when the victim is retried, so the retry
        # goes back to the victim's node and each node holds one run however loaded the machine is
        proc = spawn(small, out, "--depths", "2", "3", "--widths", "8", "--max-epochs", "4", "--address",
                     cluster.address)
        victim = out / "L2-d8-s0"
        wait_for(lambda: (victim / "checkpoints" / "last.ckpt").is_file(), 240, "a first checkpoint")
        pids = wait_for(lambda: subprocess.run(["pgrep", "-f", "srlaw-grid L2-d8-s0"], capture_output=True,
                                               text=True).stdout.split(), 30, "the worker's process")
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        nodes = {json.loads((out / n / "run.json").read_text())["node_id"] for n in ("L3-d8-s0", "L2-d8-s0")}
        assert len(nodes) == 2  # one run on each node: the two 1-CPU nodes ran them side by side
        retried = json.loads((victim / "run.json").read_text())
        assert retried["resumed"] and json.loads((victim / "metrics.json").read_text())["epochs"] == 4
    finally:
        cluster.shutdown()


def test_a_killed_driver_leaves_finished_runs_and_a_rerun_trains_only_the_rest(small, tmp_path):
    out = tmp_path / "store"
    grid = ("--depths", "1", "--widths", "8", "16", "24", "--max-epochs", "2")
    proc = spawn(small, out, *grid)
    first = wait_for(lambda: [p for p in out.glob("L*/metrics.json")], 240, "a finished run")
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "run the same command again to resume" in stderr, stderr[-2000:]
    kept = {p: p.read_bytes() for p in out.glob("L*/metrics.json")}
    assert first[0] in kept
    again = subprocess.run([*SRLAW, *args(small, out, *grid)], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{len(kept)} already finished, {3 - len(kept)} to train" in again.stderr
    assert all(p.read_bytes() == b for p, b in kept.items())  # nothing finished was trained again
    assert json.loads((out / "grid.json").read_text())["n_finished"] == 3


def test_two_grids_on_one_store_train_each_run_once(small, tmp_path):
    out = tmp_path / "store"
    grid = ("--depths", "1", "--widths", "8", "16", "--max-epochs", "2")
    procs = [spawn(small, out, *grid) for _ in range(2)]
    errs = []
    for p in procs:
        _, err = p.communicate(timeout=400)
        assert p.returncode == 0, err
        errs.append(err)
    trained = sum(e.count(" epochs, ") for e in errs)
    found = sum(e.count("trained by another grid meanwhile") for e in errs) + sum(
        int(line.split(" already finished")[0].rsplit(" ", 1)[1]) for e in errs for line in e.splitlines()
        if " already finished, " in line)
    assert trained == 2 and found == 2, errs  # every run trained by exactly one of the two


def test_calibrate_trains_its_runs_side_by_side_on_the_grid_engine(small, tmp_path, capsys):
    from srlaw.library.calibrate import parallel_runs
    from srlaw.predictor import Law
    assert parallel_runs(None, 1, None) == 1 and parallel_runs(3, 1, None) == 3
    assert parallel_runs(None, 4, None) == min(4, os.cpu_count()) and parallel_runs(None, 4, "host:6379") == 4
    out = tmp_path / "law"
    index = ROOT / "artifacts" / "laws" / "index.json"
    assert main(["calibrate", "--input", str(small), "--format", "movielens-csv", "--runs", "2", "--parallel", "2",
                 "--max-minutes", "2", "--no-latency", "--library", str(index), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "training 2 run(s), up to 2 at a time on Ray" in err
    runs = sorted((out / "work" / "runs").glob("L*/run.json"))
    assert len(runs) >= 2 and all(json.loads(p.read_text())["node_id"] for p in runs)
    law = Law.load(out)
    assert law.doc["calibration"]["n_runs"] + len(law.doc["calibration"]["failed_runs"]) >= 2
    assert 0 < float(law.predict(2, 128).value) < 1
