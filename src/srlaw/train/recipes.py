"""Named training recipes: the one way a law library's runs, ``srlaw run`` and ``srlaw calibrate`` train.

A law describes models trained one way; a calibration run, or a user's check of a prediction, only tells about a
library law when it trains the same way. So the library's recipe has a name, is recorded in every run and law,
and is the default of ``srlaw run`` and ``srlaw calibrate``.
"""

from __future__ import annotations

from srlaw.train.settings import Recipe, parse_nested_recipe
from srlaw.core.errors import ParamsError

DEFAULT_RECIPE = "library"

RECIPES: dict[str, dict] = {
    # Today's model defaults (original SASRec block, ReLU, N(0, 0.02), scaled input embeddings) at max_len 50,
    # so one recipe serves MovieLens and Amazon alike and small runs are cheap; lr 2e-3 (not the pipeline's 3e-3)
    # keeps width 256 stable; patience 4 with a 150-epoch cap: runs end by early stopping, i.e. converged.
    "library": {
        "model": {"backbone": "sasrec", "max_len": 50, "n_heads": 1, "dropout": 0.3, "block": "original",
                  "activation": "relu", "init": "normal", "scale_embedding": True, "attention_dropout": True},
        "train": {"batch_size": 128, "lr": 0.002, "warmup_epochs": 1.0, "patience": 4, "max_epochs": 150,
                  "loss": "full"},
    },
}


def recipe(name: str, seed: int = 0) -> Recipe:
    """The named recipe, typed and checked, with ``seed``."""
    if name not in RECIPES:
        raise ParamsError(f"--recipe {name!r}: unknown recipe; known: {', '.join(sorted(RECIPES))}")
    return parse_nested_recipe(RECIPES[name], f"recipes.{name}", "srlaw.train.recipes", seed)
