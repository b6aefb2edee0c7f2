"""Runs and grids of runs. One run (engine-free): its folder ``L{depth}-d{width}-s{seed}``, its lock, training it
under a named recipe, what a finished one holds — whatever schedules runs (``srlaw grid``, ``srlaw run``,
``srlaw calibrate``, the library) trains them here, so a run folder means the same thing whoever trained it.

Many runs: each (depth, width, seed) is a Ray task that reserves the resources it asks for (CPUs, a share of a GPU),
on a local Ray instance or a cluster, resumable and fault-tolerant.

- **Resumable.** A run checkpoints every epoch; a finished run (its ``metrics.json``) is never trained again, a
  killed one resumes from its last checkpoint.
- **Once.** A run is trained under its folder's lock (:func:`run_lock`), so two grids on one store, on one machine
  or many, never train a run twice: the second finds it finished.
- **Fault-tolerant.** A worker that dies mid-run (its process killed, its node lost) is retried by Ray up to
  :data:`RETRIES` times, and the retry resumes the run's checkpoint.
- **Where.** Without an address a local Ray instance on this machine; with one, an existing cluster. There the
  store must be on storage every node sees: the driver checks that each node can read a file it wrote there.

Ray is imported inside functions only: ``import srlaw`` and the predictor never load it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from srlaw.core.atomic import write_json_atomic
from srlaw.core.errors import SrlawError
from srlaw.core.state import read_state

LOCK = ".run.lock"
# what a finished run's metrics.json must hold (the schema `srlaw run` writes)
FINISHED_KEYS = ("n_layers", "d_model", "test", "valid", "epochs", "stopped_by", "params_non_embedding")


@dataclass(frozen=True, order=True)
class Run:
    """One (depth, width, seed) of a grid; its folder is ``L{depth}-d{width}-s{seed}``."""
    n_layers: int
    d_model: int
    seed: int = 0

    @property
    def name(self) -> str:
        return f"L{self.n_layers}-d{self.d_model}-s{self.seed}"

    @classmethod
    def from_name(cls, name: str) -> "Run | None":
        m = re.fullmatch(r"L(\d+)-d(\d+)-s(\d+)", name)
        return cls(*(int(g) for g in m.groups())) if m else None


def finished(run_dir: Path) -> dict | None:
    """The metrics of a finished run (its metrics.json), else None."""
    path = Path(run_dir) / "metrics.json"
    return read_state(path, FINISHED_KEYS) if path.is_file() else None


@contextmanager
def run_lock(run_dir: Path, poll_s: float = 0.5):
    """Hold ``run_dir``'s lock (an exclusive ``flock``), waiting while another process holds it: one trainer per
    run, whichever grid, calibration or machine asks. The kernel drops it when the holder dies, however it dies."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(poll_s)
        yield
    finally:
        os.close(fd)


def train_one(data_dir: Path, run_dir: Path, recipe_name: str, n_layers: int, d_model: int, seed: int,
              n_items: int, max_minutes: float | None = None, max_epochs: int | None = None, callbacks=(),
              execution: dict | None = None, threads: int | None = None, overrides: dict | None = None) -> dict:
    """Train one run under the named recipe (resuming its last checkpoint) and write ``run_dir/metrics.json``: what
    the run found, with its training seconds and device (the record `srlaw run` writes). ``overrides``: training
    settings that say how, not what, it learns (the library trains with ``deterministic`` off, for speed)."""
    from srlaw.train.recipes import recipe
    from srlaw.train.trainer import train_run
    if threads:
        import torch
        torch.set_num_threads(threads)
    r = recipe(recipe_name, seed=seed)
    model = r.model_config(n_items, n_layers, d_model, "--n-layers/--d-model", "the command line")
    train = replace(r.train, progress_bar=False, max_minutes=max_minutes,
                    **({"max_epochs": max_epochs} if max_epochs else {}), **(overrides or {}))
    m = train_run(data_dir, run_dir, model, train, meta={"recipe": recipe_name, "seed": seed}, callbacks=callbacks,
                  execution=execution)
    # the user's record of this run: what it found and what it cost (train_run keeps times out of metrics.json)
    record = {**json.loads((Path(run_dir) / "metrics.json").read_text()), "train_seconds": m["train_seconds"],
              "device": m["device"]}
    write_json_atomic(Path(run_dir) / "metrics.json", record)
    return {**m, **record}


RETRIES = 2  # a run whose worker died is trained again (from its checkpoint) at most this often
PROBE = ".srlaw-grid-probe"
REPORTED = ("valid", "test", "epochs", "best_epoch", "stopped_by", "params_non_embedding", "params_total",
            "train_seconds", "device")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train_task(data_dir: str, run_dir: str, recipe_name: str, run: tuple, n_items: int, max_minutes, max_epochs,
               threads: int, grid_id: str, policy: dict | None = None) -> dict:
    """A Ray task: train one run (or find it finished) under its lock; what the driver reports and records.

    ``policy`` (the law library's training): ``deadline`` (a time.time()) caps the run at what is left of it and
    skips it when under a minute is; ``resume_capped`` trains a run stopped by a time cap on from its checkpoint;
    ``drop_checkpoints`` deletes a finished run's checkpoints; ``train``: recipe settings to override."""
    import shutil
    import ray
    policy = policy or {}
    node = ray.get_runtime_context().get_node_id()
    t0 = time.monotonic()
    run_path = Path(run_dir)
    with run_lock(run_path):
        done = reopen_capped(run_path) if policy.get("resume_capped") else finished(run_path)
        trained = done is None
        if trained:
            if policy.get("deadline"):
                max_minutes = (policy["deadline"] - time.time()) / 60
                if max_minutes < 1:
                    return {"trained": False, "skipped": "deadline", "seconds": 0.0}
            done = train_one(Path(data_dir), run_path, recipe_name, *run, n_items, max_minutes, max_epochs,
                             execution={"node_id": node, "grid_id": grid_id}, threads=threads,
                             overrides=policy.get("train"))
            if policy.get("drop_checkpoints") and done["stopped_by"] != "time_cap":
                shutil.rmtree(run_path / "checkpoints", ignore_errors=True)
    return {"trained": trained, "node_id": node if trained else None, "seconds": time.monotonic() - t0,
            **{k: done[k] for k in REPORTED if k in done}}


def reopen_capped(run_dir: Path) -> dict | None:
    """A run's metrics, or None when it is to train: unfinished, or stopped by a time cap — then it trains on from
    its checkpoint, or afresh where it has none (its folder emptied but for the lock its caller holds)."""
    import shutil
    done = finished(run_dir)
    if done is None or done["stopped_by"] != "time_cap":
        return done
    if (run_dir / "checkpoints" / "last.ckpt").is_file():
        (run_dir / "metrics.json").unlink()
        return None
    for path in run_dir.iterdir():
        if path.name != LOCK:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return None


def to_train(run_dir: Path, policy: dict | None = None) -> bool:
    """Whether a run is still to train: not finished, or (``resume_capped``) stopped by a time cap."""
    m = finished(run_dir)
    return m is None or bool((policy or {}).get("resume_capped") and m["stopped_by"] == "time_cap")


def connect(address: str | None):
    """(Ray, whether this call started it): the Ray this process already runs (a caller's own ``ray.init``), else
    the cluster at ``address`` (or ``RAY_ADDRESS``), else a new local instance — never a cluster that merely runs on
    this machine, whose CPUs other work may hold; banners and workers' output kept off the terminal (the driver
    prints one line per finished run)."""
    try:
        import ray
    except ImportError:
        raise SrlawError("srlaw grid needs Ray: pip install 'srlaw[grid]' (or ray>=2.40)") from None
    if ray.is_initialized():
        return ray, False
    own = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False,
                 logging_level=logging.ERROR, log_to_driver=False,
                 namespace="srlaw")
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SrlawError(f"--address {address}: no Ray cluster answered ({str(e).splitlines()[0]})") from None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, own)  # Ray installs its own: a kill must still end with the resume hint
    return ray, True


def check_shared(ray, store: Path, timeout_s: float = 120) -> int:
    """The number of live nodes; on more than one, refuse a store some node cannot see (one line)."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) < 2:
        return len(nodes)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    token = uuid.uuid4().hex
    probe = (Path(store) / PROBE).resolve()
    probe.write_text(token)
    try:
        sees = ray.remote(num_cpus=0)(_sees)
        refs = [sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(probe), token) for n in nodes]
        seen = ray.get(refs, timeout=timeout_s)
    finally:
        probe.unlink(missing_ok=True)
    blind = [n for n, ok in zip(nodes, seen) if not ok]
    if blind:
        raise SrlawError(f"{store}: not visible from {len(blind)} of the cluster's {len(nodes)} nodes (e.g. "
                         f"{blind[0].get('NodeManagerAddress', '?')}); on a multi-node cluster the run store must be "
                         "on storage every node sees (a shared file system mounted at the same path)")
    return len(nodes)


def _sees(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


@dataclass(frozen=True)
class Job:
    """One run to train: its prepared data, its folder, its size and seed, the data's catalogue size, and how the
    progress lines name it."""
    data_dir: Path
    run_dir: Path
    run: Run
    n_items: int
    label: str


def run_grid(data_dir: Path, store: Path, runs: list[Run], recipe_name: str, n_items: int, max_minutes, max_epochs,
             address: str | None, cpus: float, gpus: float) -> tuple[dict, dict]:
    """Train ``runs`` of one dataset into ``store`` (:func:`run_jobs`); results and failures by run name."""
    jobs = [Job(Path(data_dir), Path(store) / r.name, r, n_items, r.name) for r in runs]
    results, failed = run_jobs(jobs, recipe_name, max_minutes, max_epochs, address, cpus, gpus, Path(store))
    return ({j.run.name: results[j.label] for j in jobs if j.label in results},
            {j.run.name: failed[j.label] for j in jobs if j.label in failed})


def run_jobs(jobs: list[Job], recipe_name: str, max_minutes, max_epochs, address: str | None, cpus: float,
             gpus: float, store: Path, policy: dict | None = None) -> tuple[dict, dict]:
    """Train ``jobs`` on Ray (``store``: where the shared-storage check writes its probe; ``policy``: see
    :func:`train_task`); (results, failures) by :attr:`Job.label`. One line per finished run."""
    ray, started = connect(address)
    try:
        n_nodes = check_shared(ray, store)
        todo = [j for j in jobs if to_train(j.run_dir, policy)]
        say(f"grid: {len(jobs)} runs, {len(jobs) - len(todo)} already finished, {len(todo)} to train on {n_nodes} "
            f"Ray node{'s' * (n_nodes != 1)} ({cpus:g} CPU, {gpus:g} GPU a run)")
        task = ray.remote(train_task)
        grid_id = uuid.uuid4().hex[:12]
        refs = {task.options(num_cpus=cpus, num_gpus=gpus, max_retries=RETRIES, retry_exceptions=False,
                             name=f"srlaw-grid {j.label}").remote(
            str(j.data_dir.resolve()), str(j.run_dir.resolve()), recipe_name, (j.run.n_layers, j.run.d_model,
                                                                               j.run.seed),
            j.n_items, max_minutes, max_epochs, max(1, int(cpus)), grid_id, policy): j.label for j in todo}
        return _collect(ray, refs, len(todo))
    finally:
        if started:  # a Ray the caller started is the caller's to stop
            ray.shutdown()


def map_tasks(fn, calls: list[tuple], cpus: float = 1.0, gpus: float = 0.0, address: str | None = None):
    """``fn(*call)`` for every call as a Ray task with these resources (retried when its worker dies), yielding
    each result as it ends: for runs that are not one recipe's (a benchmark's own model settings)."""
    ray, started = connect(address)
    try:
        task = ray.remote(fn).options(num_cpus=cpus, num_gpus=gpus, max_retries=RETRIES, retry_exceptions=False)
        pending = [task.remote(*call) for call in calls]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    finally:
        if started:
            ray.shutdown()


def _collect(ray, refs: dict, n: int) -> tuple[dict, dict]:
    """Wait for every task, printing each as it ends with the grid's time left."""
    from ray.exceptions import RayError
    results, failed, pending, t0 = {}, {}, list(refs), time.monotonic()
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        label = refs[ready[0]]
        k = len(results) + len(failed) + 1
        try:
            out = ray.get(ready[0])
        except RayError as e:
            failed[label] = str(e).strip().splitlines()[0][:300]
            say(f"[{k}/{n}] {label}: failed after {RETRIES} retries ({failed[label]})")
            continue
        results[label] = out
        if out.get("skipped"):
            say(f"[{k}/{n}] {label}: not started, under a minute left before the deadline")
            continue
        left = (time.monotonic() - t0) / k * len(pending)
        how = (f"{out['epochs']} epochs, {out['stopped_by']}, node {out['node_id'][:8]}, {out['seconds']:.0f} s"
               if out["trained"] else "trained by another grid meanwhile")
        say(f"[{k}/{n}] {label}: test ndcg@10 {out['test']['ndcg@10']:.4f}, hr@10 {out['test']['hr@10']:.4f} "
            f"({how})" + (f"; ≈ {left / 60:.1f} min left in the grid (estimate)" if pending else ""))
    return results, failed
