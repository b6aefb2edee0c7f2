"""Fit the law library on the run store and release it: ``artifacts/laws/index.json`` and one law per dataset.

    python -m studies.library.release

The index holds the shared fit per metric (depth term, each dataset's level and curvature, the prior a new
dataset starts from, the noise model, the measured misfit), the recipe every run trained with, the calibration
grid ``srlaw calibrate`` chooses from, and one entry per released law. Each library dataset's own law
(``artifacts/laws/library/<dataset>/``) is the library calibrated on all of that dataset's runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from srlaw.atomic_write import write_json_atomic
from srlaw.law_library import (calibrate, collapse_counts, collapsed, convergence_table, fit_library, law_document,
                               probe_of, unstable_sizes)
from srlaw.law_schema import write_law
from srlaw.recipes import RECIPES
from srlaw.stages.export_stage import write_manifest
from studies.library.plan import DEPTHS, WIDTHS
from studies.library.store import METRICS, ROOT, load_store

LAWS = ROOT / "artifacts" / "laws"
# calibration runs: shallow and narrow (cheap, and deep post-LN stacks are the ones that sometimes diverge);
# what they are chosen to predict: the wide end of the grid
CANDIDATES = [(n, d) for n in DEPTHS if n <= 2 for d in WIDTHS if d <= 64]
TARGET_CONFIGS = [(n, d) for n in DEPTHS for d in WIDTHS if d >= 128]


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--laws", type=Path, default=LAWS, help="where to release (default artifacts/laws)")
    p.add_argument("--exclude", nargs="*", default=[], help="datasets to leave out (a fair check of one of them)")
    args = p.parse_args(argv)
    laws = args.laws
    records, datasets = load_store()
    records = [r for r in records if r["variant"] not in args.exclude]
    datasets = {k: v for k, v in datasets.items() if k not in args.exclude}
    if len(datasets) < 3:
        print(f"release: need >= 3 datasets in the run store, found {sorted(datasets)}", file=sys.stderr)
        return 2
    users = {v: d["n_users"] for v, d in datasets.items()}
    fits = {m: fit_library(records, m, {v: probe_of(d["scores"], m) for v, d in datasets.items()}, users)
            for m in METRICS}
    recipe_name = next(iter(datasets.values()))["recipe_name"]
    recipe = next(iter(datasets.values()))["recipe"]
    differ = [v for v, d in datasets.items() if (d["recipe_name"], d["recipe"]) != (recipe_name, RECIPES[recipe_name])]
    if differ:  # a law library describes one recipe: a run store of another is retrained, never mixed
        print(f"release: {differ} were trained with another recipe than srlaw.recipes.{recipe_name} now says; "
              "retrain them (studies/library/gpu.sh)", file=sys.stderr)
        return 2
    unstable, collapse = unstable_sizes(records), collapse_counts(records)
    entries = {}
    for name, ds in sorted(datasets.items()):
        bad = {(r["n_layers"], r["d_model"], r["seed"]) for r in collapsed(records) if r["variant"] == name}
        runs = [{k: r[k] for k in ("n_layers", "d_model", "seed", "params_non_embedding", "epochs", *METRICS)}
                for r in records if r["variant"] == name and (r["n_layers"], r["d_model"], r["seed"]) not in bad]
        calibs = {m: calibrate(fits[m], probe_of(ds["scores"], m), ds["n_users"], runs) for m in METRICS}
        out = laws / "library" / name.replace("/", "_")
        write_law(out / "law.json", law_document(fits, calibs, ds, recipe_name, runs, unstable=unstable,
                                                collapse=collapse))
        write_manifest(out, {"library": recipe_name, "dataset": name}, only=["law.json"])
        entries[name] = {"law": out.relative_to(laws).as_posix(), "n_users": ds["n_users"], "n_items": ds["n_items"],
                         "content_hash": ds["content_hash"], "n_runs": len(runs), "left_out_collapsed": len(bad),
                         **{f"probe_{m}": probe_of(ds["scores"], m) for m in METRICS},
                         **{f"level_{m}": {"mu": float(fits[m].levels[name][0]), "a": float(fits[m].levels[name][1]),
                                           "beta": float(fits[m].levels[name][2])} for m in METRICS}}
    index = {"library": {"recipe_name": recipe_name, "recipe": recipe, "fits": {m: f.to_dict() for m, f in fits.items()},
                         "candidates": [list(c) for c in CANDIDATES], "targets": [list(c) for c in TARGET_CONFIGS],
                         "convergence": {m: convergence_table(records, m) for m in METRICS},
                         "unstable": unstable, "collapse": collapse,
                         "n_runs": len(records),
                         "early_stopped_share": float(np.mean([r["stopped_by"] == "early_stopping" for r in records])),
                         "devices": sorted({r["device"] for r in records}), "laws": entries},
             "study_laws": {p.parent.name: {"law": p.parent.relative_to(laws).as_posix(),
                                            "note": "the real-data study's law (reports/study.md), its own recipe"}
                            for p in sorted(laws.glob("*/law.json"))}}
    write_json_atomic(laws / "index.json", index)
    for m, f in fits.items():
        print(f"{m}: depth term w={f.w:.3f} gamma={f.gamma:.3f}; misfit sd (1, 2, 3 runs) "
              f"{', '.join(f'{v:.3f}' for v in np.sqrt(f.misfit))}; noise "
              f"s0={np.sqrt(f.noise.s0_sq):.3f} c={f.noise.c:.3f}; prior mu = {f.prior.c0:.3f} + {f.prior.c1:.3f}·log probe")
    print(f"released {len(entries)} library laws and {laws / 'index.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
