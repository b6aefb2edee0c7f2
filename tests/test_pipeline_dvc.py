"""`dvc repro` of the whole pipeline on the embedded data in a temporary copy of the repo; push/pull of artifacts."""

import json
import shutil
from importlib import resources

import jsonschema
import numpy as np
import pytest
import yaml

from srlaw.predictor import Law
from srlaw.core.provenance import sha256_file

pytestmark = pytest.mark.slow


def shrink_params(repo):
    """A tiny grid so the whole pipeline runs in a couple of minutes on 2 cores."""
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["variants"] = {"users25": {"user_fraction": 0.25}, "users50": {"user_fraction": 0.5}}
    p["train"].update({"max_len": 10, "max_epochs": 3, "batch_size": 128, "lr": 0.01})
    p["grid"] = {"variants": ["users25", "users50"], "n_layers": [1, 2, 3], "d_model": [8, 16, 32]}
    p["law"].update({"forms": ["logistic", "paper_script"], "n_starts": 4, "n_bootstrap": 5})
    p["export"].update({"variant": "users25", "latency_repeats": 5, "parity_rows": 64})
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    dvc = (repo / "dvc.yaml").read_text()
    for name in ("full", "last50", "noise20"):  # foreach lists follow the variants kept
        dvc = dvc.replace(f"      - {name}\n", "")
    (repo / "dvc.yaml").write_text(dvc)


def tracked_outputs(repo) -> dict:
    """sha256 of every output a git user commits (cache: false) and of dvc.lock."""
    art = repo / "artifacts"
    paths = [repo / "dvc.lock", art / "curves.csv", art / "metrics.json", art / "manifest.json",
             *sorted((art / "law").rglob("*.*")), *sorted((repo / "data" / "scores").rglob("entropy.json"))]
    return {str(p.relative_to(repo)): sha256_file(p) for p in paths}


def test_dvc_repro_produces_every_artifact_and_push_pull(repo_copy, tmp_path, dvc):
    shrink_params(repo_copy)
    shutil.rmtree(repo_copy / ".dvc" / "cache", ignore_errors=True)
    shutil.rmtree(repo_copy / ".dvc" / "tmp", ignore_errors=True)
    # the project's .dvc (its plot templates) without git: what `dvc init --no-scm` would write
    (repo_copy / ".dvc" / "config").write_text("[core]\n    no_scm = True\n    analytics = false\n")
    dvc(["repro"], repo_copy, timeout=1200)
    committed = tracked_outputs(repo_copy)

    # a finished run forced to run again trains afresh (restoring its final state would log no curves and
    # leave the plots output missing) and, with fixed seeds, reproduces itself
    run = repo_copy / "runs" / "users25-1-8"
    before = json.loads((run / "metrics.json").read_text())
    dvc(["repro", "-f", "-s", "train@users25-1-8"], repo_copy, timeout=300)
    after = json.loads((run / "metrics.json").read_text())
    assert not json.loads((run / "run.json").read_text())["resumed"] and after["epochs"] == before["epochs"]
    assert after == before  # what the run found is a function of its inputs: same bytes, same dvc.lock
    # fit and export forced too: every git-tracked output keeps its bytes (`make repro` leaves git clean);
    # latency (measured, noisy) is its own stage, which a retrain does not touch
    dvc(["repro", "-f", "-s", "fit"], repo_copy, timeout=300)
    dvc(["repro", "-f", "-s", "export"], repo_copy, timeout=300)
    status = dvc(["status", "--json", "dvc.yaml"], repo_copy).stdout  # the pipeline (studies have their own)
    assert json.loads(status) == {}, status
    assert tracked_outputs(repo_copy) == committed
    assert any((run / "dvclive" / "plots" / "metrics").rglob("*.tsv"))
    assert json.loads((run / "checkpoints" / "config.json").read_text())["finished"] is True

    art = repo_copy / "artifacts"
    law_doc = json.loads((art / "law" / "law.json").read_text())
    schema = json.loads(resources.files("srlaw.law").joinpath("schemas/law.schema.json").read_text())
    jsonschema.validate(law_doc, schema)
    for metric in ("hr@10", "ndcg@10"):
        se = law_doc["validation"]["scale_extrapolation"][metric]
        assert 0 <= se["mape"] and se["max_abs_error"] >= 0 and se["n"] > 0
    assert set(law_doc["variants"]) == {"users25", "users50"}
    prepared = json.loads((repo_copy / "data" / "prepared" / "users25" / "stats.json").read_text())
    assert law_doc["variants"]["users25"]["content_hash"] == prepared["content_hash"]
    for png in ("observed_vs_predicted", "metric_vs_depth", "metric_vs_width", "residuals"):
        assert (art / "law" / "plots" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Held-out validation" in (art / "law" / "report.md").read_text()

    manifest = json.loads((art / "manifest.json").read_text())
    law_manifest = json.loads((art / "law" / "manifest.json").read_text())  # the law's own: what Law.load checks
    assert {"model/model.onnx", "model/model.json", "model/item_map.npy", "metrics.json",
            "curves.csv"} == set(manifest["files"])
    assert {"law.json", "latency.json", "report.md"} <= set(law_manifest["files"])
    for folder, m in ((art, manifest), (art / "law", law_manifest)):
        for rel, entry in m["files"].items():
            assert sha256_file(folder / rel) == entry["sha256"] and (folder / rel).stat().st_size == entry["bytes"]

    model = json.loads((art / "model" / "model.json").read_text())
    assert model["parity"]["max_abs_diff"] <= 1e-4 and model["parity"]["top10_identical"]
    import onnxruntime as ort
    sess = ort.InferenceSession(str(art / "model" / "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert inp.name == "item_ids" and inp.type == "tensor(int64)" and out.name == "scores"
    scores = sess.run(None, {"item_ids": np.array([[0, 0, 3, 5]], dtype=np.int64)})[0]
    assert scores.shape == (1, model["n_items"] + 1) and np.isneginf(scores[0, 0])
    # no item: the training popularity stored at export (the serving contract in model.json)
    empty = sess.run(None, {"item_ids": np.zeros((1, 0), dtype=np.int64)})[0][0]
    assert "popularity" in model["input"]["no_item"] and empty[1:].sum() == pytest.approx(1.0, rel=1e-5)

    # every run's validation curve, overlaid by the `curves` template
    curves = json.loads(dvc(["plots", "show", "--json"], repo_copy).stdout)["data"]["artifacts/curves.csv"][0]
    rows = curves["content"]["data"]["values"]
    assert {r["run"] for r in rows} == {f"{v}-{n}-{d}" for v in ("users25", "users50") for n in (1, 2, 3)
                                        for d in (8, 16, 32)}
    assert curves["content"]["encoding"]["color"]["field"] == "run"  # one line per run

    law = Law.load(art / "law")  # the manifest beside it is verified
    assert law.predict(n_layers=2, d_model=16, variant="users50").value > 0

    shown = json.loads(dvc(["metrics", "show", "--json"], repo_copy).stdout)
    compact = json.loads((art / "metrics.json").read_text())
    assert set(compact) == {"law", "reference_model"}  # one small file, not 18 runs × 60 columns
    assert compact["law"]["heldout_mape_ndcg@10"] == law_doc["validation"]["scale_extrapolation"]["ndcg@10"]["mape"]
    assert compact["reference_model"]["test_ndcg@10"] == model["metrics"]["test"]["ndcg@10"]
    assert "heldout_mape_ndcg@10" in json.dumps(shown) and "runs/" not in json.dumps(shown)

    # the artifacts travel through a DVC remote (a local folder here; S3 for teams, see README)
    remote = tmp_path / "remote"
    dvc(["remote", "add", "-d", "local", str(remote)], repo_copy)
    dvc(["push"], repo_copy)
    onnx_sha = manifest["files"]["model/model.onnx"]["sha256"]
    shutil.rmtree(art / "model")
    shutil.rmtree(repo_copy / ".dvc" / "cache")
    dvc(["pull", "export"], repo_copy)
    assert sha256_file(art / "model" / "model.onnx") == onnx_sha
