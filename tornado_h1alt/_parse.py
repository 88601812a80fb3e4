"""Bytes in, events out: the incremental HTTP/1.1 message reader.

No I/O happens here.  `MessageReader` is fed bytes (in any split) and hands
back events; `MessageReader.wants` tells an adapter how much to read next so
that it never consumes bytes that belong to the following message.
"""

from __future__ import annotations

import functools
import re
from typing import List, NamedTuple, Optional, Set, Tuple, Union

from . import _abnf
from ._errors import ProtocolError
from ._framing import (
    BodyKind,
    FieldIndex,
    Framing,
    index_fields,
    received_framing,
    request_keeps_alive,
    response_keeps_alive,
)

__all__ = [
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Head",
    "MessageReader",
    "ReadBytes",
    "ReadLine",
    "ReadUntilClose",
    "ReadUntilRegex",
    "head_read_pattern",
    "line_read_pattern",
    "parse_head",
]

Fields = List[Tuple[str, str]]

# The end of the header section: an empty line.  Bare LF is accepted as a
# line terminator (RFC 9112 2.2), bare CR is not (checked per line).
HEAD_END_PATTERN = b"\r?\n\r?\n"
HEAD_END = re.compile(HEAD_END_PATTERN)
# The same end, as an unanchored read pattern (faster to search for: it
# starts with a literal).  The match ends where HEAD_END's does.
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


@functools.lru_cache(maxsize=16)
def _head_want(max_header_size: int) -> ReadUntilRegex:
    return ReadUntilRegex(head_read_pattern(max_header_size), max_header_size)


# What is buffered of a chunk-size line when only its LF is missing.
_SIZE_THEN_CR = re.compile(rb"([0-9A-Fa-f]{1,16})\r\Z")
# The common chunk-size line: hex digits only (at most 16, see _chunk_size),
# then CRLF; and the same line after the CRLF that ends the chunk before it,
# which is how chunks follow one another.  Matching either is one step where
# the line-by-line checks take several; anything else (extensions, a bad
# line) is left to those checks.
_PLAIN_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})\r\n")
_CRLF_THEN_PLAIN_SIZE_LINE = re.compile(rb"\r\n([0-9A-Fa-f]{1,16})\r\n")
# The start of a request line up to its target (RFC 9112 3).
_REQUEST_LINE_PREFIX = re.compile(rb"%s [\x21-\x7e\x80-\xff]" % _abnf.method.pattern.encode())
# A chunk-size line may carry extensions; 4 KiB is far more than any real
# one and bounds what a peer can make us buffer per chunk.
MAX_CHUNK_LINE = 4096
# The shortest possible end of a chunked body: the last chunk and an empty
# trailer section (RFC 9112 7.1).
LAST_CHUNK = b"0\r\n\r\n"


class Head(NamedTuple):
    """A parsed start line and header section.

    For a request ``start`` is ``(method, target, version)``; for a response
    it is ``(version, status_code, reason)`` with the code as an int.
    """

    start: Tuple[object, object, object]
    version: Tuple[int, int]
    fields: Fields
    framing: Framing
    keep_alive: bool


class Data(NamedTuple):
    """A piece of message body (after removing chunk framing).

    ``chunk_end`` is False only for a piece that stops inside a chunk of a
    chunked body (more of the same chunk follows).
    """

    data: bytes
    chunk_end: bool = True


class ConnectionClosed(NamedTuple):
    """The peer closed the connection cleanly between two messages."""


class EndOfMessage(NamedTuple):
    """The body is complete; ``trailers`` holds any trailer fields (RFC 9112 7.1.2)."""

    trailers: Fields


Event = Union[Head, Data, EndOfMessage, ConnectionClosed]


class ReadUntilRegex(NamedTuple):
    """Read up to and including a match of ``pattern`` (a head).

    ``pattern`` is anchored at the start of the read and bounds it to
    ``max_bytes`` itself (see `head_read_pattern`).  ``unanchored`` finds
    the same end for a stream that cannot search from the start of what it
    returns; it needs ``max_bytes`` as IOStream's limit.
    """

    pattern: bytes
    max_bytes: int
    unanchored: bytes = HEAD_END_READ


class ReadLine(NamedTuple):
    """Read up to and including the next LF, at most ``max_bytes`` (see `line_read_pattern`)."""

    max_bytes: int


class ReadBytes(NamedTuple):
    """Read at most ``size`` bytes (fewer is fine)."""

    size: int


class ReadUntilClose(NamedTuple):
    """Read at most ``size`` bytes; the end of the stream ends the body."""

    size: int


Want = Union[ReadUntilRegex, ReadLine, ReadBytes, ReadUntilClose]


def _parse_fields(lines: List[str], *, allow_obs_fold: bool, what: str) -> Fields:
    fields: Fields = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            # RFC 9112 5.2: obs-fold.  A server must refuse it or unfold it;
            # we refuse (it has no legitimate modern use and is a classic
            # smuggling tool).  A user agent must unfold it: replace the fold
            # with a space.
            if not allow_obs_fold or not fields:
                raise ProtocolError(
                    "%s line cannot start with whitespace, folding not supported" % what
                )
            continuation = line.strip(" \t")
            if _abnf.field_value_forbidden.search(continuation):
                raise ProtocolError("Invalid header value %r" % continuation)
            if continuation:  # (a fold of only whitespace adds nothing)
                name, value = fields[-1]
                fields[-1] = (name, (value + " " + continuation) if value else continuation)
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError("no colon in %s line" % what)
        # RFC 9112 5.1: no whitespace is allowed between the field name and
        # the colon; a server MUST reject such a message with 400.
        if not _abnf.field_name.fullmatch(name):
            raise ProtocolError("Invalid header name %r" % name)
        value = value.strip(" \t")
        # RFC 9110 5.5: CR, LF and NUL (and other controls) are invalid in a
        # field value and a recipient MUST reject or replace them; we reject.
        if _abnf.field_value_forbidden.search(value):
            raise ProtocolError("Invalid header value %r" % value)
        fields.append((name, value))
    return fields


def _split_lines(block: str) -> List[str]:
    lines = block.split("\n")
    for index, line in enumerate(lines):
        if line.endswith("\r"):
            line = lines[index] = line[:-1]
        # RFC 9112 2.2: a bare CR outside a quoted context MUST be treated as
        # invalid (or replaced by SP); a lone CR is a framing disagreement
        # waiting to happen, so we refuse it.
        if "\r" in line:
            raise ProtocolError("bare CR in message head")
    return lines


def _check_host(version: Tuple[int, int], index: FieldIndex) -> None:
    # RFC 9112 3.2: a server MUST respond 400 to an HTTP/1.1 request that
    # lacks a Host field, has more than one, or has an invalid value.
    hosts = index.get("host")
    if hosts is None:
        if version >= (1, 1):
            raise ProtocolError("Missing Host header")
        return
    if len(hosts) > 1 or "," in hosts[0]:
        raise ProtocolError("Multiple host headers not allowed: %r" % ",".join(hosts))
    host = hosts[0]
    if host not in _VALID_HOSTS:
        if not _abnf.host.fullmatch(host):
            raise ProtocolError("Invalid Host header: %r" % host)
        if len(_VALID_HOSTS) < _VALID_HOSTS_LIMIT:
            _VALID_HOSTS.add(host)


# Host values already found valid: a server hears a handful of them.
# Bounded, since peers choose them.
_VALID_HOSTS: Set[str] = set()
_VALID_HOSTS_LIMIT = 256


def _plain_fields(lines: List[str]) -> Fields:
    # Lines already known to be well-formed field lines (_abnf.plain_head):
    # only split and strip.
    fields: Fields = []
    for line in lines:
        name, _, value = line.partition(":")
        fields.append((name, value.strip(" \t")))
    return fields


# The versions nearly every message carries, parsed once.
_VERSIONS = {"HTTP/1.1": (1, 1), "HTTP/1.0": (1, 0)}


def parse_head(
    block: bytes,
    *,
    is_response: bool,
    request_method: Optional[str] = None,
) -> Head:
    """Parse a complete message head (start line and fields, without the final empty line).

    ``request_method`` is the method of the request a response answers; it
    decides whether the response can have a body.
    """
    text = block.decode("latin-1")
    if _abnf.plain_head.fullmatch(text):
        lines = text.split("\r\n")
        fields = _plain_fields(lines[1:])
    else:
        # Bare LF line ends, obs-fold, or an error to be named precisely.
        lines = _split_lines(text)
        fields = _parse_fields(lines[1:], allow_obs_fold=is_response, what="header")
    index = index_fields(fields)
    start_line = lines[0]
    if is_response:
        match = _abnf.status_line.fullmatch(start_line)
        if match is None:
            raise ProtocolError("Error parsing response start line")
        version_text, code_text, reason = match.groups()
        start: Tuple[object, object, object] = (version_text, int(code_text), reason or "")
    else:
        match = _abnf.request_line.fullmatch(start_line)
        if match is None:
            # RFC 9112 3: an invalid request-line SHOULD get a 400.
            raise ProtocolError("Malformed HTTP request line")
        method, target, version_text = match.groups()
        start = (method, target, version_text)
    version = _VERSIONS.get(version_text) or (int(version_text[5]), int(version_text[7]))
    if version[0] != 1:
        # RFC 9110 15.6.6: 505 for a major version we do not speak.
        raise ProtocolError("Unexpected HTTP version %r" % version_text, 505)
    if is_response:
        code = int(code_text)
        framing = received_framing(
            is_response=True,
            version=version,
            fields=index,
            request_method=request_method,
            status_code=code,
        )
        keep_alive = response_keeps_alive(version, index, framing)
    else:
        # Framing first: when a message is wrong in several ways, the
        # framing error (the one that matters for smuggling) is reported.
        framing = received_framing(is_response=False, version=version, fields=index)
        keep_alive = request_keeps_alive(version, index)
        _check_host(version, index)
    if framing.kind is BodyKind.LENGTH:
        lengths = index.get("content-length")
        if lengths is not None and (len(lengths) > 1 or lengths[0] != str(framing.length)):
            fields = _single_content_length(fields, framing.length)
    return Head(start, version, fields, framing, keep_alive)


def _single_content_length(fields: Fields, length: int) -> Fields:
    # RFC 9110 8.6: a recipient that accepts a repeated Content-Length (all
    # values equal) MUST replace it with one field holding that value, so
    # the application never sees "5, 5".
    positions = [i for i, (name, _) in enumerate(fields) if name.lower() == "content-length"]
    first = positions[0]
    return [
        (name, str(length)) if i == first else (name, value)
        for i, (name, value) in enumerate(fields)
        if i == first or i not in positions
    ]


_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _chunk_size(line: bytes) -> int:
    """The size on a chunk-size line (LF included), or -1 if the line is invalid."""
    # RFC 9112 7.1: chunk lines end in CRLF; a bare LF here is where parsers
    # disagree, so it is refused.
    if not line.endswith(b"\r\n"):
        return -1
    digits = line[:-2]
    if 0 < len(digits) <= 16 and not digits.strip(_HEX_DIGITS):
        # The common line, hex digits only.  (int() alone would also take a
        # sign, "0x", "_" or spaces; the strip() check has ruled them out.)
        return int(digits, 16)
    match = _abnf.chunk_size_line.fullmatch(digits.decode("latin-1"))
    # Sixteen hex digits already exceed any sane body; more would only be an
    # overflow attempt against other parsers.
    if match is None or len(match.group(1)) > 16:
        return -1
    # RFC 9112 7.1.1: unrecognised chunk extensions MUST be ignored.
    return int(match.group(1), 16)


class _Phase:
    """The reader's position inside one message; see `MessageReader`."""

    HEAD = "head"
    LENGTH = "length"
    CHUNK_SIZE = "chunk-size"
    CHUNK_DATA = "chunk-data"
    CHUNK_END = "chunk-end"
    TRAILER = "trailer"
    UNTIL_CLOSE = "until-close"
    DONE = "done"


class MessageReader:
    """Reads one HTTP/1 message (request or response) from bytes.

    Feed bytes with `receive_data` (``b""`` signals end of stream) and pull
    events with `next_event`, which returns None when it needs more data.
    Events come in the order `Head`, `Data`..., `EndOfMessage`.  Bytes after
    the end of the message stay buffered in `trailing_data` for the next
    reader.  Body size limits are checked as the body is read, against
    `max_body_size`, which the owner may change after the `Head` event.

    ``coalesce_chunks``: up to this many whole chunks already received may
    come in one `Data` event of a chunked body, at most ``chunk_size`` bytes
    in all, instead of one event per chunk (chunk boundaries carry no
    meaning; for small chunks this saves an event each).  0 (the default)
    or 1: every chunk ends its own `Data` event.  `chunks_read` counts the
    chunks, for an owner that paces its work by them.
    """

    def __init__(
        self,
        *,
        is_response: bool,
        max_header_size: int = 65536,
        max_body_size: Optional[int] = None,
        chunk_size: int = 65536,
        request_method: Optional[str] = None,
        coalesce_chunks: int = 0,
    ) -> None:
        self.is_response = is_response
        self.coalesce_chunks = coalesce_chunks
        # Chunks of this message's body whose size line has been read (a
        # measure of work that byte counts miss when chunks are tiny).
        self.chunks_read = 0
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.chunk_size = chunk_size
        self.request_method = request_method
        self.head: Optional[Head] = None
        # Received bytes not yet consumed are self._data[self._pos:].  A
        # bytes object and an offset, rather than a bytearray trimmed from
        # the front: a read that holds exactly the next piece of body is
        # handed on without being copied at all.
        self._data = b""
        self._pos = 0
        self._eof = False
        self._phase = _Phase.HEAD
        self._remaining = 0  # bytes left in a LENGTH body or the current chunk
        self._body_size = 0  # bytes of body delivered so far
        self._body_started = False
        self._trailers: Fields = []
        self._trailer_size = 0
        self._empty_lines_size = 0  # empty lines skipped before the head

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the peer; ``b""`` means the peer closed."""
        if data:
            if self._pos >= len(self._data):
                self._data = data
            else:
                self._data = self._data[self._pos :] + data
            self._pos = 0
        else:
            self._eof = True

    @property
    def has_input(self) -> bool:
        """True if bytes (or the end of the stream) wait to be parsed."""
        return self._pos < len(self._data) or self._eof

    @property
    def trailing_data(self) -> bytes:
        """Bytes received beyond the end of this message."""
        return self._data[self._pos :] if self._phase == _Phase.DONE else b""

    @property
    def done(self) -> bool:
        """True once `EndOfMessage` has been returned."""
        return self._phase == _Phase.DONE

    def expect_next_head(self) -> None:
        """After an interim (1xx) response, read the next response head."""
        assert self._phase == _Phase.DONE and self.is_response
        self._phase = _Phase.HEAD
        self.head = None

    # -- what to read next ---------------------------------------------------

    def wants(self) -> Want:
        """The read that gets what the reader needs without passing the message end.

        For a chunked body the read is sized from the shortest valid rest of
        the message: after a chunk's data at least its CRLF and the last
        chunk ("\\r\\n0\\r\\n\\r\\n", 7 bytes) must follow.  Asking for that
        much at once fetches a chunk's data, its CRLF and (usually) the next
        chunk-size line in one read instead of three, and still never takes a
        byte of the next message from a well-formed peer (a malformed one is
        refused and the connection closed anyway).
        """
        phase = self._phase
        buffered = len(self._data) - self._pos
        if phase == _Phase.HEAD:
            return _head_want(self.max_header_size)
        if phase == _Phase.LENGTH:
            return ReadBytes(min(self._remaining, self.chunk_size))
        if phase == _Phase.CHUNK_DATA:
            shortest_rest = self._remaining + len(b"\r\n") + len(LAST_CHUNK)
            return ReadBytes(min(max(shortest_rest - buffered, 1), self.chunk_size))
        if phase == _Phase.CHUNK_SIZE:
            if buffered >= len(LAST_CHUNK):
                size_then_cr = _SIZE_THEN_CR.match(self._data, self._pos)
                if size_then_cr is not None:
                    # Only the LF of a size line is missing ("4000\r"): read
                    # it with the chunk's data, its CRLF and the shortest
                    # line after, in one go (or the final CRLF after "0").
                    size = int(size_then_cr.group(1), 16)
                    rest = 1 + (size + len(b"\r\n") + len(LAST_CHUNK) if size else 2)
                    return ReadBytes(min(rest, self.chunk_size))
                # A long line (extensions): read up to its end, exactly.
                return ReadLine(max(MAX_CHUNK_LINE + 1 - buffered, 1))
            return ReadBytes(len(LAST_CHUNK) - buffered)
        if phase == _Phase.CHUNK_END:
            return ReadBytes(max(len(b"\r\n") + len(LAST_CHUNK) - buffered, 1))
        if phase == _Phase.TRAILER:
            return ReadLine(max(self.max_header_size - self._trailer_size - buffered, 1))
        if phase == _Phase.UNTIL_CLOSE:
            return ReadUntilClose(self.chunk_size)
        raise AssertionError("the message is complete; nothing to read")

    def readable_from(
        self, lookahead: Union[bytes, bytearray], start: int = 0, end: Optional[int] = None
    ) -> int:
        """How many bytes of ``lookahead`` surely belong to this message's chunked body.

        ``lookahead`` is what the peer has sent after the bytes this reader
        holds, seen without being consumed (IOStream's buffer, peeked):
        ``lookahead[start:end]``, given as a buffer and bounds so that the
        adapter need not copy it.  The answer covers whole chunk-size lines
        and chunk data, never the last chunk or the trailers after it, so
        reading that many bytes never takes a byte of the next message,
        however the peer frames it.  It lets the adapter read many small
        chunks at once instead of one per chunk.  0 outside a chunked body,
        or when nothing more is certain (an incomplete or malformed line:
        the normal reads find out which, and a malformed one is refused when
        it is parsed).
        """
        phase = self._phase
        if phase not in (_Phase.CHUNK_SIZE, _Phase.CHUNK_DATA, _Phase.CHUNK_END):
            return 0
        if end is None:
            end = len(lookahead)
        held = len(self._data) - self._pos
        buffer: Union[bytes, bytearray]
        if held:
            # (Rare: the reads usually stop where the reader holds nothing.)
            buffer = self._data[self._pos :] + lookahead[start:end]
            pos, limit = 0, len(buffer)
        else:
            buffer, pos, limit = lookahead, start, end
        first = safe = pos
        remaining = self._remaining
        next_chunk = _CRLF_THEN_PLAIN_SIZE_LINE.match
        while True:
            if phase == _Phase.CHUNK_DATA:
                if limit - pos < remaining:
                    safe = limit  # part of this chunk's data: still inside
                    break
                pos += remaining
                phase = _Phase.CHUNK_END
                safe = pos
                # Usually the CRLF and a plain size line follow: one step.
                step = next_chunk(buffer, pos, limit)
                if step is not None:
                    remaining = int(step.group(1), 16)
                    if remaining == 0:
                        safe = pos + 2  # the last chunk (see below)
                        break
                    pos = safe = step.end()
                    phase = _Phase.CHUNK_DATA
            elif phase == _Phase.CHUNK_END:
                if not buffer.startswith(b"\r\n", pos, limit):
                    break
                pos += 2
                phase = _Phase.CHUNK_SIZE
                safe = pos
            else:
                step = _PLAIN_SIZE_LINE.match(buffer, pos, limit)
                if step is not None:
                    line_end = step.end() - 1
                    size = int(step.group(1), 16)
                else:
                    line_end = buffer.find(b"\n", pos, min(pos + MAX_CHUNK_LINE + 1, limit))
                    size = -1 if line_end < 0 else _chunk_size(bytes(buffer[pos : line_end + 1]))
                if size <= 0:
                    # Incomplete or malformed (-1), or the last chunk (0),
                    # after which only the trailers' parse finds the end.
                    break
                pos = line_end + 1
                remaining = size
                phase = _Phase.CHUNK_DATA
                safe = pos
        return max(safe - first - held, 0)

    # -- output --------------------------------------------------------------

    def next_event(self) -> Optional[Event]:
        """The next event, or None if more bytes are needed.

        Raises `ProtocolError` for anything malformed, and also when the peer
        closed before the message was complete (except for a body delimited
        by the close itself).
        """
        while True:
            phase = self._phase
            if phase == _Phase.HEAD:
                return self._read_head()
            if not self._body_started:
                self._start_body()
                continue
            if phase == _Phase.LENGTH:
                return self._read_length_data()
            if phase == _Phase.CHUNK_SIZE:
                if not self._read_chunk_size_line():
                    return None
                continue
            if phase == _Phase.CHUNK_DATA:
                return self._read_chunk_data()
            if phase == _Phase.CHUNK_END:
                if len(self._data) - self._pos < 2:
                    self._check_not_closed("chunk")
                    return None
                if not self._data.startswith(b"\r\n", self._pos):
                    raise ProtocolError("improperly terminated chunk")
                self._pos += 2
                self._phase = _Phase.CHUNK_SIZE
                continue
            if phase == _Phase.TRAILER:
                return self._read_trailer_line()
            if phase == _Phase.UNTIL_CLOSE:
                return self._read_until_close()
            raise AssertionError("the message is complete; no more events")

    # -- phases --------------------------------------------------------------

    def _check_not_closed(self, what: str) -> None:
        # More bytes are needed; if none can come, the message is truncated.
        if self._eof:
            raise ProtocolError("connection closed in the middle of the %s" % what)

    def _read_head(self) -> Optional[Union[Head, ConnectionClosed]]:
        buffer = self._data
        # RFC 9112 2.2: a server SHOULD ignore at least one empty line before
        # the request-line (left behind by some clients after a POST body);
        # they count against max_header_size like the head itself, however
        # they arrive (so a peer cannot send empty lines for ever).
        start = self._pos
        while start < len(buffer):
            if buffer.startswith(b"\r\n", start):
                start += 2
            elif buffer[start] == 0x0A:  # a bare LF
                start += 1
            else:
                break  # the start line (or a lone CR, which the parser refuses)
        self._empty_lines_size += start - self._pos
        self._pos = start
        match = HEAD_END.search(buffer, start)
        if match is None:
            if self._empty_lines_size + len(buffer) - start >= self.max_header_size:
                # Without its end, the head cannot fit in the limit.
                raise self._too_large(buffer, start)
            if self._eof:
                if start >= len(buffer):
                    return ConnectionClosed()
                raise ProtocolError("connection closed in the middle of the message head")
            return None
        if self._empty_lines_size + match.end() - start > self.max_header_size:
            raise self._too_large(buffer, start)
        block = buffer[start : match.start()]
        self._pos = match.end()
        if not block:
            # Only empty lines so far: keep reading for the real head.
            return self._read_head()
        head = parse_head(block, is_response=self.is_response, request_method=self.request_method)
        self.head = head
        self._body_started = False
        self._body_size = 0
        # (An if-chain, not a dict: hashing an Enum member is a Python call.)
        kind = head.framing.kind
        if kind is BodyKind.LENGTH:
            self._phase = _Phase.LENGTH
        elif kind is BodyKind.CHUNKED:
            self._phase = _Phase.CHUNK_SIZE
        elif kind is BodyKind.UNTIL_CLOSE:
            self._phase = _Phase.UNTIL_CLOSE
        else:
            assert kind is BodyKind.NONE
            self._body_started = True
            self._phase = _Phase.LENGTH  # no body: an empty one, which ends at once
        self._remaining = head.framing.length
        return head

    def _too_large(self, buffer: bytes, start: int) -> ProtocolError:
        """The error for a head over max_header_size: 414 or 431 for a request.

        RFC 9112 3: a request-target longer than the server will parse gets
        414 (URI Too Long); RFC 6585 5: a header section too large gets 431.
        A start line that does not even begin like one is a plain 400.
        """
        if not self.is_response and buffer.find(b"\n", start, start + self.max_header_size) < 0:
            if _REQUEST_LINE_PREFIX.match(buffer, start):
                return ProtocolError("request-target too long", 414)
            return ProtocolError("malformed request line")
        return ProtocolError("header section too large", 431)

    def _start_body(self) -> None:
        # Limits are checked here, after the owner has seen the head (and
        # had a chance to change max_body_size), not at parse time.
        self._body_started = True
        if (
            self._phase == _Phase.LENGTH
            and self.max_body_size is not None
            and self._remaining > self.max_body_size
        ):
            raise ProtocolError("Content-Length too long")

    def _count_body(self, size: int, message: str) -> None:
        self._body_size += size
        if self.max_body_size is not None and self._body_size > self.max_body_size:
            raise ProtocolError(message)

    def _take(self, count: int) -> bytes:
        pos = self._pos
        held = self._data
        if pos + count >= len(held):
            # Everything held is taken: let go of the buffer at once, so a
            # large read is not kept alive (by us) while the next one is
            # allocated.
            data = held if pos == 0 else held[pos:]  # (whole: no copy)
            self._data = b""
            self._pos = 0
            return data
        self._pos = pos + count
        return held[pos : pos + count]

    def _find_line_end(self) -> int:
        """Offset (from the unconsumed start) of the next LF, or -1."""
        end = self._data.find(b"\n", self._pos)
        return end - self._pos if end >= 0 else -1

    def _read_length_data(self) -> Optional[Event]:
        if self._remaining == 0:
            self._phase = _Phase.DONE
            return EndOfMessage([])
        if self._pos >= len(self._data):
            self._check_not_closed("body")
            return None
        data = self._take(min(self._remaining, self.chunk_size))
        self._remaining -= len(data)
        return Data(data)

    def _read_chunk_size_line(self) -> bool:
        end = self._find_line_end()
        if end < 0:
            if len(self._data) - self._pos > MAX_CHUNK_LINE:
                raise ProtocolError("chunk size line too long")
            self._check_not_closed("chunked body")
            return False
        if end > MAX_CHUNK_LINE:
            raise ProtocolError("chunk size line too long")
        size = _chunk_size(self._take(end + 1))
        if size < 0:
            raise ProtocolError("invalid chunk size")
        if size == 0:
            self._phase = _Phase.TRAILER
            return True
        self._count_body(size, "chunked body too large")
        self.chunks_read += 1
        self._remaining = size
        self._phase = _Phase.CHUNK_DATA
        return True

    def _read_chunk_data(self) -> Optional[Event]:
        if self._pos >= len(self._data):
            self._check_not_closed("chunked body")
            return None
        data = self._take(min(self._remaining, self.chunk_size))
        self._remaining -= len(data)
        if self._remaining == 0:
            self._phase = _Phase.CHUNK_END
            if self.coalesce_chunks > 1 and self._pos < len(self._data):
                data = self._add_whole_chunks(data)
            return Data(data)
        return Data(data, chunk_end=False)

    def _add_whole_chunks(self, data: bytes) -> bytes:
        """``data`` (a chunk's, just read whole) and the data of the whole
        chunks received right after it: up to ``coalesce_chunks`` chunks and
        ``chunk_size`` bytes in all.

        Only what is certainly well-formed is taken here: the CRLF ending
        the previous chunk, a plain size line (hex digits only) and all of
        that chunk's data.  Anything else (a line with extensions, an
        incomplete or malformed line, a body over its limit, the last chunk)
        stops the run, and the normal phases read it, or refuse it, from
        where the run stopped (in CHUNK_END).
        """
        buffer = self._data
        end = len(buffer)
        pos = self._pos  # at the CRLF that ends the chunk just read
        pieces = [data]
        total = len(data)
        body_size = self._body_size
        max_body_size = self.max_body_size
        next_chunk = _CRLF_THEN_PLAIN_SIZE_LINE.match
        while len(pieces) < self.coalesce_chunks:
            step = next_chunk(buffer, pos)
            if step is None:
                break
            size = int(step.group(1), 16)
            data_start = step.end()
            data_end = data_start + size
            if size == 0 or data_end > end or total + size > self.chunk_size:
                break
            if max_body_size is not None and body_size + size > max_body_size:
                break
            body_size += size
            pieces.append(buffer[data_start:data_end])
            total += size
            pos = data_end
        self.chunks_read += len(pieces) - 1
        self._body_size = body_size
        self._pos = pos
        return data if len(pieces) == 1 else b"".join(pieces)

    def _read_trailer_line(self) -> Optional[Event]:
        end = self._find_line_end()
        if end < 0:
            if self._trailer_size + len(self._data) - self._pos >= self.max_header_size:
                # Without its end, the line cannot fit in the limit.
                raise ProtocolError("trailer section too large", 431)
            self._check_not_closed("trailer section")
            return None
        line = self._take(end + 1)
        self._trailer_size += len(line)
        if self._trailer_size > self.max_header_size:
            raise ProtocolError("trailer section too large", 431)
        # RFC 9112 7.1: trailer lines, like chunk lines, end in CRLF.  A bare
        # LF would also make the body's end one byte shorter than the
        # shortest end wants() relies on (LAST_CHUNK) to never read past it.
        if not line.endswith(b"\r\n"):
            raise ProtocolError("trailer line not terminated by CRLF")
        if line == b"\r\n":
            self._phase = _Phase.DONE
            return EndOfMessage(self._trailers)
        # RFC 9112 7.1.2: a recipient MUST be able to parse the trailer
        # section; its fields follow the header field syntax.
        self._trailers.extend(
            _parse_fields(
                _split_lines(line.decode("latin-1"))[:1], allow_obs_fold=False, what="trailer"
            )
        )
        return self.next_event()

    def _read_until_close(self) -> Optional[Event]:
        if self._pos < len(self._data):
            data = self._take(min(len(self._data) - self._pos, self.chunk_size))
            self._count_body(len(data), "Body too long")
            return Data(data)
        if self._eof:
            self._phase = _Phase.DONE
            return EndOfMessage([])
        return None
