"""Readers for raw interaction logs: one function per on-disk format, one record type out.

Every reader returns :class:`Interactions` — parallel arrays of raw user id, raw item id, timestamp (or
``None`` when the format is already chronological) and rating (or ``None``), in file order, which
:func:`srlaw.data.dataset.build_dataset` uses as the documented tie-break for equal timestamps. Malformed input
raises :class:`InputFormatError` naming the file, the line and the problem.

Files are read a chunk of whole lines at a time and parsed by :mod:`srlaw.data.scan` (numpy on the bytes); a chunk
the fast path does not take is parsed here line by line, which reads it the same way or names its bad line.
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
from srlaw.data import scan

FORMATS = ("sasrec", "s3rec", "movielens-dat", "movielens-100k", "movielens-csv", "recbole", "csv", "parquet-sequences")
FOLDER_FORMATS = ("parquet-sequences",)  # may also be read from a folder of part files (an engine's output)


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
    """The largest file a reader takes: ``$SRLAW_MAX_INPUT_BYTES``, else a third of this machine's memory (the file
    is read in chunks, but its parsed arrays and their joining take about three times its size)."""
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


def _check_size(path) -> Path:
    path = regular_file(path)
    size, cap = path.stat().st_size, max_input_bytes()
    if size > cap:
        raise InputFormatError(path, None, f"{size:,} bytes, over the {cap:,} srlaw reads at once (a third of this "
                               "machine's memory; set SRLAW_MAX_INPUT_BYTES to raise it)")
    return path


def _chunks(path):
    """The file as runs of whole lines (:func:`srlaw.data.scan.chunks`), an unreadable file named in one line."""
    try:
        yield from scan.chunks(_check_size(path))
    except OSError as e:
        raise InputFormatError(path, None, f"cannot read: {e.strerror or e}") from None


def _after(path, error: InputFormatError, first_line: int, offset: int, chunk: bytes) -> InputFormatError:
    """The error to report when a chunk's lines hold ``error``: a byte that is not UTF-8 further on comes first, as
    it did when the whole file was decoded before it was parsed."""
    start = (first_line + chunk.count(b"\n"), offset + len(chunk))
    for line, _, later in scan.chunks(path, start=start):
        try:
            _decode(path, later, line)
        except InputFormatError as utf8:
            return utf8
    return error


def _decode(path, data: bytes, first_line: int = 1) -> str:
    """UTF-8 text; a bad byte is named with its line (``data`` starts at line ``first_line``)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = first_line + data[:e.start].count(b"\n")
        raise InputFormatError(path, line, f"not UTF-8 text (byte 0x{data[e.start]:02x}); re-save the file as UTF-8") from None


def _lines(path, data: bytes, first_line: int):
    """(line number, text without its line end) of every line of a chunk."""
    text = _decode(path, data, first_line).split("\n")
    if text and text[-1] == "":
        text.pop()
    return ((first_line + i, ln.rstrip("\r")) for i, ln in enumerate(text))


class _Columns:
    """Parsed columns gathered chunk by chunk, then joined once."""

    def __init__(self, names):
        self.parts = {name: [] for name in names}

    def add(self, **columns):
        for name, values in columns.items():
            self.parts[name].append(np.asarray(values, dtype=np.int64 if name in ("user", "item") else np.float64))

    def finish(self, path) -> Interactions:
        users = self.parts["user"]
        if not sum(len(u) for u in users):
            raise InputFormatError(path, None, "file holds no interactions (empty file)")
        joined = {name: np.concatenate(parts) if parts else None for name, parts in self.parts.items()}
        return Interactions(user=joined["user"], item=joined["item"], timestamp=joined.get("timestamp"),
                            rating=joined.get("rating"), source=str(path))


KIND = {"user": "id", "item": "id", "rating": "number", "timestamp": "number"}
FIELD = {"user": "user id", "item": "item id", "rating": "rating", "timestamp": "timestamp"}
PARSE = {"id": _parse_int, "number": _parse_float}


def _parse_fixed_lines(path, lines, sep, names, columns: _Columns) -> None:
    """The line reader: lines with exactly ``len(names)`` fields; blank lines skipped."""
    want = len(names)
    values = {name: [] for name in names}
    for lineno, line in lines:
        if not line.strip():
            continue
        parts = line.split(sep) if sep else line.split()
        if len(parts) != want:
            raise InputFormatError(path, lineno, f"expected {want} columns ({', '.join(names)}), found {len(parts)}")
        for name, text in zip(names, parts):
            values[name].append(PARSE[KIND[name]](text, path, lineno, FIELD[name]))
    columns.add(**values)


def _read_fixed_columns(path, sep, names) -> Interactions:
    """Lines with exactly ``len(names)`` fields; names among user/item/rating/timestamp. Each chunk is parsed by
    :mod:`srlaw.data.scan`, or line by line where it holds anything the fast path does not take."""
    columns = _Columns(names)
    kinds = tuple(KIND[n] for n in names)
    for first_line, offset, chunk in _chunks(path):
        if sep is None:
            fast = scan.whitespace_fields(chunk, kinds)
        else:
            found = scan.delimited_fields(chunk, sep.encode(), len(names), dict(enumerate(kinds)), csv=False)
            fast = None if found is None else [found[j] for j in range(len(names))]
        if fast is None:
            try:
                _parse_fixed_lines(path, _lines(path, chunk, first_line), sep, names, columns)
            except InputFormatError as e:
                raise _after(path, e, first_line, offset, chunk) from None
        else:
            columns.add(**dict(zip(names, fast)))
    return columns.finish(path)


def read_sasrec(path) -> Interactions:
    """SASRec/BERT4Rec ``user item`` lines, chronological within each user."""
    return _read_fixed_columns(path, None, ("user", "item"))


def read_s3rec(path) -> Interactions:
    """S3Rec files: one line per user, ``user i1 i2 …`` in chronological order."""
    columns = _Columns(("user", "item"))
    for first_line, offset, chunk in _chunks(path):
        fast = scan.whitespace_fields(chunk, None)
        if fast is not None:
            columns.add(user=fast[0], item=fast[1])
            continue
        try:
            columns.add(**_parse_s3rec_lines(path, _lines(path, chunk, first_line)))
        except InputFormatError as e:
            raise _after(path, e, first_line, offset, chunk) from None
    return columns.finish(path)


def _parse_s3rec_lines(path, lines) -> dict:
    """The line reader of S3Rec files."""
    users, items = [], []
    for lineno, line in lines:
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise InputFormatError(path, lineno, "expected a user id followed by at least one item id, found 1 column")
        user = _parse_int(parts[0], path, lineno, "user id")
        for tok in parts[1:]:
            users.append(user)
            items.append(_parse_int(tok, path, lineno, "item id"))
    return {"user": users, "item": items}


def read_movielens_dat(path) -> Interactions:
    """MovieLens-1M/10M ``ratings.dat``: ``user::item::rating::timestamp``."""
    return _read_fixed_columns(path, "::", ("user", "item", "rating", "timestamp"))


def read_movielens_100k(path) -> Interactions:
    """MovieLens-100K ``u.data``: tab-separated ``user item rating timestamp``."""
    return _read_fixed_columns(path, "\t", ("user", "item", "rating", "timestamp"))


def _csv_rows(path, f, sep, first_line: int = 1):
    """The rows of a delimited file (``f`` starts at line ``first_line``); a line the csv module cannot parse (a
    field over its size limit, a stray quote) is named by its line."""
    reader = csv.reader(f, delimiter=sep)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InputFormatError(path, first_line - 1 + reader.line_num, f"not a valid delimited line ({e})") from None


def _header(path, sep, header_names=None) -> list[str]:
    """The column names of a delimited file's first line."""
    for _, _, chunk in _chunks(path):
        first = chunk.split(b"\n", 1)[0]
        with io.StringIO(_decode(path, first), newline="") as f:
            for header in _csv_rows(path, f, sep):
                return header_names(header) if header_names else [h.strip() for h in header]
        break
    raise InputFormatError(path, None, "file holds no interactions (empty file)")


def _read_header_table(path, sep, mapping: dict[str, str | None], header_names=None) -> Interactions:
    """Delimited table with a header row; ``mapping`` maps user/item/timestamp/rating to header names.

    The body is parsed chunk by chunk by :mod:`srlaw.data.scan`; from the first chunk the fast path does not take
    (a quote, a malformed line) to the end, the csv module reads it, as it reads a whole file."""
    names = _header(path, sep, header_names)
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
    columns = _Columns(index)
    wanted = {index[role]: KIND[role] for role in index}
    for first_line, offset, chunk in _chunks(path):
        if first_line == 1:  # the header line
            cut = chunk.find(b"\n") + 1
            if cut == 0:
                break
            first_line, offset, chunk = 2, offset + cut, chunk[cut:]
            if not chunk:
                continue
        found = scan.delimited_fields(chunk, sep.encode(), len(names), wanted, csv=True)
        if found is None:
            _read_rest_csv(path, sep, offset, first_line, names, index, mapping, columns)
            break
        columns.add(**{role: found[j] for role, j in index.items()})
    return columns.finish(path)


def _read_rest_csv(path, sep, offset, first_line, names, index, mapping, columns: _Columns) -> None:
    """The line reader for a header table: the csv module on the file from byte ``offset`` (line ``first_line``)."""
    with open(path, "rb") as f:
        f.seek(offset)
        text = _decode(path, f.read(), first_line)
    values = {role: [] for role in index}
    with io.StringIO(text, newline="") as f:
        for lineno, parts in enumerate(_csv_rows(path, f, sep, first_line), first_line):
            if not parts or not any(p.strip() for p in parts):
                continue
            if len(parts) != len(names):
                raise InputFormatError(path, lineno, f"expected {len(names)} columns, found {len(parts)}")
            for role in ("user", "item", "timestamp", "rating"):
                if role in index:
                    values[role].append(PARSE[KIND[role]](parts[index[role]], path, lineno,
                                                          f"{FIELD[role]} ({mapping[role]})"))
    columns.add(**values)


def read_movielens_csv(path) -> Interactions:
    """MovieLens ``ratings.csv`` (ml-latest, ml-25m…): header ``userId,movieId,rating,timestamp``."""
    return _read_header_table(path, ",", {"user": "userId", "item": "movieId", "rating": "rating", "timestamp": "timestamp"})


def read_recbole(path) -> Interactions:
    """RecBole atomic ``.inter`` file: tab-separated, typed header such as ``user_id:token``."""
    def strip_types(header):
        return [h.strip().split(":")[0] for h in header]

    names = _header(path, "\t", strip_types)
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


PARQUET_BATCH_ROWS = 1 << 16  # users per record batch: memory bounded by the arrays, not the file


def parquet_parts(path) -> list[Path]:
    """The Parquet files of ``path``: the file itself, or a folder's ``*.parquet`` files in name order."""
    path = Path(path)
    if path.is_dir():
        parts = sorted(p for p in path.iterdir() if p.suffix == ".parquet")
        if not parts:
            raise InputFormatError(path, None, "folder holds no .parquet files")
        for part in parts:
            regular_file(part)
        return parts
    return [regular_file(path)]


def read_parquet_sequences(path) -> Interactions:
    """Per-user sequences in Parquet, as a distributed engine writes them (docs/scale.md): one row per user, an integer
    ``user`` and a list of integer ``items`` in chronological order; one file or a folder of part files. Read a
    record batch at a time with pyarrow; a bad row is named by file and row."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InputFormatError(path, None, "reading Parquet needs pyarrow: pip install 'srlaw[parquet]'") from None
    columns = _Columns(("user", "item"))
    for part in parquet_parts(path):
        try:
            pf = pq.ParquetFile(part)
        except (pa.ArrowInvalid, OSError) as e:
            raise InputFormatError(part, None, f"not a Parquet file ({e})") from None
        schema = pf.schema_arrow
        for name in ("user", "items"):
            if name not in schema.names:
                raise InputFormatError(part, None, f"missing column {name!r} (a sequence file has user and items; "
                                                   f"it has {schema.names})")
        user_type, items_type = schema.field("user").type, schema.field("items").type
        if not pa.types.is_integer(user_type) or not (pa.types.is_list(items_type) or pa.types.is_large_list(items_type)) \
                or not pa.types.is_integer(items_type.value_type):
            raise InputFormatError(part, None, f"user must be an integer and items a list of integers; found "
                                               f"user: {user_type}, items: {items_type}")
        row = 0
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=["user", "items"]):
            user, items = batch.column("user"), batch.column("items")
            if user.null_count or items.null_count or items.flatten().null_count:
                bad = next(i for i in range(len(batch)) if not user[i].is_valid or not items[i].is_valid
                           or items[i].values.null_count)
                raise InputFormatError(part, None, f"row {row + bad}: null user, items or item")
            ids, values = user.to_numpy(zero_copy_only=False), items.flatten().to_numpy(zero_copy_only=False)
            for what, arr in (("user", ids), ("item", values)):
                if arr.dtype == np.uint64 and len(arr) and arr.max() > INT64_MAX:
                    raise InputFormatError(part, None, f"an {what} id is outside int64 (at most {INT64_MAX})")
            ids, values = ids.astype(np.int64), values.astype(np.int64)
            lengths = np.diff(items.offsets.to_numpy())
            if (ids < 0).any():
                raise InputFormatError(part, None, f"row {row + int(np.flatnonzero(ids < 0)[0])}: negative user id; "
                                                   "ids must be >= 0")
            if (values < 0).any():
                at = int(np.searchsorted(np.cumsum(lengths), np.flatnonzero(values < 0)[0], side="right"))
                raise InputFormatError(part, None, f"row {row + at}: negative item id; ids must be >= 0")
            columns.add(user=np.repeat(ids, lengths), item=values)
            row += len(batch)
    return columns.finish(path)


def input_path(path, fmt: str) -> Path:
    """``path`` checked for reading in ``fmt``: a regular file, or for an engine's format its folder of parts."""
    if fmt in FOLDER_FORMATS and Path(path).is_dir():
        parquet_parts(path)
        return Path(path)
    return regular_file(path)


def read_interactions(path, fmt: str, columns: dict | None = None, delimiter: str = ",") -> Interactions:
    """Read ``path`` in format ``fmt`` (one of :data:`FORMATS`)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise InputFormatError(path, None, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.exists() or (not path.is_file() and fmt not in FOLDER_FORMATS):
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
        "parquet-sequences": read_parquet_sequences,
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
