"""The committed artifacts were made by the code beside them: each records srlaw's code hash, and it is today's."""

import json
from pathlib import Path

import pytest

from srlaw.provenance import code_sha256

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ("artifacts/law/law.json", "artifacts/law/manifest.json", "artifacts/manifest.json",
            "artifacts/model/model.json")
HOW = {"pipeline": "run `dvc repro` (the fit and export stages depend on all of src/srlaw)",
       "library": "run `python -m studies.library.release`"}


def recorded(kind: str) -> list[tuple[str, str]]:
    paths = PIPELINE if kind == "pipeline" else \
        sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "artifacts/laws/library").glob("*/manifest.json"))
    return [(p, json.loads((ROOT / p).read_text())["provenance"]["code_sha256"]) for p in paths]


@pytest.mark.parametrize("kind", ["pipeline", "library"])
def test_committed_artifacts_record_todays_code(kind):
    found = recorded(kind)
    assert len(found) >= 4  # the library releases nine laws; the pipeline four files
    stale = [p for p, h in found if h != code_sha256()]
    assert not stale, f"made by other code than src/srlaw's today: {stale}; {HOW[kind]} and commit the result"
