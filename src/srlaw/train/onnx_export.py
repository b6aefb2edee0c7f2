"""Export a trained model to ONNX, check it against torch, and time it in ONNX Runtime.

The exported graph is :class:`srlaw.train.models.LastPositionScorer`: input ``item_ids`` (int64, [batch, seq],
left-padded with 0, canonical item ids 1..n_items), output ``scores`` (float32, [batch, n_items + 1]) at the last
position, column 0 = −inf. Batch and sequence axes are dynamic; the scorer's serving rules (unknown ids, long,
empty and all-padding rows) are part of the graph.
"""

from __future__ import annotations

import io
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from srlaw.core.atomic import write_bytes_atomic
from srlaw.train.settings import ModelConfig
from srlaw.train.models import LastPositionScorer, SequentialRecommender

OPSET = 17


def load_checkpoint_model(path) -> SequentialRecommender:
    """The plain nn.Module from a Lightning checkpoint (hyperparameters are plain dicts; no Lightning import)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ModelConfig.from_saved(ckpt["hyper_parameters"]["model_config"])
    model = SequentialRecommender(cfg)
    # a distilled student's checkpoint also holds its alignment projections: training only, never served
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    model.load_state_dict(state)
    return model.eval()


def onnx_bytes(model: SequentialRecommender, example_len: int | None = None, fallback=None) -> bytes:
    """Serialise ``model`` (with the serving rules of :class:`LastPositionScorer`) with dynamic batch and sequence."""
    scorer = LastPositionScorer(model, fallback).eval()
    t = example_len or model.cfg.max_len
    example = torch.randint(1, model.cfg.n_items + 1, (2, t), dtype=torch.int64)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(scorer, (example,), buf, dynamo=False, opset_version=OPSET, input_names=["item_ids"],
                          output_names=["scores"],
                          dynamic_axes={"item_ids": {0: "batch", 1: "seq"}, "scores": {0: "batch"}})
    return buf.getvalue()


def export_onnx(model: SequentialRecommender, path, fallback=None) -> Path:
    """Write the model to ``path`` atomically and check it with ``onnx.checker``."""
    import onnx
    data = onnx_bytes(model, fallback=fallback)
    onnx.checker.check_model(onnx.load_from_string(data))
    write_bytes_atomic(path, data)
    return Path(path)


class ProviderFallback(RuntimeError):
    """ONNX Runtime runs on another execution provider than the one asked for (``--require-gpu``)."""


def wanted_providers(require_gpu: bool = False) -> list[str]:
    """The providers srlaw asks for: CUDA first where this ONNX Runtime build has it (onnxruntime-gpu), then CPU."""
    import onnxruntime as ort
    gpu = "CUDAExecutionProvider" in ort.get_available_providers()
    if require_gpu and not gpu:
        raise ProviderFallback("--require-gpu: this ONNX Runtime has no CUDAExecutionProvider (install the gpu extra, "
                               "onnxruntime-gpu, on a machine with CUDA)")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else ["CPUExecutionProvider"]


def ort_session(model_bytes_or_path, threads: int | None = None, providers=None, require_gpu: bool = False):
    """An ONNX Runtime session on ``providers`` (default :func:`wanted_providers`), checked: when the first one
    asked for is not the one that runs (onnxruntime-gpu falls back to the CPU silently on a CUDA/cuDNN mismatch), a
    warning names both — or :class:`ProviderFallback` with ``require_gpu``."""
    import warnings
    import onnxruntime as ort
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    src = model_bytes_or_path if isinstance(model_bytes_or_path, (bytes, str)) else str(model_bytes_or_path)
    asked = list(providers or wanted_providers(require_gpu))
    session = ort.InferenceSession(src, opts, providers=asked)
    running = session.get_providers()[0]
    if running != asked[0]:
        msg = (f"ONNX Runtime was asked for {asked[0]} and runs on {running}: latency and parity measured here are "
               f"{running}'s (a CUDA/cuDNN version mismatch falls back silently)")
        if require_gpu:
            raise ProviderFallback(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return session


def parity(model: SequentialRecommender, session, inputs: np.ndarray, fallback=None) -> dict:
    """Max |Δ| between torch and ONNX Runtime scores, and whether every row's top-10 ids agree."""
    with torch.no_grad():
        ref = LastPositionScorer(model, fallback).eval()(torch.from_numpy(inputs)).numpy()
    got = session.run(["scores"], {"item_ids": inputs})[0]
    finite = np.isfinite(ref)
    same_inf = bool(np.array_equal(finite, np.isfinite(got)))
    max_abs = float(np.max(np.abs(ref[finite] - got[finite]), initial=0.0))
    top_ref = np.argsort(-ref, axis=1, kind="stable")[:, :10]
    top_got = np.argsort(-got, axis=1, kind="stable")[:, :10]
    return {"max_abs_diff": max_abs, "top10_identical": bool(np.array_equal(np.sort(top_ref, 1), np.sort(top_got, 1))),
            "padding_masked": same_inf and bool(np.all(np.isneginf(got[:, 0]))), "rows": int(len(inputs)),
            "provider": session.get_providers()[0]}


def time_call(fn, repeats: int = 50, warmup: int = 5) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)), "repeats": repeats}


def latency_table(configs, shape: ModelConfig, batch: int = 1, seq: int | None = None, repeats: int = 50,
                  seed: int = 0) -> list[dict]:
    """ONNX Runtime latency of each (n_layers, d_model) at ``batch`` × ``seq`` (weights do not change latency).

    ``shape``: everything else about the model (catalogue, backbone, max_len, item embedding), e.g. the reference's.
    """
    seq = seq or shape.max_len
    rng = np.random.default_rng(seed)
    x = rng.integers(1, shape.n_items + 1, (batch, seq)).astype(np.int64)
    rows = []
    for n_layers, d_model in configs:
        torch.manual_seed(seed)
        cfg = ModelConfig(**{**shape.to_dict(), "n_layers": int(n_layers), "d_model": int(d_model)})
        model = SequentialRecommender(cfg.validate()).eval()
        sess = ort_session(onnx_bytes(model))
        t = time_call(lambda: sess.run(["scores"], {"item_ids": x}), repeats=repeats)
        rows.append({"n_layers": int(n_layers), "d_model": int(d_model),
                     "params_non_embedding": model.get_num_params(True), "params_total": model.get_num_params(False),
                     "latency_ms": t["p50_ms"], "latency_ms_p90": t["p90_ms"], "provider": sess.get_providers()[0]})
    return rows
