"""The law.json schema and the one way a law is written: its version, the schema check, standard JSON only.

Standard library only at import (the predictor reads :data:`SCHEMA_VERSION`); ``jsonschema`` is imported by
:func:`validate_law_document` alone, which only the fitter calls.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from srlaw.core.atomic import write_json_atomic
from srlaw.core.errors import LawFitError

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "law.schema.json"


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate_law_document(doc: dict, where: str = "law.json") -> None:
    """Refuse a law document that does not match the schema, naming the field."""
    import jsonschema
    try:
        jsonschema.validate(doc, load_schema())
    except jsonschema.ValidationError as e:
        field = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise LawFitError(f"{where}: field {field}: {e.message} (schema {SCHEMA_PATH.name})") from None


def with_nulls_for_non_finite(doc: dict) -> dict:
    """A copy with every NaN/±Infinity replaced by null and listed under ``non_finite_as_null`` (path: value).

    JSON has no non-finite numbers: Python would write ``Infinity`` (a failed form's held-out error), which other
    languages' parsers refuse.
    """
    where = []

    def walk(x, path):
        if isinstance(x, float) and not math.isfinite(x):
            where.append(f"{path}: {x}")
            return None
        if isinstance(x, dict):
            return {k: walk(v, f"{path}.{k}" if path else k) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(x)]
        return x

    out = walk(doc, "")
    if where:
        out["non_finite_as_null"] = where
    return out


def write_law(path, doc: dict) -> dict:
    """Check ``doc`` against the schema and write it as standard JSON; returns what was written."""
    out = with_nulls_for_non_finite(doc)
    validate_law_document(out, str(path))
    write_json_atomic(path, out, allow_nan=False)
    return out
