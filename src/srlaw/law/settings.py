"""How a law is fitted (``law:``): which forms compete, on what held-out split, with which robust loss."""

from __future__ import annotations

from dataclasses import dataclass

from srlaw.core.settings import spec
from srlaw.data.protocol import metric_names
from srlaw.law.forms import FORMS

LAW_SPLITS = ("valid", "test", "mean(valid, test)")  # the last: studies average two disjoint evaluations


@dataclass(kw_only=True)
class LawConfig:
    """``fit``: which forms compete, on what held-out split, with which robust loss."""

    metrics: list[str] = spec(expect=f"a list of {', '.join(metric_names())}",
                              ok=lambda v: set(v) <= set(metric_names()), factory=lambda: ["hr@10", "ndcg@10"])
    split: str = spec("test", expect=f"one of {', '.join(LAW_SPLITS)}", ok=lambda v: v in LAW_SPLITS)
    forms: list[str] = spec(expect=f"a list of {', '.join(FORMS)}", ok=lambda v: set(v) <= set(FORMS),
                            factory=lambda: list(FORMS))
    data_score: str = spec("markov_ndcg@10", expect="a key of entropy.json (dotted for nested scores)",
                           ok=lambda v: v != "")
    holdout_fraction: float = spec(0.25, expect="a number in (0, 1) (fit on runs <= this share of the largest)",
                                   ok=lambda v: 0 < v < 1)
    huber_delta: float = spec(0.05, expect="a number > 0", ok=lambda v: v > 0)
    n_starts: int = spec(16, expect="an integer >= 1", ok=lambda v: v >= 1)
    n_bootstrap: int = spec(50, expect="an integer >= 0", ok=lambda v: v >= 0)
