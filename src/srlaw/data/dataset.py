"""The canonical sequential dataset: chronological per-user item sequences, a leave-one-out split, variants.

On disk a canonical dataset is a folder:

- ``items.npy``   int32, every user's items back to back (ids 1..n_items; 0 is reserved for padding);
- ``offsets.npy`` int64, ``n_users + 1`` offsets into ``items.npy`` (user ``u`` is ``items[offsets[u]:offsets[u+1]]``);
- ``users.npy``   int64 raw user id of each canonical user; ``item_map.npy`` int64 raw item id of canonical id
  ``i`` at index ``i`` (index 0 = -1, padding);
- ``stats.json``  counts, length quantiles, density, drop counts and ``content_hash`` (sha256 over the arrays).

Arrays are plain ``.npy`` so they can be memory-mapped (``load_dataset(..., mmap=True)``).
Ordering: within a user, interactions are sorted by timestamp; equal timestamps keep file order (a stable sort
on (user, timestamp) — the documented tie-break). Formats without timestamps keep file order.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srlaw.core.atomic import atomic_directory, write_json_atomic
from srlaw.core.state import read_state
from srlaw.core.errors import DataError
from srlaw.data.protocol import MIN_ITEMS as MIN_USER_INTERACTIONS
from srlaw.data.readers import Interactions
TIE_BREAK = "timestamp, then position in the source file (stable sort)"


@dataclass
class SequenceDataset:
    """Per-user chronological sequences in flat form, with the catalogue size and raw-id mappings."""

    items: np.ndarray  # int32 [n_interactions]
    offsets: np.ndarray  # int64 [n_users + 1]
    n_items: int  # catalogue size; ids run 1..n_items
    users: np.ndarray  # int64 raw user id per canonical user
    item_map: np.ndarray  # int64 [n_items + 1]: raw item id per canonical id, index 0 = -1

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, u: int) -> np.ndarray:
        return self.items[self.offsets[u]:self.offsets[u + 1]]

    def content_hash(self) -> str:
        """sha256 over the canonical arrays and catalogue size: equal data, equal hash, on any machine."""
        h = hashlib.sha256()
        for name, arr in (("items", self.items.astype("<i4")), ("offsets", self.offsets.astype("<i8")),
                          ("users", self.users.astype("<i8")), ("item_map", self.item_map.astype("<i8"))):
            h.update(name.encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        h.update(str(self.n_items).encode())
        return h.hexdigest()


def _dense(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Ids renumbered 0..n-1 (one sort), and n."""
    uniq, inverse = np.unique(ids, return_inverse=True)
    return inverse.astype(np.int64, copy=False), len(uniq)


def _iterative_kcore(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    """Mask of rows that survive repeated removal of users and items with fewer than ``k`` interactions.

    Ids are made dense once; each round then counts with ``bincount`` over the rows still kept, so a round is
    linear in the rows (the rounds stop when nothing is removed; each round removes at least one row)."""
    u, n_users = _dense(user)
    i, n_items = _dense(item)
    keep = np.ones(len(user), dtype=bool)
    while True:
        ucount = np.bincount(u[keep], minlength=n_users)
        icount = np.bincount(i[keep], minlength=n_items)
        idx = np.flatnonzero(keep)
        ok = (ucount[u[idx]] >= k) & (icount[i[idx]] >= k)
        if ok.all():
            return keep
        keep[idx[~ok]] = False


def build_dataset(raw: Interactions, rating_threshold: float | None = None, kcore: int = 0,
                  min_user_interactions: int = MIN_USER_INTERACTIONS) -> tuple[SequenceDataset, dict]:
    """Filter, sort and re-index raw interactions; return the dataset and a dict of what was dropped.

    Items are renumbered 1..n_items in ascending raw-id order and users in ascending raw-id order, so the
    mapping does not depend on file order.
    """
    if min_user_interactions < MIN_USER_INTERACTIONS:
        raise ValueError(f"min_user_interactions must be >= {MIN_USER_INTERACTIONS} for a leave-one-out split, "
                         f"got {min_user_interactions}")
    user, item = raw.user, raw.item
    keep = np.ones(len(user), dtype=bool)
    dropped = {"interactions_read": int(len(user))}
    if rating_threshold is not None:
        if raw.rating is None:
            raise DataError(f"{raw.source}: rating_threshold={rating_threshold} but the format has no rating column")
        keep &= raw.rating >= rating_threshold
    dropped["below_rating_threshold"] = int((~keep).sum())
    if kcore and kcore > 1:  # ahead of the sort: it only removes rows
        idx = np.flatnonzero(keep)
        core = _iterative_kcore(user[idx], item[idx], kcore)
        before = keep.sum()
        keep[idx[~core]] = False
        dropped["kcore_removed"] = int(before - keep.sum())
    # user, then timestamp, then file row: stable sorts keep the file order of equal keys
    rows = None if keep.all() else np.flatnonzero(keep)
    u = user if rows is None else user[rows]
    if raw.timestamp is None:
        order = np.argsort(u, kind="stable")
    else:
        order = np.lexsort((raw.timestamp if rows is None else raw.timestamp[rows], u))
    u = u[order]
    it = item[order] if rows is None else item[rows][order]
    del order, rows

    # Users too short for leave-one-out are dropped (and counted), not crashed on.
    first = np.flatnonzero(np.concatenate([[True], u[1:] != u[:-1]])) if len(u) else np.zeros(0, dtype=np.int64)
    counts = np.diff(np.append(first, len(u)))
    short = counts < min_user_interactions
    dropped["short_users"] = int(short.sum())
    dropped["short_user_interactions"] = int(counts[short].sum())
    if short.any():
        long_rows = np.repeat(~short, counts)
        u, it = u[long_rows], it[long_rows]
        first, counts = first[~short], counts[~short]
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else first
    if len(u) == 0:
        raise DataError(f"{raw.source}: no user has >= {min_user_interactions} interactions after filtering")

    item_raw, item_canon = _canonical_items(it)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    ds = SequenceDataset(
        items=item_canon,
        offsets=offsets,
        n_items=int(len(item_raw)),
        users=u[first].astype(np.int64),
        item_map=np.concatenate([[-1], item_raw]).astype(np.int64),
    )
    return ds, dropped


def _canonical_items(raw_items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct raw ids, canonical id 1..n of each row as int32): by a count over the id range when ids are
    compact (linear), else by a sort."""
    if len(raw_items) and 0 <= raw_items.min() and raw_items.max() < 4 * len(raw_items) + 1024:
        present = np.bincount(raw_items).astype(bool)
        canon = np.cumsum(present, dtype=np.int64).astype(np.int32)  # canonical id of each raw id that occurs
        return np.flatnonzero(present).astype(np.int64), canon[raw_items]
    item_raw, inverse = np.unique(raw_items, return_inverse=True)
    return item_raw, (inverse + 1).astype(np.int32)


def dataset_stats(ds: SequenceDataset) -> dict:
    """Counts, length quantiles and density of a dataset (items counted as those that occur)."""
    lengths = ds.lengths
    n_present = int(np.count_nonzero(np.bincount(ds.items, minlength=ds.n_items + 1)[1:]))
    q = np.quantile(lengths, [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0])
    return {
        "n_users": int(ds.n_users),
        "n_items": int(ds.n_items),
        "n_items_present": n_present,
        "n_interactions": int(len(ds.items)),
        "length_mean": float(lengths.mean()),
        "length_quantiles": {k: float(v) for k, v in zip(("min", "p25", "p50", "p75", "p90", "p99", "max"), q)},
        "density": float(len(ds.items) / (ds.n_users * max(n_present, 1))),
    }


def save_dataset(ds: SequenceDataset, out_dir, extra_stats: dict | None = None) -> dict:
    """Write ``ds`` as a canonical folder (atomically: all files or none); return its stats."""
    stats = dataset_stats(ds)
    stats["content_hash"] = ds.content_hash()
    stats["split"] = {"kind": "leave_one_out", "valid": "second-to-last item", "test": "last item"}
    stats["tie_break"] = TIE_BREAK
    if extra_stats:
        stats.update(extra_stats)
    if (ds.lengths < MIN_USER_INTERACTIONS).any():
        raise DataError(f"{out_dir}: leave-one-out needs >= {MIN_USER_INTERACTIONS} items per user")
    with atomic_directory(out_dir) as tmp:
        np.save(tmp / "items.npy", ds.items)
        np.save(tmp / "offsets.npy", ds.offsets)
        np.save(tmp / "users.npy", ds.users)
        np.save(tmp / "item_map.npy", ds.item_map)
        write_json_atomic(tmp / "stats.json", stats)
    return stats


def load_dataset(path, mmap: bool = False) -> SequenceDataset:
    """Load a canonical folder written by :func:`save_dataset`; check it is complete and consistent."""
    path = Path(path)
    mode = "r" if mmap else None
    missing = [n for n in ("items.npy", "offsets.npy", "users.npy", "item_map.npy", "stats.json")
               if not (path / n).is_file()]
    if missing:
        raise DataError(f"{path}: not a canonical srlaw dataset (missing {', '.join(missing)}); run `srlaw prepare`")
    items = np.load(path / "items.npy", mmap_mode=mode)
    offsets = np.load(path / "offsets.npy", mmap_mode=mode)
    item_map = np.load(path / "item_map.npy")
    users = np.load(path / "users.npy")
    if offsets[-1] != len(items) or len(users) != len(offsets) - 1:
        raise DataError(f"{path}: offsets.npy, items.npy and users.npy disagree; the dataset is corrupt")
    return SequenceDataset(items=items, offsets=offsets, n_items=len(item_map) - 1, users=users, item_map=item_map)


def read_stats(path) -> dict:
    path = Path(path) / "stats.json"
    if not path.is_file():
        raise DataError(f"{path}: missing; run `srlaw prepare` for this variant")
    return read_state(path, ("content_hash", "n_items", "n_users"))


# ---------------------------------------------------------------- variants

def nested_user_order(n_users: int, seed: int) -> np.ndarray:
    """One seeded permutation of users: the first ceil(f * n) are the f-sample, so samples nest."""
    return np.random.default_rng(seed).permutation(n_users)


def gather_slices(items, starts, ends):
    """Concatenate ``items[starts[i]:ends[i]]`` for every i in one vectorised step; returns (items, offsets)."""
    lengths = np.asarray(ends) - np.asarray(starts)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    idx = np.repeat(np.asarray(starts) - offsets[:-1], lengths) + np.arange(offsets[-1])
    return np.asarray(items)[idx], offsets


def make_variant(ds: SequenceDataset, user_fraction: float = 1.0, last_items: int | None = None,
                 noise: float = 0.0, seed: int = 0) -> SequenceDataset:
    """A data-scale/quality variant of ``ds``; the catalogue (ids 1..n_items) is kept so variants compare.

    - ``user_fraction``: keep the first ceil(f·n) users of one seeded permutation (so 25 % ⊂ 50 % ⊂ 100 %);
    - ``last_items``: keep each user's last ``last_items`` items (truncation of history);
    - ``noise``: replace that fraction of each user's items, chosen at random, by uniform random items
      (a controlled drop in data quality).
    """
    if not 0 < user_fraction <= 1:
        raise ValueError(f"user_fraction must be in (0, 1], got {user_fraction}")
    if last_items is not None and last_items < MIN_USER_INTERACTIONS:
        raise ValueError(f"last_items must be >= {MIN_USER_INTERACTIONS} (leave-one-out), got {last_items}")
    if not 0 <= noise < 1:
        raise ValueError(f"noise must be in [0, 1), got {noise}")
    n_keep = math.ceil(user_fraction * ds.n_users)
    chosen = np.sort(nested_user_order(ds.n_users, seed)[:n_keep])
    starts, ends = ds.offsets[chosen], ds.offsets[chosen + 1]
    if last_items is not None:
        starts = np.maximum(starts, ends - last_items)
    items, offsets = gather_slices(ds.items, starts, ends)
    items = items.astype(np.int32)
    if noise > 0:
        rng = np.random.default_rng([seed, 1])  # a stream independent of the user permutation
        flip = rng.random(len(items)) < noise
        items[flip] = rng.integers(1, ds.n_items + 1, size=int(flip.sum()), dtype=np.int32)
    return SequenceDataset(items=items, offsets=offsets, n_items=ds.n_items, users=ds.users[chosen].copy(),
                           item_map=np.asarray(ds.item_map).copy())
