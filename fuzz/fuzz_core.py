#!/usr/bin/env python
"""Coverage-guided fuzzing of the sans-IO HTTP/1 core with atheris (libFuzzer).

Run from the repository root (see fuzz/README.md)::

    mkdir -p /tmp/h1fuzz/corpus
    .venv/bin/python fuzz/fuzz_core.py /tmp/h1fuzz/corpus fuzz/seeds \\
        -runs=1000000 -max_len=4400 -timeout=10 -rss_limit_mb=2048 \\
        -artifact_prefix=/tmp/h1fuzz/ -print_final_stats=1

Input format: `CONTROL_SIZE` control bytes (see `decode_input`: request or
response reader, the request method a response answers, small or large
limits, how reads are split), then the bytes the peer sends, as many
messages as it likes.  `encode_input` builds an input from named options.

Each input is read three ways and the results must agree:

* as the adapter reads it: only what `Exchange.wants` asks for, with
  IOStream's semantics, each read delivered in one or several pieces;
* whole: everything in one `receive_data`, then the end of the stream;
* one byte at a time (for a subset of inputs: it is the slow one).

Each message is read by an `Exchange`, as the adapters read it: after a head
the exchange is told to read on (`Exchange.after_head`), after a 1xx
response to the next head; a message that ends is followed by a new
exchange given its `trailing_data` (keep-alive, pipelining).
The invariants checked are listed in fuzz/README.md; a broken one raises
AssertionError, which libFuzzer reports as a crash.  The only exception the
core may raise is `ProtocolError`.

Without atheris the module still imports (the tests call `TestOneInput`),
and ``python fuzz/fuzz_core.py FILE...`` runs the given inputs once.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import sys
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

try:
    import atheris
except ImportError:  # the tests drive TestOneInput without it
    atheris = None

# Coverage feedback comes from the engine's own code only (and only when
# fuzzing: imported by the tests, nothing is instrumented).
_instrumented = (
    atheris.instrument_imports(include=["tornado_h1alt"])
    if atheris is not None and __name__ == "__main__"
    else contextlib.nullcontext()
)
with _instrumented:
    from tornado_h1alt.h1 import abnf
    from tornado_h1alt.h1.chunked import MAX_CHUNK_LINE
    from tornado_h1alt.h1.errors import ProtocolError
    from tornado_h1alt.h1.events import (
        ConnectionClosed,
        Data,
        EndOfMessage,
        Head,
        RequestHead,
        ResponseHead,
    )
    from tornado_h1alt.h1.exchange import Exchange
    from tornado_h1alt.h1.framing import (
        LAST_CHUNK,
        BodyKind,
        request_framing,
        response_framing,
        response_has_no_body,
    )
    from tornado_h1alt.h1.heads import parse_request_head, parse_response_head
    from tornado_h1alt.h1.plan import ReadBytes, ReadLine, ReadUntilClose, ReadUntilRegex
    from tornado_h1alt.h1.state import State
    from tornado_h1alt.h1.writers import BodyWriter, encode_head, status_line

__all__ = ["Options", "Outcome", "TestOneInput", "decode_input", "encode_input", "main"]

# -- the input format ---------------------------------------------------------

CONTROL_SIZE = 4
METHODS: Tuple[Optional[str], ...] = (
    "GET",
    "HEAD",
    "POST",
    "CONNECT",
    "PUT",
    "OPTIONS",
    "DELETE",
    None,
)
HEADER_SIZES = (64, 256, 1024, 65536)
BODY_SIZES: Tuple[Optional[int], ...] = (None, 0, 16, 1024)
CHUNK_SIZES = (3, 7, 64, 65536)
# Reading one byte at a time is the costly comparison: only for short inputs.
BYTE_BY_BYTE_MAX = 96
# A chunk_size under 64 makes an event of every few body bytes, three times
# over: such inputs are cut to this many bytes, to keep the fuzzer fast.
SMALL_CHUNK_STREAM_MAX = 256
# The most a chunked-body read may fetch beyond the line or chunk it is
# after: a chunk's CRLF and the shortest last chunk (see ChunkedReader.wants).
SLACK = len(b"\r\n") + len(LAST_CHUNK)
# A 1xx response head counts as a message here.
MAX_MESSAGES = 4


class Options(NamedTuple):
    """What the control bytes choose."""

    is_response: bool = False
    request_method: Optional[str] = "GET"  # the request a response answers
    max_header_size: int = 65536
    max_body_size: Optional[int] = None
    chunk_size: int = 65536
    # Set max_body_size on the exchange after the head, as the adapter does,
    # rather than at construction.
    limit_after_head: bool = False
    # ReadLine as IOStream.read_until(max_bytes=) does it: the LF must come
    # within max_bytes, or the stream is closed.  Otherwise max_bytes is a
    # plain "at most" (as the adapter's anchored line read takes it): that
    # many bytes without an LF are handed over, and the reader must refuse.
    strict_lines: bool = True
    max_messages: int = MAX_MESSAGES
    byte_by_byte: bool = False
    # Deliver each read in several pieces, cut by a PRNG seeded with split_seed.
    fragment: bool = False
    split_seed: int = 0
    # Data of up to this many whole chunks in one event (the adapter asks
    # for 256 on 6.6+).
    coalesce_chunks: int = 0


def decode_input(data: bytes) -> Tuple[Options, bytes]:
    """Split an input into its options and the stream the peer sends.

    byte 0: bit 0 response; bits 1-3 METHODS; bits 4-5 HEADER_SIZES; bits 6-7 BODY_SIZES
    byte 1: bits 0-1 CHUNK_SIZES; bit 2 limit_after_head; bit 3 lenient lines;
            bits 4-5 max_messages - 1; bit 6 byte_by_byte; bit 7 fragment
    bytes 2-3: split_seed (the top two bits also choose coalesce_chunks: 0, 0, 3, 256)

    With a chunk_size under 64 the stream is cut at SMALL_CHUNK_STREAM_MAX bytes.
    """
    control = data[:CONTROL_SIZE].ljust(CONTROL_SIZE, b"\0")
    c0, c1 = control[0], control[1]
    options = Options(
        is_response=bool(c0 & 1),
        request_method=METHODS[(c0 >> 1) & 7],
        max_header_size=HEADER_SIZES[(c0 >> 4) & 3],
        max_body_size=BODY_SIZES[(c0 >> 6) & 3],
        chunk_size=CHUNK_SIZES[c1 & 3],
        limit_after_head=bool(c1 & 4),
        strict_lines=not c1 & 8,
        max_messages=((c1 >> 4) & 3) + 1,
        byte_by_byte=bool(c1 & 64),
        fragment=bool(c1 & 128),
        split_seed=int.from_bytes(control[2:4], "big"),
        coalesce_chunks=(0, 0, 3, 256)[control[2] >> 6],
    )
    stream = data[CONTROL_SIZE:]
    if options.chunk_size < 64:
        stream = stream[:SMALL_CHUNK_STREAM_MAX]
    return options, stream


def encode_input(stream: bytes, options: Optional[Options] = None, **changes: object) -> bytes:
    """The input that `decode_input` reads as ``options`` (with ``changes``) and ``stream``."""
    o = (options or Options())._replace(**changes)
    if o.max_messages not in range(1, 5) or not 0 <= o.split_seed < 65536:
        raise ValueError("max_messages is 1..4, split_seed 0..65535")
    c0 = (
        int(o.is_response)
        | METHODS.index(o.request_method) << 1
        | HEADER_SIZES.index(o.max_header_size) << 4
        | BODY_SIZES.index(o.max_body_size) << 6
    )
    c1 = (
        CHUNK_SIZES.index(o.chunk_size)
        | int(o.limit_after_head) << 2
        | int(not o.strict_lines) << 3
        | (o.max_messages - 1) << 4
        | int(o.byte_by_byte) << 6
        | int(o.fragment) << 7
    )
    return bytes([c0, c1]) + o.split_seed.to_bytes(2, "big") + stream


# -- what a run produces --------------------------------------------------------


class Message(NamedTuple):
    head: Head
    body: bytes
    trailers: List[Tuple[str, str]]


class Outcome(NamedTuple):
    """Everything the peer's bytes led to; equal for every way of reading them.

    ``ending`` is "closed" (the peer closed between messages), "error" (a
    ProtocolError, or a read IOStream refuses) or "limit" (max_messages
    read); ``open_head`` is the head of the message an error cut short.
    """

    messages: Tuple[Message, ...]
    ending: str
    open_head: Optional[Head]


_REGEXES: Dict[bytes, re.Pattern[bytes]] = {}


def _regex(pattern: bytes) -> re.Pattern[bytes]:
    compiled = _REGEXES.get(pattern)
    if compiled is None:
        compiled = _REGEXES[pattern] = re.compile(pattern)
    return compiled


class _Session:
    """One connection: exchanges in turn, one per message, and their events."""

    def __init__(
        self,
        options: Options,
        *,
        bound: Optional[int] = None,
        deep: bool = False,
        light: bool = False,
    ):
        self.options = options
        self.light = light  # fewer checks per received piece (byte by byte)
        self.bound = bound  # most bytes an exchange may hold, if checked
        self.deep = deep  # round-trip each message through the serialiser
        self.messages: List[Message] = []
        self.ending: Optional[str] = None
        self.eof = False
        self.head: Optional[Head] = None
        self.body: List[bytes] = []
        self.body_size = 0
        self.error: Optional[ProtocolError] = None
        self.on_message_end: Optional[Callable[[], None]] = None
        self.exchange = self._new_exchange()

    def _new_exchange(self) -> Exchange:
        o = self.options
        exchange = Exchange(
            o.is_response,
            max_header_size=o.max_header_size,
            max_body_size=None if o.limit_after_head else o.max_body_size,
            chunk_size=o.chunk_size,
            coalesce_chunks=o.coalesce_chunks,
        )
        # The request a response answers (as send_request records it).
        exchange.request_method = o.request_method
        return exchange

    def outcome(self) -> Outcome:
        assert self.ending is not None
        return Outcome(tuple(self.messages), self.ending, self.head)

    # -- input -------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        assert data and self.ending is None and not self.eof
        self.exchange.receive_data(data)
        assert self.light or self.exchange.has_input
        self._check_bound()
        self.pump()

    def close(self) -> None:
        """The end of the stream: the exchange must come to an end now."""
        assert self.ending is None
        self.eof = True
        self.exchange.receive_data(b"")
        self.pump()
        assert self.ending is not None, "the exchange waits for bytes after the end of the stream"

    def _check_bound(self) -> None:
        if self.bound is not None:
            held = len(self.exchange.buffer)
            assert held <= self.bound, "the exchange holds %d bytes (bound %d)" % (held, self.bound)

    def pump(self) -> None:
        while self.ending is None:
            exchange = self.exchange
            event = exchange.next_event()
            if event is None:
                assert not self.eof, "next_event() is None after the end of the stream"
                assert self.light or exchange.state.read is not State.DONE
                return
            kind = type(event)  # the most frequent first: this loop is hot
            if kind is Data:
                self._on_data(event)  # type: ignore[arg-type]
            elif kind is RequestHead or kind is ResponseHead:
                self._on_head(event)  # type: ignore[arg-type]
            elif kind is EndOfMessage:
                self._on_end(event)  # type: ignore[arg-type]
            elif kind is ConnectionClosed:
                assert self.eof, "ConnectionClosed before the end of the stream"
                assert self.head is None, "ConnectionClosed inside a message"
                self.ending = "closed"
            else:
                raise AssertionError("unknown event %r" % (event,))

    # -- events ------------------------------------------------------------

    def _on_head(self, head: Head) -> None:
        assert self.head is None, "a head inside a message"
        exchange = self.exchange
        assert exchange.head is head and exchange.state.read is State.HEADERS
        _check_head(head, self.options)
        if self.deep:
            _round_trip(_check_head_round_trip, head, self.options)
        self.head = head
        self.body = []
        self.body_size = 0
        if self.options.limit_after_head:
            exchange.max_body_size = self.options.max_body_size
        interim = isinstance(head, ResponseHead) and head.interim
        exchange.after_head()  # (may refuse the body, or an 11th 1xx)
        if interim:
            # An interim response: no body, and the final one follows on the
            # same exchange.
            assert exchange.state.read is State.IDLE and exchange.head is None
            self._end_message(head, [])

    def _on_data(self, event: Data) -> None:
        head = self.head
        assert head is not None, "Data before Head"
        data = event.data
        assert isinstance(data, bytes) and data, "an empty Data event"
        assert len(data) <= self.options.chunk_size, "a Data event larger than chunk_size"
        assert event.chunk_end or head.framing.kind is BodyKind.CHUNKED
        assert head.framing.kind is not BodyKind.NONE, "Data for a message without body"
        self.body_size += len(data)
        limit = self.options.max_body_size
        assert limit is None or self.body_size <= limit, "%d body bytes, max_body_size %d" % (
            self.body_size,
            limit,
        )
        self.body.append(data)

    def _on_end(self, event: EndOfMessage) -> None:
        head = self.head
        assert head is not None, "EndOfMessage before the head"
        assert self.exchange.state.read is State.DONE
        assert not (isinstance(head, ResponseHead) and head.interim), "the end of an interim"
        kind = head.framing.kind
        if kind is BodyKind.LENGTH:
            assert self.body_size == head.framing.length
        elif kind is BodyKind.NONE:
            assert self.body_size == 0
        elif kind is BodyKind.UNTIL_CLOSE:
            assert self.eof, "an until-close body ended before the close"
        trailers = list(event.trailers)
        assert not trailers or kind is BodyKind.CHUNKED, "trailers outside a chunked body"
        _check_fields(trailers)
        if self._end_message(head, trailers):
            return
        # Keep-alive (or pipelining): the next exchange gets what is left.
        trailing = self.exchange.trailing_data
        self.exchange = self._new_exchange()
        if trailing:
            self.exchange.receive_data(trailing)
            self._check_bound()
        if self.eof:
            self.exchange.receive_data(b"")

    def _end_message(self, head: Head, trailers: List[Tuple[str, str]]) -> bool:
        """Record a complete message; True once max_messages have been read."""
        message = Message(head, b"".join(self.body), trailers)
        if self.deep:
            _round_trip(_check_message_round_trip, message, self.body, self.options)
        self.messages.append(message)
        self.head = None
        if self.on_message_end is not None:
            self.on_message_end()
        if len(self.messages) >= self.options.max_messages:
            self.ending = "limit"
            return True
        return False


# -- checks on what the core returns ------------------------------------------------


def _check_fields(fields: List[Tuple[str, str]]) -> None:
    for name, value in fields:
        assert abnf.field_name.fullmatch(name), "field name %r" % name
        assert not abnf.field_value_forbidden.search(value), "field value %r" % value
        assert value == value.strip(" \t"), "field value not stripped: %r" % value


def _check_head(head: Head, options: Options) -> None:
    major, minor = head.version
    assert major == 1 and 0 <= minor <= 9
    kind = head.framing.kind
    if options.is_response:
        assert isinstance(head, ResponseHead)
        code = head.status_code
        assert isinstance(code, int) and 0 <= code <= 999
        assert isinstance(head.reason, str) and abnf.reason_phrase.fullmatch(head.reason)
        no_body = response_has_no_body(options.request_method, code)
        assert (kind is BodyKind.NONE) == no_body, "framing %r for a %d" % (head.framing, code)
    else:
        assert isinstance(head, RequestHead)
        assert isinstance(head.method, str) and abnf.method.fullmatch(head.method)
        assert isinstance(head.target, str) and abnf.request_target.fullmatch(head.target)
        assert kind in (BodyKind.LENGTH, BodyKind.CHUNKED), "request framing %r" % (head.framing,)
    assert head.http_version == "HTTP/%d.%d" % head.version
    assert head.framing.length >= 0 and (kind is BodyKind.LENGTH or head.framing.length == 0)
    assert isinstance(head.keep_alive, bool)
    assert not (kind is BodyKind.UNTIL_CLOSE and head.keep_alive)
    _check_fields(head.fields)


def _round_trip(check: Callable[..., None], *args: object) -> None:
    # What we accepted and serialise again must be accepted again: a
    # ProtocolError here is a broken invariant, not a refused input.
    try:
        check(*args)
    except ProtocolError as exc:
        raise AssertionError("round trip: re-serialised message refused: %s" % exc) from exc


def _start(head: Head) -> Tuple[object, ...]:
    if isinstance(head, ResponseHead):
        return (head.http_version, head.status_code, head.reason)
    return (head.method, head.target, head.http_version)


def _start_line(head: Head) -> str:
    if isinstance(head, ResponseHead):
        return "%s %03d %s" % (head.http_version, head.status_code, head.reason)
    return "%s %s %s" % (head.method, head.target, head.http_version)


def _parse_head(block: bytes, options: Options) -> Head:
    if options.is_response:
        return parse_response_head(block, options.request_method)
    return parse_request_head(block)


def _check_head_round_trip(head: Head, options: Options) -> None:
    """A parsed head, serialised by encode_head, parses back to itself."""
    raw = encode_head(_start_line(head), head.fields)
    assert raw.endswith(b"\r\n\r\n")
    again = _parse_head(raw[:-4], options)
    assert again == head, "round trip: %r != %r" % (again, head)
    # What we would send with that framing is what we read (RFC 9112 6.3 both ways).
    framing = head.framing
    length = str(framing.length) if framing.kind is BodyKind.LENGTH else None
    if isinstance(head, ResponseHead):
        code = head.status_code
        written = response_framing(
            request_method=options.request_method,
            request_version=(1, 0) if framing.kind is BodyKind.UNTIL_CLOSE else (1, 1),
            status_code=code,
            content_length=length,
        )
        assert written == framing, "we would write %r, we read %r" % (written, framing)
        assert status_line(code, head.reason) == "HTTP/1.1 %d %s" % (code, head.reason)
    elif length is not None:
        assert request_framing(method=head.method, content_length=length) == framing


def _check_message_round_trip(message: Message, pieces: List[bytes], options: Options) -> None:
    """Head and body, framed again by encode_head and BodyWriter, read back the same."""
    head = message.head
    writer = BodyWriter(head.framing)
    raw = encode_head(_start_line(head), head.fields)
    raw += b"".join(writer.frame(piece) for piece in pieces) + writer.finish()
    exchange = Exchange(options.is_response, max_header_size=len(raw) + 1)
    exchange.request_method = options.request_method
    exchange.receive_data(raw)
    if head.framing.kind is BodyKind.UNTIL_CLOSE:
        exchange.receive_data(b"")
    again = exchange.next_event()
    assert again == head, "re-read head %r != %r" % (again, head)
    exchange.after_head()
    if isinstance(head, ResponseHead) and head.interim:
        assert message.body == b"" and exchange.state.read is State.IDLE
        return
    body = []
    while True:
        event = exchange.next_event()
        if isinstance(event, EndOfMessage):
            break
        assert isinstance(event, Data), "re-read event %r" % (event,)
        body.append(event.data)
    assert b"".join(body) == message.body, "the re-framed body reads back differently"
    assert event.trailers == [] and exchange.trailing_data == b""


def _check_serialiser_on(text: str, code: int) -> None:
    """encode_head and status_line on arbitrary text: refuse or stay well-formed."""
    has_cr_lf = "\r" in text or "\n" in text
    try:
        raw = encode_head(text, [(text, text)])
    except ValueError:
        assert has_cr_lf, "encode_head refused %r" % text
    else:
        assert not has_cr_lf, "encode_head let CR/LF through: %r" % raw
        assert raw == ("%s\r\n%s: %s\r\n\r\n" % (text, text, text)).encode("latin-1")
    line = status_line(code, text)
    assert abnf.status_line.fullmatch(line), "status_line %r" % line
    assert line.startswith("HTTP/1.1 %d " % code)
    if abnf.reason_phrase.fullmatch(text):
        assert line == "HTTP/1.1 %d %s" % (code, text)


# -- the three ways to read a stream ---------------------------------------------


def _finish(session: _Session, feed: Callable[[], None]) -> Outcome:
    try:
        feed()
    except ProtocolError as exc:
        hint = exc.status_hint
        assert isinstance(hint, int) and 400 <= hint < 600, "status_hint %r" % (hint,)
        assert str(exc), "a ProtocolError without a message"
        session.ending = "error"
        session.error = exc
    return session.outcome()


def read_whole(options: Options, stream: bytes, *, deep: bool = True) -> Outcome:
    """Everything at once, then the end of the stream."""
    session = _Session(options, deep=deep)

    def feed() -> None:
        if stream:
            session.receive(stream)
        if session.ending is None:
            session.close()

    return _finish(session, feed)


def read_byte_by_byte(options: Options, stream: bytes) -> Outcome:
    session = _Session(options, light=True)

    def feed() -> None:
        for index in range(len(stream)):
            if session.ending is not None:
                return
            session.receive(stream[index : index + 1])
        if session.ending is None:
            session.close()

    return _finish(session, feed)


def _read_end(want: object, stream: bytes, pos: int, strict_lines: bool) -> Tuple[int, bool]:
    """Where the read ``want`` ends, as IOStream would do it.

    Returns (end, satisfied); end == -1 means IOStream refuses the read
    (UnsatisfiableReadError: the connection is closed).  Not satisfied
    means the stream ends before the read does: what is left, then the end.
    """
    if isinstance(want, ReadUntilRegex):
        assert want.max_bytes >= 1
        window = stream[pos : pos + want.max_bytes]
        match = _regex(want.pattern).match(window)
        # The unanchored pattern (for streams that search from anywhere)
        # must end where the anchored one does, or not match at all when
        # the anchored one stopped at max_bytes.
        unanchored = _regex(want.unanchored).search(window)
        if unanchored is not None:
            assert match is not None and match.end() == unanchored.end(), "head end disagrees"
        if match is None:
            assert len(window) < want.max_bytes, "no match though max_bytes are there"
            return len(stream), False
        assert 0 < match.end() <= want.max_bytes
        return pos + match.end(), True
    if isinstance(want, ReadLine):
        assert want.max_bytes >= 1
        window = stream[pos : pos + want.max_bytes]
        lf = window.find(b"\n")
        if lf >= 0:
            return pos + lf + 1, True
        if len(window) < want.max_bytes:
            return len(stream), False
        return (-1, True) if strict_lines else (pos + want.max_bytes, True)
    assert isinstance(want, (ReadBytes, ReadUntilClose)), "unknown read %r" % (want,)
    assert want.size >= 1, "a read of %d bytes" % want.size
    if pos >= len(stream):
        return pos, False
    return min(pos + want.size, len(stream)), True


def read_as_adapter(options: Options, stream: bytes) -> Outcome:
    """Only what wants() asks for (or, in a chunked body, what readable_from
    allows of what has arrived), each read possibly delivered in pieces.

    Given only that, an exchange never holds more than `reader_bound` bytes,
    and never takes a byte past the end of a message it accepts.
    """
    session = _Session(options, bound=reader_bound(options))
    rng = random.Random(options.split_seed)
    state = {"pos": 0, "end": 0}

    def message_end() -> None:
        # The message ends exactly where the read that completed it ends.
        trailing = session.exchange.trailing_data
        assert state["pos"] == state["end"], "a read went past the end of the message"
        assert trailing == b"", "a read took bytes of the next message: %r" % trailing

    session.on_message_end = message_end

    def feed() -> None:
        while session.ending is None:
            pos = state["pos"]
            want = session.exchange.wants()
            end, satisfied = _read_end(want, stream, pos, options.strict_lines)
            if end < 0:
                session.ending = "error"  # IOStream closes the connection
                return
            if isinstance(want, ReadBytes):
                # As the adapter widens a chunked body's read: it peeks at what
                # has arrived (at most chunk_size) and reads as much of it as
                # readable_from vouches for.
                arrived = min(len(stream) - pos, options.chunk_size)
                if options.fragment:
                    arrived = rng.randint(0, arrived)
                wider = session.exchange.readable_from(stream[pos : pos + arrived])
                if wider > end - pos:
                    end, satisfied = pos + wider, True
            state["end"] = end
            while pos < end and session.ending is None:
                size = end - pos
                if options.fragment and size > 1 and rng.random() < 0.5:
                    size = rng.randint(1, size - 1)
                pos = state["pos"] = pos + size
                session.receive(stream[pos - size : pos])
            if not satisfied and session.ending is None:
                session.close()

    return _finish(session, feed)


def reader_bound(options: Options) -> int:
    """The most bytes an exchange holds when it is given only what wants() asks for.

    From the readers' `wants`, phase by phase (M = max_header_size; a
    phase holds nothing when it asks for more, except as noted):

    * head: one read of at most M bytes (the anchored pattern stops at the
      head's end or at M bytes);
    * Content-Length, chunk data and until-close bodies: at most chunk_size;
    * chunk-size line: at most MAX_CHUNK_LINE + 1, past which it refuses;
    * chunk end: at most SLACK;
    * trailers: leftovers of a chunk read (< SLACK) plus a line of at most
      M - trailer_size bytes.  With lenient lines a partial line (under
      M - trailer_size bytes) can be held when wants() asks for
      M - trailer_size bytes again (the trailer phase does not subtract
      what it holds, unlike the chunk-size phase), so up to 2 * M.
    """
    head_like = options.max_header_size if options.strict_lines else 2 * options.max_header_size
    return max(head_like, MAX_CHUNK_LINE + 1, options.chunk_size) + SLACK


# -- the fuzz target -------------------------------------------------------------


def _describe(outcome: Outcome) -> str:
    heads = [_start(m.head) for m in outcome.messages]
    return "%d messages %r, %s%s" % (
        len(heads),
        heads,
        outcome.ending,
        " inside %r" % (_start(outcome.open_head),) if outcome.open_head else "",
    )


def check_stream(options: Options, stream: bytes) -> Outcome:
    """Read ``stream`` every way, check the invariants, return the outcome."""
    whole = read_whole(options, stream)
    adapter = read_as_adapter(options, stream)
    assert adapter == whole, "as adapter: %s; whole: %s" % (
        _describe(adapter),
        _describe(whole),
    )
    if options.byte_by_byte and len(stream) <= BYTE_BY_BYTE_MAX:
        single = read_byte_by_byte(options, stream)
        assert single == whole, "byte by byte: %s; whole: %s" % (
            _describe(single),
            _describe(whole),
        )
    return whole


def TestOneInput(data: bytes) -> None:  # noqa: N802 (libFuzzer's name)
    options, stream = decode_input(data)
    check_stream(options, stream)
    # Head parsing on whatever the peer sent, and the serialiser on it as text.
    try:
        _parse_head(stream[: options.max_header_size], options)
    except ProtocolError:
        pass
    _check_serialiser_on(stream[:64].decode("latin-1"), 100 + options.split_seed % 900)


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    if atheris is None:
        # No libFuzzer: run the given inputs once (reproducing a crash).
        paths = [arg for arg in argv[1:] if not arg.startswith("-")]
        if not paths:
            raise SystemExit("atheris is not installed: pip install atheris (see fuzz/README.md)")
        for path in paths:
            files = (
                [os.path.join(path, name) for name in sorted(os.listdir(path))]
                if os.path.isdir(path)
                else [path]
            )
            for name in files:
                with open(name, "rb") as f:
                    TestOneInput(f.read())
                print("ok", name)
        return
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
