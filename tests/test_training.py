"""Training: a tiny model learns a deterministic rule, resumes from a checkpoint, refuses bad configs, runs DDP."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from srlaw.train.settings import ModelConfig, TrainConfig, parse_flat_recipe
from srlaw.data.dataset import build_dataset, save_dataset
from srlaw.core.errors import ParamsError
from srlaw.train.onnx_export import load_checkpoint_model
from srlaw.data.protocol import evaluate_scores
from srlaw.data.readers import Interactions
from srlaw.train.trainer import SequenceDataModule, train_run

N_ITEMS = 50


@pytest.fixture(scope="module")
def rule_dataset(tmp_path_factory):
    """Every user walks i -> i+1 (mod 50) from a random start: the next item is fully determined."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(300):
        start = rng.integers(0, N_ITEMS)
        seq = (start + np.arange(12)) % N_ITEMS + 1
        users += [u] * len(seq)
        items += seq.tolist()
    ds, _ = build_dataset(Interactions(np.array(users), np.array(items), None, None, "synthetic"))
    path = tmp_path_factory.mktemp("rule") / "data"
    save_dataset(ds, path)
    return path


def small(**kw):
    base = dict(max_epochs=12, patience=12, batch_size=32, lr=5e-3, progress_bar=False, accelerator="cpu",
                devices=1)
    return TrainConfig(**{**base, **kw})


def test_learns_deterministic_rule_far_above_popularity(rule_dataset, tmp_path):
    m = train_run(rule_dataset, tmp_path / "run", ModelConfig(n_items=N_ITEMS, max_len=10, n_layers=1, d_model=16,
                                                              dropout=0.0), small())
    dm = SequenceDataModule(rule_dataset, 10, 32, 512, 0)
    counts = np.bincount(dm.train_targets.ravel(), minlength=N_ITEMS + 1).astype(np.float32)
    inputs, targets, history = next(iter(dm.eval_dataloader("test")))
    pop = evaluate_scores(torch.from_numpy(np.tile(counts, (len(targets), 1))), targets, history)
    assert m["test"]["hr@10"] > 0.9 and pop["hr@10"] < 0.4
    assert m["params_non_embedding"] < m["params_total"]
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"backbone", "n_layers", "d_model", "params_non_embedding", "params_total"} <= set(saved)
    assert "variant" not in saved  # no meta was given
    assert set(saved["valid"]) >= {"hr@10", "ndcg@10", "hr@50", "ndcg@1", "mrr", "loss"}
    # the held-out loss is the full-catalogue cross-entropy: a learnt rule sits below uniform guessing, log(50)
    assert 0 < saved["test"]["loss"] < np.log(N_ITEMS)
    curve = json.loads((tmp_path / "run" / "curve.json").read_text())["rows"]
    assert [r["epoch"] for r in curve] == list(range(1, m["epochs"] + 1))
    assert curve[-1]["valid"]["loss"] < curve[0]["valid"]["loss"]


def test_an_early_stopped_run_says_so(rule_dataset, tmp_path):
    m = train_run(rule_dataset, tmp_path / "run", ModelConfig(n_items=N_ITEMS, max_len=10, n_layers=1, d_model=16,
                                                              dropout=0.0), small(max_epochs=40, patience=1))
    assert m["epochs"] < 40 and m["stopped_by"] == "early_stopping", (m["epochs"], m["best_epoch"])
    assert m["epochs"] == m["best_epoch"] + 1  # the best epoch (from 1), then `patience` (1) epochs without a gain


def test_hstu_and_sampled_softmax_train(rule_dataset, tmp_path):
    m = train_run(rule_dataset, tmp_path / "run", ModelConfig(n_items=N_ITEMS, max_len=10, n_layers=1, d_model=16,
                                                              backbone="hstu", dropout=0.0),
                  small(loss="sampled", n_negatives=10))
    assert m["backbone"] == "hstu" and m["test"]["hr@10"] > 0.5


@pytest.mark.parametrize("embedding", [{}, {"item_embedding": "jpq", "jpq": {"n_splits": 2, "n_centroids": 8}}],
                         ids=["full", "jpq"])
def test_resume_from_last_checkpoint(rule_dataset, tmp_path, embedding):
    cfg = ModelConfig(n_items=N_ITEMS, max_len=10, n_layers=1, d_model=8, **embedding)
    first = train_run(rule_dataset, tmp_path / "run", cfg, small(max_epochs=2))
    assert first["epochs"] == 2 and not first["resumed"]
    (tmp_path / "run" / "metrics.json").unlink()  # as if the process had been killed before writing metrics
    again = train_run(rule_dataset, tmp_path / "run", cfg, small(max_epochs=3))
    assert again["resumed"] and again["epochs"] == 3
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2  # epochs 0-1 came from the first attempt; only epoch 2 was trained again
    if embedding:  # RecJPQ's codes travel in the checkpoint and are the training split's
        codes = ckpt["state_dict"]["model.item_emb.codes"]
        assert codes.shape == (N_ITEMS + 1, 2) and codes[1:].max() > 0 and again["jpq"]["assignment"] == "svd"


@pytest.mark.parametrize("change,message", [
    ({"n_heads": 3}, "train.n_heads = 3: expected a divisor of d_model \\(16\\)"),
    ({"backbone": "rnn"}, "train.backbone = 'rnn': expected one of sasrec, hstu"),
    ({"max_len": 1}, "train.max_len = 1: expected an integer in \\[2, 65536\\]"),
    ({"loss": "bpr"}, "train.loss = 'bpr': expected one of full, sampled"),
    ({"warmup": 3}, "train.warmup: unknown key"),
])
def test_bad_train_config_refused_before_training(change, message):
    with pytest.raises(ParamsError, match=message):
        recipe = parse_flat_recipe({"backbone": "sasrec", "max_len": 20, **change}, "train", "params.yaml", seed=0)
        recipe.model_config(n_items=10, n_layers=1, d_model=16, where="train", path="params.yaml")


def test_ddp_two_processes_on_cpu(rule_dataset, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(f"""
        import lightning as L
        from srlaw.train.settings import ModelConfig, TrainConfig
        from srlaw.train.trainer import train_run

        class Members(L.Callback):  # each process says who it is
            def on_fit_start(self, trainer, module):
                with open({str(tmp_path)!r} + f"/rank{{trainer.global_rank}}", "w") as f:
                    f.write(str(trainer.world_size))

        if __name__ == "__main__":
            m = train_run({str(rule_dataset)!r}, {str(tmp_path / 'run')!r},
                          ModelConfig(n_items={N_ITEMS}, max_len=10, n_layers=1, d_model=8),
                          TrainConfig(max_epochs=2, patience=5, batch_size=32, accelerator="cpu", devices=2,
                                      strategy="ddp", progress_bar=False, deterministic=False),
                          callbacks=[Members()])
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0 <= metrics["test"]["hr@10"] <= 1
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["2", "2"]  # two processes trained
    # each user is tested by exactly one process: the sums over processes equal one pass over every user
    model = load_checkpoint_model(tmp_path / "run" / "checkpoints" / "best.ckpt")
    inputs, targets, history = next(iter(SequenceDataModule(rule_dataset, 10, 32, 10_000, 0).eval_dataloader("test")))
    with torch.no_grad():
        once = evaluate_scores(model.score_last(inputs).float(), targets, history)
    assert len(targets) == 300
    for k in ("hr@10", "ndcg@10", "mrr"):
        assert metrics["test"][k] == pytest.approx(once[k], abs=1e-9), k


def test_a_resumed_run_keeps_the_killed_attempts_epochs_and_their_seconds(tmp_path):
    from types import SimpleNamespace

    from srlaw.train.trainer import CurveRecorder
    rows = [{"epoch": e, "seconds": 100.0 * e} for e in (1, 2, 3)]  # epoch 3 outran the checkpoint: it is redone
    (tmp_path / "curve.json").write_text(json.dumps({"rows": rows}))
    clock = CurveRecorder(tmp_path)
    clock.on_train_start(SimpleNamespace(current_epoch=2), None)
    assert [r["epoch"] for r in clock.rows] == [1, 2] and clock.kept_seconds == 300.0
    fresh = CurveRecorder(tmp_path)
    fresh.on_train_start(SimpleNamespace(current_epoch=0), None)  # a fresh run in a folder with an old curve
    assert fresh.rows == [] and fresh.kept_seconds == 0.0


def test_killed_mid_epoch_and_resumed_equals_uninterrupted(tmp_path):
    """A run killed without warning (os._exit: no cleanup, like SIGKILL) in the middle of its third epoch and
    resumed from last.ckpt ends with exactly the metrics of the run that was never interrupted.

    The data are half rule, half noise, so the metrics stay far from 0 and 1 and move with every shuffle and
    dropout mask: a resume that replays another random stream ends elsewhere."""
    rng = np.random.default_rng(1)
    users, items = [], []
    for u in range(300):
        seq = (rng.integers(0, N_ITEMS) + np.arange(12)) % N_ITEMS + 1
        noisy = rng.random(12) < 0.5
        seq[noisy] = rng.integers(1, N_ITEMS + 1, noisy.sum())
        users += [u] * 12
        items += seq.tolist()
    data = tmp_path / "data"
    save_dataset(build_dataset(Interactions(np.array(users), np.array(items), None, None, "noisy"))[0], data)

    def run(name, kill_at=None):
        script = tmp_path / f"{name}.py"
        script.write_text(textwrap.dedent(f"""
            import os, lightning as L
            from srlaw.train.settings import ModelConfig, TrainConfig
            from srlaw.train.trainer import train_run

            class Kill(L.Callback):
                def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
                    if {kill_at!r} == (trainer.current_epoch, batch_idx):
                        os._exit(9)

            train_run({str(data)!r}, {str(tmp_path / name)!r},
                      ModelConfig(n_items={N_ITEMS}, max_len=10, n_layers=1, d_model=16, dropout=0.3),
                      TrainConfig(max_epochs=5, patience=5, batch_size=32, lr=5e-3, accelerator="cpu", devices=1,
                                  progress_bar=False, deterministic=True, seed=7), callbacks=[Kill()])
        """))
        return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)

    whole_proc = run("whole")
    assert whole_proc.returncode == 0
    killed = run("killed", kill_at=(2, 4))
    assert killed.returncode == 9 and not (tmp_path / "killed" / "metrics.json").exists()
    proc = run("killed")  # the same command again: resumes from last.ckpt (end of epoch 1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    whole = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    how = {name: json.loads((tmp_path / name / "run.json").read_text()) for name in ("whole", "killed")}
    assert how["killed"]["resumed"] and not how["whole"]["resumed"]
    assert len(how["killed"]["epoch_seconds"]) == 3 and len(how["whole"]["epoch_seconds"]) == 5  # epochs 3-5 rerun
    kept = json.loads((tmp_path / "killed" / "curve.json").read_text())["rows"][:2]  # the killed attempt's epochs
    assert how["killed"]["train_seconds"] >= sum(r["seconds"] for r in kept) + sum(how["killed"]["epoch_seconds"])
    assert (resumed["epochs"], resumed["best_epoch"]) == (whole["epochs"], whole["best_epoch"])
    assert 0.05 < whole["test"]["ndcg@10"] < 0.9  # not saturated: the comparison below can fail
    for split in ("valid", "test"):
        assert resumed[split] == whole[split], split  # exactly, not approximately
    assert resumed == whole  # metrics.json as a whole: what a run found does not depend on how it got there
    # the learning curve too: the killed attempt's epochs 1-2 kept, 3-5 retrained, every value as uninterrupted
    curves = {name: [{k: v for k, v in row.items() if k != "seconds"}
                     for row in json.loads((tmp_path / name / "curve.json").read_text())["rows"]]
              for name in ("whole", "killed")}
    assert [row["epoch"] for row in curves["killed"]] == [1, 2, 3, 4, 5]
    assert curves["killed"] == curves["whole"]
    # and its log: the resumed attempt's epoch lines, best-so-far included, are the uninterrupted run's lines 3-5
    lines = {name: [x for x in p.stderr.splitlines() if x.startswith("epoch ")] for name, p in (("whole", whole_proc),
                                                                                               ("resumed", proc))}
    assert len(lines["whole"]) == 5 and lines["resumed"] == lines["whole"][2:]
    # the best so far travels in the checkpoint, so a resume after the best epoch still names it
    saved = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"]
    line_state = next(v for k, v in saved.items() if k.startswith("EpochLine"))
    assert line_state["best_epoch"] == whole["best_epoch"]  # the log and metrics.json both count epochs from 1


def test_log_is_one_line_per_epoch_and_says_when_the_cap_stopped_it(rule_dataset, tmp_path):
    script = tmp_path / "quiet.py"
    script.write_text(textwrap.dedent(f"""
        from srlaw.train.settings import ModelConfig, TrainConfig
        from srlaw.train.trainer import train_run
        m = train_run({str(rule_dataset)!r}, {str(tmp_path / 'run')!r},
                      ModelConfig(n_items={N_ITEMS}, max_len=10, n_layers=1, d_model=8),
                      TrainConfig(max_epochs=3, patience=5, batch_size=32, accelerator="cpu", devices=1))
        print(m["stopped_by"])
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert [ln.split(",")[0] for ln in lines[:3]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "valid ndcg@10" in lines[0] and "train loss" in lines[0]
    assert lines[3].startswith("note: stopped at the 3-epoch cap before early stopping")
    assert len(lines) == 4, lines  # no banners, tips or warnings about logging intervals and folders
    assert proc.stdout.strip() == "epoch_cap"


def test_stopped_by():
    from srlaw.train.trainer import stopped_by
    assert stopped_by(early_stopped_epoch=7, epochs=8, max_epochs=20) == "early_stopping"
    assert stopped_by(early_stopped_epoch=0, epochs=20, max_epochs=20) == "epoch_cap"
    assert stopped_by(early_stopped_epoch=0, epochs=4, max_epochs=20) == "time_cap"


def test_default_schedule_is_the_benchmarked_one():
    """lr 3e-3 after one linear warm-up epoch (benchmarks/bench_time_to_quality.py); a silent change fails here."""
    from srlaw.train.trainer import lr_factor
    cfg = TrainConfig()
    assert (cfg.lr, cfg.warmup_epochs, cfg.batch_size, cfg.lr_schedule) == (3e-3, 1.0, 128, "constant")
    factor = lr_factor(48, cfg.lr_schedule)  # ML-1M: 6,040 users in batches of 128
    assert [cfg.lr * factor(k) for k in (0, 23, 47, 48, 1000)] == pytest.approx([3e-3 / 48, 1.5e-3, 3e-3, 3e-3, 3e-3])


def test_learning_rate_warms_up_linearly_then_stays(rule_dataset, tmp_path):
    import lightning as L

    class Rates(L.Callback):
        def __init__(self):
            self.seen = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    rates = Rates()
    train_run(rule_dataset, tmp_path / "run", ModelConfig(n_items=N_ITEMS, max_len=10, n_layers=1, d_model=8),
              small(max_epochs=3, lr=4e-3, warmup_epochs=1.5), callbacks=[rates])
    steps_per_epoch = 10  # 300 users, batch 32
    warmup = 15  # 1.5 epochs
    assert len(rates.seen) == 3 * steps_per_epoch
    assert rates.seen[:warmup] == pytest.approx([4e-3 * (k + 1) / warmup for k in range(warmup)])
    assert rates.seen[warmup:] == pytest.approx([4e-3] * (3 * steps_per_epoch - warmup))
    plain = Rates()
    train_run(rule_dataset, tmp_path / "plain", ModelConfig(n_items=N_ITEMS, max_len=10, n_layers=1, d_model=8),
              small(max_epochs=1, lr=4e-3, warmup_epochs=0.0), callbacks=[plain])
    assert plain.seen == pytest.approx([4e-3] * steps_per_epoch)  # warmup_epochs 0: a constant rate


def test_inverse_sqrt_schedule_warms_up_then_decays():
    from srlaw.train.trainer import lr_factor
    factor = lr_factor(10, "inverse_sqrt")
    assert [factor(k) for k in (0, 4, 9, 39, 159)] == pytest.approx([0.1, 0.5, 1.0, 0.5, 0.25])
    assert TrainConfig(lr_schedule="inverse_sqrt").lr_schedule == "inverse_sqrt"


def test_attention_dropout_can_be_left_out():
    from srlaw.train.models import SequentialRecommender
    on = SequentialRecommender(ModelConfig(n_items=20, max_len=6, n_layers=1, d_model=8, dropout=0.3,
                                           attention_dropout=True))
    off = SequentialRecommender(ModelConfig(n_items=20, max_len=6, n_layers=1, d_model=8, dropout=0.3))
    assert on.blocks[0].attn.dropout == 0.3
    assert off.blocks[0].attn.dropout == 0.0
    assert off.emb_drop.p == 0.3  # the other sites keep theirs
    assert off.blocks[0].drop.p == 0.3


def test_auto_precision_is_tf32_on_an_ampere_or_newer_gpu_and_fp32_elsewhere(monkeypatch):
    from srlaw.train import trainer as training

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training.resolve_precision("auto") == "32-true"
    with pytest.raises(ParamsError, match="needs a CUDA GPU with TF32"):
        training.resolve_precision("tf32")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (7, 5))  # Turing: no TF32
    assert training.resolve_precision("auto") == "32-true"
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))  # Hopper
    assert training.resolve_precision("auto") == "tf32"
    assert training.resolve_precision("auto", "cpu") == "32-true"  # a CPU run on a GPU machine stays exact fp32
    assert training.resolve_precision("bf16-mixed") == "bf16-mixed"  # asked for by name, kept


def test_evaluation_is_exact_fp32_while_training_steps_use_tf32(rule_dataset, monkeypatch):
    from srlaw.train import trainer as training

    seen = []
    monkeypatch.setattr(training.SeqRecModule, "_eval_step",
                        lambda self, batch, split: seen.append(torch.get_float32_matmul_precision()))
    module = training.SeqRecModule(ModelConfig(n_items=N_ITEMS, max_len=8, n_layers=1, d_model=16).to_dict(),
                                   lr=1e-3)
    before = torch.get_float32_matmul_precision()
    with training.matmul_precision("high"):
        module.validation_step(None, 0)
        module.test_step(None, 0)
        assert torch.get_float32_matmul_precision() == "high"
    assert seen == ["highest", "highest"]
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(RuntimeError), training.matmul_precision("high"):
        raise RuntimeError("a failed fit")
    assert torch.get_float32_matmul_precision() == before  # restored on the way out of a failure too


def test_the_run_eta_is_a_bar_on_a_terminal_and_a_line_in_a_log():
    import io
    from types import SimpleNamespace
    from srlaw.train.trainer import EtaLine
    for bar in (True, False):
        out = io.StringIO()
        eta = EtaLine(expected=5, later=10, bar=bar, file=out)
        for epoch in range(7):  # past the expected epochs: the bar grows instead of claiming the run is done
            trainer = SimpleNamespace(current_epoch=epoch, is_global_zero=True)
            eta.on_train_epoch_start(trainer, None)
            eta.on_train_epoch_end(trainer, None)
        eta.on_train_end(trainer, None)
        text = out.getvalue()
        assert "min in all" in text
        if bar:
            assert "this run" in text and text.rstrip().endswith("(estimate)]") and "| 7/7 [" in text
            assert "| 5/5 [" not in text  # at the expected count with the run going on, the bar grew instead
        else:
            assert text.count("min left in this run") == 7
