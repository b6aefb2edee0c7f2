"""Every raw dataset srlaw's library and studies are built from: where it lies under the data root, how it is read,
which raw data it is cut from, and the cut (users kept, history truncated, noise) — one table for all of them.

Licence-restricted files live only in the data root (``../shared/data`` in a checkout) and are never committed; a
missing file is skipped by name, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DATA_ROOT = Path("../shared/data")


@dataclass(frozen=True)
class Dataset:
    file: str  # under the data root
    format: str  # a reader of srlaw.data.readers
    source: str  # the raw data it is cut from: cuts of one source leave a held-out check together
    family: str  # domain family (MovieLens, Amazon, music)
    kcore: int = 0
    cut: dict = field(default_factory=dict)  # srlaw.data.dataset.make_variant's arguments


def _cuts(name: str, base: Dataset, **cuts: dict) -> dict[str, Dataset]:
    return {name: base, **{f"{name}/{k}": Dataset(base.file, base.format, base.source, base.family, base.kcore, c)
                           for k, c in cuts.items()}}


CATALOGUE: dict[str, Dataset] = {
    **_cuts("ml-1m", Dataset("ml-1m/ml-1m.txt", "sasrec", "MovieLens 1M", "MovieLens"),
            users25={"user_fraction": 0.25}, last20={"last_items": 20}, noise30={"noise": 0.3}),
    "ml-100k": Dataset("ml-100k/u.data", "movielens-100k", "MovieLens 100K", "MovieLens"),
    "ml-latest-small": Dataset("ml-latest-small/ratings.csv", "movielens-csv", "MovieLens latest-small", "MovieLens",
                               kcore=5),
    **_cuts("beauty-bert4rec", Dataset("amazon-beauty-bert4rec/beauty.txt", "sasrec", "Amazon Beauty 2014", "Amazon"),
            users25={"user_fraction": 0.25}),
    "beauty-s3rec": Dataset("amazon-s3rec-5core/Beauty.txt", "s3rec", "Amazon Beauty 2014", "Amazon"),
    **_cuts("sports-s3rec", Dataset("amazon-s3rec-5core/Sports_and_Outdoors.txt", "s3rec", "Amazon Sports 2014",
                                    "Amazon"), noise30={"noise": 0.3}, users25={"user_fraction": 0.25}),
    "lastfm-s3rec": Dataset("lastfm-s3rec/LastFM.txt", "s3rec", "Last.fm HetRec 2011", "music"),
    "office-cvae": Dataset("amazon-contrastvae/Office_Products.txt", "s3rec", "Amazon Office 2014", "Amazon"),
    **_cuts("tools-cvae", Dataset("amazon-contrastvae/Tools_and_Home_Improvement.txt", "s3rec", "Amazon Tools 2014",
                                  "Amazon"), users25={"user_fraction": 0.25}),
}


def same_source(name: str, among=CATALOGUE) -> frozenset[str]:
    """Every dataset of ``among`` cut from ``name``'s raw data, itself included."""
    source = CATALOGUE[name].source if name in CATALOGUE else None
    return frozenset(v for v in among if CATALOGUE[v].source == source) | {name}
