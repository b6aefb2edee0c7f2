"""``srlaw run`` and ``srlaw calibrate``: a user's raw interaction file → one measured run, or a calibrated law.

Both prepare the file with :func:`srlaw.pipeline.data_stages.prepare` (the pipeline's one code path) and train with a
named recipe (:mod:`srlaw.train.recipes`), so what ``srlaw run`` measures is what a calibrated law predicts. Work lives
under ``OUT/work/`` (prepared data, one folder per run with its checkpoints): a killed command resumes where it
stopped, and a folder that holds another file's work is refused rather than overwritten.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from srlaw.core.ownership import claim
from srlaw.core.sizing import MAX_SEED
from srlaw.data.prepare import prepare_input, user_data
from srlaw.grid.engine import finished
from srlaw.core.atomic import write_json_atomic
from srlaw.core.state import read_state
from srlaw.core.errors import ParamsError, SrlawError
from srlaw.library.fits import METRICS
from srlaw.library.grid import BUDGET_SHARE, DEFAULT_RUNS, MAX_RUNS, RETRIES  # noqa: F401  (the CLI's defaults)
from srlaw.core.provenance import sha256_file
from srlaw.library.index import datasets_with, describe_library, find_library, load_library
from srlaw.train.recipes import DEFAULT_RECIPE, RECIPES, recipe



def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _train(data_dir: Path, run_dir: Path, recipe_name: str, n_layers: int, d_model: int, seed: int,
           n_items: int, max_minutes: float | None, eta: tuple[float, float] | None = None) -> dict:
    """One run under the recipe (:func:`srlaw.grid.engine.train_one`); ``eta``: (expected epochs, later work in this
    run's epochs) for the progress bar or lines."""
    from srlaw.grid.engine import train_one
    from srlaw.train.trainer import EtaLine
    return train_one(data_dir, run_dir, recipe_name, n_layers, d_model, seed, n_items, max_minutes,
                     callbacks=[EtaLine(*eta)] if eta else ())


def expected_epochs(lib: dict, n_layers: int, d_model: int, patience: int) -> float:
    """Epochs a run of this size should take: the library's median there, else its median over all sizes; an
    index without epochs: the patience of early stopping past a typical best (an estimate either way)."""
    rows = lib.get("epochs") or []
    exact = [r["median"] for r in rows if (r["n_layers"], r["d_model"]) == (n_layers, d_model)]
    if exact:
        return float(exact[0])
    return float(sorted(r["median"] for r in rows)[len(rows) // 2]) if rows else float(6 * patience)


def score_dataset(ds, recipe_name: str) -> dict:
    """A dataset's data-quality scores as the law library reads them: ApEn at its defaults, over the histories
    the recipe trains on (its max_len) — the same rule for library datasets and calibrated ones."""
    from srlaw.data.settings import EntropyConfig
    from srlaw.data.quality import entropy_scores
    e = EntropyConfig(window=RECIPES[recipe_name]["model"]["max_len"])
    return entropy_scores(ds.items, ds.offsets, ds.n_items, m=e.m, r=e.r, window=e.window)


# ---------------------------------------------------------------- srlaw run

def run_file(source, fmt: str, n_layers: int, d_model: int, out: Path, recipe_name: str | None = None,
             columns=None, delimiter=None, kcore: int | None = None, seed: int = 0, max_minutes: float | None = None) -> dict:
    """Train one configuration on a raw file; ``out/metrics.json`` holds valid/test hr@10 and ndcg@10."""
    recipe_name = recipe_name or DEFAULT_RECIPE
    if recipe_name not in RECIPES:
        raise ParamsError(f"--recipe {recipe_name!r}: unknown; known: {', '.join(sorted(RECIPES))}")
    if not 0 <= seed <= MAX_SEED:
        raise ParamsError(f"--seed {seed}: expected an integer in [0, {MAX_SEED}]")
    recipe(recipe_name, seed).model_config(1, n_layers, d_model, "--n-layers/--d-model", "the command line")
    data = user_data(source, fmt, columns, delimiter, kcore)  # every input checked before the folder is touched
    out = Path(out)
    with claim(out, "run") as held:
        return _run(data, n_layers, d_model, out, recipe_name, seed, max_minutes, held)


def _run(data, n_layers: int, d_model: int, out: Path, recipe_name: str, seed: int, max_minutes, held) -> dict:
    stats = prepare_input(data, out / "work" / "data", held)
    # a checkpoint of another size must never be resumed into this one: the folder holds one configuration
    held.hold("configuration", {"n_layers": n_layers, "d_model": d_model, "recipe": recipe_name, "seed": seed})
    done = finished(out)
    if done is not None:
        if (done["n_layers"], done["d_model"], done.get("recipe"), done.get("seed")) != (n_layers, d_model,
                                                                                         recipe_name, seed):
            raise SrlawError(f"{out}: holds a finished run of {done['n_layers']} × {done['d_model']} "
                             f"({done.get('recipe')}, seed {done.get('seed')}); give a new --out")
        say(f"{out}/metrics.json: already trained")
        return done
    say(f"training {n_layers} × {d_model} ({recipe_name}) on {stats['n_users']:,} users, {stats['n_items']:,} items")
    _train(out / "work" / "data", out, recipe_name, n_layers, d_model, seed, stats["n_items"], max_minutes)
    return finished(out)


# ---------------------------------------------------------------- srlaw calibrate

def library_check(lib: dict, n_runs: int, cut: bool = False) -> dict | None:
    """A calibrated law's ``validation``: nothing measured on its own file (no larger model was trained), but
    what the library measured for the same procedure — each of its datasets left out and calibrated on as many
    runs (beyond the measured K, the largest) — median and worst MAPE, interval coverage and compute. ``cut``: a
    calibration run was stopped by the time cap, so the figures are those of runs cut by a compute cap (worse)."""
    checks = lib.get("validation", {})
    per_k = checks.get("leave_one_dataset_out", {}).get("k", {})
    if not per_k:
        return None
    k = str(min(n_runs, max(int(q) for q in per_k)))
    how = f"calibrated on {k} of its own runs"
    capped = checks.get("leave_one_dataset_out_cut", {})
    cut = cut and k in capped.get("k", {})
    if cut:  # a capped calibration is judged by what capped runs gave, not by what converged ones did
        per_k = capped["k"]
        how += f", each cut by a compute cap ({capped['share']:g} of one wide run) as this law's were by --max-minutes"
    out = {"scale_extrapolation": {}, "leave_one_variant_out": {}, "in_sample_r2": {},
           "leave_one_dataset_out": {"note": f"measured on the law library's datasets, each left out and {how}; "
                                             "not on this input", "k": int(k), "cut": cut, **per_k[k]}}
    strict = checks.get("leave_one_source_out", {}).get("k", {})
    if k in strict:  # the same with every cut of the held-out dataset's raw data out of the library
        out["leave_one_source_out"] = {"note": "as leave_one_dataset_out, every cut of the held-out dataset's raw "
                                               "data left out of the library too" + (
                                                   "; its runs uncapped (not measured with capped ones)" if cut
                                                   else ""), "k": int(k), "cut": False, **strict[k]}
    return out


def library_dataset(lib: dict, content_hash: str, index: Path) -> dict | None:
    """The library dataset whose prepared data hash is ``content_hash``: its name and law folder (beside the
    ``index``); None for data the library does not hold."""
    hit = datasets_with(lib, [content_hash])
    return {"name": hit[0], "law": (Path(index).parent / lib["laws"][hit[0]]["law"]).as_posix()} if hit else None


def calibrate_file(source, fmt: str, out: Path, runs: int = DEFAULT_RUNS, recipe_name: str | None = None,
                   columns=None, delimiter=None, kcore: int | None = None, max_minutes: float | None = None,
                   budget_share: float | None = BUDGET_SHARE, library: Path | None = None,
                   library_sha256: str | None = None, latency: bool = True, parallel: int | None = None,
                   address: str | None = None) -> dict:
    """Prepare, score, choose and train ``runs`` cheap configurations, and write ``out/law.json`` + manifest.
    ``library``: the index (default: :func:`srlaw.library.index.find_library`'s); ``parallel``: runs trained at
    once (:func:`parallel_runs`; above 1 on the grid engine, at ``address`` when given)."""
    if not 0 <= runs <= MAX_RUNS:
        raise ParamsError(f"--runs {runs}: expected 0 to {MAX_RUNS}")
    if parallel is not None and not 1 <= parallel <= MAX_RUNS:
        raise ParamsError(f"--parallel {parallel}: expected 1 to {MAX_RUNS}")
    parallel = parallel_runs(parallel, runs, address)
    if max_minutes is not None and max_minutes <= 0:
        raise ParamsError(f"--max-minutes {max_minutes}: expected a number > 0")
    library = find_library(library)
    fits, lib_recipe, lib = load_library(library, library_sha256)
    say(describe_library(library, lib, sha256_file(library)))
    recipe_name = recipe_name or lib_recipe
    if recipe_name != lib_recipe:
        raise ParamsError(f"--recipe {recipe_name!r}: the library at {library} was trained with {lib_recipe!r}; a "
                          "calibration run must train as the library did")
    data = user_data(source, fmt, columns, delimiter, kcore)  # every input checked before the folder is touched
    with claim(out, "calibration") as held:
        law = _calibrate(data, Path(out), runs, recipe_name, fits, lib, library, max_minutes, budget_share, held,
                         parallel, address)
        if latency and not (Path(out) / "latency.json").is_file():
            _measure_latency(Path(out), law, {"calibrate": {"input": data.source, "runs": runs,
                                                            "recipe": recipe_name}})
        return law


def _measure_latency(out: Path, law: dict, params_doc: dict) -> None:
    """The law's candidate shapes timed on this machine for the user's catalogue (no weights needed)."""
    from srlaw.library.latency import measure_latency, write_law_latency
    say("measuring the serving latency of the law's candidate shapes on this machine (--no-latency skips it)")
    doc = measure_latency(law, int(law["n_items"]), repeats=10)
    write_law_latency(out, doc, params_doc)
    say(f"latency of {len(doc['configs'])} shapes at {doc['n_items']:,} items: {out}/latency.json")


def _calibrate(data, out: Path, runs: int, recipe_name: str, fits: dict, lib: dict, library: Path,
               max_minutes: float | None, budget_share: float | None, held, parallel: int = 1,
               address: str | None = None) -> dict:
    """Prepare, score, choose and train the runs, and write ``out/law.json`` + manifest (the folder is held)."""
    from srlaw.core.provenance import write_manifest
    from srlaw.law.schema import write_law
    from srlaw.library.shape import calibrated_document, probe_of

    t0 = time.monotonic()
    work = out / "work"
    stats = prepare_input(data, work / "data", held)
    scores = _scores(work, recipe_name)
    known = library_dataset(lib, stats["content_hash"], library)
    if known:
        say(f"this is the library's dataset {known['name']!r} (the same prepared data): its law from the whole grid "
            f"is {known['law']}; this calibration, as for new data, reads its scores and K runs (the library's "
            "shape has seen its grid)")
    plan = _plan(work, runs, fits, lib, scores, stats, recipe_name, budget_share)
    if parallel > 1 or address:
        cal, failed = _parallel_runs(plan["configs"], work, recipe_name, fits, lib, scores, stats, max_minutes, t0,
                                     parallel, address)
    else:
        cal, failed = _calibration_runs(plan["configs"], work, recipe_name, fits, lib, scores, stats, max_minutes,
                                        t0)
    dataset = {"name": Path(data.source).stem, "content_hash": stats["content_hash"], "n_users": stats["n_users"],
               "n_items": stats["n_items"], "probe": probe_of(scores, "ndcg@10"), "scores": scores}
    doc = calibrated_document(fits, dataset, recipe_name, cal, unstable=lib.get("unstable", []),
                              collapse=lib.get("collapse", []), validation=library_check(lib, len(cal), cut=any(
                                  r.get("stopped_by") == "time_cap" for r in cal)),
                              calibration={"input": data.source, "format": data.format, "kcore": data.kcore,
                                           "library": str(library), "library_sha256": sha256_file(library),
                                           "library_dataset": known, "seconds": time.monotonic() - t0,
                                           "failed_runs": failed})
    doc["calibration"]["warnings"] = law_warnings(doc, cal)
    for line in doc["calibration"]["warnings"]:
        say(f"warning: {line}")
    unchanged = _unchanged(out, doc)
    if unchanged is not None:  # finished work asked again: every byte stays (a pinned hash still names it)
        say(f"{out}/law.json: unchanged (every run was already done)")
        return unchanged
    law = write_law(out / "law.json", doc)
    # a latency.json measured here before timed the same catalogue's candidate shapes (the folder holds one input's
    # work): it stays, and the new manifest lists it (an unlisted file would make the law refuse to load)
    kept = ["latency.json"] if (out / "latency.json").is_file() else []
    write_manifest(out, {"calibrate": {"input": data.source, "runs": runs, "recipe": recipe_name}},
                   only=["law.json", *kept])
    return law


def law_warnings(doc: dict, runs: list[dict]) -> list[str]:
    """A calibrated law checked against its own runs and the library before it is written: one line for each
    thing a user must know before trusting it — data unlike the library's, a run outside the law's 95 % interval,
    sizes predicted beyond every value the library's runs reached."""
    import numpy as np
    from srlaw.library.grid import DEPTHS, WIDTHS
    from srlaw.predictor.law import Law
    law, out = Law(doc), []
    dom = doc["domain"]
    probe = doc["variants"][doc["default_variant"]]["data"]
    if not doc["calibration"]["data_inside_library"]:
        out.append(f"the data's Markov-probe NDCG@10 {probe:.4f} lies outside the library's "
                   f"[{dom['data'][0]:.4f}, {dom['data'][1]:.4f}]: every prediction is flagged outside the law's domain "
                   "and its prior widened for the distance; advise ranks sizes only with --allow-extrapolation")
    N, d = (np.array(a, float).ravel() for a in np.meshgrid(DEPTHS, WIDTHS))
    for m in doc["metric"]:
        for r in runs:
            p = law.predict(r["n_layers"], r["d_model"], metric=m, warn=False)
            if not float(p.lower) <= r[m] <= float(p.upper):
                out.append(f"{m}: the {r['n_layers']} × {r['d_model']} run scored {r[m]:.4f}, outside the law's own "
                           f"95 % interval [{float(p.lower):.4f}, {float(p.upper):.4f}] at that size")
        if m in dom:
            v = law.predict(N, d, metric=m, warn=False, interval=False).value
            bad = np.flatnonzero((v < dom[m][0]) | (v > dom[m][1]))
            if len(bad):
                with np.errstate(divide="ignore"):
                    i = bad[np.argmax(np.abs(np.log(v[bad] / np.clip(v[bad], *dom[m]))))]
                out.append(f"{m}: {len(bad)} of {len(v)} grid sizes predicted outside the library's range "
                           f"[{dom[m][0]:.4f}, {dom[m][1]:.4f}] (furthest: {N[i]:.0f} × {d[i]:.0f} at {v[i]:.4f}); "
                           "flagged, and advise leaves them out")
    return out


def _unchanged(out: Path, doc: dict) -> dict | None:
    """The law already written in ``out`` when ``doc`` says the same but for the seconds it took; else None."""
    from srlaw.core.atomic import with_nulls_for_non_finite
    path = out / "law.json"
    if not (path.is_file() and (out / "manifest.json").is_file()):
        return None
    try:
        old = json.loads(path.read_text())
        seconds = old["calibration"]["seconds"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    again = {**doc, "calibration": {**doc["calibration"], "seconds": seconds}}
    return old if json.loads(json.dumps(with_nulls_for_non_finite(again))) == old else None


def _scores(work: Path, recipe_name: str) -> dict:
    """The prepared data's scores, computed once per work folder."""
    from srlaw.data.dataset import load_dataset
    scores_path = work / "scores.json"
    if scores_path.is_file():
        scores = read_state(scores_path, ("markov_ndcg@10", "markov_hr@10"))
    else:
        scores = score_dataset(load_dataset(work / "data"), recipe_name)
        write_json_atomic(scores_path, scores)
    say(f"data quality: Markov-probe NDCG@10 {scores['markov_ndcg@10']:.4f}, HR@10 {scores['markov_hr@10']:.4f}")
    return scores


def _plan(work: Path, runs: int, fits: dict, lib: dict, scores: dict, stats: dict, recipe_name: str,
          budget_share: float | None) -> dict:
    """The configurations to train, chosen once per work folder and number of runs."""
    from srlaw.library.shape import choose_runs, probe_of
    plan_path = work / "plan.json"
    plan = read_state(plan_path, ("runs_asked", "configs")) if plan_path.is_file() else None
    if plan is not None and not (isinstance(plan["configs"], list) and all(
            isinstance(c, list) and len(c) == 2 and all(type(x) is int and x >= 1 for x in c) for c in plan["configs"])):
        raise SrlawError(f"{plan_path}: damaged (configs); delete it and run again to recompute it")
    if plan is None or plan["runs_asked"] != runs:
        chosen = choose_runs(fits["ndcg@10"], probe_of(scores, "ndcg@10"), stats["n_users"], stats["n_items"],
                             RECIPES[recipe_name]["model"]["max_len"], runs, lib["candidates"], lib["targets"], budget_share)
        plan = {"runs_asked": runs, "configs": [list(c) for c in chosen], "budget_share": budget_share}
        write_json_atomic(plan_path, plan)
    say(plan_line(plan["configs"], lib, stats, recipe_name))
    return plan


def plan_line(configs, lib: dict, stats: dict, recipe_name: str) -> str:
    """The plan in words: each run's expected epochs and minutes (estimates from the library's runs), the total,
    and a --max-minutes that would cap it."""
    from srlaw.library.shape import epoch_seconds, training_cost
    if not configs:
        return "calibration plan: no runs (zero-shot)"
    patience, max_len = (RECIPES[recipe_name][s][k] for s, k in (("train", "patience"), ("model", "max_len")))
    model = lib.get("epoch_seconds")
    parts, total = [], 0.0
    for n, d in configs:
        epochs = expected_epochs(lib, n, d, patience)
        part = f"{n} × {d} (≈ {epochs:.0f} epochs"
        if model:
            minutes = epochs * epoch_seconds(model, float(training_cost(n, d, stats["n_items"], stats["n_users"],
                                                                         max_len))) / 60
            total += minutes
            part += f", ≈ {minutes:.0f} min"
        parts.append(part + ")")
    line = "calibration plan: " + ", ".join(parts)
    if model:
        line += (f"; ≈ {total:.0f} min in all on one CPU thread (estimate from {model['n_runs']} library runs, "
                 f"half of them within {100 * model['error_median']:.0f} %, 9 in 10 within {100 * model['error_p90']:.0f} %; "
                 f"a GPU or more threads is faster); --max-minutes {math.ceil(1.5 * total + 1)} would cap it")
    return line + ("; each epoch prints the time left; a run capped by --max-minutes counts as its expected "
                   "converged value")


def _run_dir(work: Path, n_layers: int, d_model: int, seed: int) -> Path:
    # seed 0's folder keeps its old name, so a calibration resumed across versions finds its run
    return work / "runs" / (f"L{n_layers}-d{d_model}" + (f"-s{seed}" if seed else ""))


def _judge(m: dict, where: str, n_layers: int, d_model: int, seed: int, fits: dict, lib: dict, scores: dict,
           stats: dict, cal: list, failed: list) -> bool:
    """Report a trained run and keep it for the law (True), or list it as failed (False: train the next seed)."""
    from srlaw.library.shape import failed_run, probe_of
    say(f"{where} {n_layers} × {d_model}: valid NDCG@10 {m['valid']['ndcg@10']:.4f}, "
        f"test {m['test']['ndcg@10']:.4f} ({m['epochs']} epochs, {m['stopped_by']})")
    run = _as_run(m, n_layers, d_model, seed, lib)
    # a run cut by a cap is low for want of time (its gain accounts for it), not a failed optimisation
    share = failed_run(fits["ndcg@10"], probe_of(scores, "ndcg@10"), stats["n_users"], run) \
        if m["stopped_by"] == "early_stopping" else None
    if share is None:
        cal.append(run)
        return True
    failed.append({**run, "share_of_expected": share})
    say(f"    {share:.2f}× what the library expects at this size before any run: a failed optimisation "
        "(the library leaves such runs out too); "
        + ("training it again at the next seed" if seed < RETRIES else "this size is left out"))
    return False


def _calibration_runs(configs, work: Path, recipe_name: str, fits: dict, lib: dict, scores: dict, stats: dict,
                      max_minutes: float | None, t0: float) -> tuple[list[dict], list[dict]]:
    """Train (or read back) each planned configuration in this process, one after another; a run that failed to
    train is trained again at the next seed. Returns (runs the law is calibrated on, failed runs)."""
    cal, failed = [], []
    n_plan = len(configs)
    for i, (n_layers, d_model) in enumerate(configs, 1):
        for seed in range(1 + RETRIES):
            run_dir = _run_dir(work, n_layers, d_model, seed)
            m = finished(run_dir)
            if m is None:
                left = None
                if max_minutes is not None:
                    left = max_minutes - (time.monotonic() - t0) / 60
                    if left <= 0.2:
                        say(f"[{i}/{n_plan}] {n_layers} × {d_model}: skipped, --max-minutes spent")
                        break
                    left /= n_plan - i + 1  # an equal share of what is left
                say(f"[{i}/{n_plan}] training {n_layers} × {d_model}" + (f", seed {seed}" if seed else "")
                    + (f" (at most {left:.1f} min)" if left else ""))
                m = _train(work / "data", run_dir, recipe_name, n_layers, d_model, seed, stats["n_items"], left,
                           _eta(configs[i - 1:], lib, stats, recipe_name))
            if _judge(m, f"[{i}/{n_plan}]", n_layers, d_model, seed, fits, lib, scores, stats, cal, failed):
                break
    return cal, failed


def _parallel_runs(configs, work: Path, recipe_name: str, fits: dict, lib: dict, scores: dict, stats: dict,
                   max_minutes: float | None, t0: float, parallel: int,
                   address: str | None) -> tuple[list[dict], list[dict]]:
    """As :func:`_calibration_runs`, with the runs trained ``parallel`` at a time on the grid engine (Ray; a
    cluster at ``address``): every configuration at once, then the failed ones again at the next seed."""
    import os
    from srlaw.grid.engine import Job, Run, run_jobs
    kept, failed = {}, []
    pending = [(i, n, d, 0) for i, (n, d) in enumerate(configs, 1)]
    cpus = 1.0 if address else max(1.0, (os.cpu_count() or 1) / parallel)
    while pending:
        cap = None
        if max_minutes is not None:
            left = max_minutes - (time.monotonic() - t0) / 60
            if left <= 0.2:
                say(f"{len(pending)} run(s) skipped: --max-minutes spent")
                break
            cap = left / math.ceil(len(pending) / parallel)  # each wave of runs an equal share of what is left
        jobs = [Job(work / "data", _run_dir(work, n, d, s), Run(n, d, s), stats["n_items"],
                    f"[{i}/{len(configs)}] {n} × {d}" + (f", seed {s}" if s else "")) for i, n, d, s in pending]
        say(f"training {len(jobs)} run(s), up to {parallel} at a time on Ray"
            + (f" (each at most {cap:.1f} min)" if cap else ""))
        _, errors = run_jobs(jobs, recipe_name, cap, None, address, cpus, 0.0, work)
        if errors:
            raise SrlawError(f"calibration runs failed on Ray: {'; '.join(f'{k}: {v}' for k, v in errors.items())}")
        nxt = []
        for (i, n, d, seed), job in zip(pending, jobs):
            mine = []
            if _judge(finished(job.run_dir), f"[{i}/{len(configs)}]", n, d, seed, fits, lib, scores, stats, mine,
                      failed):
                kept[i] = mine[0]
            elif seed < RETRIES:
                nxt.append((i, n, d, seed + 1))
        pending = nxt
    return [kept[i] for i in sorted(kept)], failed


def parallel_runs(asked: int | None, runs: int, address: str | None) -> int:
    """How many calibration runs train at once: ``asked``, else (auto) as many as the runs and this machine's CPUs
    allow when Ray is installed (1: in this process, one after another, with a progress bar)."""
    import importlib.util
    import os
    if asked is not None:
        return asked
    if importlib.util.find_spec("ray") is None or runs < 2:
        return 1
    return runs if address else max(1, min(runs, os.cpu_count() or 1))


def _eta(configs, lib: dict, stats: dict, recipe_name: str) -> tuple[float, float]:
    """(expected epochs of the first of ``configs``, the rest's expected work in its epochs: FLOPs-weighted)."""
    from srlaw.library.shape import training_cost
    patience, max_len = (RECIPES[recipe_name][s][k] for s, k in (("train", "patience"), ("model", "max_len")))
    cost = [float(training_cost(n, d, stats["n_items"], stats["n_users"], max_len)) for n, d in configs]
    epochs = [expected_epochs(lib, n, d, patience) for n, d in configs]
    return epochs[0], sum(e * c / cost[0] for e, c in zip(epochs[1:], cost[1:]))


def _as_run(m: dict, n_layers: int, d_model: int, seed: int, lib: dict) -> dict:
    """A calibration run as the library's calibration reads it; one stopped before it converged carries what it
    would still have gained (the library's learning curves)."""
    from srlaw.library.shape import unconverged_gain
    run = {"n_layers": n_layers, "d_model": d_model, "seed": seed,
           "params_non_embedding": m["params_non_embedding"], "epochs": m["epochs"],
           "stopped_by": m["stopped_by"], **{k: m["test"][k] for k in METRICS}}
    if m["stopped_by"] != "early_stopping":
        run["gain"] = {k: unconverged_gain(lib["convergence"][k], m["epochs"]) for k in METRICS}
        say(f"    stopped by a cap after {m['epochs']} epochs: counted as "
            f"{math.exp(run['gain']['ndcg@10'][0]):.2f}× its NDCG@10, "
            f"± {math.sqrt(run['gain']['ndcg@10'][1]):.0%} (library learning curves)")
    return run
