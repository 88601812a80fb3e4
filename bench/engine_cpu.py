"""The engine's own CPU per request, without sockets: a profiling aid, not a scenario.

Usage::

    python bench/engine_cpu.py [--app bare|web] [--head minimal|browser]
                               [--requests 2000] [--repeats 20]
                               [--engines stock,h1alt,null]

Serves the same keep-alive GET over and over through
`HTTP1ServerConnection` (stock Tornado's and tornado_h1alt's, the same
`tornado.httpserver.HTTPServer` delegate and application) on a fake stream
whose reads and writes complete at once.  No system calls, no waiting for the
peer: what remains is the engine's own work plus the application's, which is
the part of a request that an HTTP/1 engine can change.  wrk's scenarios
measure the whole; this one tells the two apart (compare with a bare
`IOStream` loop, which has none of the engine's work).

``--head`` says which GET: ``minimal`` (the default) is ``GET /`` with a
Host field only, as wrk's hello scenarios send it; ``browser`` is the
595-byte head a current browser sends for a page (the browser-bare and
browser-web scenarios', `bench.scenarios.browser_head`).

Prints one line per engine: the best (lowest) microseconds per request over
``--repeats`` batches of ``--requests``, which filters out the host's noise.
The third line, ``null``, is a lower bound rather than an engine: a loop
that does only what any engine must do through Tornado's interfaces (see
`NullServerConnection`).  Subtracting it from an engine's figure gives that
engine's own overhead; subtracting it from a whole wrk request's CPU gives
what no engine can save.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any, Callable, Dict, Optional

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import tornado.http1connection  # noqa: E402
import tornado.ioloop  # noqa: E402
import tornado.web  # noqa: E402
from tornado import httputil  # noqa: E402
from tornado.concurrent import Future  # noqa: E402
from tornado.httpserver import HTTPServer  # noqa: E402
from tornado.iostream import StreamClosedError  # noqa: E402

import tornado_h1alt  # noqa: E402
from bench.scenarios import BROWSER_PATH, browser_head  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
# The request heads --head chooses from.
HEADS: Dict[str, Callable[[], bytes]] = {
    "minimal": lambda: REQUEST,
    "browser": browser_head,
}
ENGINES = {
    "stock": (tornado.http1connection.HTTP1ServerConnection, tornado.http1connection),
    "h1alt": (tornado_h1alt.HTTP1ServerConnection, tornado_h1alt),
}


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


class ReadyStream:
    """Just enough of IOStream: every read returns the next request at once.

    After ``requests`` requests a read never completes, and `finished`
    resolves.  Nothing is buffered beyond what is returned, as with a client
    that sends its next request only after the previous response.
    """

    max_buffer_size = 100 * 1024 * 1024
    _read_buffer = bytearray()
    _read_buffer_size = 0
    _read_buffer_pos = 0
    socket = None

    def __init__(self, io_loop: Any, requests: int, request: bytes = REQUEST) -> None:
        self.io_loop = io_loop
        self.request = request
        self.left = requests
        self.written = 0
        self.finished: Future[None] = Future()
        self._closed = False

    def _next(self) -> Future[bytes]:
        if self.left == 0:
            if not self.finished.done():
                self.finished.set_result(None)
            return Future()
        self.left -= 1
        return _done(self.request)

    def read_until_regex(self, regex: bytes, max_bytes: Optional[int] = None) -> Future[bytes]:
        return self._next()

    def read_until(self, delimiter: bytes, max_bytes: Optional[int] = None) -> Future[bytes]:
        return self._next()

    def write(self, data: bytes) -> Future[None]:
        self.written += 1
        return _done(None)

    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True

    def set_close_callback(self, callback: Optional[Callable[[], None]]) -> None:
        pass

    def set_nodelay(self, value: bool) -> None:
        pass


class NullConnection(httputil.HTTPConnection):
    """The least a response costs through `HTTPConnection`: one write of the
    head and body, no checks, no framing decisions, no keep-alive logic."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.finished = False
        self.waiter: Optional[Future[None]] = None

    def write_headers(
        self, start_line: Any, headers: Any, chunk: Optional[bytes] = None, callback: Any = None
    ) -> Any:
        lines = ["HTTP/1.1 %d %s" % (start_line.code, start_line.reason)]
        lines.extend("%s: %s" % field for field in headers.get_all())
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return self.write(data + chunk if chunk else data, callback)

    def write(self, chunk: bytes, callback: Any = None) -> Any:
        if callback is not None:  # Tornado 5.1's API
            self.stream.io_loop.add_callback(callback)
        return self.stream.write(chunk)

    def finish(self) -> None:
        self.finished = True
        if self.waiter is not None:
            self.waiter.set_result(None)

    def set_close_callback(self, callback: Any) -> None:
        pass


class NullServerConnection:
    """A lower bound, not an engine: what any HTTP/1 engine must do through
    Tornado's interfaces (read a head, build `RequestStartLine` and
    `HTTPHeaders`, read a Content-Length body, call the delegate, write),
    and nothing else: no validation, no framing decisions, no timers.

    ``turn``: let the IOLoop turn once between requests, as stock Tornado
    and tornado_h1alt do (see `tornado_h1alt.server`); off here, on in
    `bench/floor.py`, which serves it on real sockets.
    """

    def __init__(self, stream: Any, params: Any, context: Any, turn: bool = False) -> None:
        self.stream = stream
        self.turn = turn
        self.task: Optional[asyncio.Task[None]] = None

    def start_serving(self, delegate: Any) -> None:
        self.task = asyncio.get_event_loop().create_task(self._serve(delegate))

    def stop(self) -> None:
        """Cancel the loop, which waits for ever once the requests are used up."""
        if self.task is not None:
            self.task.cancel()

    async def _serve(self, delegate: Any) -> None:
        stream = self.stream
        while True:
            try:
                head = await stream.read_until_regex(b"\r\n\r\n")
            except StreamClosedError:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = lines[0].split(" ")
            headers = httputil.HTTPHeaders()
            left = 0
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers.add(name, value.strip())
                    if name.lower() == "content-length":
                        left = int(value)
            connection = NullConnection(stream)
            request = delegate.start_request(self, connection)
            request.headers_received(httputil.RequestStartLine(method, path, version), headers)
            while left:
                piece = await stream.read_bytes(min(left, 65536), partial=True)
                left -= len(piece)
                request.data_received(piece)
            request.finish()
            if not connection.finished:
                connection.waiter = Future()
                await connection.waiter
            if self.turn:
                await asyncio.sleep(0)


ENGINES["null"] = (NullServerConnection, tornado_h1alt)


class _Context:
    remote_ip = "127.0.0.1"
    protocol = "http"
    address = ("127.0.0.1", 1)
    trusted_downstream = None
    _orig_remote_ip = "127.0.0.1"
    _orig_protocol = "http"

    def __str__(self) -> str:
        return "127.0.0.1"


class _Bare(httputil.HTTPMessageDelegate):
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def finish(self) -> None:
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "11"}),
            b"Hello world",
        )
        self.connection.finish()


class _BareServer(httputil.HTTPServerConnectionDelegate):
    def start_request(self, server_conn: object, request_conn: Any) -> _Bare:
        return _Bare(request_conn)


class _Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello world")


async def measure(
    engine: str, app: str, requests: int, repeats: int, head: str = "minimal"
) -> float:
    """Best microseconds per request over ``repeats`` batches of the GET ``head``
    names (a key of `HEADS`)."""
    connection_class, module = ENGINES[engine]
    request = HEADS[head]()
    application: Any = (
        _BareServer()
        if app == "bare"
        else tornado.web.Application([("/", _Hello), (BROWSER_PATH, _Hello)])
    )
    server = HTTPServer(application)
    server._connections = _NoConnections()  # type: ignore[assignment]
    io_loop = tornado.ioloop.IOLoop.current()
    best = float("inf")
    for _ in range(repeats):
        stream = ReadyStream(io_loop, requests, request)
        params = module.HTTP1ConnectionParameters(header_timeout=3600)
        started = time.perf_counter()
        connection = connection_class(stream, params, _Context())
        connection.start_serving(server)
        await stream.finished
        best = min(best, (time.perf_counter() - started) / requests * 1e6)
        if isinstance(connection, NullServerConnection):
            connection.stop()
        if stream.written < requests:
            raise RuntimeError("%s answered %d of %d requests" % (engine, stream.written, requests))
    return best


class _NoConnections(set):  # type: ignore[type-arg]
    """HTTPServer's connection set, which the abandoned serving loops never leave."""

    def remove(self, item: object) -> None:
        self.discard(item)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=["bare", "web"], default="bare")
    parser.add_argument(
        "--head",
        choices=sorted(HEADS),
        default="minimal",
        help="the GET served: minimal (GET / with Host) or browser (595 bytes) "
        "(default: %(default)s)",
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="which to measure, comma-separated (default: %(default)s)",
    )
    args = parser.parse_args()
    engines = args.engines.split(",")
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error("unknown engine(s): %s" % ", ".join(unknown))

    async def run() -> None:
        for engine in engines:
            best = await measure(engine, args.app, args.requests, args.repeats, args.head)
            print(
                "%-5s %-4s %-7s %7.2f us/request (best of %d x %d)"
                % (engine, args.app, args.head, best, args.repeats, args.requests)
            )

    asyncio.run(run())


if __name__ == "__main__":
    main()
