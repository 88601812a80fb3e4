"""Graceful drain over real sockets: `tornado_h1alt.drain` and `drain_on_signal`.

Every test plays clients on 127.0.0.1 against a tornado.web application and
checks what a client observes (the bytes, the close, a refused connect),
what the application saw, and the summary the drain returns.  Each runs on
both routes to our engine: the `tornado_h1alt.HTTPServer` subclass, and
Tornado's own HTTPServer after `install()`.

No test measures time: waits are on events, each under a guard that only a
hang reaches.  A drain's own timeout is short only where the test is about
the timeout.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from typing import Any, Callable, Iterator, List, Tuple

import pytest
import tornado
import tornado.httpserver
import tornado.web
import tornado.websocket
from h1wire import connect, parse_responses, read_response, read_with_timeout
from test_keepalive_client import server_ssl_context
from tornado import gen
from tornado.concurrent import Future
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, SSLIOStream, StreamClosedError
from tornado.testing import bind_unused_port

import tornado_h1alt
from tornado_h1alt import DrainSummary
from tornado_h1alt.compat import has_buffered_input

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Only reached if something hangs.
HANG_GUARD = 10.0
# A drain's deadline where the test is not about the deadline: never reached.
LONG = 60.0


class Gate:
    """Requests to /slow wait here until the test opens the gate."""

    def __init__(self) -> None:
        self.entered: Future[None] = Future()
        self.opened: Future[None] = Future()
        self.handled: List[str] = []  # the path of every request the app saw
        self.closed_early: List[str] = []  # on_connection_close calls
        self.sockets: List[tornado.websocket.WebSocketHandler] = []

    def open(self) -> None:
        if not self.opened.done():
            self.opened.set_result(None)


class Hello(tornado.web.RequestHandler):
    def initialize(self, gate: Gate) -> None:
        self.gate = gate

    def get(self) -> None:
        self.gate.handled.append(self.request.path)
        self.write("hello")


class Slow(tornado.web.RequestHandler):
    """Answers once the gate opens; with ?stream, sends its head first."""

    def initialize(self, gate: Gate) -> None:
        self.gate = gate

    async def get(self) -> None:
        self.gate.handled.append(self.request.path)
        if self.get_argument("stream", None) is not None:
            self.write("first ")
            await self.flush()
        if not self.gate.entered.done():
            self.gate.entered.set_result(None)
        await self.gate.opened
        self.write("slow done")

    def on_connection_close(self) -> None:
        self.gate.closed_early.append(self.request.path)


class Echo(tornado.websocket.WebSocketHandler):
    def initialize(self, gate: Gate) -> None:
        self.gate = gate

    def open(self) -> None:
        self.gate.sockets.append(self)

    def on_message(self, message: Any) -> None:
        self.write_message(message)


def _app(gate: Gate) -> tornado.web.Application:
    args = dict(gate=gate)
    return tornado.web.Application(
        [(r"/slow", Slow, args), (r"/ws", Echo, args), (r"/.*", Hello, args)]
    )


@pytest.fixture(params=["subclass", "install"])
def route(request: Any) -> Iterator[str]:
    if request.param == "install":
        with tornado_h1alt.installed():
            yield request.param
    else:
        yield request.param


@pytest.fixture
def serve(
    io_loop: IOLoop, route: str
) -> Iterator[Callable[..., Tuple[tornado.httpserver.HTTPServer, int, Gate]]]:
    """serve(**HTTPServer kwargs) -> (server, port, gate), on the route under test."""
    servers: List[tornado.httpserver.HTTPServer] = []
    gates: List[Gate] = []

    def start(**kwargs: Any) -> Tuple[tornado.httpserver.HTTPServer, int, Gate]:
        gate = Gate()
        server_class = (
            tornado_h1alt.HTTPServer if route == "subclass" else tornado.httpserver.HTTPServer
        )
        server = server_class(_app(gate), **kwargs)
        sock, port = bind_unused_port()
        server.add_socket(sock)
        servers.append(server)
        gates.append(gate)
        return server, port, gate

    yield start
    for gate in gates:
        gate.open()
    for server in servers:
        server.stop()
        io_loop.run_sync(server.close_all_connections)


async def _guard(awaitable: Any) -> Any:
    return await gen.with_timeout(IOLoop.current().time() + HANG_GUARD, awaitable)


def _start_drain(server: Any, **kwargs: Any) -> Future[DrainSummary]:
    future: Future[DrainSummary] = gen.convert_yielded(tornado_h1alt.drain(server, **kwargs))
    return future


async def _closed_by_server(stream: IOStream) -> bytes:
    """Everything the server still sends, once it has closed the connection."""
    data, closed = await read_with_timeout(stream, HANG_GUARD)
    assert closed, "the server did not close the connection"
    return data


async def _refused(port: int) -> bool:
    try:
        stream = await connect(port)
    except (ConnectionRefusedError, StreamClosedError):
        return True
    stream.close()
    return False


async def _in_flight(
    port: int, gate: Gate, request: bytes = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
) -> IOStream:
    """A connection whose ``request`` (for /slow) the application is handling."""
    stream = await connect(port)
    await stream.write(request)
    await _guard(gate.entered)
    return stream


# -- idle and arriving ------------------------------------------------------------


async def test_an_idle_keep_alive_connection_is_closed_at_once(serve: Any) -> None:
    server, port, gate = serve()
    stream = await connect(port)
    await stream.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    first = await read_response(stream)
    assert first.body == b"hello" and first.header("Connection") is None  # kept alive

    summary = await _guard(_start_drain(server, timeout=LONG))

    assert summary == DrainSummary(drained=0, closed_idle=1, forced=0, detached=0)
    assert await _closed_by_server(stream) == b""
    assert gate.handled == ["/a"]


async def test_new_connections_are_refused_once_the_drain_begins(serve: Any) -> None:
    server, port, gate = serve()
    assert not await _refused(port)
    await _guard(_start_drain(server, timeout=LONG))
    assert await _refused(port)


async def test_a_request_that_has_begun_to_arrive_is_served_then_closed(serve: Any) -> None:
    # The connection looks idle to Tornado's close_all_connections(); here the
    # first bytes of the next request have come, so it is served.
    server, port, gate = serve()
    stream = await connect(port)
    await stream.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    await read_response(stream)
    await stream.write(b"GET /b HTTP/1.1\r\nHo")
    # Wait until the engine holds the partial head (in the socket it would
    # count as arrived too: see the next test).
    await _guard(_until(lambda: _holds_partial_head(server)))

    draining = _start_drain(server, timeout=LONG)
    await stream.write(b"st: x\r\n\r\n")
    response = await read_response(stream)
    summary = await _guard(draining)

    assert (response.status, response.body) == (200, b"hello")
    assert response.header("Connection") == "close"
    assert await _closed_by_server(stream) == b""
    assert summary == DrainSummary(drained=1, closed_idle=0, forced=0, detached=0)
    assert gate.handled == ["/a", "/b"]


def _holds_partial_head(server: Any) -> bool:
    # (Read off the socket: in the IOStream's buffer until the head is whole.)
    return any(has_buffered_input(c.stream) for c in server._connections)


async def test_a_request_still_in_the_socket_is_served(serve: Any) -> None:
    # The next request has reached the server's socket, but the IOLoop has
    # not run since: nothing has read it.  Not idle all the same.
    server, port, gate = serve()
    stream = await connect(port)
    await stream.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    await read_response(stream)
    written = stream.write(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert written.done()  # in the kernel already (a small write on loopback)
    assert not _holds_partial_head(server)
    # The drain's task starts at the IOLoop's next turn, ahead of the
    # socket events that turn finds.
    draining = _start_drain(server, timeout=LONG)

    (response,) = parse_responses(await _closed_by_server(stream))
    assert (response.status, response.body) == (200, b"hello")
    assert response.header("Connection") == "close"
    assert await _guard(draining) == DrainSummary(drained=1, closed_idle=0, forced=0, detached=0)
    assert gate.handled == ["/a", "/b"]


async def test_connections_waiting_in_the_listen_queue_are_taken_not_reset(serve: Any) -> None:
    # Connected (the kernel completed the handshake) but not yet accepted:
    # the IOLoop has not run since.  Closing the listening socket would
    # reset both; the drain accepts them first.
    server, port, gate = serve()
    with_request = socket.create_connection(("127.0.0.1", port))
    with_request.sendall(b"GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
    without = socket.create_connection(("127.0.0.1", port))
    # The drain's task starts at the IOLoop's next turn, ahead of the
    # socket events that turn finds.
    draining = _start_drain(server, timeout=LONG)

    answered, silent = IOStream(with_request), IOStream(without)
    (response,) = parse_responses(await _closed_by_server(answered))
    assert (response.status, response.body) == (200, b"hello")
    assert response.header("Connection") == "close"
    assert await _closed_by_server(silent) == b""  # a clean close, not a reset
    assert await _guard(draining) == DrainSummary(drained=1, closed_idle=1, forced=0, detached=0)
    assert gate.handled == ["/queued"]


async def test_over_tls_idle_connections_close_and_unread_requests_are_served(
    serve: Any,
) -> None:
    # Under TLS "arrived" includes records still encrypted in the socket.
    server, port, gate = serve(ssl_options=server_ssl_context())
    client_context = ssl.create_default_context()
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    if tornado.version_info < (6, 0):
        client_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    idle, busy = [
        await SSLIOStream(socket.socket(), ssl_options=client_context).connect(("127.0.0.1", port))
        for _ in range(2)
    ]
    for stream in (idle, busy):
        await stream.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_response(stream)
    written = busy.write(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert written.done()
    draining = _start_drain(server, timeout=LONG)

    assert await _closed_by_server(idle) == b""
    (response,) = parse_responses(await _closed_by_server(busy))
    assert (response.status, response.header("Connection")) == (200, "close")
    assert await _guard(draining) == DrainSummary(drained=1, closed_idle=1, forced=0, detached=0)


# -- in flight ------------------------------------------------------------------


async def test_a_request_in_flight_finishes_with_connection_close(serve: Any) -> None:
    server, port, gate = serve()
    stream = await _in_flight(port, gate)

    draining = _start_drain(server, timeout=LONG)
    await _guard(_until(lambda: server._stopped))
    assert await _refused(port)  # already refusing while the request runs
    assert not draining.done()
    gate.open()
    summary = await _guard(draining)

    (response,) = parse_responses(await _closed_by_server(stream))
    assert (response.status, response.body) == (200, b"slow done")
    assert response.header("Connection") == "close"
    assert summary == DrainSummary(drained=1, closed_idle=0, forced=0, detached=0)
    assert gate.closed_early == []


async def test_an_http10_keep_alive_request_in_flight_is_not_kept_alive(serve: Any) -> None:
    server, port, gate = serve()
    stream = await _in_flight(port, gate, b"GET /slow HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    draining = _start_drain(server, timeout=LONG)
    gate.open()
    await _guard(draining)
    (response,) = parse_responses(await _closed_by_server(stream))
    assert response.body == b"slow done"
    assert response.header("Connection") is None  # no "Keep-Alive": it ends here


async def test_a_response_begun_before_the_drain_completes_and_the_connection_closes(
    serve: Any,
) -> None:
    # Its head went out saying nothing of a close; the close after its end
    # is what tells the client (as any server's idle close would).
    server, port, gate = serve()
    stream = await _in_flight(port, gate, b"GET /slow?stream=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    draining = _start_drain(server, timeout=LONG)
    gate.open()
    summary = await _guard(draining)
    (response,) = parse_responses(await _closed_by_server(stream))
    assert response.body == b"first slow done"
    assert response.header("Transfer-Encoding") == "chunked"
    assert summary.drained == 1 and summary.forced == 0


async def test_requests_pipelined_behind_the_one_in_flight_are_not_started(serve: Any) -> None:
    server, port, gate = serve()
    stream = await connect(port)
    await stream.write(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /third HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    await _guard(gate.entered)
    draining = _start_drain(server, timeout=LONG)
    gate.open()
    summary = await _guard(draining)

    responses = parse_responses(await _closed_by_server(stream))
    assert [r.body for r in responses] == [b"slow done"]
    assert responses[0].header("Connection") == "close"
    assert gate.handled == ["/slow"]
    assert summary == DrainSummary(drained=1, closed_idle=0, forced=0, detached=0)


async def test_idle_and_busy_connections_in_one_drain(serve: Any) -> None:
    server, port, gate = serve()
    idle = []
    for _ in range(3):
        stream = await connect(port)
        await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await read_response(stream)
        idle.append(stream)
    busy = await connect(port)
    await busy.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await _guard(gate.entered)

    draining = _start_drain(server, timeout=LONG)
    for stream in idle:
        assert await _closed_by_server(stream) == b""
    assert not draining.done()
    gate.open()
    summary = await _guard(draining)
    assert summary == DrainSummary(drained=1, closed_idle=3, forced=0, detached=0)
    (response,) = parse_responses(await _closed_by_server(busy))
    assert response.body == b"slow done"


# -- the deadline ------------------------------------------------------------------


async def test_what_is_left_at_the_deadline_is_closed(serve: Any) -> None:
    server, port, gate = serve()
    stream = await _in_flight(port, gate)

    summary = await _guard(_start_drain(server, timeout=0.1))

    assert summary == DrainSummary(drained=0, closed_idle=0, forced=1, detached=0)
    assert await _closed_by_server(stream) == b""
    # The application heard that its client is gone.
    await _guard(_until(lambda: gate.closed_early == ["/slow"]))


async def test_a_stalled_partial_head_is_closed_at_the_deadline(serve: Any) -> None:
    server, port, gate = serve()
    stream = await connect(port)
    await stream.write(b"GET /never HTTP/1.1\r\nHo")
    await gen.sleep(0)
    summary = await _guard(_start_drain(server, timeout=0.1))
    assert summary == DrainSummary(drained=0, closed_idle=0, forced=1, detached=0)
    assert await _closed_by_server(stream) == b""
    assert gate.handled == []


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await gen.sleep(0.005)


# -- detached streams (websockets) ------------------------------------------------------


@pytest.fixture
def websocket(io_loop: IOLoop) -> Iterator[Callable[[int], Any]]:
    """websocket(port) -> a connected client, closed at the end of the test."""
    clients: List[Any] = []

    async def connect_to(port: int) -> Any:
        url = "ws://127.0.0.1:%d/ws" % port
        client = await _guard(tornado.websocket.websocket_connect(url))
        clients.append(client)
        return client

    yield connect_to
    for client in clients:
        client.close()


async def test_websockets_are_left_alone_without_a_hook(serve: Any, websocket: Any) -> None:
    server, port, gate = serve()
    client = await websocket(port)
    summary = await _guard(_start_drain(server, timeout=LONG))
    assert summary == DrainSummary(drained=0, closed_idle=0, forced=0, detached=1)
    # Still open and serving after the drain.
    client.write_message("still here")
    assert await _guard(client.read_message()) == "still here"


async def test_the_hook_closes_websockets_and_the_drain_waits_for_them(
    serve: Any, websocket: Any
) -> None:
    server, port, gate = serve()
    client = await websocket(port)
    seen: List[IOStream] = []

    def going_away(stream: IOStream) -> None:
        # The README's recipe: find the handler whose stream this is.
        seen.append(stream)
        for handler in gate.sockets:
            if handler.ws_connection is not None and handler.ws_connection.stream is stream:
                handler.close(1001, "going away")

    summary = await _guard(_start_drain(server, timeout=LONG, on_detached=going_away))

    assert summary == DrainSummary(drained=0, closed_idle=0, forced=0, detached=1)
    assert len(seen) == 1 and seen[0].closed()
    assert await _guard(client.read_message()) is None
    assert client.close_code == 1001


async def test_a_hook_may_be_a_coroutine_and_leftovers_are_forced(
    serve: Any, websocket: Any
) -> None:
    server, port, gate = serve()
    client = await websocket(port)
    called: List[IOStream] = []

    async def ignores_it(stream: IOStream) -> None:
        called.append(stream)

    summary = await _guard(_start_drain(server, timeout=0.1, on_detached=ignores_it))
    assert len(called) == 1
    assert summary == DrainSummary(drained=0, closed_idle=0, forced=1, detached=1)
    assert await _guard(client.read_message()) is None  # closed at the deadline


async def test_a_failing_hook_is_logged_and_the_drain_goes_on(
    serve: Any, websocket: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server, port, gate = serve()
    client = await websocket(port)

    def broken(stream: IOStream) -> None:
        raise RuntimeError("hook bug")

    summary = await _guard(_start_drain(server, timeout=0.1, on_detached=broken))
    assert summary.detached == 1 and summary.forced == 1
    assert any(
        "on_detached" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR
    )
    assert await _guard(client.read_message()) is None


# -- servers it cannot drain --------------------------------------------------------------


async def test_a_server_on_tornados_engine_is_refused_before_anything_stops(
    io_loop: IOLoop,
) -> None:
    assert not tornado_h1alt.is_installed()
    gate = Gate()
    server = tornado.httpserver.HTTPServer(_app(gate))
    sock, port = bind_unused_port()
    server.add_socket(sock)
    try:
        with pytest.raises(TypeError, match="install"):
            await tornado_h1alt.drain(server)
        with pytest.raises(TypeError, match="install"):
            tornado_h1alt.drain_on_signal(server)
        assert not await _refused(port)  # still listening
    finally:
        server.stop()


async def test_connections_made_before_a_late_install_are_closed_at_the_deadline(
    io_loop: IOLoop,
) -> None:
    gate = Gate()
    server = tornado.httpserver.HTTPServer(_app(gate))
    sock, port = bind_unused_port()
    server.add_socket(sock)
    stream = await connect(port)
    await stream.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await read_response(stream)
    try:
        with pytest.warns(RuntimeWarning):
            tornado_h1alt.install()
        summary = await _guard(tornado_h1alt.drain(server, timeout=0.1))
    finally:
        tornado_h1alt.uninstall()
        server.stop()
    assert summary == DrainSummary(drained=0, closed_idle=0, forced=1, detached=0)
    assert await _closed_by_server(stream) == b""


# -- on a signal ------------------------------------------------------------------------


async def _drain_on_a_signal(server: Any) -> Future[DrainSummary]:
    """drain_on_signal(server) on SIGUSR1, and the signal sent: once it
    returns the drain has begun."""
    done = tornado_h1alt.drain_on_signal(server, timeout=LONG, signals=[signal.SIGUSR1])
    os.kill(os.getpid(), signal.SIGUSR1)
    await _guard(_until(lambda: server._stopped))
    return done


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
async def test_a_signal_starts_the_drain_and_resolves_with_its_summary(serve: Any) -> None:
    server, port, gate = serve()
    stream = await _in_flight(port, gate)

    done = await _drain_on_a_signal(server)
    assert await _refused(port)
    assert not done.done()
    gate.open()
    summary = await _guard(done)
    assert summary == DrainSummary(drained=1, closed_idle=0, forced=0, detached=0)
    (response,) = parse_responses(await _closed_by_server(stream))
    assert response.header("Connection") == "close"


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
async def test_a_second_signal_closes_what_is_left_at_once(serve: Any) -> None:
    server, port, gate = serve()
    stream = await _in_flight(port, gate)

    done = await _drain_on_a_signal(server)
    os.kill(os.getpid(), signal.SIGUSR1)
    summary = await _guard(done)
    assert summary == DrainSummary(drained=0, closed_idle=0, forced=1, detached=0)
    assert await _closed_by_server(stream) == b""


# Programs written the two ways Tornado's documentation writes one, plus
# the one line: SIGTERM drains them, then they exit.  The /slow request
# waits until the test creates a file (the test's gate, across processes).
PROGRAM = """\
import asyncio, logging, os, sys
import tornado.gen, tornado.ioloop, tornado.web
import tornado_h1alt
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
RELEASE = sys.argv[1]

class Slow(tornado.web.RequestHandler):
    async def get(self):
        print("in flight", flush=True)
        while not os.path.exists(RELEASE):
            await tornado.gen.sleep(0.01)
        self.write("slow done")

def listen():
    server = tornado_h1alt.HTTPServer(tornado.web.Application([(r"/slow", Slow)]))
    server.listen(0, "127.0.0.1")
    print("port", next(iter(server._sockets.values())).getsockname()[1], flush=True)
    return server

async def main():  # the asyncio.run() style (Tornado 6)
    server = listen()
    await tornado_h1alt.drain_on_signal(server, timeout=30)

if sys.argv[2] == "asyncio.run":
    asyncio.run(main())
else:  # the IOLoop.start() style (Tornado 5)
    server = listen()
    tornado_h1alt.drain_on_signal(server, timeout=30, stop_loop=True)
    tornado.ioloop.IOLoop.current().start()
print("exited", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM to a child")
@pytest.mark.parametrize("style", ["asyncio.run", "IOLoop.start"])
def test_sigterm_drains_a_real_program_and_it_exits(tmp_path: Any, style: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(PROGRAM))
    release = tmp_path / "release"
    env = dict(os.environ, PYTHONPATH=REPO)
    child = subprocess.Popen(
        [sys.executable, str(script), str(release), style],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline().split()[1])
        client = socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD)
        client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert child.stdout.readline().strip() == "in flight"
        child.send_signal(signal.SIGTERM)
        assert child.stdout.readline().startswith("Signal received: draining")
        release.write_text("")
        received = b""
        while True:
            data = client.recv(65536)
            if not data:
                break
            received += data
        client.close()
        (response,) = parse_responses(received)
        assert response.body == b"slow done"
        assert response.header("Connection") == "close"
        assert child.wait(HANG_GUARD) == 0
        rest = child.stdout.read()
        assert "Drained: 1 finished their request, 0 idle closed, 0 forced" in rest
        assert rest.rstrip().endswith("exited")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
