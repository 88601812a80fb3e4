"""The read plan: what an adapter may read next without passing the message's end.

IOStream cannot un-read, and `detach` hands the stream (with whatever it
still holds) to the websocket code, so the engine must never consume a byte
of the next message.  The readers say what they need as one of these
requests, and the adapter reads exactly that (`tornado_h1alt.streamio.read_for`).
"""

from __future__ import annotations

import functools
from typing import ClassVar, Tuple, Union

from .record import Record

__all__ = [
    "ReadBytes",
    "ReadLine",
    "ReadUntilClose",
    "ReadUntilRegex",
    "Want",
    "head_read_pattern",
    "line_read_pattern",
    "read_head",
]

# The end of a header section (an empty line) as an unanchored read pattern,
# for a stream that cannot search from the start of what it returns.  It
# starts with a literal, which makes it fast to search for.  (Bare LF ends
# lines too, RFC 9112 2.2.)
HEAD_END_READ = b"\n\r?\n"


@functools.lru_cache(maxsize=16)
def head_read_pattern(max_header_size: int) -> bytes:
    """What an adapter reads for a head: through its first empty line, or
    exactly ``max_header_size`` bytes when that many come without one.

    The second branch is what lets a server answer an oversized head with
    414 or 431 (RFC 9112 3, RFC 6585 5): IOStream's own ``max_bytes`` check
    closes the stream instead, so the adapter passes none and this pattern
    bounds the read (an end already buffered further away is matched too,
    and the reader refuses the head for its size).  Neither branch reads
    past the head.  Anchored at the buffer start, the search is one linear
    pass.
    """
    return rb"\A(?:(?:[^\n]*\n)+?\r?\n|[\s\S]{%d})" % max_header_size


@functools.lru_cache(maxsize=64)
def line_read_pattern(max_bytes: int) -> bytes:
    """What an adapter reads for a `ReadLine`: through the next LF, or exactly
    ``max_bytes`` bytes when that many come without one (the line is then
    too long, and the reader says so with a status; as for
    `head_read_pattern`, IOStream's own ``max_bytes`` would close the
    stream first).  Anchored, linear."""
    return rb"\A(?:[^\n]*\n|[\s\S]{%d})" % max_bytes


class ReadUntilRegex(Record):
    """Read up to and including a match of ``pattern`` (a head).

    ``pattern`` is anchored at the start of the read and bounds it to
    ``max_bytes`` itself (see `head_read_pattern`).  ``unanchored`` finds
    the same end for a stream that cannot search from the start of what it
    returns; it needs ``max_bytes`` as IOStream's limit.
    """

    FIELDS: ClassVar[Tuple[str, ...]] = ("pattern", "max_bytes", "unanchored")

    def __init__(self, pattern: bytes, max_bytes: int, unanchored: bytes = HEAD_END_READ) -> None:
        self.pattern = pattern
        self.max_bytes = max_bytes
        self.unanchored = unanchored


class ReadLine(Record):
    """Read up to and including the next LF, at most ``max_bytes`` (see `line_read_pattern`)."""

    FIELDS: ClassVar[Tuple[str, ...]] = ("max_bytes",)

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes


class _SizedRead(Record):
    FIELDS: ClassVar[Tuple[str, ...]] = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size


class ReadBytes(_SizedRead):
    """Read at most ``size`` bytes (fewer is fine)."""


class ReadUntilClose(_SizedRead):
    """Read at most ``size`` bytes; the end of the stream ends the body."""


Want = Union[ReadUntilRegex, ReadLine, ReadBytes, ReadUntilClose]


@functools.lru_cache(maxsize=16)
def read_head(max_header_size: int) -> ReadUntilRegex:
    """The read for a message head under ``max_header_size``."""
    return ReadUntilRegex(head_read_pattern(max_header_size), max_header_size)
