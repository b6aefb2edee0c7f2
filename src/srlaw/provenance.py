"""Provenance for artifacts: code version, package versions, hashes of files and params."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
import time
from pathlib import Path

from srlaw import __version__


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def git_commit(cwd=".", max_listed: int = 50) -> dict:
    """HEAD commit and the tracked files that differed from it; 'unknown' outside git.

    A pipeline rewrites its own tracked outputs (dvc.lock, reports, released laws) as it runs, so ``dirty``
    alone cannot tell an edited source file from a regenerated output: ``modified`` names the files.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=10).stdout
        # porcelain v1: two status letters, a space, the path (" -> new" for renames)
        modified = sorted(line[3:].split(" -> ")[-1].strip('"') for line in status.splitlines() if line.strip())
        if not commit:
            return {"commit": "unknown", "dirty": None}
        out = {"commit": commit, "dirty": bool(modified), "modified": modified[:max_listed]}
        if len(modified) > max_listed:
            out["modified_not_listed"] = len(modified) - max_listed
        return out
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def package_versions(names=("numpy", "scipy", "torch", "lightning", "onnx", "onnxruntime", "dvc")) -> dict:
    out = {"srlaw": __version__, "python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance_record(params_doc: dict | None = None, cwd=".") -> dict:
    """Code version, package versions, creation time and the sha256 of every parameter in effect."""
    rec = {"srlaw_version": __version__, "git": git_commit(cwd), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "versions": package_versions()}
    if params_doc is not None:
        rec["params_sha256"] = sha256_json(params_doc)
    return rec


def file_entry(path: Path) -> dict:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}
