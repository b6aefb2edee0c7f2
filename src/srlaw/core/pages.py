"""Generated blocks inside hand-written pages: what lies between a begin and an end marker is a program's to write,
the rest of the page its author's."""

from __future__ import annotations

from .errors import SrlawError


class PageBlockError(SrlawError, ValueError):
    """A page lacks its pair of markers, or holds it more than once or out of order."""


def with_block(text: str, begin: str, end: str, block: str, page: object) -> str:
    """``text`` with what lies between ``begin`` and ``end`` replaced by ``block`` (one line each side of it, the
    markers and everything else unchanged); :class:`PageBlockError` naming ``page`` where the pair is not there once."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise PageBlockError(f"{page} needs one {begin!r} … {end!r} pair")
    head, rest = text.split(begin)
    return f"{head}{begin}\n{block.strip(chr(10))}\n{end}{rest.split(end, 1)[1]}"
