"""Output folders srlaw owns: it never deletes or overwrites what it did not write.

A folder given as ``--out`` holds srlaw's marker (:data:`MARKER`: which kind of output it is, which input it
holds the work of). Before anything is written, :func:`claim` checks the folder: a new or empty one is claimed; one
with the marker of the same kind is resumed; anything else — a file srlaw did not write, a released or pipeline
law, another kind of output, the work of another input — is refused with one line, and nothing is touched.

One writer at a time: :func:`claim` also takes an exclusive ``flock`` on the marker's lock file. The kernel drops
the lock when its process ends, however it ends, so a killed writer never leaves a folder locked.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from srlaw import __version__
from srlaw.core.atomic import is_temporary_of, write_json_atomic
from srlaw.core.errors import SrlawError

MARKER = ".srlaw-output.json"
# what srlaw wrote into an output folder before it marked them: such a folder is adopted, nothing else is
LEGACY = {"calibration": ({"law.json", "manifest.json", "work"}, {"data", "runs", "plan.json", "scores.json"}),
          "run": ({"metrics.json", "run.json", "curve.json", "checkpoints", "dvclive", "work"}, {"data"})}
LOCK = ".srlaw-output.lock"
SHOWN = 3  # foreign names shown in a refusal


def _ours(name: str) -> bool:
    """Names srlaw's claiming itself writes: the lock, and the marker's temporary while another srlaw process (or
    one killed mid-write) writes the marker through :func:`write_json_atomic`."""
    return name == LOCK or is_temporary_of(name, MARKER)


class OutputError(SrlawError):
    """An output folder srlaw may not write into."""


def _marker(out: Path) -> dict | None:
    path = out / MARKER
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        raise OutputError(f"{path}: unreadable srlaw marker; give a new --out") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise OutputError(f"{path}: not a srlaw marker (no 'kind'); give a new --out")
    return doc


def _refusal(out: Path) -> str:
    """Why a folder without srlaw's marker may not be written into."""
    names = sorted(p.name for p in out.iterdir() if not _ours(p.name))
    if "law.json" in names and "manifest.json" in names:
        return (f"{out}: holds a law that srlaw released elsewhere (law.json + manifest.json, no {MARKER}); "
                "srlaw never writes over it: give a new --out")
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
    return f"{out}: holds files srlaw did not write ({shown}); give an empty or new --out"


def _legacy(out: Path, kind: str) -> bool:
    """A ``kind`` output written by an srlaw without markers: only its own names, and its prepared data."""
    top, work = LEGACY.get(kind, (set(), set()))
    names = {p.name for p in out.iterdir() if not _ours(p.name)}
    return (names <= top and (out / "work" / "data" / "stats.json").is_file()
            and {p.name for p in (out / "work").iterdir()} <= work)


def check_output(out, kind: str) -> dict | None:
    """Whether ``out`` may hold an output of ``kind``, without touching anything: its marker (None: new or
    empty), or :class:`OutputError` naming why not."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; give a new --out")
    if not out.exists():
        return None
    marker = _marker(out)
    if marker is None:
        if any(not _ours(p.name) for p in out.iterdir()) and not _legacy(out, kind):
            raise OutputError(_refusal(out))
        return None
    if marker["kind"] != kind:
        raise OutputError(f"{out}: holds a srlaw {marker['kind']} output, not a {kind}; give a new --out")
    return marker


class Claim:
    """An output folder held by this process: ``claim.bind(data_hash)`` ties it to one input; ``release()`` (or
    the end of the process) lets the next writer in."""

    def __init__(self, out: Path, kind: str, fd: int, marker: dict):
        self.out, self.kind, self._fd, self.marker = out, kind, fd, marker

    def bind(self, data_hash: str) -> None:
        """Tie the folder to the input whose prepared data hash is ``data_hash``; refuse another input's."""
        held = self.marker.get("data_hash")
        if held is not None and held != data_hash:
            raise OutputError(f"{self.out}: holds the work of another input (data hash {held[:12]}, this input "
                              f"{data_hash[:12]}); give a new --out")
        self._keep("data_hash", data_hash)

    def hold(self, what: str, value: dict) -> None:
        """Tie the folder to one ``what`` (a run's configuration); refuse another."""
        held = self.marker.get(what)
        if held is not None and held != value:
            shown = ", ".join(f"{k} {v}" for k, v in held.items())
            raise OutputError(f"{self.out}: holds the work of another {what} ({shown}); give a new --out")
        self._keep(what, value)

    def _keep(self, key: str, value) -> None:
        if self.marker.get(key) is None:
            self.marker = {**self.marker, key: value}
            write_json_atomic(self.out / MARKER, self.marker)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def claim(out, kind: str, wait_s: float = 0.0) -> Claim:
    """Check ``out`` (:func:`check_output`), then create it with srlaw's marker and lock it for this process,
    waiting up to ``wait_s`` seconds while another process holds it."""
    out = Path(out)
    marker = check_output(out, kind)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise OutputError(f"{out}: another srlaw process is writing it; wait for it or give another "
                                  "--out") from None
            time.sleep(0.2)
    try:
        marker = check_output(out, kind)  # again under the lock: another writer may have claimed it meanwhile
        if marker is None:
            marker = {"kind": kind, "srlaw_version": __version__}
            write_json_atomic(out / MARKER, marker)
    except BaseException:
        os.close(fd)
        raise
    return Claim(out, kind, fd, marker)
