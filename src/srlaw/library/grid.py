"""What the law library trains: datasets, grid, seeds, in the order they are worth having.

One recipe for every run (``srlaw.train.recipes.DEFAULT_RECIPE``). Sizes: depths × widths below; the seeds beyond the
first go to the configurations a law is checked on — every size above the largest fitted one (2 × 32, 13 k
non-embedding parameters), so held-out truth is a seed mean — and to two fitted ones, so the noise floor is
measured where it matters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from srlaw.library.catalogue import CATALOGUE
from srlaw.library.catalogue import same_source as catalogue_same_source

DEPTHS = (1, 2, 4)
WIDTHS = (16, 32, 64, 128, 256)
SEEDED = ((1, 32), (2, 32), (4, 64), (1, 128), (2, 128), (4, 128), (1, 256), (2, 256), (4, 256),
          (1, 64), (4, 32), (2, 64))  # the last three: held out at 2-4x, seeded later
EXTRA_SEEDS = (1, 2)
# calibration runs: shallow and narrow (cheap, and deep post-LN stacks are the ones that sometimes diverge);
# what they are chosen to predict: the wide end of the grid
CANDIDATES = [(n, d) for n in DEPTHS if n <= 2 for d in WIDTHS if d <= 64]
TARGET_CONFIGS = [(n, d) for n in DEPTHS for d in WIDTHS if d >= 128]
# calibration: how many runs a user may ask for, the default, how often a failed run is trained again at the next
# seed (srlaw.library.shape.failed_run), and the compute cap: one run of the costliest target (per epoch)
MAX_RUNS = 6
DEFAULT_RUNS = 2
RETRIES = 2
BUDGET_SHARE = 0.1
# a library law's domain: predictions outside the trained grid are flagged
DOMAIN = {"n_layers": [float(min(DEPTHS)), float(max(DEPTHS))], "d_model": [float(min(WIDTHS)), float(max(WIDTHS))]}

# datasets of the catalogue (srlaw.library.catalogue) the library is built on
LIBRARY = ("ml-latest-small", "ml-100k", "ml-1m", "beauty-s3rec", "sports-s3rec", "beauty-bert4rec",
           "ml-1m/users25", "sports-s3rec/users25", "beauty-bert4rec/users25",
           "lastfm-s3rec", "office-cvae", "tools-cvae", "tools-cvae/users25")

# the raw data each dataset is cut from: a check that leaves a "new" dataset out of the library can leave out every
# cut of its source too (the Amazon Beauty cuts of S3Rec and BERT4Rec both come from the 2014 Beauty reviews)
SOURCES = {v: CATALOGUE[v].source for v in LIBRARY}
FAMILIES = {v: CATALOGUE[v].family for v in LIBRARY}


def same_source(variant: str) -> frozenset[str]:
    """Every library dataset cut from ``variant``'s raw data, itself included."""
    return catalogue_same_source(variant, among=LIBRARY)


# (variant, "grid" | "seeds"): a deadline cuts the tail, so the cheap full grids and the checked datasets lead
ORDER = (("ml-latest-small", "grid"), ("ml-100k", "grid"), ("ml-1m", "grid"), ("beauty-s3rec", "grid"),
         ("ml-1m", "seeds"), ("sports-s3rec", "grid"), ("ml-1m/users25", "grid"), ("beauty-s3rec", "seeds"),
         ("beauty-bert4rec", "grid"), ("sports-s3rec", "seeds"), ("sports-s3rec/users25", "grid"),
         ("beauty-bert4rec/users25", "grid"), ("ml-100k", "seeds"), ("ml-latest-small", "seeds"),
         ("beauty-bert4rec/users25", "seeds"), ("sports-s3rec/users25", "seeds"), ("ml-1m/users25", "seeds"),
         ("lastfm-s3rec", "grid"), ("office-cvae", "grid"), ("tools-cvae/users25", "grid"), ("tools-cvae", "grid"),
         ("office-cvae", "seeds"), ("lastfm-s3rec", "seeds"), ("tools-cvae", "seeds"), ("tools-cvae/users25", "seeds"))


@dataclass(frozen=True)
class Task:
    variant: str
    n_layers: int
    d_model: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.variant.replace('/', '_')}/L{self.n_layers}-d{self.d_model}-s{self.seed}"

    @classmethod
    def from_name(cls, name: str) -> Task | None:
        """The task a run folder ``variant/L4-d128-s3`` holds (:attr:`name` read back); None for anything else."""
        m = re.fullmatch(r"([^/]+)/L(\d+)-d(\d+)-s(\d+)", name)
        variants = {v.replace("/", "_"): v for v in LIBRARY}
        if not m or m.group(1) not in variants:
            return None
        return cls(variants[m.group(1)], *(int(g) for g in m.groups()[1:]))


def tasks(order=ORDER, extra_seeds=EXTRA_SEEDS) -> list[Task]:
    """Every run of the library, most wanted first (within a grid, cheapest first); ``extra_seeds`` replaces the
    seeds beyond the first (more seeds where a size's spread or collapse rate is in doubt)."""
    out: list[Task] = []
    for variant, kind in order:
        if kind == "grid":
            points = sorted(((n, d) for n in DEPTHS for d in WIDTHS), key=lambda nd: nd[0] * nd[1] ** 2)
            out += [Task(variant, n, d, 0) for n, d in points]
        else:
            out += [Task(variant, n, d, s) for s in extra_seeds for n, d in SEEDED]
    return out
