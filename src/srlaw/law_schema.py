"""The law.json schema: its version, and the check the fit stage runs before it writes a law.

Standard library only at import (the predictor reads :data:`SCHEMA_VERSION`); ``jsonschema`` is imported by
:func:`validate_law_document` alone, which only the fitter calls.
"""

from __future__ import annotations

import json
from pathlib import Path

from srlaw.errors import LawFitError

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
