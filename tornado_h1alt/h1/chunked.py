"""The chunked transfer coding's reader (RFC 9112 7.1).

`ChunkedReader` walks a chunked body in phases: a chunk-size line, the
chunk's data, the CRLF after it, and after the last chunk the trailer
section.  Two shortcuts walk ahead of the phases, over the same grammar
(`abnf.chunk_size`, `chunk_size`):

* coalescing: after a chunk's data, the whole chunks already received right
  behind it come in the same `Data` event (chunk boundaries carry no
  meaning; for small chunks this saves an event each);
* `ChunkedReader.readable_from`: how much of what the stream holds beyond
  the reader's buffer surely belongs to the body, so that the adapter can
  read many small chunks at once without taking a byte of the next message.

Both take only what is certainly well-formed; anything else is left to the
phases, which read it or refuse it.
"""

from __future__ import annotations

import re
from typing import Final, Optional, Union

from . import abnf
from .buffer import ReceiveBuffer
from .errors import ProtocolError
from .events import Data, EndOfMessage, Fields
from .framing import LAST_CHUNK
from .heads import parse_fields, split_lines
from .plan import ReadBytes, ReadLine, Want
from .readers import BodyReader, check_not_closed

__all__ = ["ChunkedReader", "MAX_CHUNK_LINE", "chunk_size"]

# A chunk-size line may carry extensions; 4 KiB is far more than any real
# one and bounds what a peer can make us buffer per chunk.
MAX_CHUNK_LINE = 4096
# What the shortest valid rest of a body is, after a chunk's data: its CRLF
# and the last chunk.
_CHUNK_END_THEN_LAST = len(b"\r\n") + len(LAST_CHUNK)

_CHUNK_SIZE = abnf.chunk_size.encode()
# A plain chunk-size line (see abnf.plain_chunk_size_line) right after the
# CRLF that ends the chunk before it, which is how chunks follow one
# another: matched in one step where the phases take three.
_NEXT_PLAIN_CHUNK = re.compile(rb"\r\n" + abnf.plain_chunk_size_line.pattern)
# What is held of a chunk-size line when only its LF is missing.
_SIZE_THEN_CR = re.compile(rb"(%s)\r\Z" % _CHUNK_SIZE)


def chunk_size(line: bytes) -> int:
    """The size on a chunk-size line (its CRLF included), or -1 if the line is invalid."""
    # RFC 9112 7.1: chunk lines end in CRLF; a bare LF here is where parsers
    # disagree, so it is refused.
    plain = abnf.plain_chunk_size_line.fullmatch(line)
    if plain is not None:
        return int(plain.group(1), 16)
    if not line.endswith(b"\r\n"):
        return -1
    match = abnf.chunk_size_line.fullmatch(line[:-2].decode("latin-1"))
    # RFC 9112 7.1.1: unrecognised chunk extensions MUST be ignored.
    return -1 if match is None else int(match.group(1), 16)


class _Phase:
    SIZE: Final = "size"  # a chunk-size line
    SIZE_LF: Final = "size-lf"  # the LF of a plain chunk-size line read but for it
    DATA: Final = "data"  # a chunk's data
    DATA_END: Final = "data-end"  # the CRLF after a chunk's data
    TRAILER: Final = "trailer"  # the trailer section, line by line
    DONE: Final = "done"


class ChunkedReader(BodyReader):
    """Reads a chunked body; see the module docstring.

    ``coalesce_chunks``: up to this many whole chunks already received may
    come in one `Data` event, at most ``chunk_size`` bytes in all.  0 or 1:
    every chunk ends its own event.  ``max_body_size`` bounds the body
    (the sum of the chunk sizes); ``max_header_size`` the trailer section.
    """

    __slots__ = (
        "chunk_size",
        "max_body_size",
        "max_trailer_size",
        "coalesce_chunks",
        "chunks_read",
        "_phase",
        "_remaining",
        "_body_size",
        "_trailers",
        "_trailer_size",
    )

    def __init__(
        self,
        *,
        chunk_size: int,
        max_body_size: Optional[int],
        max_trailer_size: int,
        coalesce_chunks: int = 0,
    ) -> None:
        self.chunk_size = chunk_size
        self.max_body_size = max_body_size
        self.max_trailer_size = max_trailer_size
        self.coalesce_chunks = coalesce_chunks
        self.chunks_read = 0
        self._phase = _Phase.SIZE
        self._remaining = 0  # bytes left in the current chunk
        self._body_size = 0  # the sum of the sizes of the chunks so far
        self._trailers: Fields = []
        self._trailer_size = 0

    # -- the phases ------------------------------------------------------------------

    def read(self, buffer: ReceiveBuffer) -> Optional[Union[Data, EndOfMessage]]:
        while True:
            phase = self._phase
            if phase is _Phase.DATA:
                return self._read_data(buffer)
            if phase is _Phase.SIZE:
                if not self._read_size_line(buffer):
                    return None
            elif phase is _Phase.SIZE_LF:
                if buffer.pos >= len(buffer.data):
                    check_not_closed(buffer, "chunked body")
                    return None
                if buffer.data[buffer.pos] != 0x0A:
                    raise ProtocolError("invalid chunk size")
                buffer.pos += 1
                self._after_size_line(self._remaining)
            elif phase is _Phase.DATA_END:
                if len(buffer.data) - buffer.pos < 2:
                    check_not_closed(buffer, "chunk")
                    return None
                if not buffer.data.startswith(b"\r\n", buffer.pos):
                    raise ProtocolError("improperly terminated chunk")
                buffer.pos += 2
                self._phase = _Phase.SIZE
            elif phase is _Phase.TRAILER:
                if not self._read_trailer_line(buffer):
                    return None
            else:
                return EndOfMessage(self._trailers)

    def _read_size_line(self, buffer: ReceiveBuffer) -> bool:
        end = buffer.line_end()
        if end < 0:
            held = len(buffer)
            if held > MAX_CHUNK_LINE:
                raise ProtocolError("chunk size line too long")
            check_not_closed(buffer, "chunked body")
            # The reads (see wants) usually stop right before the LF of a
            # plain size line ("4000\r"): take it now, so that the next read,
            # the chunk's data, is not copied behind it (see ReceiveBuffer.feed).
            plain = _SIZE_THEN_CR.match(buffer.data, buffer.pos)
            if plain is None:
                return False
            self._remaining = int(plain.group(1), 16)
            buffer.pos += held
            self._phase = _Phase.SIZE_LF
            return True
        if end > MAX_CHUNK_LINE:
            raise ProtocolError("chunk size line too long")
        size = chunk_size(buffer.take(end + 1))
        if size < 0:
            raise ProtocolError("invalid chunk size")
        self._after_size_line(size)
        return True

    def _after_size_line(self, size: int) -> None:
        if size == 0:
            self._phase = _Phase.TRAILER
        else:
            self._start_chunk(size)

    def _start_chunk(self, size: int) -> None:
        self._body_size += size
        if self.max_body_size is not None and self._body_size > self.max_body_size:
            # RFC 9110 15.5.14: 413 (Content Too Large).
            raise ProtocolError("chunked body too large", 413)
        self.chunks_read += 1
        self._remaining = size
        self._phase = _Phase.DATA

    def _read_data(self, buffer: ReceiveBuffer) -> Optional[Data]:
        if buffer.pos >= len(buffer.data):
            check_not_closed(buffer, "chunked body")
            return None
        data = buffer.take(min(self._remaining, self.chunk_size))
        self._remaining -= len(data)
        if self._remaining:
            return Data(data, chunk_end=False)
        self._phase = _Phase.DATA_END
        if self.coalesce_chunks > 1 and buffer.pos < len(buffer.data):
            data = self._add_whole_chunks(buffer, data)
        return Data(data)

    def _add_whole_chunks(self, buffer: ReceiveBuffer, data: bytes) -> bytes:
        """``data`` (a chunk's, just read whole) and the data of the whole
        plain chunks held right after it: up to ``coalesce_chunks`` chunks
        and ``chunk_size`` bytes in all, within the body's limit.

        A line with extensions, an incomplete or malformed line, a chunk
        not all held, the last chunk: each stops the run where it is (in
        DATA_END), for the phases to read or refuse.
        """
        held = buffer.data
        end = len(held)
        pos = buffer.pos  # at the CRLF that ends the chunk just read
        pieces = [data]
        total = len(data)
        body_size = self._body_size
        max_body_size = self.max_body_size
        next_chunk = _NEXT_PLAIN_CHUNK.match
        while len(pieces) < self.coalesce_chunks:
            step = next_chunk(held, pos)
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
            pieces.append(held[data_start:data_end])
            total += size
            pos = data_end
        self.chunks_read += len(pieces) - 1
        self._body_size = body_size
        buffer.pos = pos
        return data if len(pieces) == 1 else b"".join(pieces)

    def _read_trailer_line(self, buffer: ReceiveBuffer) -> bool:
        end = buffer.line_end()
        if end < 0:
            if self._trailer_size + len(buffer) >= self.max_trailer_size:
                # Without its end, the line cannot fit in the limit.
                raise ProtocolError("trailer section too large", 431)
            check_not_closed(buffer, "trailer section")
            return False
        line = buffer.take(end + 1)
        self._trailer_size += len(line)
        if self._trailer_size > self.max_trailer_size:
            raise ProtocolError("trailer section too large", 431)
        # RFC 9112 7.1: trailer lines, like chunk lines, end in CRLF.  A bare
        # LF would also make the body's end one byte shorter than the
        # shortest end wants() relies on (LAST_CHUNK) to never read past it.
        if not line.endswith(b"\r\n"):
            raise ProtocolError("trailer line not terminated by CRLF")
        if line == b"\r\n":
            self._phase = _Phase.DONE
            return True
        # RFC 9112 7.1.2: a recipient MUST be able to parse the trailer
        # section; its fields follow the header field syntax.
        self._trailers.extend(
            parse_fields(
                split_lines(line.decode("latin-1"))[:1], allow_obs_fold=False, what="trailer"
            )
        )
        return True

    # -- what to read next ------------------------------------------------------------

    def wants(self, buffer: ReceiveBuffer) -> Want:
        """The read that gets what the phase needs without passing the body's end.

        The read is sized from the shortest valid rest of the body: after a
        chunk's data at least its CRLF and the last chunk ("\\r\\n0\\r\\n\\r\\n",
        7 bytes) must follow.  Asking for that much at once fetches a chunk's
        data, its CRLF and (usually) the next chunk-size line in one read
        instead of three, and still never takes a byte of the next message
        from a well-formed peer (a malformed one is refused and the
        connection closed anyway).
        """
        phase = self._phase
        held = len(buffer)
        if phase is _Phase.DATA:
            shortest_rest = self._remaining + _CHUNK_END_THEN_LAST
            return ReadBytes(min(max(shortest_rest - held, 1), self.chunk_size))
        if phase is _Phase.SIZE_LF:
            # Its LF, then (as below) the chunk's data, its CRLF and the
            # shortest line after, in one go (or the final CRLF after "0").
            size = self._remaining
            rest = 1 + (size + _CHUNK_END_THEN_LAST if size else 2)
            return ReadBytes(min(max(rest - held, 1), self.chunk_size))
        if phase is _Phase.SIZE:
            if held >= len(LAST_CHUNK):
                size_then_cr = _SIZE_THEN_CR.match(buffer.data, buffer.pos)
                if size_then_cr is not None:
                    # Only the LF of a size line is missing ("4000\r"): read
                    # it with the chunk's data, its CRLF and the shortest
                    # line after, in one go (or the final CRLF after "0").
                    size = int(size_then_cr.group(1), 16)
                    rest = 1 + (size + _CHUNK_END_THEN_LAST if size else 2)
                    return ReadBytes(min(rest, self.chunk_size))
                # A long line (extensions): read up to its end, exactly.
                return ReadLine(max(MAX_CHUNK_LINE + 1 - held, 1))
            return ReadBytes(len(LAST_CHUNK) - held)
        if phase is _Phase.DATA_END:
            return ReadBytes(max(_CHUNK_END_THEN_LAST - held, 1))
        if phase is _Phase.TRAILER:
            return ReadLine(max(self.max_trailer_size - self._trailer_size - held, 1))
        raise AssertionError("the body is complete; nothing to read")

    def readable_from(
        self, buffer: ReceiveBuffer, lookahead: Union[bytes, bytearray], start: int, end: int
    ) -> int:
        """How many bytes of ``lookahead[start:end]`` surely belong to this body.

        ``lookahead`` is what the peer has sent after the bytes ``buffer``
        holds, seen without being consumed (IOStream's buffer, peeked), given
        as a buffer and bounds so that the adapter need not copy it.  The
        answer covers whole chunk-size lines and chunk data, never the last
        chunk or the trailers after it, so reading that many bytes never
        takes a byte of the next message, however the peer frames it.  0
        when nothing more is certain (an incomplete or malformed line: the
        phases find out which, and refuse a malformed one).

        The walk mirrors the phases over a copy of their position.
        """
        phase = self._phase
        if phase is _Phase.TRAILER or phase is _Phase.DONE:
            return 0
        held = len(buffer)
        data: Union[bytes, bytearray]
        if held:
            # (Rare: the reads usually stop where the reader holds nothing.)
            data = buffer.rest() + lookahead[start:end]
            pos, limit = 0, len(data)
        else:
            data, pos, limit = lookahead, start, end
        first = safe = pos
        remaining = self._remaining
        next_chunk = _NEXT_PLAIN_CHUNK.match
        while True:
            if phase is _Phase.DATA:
                if limit - pos < remaining:
                    safe = limit  # part of this chunk's data: still inside
                    break
                pos += remaining
                phase = _Phase.DATA_END
                safe = pos
                # Usually the CRLF and a plain size line follow: one step.
                step = next_chunk(data, pos, limit)
                if step is not None:
                    remaining = int(step.group(1), 16)
                    if remaining == 0:
                        safe = pos + 2  # the last chunk (see above)
                        break
                    pos = safe = step.end()
                    phase = _Phase.DATA
            elif phase is _Phase.DATA_END:
                if not data.startswith(b"\r\n", pos, limit):
                    break
                pos += 2
                phase = _Phase.SIZE
                safe = pos
            elif phase is _Phase.SIZE_LF:
                if remaining == 0 or not data.startswith(b"\n", pos, limit):
                    break  # the last chunk's LF (see above), or not there yet
                pos += 1
                phase = _Phase.DATA
                safe = pos
            else:
                line_end = data.find(b"\n", pos, min(pos + MAX_CHUNK_LINE + 1, limit))
                size = -1 if line_end < 0 else chunk_size(bytes(data[pos : line_end + 1]))
                if size <= 0:
                    # Incomplete or malformed (-1), or the last chunk (0),
                    # after which only the trailers' parse finds the end.
                    break
                pos = line_end + 1
                remaining = size
                phase = _Phase.DATA
                safe = pos
        return max(safe - first - held, 0)
