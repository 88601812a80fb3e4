"""The adapter over real sockets: what a peer on 127.0.0.1 observes.

Servers here run tornado_h1alt's engine (``tornado_h1alt.HTTPServer`` with
a `tornado.web.Application`, or ``HTTP1ServerConnection`` with a recording
delegate); the peer is a raw IOStream speaking bytes, or for the client
side ``HTTP1Connection(stream, is_client=True)`` against a canned server.
"""

from __future__ import annotations

import gzip
import logging
import socket
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest
import tornado.httpserver
import tornado.simple_httpclient
import tornado.web
from h1wire import connect, exchange, parse_responses, read_response, read_with_timeout
from tornado import gen, httputil, iostream
from tornado.concurrent import Future
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpserver import TCPServer
from tornado.testing import bind_unused_port

import tornado_h1alt
import tornado_h1alt.connection as connection_module
from tornado_h1alt import compat, streamio

# Generous: only reached if the engine hangs, never on the expected path.
HANG_GUARD = 5.0

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def _resolve(future: Future[Any], value: Any = None) -> None:
    if not future.done():
        future.set_result(value)


async def _wait(future: Future[Any]) -> Any:
    return await gen.with_timeout(IOLoop.current().time() + HANG_GUARD, future)


def _errors(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


# -- a tornado.web.Application on tornado_h1alt.HTTPServer ---------------------


class MainHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("hello")

    def head(self) -> None:
        self.write("hello")  # Tornado computes Content-Length and drops the body


class UriHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(self.request.uri or "")


class EchoHandler(tornado.web.RequestHandler):
    def post(self) -> None:
        self.set_header(
            "X-Seen-Transfer-Encoding", self.request.headers.get("Transfer-Encoding", "")
        )
        self.set_header(
            "X-Seen-Consumed-Encoding",
            self.request.headers.get("X-Consumed-Content-Encoding", ""),
        )
        self.write(self.request.body)

    put = post


class ChunksHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        for piece in (b"a", b"bb", b"ccc"):
            self.write(piece)
            await self.flush()


class NotModifiedHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_status(304)


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/", MainHandler),
            (r"/uri.*", UriHandler),
            (r"/echo", EchoHandler),
            (r"/chunks", ChunksHandler),
            (r"/304", NotModifiedHandler),
        ]
    )


@pytest.fixture
def app() -> tornado.web.Application:
    """The application pytest-tornasync's ``http_server`` (stock Tornado) serves."""
    return make_app()


@pytest.fixture
def serve(io_loop: IOLoop) -> Iterator[Callable[..., int]]:
    """start(**HTTPServer kwargs) -> port of a tornado_h1alt.HTTPServer running make_app()."""
    servers: List[tornado_h1alt.HTTPServer] = []

    def start(**kwargs: Any) -> int:
        server = tornado_h1alt.HTTPServer(make_app(), **kwargs)
        sock, port = bind_unused_port()
        server.add_socket(sock)
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.stop()
        io_loop.run_sync(server.close_all_connections)


# -- HTTP1ServerConnection with a recording delegate -----------------------------


class Recorder(httputil.HTTPMessageDelegate):
    """Records every delegate call; ``respond(self)`` runs from finish()."""

    def __init__(
        self,
        connection: Optional[httputil.HTTPConnection] = None,
        respond: Optional[Callable[[Recorder], None]] = None,
        on_headers: Optional[Callable[[Recorder], None]] = None,
    ) -> None:
        self.connection = connection
        self.respond = respond
        self.on_headers = on_headers
        self.calls: List[Tuple[Any, ...]] = []
        self.errors: List[Exception] = []
        self.detached: Optional[IOStream] = None
        self.done: Future[None] = Future()  # finish or on_connection_close
        self.headers_seen: Future[None] = Future()

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        self.calls.append(("headers", start_line, headers))
        if self.on_headers is not None:
            self.on_headers(self)
        _resolve(self.headers_seen)

    def data_received(self, chunk: bytes) -> None:
        self.calls.append(("data", chunk))

    def finish(self) -> None:
        self.calls.append(("finish",))
        if self.respond is not None:
            self.respond(self)
        _resolve(self.done)

    def on_connection_close(self) -> None:
        self.calls.append(("close",))
        _resolve(self.done)

    @property
    def body(self) -> bytes:
        return b"".join(call[1] for call in self.calls if call[0] == "data")

    @property
    def kinds(self) -> List[str]:
        return [call[0] for call in self.calls]


def respond_ok(recorder: Recorder) -> None:
    connection = recorder.connection
    assert connection is not None
    connection.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": "2"}),
        b"ok",
    )
    connection.finish()


class RawServer(TCPServer, httputil.HTTPServerConnectionDelegate):
    """Serves each connection with tornado_h1alt.HTTP1ServerConnection and Recorders."""

    def __init__(
        self,
        params: tornado_h1alt.HTTP1ConnectionParameters,
        respond: Optional[Callable[[Recorder], None]],
        on_headers: Optional[Callable[[Recorder], None]],
    ) -> None:
        super().__init__()
        self.params = params
        self.respond = respond
        self.on_headers = on_headers
        self.recorders: List[Recorder] = []
        self.connections: List[tornado_h1alt.HTTP1ServerConnection] = []
        self.closed_connections = 0
        self.connection_closed: Future[None] = Future()
        self.port = 0

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        connection = tornado_h1alt.HTTP1ServerConnection(stream, self.params)
        self.connections.append(connection)
        connection.start_serving(self)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        recorder = Recorder(request_conn, self.respond, self.on_headers)
        self.recorders.append(recorder)
        return recorder

    def on_close(self, server_conn: object) -> None:
        self.closed_connections += 1
        _resolve(self.connection_closed)


@pytest.fixture
def raw_server(io_loop: IOLoop) -> Iterator[Callable[..., RawServer]]:
    """start(respond=respond_ok, on_headers=None, **HTTP1ConnectionParameters kwargs)."""
    servers: List[RawServer] = []

    def start(
        respond: Optional[Callable[[Recorder], None]] = respond_ok,
        on_headers: Optional[Callable[[Recorder], None]] = None,
        **params: Any,
    ) -> RawServer:
        server = RawServer(tornado_h1alt.HTTP1ConnectionParameters(**params), respond, on_headers)
        sock, server.port = bind_unused_port()
        server.add_socket(sock)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        for connection in server.connections:
            io_loop.run_sync(connection.close)
        for recorder in server.recorders:
            if recorder.detached is not None:
                recorder.detached.close()


# -- the basics -------------------------------------------------------------------


async def test_simple_get(serve: Callable[..., int]) -> None:
    port = serve()
    data, closed = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    (response,) = parse_responses(data)
    assert (response.status, response.body) == (200, b"hello")
    assert response.header("Content-Length") == "5"
    assert closed


async def test_keep_alive_two_requests_on_one_connection(serve: Callable[..., int]) -> None:
    stream = await connect(serve())
    try:
        for path in (b"/uri/1", b"/uri/2"):
            await stream.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            response = await read_response(stream)
            assert (response.status, response.body) == (200, path)
            assert response.header("Connection") is None
    finally:
        stream.close()


async def test_pipelined_requests_answered_in_order(serve: Callable[..., int]) -> None:
    requests = (
        b"".join(b"GET /uri/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(1, 5))
        + b"GET /uri/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data, closed = await exchange(serve(), requests)
    bodies = [response.body for response in parse_responses(data)]
    assert bodies == [b"/uri/1", b"/uri/2", b"/uri/3", b"/uri/4", b"/uri/last"]
    assert closed


async def test_http10_without_keep_alive_closes(serve: Callable[..., int]) -> None:
    # Sent without a close from our side: only the server's close ends the read.
    data, closed = await exchange(serve(), b"GET / HTTP/1.0\r\n\r\n")
    (response,) = parse_responses(data)
    assert (response.status, response.body) == (200, b"hello")
    assert response.header("Connection") is None
    assert closed


async def test_http10_keep_alive_stays_open(serve: Callable[..., int]) -> None:
    stream = await connect(serve())
    try:
        await stream.write(b"GET /uri/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = await read_response(stream)
        assert first.header("Connection") == "Keep-Alive"
        assert first.body == b"/uri/1"
        # Still open: a second (non-keep-alive) request is answered, then closed.
        await stream.write(b"GET /uri/2 HTTP/1.0\r\n\r\n")
        data, closed = await read_with_timeout(stream, HANG_GUARD)
        (second,) = parse_responses(data)
        assert second.body == b"/uri/2"
        assert closed
    finally:
        stream.close()


async def test_connection_close_on_http11(serve: Callable[..., int]) -> None:
    # The pipelined second request must never be answered.
    data, closed = await exchange(
        serve(),
        b"GET /uri/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + GET,
    )
    (response,) = parse_responses(data)
    assert response.body == b"/uri/1"
    assert response.header("Connection") == "close"
    assert closed


async def test_chunked_request_body_delivered_intact(serve: Callable[..., int]) -> None:
    body = bytes(range(256)) * 3
    pieces = [body[:1], body[1:300], body[300:]]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    data, closed = await exchange(
        serve(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + chunked,
    )
    (response,) = parse_responses(data)
    assert response.status == 200
    assert response.body == body
    assert response.header("X-Seen-Transfer-Encoding") == "chunked"


async def test_buffered_small_chunks_are_read_together_and_never_past_the_body(
    serve: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 400 small chunks and a pipelined request, sent at once: the server
    # reads the chunks many at a time (readable_from), not one read each,
    # and the next request is still served whole.
    reads: List[Any] = []
    real_read_for = connection_module.read_for

    def counting_read_for(stream: Any, want: Any, stops_at_limits: bool) -> Any:
        reads.append(want)
        return real_read_for(stream, want, stops_at_limits)

    monkeypatch.setattr(connection_module, "read_for", counting_read_for)
    pieces = [b"%03d" % n for n in range(400)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    data, closed = await exchange(
        serve(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked
        + b"GET /uri/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    first, second = parse_responses(data)
    assert first.body == b"".join(pieces)
    assert second.body == b"/uri/next" and closed
    assert len(reads) < 40  # one read per chunk would be over 400


async def test_content_length_request_body(serve: Callable[..., int]) -> None:
    body = b"x" * 100000 + b"end"
    data, _ = await exchange(
        serve(),
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % len(body)
        + body,
    )
    (response,) = parse_responses(data)
    assert (response.status, response.body) == (200, body)


async def test_expect_100_continue_before_body(serve: Callable[..., int]) -> None:
    stream = await connect(serve())
    try:
        await stream.write(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        # Nothing of the body has been sent: the interim response comes first.
        interim = await gen.with_timeout(
            IOLoop.current().time() + HANG_GUARD, stream.read_until(b"\r\n\r\n")
        )
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        await stream.write(b"hello")
        response = await read_response(stream)
        assert (response.status, response.body) == (200, b"hello")
    finally:
        stream.close()


async def test_no_100_continue_for_http10(serve: Callable[..., int]) -> None:
    # RFC 9110 10.1.1: an HTTP/1.0 request's 100-continue expectation is ignored.
    data, closed = await exchange(
        serve(),
        b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    )
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b" 100 " not in data
    assert [r.status for r in parse_responses(data)] == [200]
    assert closed


async def test_malformed_request_line(
    serve: Callable[..., int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tornado.general")
    data, closed = await exchange(serve(), b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data == b"HTTP/1.1 400 Bad Request\r\n\r\n"
    assert closed
    malformed = [
        r
        for r in caplog.records
        if r.name == "tornado.general" and "Malformed HTTP message" in r.getMessage()
    ]
    assert [r.levelno for r in malformed] == [logging.INFO]
    assert _errors(caplog) == []


async def test_transfer_encoding_with_content_length_is_rejected(
    serve: Callable[..., int], caplog: pytest.LogCaptureFixture
) -> None:
    data, closed = await exchange(
        serve(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 10\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    assert data == b"HTTP/1.1 400 Bad Request\r\n\r\n"
    assert closed
    assert _errors(caplog) == []


async def test_chunked_response_from_several_writes(serve: Callable[..., int]) -> None:
    data, closed = await exchange(
        serve(), b"GET /chunks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    (response,) = parse_responses(data)
    assert response.header("Transfer-Encoding") == "chunked"
    assert response.header("Content-Length") is None
    assert response.body == b"abbccc"
    # Each flush is its own chunk, and the last chunk ends the body.
    assert b"1\r\na\r\n" in data and b"2\r\nbb\r\n" in data
    assert data.endswith(b"3\r\nccc\r\n0\r\n\r\n")
    assert closed


async def test_chunked_response_not_sent_to_http10(serve: Callable[..., int]) -> None:
    # RFC 9112 6.1: no chunked coding to an HTTP/1.0 peer; the close ends the body.
    data, closed = await exchange(serve(), b"GET /chunks HTTP/1.0\r\n\r\n")
    (response,) = parse_responses(data)
    assert response.header("Transfer-Encoding") is None
    assert response.body == b"abbccc"
    assert closed


async def test_head_response_has_no_body_and_connection_reusable(
    serve: Callable[..., int],
) -> None:
    stream = await connect(serve())
    try:
        await stream.write(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await read_response(stream, method="HEAD")
        assert head.status == 200
        assert head.header("Content-Length") == "5"  # what GET would have sent
        # If the HEAD response carried a body, this would read it as a status line.
        await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        response = await read_response(stream)
        assert (response.status, response.body) == (200, b"hello")
    finally:
        stream.close()


async def test_304_has_no_body(serve: Callable[..., int]) -> None:
    data, _ = await exchange(
        serve(),
        b"GET /304 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /uri/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    first_head_end = data.index(b"\r\n\r\n") + 4
    assert data[:first_head_end].startswith(b"HTTP/1.1 304 ")
    assert b"Transfer-Encoding" not in data[:first_head_end]
    # The next response follows the 304's head immediately.
    assert data[first_head_end:].startswith(b"HTTP/1.1 200 ")
    assert [r.body for r in parse_responses(data)] == [b"", b"/uri/next"]


async def test_no_keep_alive_closes_after_one_request(serve: Callable[..., int]) -> None:
    data, closed = await exchange(serve(no_keep_alive=True), GET + GET)
    (response,) = parse_responses(data)
    assert response.header("Connection") == "close"
    assert closed


async def test_header_timeout_closes_idle_connection(serve: Callable[..., int]) -> None:
    # HTTPServer passes idle_connection_timeout as the header timeout.
    stream = await connect(serve(idle_connection_timeout=0.2))
    try:
        await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        data, closed = await read_with_timeout(stream, HANG_GUARD)
        assert (data, closed) == (b"", True)
    finally:
        stream.close()


async def test_header_timeout_closes_between_keep_alive_requests(
    serve: Callable[..., int],
) -> None:
    stream = await connect(serve(idle_connection_timeout=0.2))
    try:
        await stream.write(GET)
        assert (await read_response(stream)).body == b"hello"
        data, closed = await read_with_timeout(stream, HANG_GUARD)
        assert (data, closed) == (b"", True)
    finally:
        stream.close()


async def test_a_head_already_buffered_arms_no_header_timer(
    raw_server: Callable[..., RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pipelined requests behind the first are in the stream's buffer when
    # their turn comes: their reads complete at once, and a deadline for
    # them would be armed and disarmed for nothing.  (The timer still runs
    # for any head a read waits for: the header-timeout tests above.)
    arms: List[float] = []
    original = streamio.HeadTimer.arm

    def counting(self: Any, timeout: float, on_timeout: Callable[[], None]) -> None:
        arms.append(timeout)
        original(self, timeout, on_timeout)

    monkeypatch.setattr(streamio.HeadTimer, "arm", counting)
    server = raw_server(respond=_numbered, header_timeout=30)
    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(4))
    last = b"GET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data, closed = await exchange(server.port, requests + last)
    assert [r.body for r in parse_responses(data)] == [b"/%d" % i for i in range(5)]
    assert closed
    # At most for the first head, if it had not arrived yet when read.
    assert arms in ([], [30])


async def test_body_timeout_closes_slow_body(
    raw_server: Callable[..., RawServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tornado.general")
    server = raw_server(body_timeout=0.2)
    stream = await connect(server.port)
    try:
        await stream.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        data, closed = await read_with_timeout(stream, HANG_GUARD)
        assert (data, closed) == (b"", True)
    finally:
        stream.close()
    await _wait(server.connection_closed)
    assert any("Timeout reading body" in r.getMessage() for r in caplog.records)
    recorder = _only_request(server)
    # The delegate hears that the message ended without finish().
    assert recorder.kinds[0] == "headers"
    assert recorder.kinds[-1] == "close"
    assert "finish" not in recorder.kinds
    assert recorder.body in (b"", b"abc")
    assert _errors(caplog) == []


TOO_LARGE = b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


async def test_max_body_size_content_length(serve: Callable[..., int]) -> None:
    # RFC 9110 15.5.14: 413 (Content Too Large); Tornado answers 400.
    data, closed = await exchange(
        serve(max_body_size=10),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n" + b"x" * 11,
    )
    assert data == TOO_LARGE
    assert closed


async def test_max_body_size_chunked(serve: Callable[..., int]) -> None:
    data, closed = await exchange(
        serve(max_body_size=10),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6\r\nxxxxxx\r\n6\r\nxxxxxx\r\n0\r\n\r\n",
    )
    assert data == TOO_LARGE
    assert closed


async def test_max_body_size_allows_exact_limit(serve: Callable[..., int]) -> None:
    data, _ = await exchange(
        serve(max_body_size=10),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
        + b"x" * 10,
    )
    assert [(r.status, r.body) for r in parse_responses(data)] == [(200, b"x" * 10)]


async def test_a_limit_raised_for_one_request_is_not_raised_for_the_next(
    raw_server: Callable[..., RawServer],
) -> None:
    # Tornado's contract: set_max_body_size and set_body_timeout apply to the
    # delegate's own request.  The next request on the connection has the
    # server's limits again (a server makes each request's connection from
    # the one before: see HTTP1Connection._successor).
    def raise_first_limit(recorder: Recorder) -> None:
        assert recorder.connection is not None
        if len(server.recorders) == 1:
            recorder.connection.set_max_body_size(100)  # type: ignore[attr-defined]
            recorder.connection.set_body_timeout(60.0)  # type: ignore[attr-defined]

    server = raw_server(on_headers=raise_first_limit, max_body_size=10)
    post = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" + b"x" * 50
    stream = await connect(server.port)
    try:
        await stream.write(post)
        response = await read_response(stream)
        assert (response.status, response.body) == (200, b"ok")
        await stream.write(post)
        data, closed = await read_with_timeout(stream, HANG_GUARD)
    finally:
        stream.close()
    assert data == TOO_LARGE
    assert closed
    assert server.recorders[0].body == b"x" * 50
    assert "data" not in server.recorders[1].kinds
    first, second = (recorder.connection for recorder in server.recorders)
    assert first is not second


@pytest.mark.parametrize(
    "params",
    [
        {},
        # What programs and Tornado's own parameters may give: floats, None.
        {"max_header_size": 1000.0, "chunk_size": 512.0, "max_body_size": 70.0},
        {"no_keep_alive": 1, "header_timeout": 2, "body_timeout": 3.5, "decompress": True},
    ],
)
async def test_a_successor_is_what_the_constructor_makes(
    params: Any, raw_server: Callable[..., RawServer]
) -> None:
    # _successor() copies the settings field by field: a field that
    # __init__ sets and _successor forgets (or copies wrongly) fails here.
    server = raw_server()
    stream = await connect(server.port)
    try:
        head_timer = streamio.HeadTimer(IOLoop.current())
        batch = streamio.OutputBatch(stream)
        context = object()
        first = tornado_h1alt.HTTP1Connection(
            stream,
            False,
            tornado_h1alt.HTTP1ConnectionParameters(**params),
            context,
            head_timer=head_timer,
            output_batch=batch,
        )
        fresh = tornado_h1alt.HTTP1Connection(
            stream, False, first.params, context, head_timer=head_timer, output_batch=batch
        )
        first.set_max_body_size(1)
        first.set_body_timeout(0.5)
        successor = first._successor()
        assert type(successor) is tornado_h1alt.HTTP1Connection
        mine, expected = vars(successor), vars(fresh)
        assert mine.keys() == expected.keys()
        for name, value in expected.items():
            if name == "_exchange":
                continue
            assert mine[name] == value, name
        exchanges = (successor._exchange, fresh._exchange)
        assert exchanges[0] is not first._exchange
        for name in ("is_client", "max_header_size", "chunk_size", "max_body_size"):
            assert getattr(exchanges[0], name) == getattr(exchanges[1], name), name
        assert exchanges[0].coalesce_chunks == exchanges[1].coalesce_chunks
        assert exchanges[0].keep_alive == exchanges[1].keep_alive
    finally:
        stream.close()


async def test_decompress_gzip_request_body(serve: Callable[..., int]) -> None:
    body = b"compress me " * 1000
    compressed = gzip.compress(body)
    data, _ = await exchange(
        serve(decompress_request=True),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(compressed) + compressed,
    )
    (response,) = parse_responses(data)
    assert (response.status, response.body) == (200, body)
    assert response.header("X-Seen-Consumed-Encoding") == "gzip"


async def test_decompress_enforces_decompressed_size(serve: Callable[..., int]) -> None:
    compressed = gzip.compress(b"\0" * 100000)
    assert len(compressed) < 1000  # small on the wire, 100 kB once inflated
    data, closed = await exchange(
        serve(decompress_request=True, max_body_size=1000),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(compressed) + compressed,
    )
    assert data == b"HTTP/1.1 400 Bad Request\r\n\r\n"
    assert closed


# -- the delegate contract -----------------------------------------------------------


async def test_client_disconnect_mid_body(
    raw_server: Callable[..., RawServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = raw_server()
    stream = await connect(server.port)
    await stream.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    recorder = await _wait_for_recorder(server)
    await _wait(recorder.headers_seen)
    stream.close()
    # on_close comes after the request delegate has been told everything.
    await _wait(server.connection_closed)
    assert recorder.kinds.count("close") == 1
    assert "finish" not in recorder.kinds
    assert recorder.kinds[-1] == "close"
    assert recorder.body in (b"", b"0123456789")
    assert _errors(caplog) == []


def _setting_a_close_callback(ran: Future[None]) -> Callable[[Recorder], None]:
    """An ``on_headers`` that sets the connection's close callback to resolve ``ran``."""

    def on_headers(recorder: Recorder) -> None:
        assert recorder.connection is not None
        recorder.connection.set_close_callback(lambda: _resolve(ran))

    return on_headers


async def test_client_disconnect_while_response_pending(
    raw_server: Callable[..., RawServer], caplog: pytest.LogCaptureFixture
) -> None:
    # After finish() the delegate is done: a later disconnect reaches the
    # connection's close callback, never on_connection_close as well.
    close_callback_ran: Future[None] = Future()
    on_headers = _setting_a_close_callback(close_callback_ran)
    server = raw_server(respond=None, on_headers=on_headers)
    stream = await connect(server.port)
    await stream.write(GET)
    recorder = await _wait_for_recorder(server)
    await _wait(recorder.done)
    stream.close()
    await _wait(close_callback_ran)
    await _wait(server.connection_closed)
    assert recorder.kinds == ["headers", "finish"]
    assert _errors(caplog) == []


def _only_request(server: RawServer) -> Recorder:
    """The one request delegate that saw a request.

    (An engine may create a delegate for a next request that never comes:
    ``start_request`` precedes reading, so only delegates with calls count.)
    """
    (recorder,) = [recorder for recorder in server.recorders if recorder.calls]
    return recorder


async def _wait_for_recorder(server: RawServer) -> Recorder:
    deadline = IOLoop.current().time() + HANG_GUARD
    while not server.recorders:
        assert IOLoop.current().time() < deadline, "no request started"
        await gen.sleep(0.01)
    return server.recorders[0]


async def test_detach_during_headers_received_keeps_following_bytes(
    raw_server: Callable[..., RawServer],
) -> None:
    def detach(recorder: Recorder) -> None:
        assert recorder.connection is not None
        recorder.detached = recorder.connection.detach()  # type: ignore[attr-defined]

    server = raw_server(on_headers=detach)
    extra = b"\x00these bytes belong to the next protocol\r\n\r\nGET / HTTP/1.1\r\n\r\n"
    stream = await connect(server.port)
    try:
        await stream.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\n\r\n" + extra)
        recorder = await _wait_for_recorder(server)
        await _wait(recorder.headers_seen)
        detached = recorder.detached
        assert detached is not None
        assert await _wait(detached.read_bytes(len(extra))) == extra
        # The stream is ours now: the peer gets exactly what we write.
        await detached.write(b"raw reply")
        detached.close()
        data, closed = await read_with_timeout(stream, HANG_GUARD)
        assert (data, closed) == (b"raw reply", True)
    finally:
        stream.close()
    await _wait(server.connection_closed)
    # After detach the delegate hears nothing more: no finish, no close.
    assert recorder.kinds == ["headers"]
    assert _only_request(server) is recorder


async def test_the_delegate_gets_tornados_own_start_line_and_headers(
    raw_server: Callable[..., RawServer],
) -> None:
    # The start line is built without RequestStartLine's constructor, and
    # the headers without HTTPHeaders.add (see compat.headers_from_fields):
    # both must be what those would make, usable as the application uses them.
    server = raw_server()
    await exchange(
        server.port,
        b"OPTIONS /a?b=c HTTP/1.1\r\nHost: x\r\nX-Two: 1\r\nx-two: 2\r\nConnection: close\r\n\r\n",
    )
    (recorder,) = server.recorders
    _, start_line, headers = recorder.calls[0]
    assert type(start_line) is httputil.RequestStartLine
    assert start_line == httputil.RequestStartLine("OPTIONS", "/a?b=c", "HTTP/1.1")
    assert (start_line.method, start_line.path, start_line.version) == (
        "OPTIONS",
        "/a?b=c",
        "HTTP/1.1",
    )
    assert start_line._replace(path="/") == ("OPTIONS", "/", "HTTP/1.1")
    assert type(headers) is httputil.HTTPHeaders
    assert headers.get_list("X-Two") == ["1", "2"] and headers["x-two"] == "1,2"
    assert list(headers.get_all()) == [
        ("Host", "x"),
        ("X-Two", "1"),
        ("X-Two", "2"),
        ("Connection", "close"),
    ]
    headers.add("X-Later", "3")
    assert headers["X-Later"] == "3" and "X-Later" in headers


async def test_write_more_than_content_length(raw_server: Callable[..., RawServer]) -> None:
    def respond(recorder: Recorder) -> None:
        connection = recorder.connection
        assert connection is not None
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "2"}),
        )
        try:
            connection.write(b"abc")
        except httputil.HTTPOutputError as error:
            recorder.errors.append(error)

    server = raw_server(respond=respond)
    data, closed = await exchange(server.port, GET)
    recorder = _only_request(server)
    assert [type(e) for e in recorder.errors] == [httputil.HTTPOutputError]
    # The misframed body never reaches the wire; the connection is closed.
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    assert closed


async def test_write_less_than_content_length(raw_server: Callable[..., RawServer]) -> None:
    def respond(recorder: Recorder) -> None:
        connection = recorder.connection
        assert connection is not None
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "5"}),
            b"ab",
        )
        try:
            connection.finish()
        except httputil.HTTPOutputError as error:
            recorder.errors.append(error)

    server = raw_server(respond=respond)
    data, closed = await exchange(server.port, GET + GET)
    recorder = _only_request(server)  # the pipelined second request is never read
    assert [type(e) for e in recorder.errors] == [httputil.HTTPOutputError]
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"
    assert closed


async def test_header_value_given_as_bytes_is_written_as_tornado_writes_it(
    raw_server: Callable[..., RawServer],
) -> None:
    # Tornado accepts bytes values (and names) in HTTPHeaders it writes: it
    # decodes them as UTF-8 and sends the head as Latin-1, as we do.
    def respond(recorder: Recorder) -> None:
        connection = recorder.connection
        assert connection is not None
        headers = httputil.HTTPHeaders({"Content-Length": "0"})
        headers["X-Bytes"] = "caf\xe9".encode()  # type: ignore[assignment]
        connection.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
        connection.finish()

    server = raw_server(respond=respond)
    data, _ = await exchange(server.port, GET)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nX-Bytes: caf\xe9\r\n" in data


@pytest.mark.parametrize("bad", ["a\r\nInjected: 1", "a\nInjected: 1", "a\rInjected: 1"])
async def test_header_value_with_cr_or_lf_raises(
    raw_server: Callable[..., RawServer], bad: str
) -> None:
    def respond(recorder: Recorder) -> None:
        connection = recorder.connection
        assert connection is not None
        try:
            connection.write_headers(
                httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                httputil.HTTPHeaders({"X-Bad": bad, "Content-Length": "0"}),
            )
        except ValueError as error:
            recorder.errors.append(error)
            connection.close()

    server = raw_server(respond=respond)
    data, closed = await exchange(server.port, GET)
    recorder = _only_request(server)
    assert [type(e) for e in recorder.errors] == [ValueError]
    assert b"Injected" not in data
    assert closed


# -- the client side: HTTP1Connection(stream, is_client=True) ------------------------


class CannedServer(TCPServer):
    """Reads one request head per connection and answers with fixed bytes."""

    def __init__(self, response: bytes, close: bool) -> None:
        super().__init__()
        self.response = response
        self.close = close
        self.requests: List[bytes] = []
        self.streams: List[IOStream] = []
        self.port = 0

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.append(stream)
        try:
            self.requests.append(await stream.read_until(b"\r\n\r\n"))
            await stream.write(self.response)
            if self.close:
                stream.close()
        except StreamClosedError:
            pass


@pytest.fixture
def canned(io_loop: IOLoop) -> Iterator[Callable[..., CannedServer]]:
    """start(response_bytes, close=False) -> a CannedServer on 127.0.0.1."""
    servers: List[CannedServer] = []

    def start(response: bytes, close: bool = False) -> CannedServer:
        server = CannedServer(response, close)
        sock, server.port = bind_unused_port()
        server.add_socket(sock)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        for stream in server.streams:
            stream.close()


async def _client_exchange(port: int, method: str = "GET") -> Tuple[bool, Recorder, IOStream]:
    stream = await connect(port)
    connection = tornado_h1alt.HTTP1Connection(stream, True)
    connection.write_headers(
        httputil.RequestStartLine(method, "/path", "HTTP/1.1"),
        httputil.HTTPHeaders({"Host": "example"}),
    )
    connection.finish()
    recorder = Recorder()
    keep_alive = await gen.with_timeout(
        IOLoop.current().time() + HANG_GUARD, connection.read_response(recorder)
    )
    return keep_alive, recorder, stream


async def test_client_keep_alive_response(canned: Callable[..., CannedServer]) -> None:
    server = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    keep_alive, recorder, stream = await _client_exchange(server.port)
    try:
        assert keep_alive is True
        assert not stream.closed()
        assert recorder.kinds == ["headers", "data", "finish"]
        assert recorder.body == b"ok"
        start_line = recorder.calls[0][1]
        assert (start_line.version, start_line.code, start_line.reason) == ("HTTP/1.1", 200, "OK")
        assert server.requests == [b"GET /path HTTP/1.1\r\nHost: example\r\n\r\n"]
    finally:
        stream.close()


async def test_client_connection_close_response(canned: Callable[..., CannedServer]) -> None:
    server = canned(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    keep_alive, recorder, stream = await _client_exchange(server.port)
    try:
        assert keep_alive is False
        assert stream.closed()
        assert recorder.kinds == ["headers", "data", "finish"]
    finally:
        stream.close()


async def test_client_head_response_has_no_body(canned: Callable[..., CannedServer]) -> None:
    server = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    keep_alive, recorder, stream = await _client_exchange(server.port, method="HEAD")
    try:
        assert keep_alive is True
        assert recorder.kinds == ["headers", "finish"]
    finally:
        stream.close()


async def test_client_interim_103_then_200(canned: Callable[..., CannedServer]) -> None:
    server = canned(
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    keep_alive, recorder, stream = await _client_exchange(server.port)
    try:
        assert keep_alive is True
        assert [call[1].code for call in recorder.calls if call[0] == "headers"] == [103, 200]
        assert recorder.calls[0][2]["Link"] == "</style.css>; rel=preload"
        assert recorder.kinds == ["headers", "headers", "data", "finish"]
        assert recorder.body == b"ok"
    finally:
        stream.close()


async def test_client_ten_interim_responses_allowed(canned: Callable[..., CannedServer]) -> None:
    server = canned(
        b"HTTP/1.1 100 Continue\r\n\r\n" * 10 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    keep_alive, recorder, stream = await _client_exchange(server.port)
    try:
        assert keep_alive is True
        assert recorder.kinds == ["headers"] * 11 + ["data", "finish"]
    finally:
        stream.close()


async def test_client_too_many_interim_responses(
    canned: Callable[..., CannedServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tornado.general")
    server = canned(
        b"HTTP/1.1 100 Continue\r\n\r\n" * 11 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    keep_alive, recorder, stream = await _client_exchange(server.port)
    try:
        assert keep_alive is False
        assert stream.closed()
        assert "finish" not in recorder.kinds
        assert recorder.kinds.count("close") == 1
        assert any("Too many 1xx responses" in r.getMessage() for r in caplog.records)
        assert _errors(caplog) == []
    finally:
        stream.close()


async def test_client_response_read_until_close(canned: Callable[..., CannedServer]) -> None:
    server = canned(b"HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nbody ended by the close", close=True)
    keep_alive, recorder, stream = await _client_exchange(server.port)
    try:
        assert keep_alive is False
        assert recorder.body == b"body ended by the close"
        assert recorder.kinds[-1] == "finish"
        assert "close" not in recorder.kinds
    finally:
        stream.close()


async def test_client_malformed_response_tells_delegate(
    canned: Callable[..., CannedServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tornado.general")
    server = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")
    keep_alive, recorder, stream = await _client_exchange(server.port)
    try:
        assert keep_alive is False
        assert "finish" not in recorder.kinds
        assert recorder.kinds.count("close") == 1
        assert any("Malformed HTTP message" in r.getMessage() for r in caplog.records)
    finally:
        stream.close()


# -- interoperation with stock Tornado ---------------------------------------------------


async def _body_producer(write: Callable[[bytes], Future[None]]) -> None:
    for piece in (b"streamed ", b"in ", b"pieces"):
        await write(piece)


async def test_h1alt_client_against_stock_server(
    http_server: Any, http_server_port: Tuple[Any, int]
) -> None:
    assert type(http_server) is tornado.httpserver.HTTPServer  # the stock engine
    base = f"http://127.0.0.1:{http_server_port[1]}"
    client = tornado_h1alt.SimpleAsyncHTTPClient(force_instance=True)
    try:
        assert isinstance(client, tornado_h1alt.SimpleAsyncHTTPClient)
        response = await client.fetch(base + "/")
        assert (response.code, response.body) == (200, b"hello")
        response = await client.fetch(base + "/echo", method="POST", body=b"posted body")
        assert response.body == b"posted body"
        assert response.headers["X-Seen-Transfer-Encoding"] == ""
        response = await client.fetch(
            HTTPRequest(base + "/echo", method="POST", body_producer=_body_producer)
        )
        assert response.body == b"streamed in pieces"
        assert response.headers["X-Seen-Transfer-Encoding"] == "chunked"
        response = await client.fetch(base + "/chunks")
        assert response.body == b"abbccc"
        response = await client.fetch(base + "/", method="HEAD")
        assert (response.code, response.body) == (200, b"")
    finally:
        client.close()


async def test_stock_client_against_h1alt_server(
    serve: Callable[..., int], http_client: AsyncHTTPClient
) -> None:
    assert type(http_client) is tornado.simple_httpclient.SimpleAsyncHTTPClient
    base = f"http://127.0.0.1:{serve()}"
    response = await http_client.fetch(base + "/")
    assert (response.code, response.body) == (200, b"hello")
    response = await http_client.fetch(base + "/echo", method="POST", body=b"posted body")
    assert response.body == b"posted body"
    response = await http_client.fetch(
        HTTPRequest(base + "/echo", method="POST", body_producer=_body_producer)
    )
    assert response.body == b"streamed in pieces"
    assert response.headers["X-Seen-Transfer-Encoding"] == "chunked"
    response = await http_client.fetch(base + "/chunks")
    assert response.body == b"abbccc"
    assert response.headers["Transfer-Encoding"] == "chunked"


async def test_h1alt_client_against_h1alt_server(serve: Callable[..., int]) -> None:
    base = f"http://127.0.0.1:{serve()}"
    client = tornado_h1alt.SimpleAsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(
            HTTPRequest(base + "/echo", method="POST", body_producer=_body_producer)
        )
        assert response.body == b"streamed in pieces"
        response = await client.fetch(base + "/uri?q=1")
        assert response.body == b"/uri?q=1"
    finally:
        client.close()


async def test_h1alt_client_instance_cache_is_its_own(io_loop: IOLoop) -> None:
    # AsyncHTTPClient caches one instance per IOLoop, keyed by the class
    # *name*: a subclass that shares the name "SimpleAsyncHTTPClient" would
    # be handed the stock client created before it.
    stock = tornado.simple_httpclient.SimpleAsyncHTTPClient()
    ours = tornado_h1alt.SimpleAsyncHTTPClient()
    try:
        assert type(ours) is tornado_h1alt.SimpleAsyncHTTPClient
    finally:
        stock.close()
        if ours is not stock:
            ours.close()


# -- TCP_NODELAY -------------------------------------------------------------------


@pytest.fixture
def nodelay_calls(monkeypatch: pytest.MonkeyPatch) -> List[bool]:
    """Every IOStream.set_nodelay(value) made while the test runs, in order."""
    calls: List[bool] = []
    original = iostream.IOStream.set_nodelay

    def recording(self: iostream.IOStream, value: bool) -> None:
        calls.append(value)
        original(self, value)

    monkeypatch.setattr(iostream.IOStream, "set_nodelay", recording)
    return calls


async def test_nodelay_set_once_for_one_write_responses(
    serve: Callable[..., int], nodelay_calls: List[bool]
) -> None:
    # Tornado's engine sets and clears TCP_NODELAY around every response;
    # each response here leaves in one write, so once per connection is enough.
    stream = await connect(serve())
    try:
        for path in (b"/uri/1", b"/uri/2", b"/uri/3"):
            await stream.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            response = await read_response(stream)
            assert response.body == path
    finally:
        stream.close()
    assert nodelay_calls == [True]


async def test_nodelay_off_while_a_body_streams_and_on_to_finish(
    serve: Callable[..., int], nodelay_calls: List[bool]
) -> None:
    stream = await connect(serve())
    try:
        for path in (b"/uri/1", b"/chunks", b"/uri/2"):
            await stream.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            await read_response(stream)
    finally:
        stream.close()
    # /uri/1 turns it on; /chunks lets Nagle gather its pieces, then flushes;
    # /uri/2 finds it on already.
    assert nodelay_calls == [True, False, True]


# -- pipelined responses leave together (OutputBatch) ---------------------------


@pytest.fixture
def stream_writes(monkeypatch: pytest.MonkeyPatch) -> List[bytes]:
    """The data of every IOStream.write made while the test runs, in order."""
    writes: List[bytes] = []
    original = iostream.IOStream.write

    def recording(self: iostream.IOStream, data: bytes) -> Future[None]:
        writes.append(bytes(data))
        return original(self, data)

    monkeypatch.setattr(iostream.IOStream, "write", recording)
    return writes


def _numbered(recorder: Recorder) -> None:
    # Answers each request with its own path, so order is visible.
    connection = recorder.connection
    assert connection is not None
    path = recorder.calls[0][1].path.encode()
    connection.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": str(len(path))}),
        path,
    )
    connection.finish()


def _server_writes(writes: List[bytes]) -> List[bytes]:
    return [data for data in writes if data.startswith(b"HTTP/1.1")]


async def test_pipelined_responses_leave_in_one_write(
    raw_server: Callable[..., RawServer], stream_writes: List[bytes]
) -> None:
    server = raw_server(respond=_numbered)
    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(10))
    stream = await connect(server.port)
    try:
        await stream.write(requests)
        bodies = [(await read_response(stream)).body for _ in range(10)]
    finally:
        stream.close()
    assert bodies == [b"/%d" % i for i in range(10)]
    # Tornado's engine writes each response on its own: 10 send()s.
    assert len(_server_writes(stream_writes)) == 1


@pytest.mark.parametrize("size", [streamio.LARGE_BODY - 1, streamio.LARGE_BODY, 1 << 20])
async def test_a_large_body_is_written_from_its_own_bytes(
    raw_server: Callable[..., RawServer], monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    # A response body of LARGE_BODY or more is not copied behind its head:
    # IOStream is given a view of the application's own bytes for the rest
    # of it (copying 1 MiB cost more than the extra write). The peer sees
    # the same response either way.
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    given: List[Any] = []
    original = iostream.IOStream.write

    def recording(self: iostream.IOStream, data: Any) -> Future[None]:
        given.append(data)
        return original(self, data)

    monkeypatch.setattr(iostream.IOStream, "write", recording)
    flushed: List[Future[None]] = []

    def respond(recorder: Recorder) -> None:
        connection = recorder.connection
        assert connection is not None
        flushed.append(
            connection.write_headers(
                httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                httputil.HTTPHeaders({"Content-Length": str(len(body))}),
                body,
            )
        )
        connection.finish()

    server = raw_server(respond=respond)
    stream = await connect(server.port)
    try:
        for _ in range(2):  # and the connection goes on as usual
            await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = await read_response(stream)
            assert response.status == 200 and response.body == body
    finally:
        stream.close()
    await flushed[-1]  # resolves once all of it is written
    server_writes = [data for data in given if not bytes(data).startswith(b"GET ")]
    assert b"".join(bytes(data) for data in server_writes).count(body) == 2
    views = [data for data in server_writes if isinstance(data, memoryview)]
    if size < streamio.LARGE_BODY:
        assert len(server_writes) == 2 and not views  # head and body in one write
    else:
        assert len(server_writes) == 4  # per response: the head with the body's start, the rest
        assert len(views) == 2 and all(view.obj is body for view in views)


async def _get_one_at_a_time(stream: IOStream, count: int) -> None:
    """``count`` numbered GETs (see `_numbered`), each sent once the answer
    to the one before has arrived."""
    for i in range(count):
        await stream.write(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        assert (await read_response(stream)).body == b"/%d" % i


async def test_requests_one_at_a_time_are_answered_at_once(
    raw_server: Callable[..., RawServer], stream_writes: List[bytes]
) -> None:
    server = raw_server(respond=_numbered)
    stream = await connect(server.port)
    try:
        await _get_one_at_a_time(stream, 3)
    finally:
        stream.close()
    assert len(_server_writes(stream_writes)) == 3


@pytest.mark.parametrize("answer, turns_after", [("at once", 1), ("from a later callback", 2)])
async def test_the_ioloop_turns_between_a_response_and_the_next_read(
    raw_server: Callable[..., RawServer],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    turns_after: int,
) -> None:
    # With nothing of the next request buffered, the serving loop lets the
    # IOLoop turn before it reads (as Tornado does): a read at once would
    # find nothing and cost a recv() and an epoll wake-up.  After a response
    # written from another callback (tornado.web answers from a Task), the
    # exchange's end wakes the loop a turn later, and it still yields once
    # more: one turn was too soon for every request under wrk (see
    # HTTP1ServerConnection._serve).  A callback that reschedules itself
    # counts the turns.
    loop = IOLoop.current().asyncio_loop  # type: ignore[attr-defined]
    turns = [0]

    def count_turns() -> None:
        turns[0] += 1
        loop.call_soon(count_turns)

    loop.call_soon(count_turns)
    finished_at: List[int] = []
    read_at: List[int] = []
    client_streams: List[IOStream] = []
    original = iostream.IOStream.read_until_regex

    def recording(self: IOStream, *args: Any, **kwargs: Any) -> Any:
        if self not in client_streams:
            read_at.append(turns[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(iostream.IOStream, "read_until_regex", recording)

    def finish_response(recorder: Recorder) -> None:
        _numbered(recorder)
        finished_at.append(turns[0])

    def respond(recorder: Recorder) -> None:
        if answer == "at once":
            finish_response(recorder)
        else:
            IOLoop.current().add_callback(finish_response, recorder)

    server = raw_server(respond=respond)
    stream = await connect(server.port)
    client_streams.append(stream)
    try:
        await _get_one_at_a_time(stream, 3)
    finally:
        stream.close()
    assert [read - finished for finished, read in zip(finished_at, read_at[1:])] == [
        turns_after
    ] * 3


@pytest.mark.parametrize("answer", ["from a later callback", "after a timer"])
async def test_a_close_listener_is_set_only_for_an_application_still_working_a_turn_later(
    raw_server: Callable[..., RawServer],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # While the application works, only the stream's close callback notices
    # a vanished peer (test_client_disconnect_while_response_pending).
    # Setting it makes IOStream listen for reads, and undoing that when the
    # next request arrives costs two epoll_ctl calls per request: so it is
    # set only for an application that has not finished a turn after the
    # request (tornado.web's handlers usually have).
    close_callbacks_set: List[IOStream] = []
    original = iostream.IOStream.set_close_callback

    def recording(self: IOStream, callback: Any) -> None:
        if callback is not None:
            close_callbacks_set.append(self)
        original(self, callback)

    monkeypatch.setattr(iostream.IOStream, "set_close_callback", recording)

    def respond(recorder: Recorder) -> None:
        if answer == "from a later callback":
            IOLoop.current().add_callback(_numbered, recorder)
        else:
            IOLoop.current().call_later(0.01, _numbered, recorder)

    server = raw_server(respond=respond)
    stream = await connect(server.port)
    try:
        await _get_one_at_a_time(stream, 3)
    finally:
        stream.close()
    await _wait(server.connection_closed)
    server_side = [set_on for set_on in close_callbacks_set if set_on is not stream]
    assert len(server_side) == (0 if answer == "from a later callback" else 3)
    assert _errors(caplog) == []


async def test_a_stream_closed_before_the_application_finishes_ends_the_exchange(
    raw_server: Callable[..., RawServer], caplog: pytest.LogCaptureFixture
) -> None:
    # The stream closes (here the application closes it; a failed write
    # does the same) before the application has finished and before any
    # close callback was set: the connection's close callback still runs
    # and the serving loop ends, instead of waiting for a finish() that
    # will never come.
    close_callback_ran: Future[None] = Future()

    def respond(recorder: Recorder) -> None:
        connection = recorder.connection
        assert isinstance(connection, tornado_h1alt.HTTP1Connection)
        IOLoop.current().add_callback(connection.stream.close)

    server = raw_server(respond=respond, on_headers=_setting_a_close_callback(close_callback_ran))
    stream = await connect(server.port)
    try:
        await stream.write(GET)
        await _wait(close_callback_ran)
        await _wait(server.connection_closed)
    finally:
        stream.close()
    assert _errors(caplog) == []


async def test_held_response_is_not_kept_waiting_for_a_partial_next_request(
    raw_server: Callable[..., RawServer],
) -> None:
    # The first response is held while the second request's head is in the
    # buffer, but that head is incomplete: the server then waits for the
    # network, and the first response must go out meanwhile.
    server = raw_server(respond=_numbered)
    stream = await connect(server.port)
    try:
        await stream.write(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHo")
        first = await _wait(gen.convert_yielded(read_response(stream)))
        assert first.body == b"/1"
        await stream.write(b"st: x\r\n\r\n")
        assert (await read_response(stream)).body == b"/2"
    finally:
        stream.close()


async def test_held_response_is_not_kept_waiting_for_a_slow_application(
    raw_server: Callable[..., RawServer],
) -> None:
    slow_requests: List[Recorder] = []

    def respond(recorder: Recorder) -> None:
        if recorder.calls[0][1].path == "/slow":
            slow_requests.append(recorder)  # answered later, by the test
        else:
            _numbered(recorder)

    server = raw_server(respond=respond)
    stream = await connect(server.port)
    try:
        await stream.write(
            b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        first = await _wait(gen.convert_yielded(read_response(stream)))
        assert first.body == b"/fast"
        assert len(slow_requests) == 1
        _numbered(slow_requests[0])
        assert (await read_response(stream)).body == b"/slow"
    finally:
        stream.close()


async def test_held_responses_precede_the_error_for_a_bad_request(
    raw_server: Callable[..., RawServer],
) -> None:
    server = raw_server(respond=_numbered)
    data, closed = await exchange(
        server.port,
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
    )
    responses = parse_responses(data)
    assert [(r.status, r.body) for r in responses] == [(200, b"/1"), (200, b"/2"), (400, b"")]
    assert closed


async def test_held_responses_precede_what_a_detaching_handler_writes(
    raw_server: Callable[..., RawServer],
) -> None:
    def respond(recorder: Recorder) -> None:
        connection = recorder.connection
        assert connection is not None
        if recorder.calls[0][1].path != "/upgrade":
            _numbered(recorder)
            return
        detached = connection.detach()  # type: ignore[attr-defined]
        recorder.detached = detached
        detached.write(b"raw after upgrade")
        detached.close()

    server = raw_server(respond=respond)
    data, closed = await exchange(
        server.port,
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /upgrade HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert data == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n/1raw after upgrade"
    assert closed


async def test_pipelined_large_responses_stay_whole_and_in_order(
    raw_server: Callable[..., RawServer], stream_writes: List[bytes]
) -> None:
    # Past OutputBatch.LIMIT responses are written through, after what is held.
    def respond(recorder: Recorder) -> None:
        connection = recorder.connection
        assert connection is not None
        index = int(recorder.calls[0][1].path[1:])
        body = bytes([0x41 + index]) * 40000
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        connection.finish()

    server = raw_server(respond=respond)
    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(6))
    stream = await connect(server.port)
    try:
        await stream.write(requests)
        bodies = [(await read_response(stream)).body for _ in range(6)]
    finally:
        stream.close()
    assert bodies == [bytes([0x41 + i]) * 40000 for i in range(6)]
    assert all(len(data) <= 2 * 40100 for data in _server_writes(stream_writes))


# -- oversized heads: a server answers, a client keeps Tornado's contract ----------


class _LargeHeaderHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("X-Filler", "a" * 1000)
        self.write("ok")


async def test_client_oversized_response_head_raises_unsatisfiable_read(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    # simple_httpclient's documented behaviour (and Tornado's own test):
    # IOStream's UnsatisfiableReadError, logged by IOStream at INFO.
    caplog.set_level(logging.INFO, logger="tornado")
    server = tornado.httpserver.HTTPServer(
        tornado.web.Application([("/large", _LargeHeaderHandler)])
    )
    sock, port = bind_unused_port()
    server.add_socket(sock)
    client = tornado_h1alt.SimpleAsyncHTTPClient(force_instance=True, max_header_size=1024)
    try:
        with pytest.raises(iostream.UnsatisfiableReadError):
            await client.fetch("http://127.0.0.1:%d/large" % port)
    finally:
        client.close()
        server.stop()
        await server.close_all_connections()
    assert any("Unsatisfiable read" in r.getMessage() for r in caplog.records)


async def test_server_oversized_request_head_gets_431(serve: Callable[..., int]) -> None:
    data, closed = await exchange(
        serve(max_header_size=1024),
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 1000 + b"\r\n\r\n",
    )
    assert [r.status for r in parse_responses(data)] == [431]
    assert closed


async def test_write_after_detach_fails_with_stream_closed(
    raw_server: Callable[..., RawServer],
) -> None:
    results: List[Any] = []

    def detach_then_write(recorder: Recorder) -> None:
        connection = recorder.connection
        assert connection is not None
        recorder.detached = connection.detach()  # type: ignore[attr-defined]
        results.append(connection.write(b"too late"))

    server = raw_server(on_headers=detach_then_write)
    stream = await connect(server.port)
    try:
        await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        recorder = await _wait_for_recorder(server)
        await _wait(recorder.headers_seen)
    finally:
        stream.close()
    (future,) = results
    assert isinstance(future.exception(), StreamClosedError)


async def test_on_close_follows_even_a_serving_loop_that_fails_at_once(
    io_loop: IOLoop, caplog: pytest.LogCaptureFixture
) -> None:
    # Parameters the first request's connection cannot be made from (a limit
    # that is no number) end the serving loop before any request; the
    # server's delegate is still told the connection is gone.
    left, right = socket.socketpair()
    stream = IOStream(left)
    closed: Future[None] = Future()

    class Server(httputil.HTTPServerConnectionDelegate):
        def on_close(self, server_conn: object) -> None:
            _resolve(closed)

    params = tornado_h1alt.HTTP1ConnectionParameters(max_header_size="lots")  # type: ignore[arg-type]
    connection = tornado_h1alt.HTTP1ServerConnection(stream, params)
    try:
        with caplog.at_level(logging.ERROR):
            connection.start_serving(Server())
            await _wait(closed)
    finally:
        stream.close()
        right.close()


async def test_a_body_of_tiny_chunks_is_coalesced_and_still_yields_to_the_ioloop(
    io_loop: IOLoop,
) -> None:
    # 5000 one-byte chunks, all already received: few data_received calls
    # (on Tornado 6.6+, where pieces are coalesced), and yet the read lets
    # the IOLoop run now and then (each chunk counts as CHUNK_YIELD_COST).
    left, right = socket.socketpair()
    ours, peer = IOStream(left), IOStream(right)
    chunks = 5000
    await peer.write(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"1\r\nx\r\n" * chunks
        + b"0\r\n\r\n"
    )
    peer.close()
    await gen.sleep(0.05)  # all of it in our socket buffer
    body: List[bytes] = []
    ticks = [0]
    done = [False]

    def tick() -> None:
        if not done[0]:
            ticks[0] += 1
            io_loop.add_callback(tick)

    class Delegate(httputil.HTTPMessageDelegate):
        def headers_received(self, start_line: Any, headers: Any) -> None:
            io_loop.add_callback(tick)

        def data_received(self, chunk: bytes) -> None:
            body.append(chunk)

        def finish(self) -> None:
            done[0] = True

    connection = tornado_h1alt.HTTP1Connection(ours, True)
    await gen.with_timeout(io_loop.time() + HANG_GUARD, connection.read_response(Delegate()))
    assert b"".join(body) == b"x" * chunks
    if compat.COALESCES_BODY_PIECES:
        assert len(body) < 10
    assert ticks[0] > 10
    ours.close()
