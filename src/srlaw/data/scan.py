"""Vectorised parsing of interaction files, a chunk of whole lines at a time (numpy on the bytes, no object per line).

Each function takes one chunk of a file and returns its columns as arrays, or ``None`` when the chunk holds anything
the fast path does not handle exactly as the line readers of :mod:`srlaw.data.readers` would — a sign, an exponent,
spaces around a field, a quote, a field too long, a malformed line. The reader then parses that chunk line by line,
which either reads it the same way or names the bad line. So the fast path only ever accepts what the line reader
accepts, with the same values: ids are ASCII digits; a number is digits with at most one dot, turned into a float by
one correctly rounded division (``int(digits) / 10**k``), which equals Python's ``float(text)`` below 2**53.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

CHUNK_BYTES = 1 << 24  # 16 MiB of lines at a time: peak memory is set by the parsed arrays, not the file
ID_DIGITS = 18  # below 10**18 an id fits int64 however its digits fall; longer ids take the line reader
NUMBER_DIGITS = 15  # below 10**15 < 2**53 a decimal's digits are an exact float
CSV_FIELD_LIMIT = 131072  # the csv module's default field_size_limit: a longer field is its error, not ours
BOM = b"\xef\xbb\xbf"
NEWLINE, CR, DOT, QUOTE = 10, 13, 46, 34


def chunks(path: Path, size: int | None = None, start: tuple[int, int] = (1, 0)) -> Iterator[tuple[int, int, bytes]]:
    """(first line number, byte offset, bytes) of consecutive runs of whole lines from ``start`` (line, offset);
    a leading BOM is dropped."""
    size = size or CHUNK_BYTES
    (line, offset), carry = start, b""
    with open(path, "rb") as f:
        f.seek(offset)
        head = f.read(len(BOM))
        if head == BOM and offset == 0:
            offset = len(BOM)
        else:
            carry = head
        while True:
            block = f.read(size)
            if not block:
                if carry:
                    yield line, offset, carry
                return
            data = carry + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            yield line, offset, data[:cut]
            line += data.count(b"\n", 0, cut)
            offset += cut
            carry = data[cut:]


def _numbers(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, integer: bool) -> np.ndarray | None:
    """The values of the fields ``buf[starts[i]:ends[i]]``: int64 ids, or float64 decimals; None if any field is
    not of that plain form (empty, a sign, an exponent, another character, too many digits)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64 if integer else np.float64)
    lengths = ends - starts
    longest = int(lengths.max())
    if lengths.min() < 1 or longest > (ID_DIGITS if integer else NUMBER_DIGITS + 1):
        return None
    value = np.zeros(len(starts), dtype=np.int64)
    digits = np.zeros(len(starts), dtype=np.int64)
    dots = np.zeros(len(starts), dtype=np.int64)
    after_dot = np.zeros(len(starts), dtype=np.int64)
    last = len(buf) - 1
    for k in range(longest):
        pos = starts + k
        inside = pos < ends
        c = buf[np.minimum(pos, last)].astype(np.int64)
        is_digit = inside & (c >= 48) & (c <= 57)
        is_dot = inside & (c == DOT)
        if (inside & ~is_digit & ~(is_dot & (not integer))).any():
            return None
        value = np.where(is_digit, value * 10 + (c - 48), value)
        after_dot += is_digit & (dots > 0)
        dots += is_dot
        digits += is_digit
    if (digits < 1).any() or (dots > 1).any():
        return None
    if integer:
        return value
    if (digits > NUMBER_DIGITS).any():
        return None
    return value.astype(np.float64) / np.power(10.0, after_dot)


def _line_bounds(buf: np.ndarray):
    """Start and end (a CR before the LF excluded) of every line of a chunk, and the LF positions."""
    nl = np.flatnonzero(buf == NEWLINE)
    if len(buf) == 0:
        return nl, nl, nl
    if buf[-1] != NEWLINE:  # the file's last line, without a line end
        nl = np.append(nl, len(buf))
    starts = np.concatenate([[0], nl[:-1] + 1]).astype(np.int64)
    ends = nl.copy()
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == CR)
    ends[has_cr] -= 1
    return starts, ends, nl


def whitespace_fields(chunk: bytes, kinds: tuple[str, ...] | None):
    """Whitespace-separated lines (``line.split()``): with ``kinds`` (one of ``"id"``/``"number"`` per column)
    every non-blank line must hold exactly that many fields; with ``None``, a user id then one or more item ids
    (S3Rec). Returns the column arrays (S3Rec: user, item), or None for the line reader."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    space = (buf == 32) | (buf == 9) | (buf == CR) | (buf == NEWLINE)
    token = ~space
    prev = np.concatenate([[False], token[:-1]])
    nxt = np.concatenate([token[1:], [False]])
    starts = np.flatnonzero(token & ~prev)
    ends = np.flatnonzero(token & ~nxt) + 1
    nl = np.flatnonzero(buf == NEWLINE)
    line_of = np.searchsorted(nl, starts)
    per_line = np.bincount(line_of, minlength=len(nl) + 1)
    if kinds is None:  # S3Rec: user then items
        if len(starts) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        used = per_line[per_line > 0]
        if (used < 2).any():
            return None
        first = np.zeros(len(starts), dtype=bool)
        first[np.concatenate([[0], np.cumsum(used)[:-1]])] = True
        values = _numbers(buf, starts, ends, integer=True)
        if values is None:
            return None
        return np.repeat(values[first], used - 1), values[~first]
    used = per_line[per_line > 0]
    if (used != len(kinds)).any():
        return None
    columns = []
    for j, kind in enumerate(kinds):
        values = _numbers(buf, starts[j::len(kinds)], ends[j::len(kinds)], integer=kind == "id")
        if values is None:
            return None
        columns.append(values)
    return columns


def delimited_fields(chunk: bytes, sep: bytes, n_columns: int, wanted: dict[int, str], csv: bool):
    """Lines of ``n_columns`` fields split by ``sep`` (one byte, or ``::``); ``wanted`` maps a column index to
    ``"id"`` or ``"number"``. Blank lines are skipped. ``csv``: the chunk is csv-module text (a quote, a lone CR or
    an over-long field sends it to the csv reader; other columns may hold any text). Returns {column: array} or
    None for the line reader."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    if csv:
        if QUOTE in buf or 0 in buf:
            return None
        try:
            chunk.decode("utf-8")  # other columns may be any text, but it must be text
        except UnicodeDecodeError:
            return None
    line_start, line_end, _ = _line_bounds(buf)
    lone_cr = np.flatnonzero(buf == CR)
    if len(lone_cr) and not np.isin(lone_cr, line_end).all():
        return None  # a CR inside a line: the csv module ends a line there, str.split does not
    if len(sep) == 1:
        seps = np.flatnonzero(buf == sep[0])
    else:  # "::": colons must come in adjacent pairs, never alone or three in a row
        colons = np.flatnonzero(buf == sep[0])
        if len(colons) % 2 or (colons[1::2] != colons[0::2] + 1).any():
            return None
        seps = colons[0::2]
    line_of_sep = np.searchsorted(line_start, seps, side="right") - 1
    seps_per_line = np.bincount(line_of_sep, minlength=len(line_start))
    blank = line_end == line_start
    if (seps_per_line[blank] != 0).any() or (seps_per_line[~blank] != n_columns - 1).any():
        return None
    starts = np.sort(np.concatenate([line_start[~blank], seps + len(sep)])).reshape(-1, n_columns)
    ends = np.sort(np.concatenate([seps, line_end[~blank]])).reshape(-1, n_columns)
    if csv and len(starts) and (ends - starts).max() > CSV_FIELD_LIMIT:
        return None
    out = {}
    for column, kind in wanted.items():
        values = _numbers(buf, starts[:, column], ends[:, column], integer=kind == "id")
        if values is None:
            return None
        out[column] = values
    return out
