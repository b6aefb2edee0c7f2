"""Train the law library's runs (:mod:`srlaw.library.grid`) and gather them into the run store.

    python -m srlaw.library.train prepare --data-root ../shared/data --out .gpu/data
    python -m srlaw.library.train train --data .gpu/data --store .gpu/store --gpus-per-run 0.125 --deadline-s 500
    python -m srlaw.library.train collect --store .gpu/store --out reports/library_runs

``prepare`` builds each variant once from the raw files (the machine that trains need not hold them); ``train``
runs the plan's tasks, most needed first, on Ray (:mod:`srlaw.grid.engine`: a local instance, or ``--address`` of
a cluster), each reserving ``--cpus-per-run`` CPUs and ``--gpus-per-run`` of a GPU, so small models share one
device. It skips runs already finished and caps every run at what is left before the deadline (it stops, tests its
best epoch and says ``stopped_by: time_cap``; the next ``train`` resumes it from its checkpoint). A run trains under
its folder's lock, so two jobs on one store never train one run; a killed ``train`` leaves its runs to resume.
Each run keeps ``metrics.json``, ``run.json`` and its per-epoch ``curve.json``; checkpoints are deleted once a run
ends. ``collect`` writes one JSON per variant (every run: size, seed, metrics, curve, device, seconds, how it
stopped) — the run store that laws are fitted on.
"""

from __future__ import annotations

import argparse
import sys
import json
import time
from pathlib import Path

from srlaw.core.atomic import write_json_atomic
from srlaw.train.recipes import DEFAULT_RECIPE, RECIPES
from srlaw.data.prepare import prepare_cut
from srlaw.library.catalogue import CATALOGUE, DATA_ROOT
from srlaw.library.grid import LIBRARY, Task, tasks
from srlaw.library.store import STORE



def build(name: str, root: Path = DATA_ROOT, seed: int = 0):
    """(dataset, None) for entry ``name`` read from ``root``, or (None, why) when its file is absent."""
    entry = CATALOGUE[name]  # the catalogue says what and where; the data wing prepares
    path = Path(root) / entry.file
    if not path.is_file():
        return None, f"{path} not found"
    return prepare_cut(path, entry.format, entry.kcore, entry.cut, seed), None


def data_dir(data: Path, variant: str) -> Path:
    return Path(data) / variant.replace("/", "_")


def cmd_prepare(args) -> int:
    from srlaw.data.dataset import save_dataset

    for variant in args.variants or LIBRARY:
        out = data_dir(args.out, variant)
        if (out / "stats.json").is_file():
            continue
        ds, why = build(variant, args.data_root)
        if ds is None:
            print(f"skip {variant}: {why} (licence-restricted data live only in ../shared/data)", flush=True)
            continue
        save_dataset(ds, out)
        print(f"{variant}: {ds.n_users} users, {ds.n_items} items, {len(ds.items)} interactions", flush=True)
    return 0


def finished(run_dir: Path) -> bool:
    """A run the library counts: finished, and not stopped by a deadline's time cap (that one trains on)."""
    from srlaw.grid.engine import to_train
    return not to_train(run_dir, {"resume_capped": True})


def todo_tasks(data: Path, store: Path, only=None, grid_only: bool = False, seeds_only: bool = False,
               configs=None, seeds=None) -> list:
    """The plan's runs still to train: prepared here, not finished in ``store``; ``only`` picks variants and orders
    them by need (within a variant the plan's order stays); ``grid_only`` leaves the extra seeds out (started near a
    deadline they only take GPU share from the grid runs and get capped), ``seeds_only`` the seed-0 grid (trained
    elsewhere: a store that lacks it would train it again); ``configs`` ((n_layers, d_model), most needed first)
    keeps those sizes only, in that order, every seed of a size together — a deadline then leaves whole sizes
    seeded; ``seeds`` trains exactly these seeds (those beyond 0 at the plan's seeded sizes)."""
    plan = tasks() if seeds is None else tasks(extra_seeds=tuple(s for s in seeds if s > 0))
    todo = [t for t in plan if (only is None or t.variant in only) and (not grid_only or t.seed == 0)
            and (not seeds_only or t.seed > 0) and (configs is None or (t.n_layers, t.d_model) in configs)
            and (seeds is None or t.seed in seeds)
            and (data_dir(data, t.variant) / "stats.json").is_file() and not finished(store / "runs" / t.name)]
    if configs is not None:
        todo.sort(key=lambda t: (configs.index((t.n_layers, t.d_model)), t.seed))
    if only:
        todo.sort(key=lambda t: only.index(t.variant))
    return todo


def size(text: str) -> tuple[int, int]:
    """``4x64`` → (4, 64): a configuration on the command line."""
    try:
        n, d = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LAYERSxWIDTH, e.g. 4x64") from None
    return n, d


def cmd_train(args) -> int:
    """The plan's runs still to train, on Ray (:func:`srlaw.grid.engine.run_jobs`): every run reserves
    ``--cpus-per-run`` CPUs and ``--gpus-per-run`` of a GPU, so small runs share one device; each is capped at what
    is left before the deadline (a capped run trains on from its checkpoint next time)."""
    from srlaw.grid.engine import Job, Run, run_jobs
    store, data = Path(args.store), Path(args.data)
    (store / "runs").mkdir(parents=True, exist_ok=True)
    todo = todo_tasks(data, store, args.only, args.grid_only, args.seeds_only, args.configs, args.seeds)
    jobs = [Job(data_dir(data, t.variant), store / "runs" / t.name, Run(t.n_layers, t.d_model, t.seed),
                json.loads((data_dir(data, t.variant) / "stats.json").read_text())["n_items"], t.name) for t in todo]
    policy = {"deadline": time.time() + args.deadline_s, "resume_capped": True, "drop_checkpoints": True,
              "train": {"deterministic": False}}
    results, failed = run_jobs(jobs, args.recipe, None, None, args.address, args.cpus_per_run, args.gpus_per_run,
                               store, policy)
    done = sum(finished(store / "runs" / t.name) for t in todo)
    print(f"finished {done} of {len(todo)} runs" + (f"; {len(failed)} failed: {', '.join(sorted(failed))}"
                                                     if failed else ""), flush=True)
    return 0 if not failed else 1


def _run_row(run_dir: Path, task_name: str) -> dict | None:
    curve_path, metrics_path, info_path = (run_dir / n for n in ("curve.json", "metrics.json", "run.json"))
    if not curve_path.is_file():
        return None
    row = {"run": task_name, "curve": json.loads(curve_path.read_text())["rows"], "finished": finished(run_dir)}
    if metrics_path.is_file():
        m = json.loads(metrics_path.read_text())
        row.update({k: m[k] for k in ("n_layers", "d_model", "params_non_embedding", "params_total", "valid", "test",
                                      "epochs", "best_epoch", "stopped_by", "precision", "seed", "recipe")})
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        row.update({k: info[k] for k in ("device", "train_seconds", "eval_seconds")})
    if "best_epoch" in row:  # read off the curve (from 1): older runs' metrics.json counted from 0
        row["best_epoch"] = best_of_curve(row["curve"], row["best_epoch"] + 1)
    return row


def best_of_curve(rows: list[dict], default: int) -> int:
    """The epoch (from 1) of a curve's best validation NDCG@10; ``default`` for a curve without validation."""
    scored = [(r["valid"]["ndcg@10"], -r["epoch"]) for r in rows if "valid" in r]
    return -max(scored)[1] if scored else default


def stored_tasks(store: Path) -> list[Task]:
    """The library runs a store holds, read off their folder names (``variant/L4-d128-s3``), extra seeds too."""
    runs = (Task.from_name(f"{run.parent.name}/{run.name}") for run in sorted(Path(store).glob("runs/*/*")))
    return [t for t in runs if t is not None]


def cmd_collect(args) -> int:
    store, out = Path(args.store), Path(args.out)
    by_variant: dict[str, list] = {}
    for t in stored_tasks(store):
        row = _run_row(store / "runs" / t.name, t.name)
        if row is None:
            continue
        row.setdefault("n_layers", t.n_layers)
        row.setdefault("d_model", t.d_model)
        row.setdefault("seed", t.seed)
        by_variant.setdefault(t.variant, []).append(row)
    for variant, rows in by_variant.items():
        path = out / f"{variant.replace('/', '_')}.json"
        old = json.loads(path.read_text())["runs"] if path.is_file() else []
        keep = {r["run"]: r for r in old}
        for r in rows:  # a finished run replaces what was there; an unfinished one never replaces a finished one
            if r["finished"] or not keep.get(r["run"], {}).get("finished"):
                keep[r["run"]] = r
        stats = json.loads((data_dir(args.data, variant) / "stats.json").read_text()) if args.data else {}
        doc = json.loads(path.read_text()) if path.is_file() else {"variant": variant}
        doc.update({"recipe_name": args.recipe, "recipe": RECIPES[args.recipe],
                    "runs": sorted(keep.values(), key=lambda r: r["run"])})
        same_data = stats and "scores" in doc and doc.get("data", {}).get("content_hash") == stats.get("content_hash")
        if stats and not same_data:  # scores follow from the data alone: kept while its hash holds (no timing churn)
            from srlaw.library.calibrate import score_dataset
            from srlaw.data.dataset import load_dataset
            doc["data"] = {k: stats[k] for k in ("n_users", "n_items", "n_interactions", "content_hash") if k in stats}
            ds = load_dataset(data_dir(args.data, variant))
            doc["scores"] = score_dataset(ds, args.recipe)
        write_json_atomic(path, doc)
        print(f"{variant}: {sum(r['finished'] for r in doc['runs'])} finished runs, {len(doc['runs'])} in all")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--data-root", type=Path, default=DATA_ROOT)
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--variants", nargs="*")
    a = sub.add_parser("train")
    a.add_argument("--data", type=Path, required=True)
    a.add_argument("--store", type=Path, required=True)
    a.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs each run reserves (its torch threads)")
    a.add_argument("--gpus-per-run", type=float, default=0.0, help="a GPU's share each run reserves (e.g. 0.125)")
    a.add_argument("--address", help="a Ray cluster to join (default: a local Ray instance)")
    a.add_argument("--deadline-s", type=float, default=3600.0)
    a.add_argument("--recipe", default=DEFAULT_RECIPE, choices=sorted(RECIPES))
    a.add_argument("--only", nargs="*", help="variants to train, most needed first (default: all prepared)")
    a.add_argument("--grid-only", action="store_true", help="each variant's seed-0 grid, no extra seeds")
    a.add_argument("--seeds-only", action="store_true", help="the extra seeds only (the grid was trained elsewhere)")
    a.add_argument("--configs", nargs="*", type=size,
                   help="sizes to train (LAYERSxWIDTH), most needed first; every seed of one size together")
    a.add_argument("--seeds", nargs="*", type=int,
                   help="exactly these seeds (beyond 0: at the plan's seeded sizes, in place of its extra seeds)")
    a = sub.add_parser("collect")
    a.add_argument("--store", type=Path, required=True)
    a.add_argument("--out", type=Path, default=STORE)
    a.add_argument("--data", type=Path, help="prepared data (adds each variant's size and content hash)")
    a.add_argument("--recipe", default=DEFAULT_RECIPE, choices=sorted(RECIPES))
    args = p.parse_args(argv)
    return {"prepare": cmd_prepare, "train": cmd_train, "collect": cmd_collect}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
