"""``srlaw grid``: a user's file → every (depth, width, seed) of a grid trained on Ray into a run store.

``STORE/data`` holds the prepared file, ``STORE/L{depth}-d{width}-s{seed}/`` each run (``metrics.json`` in the
schema ``srlaw run`` writes; ``run.json`` with its seconds, device and the Ray node it ran on), ``STORE/grid.json``
the grid's summary. Everything is checked before the store is touched; the store is a folder srlaw owns. How runs
train, resume and share machines: :mod:`srlaw.grid.engine`.
"""

from __future__ import annotations

from pathlib import Path

from srlaw import __version__
from srlaw.core.atomic import write_json_atomic
from srlaw.core.errors import ParamsError, SrlawError
from srlaw.core.ownership import claim
from srlaw.core.sizing import MAX_SEED
from srlaw.data.prepare import prepare_input, user_data
from srlaw.grid.engine import Run, finished, run_grid


# the store is claimed only while it is checked and its data prepared (the runs have their own locks), so a
# second grid on the same store waits this long for the first to get past that step
CLAIM_WAIT_S = 600


def plan_runs(depths, widths, seeds, recipe_name: str) -> list[Run]:
    """Every (depth, width, seed), each size checked against the recipe before anything is touched."""
    from srlaw.train.recipes import RECIPES, recipe
    if recipe_name not in RECIPES:
        raise ParamsError(f"--recipe {recipe_name!r}: unknown; known: {', '.join(sorted(RECIPES))}")
    for name, values in (("--depths", depths), ("--widths", widths), ("--seeds", seeds)):
        if not values:
            raise ParamsError(f"{name}: give at least one value")
        if len(set(values)) != len(values):
            raise ParamsError(f"{name}: {values} repeats a value")
    if any(not 0 <= s <= MAX_SEED for s in seeds):
        raise ParamsError(f"--seeds: expected integers in [0, {MAX_SEED}], got {seeds}")
    r = recipe(recipe_name)
    for n in depths:
        for d in widths:
            r.model_config(1, n, d, "--depths/--widths", "the command line")
    return sorted(Run(n, d, s) for n in depths for d in widths for s in seeds)


def _resources(cpus: float, gpus: float, max_epochs, max_minutes) -> None:
    if not (cpus > 0 and cpus == cpus):
        raise ParamsError(f"--cpus-per-run {cpus}: expected a number > 0")
    if not (0 <= gpus <= 64):
        raise ParamsError(f"--gpus-per-run {gpus}: expected a number in [0, 64] (a share of one GPU below 1)")
    if gpus > 1 and gpus != int(gpus):
        raise ParamsError(f"--gpus-per-run {gpus}: above 1, whole GPUs only")
    if max_epochs is not None and max_epochs < 1:
        raise ParamsError(f"--max-epochs {max_epochs}: expected an integer >= 1")
    if max_minutes is not None and not max_minutes > 0:
        raise ParamsError(f"--max-minutes {max_minutes}: expected minutes > 0")


def grid_file(source, fmt: str, depths, widths, seeds, out: Path, recipe_name: str, columns=None, delimiter=None,
              kcore: int | None = None, max_epochs: int | None = None, max_minutes: float | None = None,
              address: str | None = None, cpus: float = 1.0, gpus: float = 0.0) -> dict:
    """Train the grid (see the module docstring); returns grid.json's document. SrlawError when a run failed."""
    runs = plan_runs(depths, widths, seeds, recipe_name)
    _resources(cpus, gpus, max_epochs, max_minutes)
    data = user_data(source, fmt, columns, delimiter, kcore)  # every input checked before the folder is touched
    out = Path(out)
    with claim(out, "grid", wait_s=CLAIM_WAIT_S) as held:
        held.hold("grid", {"recipe": recipe_name, "max_epochs": max_epochs})
        stats = prepare_input(data, out / "data", held)
    results, failed = run_grid(out / "data", out, runs, recipe_name, stats["n_items"], max_minutes, max_epochs,
                               address, cpus, gpus)
    doc = summary(out, runs, results, failed, data, stats, recipe_name, max_epochs, max_minutes, address)
    write_json_atomic(out / "grid.json", doc)
    if failed:
        raise SrlawError(f"{len(failed)} of {len(runs)} runs failed ({', '.join(sorted(failed))}); the rest are in "
                         f"{out}; run the same command again to retry them")
    return doc


def summary(out: Path, runs: list[Run], results: dict, failed: dict, data, stats: dict, recipe_name: str,
            max_epochs, max_minutes, address) -> dict:
    """grid.json: the grid asked, the data, and each run's state and numbers (read back from its folder)."""
    rows = []
    for r in runs:
        m = finished(out / r.name)
        got = results.get(r.name, {})
        rows.append({"run": r.name, "n_layers": r.n_layers, "d_model": r.d_model, "seed": r.seed,
                     "finished": m is not None, "trained_now": bool(got.get("trained")),
                     **({"failed": failed[r.name]} if r.name in failed else {}),
                     **({k: m[k] for k in ("valid", "test", "epochs", "stopped_by", "params_non_embedding")
                         if k in m} if m else {}),
                     **_execution(out / r.name)})
    return {"srlaw_version": __version__, "input": data.source, "format": data.format, "kcore": data.kcore,
            "data": {k: stats[k] for k in ("content_hash", "n_users", "n_items") if k in stats},
            "recipe": recipe_name, "max_epochs": max_epochs, "max_minutes": max_minutes,
            "ray_address": address or "local", "n_runs": len(runs),
            "n_finished": sum(row["finished"] for row in rows), "runs": rows}


def _execution(run_dir: Path) -> dict:
    """Where and how long a run trained (its run.json), for the summary."""
    import json
    path = run_dir / "run.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: info[k] for k in ("node_id", "train_seconds", "device", "resumed") if k in info}
