"""How a raw log becomes a dataset (``data:``), its scale and quality variants, and the data-quality scores' settings."""

from __future__ import annotations

from dataclasses import dataclass

from srlaw.core.settings import spec
from srlaw.data.readers import FORMATS

COLUMN_ROLES = ("user", "item", "timestamp", "rating")


@dataclass(kw_only=True)
class DataConfig:
    """``prepare``: the raw log and how it is cleaned."""

    source: str = spec(expect="the path of the raw interaction file", ok=lambda v: v != "")
    format: str = spec(expect=f"one of {', '.join(FORMATS)}", ok=lambda v: v in FORMATS)
    columns: dict[str, str] = spec(expect=f"a mapping from roles ({', '.join(COLUMN_ROLES)}) to column names",
                                   ok=lambda v: set(v) <= set(COLUMN_ROLES), factory=dict)
    delimiter: str = spec(",", expect="one character", ok=lambda v: len(v) == 1)
    rating_threshold: float | None = spec(None, expect="null or a number (keep ratings >= it)")
    kcore: int = spec(0, expect="an integer >= 0 (0: off)", ok=lambda v: v >= 0)
    min_user_interactions: int = spec(3, expect="an integer >= 3 (leave-one-out needs 3)", ok=lambda v: v >= 3)


@dataclass(kw_only=True)
class VariantConfig:
    """One data-scale / data-quality variant of the canonical dataset."""

    user_fraction: float = spec(1.0, expect="a number in (0, 1]", ok=lambda v: 0 < v <= 1)
    last_items: int | None = spec(None, expect="null or an integer >= 3 (keep each user's last N items)",
                                  ok=lambda v: v >= 3)
    noise: float = spec(0.0, expect="a number in [0, 1) (fraction of items replaced at random)",
                        ok=lambda v: 0 <= v < 1)


@dataclass(kw_only=True)
class EntropyConfig:
    """``entropy``: ApEn's template length and tolerance, and the history it reads."""

    m: int = spec(2, expect="an integer in [1, 10] (ApEn template length)", ok=lambda v: 1 <= v <= 10)
    r: float = spec(0.2, expect="a number >= 0 (ApEn tolerance)", ok=lambda v: v >= 0)
    window: int | None = spec(None, expect="null or an integer >= 2 (score each user's last N items)",
                              ok=lambda v: v >= 2)
