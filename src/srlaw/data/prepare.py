"""One preparation of a raw log, used by the pipeline's ``prepare`` stage and by ``describe``, ``calibrate`` and
``run`` on a user's file: read, filter (ratings, k-core, short users), sort, re-index.

A user's file is prepared with :class:`~srlaw.data.settings.DataConfig`'s defaults (no rating threshold, k-core
off, users with at least three interactions) unless the user says otherwise, so every command that takes
``--input`` sees the same users and items; each prints :func:`preparation_line`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from srlaw.core.errors import DataError, SrlawError
from srlaw.core.settings import check
from srlaw.data.dataset import build_dataset, make_variant
from srlaw.data.quality import entropy_scores
from srlaw.data.readers import input_path, read_interactions
from srlaw.data.settings import DataConfig


def user_data(source, fmt: str, columns: dict | None = None, delimiter: str | None = None,
              kcore: int | None = None) -> DataConfig:
    """The preparation of a user's ``--input`` file, checked: defaults unless a flag was given."""
    data = DataConfig(source=str(source), format=fmt, columns=columns or {}, delimiter=delimiter or ",")
    if kcore is not None:
        data.kcore = kcore
    check(data, "data", "the command line")
    try:
        input_path(source, fmt)
    except DataError as e:
        raise DataError(f"--input {e}") from None
    return data


def prepare(data: DataConfig):
    """Read and clean the log ``data`` names; returns (canonical dataset, what was dropped)."""
    raw = read_interactions(data.source, data.format, columns=data.columns or None, delimiter=data.delimiter)
    return build_dataset(raw, rating_threshold=data.rating_threshold, kcore=data.kcore,
                         min_user_interactions=data.min_user_interactions)


def preparation_line(data: DataConfig, n_users: int, n_items: int, n_interactions: int) -> str:
    """What the user's file became, and by which rule, in one line."""
    rating = "no rating threshold" if data.rating_threshold is None else f"ratings >= {data.rating_threshold:g}"
    kcore = "k-core off" if data.kcore <= 1 else f"{data.kcore}-core"
    return (f"prepared {data.source}: {n_users:,} users, {n_items:,} items, {n_interactions:,} interactions "
            f"({rating}, {kcore}, users with >= {data.min_user_interactions} interactions)")


def prepare_cut(path, fmt: str, kcore: int = 0, cut: dict | None = None, seed: int = 0):
    """A published dataset file prepared whole (k-core ``kcore``), then cut (``make_variant``'s arguments)."""
    full, _ = build_dataset(read_interactions(path, fmt), kcore=kcore)
    return make_variant(full, seed=seed, **(cut or {}))


def score_file(path, fmt: str, m: int, r: float, window: int | None, columns=None, delimiter=",") -> dict:
    """Scores of a raw file read directly (no params, no variant): ``srlaw entropy --input``."""
    raw = read_interactions(path, fmt, columns=columns, delimiter=delimiter)
    ds, dropped = build_dataset(raw)
    out = entropy_scores(ds.items, ds.offsets, ds.n_items, m=m, r=r, window=window)
    out.update({"input": str(path), "format": fmt, "content_hash": ds.content_hash(), "dropped": dropped})
    return out


def prepare_input(data, out_dir: Path, claim) -> dict:
    """Prepare the user's file (``data``: :func:`user_data`) into ``out_dir`` (reused when it already holds this
    file's data) and bind the claimed output folder to it (:class:`srlaw.core.ownership.Claim`); returns its stats."""
    from srlaw.data.dataset import read_stats, save_dataset
    ds, dropped = prepare(data)
    print(preparation_line(data, ds.n_users, ds.n_items, len(ds.items)), file=sys.stderr, flush=True)
    digest = ds.content_hash()
    claim.bind(digest)  # the folder holds one input's work: scores and runs of another are never reused
    if (out_dir / "stats.json").is_file():
        stats = read_stats(out_dir)
        if stats["content_hash"] != digest:
            raise SrlawError(f"{out_dir.parent.parent}: holds the work of another input (data hash "
                             f"{stats['content_hash'][:12]}, this file {digest[:12]}); give a new --out")
        return stats
    return save_dataset(ds, out_dir, extra_stats={"source": data.source, "format": data.format, "kcore": data.kcore,
                                                  "dropped": dropped})
