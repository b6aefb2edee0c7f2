"""Reading a law artifact: its one manifest, strict JSON, and a check of every field before anything is computed.

Layout: a law folder holds ``law.json``, optionally ``latency.json``, and ``manifest.json`` — the one place the
loader looks for the sha256 of each file (nothing beside or above the folder can shadow it). Threat model (README,
"Trusting a law"): the manifest is unsigned, so on its own it catches corruption, partial copies and edits of one
file; a production config that pins the manifest's own sha256 (``Law.load(path, sha256=...)``) also defeats
someone who can rewrite every file of the folder.

The JSON is parsed, never unpickled or evaluated: size and nesting are bounded, duplicate keys and NaN/Infinity are
refused, and every field the predictor reads is type- and range-checked, so a bad artifact fails here with the
field named instead of predicting nonsense later.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time

from srlaw.core.errors import LawFileError, LawInputError, LawIntegrityError, LawSchemaError
from srlaw.law.forms import get_form
from srlaw.law.schema import SCHEMA_VERSION

SUPPORTED_SCHEMA = tuple(int(x) for x in SCHEMA_VERSION.split("."))
REQUIRED = ("schema_version", "form", "metric", "params", "domain", "param_names")
MAX_BYTES = 16 * 2**20  # a law with thousands of bootstrap refits is well under 1 MiB
MAX_DEPTH = 16  # law.json nests at most 6 levels
MAX_BOOTSTRAP = 10_000
BACKBONES = ("sasrec", "hstu")
MANIFEST = "manifest.json"
# a law folder is rewritten file by file (law.json, then manifest.json): a reader between the two sees a pair that
# does not match, so a mismatch is read again a few times before it is believed
TORN_READS, TORN_WAIT_S = 8, 0.05


# ---------------------------------------------------------------- strict JSON

def _read_limited(path: str) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise LawFileError(f"{path}: {size:,} bytes, over the {MAX_BYTES:,}-byte limit of a law artifact")
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1)
    except OSError as e:
        raise LawFileError(f"{path}: cannot read: {e.strerror or e}") from None


def _depth(node, limit: int) -> int:
    """Nesting depth of parsed JSON, walked without recursion; stops early past ``limit``."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def strict_json(path: str, data: bytes):
    """Standard JSON only: no duplicate keys, no NaN/Infinity, bounded size and depth."""
    def unique(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise LawFileError(f"{path}: duplicate key {k!r}; refusing an ambiguous document")
            seen.add(k)
        return dict(pairs)

    def no_constant(name):
        raise LawFileError(f"{path}: {name} is not standard JSON (non-finite numbers are refused)")

    try:
        doc = json.loads(data, object_pairs_hook=unique, parse_constant=no_constant)
    except RecursionError:
        raise LawFileError(f"{path}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise LawFileError(f"{path}: not readable JSON: {e}") from None
    if _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        raise LawFileError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    return doc


# ---------------------------------------------------------------- integrity

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_listed(path: str, data: bytes, manifest: dict, manifest_path: str) -> None:
    entry = manifest.get("files", {}).get(os.path.basename(path)) if isinstance(manifest.get("files"), dict) else None
    if not isinstance(entry, dict):
        raise LawIntegrityError(f"{path}: not listed in {manifest_path}; refusing an unlisted file")
    got = _sha256(data)
    if got != entry.get("sha256"):
        raise _Mismatch(f"{path}: sha256 {got[:16]}… does not match {manifest_path} "
                                f"({str(entry.get('sha256'))[:16]}…); the file is not used")


def read_artifact(path, sha256: str | None = None, verify: bool = True) -> tuple[dict, dict | None, str]:
    """(law document, latency document or None, law.json path) from ``law.json`` or the folder holding it.

    ``verify=True`` (the default) requires ``manifest.json`` in the law's folder and checks every file against it;
    ``sha256`` additionally pins the manifest's own digest. ``verify=False`` loads without either (a law.json
    fetched alone); it cannot be combined with a pin.
    """
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise LawInputError(f"a law is loaded from a folder or law.json path, got {type(path).__name__}")
    for attempt in range(TORN_READS):
        try:
            return _read_once(path, sha256, verify)
        except _Mismatch:
            if attempt == TORN_READS - 1:
                raise
            time.sleep(TORN_WAIT_S)  # a writer between law.json and manifest.json: read the pair again
    raise AssertionError("unreachable")


class _Mismatch(LawIntegrityError):
    """A file whose bytes do not match the manifest: corrupt, edited, or caught mid-rewrite."""


def _read_once(path, sha256: str | None, verify: bool) -> tuple[dict, dict | None, str]:
    path = os.fspath(path)
    folder, law_path = (path, os.path.join(path, "law.json")) if os.path.isdir(path) else \
        (os.path.dirname(path) or ".", path)
    if not os.path.isfile(law_path):
        raise LawFileError(f"{law_path}: no such law artifact (run `dvc repro` or `dvc pull`)")
    if sha256 is not None and not verify:
        raise LawIntegrityError("sha256= pins the manifest: it cannot be combined with verify=False")
    law_bytes = _read_limited(law_path)
    lat_path = os.path.join(folder, "latency.json")
    lat_bytes = _read_limited(lat_path) if os.path.isfile(lat_path) else None
    if verify:
        manifest_path = os.path.join(folder, MANIFEST)
        if not os.path.isfile(manifest_path):
            raise LawIntegrityError(f"{manifest_path}: missing; a law loads only with the manifest in its folder "
                                    "(pass verify=False, or --no-verify, to load an unverified law)")
        manifest_bytes = _read_limited(manifest_path)
        if sha256 is not None and _sha256(manifest_bytes) != sha256.strip().lower():
            raise LawIntegrityError(f"{manifest_path}: sha256 {_sha256(manifest_bytes)[:16]}… is not the pinned "
                                    f"{sha256.strip()[:16]}…; the artifact is not the one the config names")
        manifest = strict_json(manifest_path, manifest_bytes)
        if not isinstance(manifest, dict):
            raise LawFileError(f"{manifest_path}: expected a JSON object")
        _check_listed(law_path, law_bytes, manifest, manifest_path)
        if lat_bytes is not None:
            _check_listed(lat_path, lat_bytes, manifest, manifest_path)
    doc = strict_json(law_path, law_bytes)
    latency = None if lat_bytes is None else strict_json(lat_path, lat_bytes)
    return doc, latency, str(law_path)


# ---------------------------------------------------------------- the document's fields

def finite(x) -> bool:
    """A JSON number that is a real, finite number (not a bool, not NaN or ±Infinity)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _bad(source: str, field: str, value, expected: str):
    shown = repr(value)
    return LawFileError(f"{source}: field {field} = {shown[:60] + '…' if len(shown) > 60 else shown}: expected {expected}")


def _range(source: str, field: str, value) -> None:
    if not (isinstance(value, list) and len(value) == 2 and all(finite(x) for x in value)
            and 0 < value[0] <= value[1]):
        raise _bad(source, field, value, "[low, high] with 0 < low <= high")


def check_document(doc, source: str):
    """The law form of a document whose every field this predictor reads is present, typed and in range."""
    if not isinstance(doc, dict):
        raise LawFileError(f"{source}: expected a JSON object, got {type(doc).__name__}")
    for key in REQUIRED:
        if key not in doc:
            raise LawFileError(f"{source}: missing field {key!r}; not a srlaw law artifact")
    version = doc["schema_version"]
    parts = version.split(".") if isinstance(version, str) else []
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise _bad(source, "schema_version", version, "'MAJOR.MINOR'")
    if int(parts[0]) > SUPPORTED_SCHEMA[0]:
        raise LawSchemaError(f"{source}: schema_version {version} is newer than this predictor supports "
                             f"({SUPPORTED_SCHEMA[0]}.{SUPPORTED_SCHEMA[1]}); upgrade srlaw")
    if not isinstance(doc["form"], str):
        raise _bad(source, "form", doc["form"], "a form name")
    try:
        form = get_form(doc["form"])
    except KeyError as e:
        raise LawFileError(f"{source}: {e}") from None
    metrics = doc["metric"] if isinstance(doc["metric"], list) else [doc["metric"]]
    if not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise _bad(source, "metric", doc["metric"], "a non-empty list of metric names")
    if doc["param_names"] != list(form.param_names):
        raise _bad(source, "param_names", doc["param_names"], f"{list(form.param_names)} (form {form.name})")
    for m in metrics:
        _check_metric(doc, source, form, m)
    _check_sizes(doc, source)
    _check_shape(doc, source)
    return form


def _check_metric(doc: dict, source: str, form, m: str) -> None:
    """One metric's parameters, bootstrap draws and noise."""
    theta = doc["params"].get(m) if isinstance(doc["params"], dict) else None
    if not isinstance(theta, dict) or set(theta) != set(form.param_names):
        raise _bad(source, f"params.{m}", theta, f"one number per parameter {list(form.param_names)}")
    for k, lo, hi in zip(form.param_names, form.lower, form.upper):
        if not (finite(theta[k]) and lo <= theta[k] <= hi):
            raise _bad(source, f"params.{m}.{k}", theta[k], f"a finite number in [{lo:g}, {hi:g}]")
    boot = doc.get("bootstrap", {}).get(m, []) if isinstance(doc.get("bootstrap", {}), dict) else None
    if not (isinstance(boot, list) and len(boot) <= MAX_BOOTSTRAP and all(
            isinstance(row, list) and len(row) == form.n_params and all(finite(x) for x in row) for row in boot)):
        raise _bad(source, f"bootstrap.{m}", boot, f"at most {MAX_BOOTSTRAP} rows of {form.n_params} finite numbers")
    sigma = doc.get("noise", {}).get(m, {}).get("sigma", 0.0) if isinstance(doc.get("noise", {}), dict) else None
    if not (finite(sigma) and sigma >= 0):
        raise _bad(source, f"noise.{m}.sigma", sigma, "a finite number >= 0")
    relative = doc.get("noise", {}).get(m, {}).get("relative", False)
    if not isinstance(relative, bool):
        raise _bad(source, f"noise.{m}.relative", relative, "true or false")


def _check_sizes(doc: dict, source: str) -> None:
    """The domain, the sizes that diverged and the collapse counts."""
    domain = doc["domain"]
    if not isinstance(domain, dict):
        raise _bad(source, "domain", domain, "an object")
    for axis in ("n_layers", "d_model", "data"):
        _range(source, f"domain.{axis}", domain.get(axis))
    for m in doc["metric"] if isinstance(doc["metric"], list) else [doc["metric"]]:  # a metric's range: optional
        if m in domain:
            _range(source, f"domain.{m}", domain[m])
    unstable = doc.get("unstable", [])
    if not (isinstance(unstable, list) and all(
            isinstance(u, dict) and all(isinstance(u.get(k), int) and not isinstance(u.get(k), bool) and u[k] >= 1
                                        for k in ("n_layers", "d_model")) for u in unstable)):
        raise _bad(source, "unstable", unstable, "a list of {n_layers, d_model} objects with integers >= 1")
    collapse = doc.get("collapse", [])
    if not (isinstance(collapse, list) and all(
            isinstance(c, dict) and all(isinstance(c.get(k), int) and not isinstance(c.get(k), bool)
                                        for k in ("n_layers", "d_model", "collapsed", "runs"))
            and c["n_layers"] >= 1 and c["d_model"] >= 1 and 0 <= c["collapsed"] <= c["runs"] and c["runs"] >= 1
            for c in collapse)):
        raise _bad(source, "collapse", collapse,
                   "a list of {n_layers, d_model, collapsed, runs} objects with integers, 0 <= collapsed <= runs")


def _check_shape(doc: dict, source: str) -> None:
    """The data variants and the model shape candidates are sized with."""
    variants = doc.get("variants", {})
    if not isinstance(variants, dict):
        raise _bad(source, "variants", variants, "an object")
    for name, v in variants.items():
        data = v.get("data") if isinstance(v, dict) else None
        if not (finite(data) and data > 0):
            raise _bad(source, f"variants.{name}.data", data, "a finite number > 0")
    default = doc.get("default_variant")
    if default is not None and default not in variants:
        raise _bad(source, "default_variant", default, f"one of the variants {sorted(variants)}")
    train = doc.get("training_protocol", {}).get("train", {}) if isinstance(doc.get("training_protocol"), dict) else {}
    if not isinstance(train, dict):
        raise _bad(source, "training_protocol.train", train, "an object")
    if "backbone" in train and train["backbone"] not in BACKBONES:
        raise _bad(source, "training_protocol.train.backbone", train["backbone"], f"one of {', '.join(BACKBONES)}")
    for key in ("max_len", "n_heads", "ffn_mult"):
        if key in train and not (isinstance(train[key], int) and not isinstance(train[key], bool) and train[key] >= 1):
            raise _bad(source, f"training_protocol.train.{key}", train[key], "an integer >= 1")
    n_items = doc.get("n_items", 0)
    if n_items is not None and not (isinstance(n_items, int) and not isinstance(n_items, bool) and n_items >= 0):
        raise _bad(source, "n_items", n_items, "an integer >= 0")
