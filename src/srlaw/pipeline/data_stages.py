"""DVC stages ``prepare`` and ``entropy``: pure functions plus the thin entry points the CLI calls."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from srlaw import __version__
from srlaw.core.atomic import with_nulls_for_non_finite, write_json_atomic
from srlaw.pipeline.params import Params
from srlaw.data.dataset import load_dataset, make_variant, read_stats, save_dataset
from srlaw.data.quality import entropy_scores
from srlaw.data.prepare import prepare
from srlaw.pipeline.paths import PREPARED_DIR, SCORES_DIR



def prepare_variant(params: Params, name: str, out_dir: Path | None = None) -> dict:
    """Read the raw log named in params, build the canonical dataset, cut variant ``name``, save it."""
    spec = asdict(params.variant(name))  # an unknown variant is refused before the log is read
    data = params.data
    full, dropped = prepare(data)
    ds = make_variant(full, seed=params.seed, **spec)
    return save_dataset(ds, out_dir or PREPARED_DIR / name, extra_stats={
        "variant": name, "variant_spec": spec,
        "source": str(data.source), "source_content_hash": full.content_hash(), "dropped": dropped,
        "srlaw_version": __version__,
    })


def score_variant(params: Params, name: str, out_path: Path | None = None) -> dict:
    """Every data-quality score of a prepared variant, written as ``entropy.json``."""
    params.variant(name)
    path = PREPARED_DIR / name
    ds = load_dataset(path, mmap=True)
    stats = read_stats(path)
    e = params.entropy
    scores = entropy_scores(ds.items, ds.offsets, ds.n_items, m=e.m, r=e.r, window=e.window)
    scores.update({"variant": name, "content_hash": stats["content_hash"], "srlaw_version": __version__})
    write_json_atomic(out_path or SCORES_DIR / name / "entropy.json", with_nulls_for_non_finite(scores),
                      allow_nan=False)
    return scores


def dumps(obj) -> str:
    """Standard JSON: an undefined score (ApEn of sequences shorter than its template) is null, and listed."""
    return json.dumps(with_nulls_for_non_finite(obj), indent=2, sort_keys=True, allow_nan=False)
