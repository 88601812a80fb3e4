"""The sans-IO core on plain bytes: no sockets, no IOLoop.

Every parser case runs three ways (as h11's tests do): the whole input at
once, one byte at a time, and followed by the first bytes of the next
message, which must be left untouched for the next reader.
"""

from __future__ import annotations

import re
from typing import Callable, List, Optional, Tuple

import pytest
from h1core import Fields, GroupedOnly, Reader
from hypothesis import given, settings
from hypothesis import strategies as st

from tornado_h1alt.h1 import abnf, heads, writers
from tornado_h1alt.h1.chunked import chunk_size
from tornado_h1alt.h1.errors import OutputError, ProtocolError
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
    BodyKind,
    Framing,
    index_fields,
    received_framing,
    response_framing,
)
from tornado_h1alt.h1.heads import parse_request_head
from tornado_h1alt.h1.plan import ReadBytes, ReadLine, ReadUntilRegex, head_read_pattern
from tornado_h1alt.h1.state import ExchangeState, InvalidTransition, Side, State, Transition
from tornado_h1alt.h1.writers import BodyWriter, encode_head, status_line

NEXT_MESSAGE = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
POST_CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def _pieces(data: bytes, mode: str) -> List[bytes]:
    if mode == "byte-by-byte":
        return [data[i : i + 1] for i in range(len(data))]
    return [data]


def read_message(
    data: bytes,
    mode: str = "whole",
    *,
    is_response: bool = False,
    request_method: Optional[str] = None,
    max_body_size: Optional[int] = None,
    eof: bool = False,
) -> Tuple[Head, bytes, List[Tuple[str, str]], Reader]:
    """Feed ``data`` (split per ``mode``) and collect one message.

    Returns the head, the body, the trailers and the reader.
    """
    reader = Reader(
        is_response=is_response, request_method=request_method, max_body_size=max_body_size
    )
    pieces = _pieces(data, mode)
    if mode == "trailing":
        pieces = [data + NEXT_MESSAGE]
    if eof:
        pieces.append(b"")
    head: Optional[Head] = None
    body = b""
    for piece in pieces:
        reader.receive_data(piece)
        while True:
            event = reader.next_event()
            if event is None:
                break
            if isinstance(event, (RequestHead, ResponseHead)):
                head = event
            elif isinstance(event, Data):
                body += event.data
            elif isinstance(event, EndOfMessage):
                assert head is not None
                if mode == "trailing":
                    assert reader.trailing_data == NEXT_MESSAGE
                return head, body, event.trailers, reader
            else:
                raise AssertionError("unexpected %r" % (event,))
    raise AssertionError("message incomplete")


MODES = ["whole", "byte-by-byte", "trailing"]


@pytest.mark.parametrize("mode", MODES)
def test_simple_get(mode: str) -> None:
    head, body, trailers, _ = read_message(
        b"GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nX-A:  spaced value \t\r\n\r\n", mode
    )
    assert (head.method, head.target, head.http_version) == ("GET", "/path?q=1", "HTTP/1.1")
    assert head.version == (1, 1)
    assert head.fields == [("Host", "example.com"), ("X-A", "spaced value")]
    assert head.framing == Framing(BodyKind.LENGTH, 0)
    assert head.keep_alive
    assert body == b"" and trailers == []


@pytest.mark.parametrize("mode", MODES)
def test_content_length_body(mode: str) -> None:
    head, body, _, _ = read_message(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", mode
    )
    assert head.framing == Framing(BodyKind.LENGTH, 11)
    assert body == b"hello world"


@pytest.mark.parametrize("mode", MODES)
def test_chunked_body_with_extensions_and_trailers(mode: str) -> None:
    # RFC 9112 7.1.1: unknown chunk extensions MUST be ignored;
    # 7.1.2: the trailer section MUST be parsed.
    head, body, trailers, _ = read_message(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value;flag\r\nhello\r\n"
        b'6 ; q="a \\"b\\""\r\n world\r\n'
        b"0\r\nX-Checksum: abc\r\n\r\n",
        mode,
    )
    assert head.framing.kind is BodyKind.CHUNKED
    assert body == b"hello world"
    assert trailers == [("X-Checksum", "abc")]


@pytest.mark.parametrize("mode", MODES)
def test_leading_empty_lines_are_skipped(mode: str) -> None:
    # RFC 9112 2.2: a server SHOULD ignore empty lines before the request-line.
    head, _, _, _ = read_message(b"\r\n\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", mode)
    assert (head.method, head.target, head.http_version) == ("GET", "/", "HTTP/1.1")


@pytest.mark.parametrize("mode", MODES)
def test_bare_lf_line_endings_in_head(mode: str) -> None:
    # RFC 9112 2.2: a recipient MAY recognise a single LF as a line terminator.
    head, _, _, _ = read_message(b"GET / HTTP/1.1\nHost: x\n\n", mode)
    assert head.fields == [("Host", "x")]


@pytest.mark.parametrize("mode", ["whole", "byte-by-byte"])
def test_response_until_close(mode: str) -> None:
    head, body, _, reader = read_message(
        b"HTTP/1.0 200 OK\r\n\r\nall of it", mode, is_response=True, eof=True
    )
    assert head.framing.kind is BodyKind.UNTIL_CLOSE
    assert not head.keep_alive
    assert body == b"all of it"
    assert reader.done


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method, status", [("HEAD", 200), ("GET", 304), ("GET", 204)])
def test_responses_without_body(mode: str, method: str, status: int) -> None:
    raw = b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n" % (status, 0 if status == 204 else 42)
    head, body, _, _ = read_message(raw, mode, is_response=True, request_method=method)
    assert head.framing.kind is BodyKind.NONE
    assert body == b""


@pytest.mark.parametrize("mode", MODES)
def test_response_obs_fold_is_unfolded(mode: str) -> None:
    # RFC 9112 5.2: a user agent MUST replace obs-fold with SP.
    head, _, _, _ = read_message(
        b"HTTP/1.1 200 OK\r\nX-Long: a\r\n\tb\r\nContent-Length: 0\r\n\r\n",
        mode,
        is_response=True,
    )
    assert ("X-Long", "a b") in head.fields


@pytest.mark.parametrize("mode", MODES)
def test_response_obs_fold_of_only_whitespace_adds_nothing(mode: str) -> None:
    # Found by the fuzz harness: the value must stay stripped (RFC 9110 5.5).
    head, _, _, _ = read_message(
        b"HTTP/1.1 200 OK\r\nX-Long: a\r\n\t \r\nContent-Length: 0\r\n\r\n",
        mode,
        is_response=True,
    )
    assert ("X-Long", "a") in head.fields


@pytest.mark.parametrize("mode", ["whole", "byte-by-byte"])
@pytest.mark.parametrize("last", [b"0\r\n\n", b"0\r\nX-T: 1\n\r\n"])
def test_trailer_lines_must_end_in_crlf(mode: str, last: bytes) -> None:
    # RFC 9112 7.1, as for chunk lines.  (Found by the fuzz harness: "0\r\n\n"
    # is one byte shorter than the shortest end wants() counts on.)
    with pytest.raises(ProtocolError, match="CRLF"):
        read_message(POST_CHUNKED_HEAD + b"2\r\nok\r\n" + last, mode)


@pytest.mark.parametrize("mode", ["whole", "byte-by-byte"])
def test_empty_lines_before_a_head_count_against_the_limit(mode: str) -> None:
    # However they are split (found by the fuzz harness: two at a time, as an
    # adapter reads them, they were never counted).
    reader = Reader(is_response=False, max_header_size=64)
    with pytest.raises(ProtocolError):
        for piece in _pieces(b"\n" * 70, mode):
            reader.receive_data(piece)
            assert reader.next_event() is None
    # Fewer, then the close: a clean end between messages.
    reader = Reader(is_response=False, max_header_size=64)
    for piece in _pieces(b"\r\n" * 31, mode) + [b""]:
        reader.receive_data(piece)
        event = reader.next_event()
    assert isinstance(event, ConnectionClosed)


def test_status_line_without_reason() -> None:
    head, _, _, _ = read_message(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", is_response=True)
    assert (head.http_version, head.status_code, head.reason) == ("HTTP/1.1", 200, "")


@pytest.mark.parametrize(
    "raw, message, status",
    [
        (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", "Malformed HTTP request line", 400),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "Unexpected HTTP version", 505),
        (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", "Malformed HTTP request line", 400),
        (b"GET / HTTP/1.1\r\n\r\n", "Missing Host header", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "Multiple host headers", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "Invalid Host header", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n", "Invalid header name", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", "folding not supported", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", "no colon", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", "Invalid header value", 400),
        (b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", "bare CR", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
            "integer Content-Length",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n", "unequal", 400),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "unequal",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Length: 5\r\n\r\n",
            "both Transfer-Encoding and Content-Length",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "Unsupported Transfer-Encoding",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "Unsupported Transfer-Encoding",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
            "Unsupported Transfer-Encoding",
            400,
        ),
    ],
)
@pytest.mark.parametrize("mode", ["whole", "byte-by-byte"])
def test_malformed_heads_are_refused(raw: bytes, message: str, status: int, mode: str) -> None:
    with pytest.raises(ProtocolError, match=message) as info:
        read_message(raw, mode)
    assert info.value.status_hint == status


CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "chunks, message",
    [
        (b"-5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b" 5\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"5\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"ffffffffffffffffff\r\n", "invalid chunk size"),
        (b"5;=bad\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"5\r\nhelloXX0\r\n\r\n", "improperly terminated chunk"),
        (b"0\r\nBad Trailer\r\n\r\n", "no colon in trailer"),
    ],
)
@pytest.mark.parametrize("mode", ["whole", "byte-by-byte"])
def test_malformed_chunked_bodies_are_refused(chunks: bytes, message: str, mode: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        read_message(CHUNKED_HEAD + chunks, mode)


def test_chunked_body_size_limit() -> None:
    with pytest.raises(ProtocolError, match="chunked body too large"):
        read_message(CHUNKED_HEAD + b"10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n", max_body_size=8)


def test_content_length_limit_is_checked_when_the_body_starts() -> None:
    reader = Reader(is_response=False, max_body_size=100)
    reader.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
    assert isinstance(reader.next_event(), RequestHead)
    # The owner may raise the limit after seeing the head (set_max_body_size).
    reader.max_body_size = 10
    with pytest.raises(ProtocolError, match="Content-Length too long"):
        reader.next_event()


def test_until_close_body_limit() -> None:
    with pytest.raises(ProtocolError, match="Body too long"):
        read_message(
            b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 20, is_response=True, max_body_size=10, eof=True
        )


def test_header_section_too_large_is_431() -> None:
    reader = Reader(is_response=False, max_header_size=64)
    reader.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 100)
    with pytest.raises(ProtocolError) as info:
        reader.next_event()
    assert info.value.status_hint == 431


@pytest.mark.parametrize(
    "data, status",
    [
        # RFC 9112 3: a request-target too long to parse is 414.
        (b"GET /" + b"a" * 100, 414),
        # RFC 6585 5: a header section too large is 431.
        (b"GET / HTTP/1.1\r\n" + b"X: a\r\n" * 20, 431),
        # Not even the start of a request line: 400.
        (b"\x01" * 100, 400),
        (b"GET" + b"a" * 100, 400),
    ],
)
def test_head_over_the_limit_without_its_end(data: bytes, status: int) -> None:
    # What head_read_pattern returns when the limit is reached: exactly
    # max_header_size bytes, the end not among them.
    reader = Reader(is_response=False, max_header_size=64)
    reader.receive_data(data[:64])
    with pytest.raises(ProtocolError) as info:
        reader.next_event()
    assert info.value.status_hint == status


HEADS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\nHost: x\n\n",
    b"GET / HTTP/1.1\r\nHost: x\n\r\n",
    b"\r\n\r\n",
    b"\n\n",
    b"GET / HTTP/1.1\r\nA: \r\r\n\r\n",
]


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("rest", [b"", b"POST / HTTP/1.1\r\n\r\n", b"\r\n\r\nbody"])
def test_head_read_pattern_ends_where_the_head_ends(head: bytes, rest: bytes) -> None:
    match = re.compile(head_read_pattern(1024)).search(head + rest)
    assert match is not None and match.end() == len(head)
    # The same end as the parser's own search and the unanchored read.
    end = re.compile(b"\r?\n\r?\n").search(head + rest)
    assert end is not None and end.end() == match.end()
    unanchored = re.search(ReadUntilRegex(head_read_pattern(1024), 1024).unanchored, head + rest)
    assert unanchored is not None and unanchored.end() == len(head)


def test_head_read_pattern_stops_at_the_limit_inside_the_head() -> None:
    pattern = re.compile(head_read_pattern(16))
    assert pattern.search(b"GET / HTTP/1.1\r") is None  # 15 bytes: wait for more
    at_limit = pattern.search(b"GET / HTTP/1.1\r\nHost: x")
    assert at_limit is not None and at_limit.end() == 16
    # A head that ends within the limit is matched to its end, never further.
    assert pattern.search(b"GET / H\r\n\r\nmore bytes").end() == 11  # type: ignore[union-attr]


def test_close_between_messages_is_clean() -> None:
    reader = Reader(is_response=False)
    reader.receive_data(b"\r\n")
    assert reader.next_event() is None
    reader.receive_data(b"")
    assert isinstance(reader.next_event(), ConnectionClosed)


@pytest.mark.parametrize(
    "data, what",
    [
        (b"GET / HTTP/1.1\r\nHo", "message head"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", "body"),
    ],
)
def test_close_inside_a_message_is_an_error(data: bytes, what: str) -> None:
    reader = Reader(is_response=False)
    reader.receive_data(data)
    reader.receive_data(b"")
    with pytest.raises(ProtocolError, match=what):
        while reader.next_event() is not None:
            pass


def test_wants_never_passes_the_message_end() -> None:
    # The adapter reads exactly what wants() asks for; the sum of those reads
    # must end exactly at the end of the message (trailers included).
    message = CHUNKED_HEAD + b"3\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n"
    reader = Reader(is_response=False, chunk_size=2)
    consumed, _, body = _read_as_adapter(message + NEXT_MESSAGE, reader)
    assert consumed == len(message)
    assert body == b"abcde"


def test_one_read_per_chunk_once_the_size_line_only_lacks_its_lf() -> None:
    # After "...\r\n4000\r" the rest of the line, the chunk, its CRLF and the
    # shortest next line ("0\r\n\r\n") are sure to come: one read, not a
    # line read and then a data read.
    reader = Reader(is_response=False)
    reader.receive_data(CHUNKED_HEAD + b"4000\r")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() is None
    assert reader.wants() == ReadBytes(1 + 0x4000 + 2 + 5)
    # Still exact when that is the last chunk: its LF and the final CRLF.
    reader = Reader(is_response=False)
    reader.receive_data(CHUNKED_HEAD + b"0000\r")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() is None
    assert reader.wants() == ReadBytes(3)
    message = CHUNKED_HEAD + b"0004\r\nabcd\r\n00000\r\n\r\n"
    consumed, _, body = _read_as_adapter(message + NEXT_MESSAGE, Reader(is_response=False))
    assert consumed == len(message) and body == b"abcd"


def test_a_size_line_lacking_only_its_lf_is_taken_before_the_next_read() -> None:
    # Reads stop right before the LF of the next size line ("...\r\n4000\r"):
    # the reader takes those bytes at once, so that the next read (the LF,
    # the chunk's data and what follows) is held as it came, not copied
    # behind them, and the data's delivery copies it once, not twice.
    reader = Reader(is_response=False)
    reader.receive_data(CHUNKED_HEAD + b"3\r\nabc\r\n10\r")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() == Data(b"abc")
    assert reader.next_event() is None
    assert len(reader.exchange.buffer) == 0
    assert reader.wants() == ReadBytes(1 + 0x10 + 2 + 5)
    read = b"\n" + b"d" * 16 + b"\r\n0\r\n\r\n"
    reader.receive_data(read)
    assert reader.exchange.buffer.data is read
    assert reader.next_event() == Data(b"d" * 16)
    assert isinstance(reader.next_event(), EndOfMessage)
    # The line is judged as the phases judge it: only an LF may follow the CR,
    # the close may not cut it, and its size counts against the body's limit.
    for rest, error in [(b"X", "invalid chunk size"), (b"", "connection closed")]:
        reader = Reader(is_response=False)
        reader.receive_data(CHUNKED_HEAD + b"10\r")
        assert isinstance(reader.next_event(), RequestHead)
        assert reader.next_event() is None
        reader.receive_data(rest)
        with pytest.raises(ProtocolError, match=error):
            reader.next_event()
    reader = Reader(is_response=False, max_body_size=15)
    reader.receive_data(CHUNKED_HEAD + b"10\r")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() is None
    reader.receive_data(b"\n")
    with pytest.raises(ProtocolError, match="too large") as error:
        reader.next_event()
    assert error.value.status_hint == 413
    # A line longer than the limit is refused however it is cut.
    reader = Reader(is_response=False)
    reader.receive_data(CHUNKED_HEAD + b"0" * 4100 + b"10\r")
    assert isinstance(reader.next_event(), RequestHead)
    with pytest.raises(ProtocolError, match="too long"):
        reader.next_event()


def test_readable_from_walks_on_from_a_size_line_lacking_its_lf() -> None:
    reader = Reader(is_response=False)
    reader.receive_data(CHUNKED_HEAD + b"3\r")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() is None
    rest = b"\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    # Up to the last chunk, whose line only the trailers' parse can end.
    assert reader.readable_from(rest) == rest.index(b"0\r\n")
    # After "0\r" nothing is vouched for: the rest is the body's end.
    reader = Reader(is_response=False)
    reader.receive_data(CHUNKED_HEAD + b"0\r")
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() is None
    assert reader.readable_from(b"\n\r\n" + NEXT_MESSAGE) == 0
    assert reader.wants() == ReadBytes(3)


@pytest.mark.parametrize(
    "version, connection, keep_alive",
    [
        (b"HTTP/1.1", b"", True),
        (b"HTTP/1.1", b"Connection: Close\r\n", False),
        (b"HTTP/1.1", b"Connection: upgrade, close\r\n", False),  # RFC 9112 9.6: a list
        (b"HTTP/1.0", b"", False),
        (b"HTTP/1.0", b"Connection: Keep-Alive\r\n", True),
    ],
)
def test_keep_alive_rules(version: bytes, connection: bytes, keep_alive: bool) -> None:
    head, _, _, _ = read_message(b"GET / " + version + b"\r\nHost: x\r\n" + connection + b"\r\n")
    assert head.keep_alive is keep_alive


def test_http10_transfer_encoding_is_processed_then_closed() -> None:
    # RFC 9112 6.1: treat as faulty framing and close after processing.
    head, body, _, _ = read_message(
        b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n"
    )
    assert body == b"ok"
    assert not head.keep_alive


def test_interim_response_then_final() -> None:
    reader = Reader(is_response=True, request_method="POST")
    reader.receive_data(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    interim = reader.next_event()
    assert isinstance(interim, ResponseHead) and interim.status_code == 100 and interim.interim
    # An interim response has no body: the final head follows at once.
    final = reader.next_event()
    assert isinstance(final, ResponseHead) and final.status_code == 200 and not final.interim
    assert reader.next_event() == Data(b"ok")


@pytest.mark.parametrize("interim", [10, 11])
def test_a_client_takes_at_most_ten_interim_responses(interim: int) -> None:
    # A peer must not keep a request alive forever with 1xx responses;
    # Tornado 6.5 takes ten (its _MAX_1XX_RESPONSES).
    reader = Reader(is_response=True, request_method="GET")
    reader.receive_data(b"HTTP/1.1 103 Early Hints\r\n\r\n" * interim)
    reader.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    heads = []
    if interim > 10:
        with pytest.raises(ProtocolError, match="Too many 1xx responses"):
            while True:
                heads.append(reader.next_event())
        assert len(heads) == 11  # each was handed over; the 11th is refused after
        return
    while not isinstance(event := reader.next_event(), EndOfMessage):
        heads.append(event)
    assert [head.status_code for head in heads] == [103] * interim + [200]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"HTTP/1.1 100 Continue\r\nContent-Length: 1\r\n\r\n", "cannot have body"),
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 1\r\n\r\n", "should not have body"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "Error parsing response start line"),
    ],
)
def test_malformed_responses(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        read_message(raw, is_response=True, request_method="GET")


# -- framing and serialisation ------------------------------------------------


@pytest.mark.parametrize(
    "method, version, status, content_length, expected",
    [
        ("GET", (1, 1), 200, None, Framing(BodyKind.CHUNKED)),
        ("GET", (1, 0), 200, None, Framing(BodyKind.UNTIL_CLOSE)),
        ("GET", (1, 1), 200, "5", Framing(BodyKind.LENGTH, 5)),
        ("HEAD", (1, 1), 200, "5", Framing(BodyKind.NONE)),
        ("GET", (1, 1), 304, None, Framing(BodyKind.NONE)),
        ("GET", (1, 1), 204, None, Framing(BodyKind.NONE)),
        ("GET", (1, 1), 101, None, Framing(BodyKind.NONE)),
        ("CONNECT", (1, 1), 200, None, Framing(BodyKind.NONE)),  # a tunnel
        ("CONNECT", (1, 1), 407, None, Framing(BodyKind.CHUNKED)),
    ],
)
def test_response_framing(
    method: str,
    version: Tuple[int, int],
    status: int,
    content_length: Optional[str],
    expected: Framing,
) -> None:
    assert (
        response_framing(
            request_method=method,
            request_version=version,
            status_code=status,
            content_length=content_length,
        )
        == expected
    )


def test_framing_is_symmetric() -> None:
    # What we write with a given Content-Length is read back with that length.
    written = response_framing(
        request_method="GET", request_version=(1, 1), status_code=200, content_length="7"
    )
    read = received_framing(
        is_response=True,
        version=(1, 1),
        fields=index_fields([("Content-Length", "7")]),
        request_method="GET",
        status_code=200,
    )
    assert written == read


def test_encode_head_writes_bytes_as_utf8_and_other_values_as_str() -> None:
    # Tornado's HTTPHeaders takes bytes (and ints) too, and Tornado has
    # always written bytes decoded as UTF-8.
    head = encode_head("HTTP/1.1 200 OK", [(b"X-B", b"caf\xc3\xa9"), ("X-N", 5)])
    assert head == b"HTTP/1.1 200 OK\r\nX-B: caf\xe9\r\nX-N: 5\r\n\r\n"
    with pytest.raises(ValueError, match="CR or LF"):
        encode_head("HTTP/1.1 200 OK", [(b"X", b"a\r\nInjected: yes")])


def test_encode_head_refuses_cr_lf() -> None:
    assert encode_head("HTTP/1.1 200 OK", [("A", "b")]) == b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n"
    with pytest.raises(ValueError, match="CR or LF"):
        encode_head("HTTP/1.1 200 OK", [("A", "b\r\nInjected: yes")])


@pytest.mark.parametrize("bad", ["\r", "\n", "\r\n", "\n\r"])
@pytest.mark.parametrize("where", ["name", "value", "start line"])
def test_encode_head_refuses_any_cr_or_lf_anywhere(bad: str, where: str) -> None:
    # A lone CR or LF splits a head for some recipients as surely as CRLF.
    start_line = "GET /a%sb HTTP/1.1" % bad if where == "start line" else "GET / HTTP/1.1"
    name = "X-%sA" % bad if where == "name" else "X-A"
    value = "v%sw" % bad if where == "value" else "v"
    with pytest.raises(ValueError, match="CR or LF"):
        encode_head(start_line, [("Host", "h"), (name, value), ("X-B", "c")])


@pytest.mark.parametrize(
    "code, reason, line",
    [
        (200, "OK", "HTTP/1.1 200 OK"),
        (200, "", "HTTP/1.1 200 "),
        (299, "Mine\tall caf\xe9", "HTTP/1.1 299 Mine\tall caf\xe9"),  # HTAB, obs-text
        # RFC 9112 4: no CR, LF or other controls; CVE-2025-67724 split
        # responses with a reason taken from user input.
        (200, "OK\r\nX-Injection: injected", "HTTP/1.1 200 OK"),
        (404, "a\nb", "HTTP/1.1 404 Not Found"),
        (400, "nul\x00", "HTTP/1.1 400 Bad Request"),
        (299, "del\x7f", "HTTP/1.1 299 Unknown"),
        (200, "\u2603", "HTTP/1.1 200 OK"),  # not Latin-1: cannot be sent
    ],
)
def test_status_line_never_carries_an_invalid_reason(code: int, reason: str, line: str) -> None:
    assert status_line(code, reason) == line
    assert status_line(code, reason) == line  # the second time from the cache


def test_status_line_cache_stays_bounded() -> None:
    # Reasons taken from user input must not grow the cache without bound.
    for n in range(3 * writers._STATUS_LINES_LIMIT):
        assert status_line(200, "r%d" % n) == "HTTP/1.1 200 r%d" % n
    assert len(writers._STATUS_LINES) <= writers._STATUS_LINES_LIMIT


def test_body_writer_accounting() -> None:
    writer = BodyWriter(Framing(BodyKind.LENGTH, 5))
    assert writer.frame(b"abc") == b"abc"
    with pytest.raises(OutputError, match="less than Content-Length"):
        writer.finish()
    with pytest.raises(OutputError, match="more data than Content-Length"):
        writer.frame(b"abc")
    chunked = BodyWriter(Framing(BodyKind.CHUNKED))
    assert chunked.frame(b"") == b""  # an empty chunk would end the body
    assert chunked.frame(b"hello") == b"5\r\nhello\r\n"
    assert chunked.finish() == b"0\r\n\r\n"


def test_state_table_refuses_unlisted_transitions() -> None:
    state = ExchangeState()
    assert state.process(Side.READ, Transition.HEAD) is State.HEADERS
    assert state.process(Side.READ, Transition.BODY) is State.BODY
    with pytest.raises(InvalidTransition):
        state.process(Side.READ, Transition.HEAD)
    state.close()
    assert (state.read, state.write) == (State.CLOSED, State.CLOSED)


# -- properties -----------------------------------------------------------------

BODY_PIECES = st.lists(st.binary(min_size=1, max_size=40), max_size=6)


def _chunked_request(pieces: List[bytes]) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
    return CHUNKED_HEAD + body + b"0\r\n\r\n"


@settings(max_examples=200, deadline=None)
@given(
    pieces=BODY_PIECES,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    coalesce=st.sampled_from([0, 2, 256]),
)
def test_any_split_gives_the_same_message(
    pieces: List[bytes], cuts: List[int], coalesce: int
) -> None:
    raw = _chunked_request(pieces)
    points = sorted({min(c, len(raw)) for c in cuts} | {0, len(raw)})
    reader = Reader(is_response=False, coalesce_chunks=coalesce)
    body = b""
    done = False
    for start, end in zip(points, points[1:]):
        reader.receive_data(raw[start:end])
        while True:
            event = reader.next_event()
            if event is None:
                break
            if isinstance(event, Data):
                body += event.data
            if isinstance(event, EndOfMessage):
                done = True
                break
    assert done and body == b"".join(pieces)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), is_response=st.booleans())
def test_arbitrary_bytes_only_raise_protocol_error(data: bytes, is_response: bool) -> None:
    reader = Reader(is_response=is_response, max_header_size=256)
    reader.receive_data(data)
    reader.receive_data(b"")
    try:
        for _ in range(1000):
            event = reader.next_event()
            if event is None or isinstance(event, (EndOfMessage, ConnectionClosed)):
                break
    except ProtocolError:
        pass


def _events_to_message(make: Callable[[], Reader], raw: bytes) -> Tuple[object, bytes]:
    reader = make()
    reader.receive_data(raw)
    head = reader.next_event()
    assert isinstance(head, RequestHead)
    body = b""
    while True:
        event = reader.next_event()
        if isinstance(event, EndOfMessage):
            return (head.method, head.target, head.http_version), body
        assert isinstance(event, Data)
        body += event.data


TOKENS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12).filter(
    lambda name: name.lower() not in ("host", "content-length", "transfer-encoding", "connection")
)
VALUES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ;=/", max_size=20).map(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    fields=st.lists(st.tuples(TOKENS, VALUES), max_size=6),
    body=st.binary(max_size=100),
    chunked=st.booleans(),
)
def test_serialise_then_parse_round_trips(
    fields: List[Tuple[str, str]], body: bytes, chunked: bool
) -> None:
    framing = Framing(BodyKind.CHUNKED) if chunked else Framing(BodyKind.LENGTH, len(body))
    framing_field = (
        ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
    )
    all_fields = [("Host", "example.com")] + fields + [framing_field]
    writer = BodyWriter(framing)
    raw = encode_head("PUT /x HTTP/1.1", all_fields) + writer.frame(body) + writer.finish()
    start, parsed_body = _events_to_message(lambda: Reader(is_response=False), raw)
    assert start == ("PUT", "/x", "HTTP/1.1")
    assert parsed_body == body
    head, _, _, _ = read_message(raw)
    assert head.fields == all_fields


@settings(max_examples=100, deadline=None)
@given(fields=st.lists(st.tuples(TOKENS, VALUES), max_size=6), body=st.binary(max_size=100))
def test_agrees_with_h11_on_valid_messages(fields: List[Tuple[str, str]], body: bytes) -> None:
    # Differential check: what h11 writes, we read the same way h11 does.
    h11 = pytest.importorskip("h11")
    client = h11.Connection(h11.CLIENT)
    headers = [("Host", "example.com"), ("Content-Length", str(len(body)))] + fields
    raw = client.send(h11.Request(method="POST", target="/t?a=b", headers=headers))
    raw += client.send(h11.Data(data=body)) if body else b""
    raw += client.send(h11.EndOfMessage())
    server = h11.Connection(h11.SERVER)
    server.receive_data(raw)
    h11_request = server.next_event()
    head, parsed_body, _, _ = read_message(raw)
    assert (head.method, head.target, head.http_version) == (
        h11_request.method.decode(),
        h11_request.target.decode(),
        "HTTP/1.1",
    )
    assert [(n.lower(), v) for n, v in head.fields] == [
        (n.decode(), v.decode()) for n, v in h11_request.headers
    ]
    assert parsed_body == body


def _read_as_adapter(stream: bytes, reader: Reader) -> Tuple[int, int, bytes]:
    """Follow wants() as the adapter does; returns (bytes consumed, reads, body)."""
    position = reads = 0
    body = b""
    while not reader.done:
        event = reader.next_event()
        if isinstance(event, Data):
            body += event.data
        if event is not None:
            continue
        want = reader.wants()
        if isinstance(want, (ReadUntilRegex, ReadLine)):
            pattern = want.pattern if isinstance(want, ReadUntilRegex) else b"\n"
            match = re.compile(pattern).search(stream, position)
            assert match is not None and match.end() - position <= want.max_bytes
            end = match.end()
        else:
            end = min(position + want.size, len(stream))
        assert end > position, "a read must make progress"
        reader.receive_data(stream[position:end])
        reads += 1
        position = end
    return position, reads, body


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=3000), max_size=8),
    chunk_size=st.sampled_from([1, 7, 1024, 65536]),
    coalesce=st.sampled_from([0, 2, 256]),
)
def test_chunked_reads_stop_exactly_at_the_message_end(
    pieces: List[bytes], chunk_size: int, coalesce: int
) -> None:
    message = _chunked_request(pieces)
    reader = Reader(is_response=False, chunk_size=chunk_size, coalesce_chunks=coalesce)
    consumed, _, body = _read_as_adapter(message + NEXT_MESSAGE, reader)
    assert consumed == len(message)
    assert body == b"".join(pieces)


def test_one_read_per_chunk() -> None:
    # The read after a chunk-size line fetches the data, its CRLF and the
    # next size line together: ~1 read per chunk, not 3 (tornado's cost).
    pieces = [b"x" * 1024] * 64
    reader = Reader(is_response=False)
    consumed, reads, body = _read_as_adapter(_chunked_request(pieces) + NEXT_MESSAGE, reader)
    assert body == b"".join(pieces)
    assert reads <= len(pieces) + 3


HEAD_LINE = st.one_of(
    st.tuples(TOKENS, VALUES).map(lambda field: "%s: %s" % field),
    st.sampled_from(
        [
            "Host: x",
            "Content-Length: 5",
            "content-length: 5",
            "Content-Length: 05",
            "Transfer-Encoding: chunked",
            "Connection: close",
            "X-Tab:\tv\t",
            "X-Obs: caf\xe9",
            " folded",  # obs-fold
            "X-Bad : v",
            "X-Nul: a\x00b",
            "X-CR: a\rb",
        ]
    ),
)


@settings(max_examples=500)
@given(
    lines=st.lists(HEAD_LINE, max_size=6),
    start=st.sampled_from(
        ["GET / HTTP/1.1", "POST /x HTTP/1.0", "HTTP/1.1 200 OK", "GET /\xe9 HTTP/1.1"]
    ),
    bare_lf=st.booleans(),
)
def test_plain_head_fields_equal_line_by_line(lines: List[str], start: str, bare_lf: bool) -> None:
    # Head parsing takes a one-pass path for the common head; where it
    # does, the line-by-line path (which every other head takes) must give
    # the same lines, fields and index.
    text = ("\n" if bare_lf else "\r\n").join([start] + lines)
    plain = heads.plain_head_fields(text.encode("latin-1"), text)
    if plain is None:
        return
    slow_lines = heads.split_lines(text)
    slow_fields = heads.parse_fields(slow_lines[1:], allow_obs_fold=False, what="header")
    assert plain[:3] == (slow_lines, slow_fields, index_fields(slow_fields))
    assert plain[3] is (
        text.replace("\r\n", "").isascii() and text.replace("\r\n", "").isprintable()
    )


@pytest.mark.parametrize(
    "lines, plain",
    [
        (["Host: x"], True),
        (["Host: x", "Cookie: a=b; c=d", "Accept: */*"], True),
        (["X-Tab:\tv\t"], True),  # HTAB is allowed in a value
        (["X-Obs: caf\xe9"], True),  # obs-text too
        (["Host: x", " folded"], False),  # obs-fold
        (["X-Bad : v"], False),  # whitespace before the colon
        (["no colon"], False),
        (["X-Nul: a\x00b"], False),
        (["X-CR: a\rb"], False),  # a bare CR
        (["X-LF: a\nb"], False),  # a bare LF
        (["X-Del: a\x7fb"], False),
    ],
)
def test_plain_head_fields_take_the_common_head_only(lines: List[str], plain: bool) -> None:
    text = "\r\n".join(["GET / HTTP/1.1"] + lines)
    assert (heads.plain_head_fields(text.encode("latin-1"), text) is not None) is plain


def test_a_browser_head_is_a_plain_head() -> None:
    from bench.scenarios import browser_head

    block = browser_head()[: -len(b"\r\n\r\n")]
    assert heads.plain_head_fields(block, block.decode("latin-1")) is not None


REQUEST_LINE_PARTS = st.sampled_from(
    [
        "GET",
        "get",
        "M-SEARCH",
        "G@T",
        "",
        "/",
        "/a?b=c",
        "*",
        "http://h/p",
        "/caf\xe9",
        "/\x7f",
        "/a\tb",
        "HTTP/1.1",
        "HTTP/1.0",
        "HTTP/2.0",
        "HTTP/1.10",
        "http/1.1",
        "HTTP/\u0661.1",
    ]
)


@settings(max_examples=500)
@given(
    parts=st.lists(REQUEST_LINE_PARTS, min_size=1, max_size=4),
    separators=st.lists(st.sampled_from([" ", "  ", "\t", ""]), min_size=3, max_size=3),
)
def test_request_line_split_equals_the_grammar(parts: List[str], separators: List[str]) -> None:
    # _request_line checks the request-line part by part, with cheap tests
    # first; it must accept exactly what abnf.request_line matches, with
    # the same parts.
    line = "".join(part + sep for part, sep in zip(parts, separators + [""]))
    assert _split_request_line(line) == _grammar_request_line(line)


@settings(max_examples=500)
@given(line=st.text(alphabet="GET /aHTP1.0\t\x7f\xe9\x85\u0100\u0661", max_size=24))
def test_request_line_split_equals_the_grammar_on_any_text(line: str) -> None:
    assert _split_request_line(line) == _grammar_request_line(line)


@settings(max_examples=500)
@given(line=st.text(alphabet="GET /aHTP1.0\x21\x7e", max_size=24))
def test_request_line_split_equals_the_grammar_on_printable_ascii(line: str) -> None:
    # A head known to be printable ASCII skips the target's character checks.
    assert _split_request_line(line, printable=True) == _grammar_request_line(line)


def _split_request_line(line: str, printable: bool = False) -> object:
    try:
        return heads._request_line(line, printable)
    except ProtocolError:
        return None


def _grammar_request_line(line: str) -> object:
    match = abnf.request_line.fullmatch(line)
    return match.groups() if match else None


# -- readable_from: wider reads of a chunked body, never past its end ---------------------

CHUNK_EXTENSIONS = st.sampled_from([b"", b";name=value", b";x"])


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=40), max_size=8),
    extensions=st.lists(CHUNK_EXTENSIONS, min_size=9, max_size=9),
    trailers=st.sampled_from([b"", b"T: v\r\n"]),
    segments=st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=12),
    # What follows may look like more chunks (a smuggling attempt, or garbage).
    after=st.sampled_from([NEXT_MESSAGE, b"3\r\nabc\r\n0\r\n\r\n", b"\r\n3\r\nabc\r\n"]),
)
def test_readable_from_never_passes_the_message_end(
    pieces: List[bytes],
    extensions: List[bytes],
    trailers: bytes,
    segments: List[int],
    after: bytes,
) -> None:
    # The adapter peeks at what the peer has sent (in segments of any size)
    # and reads as much as readable_from allows, or else what wants() asks
    # for; the body must come out whole and the next message untouched.
    body = b"".join(
        b"%x%s\r\n%s\r\n" % (len(piece), extension, piece)
        for piece, extension in zip(pieces, extensions)
    )
    message = CHUNKED_HEAD + body + b"0\r\n" + trailers + b"\r\n"
    stream = message + after
    reader = Reader(is_response=False)
    position = arrived = widened = 0
    received = b""
    sizes = iter(segments)
    while not reader.done:
        event = reader.next_event()
        if isinstance(event, Data):
            received += event.data
        if event is not None:
            continue
        arrived = min(max(arrived, position) + next(sizes, 64), len(stream))
        lookahead = stream[position:arrived]
        size = reader.readable_from(lookahead)
        assert position + size <= len(message), "read past the end of the message"
        # The same bytes seen in place, inside a larger buffer (as the
        # adapter peeks at IOStream's bytearray without copying it).
        framed = bytearray(b"\r\n0\r\n" + lookahead + b"0\r\n\r\n")
        assert reader.readable_from(framed, 5, 5 + len(lookahead)) == size
        want = reader.wants()
        if size and isinstance(want, ReadBytes) and size > want.size:
            end = position + size
            widened += 1
        elif isinstance(want, (ReadUntilRegex, ReadLine)):
            pattern = want.pattern if isinstance(want, ReadUntilRegex) else b"\n"
            match = re.compile(pattern).search(stream, position)
            assert match is not None
            end = match.end()
        else:
            end = min(position + want.size, len(stream))
        reader.receive_data(stream[position:end])
        position = end
    assert received == b"".join(pieces)
    assert position == len(message)
    assert reader.trailing_data == b""


def test_readable_from_takes_every_whole_chunk_buffered() -> None:
    reader = Reader(is_response=False)
    reader.receive_data(CHUNKED_HEAD)
    assert isinstance(reader.next_event(), RequestHead)
    assert reader.next_event() is None
    chunks = b"".join(b"3\r\n%s\r\n" % (b"%03d" % n) for n in range(50))
    # Everything up to the last chunk's line, and part of a chunk's data
    # (it is inside the body too), but not the last chunk or what follows.
    assert reader.readable_from(chunks + b"0\r\n\r\n" + NEXT_MESSAGE) == len(chunks)
    assert reader.readable_from(chunks + b"5\r\nab") == len(chunks) + len(b"5\r\nab")
    assert reader.readable_from(chunks + b"5\r") == len(chunks)  # a line not yet whole
    # A malformed line stops the count; parsing it later refuses it.
    assert reader.readable_from(b"3\r\nabc\r\nzz\r\n") == len(b"3\r\nabc\r\n")
    assert reader.readable_from(b"3\nabc\r\n") == 0  # bare LF
    # Outside a chunked body there is nothing to vouch for.
    plain = Reader(is_response=False)
    plain.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
    assert isinstance(plain.next_event(), RequestHead)
    assert plain.readable_from(b"abcde" + NEXT_MESSAGE) == 0


# Chunk-size lines and the size _chunk_size reads on each (-1: invalid).
CHUNK_SIZE_LINES = [
    (b"a\r\n", 10),
    (b"FfFf\r\n", 0xFFFF),
    (b"0\r\n", 0),
    (b"ffffffffffffffff\r\n", 2**64 - 1),  # sixteen digits: the most we take
    (b"000000000000000a\r\n", 10),  # sixteen, small
    # RFC 9112 7.1: chunk-size = 1*HEXDIG; its value is bounded, not its
    # digits, so leading zeros are valid however many.
    (b"0000000000000000a\r\n", 10),  # seventeen, small
    (b"0" * 4000 + b"ffffffffffffffff\r\n", 2**64 - 1),
    (b"0" * 20 + b";last\r\n", 0),
    (b"a;name=value\r\n", 10),  # an extension, ignored
    # What int(x, 16) would take but RFC 9112 7.1's 1*HEXDIG does not:
    (b"1_0\r\n", -1),
    (b"+a\r\n", -1),
    (b"-1\r\n", -1),
    (b" a\r\n", -1),
    (b"a \r\n", -1),
    (b"0x1\r\n", -1),
    (b"\r\n", -1),
    (b"1ffffffffffffffff\r\n", -1),  # seventeen significant digits: overflow
    (b"0001ffffffffffffffff\r\n", -1),
    (b"a\n", -1),  # bare LF
]


@pytest.mark.parametrize("line, size", CHUNK_SIZE_LINES)
def test_chunk_size_line(line: bytes, size: int) -> None:
    assert chunk_size(line) == size


# The lines of CHUNK_SIZE_LINES as the second chunk's size line (all but the
# last chunk and the sizes too large to send): the one-step matches of
# readable_from and of coalescing must take exactly the lines _chunk_size
# takes.
_SECOND_SIZE_LINES = [line for line, size in CHUNK_SIZE_LINES if size != 0 and size < 2**20]


@pytest.mark.parametrize("line", _SECOND_SIZE_LINES)
@pytest.mark.parametrize("coalesce", [0, 256])
def test_chunks_after_the_first_are_judged_as_the_first(line: bytes, coalesce: int) -> None:
    size = chunk_size(line)
    second = b"x" * max(size, 0)
    raw = CHUNKED_HEAD + b"3\r\nabc\r\n" + line + second + b"\r\n0\r\n\r\n" + NEXT_MESSAGE
    reader = Reader(is_response=False, coalesce_chunks=coalesce)
    reader.receive_data(raw)
    assert isinstance(reader.next_event(), RequestHead)
    body = b""
    if size < 0:
        with pytest.raises(ProtocolError):
            while True:
                event = reader.next_event()
                assert isinstance(event, Data)
                body += event.data
        assert body == b"abc"
    else:
        while not isinstance(event := reader.next_event(), EndOfMessage):
            assert isinstance(event, Data)
            body += event.data
        assert body == b"abc" + second
        assert reader.trailing_data == NEXT_MESSAGE
    # What readable_from vouches for: past the second line only if it is valid.
    fresh = Reader(is_response=False)
    fresh.receive_data(CHUNKED_HEAD)
    assert isinstance(fresh.next_event(), RequestHead)
    lookahead = raw[len(CHUNKED_HEAD) :]
    vouched = fresh.readable_from(lookahead)
    after_second_line = len(b"3\r\nabc\r\n" + line)
    if size < 0:
        assert vouched == len(b"3\r\nabc\r\n")
    else:
        assert vouched == after_second_line + size + len(b"\r\n")
    # And the same from inside the first chunk's data.
    inside = Reader(is_response=False)
    inside.receive_data(CHUNKED_HEAD + b"3\r\na")
    assert isinstance(inside.next_event(), RequestHead)
    assert inside.next_event() == Data(b"a", chunk_end=False)
    assert inside.readable_from(lookahead[len(b"3\r\na") :]) == vouched - len(b"3\r\na")


def test_host_values_found_valid_are_remembered_within_a_bound() -> None:
    head = b"GET / HTTP/1.1\r\nHost: %s"
    for n in range(3 * heads._VALID_HOSTS_LIMIT):
        parse_request_head(head % b"h%d.example" % n)
    assert len(heads._VALID_HOSTS) <= heads._VALID_HOSTS_LIMIT
    # A remembered value is still the only thing that skips the check.
    with pytest.raises(ProtocolError, match="Invalid Host header"):
        parse_request_head(head % b"h0.example/")
    parse_request_head(head % b"h0.example")


def _coalesced_events(raw: bytes, **options: int) -> List[object]:
    reader = Reader(is_response=False, **options)
    reader.receive_data(raw)
    events: List[object] = []
    while not events or not isinstance(events[-1], EndOfMessage):
        event = reader.next_event()
        assert event is not None
        events.append(event)
    assert reader.trailing_data == NEXT_MESSAGE
    return events


def test_coalesced_chunks_come_in_few_events_of_at_mostchunk_size() -> None:
    pieces = [b"%04d" % n for n in range(100)]
    events = _coalesced_events(
        _chunked_request(pieces) + NEXT_MESSAGE, chunk_size=64, coalesce_chunks=1000
    )
    data = [event.data for event in events if isinstance(event, Data)]
    assert b"".join(data) == b"".join(pieces)
    assert all(len(piece) <= 64 for piece in data)
    assert len(data) == 100 * 4 // 64 + 1  # 16 chunks of 4 bytes per event
    # And at most coalesce_chunks chunks per event, counted in chunks_read.
    events = _coalesced_events(_chunked_request(pieces) + NEXT_MESSAGE, coalesce_chunks=7)
    data = [event.data for event in events if isinstance(event, Data)]
    assert b"".join(data) == b"".join(pieces)
    assert [len(piece) for piece in data] == [7 * 4] * 14 + [2 * 4]


def test_coalescing_stops_at_what_the_normal_phases_must_judge() -> None:
    # A malformed line, a bare LF after a chunk's data, a body over its
    # limit: the same errors as without coalescing.
    good = b"3\r\nabc\r\n" * 5
    # (A chunk's data is handed over before its missing CRLF is noticed,
    # with or without coalescing.)
    for bad, message, body in [
        (b"zz\r\nabc\r\n0\r\n\r\n", "invalid chunk size", b"abc" * 5),
        (b"3\r\nabc\n0\r\n\r\n", "improperly terminated chunk", b"abc" * 6),
    ]:
        reader = Reader(is_response=False, coalesce_chunks=1000)
        reader.receive_data(CHUNKED_HEAD + good + bad)
        assert isinstance(reader.next_event(), RequestHead)
        event = reader.next_event()
        assert isinstance(event, Data) and event.data == body
        with pytest.raises(ProtocolError, match=message):
            reader.next_event()
    reader = Reader(is_response=False, coalesce_chunks=1000)
    reader.receive_data(CHUNKED_HEAD + good + b"0\r\n\r\n")
    assert isinstance(reader.next_event(), RequestHead)
    reader.max_body_size = 10
    event = reader.next_event()
    assert isinstance(event, Data) and event.data == b"abc" * 3
    with pytest.raises(ProtocolError, match="chunked body too large"):
        reader.next_event()


# -- RFC 9112 / RFC 9110, round two ---------------------------------------------------

VALID_HOSTS = [
    "example.com",
    "example.com:8080",
    "example.com:",  # port = *DIGIT
    "127.0.0.1",
    "[::1]",
    "[::1]:443",
    "[2001:db8::1]",
    "[2001:db8:0:0:0:0:2:1]",
    "[::ffff:192.0.2.1]",  # ls32 as an IPv4address
    "[v1.fe80::a+en1]",  # IPvFuture
    "%65xample.com",  # pct-encoded
    "a.b-c_d~e!$&'()*+;=",  # unreserved and sub-delims (but ",")
    "",  # RFC 9112 3.2: a request whose target has no authority
]
INVALID_HOSTS = [
    "a[b",
    "[::1",
    "::1",  # an IPv6 address must be bracketed
    "[::1]x",
    "[::1]:8o",
    "a:80:80",
    "[::g]",
    "[1:2:3:4:5:6:7:8:9]",
    "[1::2::3]",
    "[256.0.0.1.2]",
    "[v1.]",
    "%zz",
    "a b",
    "a/b",
    "a@b",  # userinfo is not allowed in Host
    "a,b",  # several values folded into one, refused like several lines
]


@pytest.mark.parametrize("host", VALID_HOSTS)
@pytest.mark.parametrize("mode", MODES)
def test_host_values_the_grammar_allows(host: str, mode: str) -> None:
    # RFC 9110 7.2: Host = uri-host [ ":" port ], from RFC 3986 3.2.2/3.2.3.
    head, _, _, _ = read_message(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode(), mode)
    assert head.fields == [("Host", host)]


@pytest.mark.parametrize("host", INVALID_HOSTS)
@pytest.mark.parametrize("mode", ["whole", "byte-by-byte"])
def test_host_values_the_grammar_refuses(host: str, mode: str) -> None:
    # RFC 9112 3.2: a server MUST respond 400 to a request with an invalid
    # Host value (and one that is remembered as valid is not one of these).
    with pytest.raises(ProtocolError, match="(?i)host") as info:
        read_message(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode(), mode)
    assert info.value.status_hint == 400


@pytest.mark.parametrize(
    "method, target",
    [
        ("GET", "/a?b"),
        ("GET", "http://example.com/a?b"),  # RFC 9112 3.2.2: MUST accept absolute-form
        ("POST", "https://example.com"),
        ("OPTIONS", "*"),  # RFC 9112 3.2.4
        ("CONNECT", "example.com:443"),  # RFC 9112 3.2.3
        ("CONNECT", "[::1]:8080"),
    ],
)
def test_request_target_forms_their_methods_allow(method: str, target: str) -> None:
    raw = b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(), target.encode())
    head, _, _, _ = read_message(raw)
    assert (head.method, head.target) == (method, target)


@pytest.mark.parametrize(
    "method, target",
    [
        ("GET", "a/b"),  # neither a path nor an absolute URI
        ("GET", "*"),  # RFC 9112 3.2.4: only OPTIONS
        ("GET", "example.com:443"),  # authority-form: only CONNECT (but a scheme "example.com")
        ("CONNECT", "/"),  # RFC 9112 3.2.3: CONNECT takes authority-form
        ("CONNECT", "example.com"),
        ("CONNECT", "example.com:"),  # RFC 9110 9.3.6: an empty port MUST be refused
        ("CONNECT", "example.com:65536"),  # and an invalid one
        ("CONNECT", "http://example.com:80/"),
        ("OPTIONS", "**"),
    ],
)
def test_request_target_forms_their_methods_refuse(method: str, target: str) -> None:
    raw = b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(), target.encode())
    if target == "example.com:443":
        # "example.com:443" is a valid absolute-URI too (scheme "example.com"):
        # only CONNECT reads it as an authority.
        head, _, _, _ = read_message(raw)
        assert head.target == target
        return
    with pytest.raises(ProtocolError, match="request-target|CONNECT") as info:
        read_message(raw)
    assert info.value.status_hint == 400


def _server_exchange(request: bytes) -> Exchange:
    exchange = Exchange(False)
    exchange.receive_data(request)
    assert isinstance(exchange.next_event(), RequestHead)
    exchange.after_head()
    assert isinstance(exchange.next_event(), EndOfMessage)
    return exchange


@pytest.mark.parametrize(
    "connection, sent",
    [
        ("close", "close"),
        ("Close", "Close"),
        ("upgrade, close", "upgrade, close"),  # kept as given, not replaced
    ],
)
def test_a_response_that_says_close_is_the_connections_last(connection: str, sent: str) -> None:
    # RFC 9112 9.6: a server that sends the "close" connection option MUST
    # initiate a close of the connection after it sends that response.
    exchange = _server_exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert exchange.keep_alive
    fields = Fields(("Connection", connection), ("Content-Length", "0"))
    head = exchange.send_response(200, "OK", fields)
    assert not exchange.keep_alive
    assert head.count(b"Connection:") == 1 and b"Connection: %s\r\n" % sent.encode() in head


@pytest.mark.parametrize(
    "request_head, connection_field",
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"Connection: close\r\n"),
        # An HTTP/1.0 client's keep-alive is simply not confirmed.
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", None),
    ],
)
def test_close_after_ends_the_connection_with_this_exchange(
    request_head: bytes, connection_field: Optional[bytes]
) -> None:
    # A draining server: the exchange under way is the connection's last,
    # and a response not yet begun says so (RFC 9112 9.6).
    exchange = _server_exchange(request_head)
    assert exchange.keep_alive
    exchange.close_after()
    assert not exchange.keep_alive
    head = exchange.send_response(200, "OK", Fields(("Content-Length", "0")))
    assert not exchange.keep_alive
    if connection_field is None:
        assert b"Connection:" not in head
    else:
        assert connection_field in head


def test_close_after_holds_for_a_head_not_yet_read() -> None:
    exchange = Exchange(False)
    exchange.close_after()
    exchange.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert isinstance(exchange.next_event(), RequestHead)
    exchange.after_head()
    assert not exchange.keep_alive
    assert b"Connection: close\r\n" in exchange.send_response(200, "OK", Fields())


def test_a_response_without_close_keeps_the_connection() -> None:
    exchange = _server_exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    exchange.send_response(
        200, "OK", Fields(("Connection", "keep-alive, x"), ("Content-Length", "0"))
    )
    assert exchange.keep_alive


def test_a_request_that_says_close_is_the_connections_last() -> None:
    # RFC 9112 9.6: a client that sends "close" MUST close the connection
    # after reading the response, whatever the response says.
    exchange = Exchange(True)
    exchange.send_request("GET", "/", Fields(("Host", "x"), ("Connection", "close")))
    exchange.send_end()
    exchange.receive_data(
        b"HTTP/1.1 103 Early Hints\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    )
    interim = exchange.next_event()
    assert isinstance(interim, ResponseHead) and interim.interim
    exchange.after_head()
    final = exchange.next_event()
    assert isinstance(final, ResponseHead) and final.keep_alive
    assert not exchange.keep_alive


@pytest.mark.parametrize(
    "transfer_encoding",
    ["chunked,", ", chunked", "chunked, ,", " , chunked , ", "chunked,,"],
)
@pytest.mark.parametrize("mode", MODES)
def test_empty_list_elements_are_ignored(transfer_encoding: str, mode: str) -> None:
    # RFC 9110 5.6.1: a recipient MUST parse and ignore a reasonable number
    # of empty list elements.
    raw = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        % transfer_encoding.encode()
    )
    head, body, _, _ = read_message(raw, mode)
    assert head.framing.kind is BodyKind.CHUNKED and body == b"hello"
    head, _, _, _ = read_message(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: , close,\r\n\r\n")
    assert not head.keep_alive


def test_an_expectation_list_with_empty_elements_still_asks_for_100_continue() -> None:
    exchange = Exchange(False)
    exchange.receive_data(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: , 100-Continue\r\n\r\n"
    )
    assert isinstance(exchange.next_event(), RequestHead)
    assert exchange.after_head() == b"HTTP/1.1 100 Continue\r\n\r\n"


@pytest.mark.parametrize("content_length", ["5,", ",5", "5, ,5"])
def test_content_length_is_not_a_list_field(content_length: str) -> None:
    # RFC 9110 8.6: Content-Length = 1*DIGIT; only a list of identical values
    # (a proxy's merge) may be accepted, so empty elements are refused.
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\nhello" % content_length.encode()
    with pytest.raises(ProtocolError, match="Content-Length"):
        read_message(raw)


@pytest.mark.parametrize("mode", MODES)
def test_content_length_with_leading_zeros(mode: str) -> None:
    # RFC 9110 8.6: Content-Length = 1*DIGIT; the value is bounded against
    # overflow, not the number of digits.
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %s5\r\n\r\nhello" % (b"0" * 30)
    head, body, _, _ = read_message(raw, mode)
    assert head.framing == Framing(BodyKind.LENGTH, 5) and body == b"hello"
    assert ("Content-Length", "5") in head.fields  # one plain value for the application
    with pytest.raises(ProtocolError, match="integer Content-Length"):
        read_message(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0%s\r\n\r\n" % (b"9" * 19))


def test_bodies_over_the_limit_get_413() -> None:
    # RFC 9110 15.5.14: 413 (Content Too Large), whether the length was
    # declared or the chunks grew past the limit.
    reader = Reader(is_response=False, max_body_size=4)
    reader.receive_data(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
    assert isinstance(reader.next_event(), RequestHead)
    with pytest.raises(ProtocolError, match="Content-Length too long") as info:
        reader.next_event()
    assert info.value.status_hint == 413
    with pytest.raises(ProtocolError, match="chunked body too large") as info:
        read_message(CHUNKED_HEAD + b"5\r\nhello\r\n0\r\n\r\n", max_body_size=4)
    assert info.value.status_hint == 413
    assert writers.error_response(413) == (
        b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )


@pytest.mark.parametrize("mode", ["whole", "byte-by-byte"])
@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\r\n\r\n",
        b"GET / HTTP/1.1\r\r\n\r\n",
    ],
)
def test_a_bare_cr_right_before_the_end_of_the_head_is_refused(raw: bytes, mode: str) -> None:
    # RFC 9112 2.2: a bare CR MUST be taken as invalid (or replaced with SP).
    # Found by the differential run: the CR before the CRLF CRLF that ends
    # the head was taken as part of a line end and dropped.
    with pytest.raises(ProtocolError, match="bare CR"):
        read_message(raw, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "framing_field", [b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", b""]
)
def test_a_2xx_response_to_connect_makes_a_tunnel(framing_field: bytes, mode: str) -> None:
    # RFC 9112 6.3 rule 2: the connection is a tunnel right after the head,
    # and a client MUST ignore Content-Length and Transfer-Encoding there.
    raw = b"HTTP/1.1 200 Connection established\r\n" + framing_field + b"\r\n"
    reader = Reader(is_response=True, request_method="CONNECT")
    for piece in _pieces(raw, mode) + [b"TUNNEL BYTES"]:
        reader.receive_data(piece)
    head = reader.next_event()
    assert isinstance(head, ResponseHead) and head.framing.kind is BodyKind.NONE
    assert isinstance(reader.next_event(), EndOfMessage)
    assert not head.keep_alive and not reader.exchange.keep_alive  # no more HTTP on it
    assert reader.trailing_data == b"TUNNEL BYTES"  # left for whoever takes the tunnel


@pytest.mark.parametrize(
    "method, code, kept",
    [
        ("GET", 204, False),
        ("GET", 103, False),
        ("CONNECT", 200, False),
        ("GET", 304, True),  # RFC 9110 8.6: a 304 may carry the 200's length
        ("HEAD", 200, True),
        ("CONNECT", 407, True),
    ],
)
def test_responses_that_must_not_carry_length_fields(method: str, code: int, kept: bool) -> None:
    # RFC 9110 8.6, RFC 9112 6.1: a server MUST NOT send Content-Length or
    # Transfer-Encoding in a 1xx or 204 response, or a 2xx response to CONNECT.
    target = "example.com:443" if method == "CONNECT" else "/"
    exchange = _server_exchange(
        b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(), target.encode())
    )
    fields = Fields(("Content-Length", "5"), ("X-A", "b"))
    head = exchange.send_response(code, "Whatever", fields)
    assert (b"Content-Length: 5\r\n" in head) is kept
    assert b"Transfer-Encoding" not in head and b"X-A: b\r\n" in head
    if method == "CONNECT" and code == 200:
        assert not exchange.keep_alive  # a tunnel from here on


@settings(max_examples=3000, deadline=None)
@given(data=st.binary().map(lambda b: bytes(b"a\r\n"[x % 3] for x in b)), start=st.integers(0, 8))
def test_head_end_finds_what_the_head_end_pattern_finds(data: bytes, start: int) -> None:
    # head_end() is the fast form of HEAD_END.search(); over bytes made of
    # CR, LF and one other byte, they must agree at every start.
    from tornado_h1alt.h1.readers import HEAD_END, head_end

    match = HEAD_END.search(data, start)
    assert head_end(data, start) == (None if match is None else match.span())


@pytest.mark.parametrize(
    "data, start, span",
    [
        (b"a\n\r\n\n", 0, (1, 4)),  # LF CRLF just before an LF LF
        (b"a\r\n\r\n", 0, (1, 5)),
        (b"\r\n\r\n", 1, (1, 4)),  # the CR before the LF is before start
        (b"a\n\n", 0, (1, 3)),
        (b"a\r\nb", 0, None),
    ],
)
def test_head_end_cases(data: bytes, start: int, span: object) -> None:
    from tornado_h1alt.h1.readers import head_end

    assert head_end(data, start) == span


# Pieces of heads and of what may surround them: CRLF CRLF ends the bytes
# of most draws, so that the reader's plain-head path is taken often.
_HEAD_PIECES = st.sampled_from(
    [
        b"GET / HTTP/1.1",
        b"HTTP/1.1 200 OK",
        b"Host: x",
        b"A: b",
        b"Content-Length: 0",
        b"\r\n",
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b":",
        b"a",
        b"\x01",
    ]
)


def _head_by_search(data: bytes, is_response: bool) -> Tuple[str, object, int]:
    """What HeadReader must give for ``data`` (ending the stream there): the
    head found by `HEAD_END` after the empty lines a reader skips, parsed
    with the general parser.  ("head", head, where the buffer then stands),
    ("error", message, 0), or ("none", None, 0)."""
    from tornado_h1alt.h1.heads import parse_response_head
    from tornado_h1alt.h1.readers import HEAD_END

    start = 0
    while True:  # the empty lines (CRLF or LF) before a head
        if data.startswith(b"\r\n", start):
            start += 2
        elif data.startswith(b"\n", start):
            start += 1
        else:
            break
    match = HEAD_END.search(data, start)
    if match is None or match.start() == start:
        return ("none", None, 0)
    block = data[start : match.start()]
    try:
        head = parse_response_head(block, "GET") if is_response else parse_request_head(block)
    except ProtocolError as error:
        return ("error", str(error), 0)
    return ("head", head, match.end())


@settings(max_examples=3000, deadline=None)
@given(
    pieces=st.lists(_HEAD_PIECES, max_size=10),
    rest=st.lists(_HEAD_PIECES, max_size=4),
    is_response=st.booleans(),
)
def test_a_head_is_read_where_the_search_finds_its_end(
    pieces: List[bytes], rest: List[bytes], is_response: bool
) -> None:
    # HeadReader parses what it holds before the first CRLF CRLF without
    # looking for an earlier end of the head when that is a plain head
    # (parse_plain_head); it must give what the search (HEAD_END) and the
    # general parser give, whatever follows.
    from tornado_h1alt.h1.buffer import ReceiveBuffer
    from tornado_h1alt.h1.readers import HeadReader

    data = b"".join(pieces) + b"\r\n\r\n" + b"".join(rest)
    expected = _head_by_search(data, is_response)
    if expected[0] == "none":
        return  # only empty lines, or a lone CR among them: not this test's subject
    buffer = ReceiveBuffer()
    buffer.feed(data)
    try:
        head = HeadReader(is_response, 65536).read(buffer, "GET")
    except ProtocolError as error:
        assert expected == ("error", str(error), 0)
    else:
        assert expected == ("head", head, buffer.pos)


def test_the_plain_path_parses_only_the_first_head(monkeypatch: pytest.MonkeyPatch) -> None:
    # With many requests held at once, each read parses only its own head's
    # bytes (the first CRLF CRLF bounds them), not all that follows: reading
    # them one after another stays linear in what is held.
    import tornado_h1alt
    from tornado_h1alt.h1 import readers
    from tornado_h1alt.h1.buffer import ReceiveBuffer

    if tornado_h1alt.BUILD == "compiled":
        pytest.skip(
            "the compiled core's module globals cannot be replaced; the pure build runs this"
        )
    blocks: List[bytes] = []
    original = readers.parse_plain_head

    def recording(block: bytes, *args: object) -> object:
        blocks.append(block)
        return original(block, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(readers, "parse_plain_head", recording)
    one = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    buffer = ReceiveBuffer()
    buffer.feed(one * 50)
    for _ in range(50):
        head = readers.HeadReader(False, 65536).read(buffer)
        assert isinstance(head, RequestHead)
    assert blocks == [one[:-4]] * 50 and buffer.pos == len(buffer.data)


def test_a_plain_head_is_only_taken_whole() -> None:
    # Bytes ending in CRLF CRLF that hold a head and more: the head ends at
    # its own empty line, and the plain parse refuses the whole.
    from tornado_h1alt.h1.buffer import ReceiveBuffer
    from tornado_h1alt.h1.heads import parse_plain_head
    from tornado_h1alt.h1.readers import HeadReader

    two = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x"
    assert parse_plain_head(two, False, None) is None
    assert parse_plain_head(b"GET / HTTP/1.1\nHost: x", False, None) is None  # bare LF
    plain = parse_plain_head(b"GET / HTTP/1.1\r\nHost: x", False, None)
    assert isinstance(plain, RequestHead) and plain.target == "/"
    buffer = ReceiveBuffer()
    buffer.feed(two + b"\r\n\r\n")
    reader = HeadReader(False, 65536)
    first = reader.read(buffer)
    assert isinstance(first, RequestHead) and first.target == "/1"
    second = HeadReader(False, 65536).read(buffer)
    assert isinstance(second, RequestHead) and second.target == "/2"
    assert buffer.pos == len(buffer.data)
    with pytest.raises(ProtocolError, match="Multiple host"):
        parse_plain_head(b"GET / HTTP/1.1\r\nHost: x\r\nHost: y", False, None)


def test_events_and_framing_are_values() -> None:
    # They were NamedTuples: equality and hash by value, a readable repr.
    assert Data(b"x") == Data(b"x", True) and Data(b"x") != Data(b"x", False)
    assert Data(b"x") != EndOfMessage([])  # another class, even with equal values
    assert hash(Framing(BodyKind.LENGTH, 5)) == hash(Framing(BodyKind.LENGTH, 5))
    assert {Framing(BodyKind.CHUNKED), Framing(BodyKind.CHUNKED)} == {Framing(BodyKind.CHUNKED)}
    assert ReadBytes(3) == ReadBytes(3) and ReadBytes(3) != ReadLine(3)
    assert repr(Data(b"x")) == "Data(data=b'x', chunk_end=True)"
    assert ConnectionClosed() == ConnectionClosed()


@pytest.mark.parametrize(
    "request_head, code, fields",
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, [("Content-Length", "2"), ("X-A", "1")]),
        # The exchange adds Transfer-Encoding, Connection: Keep-Alive, or
        # Connection: close, and removes Content-Length from a 204: the head
        # is listed again from the table after each change.
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, [("X-A", "1"), ("X-A", "2")]),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, [("Content-Length", "0")]),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200, []),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 204, [("Content-Length", "0"), ("X-B", "b")]),
    ],
)
def test_a_response_head_from_the_grouped_table_equals_one_from_get_all(
    request_head: bytes, code: int, fields: List[Tuple[str, str]]
) -> None:
    listed, grouped = Fields(*fields), GroupedOnly(*fields)
    expected = _server_exchange(request_head).send_response(code, "X", listed)
    assert _server_exchange(request_head).send_response(code, "X", grouped, grouped.grouped) == (
        expected
    )
    assert grouped.fields == listed.fields  # the same fields added and removed


def test_a_request_head_from_the_grouped_table_equals_one_from_get_all() -> None:
    fields = [("Host", "x"), ("Accept", "*/*")]
    listed, grouped = Fields(*fields), GroupedOnly(*fields)
    expected = Exchange(True).send_request("POST", "/", listed)  # chunked: a field added
    assert Exchange(True).send_request("POST", "/", grouped, grouped.grouped) == expected
    assert b"Transfer-Encoding: chunked" in expected and grouped.fields == listed.fields
