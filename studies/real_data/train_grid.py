"""Train one depth × width grid of the real-data study (``studies/real_data/params.yaml``).

    python -m studies.real_data.train_grid --grid beauty-s3rec      # GPU advised; the `train@<grid>` DVC stage

Each run is appended to ``reports/study_runs/<grid>.json`` as soon as it ends, so an interrupted grid resumes
where it stopped; a runs file trained under another recipe is refused rather than mixed. Raw data are read from
``data_root`` (../shared/data) and never copied into the project; the file records each variant's content hash,
its data-quality scores, and per run the device and seconds it took. Cheapest configurations train first.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from srlaw.core.atomic import write_json_atomic
from srlaw.train.settings import parse_nested_recipe
from srlaw.data.dataset import save_dataset
from srlaw.data.quality import entropy_scores
from srlaw.core.errors import DataError, ParamsError, SrlawError
from srlaw.library.catalogue import CATALOGUE as VARIANTS
from srlaw.library.train import build
from studies.real_data.study_config import ROOT, load_params, run_config, runs_path


def cmd_train(args) -> int:
    from srlaw.train.trainer import train_run

    params = load_params()
    if args.grid not in params.grids:
        raise ParamsError(f"--grid {args.grid!r} is not in {sorted(params.grids)} ({params.path})")
    grid = params.grids[args.grid]
    recipe = params.recipes[grid.recipe]
    unknown = [v for v in grid.variants if v not in VARIANTS]
    if unknown:
        raise ParamsError(f"{params.path}: grids.{args.grid}.variants: unknown {unknown}; known: {sorted(VARIANTS)}")
    out = runs_path(args.grid)
    doc = json.loads(out.read_text()) if out.is_file() else {"grid": args.grid, "recipe": params.raw["recipes"][grid.recipe],
                                                             "rows": [], "scores": {}, "data_content_hash": {}}
    if parse_nested_recipe(doc["recipe"], "recipe", str(out), params.seed) != recipe:
        raise ParamsError(f"{out}: its rows were trained with recipe {doc['recipe']}, {params.path} now says "
                          f"{params.raw['recipes'][grid.recipe]}; move the file away to retrain the grid")
    doc.setdefault("data_content_hash", {})
    done = {(r["variant"], r["n_layers"], r["d_model"]) for r in doc["rows"]}
    data_root = (ROOT / params.data_root).resolve()
    for variant in grid.variants:
        todo = [(n, d) for n, d in grid.points() if (variant, n, d) not in done]
        if not todo and variant in doc["scores"] and variant in doc["data_content_hash"]:
            continue
        ds, why = build(variant, data_root, seed=params.seed)
        if ds is None:
            raise DataError(f"grid {args.grid}: {why} (licence-restricted data live only in ../shared/data)")
        if variant not in doc["scores"]:
            doc["scores"][variant] = entropy_scores(ds.items, ds.offsets, ds.n_items, m=2, r=0.2,
                                                    max_len=recipe.model.max_len)
        doc["data_content_hash"][variant] = ds.content_hash()
        write_json_atomic(out, doc)
        # cheapest first: a grid cut short still has the small models the law is fitted on
        todo.sort(key=lambda nd: nd[0] * nd[1] ** 2)
        with tempfile.TemporaryDirectory() as tmp:
            save_dataset(ds, Path(tmp) / "data")
            for n_layers, d_model in todo:
                m = train_run(Path(tmp) / "data", Path(tmp) / f"run-{n_layers}-{d_model}",
                              recipe.model_config(ds.n_items, n_layers, d_model), run_config(recipe),
                              meta={"variant": variant, "grid": args.grid})
                doc["rows"].append({"variant": variant, "n_layers": n_layers, "d_model": d_model,
                                    "params_non_embedding": m["params_non_embedding"],
                                    "params_total": m["params_total"], "valid": m["valid"], "test": m["test"],
                                    "epochs": m["epochs"], "best_epoch": m["best_epoch"],
                                    "train_seconds": m["train_seconds"], "device": m["device"],
                                    "precision": m["precision"]})
                write_json_atomic(out, doc)
                print(f"{variant} L={n_layers} d={d_model}: test ndcg@10 {m['test']['ndcg@10']:.4f} "
                      f"({m['epochs']} epochs, {m['train_seconds']:.0f} s)", flush=True)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", required=True, help="a key of grids in studies/real_data/params.yaml")
    try:
        return cmd_train(p.parse_args(argv))
    except SrlawError as e:
        print(f"train_grid: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
