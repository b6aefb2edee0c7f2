"""The released law library's index (``artifacts/laws/index.json``): its shared fits, its recipe, and the fits with
one dataset left out, for judging a form on data the library already holds."""

from __future__ import annotations

import json
import os
from pathlib import Path

from srlaw.library.fits import METRICS
from srlaw.core.errors import SrlawError

LIBRARY_INDEX = Path("artifacts/laws/index.json")
LIBRARY_ENV = "SRLAW_LIBRARY"
# the checkout this package runs from (an editable install): `srlaw calibrate` finds the released library from any
# working directory; an installed wheel has none and takes --library or $SRLAW_LIBRARY
CHECKOUT_INDEX = Path(__file__).resolve().parents[3] / LIBRARY_INDEX
# settings that say how a run executes, not what it learns: a library run on a GPU and one on a CPU are one recipe
EXECUTION_KEYS = ("precision", "accelerator", "devices", "strategy", "num_nodes", "deterministic", "seed",
                  "num_workers", "eval_batch_size", "max_minutes", "progress_bar")


def find_library(path: Path | str | None = None) -> Path:
    """The library index a command reads: ``path`` when given, else ``$SRLAW_LIBRARY``, else
    ``artifacts/laws/index.json`` under the working directory, else the one in the checkout srlaw runs from.
    SrlawError naming every place it looked when none holds a file."""
    if path is not None:
        return Path(path)
    if os.environ.get(LIBRARY_ENV):
        env = Path(os.environ[LIBRARY_ENV])
        if not env.is_file():
            raise SrlawError(f"{env}: no law library (from ${LIBRARY_ENV})")
        return env
    for candidate in (LIBRARY_INDEX, CHECKOUT_INDEX):
        if candidate.is_file():
            return candidate
    raise SrlawError(f"no law library: neither {LIBRARY_INDEX} here nor {CHECKOUT_INDEX} exists; pass --library "
                     f"FILE or set ${LIBRARY_ENV} (a checkout regenerates it: make library)")


def load_library(index_path: Path = LIBRARY_INDEX):
    """The library's shared fits (per metric), recipe name and index entry."""
    from srlaw.library.fits import LibraryFit
    path = Path(index_path)
    if not path.is_file():
        raise SrlawError(f"{path}: no law library (regenerate it: make library)")
    try:
        doc = json.loads(path.read_text())
        fits = {m: LibraryFit.from_dict(doc["library"]["fits"][m]) for m in METRICS}
        return fits, doc["library"]["recipe_name"], doc["library"]
    except (KeyError, TypeError, ValueError) as e:
        raise SrlawError(f"{path}: not a law library index ({type(e).__name__}: {e})") from None


def datasets_with(lib: dict, content_hashes) -> list[str]:
    """The library datasets whose prepared data hash is in ``content_hashes``, by name."""
    hashes = set(content_hashes)
    return sorted(name for name, e in lib.get("laws", {}).items() if e.get("content_hash") in hashes)


def fits_without(lib: dict, content_hashes, index_path: Path = LIBRARY_INDEX) -> tuple[dict | None, list[str]]:
    """The library's fits with every dataset whose data hash is in ``content_hashes`` left out, and those names.

    ``(None, [])`` when no dataset matches (the full fits apply). A law judged on held-out runs of data the library
    was fitted on would be judged on what its shape has already seen; the release stores each dataset's
    leave-one-out fits for that case (``library.without``). Matching is by data hash: another cut of a library
    dataset (a user subsample, other filtering) is not recognised as that dataset.
    """
    from srlaw.library.fits import LibraryFit
    hit = datasets_with(lib, content_hashes)
    if not hit:
        return None, []
    if len(hit) > 1:
        raise SrlawError(f"{index_path}: data hashes match {len(hit)} library datasets ({', '.join(hit)}); "
                         "the index stores fits with one dataset left out")
    without = lib.get("without", {}).get(hit[0])
    if without is None:
        raise SrlawError(f"{index_path}: no fits without {hit[0]!r} (an index from before they were stored; "
                         "regenerate it: make library)")
    return {m: LibraryFit.from_dict(without[m]) for m in METRICS}, hit


def recipe_differences(train: dict, recipe_name: str) -> list[str]:
    """``key = ours (library: theirs)`` for every learning setting of ``train`` (a flat model + training dict, as
    ``Recipe.to_dict`` gives) that differs from the named recipe's; execution settings are not compared."""
    from srlaw.train.recipes import recipe
    theirs = recipe(recipe_name).to_dict()
    return [f"{k} = {train.get(k)!r} (library: {v!r})" for k, v in sorted(theirs.items())
            if k not in EXECUTION_KEYS and train.get(k) != v]
