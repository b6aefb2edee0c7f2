"""The typed configuration: every field of params.yaml refuses a wrong type and an out-of-range value with one line
that names the file and the key, before any stage does work."""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from srlaw.cli import main
from srlaw.data.settings import DataConfig, EntropyConfig, VariantConfig
from srlaw.law.settings import LawConfig
from srlaw.pipeline.params import ExportConfig, GridConfig, load_params, params_from_dict
from srlaw.train.settings import JPQSettings, ModelSettings, TrainConfig
from srlaw.core.errors import ParamsError
from srlaw.train.recipes import recipe

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "params.yaml").read_text())

# section of params.yaml -> (dataclass, where its fields sit in the document)
SECTIONS = {"data": (DataConfig, ("data",)), "variants.full": (VariantConfig, ("variants", "full")),
            "entropy": (EntropyConfig, ("entropy",)), "train": (ModelSettings, ("train",)),
            "train ": (TrainConfig, ("train",)), "train.jpq": (JPQSettings, ("train", "jpq")), "grid": (GridConfig, ("grid",)), "law": (LawConfig, ("law",)),
            "export": (ExportConfig, ("export",))}

WRONG_TYPE = {"int": "3", "float": "x", "str": 5, "bool": "yes", "list[int]": ["a"], "list[str]": [1],
              "dict[str, str]": "x", "str | int": 1.5, "float | None": "x", "int | None": 2.5,
              "bool | None": "maybe", "str | dict": 5, "JPQSettings": 5}

OUT_OF_RANGE = {
    "data.source": "", "data.format": "parquet", "data.columns": {"user": "u", "colour": "c"},
    "data.delimiter": ";;", "data.kcore": -1, "data.min_user_interactions": 2,
    "variants.full.user_fraction": 0.0, "variants.full.last_items": 2, "variants.full.noise": 1.0,
    "entropy.m": 0, "entropy.r": -1.0, "entropy.window": 1,
    "train.backbone": "rnn", "train.max_len": 1, "train.n_heads": 0, "train.dropout": 1.0, "train.ffn_mult": 0,
    "train.item_embedding": "hashed", "train.jpq.n_splits": 0, "train.jpq.n_centroids": 1,
    "train.jpq.assignment": "kmeans", "train.block": "post_ln", "train.activation": "tanh", "train.init": "zeros",
    "train.warmup_epochs": -1.0, "train.lr_schedule": "cosine",
    "train.batch_size": 0, "train.lr": -1.0, "train.weight_decay": -0.1, "train.max_epochs": 0, "train.patience": 0,
    "train.loss": "bpr", "train.n_negatives": 0, "train.eval_batch_size": 0, "train.precision": "fp7",
    "train.accelerator": "quantum", "train.devices": 0, "train.strategy": "", "train.num_nodes": 0,
    "train.num_workers": -1, "train.val_check_interval_epochs": 0, "train.max_minutes": 0.0,
    "grid.variants": ["nope"], "grid.n_layers": [0], "grid.d_model": [0],
    "law.metrics": ["auc@10"], "law.split": "train", "law.forms": ["cubic"], "law.data_score": "",
    "law.holdout_fraction": 2.0, "law.huber_delta": 0.0, "law.n_starts": 0, "law.n_bootstrap": -1,
    "export.variant": "nope", "export.reference": {"n_layers": 9, "d_model": 16}, "export.parity_rows": 0,
    "export.latency_batch": 0, "export.latency_repeats": 0,
}


def _cases(kind):
    for section, (cls, path) in SECTIONS.items():
        for f in fields(cls):
            if f.name == "seed":  # the top-level seed feeds the trainer's; tested on its own
                continue
            key = ".".join(path + (f.name,))
            if kind == "type":
                yield pytest.param(path, f.name, WRONG_TYPE[str(f.type)], key, id=f"type-{key}")
            elif key in OUT_OF_RANGE:
                yield pytest.param(path, f.name, OUT_OF_RANGE[key], key, id=f"range-{key}")


def _with(path, name, value) -> dict:
    doc = copy.deepcopy(BASE)
    node = doc
    for part in path:
        node = node.setdefault(part, {})
    node[name] = value
    return doc


@pytest.mark.parametrize("path,name,value,key", list(_cases("type")) + list(_cases("range")))
def test_every_field_refuses_a_bad_value_naming_file_and_key(path, name, value, key):
    with pytest.raises(ParamsError) as err:
        params_from_dict(_with(path, name, value), "params.yaml")
    message = str(err.value)
    assert message.startswith(f"params.yaml: {key}") and "\n" not in message, message
    assert "expected" in message


def test_every_checked_field_has_an_out_of_range_case():
    checked = {".".join(path + (f.name,)) for cls, path in SECTIONS.values() for f in fields(cls)
               if f.metadata.get("ok") is not None and f.name != "seed"}
    assert checked <= set(OUT_OF_RANGE), sorted(checked - set(OUT_OF_RANGE))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True])
def test_non_finite_and_boolean_numbers_refused(value):
    with pytest.raises(ParamsError, match=r"params.yaml: train.lr = .*: expected a number > 0"):
        params_from_dict(_with(("train",), "lr", value))


@pytest.mark.parametrize("doc_change,message", [
    (lambda d: d.update(extra=1), "params.yaml: extra: unknown key"),
    (lambda d: d["law"].update(hold_out=0.2), "params.yaml: law.hold_out: unknown key; expected one of metrics"),
    (lambda d: d["train"].update(n_items=10), "params.yaml: train.n_items: unknown key"),
    (lambda d: d["data"].pop("source"), "params.yaml: data.source: missing"),
    (lambda d: d.update(seed=-1), "params.yaml: seed = -1"),
    (lambda d: d["grid"].update(d_model=[16, 30]) or d["train"].update(n_heads=4),
     "params.yaml: grid.d_model = \\[16, 30\\]: expected multiples of train.n_heads \\(4\\); 30 is not"),
    (lambda d: d["train"].update(item_embedding="jpq", jpq={"n_splits": 32}),
     "params.yaml: grid.d_model = \\[16, 32, 64\\]: expected multiples of train.jpq.n_splits \\(32\\); 16 is not"),
    (lambda d: d["train"].update(jpq={"centroids": 16}), "params.yaml: train.jpq.centroids: unknown key"),
    (lambda d: d["data"].update(columns="user"), "params.yaml: data.columns = 'user'"),
    (lambda d: d.update(variants=[1]), "params.yaml: variants = \\[1\\]: expected a mapping"),
])
def test_unknown_missing_and_inconsistent_keys(doc_change, message):
    doc = copy.deepcopy(BASE)
    doc_change(doc)
    with pytest.raises(ParamsError, match=message):
        params_from_dict(doc, "params.yaml")


def test_defaults_live_in_one_place_and_the_file_parses():
    p = load_params(ROOT / "params.yaml")
    assert p.train.model.max_len == BASE["train"]["max_len"] == 32
    assert p.train.train.seed == p.seed == BASE["seed"]
    assert p.train.train.weight_decay == TrainConfig().weight_decay  # not in params.yaml: the dataclass default
    assert isinstance(p.train.train.lr, float)
    assert p.to_dict()["train"]["lr"] == BASE["train"]["lr"]


def test_cli_refuses_bad_params_before_touching_a_checkpoint(tmp_path, monkeypatch, capsys):
    doc = _with(("train",), "lr", -1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(doc))
    ckpt = tmp_path / "runs" / "full-1-16" / "checkpoints"
    ckpt.mkdir(parents=True)
    for name in ("best.ckpt", "last.ckpt", "config.json"):
        (ckpt / name).write_text("finished run")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--variant", "full", "--n-layers", "1", "--d-model", "16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["srlaw train: error: params.yaml: train.lr = -1: expected a number > 0"]
    assert sorted(p.name for p in ckpt.iterdir()) == ["best.ckpt", "config.json", "last.ckpt"]
    assert (ckpt / "best.ckpt").read_text() == "finished run"


def test_the_library_recipe_does_not_move_with_the_defaults():
    """The law library's stored runs were trained with these values, and its recipe inherits every key it does not
    name: a changed model or training default must not change what ``--recipe library`` trains. If this fails after
    changing a default, name the old value in ``srlaw.train.recipes.RECIPES['library']`` (and retrain nothing)."""
    r = recipe("library").to_dict()
    trains = {k: r[k] for k in ("backbone", "max_len", "n_heads", "dropout", "ffn_mult", "block", "activation",
                                "init", "scale_embedding", "attention_dropout", "item_embedding", "batch_size", "lr",
                                "weight_decay", "warmup_epochs", "lr_schedule", "max_epochs", "patience", "loss",
                                "precision", "deterministic")}
    assert trains == {"backbone": "sasrec", "max_len": 50, "n_heads": 1, "dropout": 0.3, "ffn_mult": 1,
                      "block": "original", "activation": "relu", "init": "normal", "scale_embedding": True,
                      "attention_dropout": True, "item_embedding": "full", "batch_size": 128, "lr": 0.002,
                      "weight_decay": 0.0, "warmup_epochs": 1.0, "lr_schedule": "constant", "max_epochs": 150,
                      "patience": 4, "loss": "full", "precision": "auto", "deterministic": True}
