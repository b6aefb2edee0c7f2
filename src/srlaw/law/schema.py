"""The law.json schema and the one way a law is written: its version, the schema check, standard JSON only.

Standard library only at import (the predictor reads :data:`SCHEMA_VERSION`); ``jsonschema`` is imported by
:func:`validate_law_document` alone, which only the fitter calls.
"""

from __future__ import annotations

import json
from pathlib import Path

from srlaw.core.atomic import with_nulls_for_non_finite, write_json_atomic
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


def write_law(path, doc: dict) -> dict:
    """Check ``doc`` against the schema and write it as standard JSON; returns what was written."""
    out = with_nulls_for_non_finite(doc)
    validate_law_document(out, str(path))
    write_json_atomic(path, out, allow_nan=False)
    return out
