"""The benchmark's server process: one engine, one application, one port.

Usage::

    python bench/server.py --engine stock|h1alt --app bare|web --port N

``--engine stock`` serves with `tornado.httpserver.HTTPServer` (Tornado's own
``http1connection``); ``--engine h1alt`` with `tornado_h1alt.HTTPServer`.

Both applications answer the same paths:

- ``GET /``           ``Hello world`` (with Content-Length)
- ``GET /products/search?...`` ``Hello world`` too: the browser-like GET's
                      target (the browser-bare and browser-web scenarios)
- ``POST /upload``    reads and discards the body (Content-Length or chunked)
                      and answers with its byte count, e.g. ``65536``
- ``GET /1mib``       1 MiB of ``x``
- ``GET /engine``     the module of the connection class serving the request,
                      so the harness can check which engine it is talking to,
                      and for h1alt which build of it runs:
                      ``tornado_h1alt.connection compiled`` (or ``pure``:
                      ``tornado_h1alt.BUILD``)
- ``GET /connections`` (bare app) how many connections the server has
                      accepted, this one included

``bare`` is a minimal `HTTPServerConnectionDelegate` / `HTTPMessageDelegate`
pair, so nearly all the time is spent in the HTTP/1 engine. ``web`` is a
`tornado.web.Application`, which adds routing, RequestHandler and web's own
header handling on top.

Binds to 127.0.0.1 only. The harness pins it to a core with ``taskset``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
from typing import Any, List, Optional, Union

# Serve the working tree's tornado_h1alt, not an installed copy.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import tornado.httpserver  # noqa: E402
import tornado.netutil  # noqa: E402
import tornado.web  # noqa: E402
from tornado import httputil  # noqa: E402

from bench.scenarios import BROWSER_PATH  # noqa: E402 (the browser-like GET's path)

HELLO = b"Hello world"
ONE_MIB = b"x" * (1024 * 1024)


def h1alt_build() -> str:
    """Which build of tornado_h1alt runs: "compiled" or "pure" (`tornado_h1alt.BUILD`;
    a tree from before the compiled build has no such attribute and is pure)."""
    import tornado_h1alt

    return str(getattr(tornado_h1alt, "BUILD", "pure"))


def engine_description(connection: object) -> str:
    """What GET /engine answers: the connection class's module, and for
    tornado_h1alt its build (``tornado_h1alt.connection compiled``)."""
    module = type(connection).__module__
    if not module.startswith("tornado_h1alt."):
        return module
    return "%s %s" % (module, h1alt_build())


# A deep listen backlog: the idle-connection scenario opens thousands of
# connections, and tornado's default backlog (128) would drop SYNs.
LISTEN_BACKLOG = 4096


def raise_nofile_limit() -> None:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit (the idle scenario needs it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


class _BareRequest(httputil.HTTPMessageDelegate):
    """One request: counts body bytes, answers in `finish`."""

    def __init__(self, request_conn: httputil.HTTPConnection) -> None:
        self.request_conn = request_conn
        self.method = ""
        self.path = ""
        self.body_bytes = 0

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.method = start_line.method
        self.path = start_line.path

    def data_received(self, chunk: bytes) -> None:
        self.body_bytes += len(chunk)

    def finish(self) -> None:
        code, reason = 200, "OK"
        if self.method == "POST" and self.path == "/upload":
            body = str(self.body_bytes).encode("ascii")
        elif self.path == "/" or self.path.startswith(BROWSER_PATH + "?"):
            body = HELLO
        elif self.path == "/1mib":
            body = ONE_MIB
        elif self.path == "/engine":
            body = engine_description(self.request_conn).encode("ascii")
        elif self.path == "/connections":
            body = str(CONNECTIONS_ACCEPTED[0]).encode("ascii")
        else:
            code, reason, body = 404, "Not Found", b"not found"
        headers = httputil.HTTPHeaders(
            {"Content-Type": "text/plain", "Content-Length": str(len(body))}
        )
        self.request_conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", code, reason), headers, body
        )
        self.request_conn.finish()

    def on_connection_close(self) -> None:
        pass


class BareApp(httputil.HTTPServerConnectionDelegate):
    """The smallest useful server delegate: one `_BareRequest` per request."""

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return _BareRequest(request_conn)


class HelloHandler(tornado.web.RequestHandler):
    """``GET /`` says hello; ``POST /upload`` answers with the body's length."""

    def get(self) -> None:
        self.write(HELLO)

    def post(self) -> None:
        self.write(str(len(self.request.body)))


class OneMiBHandler(tornado.web.RequestHandler):
    """``GET /1mib``: 1 MiB; no Etag, so the measurement is I/O, not sha1."""

    def compute_etag(self) -> Optional[str]:
        return None

    def get(self) -> None:
        self.write(ONE_MIB)


class EngineHandler(tornado.web.RequestHandler):
    """``GET /engine``: the module of the connection class in use."""

    def get(self) -> None:
        self.write(engine_description(self.request.connection))


def make_web_app() -> tornado.web.Application:
    """The tornado.web variant of the same paths."""
    return tornado.web.Application(
        [
            (r"/", HelloHandler),
            (BROWSER_PATH, HelloHandler),
            (r"/upload", HelloHandler),
            (r"/1mib", OneMiBHandler),
            (r"/engine", EngineHandler),
        ]
    )


def make_app(app: str) -> Any:
    """The application named ``app``: "bare" (`BareApp`) or "web" (`make_web_app`)."""
    return BareApp() if app == "bare" else make_web_app()


# Connections this server process has accepted (GET /connections on the bare app).
CONNECTIONS_ACCEPTED = [0]


def make_server(engine: str, app: str) -> tornado.httpserver.HTTPServer:
    """An HTTPServer of the requested engine around the requested application.

    It counts the connections it accepts in `CONNECTIONS_ACCEPTED`.
    """
    request_callback = make_app(app)
    server: tornado.httpserver.HTTPServer
    if engine == "stock":
        server = tornado.httpserver.HTTPServer(request_callback)
    elif engine == "h1alt":
        import tornado_h1alt

        server = tornado_h1alt.HTTPServer(request_callback)
    else:
        raise ValueError("unknown engine %r" % engine)
    handle_stream = server.handle_stream

    def counting_handle_stream(stream: Any, address: Any) -> Any:
        CONNECTIONS_ACCEPTED[0] += 1
        return handle_stream(stream, address)

    server.handle_stream = counting_handle_stream  # type: ignore[method-assign]
    return server


def main(argv: Optional[List[str]] = None) -> None:
    """Parse the command line and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["stock", "h1alt"], required=True)
    parser.add_argument("--app", choices=["bare", "web"], default="bare")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    raise_nofile_limit()

    async def serve() -> None:
        server = make_server(args.engine, args.app)
        sockets = tornado.netutil.bind_sockets(args.port, "127.0.0.1", backlog=LISTEN_BACKLOG)
        server.add_sockets(sockets)
        print(
            "serving engine=%s%s app=%s on 127.0.0.1:%d pid=%d"
            % (
                args.engine,
                " (build %s)" % h1alt_build() if args.engine == "h1alt" else "",
                args.app,
                args.port,
                os.getpid(),
            ),
            flush=True,
        )
        await asyncio.Event().wait()  # serve until killed

    asyncio.run(serve())


if __name__ == "__main__":
    main()
