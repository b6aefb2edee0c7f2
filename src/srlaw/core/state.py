"""Reading back what srlaw wrote to resume from: a damaged file is named, with how to recover, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

from srlaw.core.errors import DataError


def read_state(path: str | os.PathLike, keys=()) -> dict:
    """A JSON object srlaw wrote to resume from (a plan, scores, a run's metrics), or :class:`DataError` naming
    the file and how to recover when it is damaged or lacks one of ``keys``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DataError(f"{path}: damaged ({type(e).__name__}); delete it and run again to recompute it") from None
    missing = [k for k in keys if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise DataError(f"{path}: damaged (no {missing[0]!r}); delete it and run again to recompute it")
    return doc
