"""Write files and folders so that a crash never leaves a half-written result behind.

Everything goes to a temporary sibling first and is renamed into place only when complete (a rename within one
file system is atomic on POSIX). Files end up 0644 and folders 0755 — artifacts are read by serving processes that
run as other users (``mkstemp``/``mkdtemp`` alone would leave 0600/0700). A process killed mid-write (SIGKILL runs
no cleanup) leaves its temporary behind; the next write of the same path removes it.
"""

from __future__ import annotations

import glob
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


FILE_MODE, DIR_MODE = 0o644, 0o755
TMP_SUFFIX = ".tmp"  # the temporary of a file or folder NAME is .NAME.<random>.tmp beside it


def _prefix(name: str) -> str:
    return f".{name}."


def is_temporary_of(candidate: str, name: str) -> bool:
    """Whether a file called ``candidate`` is a temporary of a write of one called ``name`` (in its folder)."""
    return candidate.startswith(_prefix(name)) and candidate.endswith(TMP_SUFFIX)


def _remove_stale(path: Path) -> None:
    """Temporaries of ``path`` left by a killed writer (single writer per path, as in a DVC stage)."""
    for stale in path.parent.glob(f"{glob.escape(_prefix(path.name))}*{TMP_SUFFIX}"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path.name), suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # a full disk or a closed pipe names nothing: say which file could not be written
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, obj, allow_nan: bool = True) -> None:
    """Pretty JSON (sorted keys, trailing newline) written atomically; ``allow_nan=False`` for standard JSON only."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=allow_nan) + "\n").encode())


def with_nulls_for_non_finite(doc: dict) -> dict:
    """A copy with every NaN/±Infinity replaced by null and listed under ``non_finite_as_null`` (path: value).

    JSON has no non-finite numbers: Python would write ``Infinity`` (a failed form's held-out error), which other
    languages' parsers refuse.
    """
    where = []

    def walk(x, path):
        if isinstance(x, float) and not math.isfinite(x):
            where.append(f"{path}: {x}")
            return None
        if isinstance(x, dict):
            return {k: walk(v, f"{path}.{k}" if path else k) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(x)]
        return x

    out = walk(doc, "")
    if where:
        out["non_finite_as_null"] = where
    return out


@contextmanager
def atomic_directory(path: str | os.PathLike):
    """Yield a temporary folder; on success it replaces ``path`` whole, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path.name), suffix=TMP_SUFFIX, dir=path.parent))
    try:
        os.chmod(tmp, DIR_MODE)
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
