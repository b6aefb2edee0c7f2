"""``srlaw check-onnx``: which ONNX Runtime provider really runs an exported model here, whether it agrees with
the CPU provider (and with torch, where the run's checkpoint is at hand), and its batch-1 latency on that provider.

onnxruntime-gpu lists CUDA and silently runs on the CPU when CUDA or cuDNN versions do not match; this names the
provider that ran, warns on a fallback, and with ``--require-gpu`` fails instead.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from srlaw.core.errors import SrlawError

TOLERANCE = 1e-4  # max |Δ| of scores between providers (and against torch), as the export's own parity check


def check_onnx(model_dir: Path, runs_dir: Path = Path("runs"), require_gpu: bool = False, repeats: int = 50,
               rows: int = 64, seed: int = 0) -> dict:
    """Providers, parity and latency of ``model_dir/model.onnx`` (described by ``model_dir/model.json``)."""
    import onnxruntime as ort
    from srlaw.train.onnx_export import ProviderFallback, ort_session, parity, time_call
    model_dir = Path(model_dir)
    onnx_path, meta_path = model_dir / "model.onnx", model_dir / "model.json"
    for path in (onnx_path, meta_path):
        if not path.is_file():
            raise SrlawError(f"{path}: not found; --model is a folder srlaw export wrote (model.onnx, model.json)")
    meta = json.loads(meta_path.read_text())
    n_items, seq = int(meta["n_items"]), int(meta["input"]["max_seq"])
    x = np.random.default_rng(seed).integers(1, n_items + 1, (rows, seq)).astype(np.int64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            session = ort_session(str(onnx_path), require_gpu=require_gpu)
        except ProviderFallback as e:
            raise SrlawError(str(e)) from None
    cpu = ort_session(str(onnx_path), providers=["CPUExecutionProvider"])
    got, ref = (s.run(["scores"], {"item_ids": x})[0] for s in (session, cpu))
    finite = np.isfinite(ref)
    out = {"available": ort.get_available_providers(), "providers": session.get_providers(),
           "running": session.get_providers()[0], "fallback": [str(w.message) for w in caught],
           "parity_vs_cpu": {"max_abs_diff": float(np.max(np.abs(got[finite] - ref[finite]), initial=0.0)),
                             "top10_identical": bool(np.array_equal(_top10(got), _top10(ref))), "rows": rows}}
    ckpt = Path(runs_dir) / meta.get("run", "") / "checkpoints" / "best.ckpt"
    if meta.get("run") and ckpt.is_file():
        from srlaw.train.onnx_export import load_checkpoint_model
        out["parity_vs_torch"] = parity(load_checkpoint_model(ckpt), session, x)
    one = x[:1]
    out["latency_batch1"] = {**time_call(lambda: session.run(["scores"], {"item_ids": one}), repeats=repeats),
                             "provider": out["running"], "seq": seq}
    checks = [out["parity_vs_cpu"], *([out["parity_vs_torch"]] if "parity_vs_torch" in out else [])]
    out["ok"] = all(c["max_abs_diff"] <= TOLERANCE and c["top10_identical"] for c in checks)
    return out


def _top10(scores: np.ndarray) -> np.ndarray:
    return np.sort(np.argsort(-scores, axis=1, kind="stable")[:, :10], axis=1)


def describe(out: dict) -> str:
    """The check in lines a person reads."""
    lines = [f"providers available: {', '.join(out['available'])}",
             f"asked for {', '.join(out['providers'])}; running on {out['running']}"]
    lines += [f"warning: {w}" for w in out["fallback"]]
    p = out["parity_vs_cpu"]
    lines.append(f"parity vs CPU provider: max |Δ| {p['max_abs_diff']:.2e}, top-10 "
                 f"{'identical' if p['top10_identical'] else 'DIFFERENT'} ({p['rows']} rows)")
    if "parity_vs_torch" in out:
        t = out["parity_vs_torch"]
        lines.append(f"parity vs torch (the run's checkpoint): max |Δ| {t['max_abs_diff']:.2e}, top-10 "
                     f"{'identical' if t['top10_identical'] else 'DIFFERENT'}")
    else:
        lines.append("parity vs torch: skipped (the run's checkpoint is not here)")
    lat = out["latency_batch1"]
    lines.append(f"batch-1 latency on {lat['provider']}: p50 {lat['p50_ms']:.3f} ms, p90 {lat['p90_ms']:.3f} ms "
                 f"({lat['repeats']} calls, sequence {lat['seq']})")
    lines.append("ok" if out["ok"] else f"MISMATCH beyond {TOLERANCE:g}")
    return "\n".join(lines)
