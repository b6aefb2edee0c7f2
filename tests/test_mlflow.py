"""Laws in a real MLflow store (sqlite) and registry: logged verified, loaded back with the same numbers, served
over HTTP on loopback; ONNX Runtime providers checked, a silent fallback named."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest

from srlaw.cli import main
from srlaw.predictor import Law

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_LAW = ROOT / "artifacts" / "law"
LIBRARY_LAW = ROOT / "artifacts" / "laws" / "library" / "lastfm-s3rec"


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """An exported model folder (model.onnx + model.json) of a tiny SASRec: a clean checkout has no
    artifacts/model (DVC keeps it, not git; `make repro` writes it)."""
    from srlaw.train.models import ModelConfig, SequentialRecommender
    from srlaw.train.onnx_export import export_onnx
    out = tmp_path / "model"
    model = SequentialRecommender(ModelConfig(n_items=40, max_len=8, n_layers=1, d_model=8).validate()).eval()
    export_onnx(model, out / "model.onnx")
    (out / "model.json").write_text(json.dumps({"n_items": 40, "input": {"max_seq": 8}}))  # no run: no checkpoint
    return out


@pytest.fixture
def store(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the MLflow extra: pip install -e '.[mlflow]' (make venv has it)")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # artifacts land in ./mlruns of the test's folder
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("Default")  # a fresh store: forget an experiment an earlier test made active
    yield mlflow, uri
    if mlflow.active_run():
        mlflow.end_run()


def test_a_law_logged_registered_and_loaded_back_predicts_what_law_load_does(store, model_dir):
    mlflow, _ = store
    import pandas as pd
    from srlaw.integrations.mlflow import log_law
    info = log_law(PIPELINE_LAW, registered_model_name="srlaw-law", onnx_path=model_dir / "model.onnx")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("srlaw-law", "champion", info.registered_model_version)
    model = mlflow.pyfunc.load_model("models:/srlaw-law@champion")
    law = Law.load(PIPELINE_LAW)
    table = pd.DataFrame({"n_layers": [1, 2, 3], "d_model": [16, 64, 128], "data": [0.05, 0.05, 0.049]})
    got = model.predict(table)
    for metric in law.doc["metric"]:
        p = law.predict(table["n_layers"].to_numpy(), table["d_model"].to_numpy(), metric=metric,
                        data=table["data"].to_numpy(), warn=False)
        key = metric.replace("@", "_at_")
        assert np.array_equal(got[key].to_numpy(), p.value) and np.array_equal(got[f"{key}_upper"], p.upper)
        assert got[f"{key}_in_domain"].tolist() == list(p.in_domain)
    run = mlflow.get_run(info.run_id)
    pinned = hashlib.sha256((PIPELINE_LAW / "manifest.json").read_bytes()).hexdigest()
    assert run.data.tags["srlaw.manifest_sha256"] == pinned
    assert run.data.metrics["ndcg_at_10.heldout_mape"] == pytest.approx(
        law.doc["validation"]["scale_extrapolation"]["ndcg@10"]["mape"])
    onnx_model = mlflow.onnx.load_model(run.data.tags["srlaw.onnx_model_uri"])  # the reference model beside it
    assert onnx_model.graph.input[0].name == "item_ids"


def test_a_tampered_law_is_refused_before_anything_is_logged(store, tmp_path):
    mlflow, _ = store
    from srlaw.core.errors import SrlawError
    from srlaw.integrations.mlflow import log_law
    bad = tmp_path / "law"
    shutil.copytree(LIBRARY_LAW, bad)
    doc = json.loads((bad / "law.json").read_text())
    doc["params"]["ndcg@10"]["w"] = 1.0
    (bad / "law.json").write_text(json.dumps(doc))
    with pytest.raises(SrlawError, match="manifest"):
        log_law(bad, registered_model_name="tampered")
    assert mlflow.search_runs(search_all_experiments=True).empty


def test_the_cli_logs_a_library_law_with_an_alias(store, capsys):
    mlflow, uri = store
    assert main(["mlflow", "log", "--law", str(LIBRARY_LAW), "--tracking-uri", uri, "--registered-model", "music",
                 "--alias", "champion", "--experiment", "laws"]) == 0
    assert "registered 'music' version 1 as @champion" in capsys.readouterr().out
    version = mlflow.MlflowClient().get_model_version_by_alias("music", "champion")
    assert str(version.version) == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_models_serve_answers_a_request_on_loopback(store):
    mlflow, uri = store
    from srlaw.integrations.mlflow import log_law
    log_law(LIBRARY_LAW, registered_model_name="served")
    port = _free_port()
    env = dict(os.environ, MLFLOW_TRACKING_URI=uri)
    cli = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen([str(cli), "models", "serve", "-m", "models:/served/1", "--env-manager", "local",
                               "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "the scoring server did not come up in 120 s"
                time.sleep(0.5)
        body = json.dumps({"dataframe_split": {"columns": ["n_layers", "d_model"], "data": [[2, 128]]}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        row = answer["predictions"][0]
        assert row["ndcg_at_10"] == pytest.approx(float(Law.load(LIBRARY_LAW).predict(2, 128).value), rel=1e-12)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_a_silent_provider_fallback_is_named_and_refused_when_a_gpu_is_required():
    from srlaw.train.models import ModelConfig, SequentialRecommender
    from srlaw.train.onnx_export import ProviderFallback, onnx_bytes, ort_session
    model = SequentialRecommender(ModelConfig(n_items=30, max_len=8, n_layers=1, d_model=8).validate()).eval()
    data = onnx_bytes(model)
    asked = ["CUDAExecutionProvider", "CPUExecutionProvider"]  # a CPU build cannot run CUDA: it falls back
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine's ONNX Runtime has CUDA: no fallback to provoke")
    with pytest.warns(RuntimeWarning, match="asked for CUDAExecutionProvider and runs on CPUExecutionProvider"):
        session = ort_session(data, providers=asked)
    assert session.get_providers()[0] == "CPUExecutionProvider"
    with pytest.raises(ProviderFallback):
        ort_session(data, providers=asked, require_gpu=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ort_session(data)  # what srlaw asks for by default runs as asked: no warning


def test_check_onnx_names_the_provider_parity_and_latency(capsys, model_dir):
    assert main(["check-onnx", "--model", str(model_dir), "--repeats", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["running"] == out["providers"][0] and out["latency_batch1"]["provider"] == out["running"]
    assert out["parity_vs_cpu"]["max_abs_diff"] <= 1e-4 and out["ok"]
    assert "parity_vs_torch" not in out  # no checkpoint of the run here: said, not faked
    assert main(["check-onnx", "--model", str(model_dir), "--require-gpu"]) == (
        0 if "CUDAExecutionProvider" in out["available"] else 2)
