"""`srlaw distill`: a student learns from a trained teacher — the losses, the run folder, resuming, ONNX, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from srlaw.cli import main
from srlaw.train.distill import DistillConfig, DistillModule, default_layers_map
from srlaw.train.losses import sequence_loss
from srlaw.train.settings import ModelConfig, TrainConfig
from srlaw.train.trainer import train_run

ROOT = Path(__file__).resolve().parents[1]
N_ITEMS = 40


def _log(path: Path, seed: int, users: int = 240, length: int = 14) -> Path:
    """A SASRec-format log: each user walks i -> i+1 from a random start, a fifth of the steps random."""
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, users + 1):
        seq = (rng.integers(0, N_ITEMS) + np.arange(length)) % N_ITEMS + 1
        noisy = rng.random(length) < 0.2
        seq[noisy] = rng.integers(1, N_ITEMS + 1, noisy.sum())
        lines += [f"{u} {i}" for i in seq]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A 2 × 32 teacher trained by `srlaw run` (its folder keeps its prepared data)."""
    root = tmp_path_factory.mktemp("teacher")
    log = _log(root / "log.txt", 0)
    assert main(["run", "--input", str(log), "--format", "sasrec", "--n-layers", "2", "--d-model", "32",
                 "--max-minutes", "0.3", "--out", str(root / "run")]) == 0
    return root


def test_the_layer_map_pairs_the_last_layers():
    assert default_layers_map(2, 4) == (2, 4)
    assert default_layers_map(1, 4) == (4,)
    assert default_layers_map(3, 4) == (1, 3, 4)
    assert DistillConfig().check(2, 4).layers_map == (2, 4)
    with pytest.raises(Exception, match="--layers-map 1,5: expected 2 teacher layers"):
        DistillConfig(layers_map=(1, 5)).check(2, 4)
    with pytest.raises(Exception, match="--alpha 2"):
        DistillConfig(alpha=2).check(2, 4)


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")  # a step called outside a Trainer
def test_without_the_teacher_the_loss_is_the_plain_loss_and_a_copy_of_the_teacher_learns_nothing_new(teacher):
    run = teacher / "run"
    m = json.loads((run / "metrics.json").read_text())
    cfg = {k: m[k] for k in ModelConfig.__dataclass_fields__ if k in m and k != "jpq"}
    torch.manual_seed(0)
    x = torch.randint(1, N_ITEMS + 1, (8, 10))
    y = torch.randint(0, N_ITEMS + 1, (8, 10))
    plain = DistillModule(cfg, str(run), alpha=0.0, beta=0.0)
    plain.model.eval()
    expected = sequence_loss(plain.model, x, y)
    assert plain.training_step((x, y), 0).item() == pytest.approx(expected.item(), rel=1e-5)
    twin = DistillModule(cfg, str(run), alpha=1.0, beta=1.0, layers_map=[1, 2])
    twin.model.load_state_dict(twin.teacher.state_dict())
    twin.model.eval()
    assert twin.training_step((x, y), 0).item() == pytest.approx(0.0, abs=1e-5)  # KL 0, cosine 1
    assert sum(p.numel() for p in twin.parameters()) == sum(p.numel() for p in twin.model.parameters())


def test_distill_writes_a_run_with_its_teacher_and_a_checked_onnx_model(teacher, tmp_path, capsys):
    import onnxruntime as ort
    out = tmp_path / "student"
    args = ["distill", "--teacher", str(teacher / "run"), "--n-layers", "1", "--d-model", "16", "--max-epochs", "3",
            "--out", str(out)]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    t = m["distillation"]
    assert (t["teacher_n_layers"], t["teacher_d_model"], t["layers_map"]) == (2, 32, [2])
    assert m["recipe"] == "distilled" and m["epochs"] == 3 and m["train_seconds"] > 0
    assert m["params_non_embedding"] < t["teacher_params_non_embedding"]
    assert 0 <= m["test"]["ndcg@10"] <= 1 and (out / "curve.json").is_file()
    teacher_m = json.loads((teacher / "run" / "metrics.json").read_text())
    assert m["train_config"]["lr"] == teacher_m["train_config"]["lr"]  # the teacher's recipe
    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    scores = sess.run(None, {"item_ids": np.array([[1, 2, 3]], dtype=np.int64)})[0]
    assert scores.shape == (1, N_ITEMS + 1) and np.isneginf(scores[0, 0])
    assert "distilled from 2 × 32" in capsys.readouterr().out
    # again: nothing retrained; another size in the same folder is refused
    assert main(args) == 0 and "already trained" in capsys.readouterr().err
    assert main([*args[:4], "2", *args[5:]]) == 2
    assert "holds the work of another configuration" in capsys.readouterr().err


def test_a_killed_distillation_resumes_from_its_checkpoint(teacher, tmp_path):
    from srlaw.train.onnx_export import load_checkpoint_model
    run = teacher / "run"
    data = run / "work" / "data"
    cfg = ModelConfig(n_items=N_ITEMS, max_len=50, n_layers=1, d_model=16)
    how = DistillConfig().check(1, 2)
    train = dict(batch_size=64, lr=2e-3, accelerator="cpu", devices=1, progress_bar=False, patience=10)
    first = train_run(data, tmp_path / "s", cfg, TrainConfig(max_epochs=2, **train),
                      module_factory=DistillModule.factory(run, how))
    (tmp_path / "s" / "metrics.json").unlink()  # as if killed before writing its metrics
    again = train_run(data, tmp_path / "s", cfg, TrainConfig(max_epochs=3, **train),
                      module_factory=DistillModule.factory(run, how))
    assert not first["resumed"] and again["resumed"] and again["epochs"] == 3
    ckpt = torch.load(tmp_path / "s" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert any(k.startswith("align.") for k in ckpt["state_dict"])  # the projection resumes with the student
    assert not any(k.startswith("teacher") for k in ckpt["state_dict"])
    assert load_checkpoint_model(tmp_path / "s" / "checkpoints" / "best.ckpt").cfg.d_model == 16  # served alone


def test_a_teacher_of_other_data_or_no_run_is_refused_before_anything_is_written(teacher, tmp_path, capsys):
    other = _log(tmp_path / "other.txt", 5, users=200)
    out = tmp_path / "student"
    assert main(["distill", "--teacher", str(teacher / "run"), "--n-layers", "1", "--d-model", "16",
                 "--input", str(other), "--format", "sasrec", "--out", str(out)]) == 2
    assert "trained on other data" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(tmp_path), "--n-layers", "1", "--d-model", "16",
                 "--out", str(tmp_path / "s2")]) == 2
    assert "not a finished run" in capsys.readouterr().err and not (tmp_path / "s2").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    assert main(["distill", "--teacher", str(teacher / "run"), "--n-layers", "1", "--d-model", "16",
                 "--out", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "a user's file"


def _bench():
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_distill", ROOT / "benchmarks" / "bench_distill.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_benchmark_page_is_its_committed_json(tmp_path):
    """docs/distill.md's table is written from benchmarks/results/bench_distill.json, never by hand."""
    import shutil
    bench = _bench()
    page = tmp_path / "distill.md"
    shutil.copy(ROOT / "docs" / "distill.md", page)
    bench.write_page(json.loads((ROOT / "benchmarks" / "results" / "bench_distill.json").read_text()), page)
    assert page.read_text() == (ROOT / "docs" / "distill.md").read_text()
    doc = json.loads((ROOT / "benchmarks" / "results" / "bench_distill.json").read_text())
    for ds in doc["datasets"].values():
        rows = {(s["arm"], s["n_layers"], s["d_model"]): s for s in ds["summary"]}
        for (arm, n, d), s in rows.items():
            if arm == "distilled":  # the recovered share is what the runs say, where there is a gap to recover
                alone, teacher = rows["alone", n, d], rows["teacher", 4, 128]
                gap = teacher["ndcg@10"] - alone["ndcg@10"]
                if gap > 2 * max(teacher["ndcg@10_seed_sd"], alone["ndcg@10_seed_sd"]):
                    assert s["ndcg@10_gap_recovered"] == pytest.approx((s["ndcg@10"] - alone["ndcg@10"]) / gap)
                else:
                    assert s["ndcg@10_gap_recovered"] is None


def test_a_collapsed_teacher_is_trained_again_at_the_next_seed(tmp_path, monkeypatch):
    bench = _bench()
    valid = {0: 0.02, 1000: 0.155}  # seed 0 collapses, as 4 × 128 did on ML-1M; the student alone scores 0.16
    trained = []

    def train(data, n_layers, d_model, out, seed):
        trained.append(seed)
        return {"seed": seed, "valid": {"ndcg@10": valid[seed]}}

    monkeypatch.setattr(bench, "_train", train)
    t_dir, m, failed = bench._teacher(None, tmp_path, 0, 0.16)  # level with its student: kept, not retrained
    assert (t_dir.name, m["seed"], failed, trained) == ("teacher-L4-d128-s1000", 1000, [0], [0, 1000])
    valid[1000] = valid[2000] = 0.05
    with pytest.raises(SystemExit, match="teacher collapsed at seeds"):
        bench._teacher(None, tmp_path, 0, 0.16)


def test_a_gap_within_the_seeds_noise_has_no_recovered_share():
    bench = _bench()

    def rows(teacher: list[float]):
        arms = {"teacher": ((4, 128), teacher), "alone": ((4, 64), [0.0570, 0.0566]),
                "distilled": ((4, 64), [0.0575, 0.0571])}
        return [{"arm": arm, "n_layers": n, "d_model": d, "seed": seed, "params_non_embedding": n * d,
                 "train_seconds": 1.0, "epochs": 3, "n_users": 1000, "ndcg@10": v, "hr@10": 2 * v}
                for arm, ((n, d), vs) in arms.items() for seed, v in enumerate(vs)]

    level = next(s for s in bench.summarise(rows([0.0571, 0.0569])) if s["arm"] == "distilled")
    assert level["ndcg@10_gap_recovered"] is None and not level["ndcg@10_gap_over_2sd"]
    assert level["ndcg@10_lift"] == pytest.approx(0.0005)  # the lift is stated all the same
    ahead = next(s for s in bench.summarise(rows([0.0620, 0.0618])) if s["arm"] == "distilled")
    assert ahead["ndcg@10_gap_over_2sd"] and ahead["ndcg@10_gap_recovered"] == pytest.approx(0.0005 / 0.0051)


def test_a_run_on_one_dataset_adds_to_the_record(tmp_path):
    bench = _bench()
    committed = json.loads((ROOT / "benchmarks" / "results" / "bench_distill.json").read_text())
    out = tmp_path / "bench_distill.json"
    out.write_text(json.dumps(committed))
    new = {**{k: committed[k] for k in ("teacher", "students", "recipe", "distill")}, "datasets": {"ml-1m": {}}}
    kept = bench.kept(out, new)
    assert set(kept) == set(committed["datasets"]) - {"ml-1m"} and all(v["threads"] == committed["threads"]
                                                                         for v in kept.values())
    assert bench.kept(out, {**new, "teacher": [4, 256]}) == {}  # another teacher: not the same measurement


# ---- what advise makes of a measured distillation (law.json's "distillation", written by the library release)


def _law_with_a_student(distilled: float, lift_over_2sd: bool = False):
    from srlaw.predictor import Law
    doc = json.loads((ROOT / "artifacts/laws/library/ml-100k/law.json").read_text())
    got = {"distilled": distilled, "distilled_seed_sd": 0.001, "alone": distilled - 0.003, "alone_seed_sd": 0.002,
           "teacher": distilled + 0.003, "lift": 0.003, "lift_over_2sd": lift_over_2sd, "gap_recovered": 0.5,
           "sampling_se": 0.01}
    doc["distillation"] = {"source": "a test", "recipe": "library", "students": [
        {"n_layers": 4, "d_model": 64, "params_non_embedding": 100992, "seeds": 3, "share_of_teacher_params": 0.25,
         "teacher": {"n_layers": 4, "d_model": 128, "params_non_embedding": 398592},
         "metrics": {"ndcg@10": got, "hr@10": got}}]}
    return Law(doc)


def test_advise_offers_a_measured_student_only_where_no_plain_size_reaches_the_target():
    law = _law_with_a_student(0.5)
    _, budget = law.params_of(np.array([4.0]), np.array([64.0]))
    budget = float(budget[0])
    out_of_reach = law.advise(target={"ndcg@10": 0.4}, budget={"params": budget})
    assert not out_of_reach.ranked and [(r["n_layers"], r["d_model"]) for r in out_of_reach.distilled] == [(4, 64)]
    offer = out_of_reach.distilled[0]
    assert offer["ndcg@10"] == 0.5 and offer["teacher"]["d_model"] == 128 and offer["params_total"] <= budget
    assert "within two seed sds" in offer["note"] and "at this size only" in offer["note"]
    assert out_of_reach.to_dict()["distilled"] == out_of_reach.distilled
    from srlaw.cli import advice_table
    assert "a distilled 4 x 64 reaches it" in advice_table(law, out_of_reach, "ml-100k", {"params": budget})
    # a budget the student does not fit, a target it misses, or a plain size that reaches it: no offer
    assert law.advise(target={"ndcg@10": 0.4}, budget={"params": budget - 1}).distilled == []
    assert law.advise(target={"ndcg@10": 0.6}, budget={"params": budget}).distilled == []
    other_data = law.advise(target={"ndcg@10": 0.4}, budget={"params": budget}, data=0.05, allow_extrapolation=True)
    assert not other_data.ranked and other_data.distilled == []  # measured on the law's own data only
    reachable = law.advise(target={"ndcg@10": 0.01}, budget={"params": budget})
    assert reachable.ranked and reachable.distilled == []
    assert "beyond two seed sds" in _law_with_a_student(0.5, True).advise(
        target={"ndcg@10": 0.4}, budget={"params": budget}).distilled[0]["note"]
