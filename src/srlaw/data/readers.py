"""Readers for raw interaction logs: one function per on-disk format, one record type out.

Every reader returns :class:`Interactions` — parallel arrays of raw user id, raw item id, timestamp (or
``None`` when the format is already chronological) and rating (or ``None``). Each row keeps its position in the
file (``row``), which :func:`srlaw.data.dataset.build_dataset` uses as the documented tie-break for equal
timestamps. Malformed input raises :class:`InputFormatError` naming the file, the line and the problem.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srlaw.core.errors import DataError

FORMATS = ("sasrec", "s3rec", "movielens-dat", "movielens-100k", "movielens-csv", "recbole", "csv")


class InputFormatError(DataError):
    """A raw interaction file that cannot be read; the message names file, line and problem."""

    def __init__(self, path: str | os.PathLike, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass
class Interactions:
    """Raw interactions as read, before id remapping and sorting."""

    user: np.ndarray  # int64 raw user ids
    item: np.ndarray  # int64 raw item ids
    timestamp: np.ndarray | None  # float64, None when the file order is already chronological per user
    rating: np.ndarray | None  # float64, None when the format carries no rating
    source: str  # path that was read

    def __len__(self) -> int:
        return len(self.user)


INT64_MAX = 2**63 - 1
_ID = re.compile(r"[0-9]+")  # ASCII digits only: int() would also take '1_0', full-width digits and '-1'
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")  # no nan, inf, '_' or other scripts
_IDS_ONLY = re.compile(rb"[0-9 \t\r\n]*")
BOM = "\ufeff"


def _parse_int(text: str, path, lineno: int, field: str) -> int:
    """A raw id: ASCII digits, >= 0, inside int64 (ids are int64 arrays; 0 and up keep clear of padding)."""
    t = text.strip()
    if not _ID.fullmatch(t):
        if re.fullmatch(r"-[0-9]+", t):
            raise InputFormatError(path, lineno, f"{field} {t!r} is negative; ids must be >= 0")
        raise InputFormatError(path, lineno, f"{field} {t!r} is not an integer id (ASCII digits only)")
    value = int(t)
    if value > INT64_MAX:
        raise InputFormatError(path, lineno, f"{field} {t!r} is outside int64 (at most {INT64_MAX})")
    return value


def _parse_float(text: str, path, lineno: int, field: str) -> float:
    """A finite decimal number in ASCII (no nan, inf or digit separators)."""
    t = text.strip()
    if not _NUMBER.fullmatch(t):
        raise InputFormatError(path, lineno, f"{field} {t!r} is not a finite number")
    value = float(t)
    if not math.isfinite(value):
        raise InputFormatError(path, lineno, f"{field} {t!r} is not a finite number")
    return value


def max_input_bytes() -> int:
    """The largest file a reader loads: ``$SRLAW_MAX_INPUT_BYTES``, else a third of this machine's memory (the
    file, its decoded text and the parsed arrays must fit together)."""
    env = os.environ.get("SRLAW_MAX_INPUT_BYTES")
    if env and env.isdigit():
        return int(env)
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 3


def regular_file(path, what: str = "input") -> Path:
    """``path`` if it is a regular file; a FIFO, a device or a folder is refused (reading one can hang or never
    end), as is a missing file."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, None, "no such file")
    if not path.is_file():
        raise InputFormatError(path, None, f"not a regular file (a folder, pipe or device); srlaw reads {what} "
                                           "from files only")
    return path


def _read_bytes(path) -> bytes:
    path = regular_file(path)
    size, cap = path.stat().st_size, max_input_bytes()
    if size > cap:
        raise InputFormatError(path, None, f"{size:,} bytes, over the {cap:,} srlaw reads at once (a third of this "
                                           "machine's memory; set SRLAW_MAX_INPUT_BYTES to raise it)")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputFormatError(path, None, f"cannot read: {e.strerror or e}") from None


def _decode(path, data: bytes) -> str:
    """UTF-8 text (a leading byte-order mark is dropped); a bad byte is named with its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise InputFormatError(path, line, f"not UTF-8 text (byte 0x{data[e.start]:02x}); re-save the file as UTF-8") from None
    return text[1:] if text.startswith(BOM) else text


def _read_lines(path) -> list[str]:
    """The file's lines without their line ends (LF or CRLF), numbered from 1 by position in the list."""
    return [ln.rstrip("\r") for ln in _decode(path, _read_bytes(path)).split("\n")]


def _finish(path, users, items, timestamps=None, ratings=None) -> Interactions:
    if not users:
        raise InputFormatError(path, None, "file holds no interactions (empty file)")
    return Interactions(
        user=np.asarray(users, dtype=np.int64),
        item=np.asarray(items, dtype=np.int64),
        timestamp=None if timestamps is None else np.asarray(timestamps, dtype=np.float64),
        rating=None if ratings is None else np.asarray(ratings, dtype=np.float64),
        source=str(path),
    )


def _read_fixed_columns(path, sep, names, skip_header=False) -> Interactions:
    """Lines with exactly ``len(names)`` fields; names among user/item/rating/timestamp."""
    users, items, ratings, stamps = [], [], [], []
    want = len(names)
    for lineno, line in enumerate(_read_lines(path), 1):
        if (skip_header and lineno == 1) or not line.strip():
            continue
        parts = line.split(sep) if sep else line.split()
        if len(parts) != want:
            raise InputFormatError(path, lineno, f"expected {want} columns ({', '.join(names)}), found {len(parts)}")
        row = dict(zip(names, parts))
        users.append(_parse_int(row["user"], path, lineno, "user id"))
        items.append(_parse_int(row["item"], path, lineno, "item id"))
        if "rating" in row:
            ratings.append(_parse_float(row["rating"], path, lineno, "rating"))
        if "timestamp" in row:
            stamps.append(_parse_float(row["timestamp"], path, lineno, "timestamp"))
    return _finish(path, users, items, stamps if "timestamp" in names else None,
                   ratings if "rating" in names else None)


def read_sasrec(path) -> Interactions:
    """SASRec/BERT4Rec ``user item`` lines, chronological within each user."""
    # Fast path: one vectorised parse of a file of ASCII digits; anything else (a sign, a BOM, a stray character,
    # an id past int64) goes to the line reader, which names the line and the problem.
    data = _read_bytes(path)
    if _IDS_ONLY.fullmatch(data):
        lines = [ln for ln in data.splitlines() if ln.strip()]
        try:
            flat = np.array(data.split(), dtype=np.int64)
            if len(lines) and len(flat) == 2 * len(lines) and all(len(ln.split()) == 2 for ln in lines):
                table = flat.reshape(-1, 2)
                return Interactions(table[:, 0].copy(), table[:, 1].copy(), None, None, str(path))
        except (ValueError, OverflowError):
            pass
    return _read_fixed_columns(path, None, ("user", "item"))


def read_s3rec(path) -> Interactions:
    """S3Rec files: one line per user, ``user i1 i2 …`` in chronological order."""
    users, items = [], []
    for lineno, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise InputFormatError(path, lineno, "expected a user id followed by at least one item id, found 1 column")
        user = _parse_int(parts[0], path, lineno, "user id")
        for tok in parts[1:]:
            users.append(user)
            items.append(_parse_int(tok, path, lineno, "item id"))
    return _finish(path, users, items)


def read_movielens_dat(path) -> Interactions:
    """MovieLens-1M/10M ``ratings.dat``: ``user::item::rating::timestamp``."""
    return _read_fixed_columns(path, "::", ("user", "item", "rating", "timestamp"))


def read_movielens_100k(path) -> Interactions:
    """MovieLens-100K ``u.data``: tab-separated ``user item rating timestamp``."""
    return _read_fixed_columns(path, "\t", ("user", "item", "rating", "timestamp"))


def _csv_rows(path, f, sep):
    """The rows of a delimited file; a line the csv module cannot parse (a field over its size limit, a stray
    quote) is named by its line."""
    reader = csv.reader(f, delimiter=sep)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InputFormatError(path, reader.line_num, f"not a valid delimited line ({e})") from None


def _read_header_table(path, sep, mapping: dict[str, str | None], header_names=None) -> Interactions:
    """Delimited table with a header row; ``mapping`` maps user/item/timestamp/rating to header names."""
    with io.StringIO(_decode(path, _read_bytes(path)), newline="") as f:
        reader = _csv_rows(path, f, sep)
        try:
            header = next(reader)
        except StopIteration:
            raise InputFormatError(path, None, "file holds no interactions (empty file)") from None
        names = header_names(header) if header_names else [h.strip() for h in header]
        index = {}
        for role, column in mapping.items():
            if column is None:
                continue
            if column not in names:
                raise InputFormatError(path, 1, f"missing column {column!r} for {role} (header has {names})")
            index[role] = names.index(column)
        for role in ("user", "item"):
            if role not in index:
                raise InputFormatError(path, 1, f"no column mapped to {role}")
        users, items, stamps, ratings = [], [], [], []
        for lineno, parts in enumerate(reader, 2):
            if not parts or not any(p.strip() for p in parts):
                continue
            if len(parts) != len(names):
                raise InputFormatError(path, lineno, f"expected {len(names)} columns, found {len(parts)}")
            users.append(_parse_int(parts[index["user"]], path, lineno, f"user id ({mapping['user']})"))
            items.append(_parse_int(parts[index["item"]], path, lineno, f"item id ({mapping['item']})"))
            if "timestamp" in index:
                stamps.append(_parse_float(parts[index["timestamp"]], path, lineno, f"timestamp ({mapping['timestamp']})"))
            if "rating" in index:
                ratings.append(_parse_float(parts[index["rating"]], path, lineno, f"rating ({mapping['rating']})"))
    return _finish(path, users, items, stamps if "timestamp" in index else None,
                   ratings if "rating" in index else None)


def read_movielens_csv(path) -> Interactions:
    """MovieLens ``ratings.csv`` (ml-latest, ml-25m…): header ``userId,movieId,rating,timestamp``."""
    return _read_header_table(path, ",", {"user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"})


def read_recbole(path) -> Interactions:
    """RecBole atomic ``.inter`` file: tab-separated, typed header such as ``user_id:token``."""
    def strip_types(header):
        return [h.strip().split(":")[0] for h in header]

    first = _read_lines(path)[0]
    names = strip_types(first.split("\t")) if first else []
    mapping = {"user": "user_id", "item": "item_id",
               "timestamp": "timestamp" if "timestamp" in names else None,
               "rating": "rating" if "rating" in names else None}
    return _read_header_table(path, "\t", mapping, header_names=strip_types)


def read_csv(path, columns: dict | None = None, delimiter: str = ",") -> Interactions:
    """Generic delimited file with a header; ``columns`` maps user/item/timestamp/rating to header names."""
    columns = dict(columns or {})
    mapping = {"user": columns.get("user", "user"), "item": columns.get("item", "item"),
               "timestamp": columns.get("timestamp"), "rating": columns.get("rating")}
    unknown = set(columns) - set(mapping)
    if unknown:
        raise InputFormatError(path, None, f"unknown column roles {sorted(unknown)}; expected user, item, timestamp, rating")
    return _read_header_table(path, delimiter, mapping)


def read_interactions(path, fmt: str, columns: dict | None = None, delimiter: str = ",") -> Interactions:
    """Read ``path`` in format ``fmt`` (one of :data:`FORMATS`)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise InputFormatError(path, None, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InputFormatError(path, None, "no such file")
    if fmt == "csv":
        return read_csv(path, columns, delimiter)
    return {
        "sasrec": read_sasrec,
        "s3rec": read_s3rec,
        "movielens-dat": read_movielens_dat,
        "movielens-100k": read_movielens_100k,
        "movielens-csv": read_movielens_csv,
        "recbole": read_recbole,
    }[fmt](path)


def parse_columns(text: str | None) -> dict:
    """``user=uid,item=iid,timestamp=ts`` → ``{"user": "uid", ...}``."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        role, sep, column = part.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise DataError(f"--columns must look like user=uid,item=iid,timestamp=ts; got {text!r}")
        out[role.strip()] = column.strip()
    return out
