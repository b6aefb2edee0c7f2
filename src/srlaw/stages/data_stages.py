"""DVC stages ``prepare`` and ``entropy``: pure functions plus the thin entry points the CLI calls."""

from __future__ import annotations

import json
import time
from pathlib import Path

from srlaw import __version__
from srlaw.atomic_write import write_json_atomic
from srlaw.dataset import build_dataset, load_dataset, make_variant, read_stats, save_dataset
from srlaw.entropy import entropy_scores
from srlaw.pipeline_params import ParamsError, field
from srlaw.readers import read_interactions

PREPARED_DIR = Path("data/prepared")
SCORES_DIR = Path("data/scores")


def variant_spec(params: dict, name: str) -> dict:
    variants = field(params, "variants")
    if name not in variants:
        raise ParamsError(f"{params['_path']}: no variant {name!r} under 'variants' (have {sorted(variants)})")
    spec = dict(variants[name] or {})
    unknown = set(spec) - {"user_fraction", "max_len", "noise"}
    if unknown:
        raise ParamsError(f"{params['_path']}: variants.{name} has unknown keys {sorted(unknown)}; "
                          "expected user_fraction, max_len, noise")
    return spec


def prepare_variant(params: dict, name: str, out_dir: Path | None = None) -> dict:
    """Read the raw log named in params, build the canonical dataset, cut variant ``name``, save it."""
    src = field(params, "data.source")
    raw = read_interactions(src, field(params, "data.format"), columns=field(params, "data.columns", None),
                            delimiter=field(params, "data.delimiter", ","))
    full, dropped = build_dataset(raw, rating_threshold=field(params, "data.rating_threshold", None),
                                  kcore=field(params, "data.kcore", 0) or 0,
                                  min_user_interactions=field(params, "data.min_user_interactions", 3))
    spec = variant_spec(params, name)
    ds = make_variant(full, seed=int(field(params, "seed")), **spec)
    return save_dataset(ds, out_dir or PREPARED_DIR / name, extra_stats={
        "variant": name, "variant_spec": spec, "source": str(src), "source_content_hash": full.content_hash(),
        "dropped": dropped, "srlaw_version": __version__,
    })


def score_variant(params: dict, name: str, out_path: Path | None = None) -> dict:
    """Every data-quality score of a prepared variant, written as ``entropy.json``."""
    path = PREPARED_DIR / name
    ds = load_dataset(path, mmap=True)
    stats = read_stats(path)
    scores = entropy_scores(ds.items, ds.offsets, ds.n_items, m=int(field(params, "entropy.m")),
                            r=float(field(params, "entropy.r")), max_len=field(params, "entropy.max_len", None))
    scores.update({"variant": name, "content_hash": stats["content_hash"], "srlaw_version": __version__,
                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
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
