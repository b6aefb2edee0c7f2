"""Hardening, as an attacker and a careless user would try it: what must not get in, be served, or be lost.

Each table is one area; every row is a case that was seen to slip through before and now gets a clear error (the
field, file or argument named) or a documented behaviour. Readers, the ONNX serving contract and the resumed run
have their tables in test_readers.py, test_onnx_export.py and test_training.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from srlaw.core.atomic import atomic_directory, write_json_atomic
from srlaw.cli import main
from srlaw.core.errors import LawFitError
from srlaw.law.forms import get_form
from srlaw.core.atomic import with_nulls_for_non_finite
from srlaw.law.schema import write_law
from srlaw.predictor import Law, LawFileError, LawInputError, LawIntegrityError, LawSchemaError
from srlaw.predictor.latency import fit_latency_model
from srlaw.core.provenance import file_entry

THETA = {"p_max": 0.5, "a": -2.5, "b": 0.15, "c": 0.3, "e": 0.1, "k": 2e-7}


def law_doc(form="logistic", theta=None) -> dict:
    f = get_form(form)
    theta = theta or THETA
    rng = np.random.default_rng(0)
    boot = [[v * (1 + 0.01 * rng.standard_normal()) for v in theta.values()] for _ in range(10)]
    return {"schema_version": "1.0", "form": form, "form_version": 1, "metric": ["ndcg@10"],
            "param_names": list(f.param_names), "params": {"ndcg@10": dict(theta)},
            "bootstrap": {"ndcg@10": boot}, "noise": {"ndcg@10": {"sigma": 0.001}},
            "domain": {"n_layers": [1.0, 3.0], "d_model": [16.0, 64.0], "data": [1000.0, 1000.0]},
            "data_axis": {"score": "markov_ndcg@10"}, "variants": {"full": {"data": 1000.0}},
            "training_protocol": {"train": {"backbone": "sasrec", "max_len": 50, "n_heads": 1, "ffn_mult": 1}}}


def write_folder(folder, doc=None, law_text=None, latency=True, manifest=True):
    """A law folder; ``law_text`` replaces the serialised document (for malformed JSON)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "law.json").write_text(law_text if law_text is not None else json.dumps(doc or law_doc()))
    if latency:
        rows = [{"n_layers": n, "d_model": w, "params_non_embedding": 6 * n * w * w,
                 "latency_ms": 0.1 + 1e-5 * n * w * w} for n in (1, 2, 3) for w in (16, 32, 64)]
        (folder / "latency.json").write_text(json.dumps({"configs": rows, "model": fit_latency_model(rows, 1000),
                                                         "n_items": 1000}))
    if manifest:
        files = {p.name: file_entry(p) for p in folder.iterdir() if p.name != "manifest.json"}
        (folder / "manifest.json").write_text(json.dumps({"files": files}))
    return folder


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- artifacts

def _mutated(change):
    doc = law_doc()
    change(doc)
    return doc


ARTIFACT_CASES = [  # (name, law.json text, error class, fragment)
    ("NaN parameter", json.dumps(law_doc()).replace('"p_max": 0.5', '"p_max": NaN'), LawFileError,
     "NaN is not standard JSON"),
    ("Infinity parameter", json.dumps(law_doc()).replace('"p_max": 0.5', '"p_max": Infinity'), LawFileError,
     "Infinity is not standard JSON"),
    ("null parameter", json.dumps(_mutated(lambda d: d["params"]["ndcg@10"].update(p_max=None))), LawFileError,
     "field params.ndcg@10.p_max = None: expected a finite number in [0, 1]"),
    ("huge parameter", json.dumps(_mutated(lambda d: d["params"]["ndcg@10"].update(a=1e308))), LawFileError,
     "field params.ndcg@10.a = 1e+308: expected a finite number in [-50, 50]"),
    ("duplicate key", json.dumps(law_doc())[:-1] + ', "form": "paper"}', LawFileError, "duplicate key 'form'"),
    ("deep nesting", "[" * 200_000 + "]" * 200_000, LawFileError, "nested deeper than 16 levels"),
    ("moderately deep", json.dumps(_mutated(lambda d: d.update(extra=[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]))),
     LawFileError, "nested deeper than 16 levels"),
    ("missing inner key", json.dumps(_mutated(lambda d: d["domain"].pop("data"))), LawFileError,
     "field domain.data = None"),
    ("list where an object belongs", json.dumps(_mutated(lambda d: d.update(params=[]))), LawFileError,
     "field params.ndcg@10 = None"),
    ("a number as the document", "42", LawFileError, "expected a JSON object, got int"),
    ("bootstrap with a string", json.dumps(_mutated(lambda d: d["bootstrap"]["ndcg@10"][0].__setitem__(0, "x"))),
     LawFileError, "field bootstrap.ndcg@10"),
    ("negative noise", json.dumps(_mutated(lambda d: d["noise"]["ndcg@10"].update(sigma=-1))), LawFileError,
     "field noise.ndcg@10.sigma = -1"),
    ("reversed domain", json.dumps(_mutated(lambda d: d["domain"].update(n_layers=[3, 1]))), LawFileError,
     "field domain.n_layers = [3, 1]"),
    ("unstable size not an integer", json.dumps(_mutated(lambda d: d.update(unstable=[{"n_layers": 4, "d_model": "256"}]))),
     LawFileError, "field unstable = "),
    ("collapse count over its runs", json.dumps(_mutated(lambda d: d.update(
        collapse=[{"n_layers": 4, "d_model": 128, "collapsed": 5, "runs": 3}]))), LawFileError, "field collapse = "),
    ("variant without data", json.dumps(_mutated(lambda d: d["variants"].update(x={}))), LawFileError,
     "field variants.x.data = None"),
    ("unknown form", json.dumps(_mutated(lambda d: d.update(form="cubic"))), LawFileError, "unknown law form 'cubic'"),
    ("newer schema", json.dumps(_mutated(lambda d: d.update(schema_version="2.1"))), LawSchemaError,
     "2.1 is newer than this predictor supports"),
    ("not JSON", "{'form': 'logistic'}", LawFileError, "not readable JSON"),
]


@pytest.mark.parametrize("name,text,error,fragment", ARTIFACT_CASES, ids=[c[0] for c in ARTIFACT_CASES])
def test_malformed_law_is_refused_naming_the_field(tmp_path, name, text, error, fragment):
    folder = write_folder(tmp_path / "law", law_text=text)  # manifest matches: the content check must catch it
    with pytest.raises(error) as e:
        Law.load(folder)
    assert fragment in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_oversized_law_is_refused_before_it_is_read(tmp_path):
    folder = write_folder(tmp_path / "law", law_text=json.dumps(law_doc()) + " " * (17 * 2**20), manifest=False)
    with pytest.raises(LawFileError, match="over the 16,777,216-byte limit"):
        Law.load(folder, verify=False)


def test_integrity_needs_the_manifest_in_the_folder(tmp_path):
    folder = write_folder(tmp_path / "artifacts" / "law")
    Law.load(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(LawIntegrityError, match="law/manifest.json: missing; .*verify=False"):
        Law.load(folder)
    assert Law.load(folder, verify=False).doc["form"] == "logistic"  # an explicit choice, not a silent one
    # a manifest above the folder does not stand in for the missing one (no shadowing either way)
    (tmp_path / "artifacts" / "manifest.json").write_text(json.dumps({"files": {}}))
    with pytest.raises(LawIntegrityError, match="missing"):
        Law.load(folder)


def test_tampered_law_with_its_own_manifest_is_caught_by_the_pin(tmp_path):
    folder = write_folder(tmp_path / "law")
    pinned = digest(folder / "manifest.json")
    assert Law.load(folder, sha256=pinned).doc["params"]["ndcg@10"]["p_max"] == 0.5
    # an attacker who can write the folder rewrites law.json and the manifest consistently
    write_folder(folder, doc=_mutated(lambda d: d["params"]["ndcg@10"].update(p_max=0.9)))
    assert Law.load(folder).doc["params"]["ndcg@10"]["p_max"] == 0.9  # unsigned manifest: consistent, so it loads
    with pytest.raises(LawIntegrityError, match="is not the pinned"):
        Law.load(folder, sha256=pinned)
    with pytest.raises(LawIntegrityError, match="cannot be combined with verify=False"):
        Law.load(folder, sha256=pinned, verify=False)


def test_one_tampered_or_unlisted_file_is_refused(tmp_path):
    folder = write_folder(tmp_path / "law")
    (folder / "law.json").write_text(json.dumps(_mutated(lambda d: d["params"]["ndcg@10"].update(p_max=0.9))))
    with pytest.raises(LawIntegrityError, match="does not match"):
        Law.load(folder)
    folder = write_folder(tmp_path / "law2", latency=False)
    write_folder(folder, latency=True, manifest=False)  # latency.json appears after the manifest was written
    with pytest.raises(LawIntegrityError, match="latency.json: not listed"):
        Law.load(folder)


def test_fit_writes_standard_json_only(tmp_path):
    doc = {"validation": {"x": {"mape": float("inf"), "median_ape": float("nan")}}, "ok": 1.5}
    out = with_nulls_for_non_finite(doc)
    assert out["validation"]["x"] == {"mape": None, "median_ape": None} and out["ok"] == 1.5
    assert out["non_finite_as_null"] == ["validation.x.mape: inf", "validation.x.median_ape: nan"]
    text = json.dumps(out, allow_nan=False)  # would raise on a non-finite number
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))
    with pytest.raises(LawFitError, match="field \\(top level\\): 'schema_version' is a required property"):
        write_law(tmp_path / "law.json", {"validation": {}})
    assert not (tmp_path / "law.json").exists()


# ---------------------------------------------------------------- predict / advise

@pytest.fixture
def law(tmp_path):
    return Law.load(write_folder(tmp_path / "law"))


BAD_SIZES = [  # (n_layers, d_model, data, fragment)
    (float("nan"), 32, 1000.0, "n_layers must be finite"),
    (None, 32, 1000.0, "n_layers must be a number"),
    (float("inf"), 32, 1000.0, "n_layers must be finite"),
    ("2", 32, 1000.0, "n_layers must be a number"),
    (True, 32, 1000.0, "n_layers must be a number"),
    (2, [32, -1], 1000.0, "d_model must be positive"),
    (2, 32, float("nan"), "the data value must be finite"),
    (2, 32, "1000", "the data value must be a number"),
    (np.ones(2_000_001), 32, 1000.0, "over the limit of 1,000,000"),
    ([1, 2], [16, 32, 64], 1000.0, "do not broadcast"),
]


@pytest.mark.parametrize("n_layers,d_model,data,fragment", BAD_SIZES)
def test_predict_refuses_bad_numbers(law, n_layers, d_model, data, fragment):
    with pytest.raises(LawInputError, match=fragment):
        law.predict(n_layers, d_model, data=data, warn=False)


def test_predictions_of_a_rate_are_clipped_and_flagged(tmp_path):
    # the paper's unbounded form, far outside its domain, leaves [0, 1]
    theta = {"w1": 0.5, "w2": 0.0, "w3": 1.0, "w4": 1.0, "w5": 0.1, "p1": 0.0, "p2": -14.375}
    law = Law.load(write_folder(tmp_path / "law", doc=law_doc("paper", theta)))
    p = law.predict([2, 1e6], [32, 32], data=1000.0, warn=False)
    raw = get_form("paper").predict(theta, 1e6, 32, 1000.0)
    assert 0 < p.value[0] < 0.1 and raw > 1 and p.value[1] == 1.0 and p.upper[1] <= 1.0 and p.clipped.tolist() == [False, True]
    assert "clipped to [0, 1]" in p.reasons[1] and "n_layers outside" in p.reasons[1]
    assert 0 <= p.lower.min() and p.to_dict()["clipped"] == [False, True]


def test_prediction_memory_is_bounded(law):
    """A million points with intervals: the bootstrap is evaluated in chunks, not as one refits × points array."""
    n = 1_000_000
    p = law.predict(np.full(n, 2.0), np.full(n, 32.0), data=1000.0, warn=False)
    assert p.value.shape == (n,) and np.all(p.lower <= p.value) and np.all(p.value <= p.upper)


BAD_ADVICE = [  # (kwargs, fragment)
    ({"budget": {"params": float("nan")}}, "budget params must be a finite number > 0"),
    ({"budget": {"params": -5}}, "budget params must be a finite number > 0"),
    ({"budget": {"latency_ms": True}}, "budget latency_ms must be a finite number > 0"),
    ({"budget": {"params": "5e6"}}, "budget params must be a finite number > 0"),
    ({"target": {"ndcg@10": float("nan")}}, "target ndcg@10 must be a rate in \\[0, 1\\]"),
    ({"target": {"": 0.1}}, "target names no metric"),
    ({"target": {"ndcg@10": 2.0}}, "target ndcg@10 must be a rate in \\[0, 1\\], got 2.0"),
    ({"top": -1}, "top must be an integer >= 1"),
    ({"top": True}, "top must be an integer >= 1"),
    ({"data": float("inf"), "variant": None}, "the data value must be finite"),
]


@pytest.mark.parametrize("kwargs,fragment", BAD_ADVICE)
def test_advise_refuses_bad_budgets_and_targets(law, kwargs, fragment):
    with pytest.raises(LawInputError, match=fragment):
        law.advise(**{"variant": "full", **kwargs})


@pytest.mark.parametrize("argv,fragment", [
    (["--target", "=0.1"], "--target names no metric"),
    (["--top", "-1"], "top must be an integer >= 1"),
    (["--max-params", "-5"], "budget params must be a finite number > 0"),
    (["--max-latency-ms", "nan"], "budget latency_ms must be a finite number > 0"),
    (["--sha256", "0" * 64], "is not the pinned"),
])
def test_advise_cli_refuses_in_one_line(tmp_path, capsys, argv, fragment):
    folder = write_folder(tmp_path / "law")
    assert main(["advise", "--law", str(folder), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_advise_cli_accepts_the_right_pin(tmp_path, capsys):
    folder = write_folder(tmp_path / "law")
    assert main(["advise", "--law", str(folder), "--sha256", digest(folder / "manifest.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ranked"]


# ---------------------------------------------------------------- files: readable by others, nothing half written

def test_artifacts_are_readable_by_other_users(tmp_path):
    old = os.umask(0o077)  # a strict umask must not make artifacts private
    try:
        write_json_atomic(tmp_path / "a" / "law.json", {"x": 1})
        with atomic_directory(tmp_path / "data") as d:
            (d / "f").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a" / "law.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o755


def test_a_write_killed_midway_loses_nothing_and_leaves_nothing(tmp_path):
    target = tmp_path / "law.json"
    write_json_atomic(target, {"version": 1})
    script = textwrap.dedent(f"""
        import os
        from srlaw.core import atomic as atomic_write
        os.replace = lambda *a: os._exit(9)   # killed after the data is written, before the rename
        atomic_write.write_json_atomic({str(target)!r}, {{"version": 2}})
    """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    assert json.loads(target.read_text()) == {"version": 1}  # the previous artifact is intact
    assert [p.name for p in tmp_path.glob(".law.json.*.tmp")]  # SIGKILL runs no cleanup...
    write_json_atomic(target, {"version": 3})
    assert not list(tmp_path.glob(".law.json.*.tmp"))  # ...the next write of that path removes it
    assert json.loads(target.read_text()) == {"version": 3}


def test_the_committed_artifacts_match_their_manifest():
    """artifacts/manifest.json names today's bytes of what it lists — the export stage's and the fit stage's files,
    never the law library's release (artifacts/laws/, rewritten by ``make library`` without a new model)."""
    from pathlib import Path
    from srlaw.core.provenance import sha256_file
    root = Path(__file__).resolve().parents[1] / "artifacts"
    listed = json.loads((root / "manifest.json").read_text())["files"]
    present = {name: entry for name, entry in listed.items() if (root / name).is_file()}  # a clean clone lacks
    assert {"curves.csv", "metrics.json"} <= present.keys()                               # the DVC outputs
    assert not [name for name in listed if name.startswith("laws/")]
    for name, entry in present.items():
        assert sha256_file(root / name) == entry["sha256"], f"artifacts/{name}: not the bytes its manifest names"
