"""The released law library's index (``artifacts/laws/index.json``): its shared fits, its recipe, and the fits with
one dataset left out, for judging a form on data the library already holds.

The index is verified like a law: it is released with a ``manifest.json`` beside it and loads only when its bytes
match it; ``--library-sha256`` (or ``$SRLAW_LIBRARY_SHA256``) pins the index's own sha256, and every command that
uses a library says which one. A malformed index is refused with one line naming the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from srlaw.core.errors import SrlawError
from srlaw.library.fits import METRICS

LIBRARY_INDEX = Path("artifacts/laws/index.json")
LIBRARY_ENV = "SRLAW_LIBRARY"
PIN_ENV = "SRLAW_LIBRARY_SHA256"
MANIFEST = "manifest.json"
MAX_BYTES = 256 * 2**20  # a library of hundreds of datasets is a few MiB
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


def write_index(path: Path, doc: dict) -> str:
    """Release an index: ``doc`` at ``path`` and its manifest beside it; returns the index's sha256."""
    from srlaw.core.atomic import write_json_atomic
    from srlaw.core.provenance import write_manifest
    path = Path(path)
    write_json_atomic(path, doc)
    write_manifest(path.parent, {"library": doc.get("library", {}).get("recipe_name")}, only=[path.name])
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_verified(path: Path, sha256: str | None = None) -> tuple[dict, str]:
    """(index document, its sha256), after checking it against its manifest and the pin (``sha256``, else
    ``$SRLAW_LIBRARY_SHA256``)."""
    path = Path(path)
    if not path.is_file():
        raise SrlawError(f"{path}: no law library (regenerate it: make library)")
    if path.stat().st_size > MAX_BYTES:
        raise SrlawError(f"{path}: {path.stat().st_size:,} bytes, over the {MAX_BYTES:,} a law library may have")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    pin = sha256 or os.environ.get(PIN_ENV)
    if pin and digest != pin.strip().lower():
        raise SrlawError(f"{path}: sha256 {digest[:16]}… is not the pinned {pin.strip()[:16]}… "
                         f"(--library-sha256 or ${PIN_ENV}); the library is not the one you named")
    manifest_path = path.parent / MANIFEST
    try:
        listed = json.loads(manifest_path.read_text())["files"][path.name]["sha256"]
    except FileNotFoundError:
        raise SrlawError(f"{manifest_path}: missing; a law library loads only with its manifest "
                         "(release it with `make library`)") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise SrlawError(f"{manifest_path}: does not list {path.name} with a sha256; release the library again "
                         "(make library)") from None
    if listed != digest:
        raise SrlawError(f"{path}: sha256 {digest[:16]}… does not match {manifest_path} ({str(listed)[:16]}…); "
                         "the library was changed after its release and is not used")
    try:
        doc = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        raise SrlawError(f"{path}: not valid JSON ({type(e).__name__})") from None
    return doc, digest


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def load_library(index_path: Path = LIBRARY_INDEX, sha256: str | None = None):
    """The library's shared fits (per metric), recipe name and index entry, verified (:func:`read_verified`)."""
    from srlaw.library.fits import LibraryFit
    path = Path(index_path)
    doc, _ = read_verified(path, sha256)
    lib = doc.get("library") if isinstance(doc, dict) else None
    if not isinstance(lib, dict):
        raise SrlawError(f"{path}: field library: expected an object; not a law library index")
    if not isinstance(lib.get("recipe_name"), str):
        raise SrlawError(f"{path}: field library.recipe_name: expected a recipe name")
    fits = {}
    for m in METRICS:
        raw = (lib.get("fits") or {}).get(m) if isinstance(lib.get("fits"), dict) else None
        try:
            fits[m] = LibraryFit.from_dict(raw)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise SrlawError(f"{path}: field library.fits.{m}: not a library fit ({type(e).__name__}: {e})") from None
        if not all(math.isfinite(x) for x in (fits[m].w, fits[m].gamma)):
            raise SrlawError(f"{path}: field library.fits.{m}: non-finite depth term")
    for key in ("laws", "without", "convergence"):
        if key in lib and not isinstance(lib[key], dict):
            raise SrlawError(f"{path}: field library.{key}: expected an object")
    for key in ("candidates", "targets", "unstable", "collapse"):
        if key in lib and not isinstance(lib[key], list):
            raise SrlawError(f"{path}: field library.{key}: expected a list")
    return fits, lib["recipe_name"], lib


def describe_library(path: Path, lib: dict, digest: str) -> str:
    """Which library a command uses, in one line."""
    return (f"law library: {path} (sha256 {digest[:12]}…, {len(lib.get('laws', {}))} datasets, "
            f"recipe {lib.get('recipe_name')!r})")


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
