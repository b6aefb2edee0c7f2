"""DVC stages ``prepare`` and ``entropy``: pure functions plus the thin entry points the CLI calls."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from srlaw import __version__
from srlaw.core.atomic import write_json_atomic
from srlaw.data.settings import DataConfig
from srlaw.pipeline.params import Params
from srlaw.data.dataset import build_dataset, load_dataset, make_variant, read_stats, save_dataset
from srlaw.data.quality import entropy_scores
from srlaw.data.readers import read_interactions

PREPARED_DIR = Path("data/prepared")
SCORES_DIR = Path("data/scores")


def prepare(data: DataConfig):
    """The pipeline's preparation of a raw log: read, filter (ratings, k-core, short users), sort, re-index.

    One code path for the ``prepare`` stage and for ``srlaw describe`` on a user's own file; returns
    (canonical dataset, what was dropped).
    """
    raw = read_interactions(data.source, data.format, columns=data.columns or None, delimiter=data.delimiter)
    return build_dataset(raw, rating_threshold=data.rating_threshold, kcore=data.kcore,
                         min_user_interactions=data.min_user_interactions)


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
    scores = entropy_scores(ds.items, ds.offsets, ds.n_items, m=e.m, r=e.r, max_len=e.max_len)
    scores.update({"variant": name, "content_hash": stats["content_hash"], "srlaw_version": __version__})
    write_json_atomic(out_path or SCORES_DIR / name / "entropy.json", scores)
    return scores


def score_file(path, fmt: str, m: int, r: float, max_len: int | None, columns=None, delimiter=",") -> dict:
    """Scores of a raw file read directly (no params, no variant): ``srlaw entropy --input``."""
    raw = read_interactions(path, fmt, columns=columns, delimiter=delimiter)
    ds, dropped = build_dataset(raw)
    out = entropy_scores(ds.items, ds.offsets, ds.n_items, m=m, r=r, max_len=max_len)
    out.update({"input": str(path), "format": fmt, "content_hash": ds.content_hash(), "dropped": dropped})
    return out


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
