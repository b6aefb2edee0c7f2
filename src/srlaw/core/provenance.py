"""Provenance for artifacts: code version, package versions, hashes of files and params.

What goes into a git-tracked artifact is a function of its inputs only — the srlaw source (``code_sha256``),
package versions, params and data hashes — so rerunning an unchanged pipeline rewrites the same bytes and leaves
git clean. What differs from one execution to the next (the git commit and its modified files, wall times, the
machine) goes to each run's ``run.json``, which is neither tracked nor hashed by DVC (``.dvcignore``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

from srlaw import __version__
from srlaw.core.atomic import write_json_atomic


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


def code_sha256(root: Path | None = None) -> str:
    """sha256 over srlaw's own source files (relative path and bytes, in path order): the code that ran."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]  # src/srlaw
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".json")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def provenance_record(params_doc: dict | None = None) -> dict:
    """Code version and hash, package versions and the sha256 of every parameter in effect (deterministic)."""
    rec = {"srlaw_version": __version__, "code_sha256": code_sha256(), "versions": package_versions()}
    if params_doc is not None:
        rec["params_sha256"] = sha256_json(params_doc)
    return rec


def file_entry(path: Path) -> dict:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def write_manifest(out: Path, params_doc: dict, only=None) -> dict:
    """sha256 and size of every artifact file (paths relative to ``out``), plus versions and provenance.

    A subfolder with its own manifest (``artifacts/law/``, a law released by a study) is its own release and is
    left to that manifest. ``only``: list just these files (names relative to ``out``), e.g. a calibrated law
    whose folder also holds its working data.
    """
    files = {}
    out = Path(out)
    released = {p.parent for p in out.rglob("manifest.json") if p.parent != out}
    paths = [out / name for name in only] if only is not None else sorted(out.rglob("*"))
    for path in paths:
        if released.intersection(path.parents):
            continue
        if path.is_file() and path.name != "manifest.json" and not path.name.startswith("."):
            files[path.relative_to(out).as_posix()] = file_entry(path)
    manifest = {"files": files, "versions": package_versions(), "provenance": provenance_record(params_doc)}
    write_json_atomic(out / "manifest.json", manifest)
    return manifest
