"""The committed artifacts were made by the code beside them (each records srlaw's code hash: today's), and each
artifact folder has one producer."""

import json
from pathlib import Path

import pytest

from srlaw.core.provenance import code_sha256

ROOT = Path(__file__).resolve().parents[1]
# what git holds of the pipeline's artifacts (the model files live in the DVC cache; the manifest pins them)
PIPELINE = ("artifacts/law/law.json", "artifacts/law/manifest.json", "artifacts/manifest.json")
HOW = {"pipeline": "run `dvc repro` (the fit and export stages depend on all of src/srlaw)",
       "library": "run `dvc repro library/dvc.yaml` (make library)"}


def recorded(kind: str) -> list[tuple[str, str]]:
    paths = PIPELINE if kind == "pipeline" else \
        sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "artifacts/laws/library").glob("*/manifest.json"))
    return [(p, json.loads((ROOT / p).read_text())["provenance"]["code_sha256"]) for p in paths]


@pytest.mark.parametrize("kind", ["pipeline", "library"])
def test_committed_artifacts_record_todays_code(kind):
    found = recorded(kind)
    assert len(found) >= 3  # the library releases a law per dataset; the pipeline's three files
    stale = [p for p, h in found if h != code_sha256()]
    assert not stale, f"made by other code than src/srlaw's today: {stale}; {HOW[kind]} and commit the result"


def test_each_artifact_folder_has_one_producer_and_the_fit_stage_depends_on_what_it_hashes():
    import yaml
    study = yaml.safe_load((ROOT / "studies/real_data/dvc.yaml").read_text())
    grids = yaml.safe_load((ROOT / "studies/real_data/params.yaml").read_text())["grids"]
    outs = {next(iter(o)) if isinstance(o, dict) else o for o in study["stages"]["report"]["outs"]}
    # a rerun of the study deletes its outputs first: never the library's index or laws (make library's)
    assert {o for o in outs if o.startswith("artifacts/laws")} == {f"artifacts/laws/{g.replace('/', '_')}"
                                                                 for g in grids}
    fit = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["fit"]["deps"]
    assert {"src/srlaw", "artifacts/laws/index.json"} <= set(fit)


def test_the_library_release_is_up_to_date_with_its_run_store():
    """`dvc status` of the library's pipeline: the released laws and reports are those of the committed store and
    code (a store changed after a release, or a release by hand, shows here)."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = Path(sys.executable).parent / "dvc"
    proc = subprocess.run([str(dvc), "status", "--json", "library/dvc.yaml"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout or "{}") == {}, f"library/dvc.yaml is stale: {proc.stdout}; run make library"
