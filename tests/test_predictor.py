"""The numpy-only predictor: loading, integrity, schema versions, predictions, advice, import isolation."""

import json
import subprocess
import sys

import numpy as np
import pytest

from srlaw.law.fit import PerformanceLaw
from srlaw.law.forms import get_form
from srlaw.law.schema import load_schema
from srlaw.predictor import (Law, LawDomainWarning, LawError, LawFileError, LawInputError, LawIntegrityError,
                             LawSchemaError)
from srlaw.predictor.latency import fit_latency_model
from srlaw.core.provenance import file_entry

THETA = [0.5, -2.5, 0.15, 0.3, 0.1, 2e-7]


def make_law_folder(tmp_path, with_manifest=True):
    form = get_form("logistic")
    N, d = (a.ravel().astype(float) for a in np.meshgrid([1, 2, 3], [16, 32, 64]))
    D = np.full(9, 1000.0)
    y = form.predict(THETA, N, d, D) * (1 + 0.01 * np.random.default_rng(0).standard_normal(9))
    law = PerformanceLaw("logistic", n_starts=8, n_bootstrap=20).fit(N, d, D, y)
    doc = {"schema_version": "1.0", "form": "logistic", "form_version": 1, "metric": ["ndcg@10"],
           "param_names": list(form.param_names), "params": {"ndcg@10": dict(zip(form.param_names, law.params_))},
           "bootstrap": {"ndcg@10": law.bootstrap_.tolist()}, "noise": {"ndcg@10": {"sigma": 0.001}},
           "domain": {**law.domain_, "params_non_embedding": [0, 1e9]},
           "data_axis": {"score": "effective_data.apen_mean"}, "variants": {"full": {"data": 1000.0}},
           "training_protocol": {"train": {"backbone": "sasrec", "max_len": 50, "n_heads": 1, "ffn_mult": 1}}}
    configs = [{"n_layers": int(n), "d_model": int(w), "params_non_embedding": int(6 * n * w * w),
                "latency_ms": 0.1 + 1e-5 * n * w * w + 1e-6 * w * 1000} for n in (1, 2, 3) for w in (16, 32, 64)]
    latency = {"n_items": 1000, "configs": configs, "model": fit_latency_model(configs, 1000)}
    folder = tmp_path / "artifacts" / "law"
    folder.mkdir(parents=True)
    (folder / "law.json").write_text(json.dumps(doc))
    (folder / "latency.json").write_text(json.dumps(latency))
    if with_manifest:
        files = {p.name: file_entry(p) for p in folder.iterdir()}
        (folder / "manifest.json").write_text(json.dumps({"files": files}))
    return folder, law


def test_load_predict_matches_fitter(tmp_path):
    folder, fitted = make_law_folder(tmp_path)
    law = Law.load(folder)
    p = law.predict(n_layers=[1, 2], d_model=[16, 64], data=1000.0)
    assert np.allclose(p.value, fitted.predict([1, 2], [16, 64], [1000.0, 1000.0]))  # same formula, no copy
    assert np.all(p.lower < p.value) and np.all(p.value < p.upper) and p.in_domain.all()
    assert law.predict(n_layers=2, d_model=32, variant="full").value == pytest.approx(
        float(fitted.predict(2, 32, 1000.0)))
    assert Law.load(folder / "law.json").doc == law.doc


def test_out_of_domain_flagged_and_warned(tmp_path):
    law = Law.load(make_law_folder(tmp_path)[0])
    with pytest.warns(LawDomainWarning, match="outside the fitted domain"):
        p = law.predict(n_layers=[2, 12], d_model=[32, 32], data=1000.0)
    assert p.in_domain.tolist() == [True, False] and "n_layers outside [1, 3]" in p.reasons[1]


def test_tampered_file_rejected(tmp_path):
    folder, _ = make_law_folder(tmp_path)
    doc = json.loads((folder / "law.json").read_text())
    doc["params"]["ndcg@10"]["p_max"] = 0.9
    (folder / "law.json").write_text(json.dumps(doc))
    with pytest.raises(LawIntegrityError, match="does not match"):
        Law.load(folder)


def test_newer_schema_major_refused(tmp_path):
    folder, _ = make_law_folder(tmp_path, with_manifest=False)
    doc = json.loads((folder / "law.json").read_text())
    doc["schema_version"] = "2.1"
    (folder / "law.json").write_text(json.dumps(doc))
    with pytest.raises(LawSchemaError, match=r"2\.1 is newer than this predictor supports \(1\.0\)"):
        Law.load(folder, verify=False)
    with pytest.raises(LawFileError):
        Law.load(tmp_path / "nowhere")
    assert issubclass(LawSchemaError, LawError) and issubclass(LawIntegrityError, LawError)


def test_advise_target_budget_and_binding(tmp_path):
    law = Law.load(make_law_folder(tmp_path)[0])
    full = law.advise(objective="max", variant="full")
    values = [r["ndcg@10"] for r in full.ranked]
    assert values == sorted(values, reverse=True) and all(r["in_domain"] for r in full.ranked)
    goal = float(np.median(values))
    adv = law.advise(target={"ndcg@10": goal}, budget={"params": 5e5, "latency_ms": 1.0}, variant="full")
    assert adv.ranked and all(r["ndcg@10"] >= goal and r["params_total"] <= 5e5 for r in adv.ranked)
    sizes = [r["params_total"] for r in adv.ranked]
    assert sizes == sorted(sizes)  # cheapest first among those meeting the target
    assert all(r["reasons"] for r in adv.excluded)
    impossible = law.advise(target={"ndcg@10": 0.99}, variant="full")
    assert impossible.ranked == [] and impossible.binding == "target"
    assert impossible.best_achievable["ndcg@10"] == pytest.approx(max(values))
    tight = law.advise(target={"ndcg@10": 0.0}, budget={"params": 10}, variant="full")
    assert tight.binding == "params"
    with pytest.raises(LawInputError, match="unknown budget keys"):
        law.advise(budget={"gpus": 1}, variant="full")
    # a law of one dataset predicts for it without being told; with two, D must be given
    assert law.predict(n_layers=1, d_model=16).value == law.predict(n_layers=1, d_model=16, variant="full").value
    two = Law({**law.doc, "variants": {"a": {"data": 900.0}, "b": {"data": 1000.0}}})
    with pytest.raises(LawInputError, match=r"give the data value .* or variant= \(one of \['a', 'b'\]\)"):
        two.predict(n_layers=1, d_model=16)


def test_latency_model_is_read_from_the_artifact(tmp_path):
    folder, _ = make_law_folder(tmp_path, with_manifest=False)
    law = Law.load(folder, verify=False)
    # measured configurations come back as measured; others from the stored linear model, exact on this linear data
    ms, measured = law.latency_of([2, 4], [32, 32], [6 * 2 * 32 * 32, 6 * 4 * 32 * 32])
    assert measured.tolist() == [True, False]
    assert ms[1] == pytest.approx(0.1 + (1e-5 / 6) * 6 * 4 * 32 * 32 + 1e-6 * 32 * 1000, rel=1e-6)
    lat = json.loads((folder / "latency.json").read_text())
    del lat["model"]
    (folder / "latency.json").write_text(json.dumps(lat))
    with pytest.raises(LawFileError, match="latency.json: no fitted latency model"):
        Law.load(folder, verify=False)


def test_schema_lists_exactly_the_forms():
    from srlaw.law.forms import FORMS
    assert load_schema()["properties"]["form"]["enum"] == list(FORMS)


def test_predictor_imports_with_numpy_only(tmp_path):
    folder, _ = make_law_folder(tmp_path)
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {{'torch', 'lightning', 'pytorch_lightning', 'dvc', 'onnx', 'onnxruntime', 'scipy', 'yaml', 'tqdm'}}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
from srlaw.predictor import Law
law = Law.load({str(folder)!r})
print(round(float(law.predict(n_layers=2, d_model=32, data=1000.0).value), 6))
print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'scipy', 'dvc', 'lightning')))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    value, mods = proc.stdout.strip().splitlines()
    assert float(value) > 0 and mods == "[]"
