"""Stock Tornado as a parser under test: what it hands the application.

Run with any Python that has some Tornado (5.1 to 6.6) and nothing of
tornado_h1alt on its path::

    python differential/tornado_oracle.py < cases.json > outcomes.json

Reads a JSON list of cases (``{"kind": "request"|"response", "data": hex,
"method": "GET"}``) and writes one outcome per case, in the harness's
form (see `differential.outcomes`): the messages Tornado handed its
delegate (start line, header fields, body) until it stopped reading, and
whether it refused something.

Over real sockets on 127.0.0.1, as Tornado is used: a request stream is
sent to a ``tornado.httpserver.HTTPServer`` whose application records what
it sees (and answers each request, so that keep-alive goes on), then the
write side is shut; a response stream is sent by a raw server to
``tornado.http1connection.HTTP1Connection`` in client mode, reading one
response after another while the connection stays usable.  "Refused"
means Tornado logged a malformed message, or a message it had begun
ended unfinished.

Also importable (`run_cases`), for the in-process stock Tornado of the
test environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from typing import Any, Dict, List, Optional

from tornado import gen, httputil, iostream
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.log import gen_log
from tornado.tcpclient import TCPClient
from tornado.tcpserver import TCPServer
from tornado.testing import bind_unused_port

# How long to wait for the end of one case; only reached if Tornado hangs.
CASE_TIMEOUT = 2.0


class _MalformedLog(logging.Handler):
    """Counts Tornado's refusals in its log: "Malformed HTTP ..." lines, and
    the uncaught exceptions some releases let a malformed message raise
    (Tornado 5.1's int() of a bad chunk size, for one)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Malformed HTTP") or message.startswith("Uncaught exception"):
            self.count += 1


class _Recorder(httputil.HTTPMessageDelegate):
    """One message's delegate; ``respond`` answers a request (server side)."""

    def __init__(self, messages: List[Dict[str, Any]], state: Dict[str, Any], respond: Any) -> None:
        self.messages = messages
        self.state = state
        self.respond = respond
        self.current: Optional[Dict[str, Any]] = None
        self.body = b""

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> None:
        self.current = {
            "start": [str(part) for part in start_line],
            "headers": [[name.lower(), value] for name, value in headers.get_all()],
        }
        self.body = b""
        if hasattr(start_line, "code") and 100 <= start_line.code < 200:
            # An interim response: a message of its own, and the final
            # response follows on the same delegate.
            self.current["body"] = ""
            self.messages.append(self.current)
            self.current = None

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk

    def finish(self) -> None:
        if self.current is not None:
            self.current["body"] = self.body.hex()
            self.messages.append(self.current)
            self.current = None
        if self.respond is not None:
            self.respond()

    def on_connection_close(self) -> None:
        if self.current is not None:
            self.state["unfinished"] = True
            self.current = None


class _App:
    """The application: a request callback, so that Tornado builds its
    ``HTTPServerRequest`` (and applies what it checks there, the Host field
    from 6.5 on) as for any application."""

    def __init__(self) -> None:
        self.messages: List[Dict[str, Any]] = []

    def __call__(self, request: httputil.HTTPServerRequest) -> None:
        self.messages.append(
            {
                "start": [request.method, request.uri, request.version],
                "headers": [[name.lower(), value] for name, value in request.headers.get_all()],
                "body": request.body.hex(),
            }
        )
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "0"}),
        )
        request.connection.finish()


async def _request_case(data: bytes, log: _MalformedLog) -> Dict[str, Any]:
    app = _App()
    server = HTTPServer(app)
    sock, port = bind_unused_port()
    server.add_sockets([sock])
    refusals = log.count
    stream = await TCPClient().connect("127.0.0.1", port)
    try:
        await stream.write(data)
        assert stream.socket is not None
        stream.socket.shutdown(socket.SHUT_WR)
        await gen.with_timeout(
            IOLoop.current().time() + CASE_TIMEOUT,
            stream.read_until_close(),
            quiet_exceptions=iostream.StreamClosedError,
        )
    except (iostream.StreamClosedError, gen.TimeoutError, OSError):
        pass
    finally:
        stream.close()
        server.stop()
        await server.close_all_connections()
    # Let the server's side finish (its close callbacks run on the loop).
    for _ in range(5):
        await gen.sleep(0)
    # (A request cut short never reaches the callback; Tornado logs nothing
    # for it, so "refused" is only what it logged as malformed, and an
    # unfinished message shows as fewer messages.)
    refused = log.count > refusals
    return {"messages": app.messages, "error": refused}


class _RawServer(TCPServer):
    """Sends the response stream to whoever connects, then closes."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data

    async def handle_stream(self, stream: iostream.IOStream, address: Any) -> None:
        try:
            await stream.write(self.data)
        except iostream.StreamClosedError:
            pass
        stream.close()


async def _response_case(data: bytes, method: str, log: _MalformedLog) -> Dict[str, Any]:
    server = _RawServer(data)
    sock, port = bind_unused_port()
    server.add_sockets([sock])
    refusals = log.count
    messages: List[Dict[str, Any]] = []
    state: Dict[str, Any] = {}
    stream = await TCPClient().connect("127.0.0.1", port)
    try:
        keep_going = True
        while keep_going and not stream.closed():
            connection = HTTP1Connection(stream, True, HTTP1ConnectionParameters())
            connection.write_headers(
                httputil.RequestStartLine(method, "/", "HTTP/1.1"),
                httputil.HTTPHeaders({"Host": "x"}),
            )
            connection.finish()
            method = "GET"  # the canary answers a GET
            seen = len(messages)
            keep_going = await gen.with_timeout(
                IOLoop.current().time() + CASE_TIMEOUT,
                connection.read_response(_Recorder(messages, state, None)),
                quiet_exceptions=iostream.StreamClosedError,
            )
            keep_going = bool(keep_going) and len(messages) > seen
    except (iostream.StreamClosedError, gen.TimeoutError, OSError):
        pass
    except Exception:
        # A malformed response that this release does not catch itself.
        state["unfinished"] = True
    finally:
        stream.close()
        server.stop()
    for _ in range(5):
        await gen.sleep(0)
    refused = log.count > refusals or bool(state.get("unfinished"))
    return {"messages": messages, "error": refused}


def run_cases(cases: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Each case's outcome, on a fresh event loop of its own."""
    log = _MalformedLog()
    gen_log.addHandler(log)
    previous_level = gen_log.level
    gen_log.setLevel(logging.INFO)
    gen_log.propagate = False
    loop = asyncio.new_event_loop()

    async def run_all() -> List[Dict[str, Any]]:
        outcomes = []
        for case in cases:
            data = bytes.fromhex(case["data"])
            if case["kind"] == "request":
                outcomes.append(await _request_case(data, log))
            else:
                outcomes.append(await _response_case(data, case.get("method") or "GET", log))
        return outcomes

    try:
        # (IOLoop.current() inside the coroutines wraps this loop, on every
        # Tornado from 5.1 on.)
        return loop.run_until_complete(run_all())
    finally:
        loop.close()
        gen_log.removeHandler(log)
        gen_log.setLevel(previous_level)
        gen_log.propagate = True


def main() -> None:
    import tornado

    cases = json.load(sys.stdin)
    json.dump({"tornado": tornado.version, "outcomes": run_cases(cases)}, sys.stdout)


if __name__ == "__main__":
    main()
