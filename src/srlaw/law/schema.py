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


def law_json(form, metrics, params: dict, bootstrap: dict, noise: dict, domain: dict, data_axis: dict,
             validation: dict, variants: dict, default_variant: str, n_items: int, runs: list[dict],
             training_protocol: dict, provenance: dict, runner_up: str | None = None, **extra) -> dict:
    """The one builder of a law.json document: every law srlaw writes (the pipeline's fit, the library's release,
    a calibration) is assembled here, so each field has one source. ``form``: a :class:`srlaw.law.forms.LawForm`;
    ``extra``: the fields one kind of law adds (a library law's ``calibration``, ``unstable``, ``collapse``; a fitted
    form's ``params_ci95``)."""
    return {"schema_version": SCHEMA_VERSION, "form": form.name, "form_version": form.version,
            "form_description": form.description, "formula": form.formula, "runner_up": runner_up,
            "param_names": list(form.param_names), "metric": list(metrics), "params": params, "bootstrap": bootstrap,
            "noise": noise, "domain": domain, "n_items": int(n_items), "data_axis": data_axis,
            "validation": validation, "variants": variants, "default_variant": default_variant, "runs": runs,
            "training_protocol": training_protocol, "provenance": provenance, **extra}


def write_law(path, doc: dict) -> dict:
    """Check ``doc`` against the schema and write it as standard JSON; returns what was written."""
    out = with_nulls_for_non_finite(doc)
    validate_law_document(out, str(path))
    write_json_atomic(path, out, allow_nan=False)
    return out
