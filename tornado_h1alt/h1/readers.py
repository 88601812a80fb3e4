"""One small reader per framing: the head, a Content-Length body, a body that
the close ends; the chunked body has a module of its own (`chunked`).

Each reader consumes bytes from a `ReceiveBuffer` and returns an event, or
None when it needs more; it raises `ProtocolError` for anything malformed,
and also when the peer closed before the message was complete (except for a
body the close itself ends).  Each also says what to read next (`wants`)
without passing the message's end.
"""

from __future__ import annotations

import re
from typing import Final, Optional, Tuple, Union

from . import abnf
from .buffer import ReceiveBuffer
from .errors import ProtocolError
from .events import ConnectionClosed, Data, EndOfMessage, Head
from .heads import parse_plain_head, parse_request_head, parse_response_head
from .plan import ReadBytes, ReadUntilClose, Want, read_head

__all__ = [
    "BodyReader",
    "HeadReader",
    "LengthReader",
    "UntilCloseReader",
    "check_not_closed",
    "EMPTY_BODY",
]

# The end of the header section: an empty line.  Bare LF is accepted as a
# line terminator (RFC 9112 2.2), bare CR is not (checked per line).
HEAD_END = re.compile(b"\r?\n\r?\n")


def head_end(data: bytes, start: int) -> Optional[Tuple[int, int]]:
    """Where the first match of `HEAD_END` in ``data[start:]`` begins and
    ends, or None.

    Two bytes.find() calls instead of the regex: the regex tries its
    optional CR at every position, about 5 us on a 600-byte browser head
    against 0.7 us.  The first match is the one at the first LF followed by
    LF or CRLF, widened to the CR just before that LF (if at or after
    ``start``).
    """
    lf_lf = data.find(b"\n\n", start)
    # (an LF CRLF that starts before the LF LF may end up to 2 bytes after it)
    lf_crlf = data.find(b"\n\r\n", start, None if lf_lf < 0 else lf_lf + 2)
    if lf_crlf >= 0:
        at, end = lf_crlf, lf_crlf + 3
    elif lf_lf >= 0:
        at, end = lf_lf, lf_lf + 2
    else:
        return None
    if at > start and data[at - 1] == 0x0D:
        at -= 1
    return at, end


# The start of a request line up to its target (RFC 9112 3).
_REQUEST_LINE_PREFIX = re.compile(rb"%s [\x21-\x7e\x80-\xff]" % abnf.method.pattern.encode())


def check_not_closed(buffer: ReceiveBuffer, what: str) -> None:
    """More bytes are needed: if none can come, the message is truncated."""
    if buffer.eof:
        raise ProtocolError("connection closed in the middle of the %s" % what)


class HeadReader:
    """Reads a message head: through the empty line that ends it.

    Empty lines before a request count against ``max_header_size`` with
    the head itself, however they arrive, so a peer cannot send them for
    ever (RFC 9112 2.2 says to ignore *some*).
    """

    __slots__ = ("is_response", "max_header_size", "_skipped")

    def __init__(self, is_response: bool, max_header_size: int) -> None:
        self.is_response = is_response
        self.max_header_size = max_header_size
        self._skipped = 0  # bytes of empty lines skipped before the head

    def read(
        self, buffer: ReceiveBuffer, request_method: Optional[str] = None
    ) -> Optional[Union[Head, ConnectionClosed]]:
        """The head, `ConnectionClosed` if the peer closed before one began, or None.

        ``request_method``: that of the request a response answers.
        """
        data = buffer.data
        # RFC 9112 2.2: a server SHOULD ignore at least one empty line before
        # the request-line (left behind by some clients after a POST body).
        start = buffer.pos
        while start < len(data):
            byte = data[start]  # (indexing is cheap compiled; startswith(x, start) is not)
            if byte == 0x0D and start + 1 < len(data) and data[start + 1] == 0x0A:
                start += 2
            elif byte == 0x0A:  # a bare LF
                start += 1
            else:
                break  # the start line (or a lone CR, which the parser refuses)
        self._skipped += start - buffer.pos
        buffer.pos = start
        # The common head first: CRLF line ends only.  The first CRLF CRLF
        # ends it if the bytes before are a plain head (no bare LF, no empty
        # line): an earlier end of the head (what `head_end` looks for)
        # would need a bare LF.  One search instead of head_end's two, and
        # the head is parsed once.
        crlf_crlf = data.find(b"\r\n\r\n", start)
        if crlf_crlf > start and self._skipped + crlf_crlf + 4 - start <= self.max_header_size:
            head = parse_plain_head(data[start:crlf_crlf], self.is_response, request_method)
            if head is not None:
                buffer.pos = crlf_crlf + 4
                return head
        found = head_end(data, start)
        if found is None:
            if self._skipped + len(data) - start >= self.max_header_size:
                # Without its end, the head cannot fit in the limit.
                raise self._too_large(data, start)
            if buffer.eof:
                if start >= len(data):
                    return ConnectionClosed()
                raise ProtocolError("connection closed in the middle of the message head")
            return None
        block_end, end = found
        if self._skipped + end - start > self.max_header_size:
            raise self._too_large(data, start)
        block = data[start:block_end]
        buffer.pos = end
        if not block:
            # Only empty lines so far: keep reading for the real head.
            return self.read(buffer, request_method)
        if self.is_response:
            return parse_response_head(block, request_method)
        return parse_request_head(block)

    def wants(self) -> Want:
        """The read for the head (see `head_read_pattern`)."""
        return read_head(self.max_header_size)

    def _too_large(self, data: bytes, start: int) -> ProtocolError:
        """The error for a head over max_header_size: 414 or 431 for a request.

        RFC 9112 3: a request-target longer than the server will parse gets
        414 (URI Too Long); RFC 6585 5: a header section too large gets 431.
        A start line that does not even begin like one is a plain 400.
        """
        if not self.is_response and data.find(b"\n", start, start + self.max_header_size) < 0:
            if _REQUEST_LINE_PREFIX.match(data, start):
                return ProtocolError("request-target too long", 414)
            return ProtocolError("malformed request line")
        return ProtocolError("header section too large", 431)


class BodyReader:
    """What every body reader offers (see the module docstring)."""

    __slots__ = ()

    # Chunks whose size line has been read: a measure of work that byte
    # counts miss when chunks are tiny (only the chunked reader counts).
    chunks_read = 0

    def read(self, buffer: ReceiveBuffer) -> Optional[Union[Data, EndOfMessage]]:
        """The next `Data` or the `EndOfMessage`, or None if more bytes are needed."""
        raise NotImplementedError

    def wants(self, buffer: ReceiveBuffer) -> Want:
        """The read that gets what the reader needs without passing the body's end."""
        raise NotImplementedError

    def readable_from(
        self, buffer: ReceiveBuffer, lookahead: Union[bytes, bytearray], start: int, end: int
    ) -> int:
        """How many bytes of ``lookahead[start:end]`` (what the peer sent after
        ``buffer``) surely belong to this body; 0 when not known.  See
        `ChunkedReader.readable_from`, the one reader for which it is not 0."""
        return 0


class LengthReader(BodyReader):
    """A body of exactly ``remaining`` bytes (Content-Length, or none at all).

    Delivered as it arrives, in pieces of at most ``chunk_size``.
    """

    __slots__ = ("remaining", "chunk_size")

    def __init__(self, length: int, chunk_size: int) -> None:
        self.remaining = length
        self.chunk_size = chunk_size

    def read(self, buffer: ReceiveBuffer) -> Optional[Union[Data, EndOfMessage]]:
        if self.remaining == 0:
            return EndOfMessage([])
        if buffer.pos >= len(buffer.data):
            check_not_closed(buffer, "body")
            return None
        data = buffer.take(min(self.remaining, self.chunk_size))
        self.remaining -= len(data)
        return Data(data)

    def wants(self, buffer: ReceiveBuffer) -> Want:
        return ReadBytes(min(self.remaining, self.chunk_size))


# An empty body: its reader only ever says the message ended, so one serves
# every message without a body (most requests).
EMPTY_BODY: Final = LengthReader(0, 1)


class UntilCloseReader(BodyReader):
    """A body that the close of the connection ends (RFC 9112 6.3 rule 8:
    a response with neither Content-Length nor Transfer-Encoding)."""

    __slots__ = ("chunk_size", "max_body_size", "_size")

    def __init__(self, chunk_size: int, max_body_size: Optional[int]) -> None:
        self.chunk_size = chunk_size
        self.max_body_size = max_body_size
        self._size = 0

    def read(self, buffer: ReceiveBuffer) -> Optional[Union[Data, EndOfMessage]]:
        held = len(buffer.data) - buffer.pos
        if held:
            data = buffer.take(min(held, self.chunk_size))
            self._size += len(data)
            if self.max_body_size is not None and self._size > self.max_body_size:
                raise ProtocolError("Body too long", 413)
            return Data(data)
        if buffer.eof:
            return EndOfMessage([])
        return None

    def wants(self, buffer: ReceiveBuffer) -> Want:
        return ReadUntilClose(self.chunk_size)
