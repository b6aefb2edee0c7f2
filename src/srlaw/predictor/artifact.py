"""Reading a law artifact: find its files, verify them against the manifest, check the document's shape.

The JSON is parsed, never unpickled or evaluated. When a ``manifest.json`` sits in the law's folder or beside it,
every file read is checked against its sha256 first and a mismatch is an error.
"""

from __future__ import annotations

import hashlib
import json
import os

from srlaw.errors import LawFileError, LawIntegrityError, LawSchemaError
from srlaw.law_forms import get_form
from srlaw.law_schema import SCHEMA_VERSION

SUPPORTED_SCHEMA = tuple(int(x) for x in SCHEMA_VERSION.split("."))
REQUIRED = ("schema_version", "form", "metric", "params", "domain", "param_names")


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def find_manifest(folder: str):
    """(manifest path, key prefix): a manifest in the folder lists 'law.json'; artifacts/manifest.json 'law/law.json'."""
    folder = os.path.abspath(folder)
    for manifest, prefix in ((os.path.join(folder, "manifest.json"), ""),
                             (os.path.join(os.path.dirname(folder), "manifest.json"), os.path.basename(folder) + "/")):
        if os.path.isfile(manifest):
            return manifest, prefix
    return None, ""


def verified_json(path: str, manifest: dict | None, key: str, manifest_path) -> dict:
    """``path`` parsed as JSON after its sha256 was checked against ``manifest`` (when there is one)."""
    if manifest is not None:
        entry = manifest.get("files", {}).get(key)
        if entry is None:
            raise LawIntegrityError(f"{path}: not listed in {manifest_path} (as {key!r}); refusing an unlisted file")
        got = hashlib.sha256(_read(path)).hexdigest()
        if got != entry.get("sha256"):
            raise LawIntegrityError(f"{path}: sha256 {got[:16]}… does not match {manifest_path} "
                                    f"({str(entry.get('sha256'))[:16]}…); the file is not used")
    try:
        return json.loads(_read(path))
    except (OSError, ValueError) as e:
        raise LawFileError(f"{path}: not readable JSON: {e}") from None


def read_artifact(path) -> tuple[dict, dict | None, str]:
    """(law document, latency document or None, law.json path) from ``law.json`` or the folder holding it."""
    path = os.fspath(path)
    folder, law_path = (path, os.path.join(path, "law.json")) if os.path.isdir(path) else \
        (os.path.dirname(path) or ".", path)
    if not os.path.isfile(law_path):
        raise LawFileError(f"{law_path}: no such law artifact (run `dvc repro` or `dvc pull`)")
    manifest_path, prefix = find_manifest(folder)
    manifest = None
    if manifest_path is not None:
        try:
            manifest = json.loads(_read(manifest_path))
        except (OSError, ValueError) as e:
            raise LawFileError(f"{manifest_path}: not readable JSON: {e}") from None
    doc = verified_json(law_path, manifest, prefix + os.path.basename(law_path), manifest_path)
    latency = None
    lat_path = os.path.join(folder, "latency.json")
    if os.path.isfile(lat_path):
        latency = verified_json(lat_path, manifest, prefix + "latency.json", manifest_path)
    return doc, latency, str(law_path)


def check_document(doc: dict, source: str):
    """The law form of a document whose required fields and schema version this predictor understands."""
    if not isinstance(doc, dict):
        raise LawFileError(f"{source}: expected a JSON object, got {type(doc).__name__}")
    for key in REQUIRED:
        if key not in doc:
            raise LawFileError(f"{source}: missing field {key!r}; not a srlaw law artifact")
    version = str(doc["schema_version"])
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        raise LawFileError(f"{source}: schema_version {version!r} is not 'MAJOR.MINOR'") from None
    if major > SUPPORTED_SCHEMA[0]:
        raise LawSchemaError(f"{source}: schema_version {version} is newer than this predictor supports "
                             f"({SUPPORTED_SCHEMA[0]}.{SUPPORTED_SCHEMA[1]}); upgrade srlaw")
    try:
        return get_form(doc["form"])
    except KeyError as e:
        raise LawFileError(f"{source}: {e}") from None
