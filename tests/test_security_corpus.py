"""Tornado 6.6.1's security corpus, sent to stock Tornado and to tornado_h1alt.

See security_corpus.py for the cases and what ``layer`` and ``fixed_in``
mean.  The rule checked here:

- ``http1`` cases pass with tornado_h1alt on every Tornado of the matrix;
- every case passes with either engine from its ``fixed_in`` release on;
- below that release, a failure of stock Tornado (or of an ``app`` case,
  which tornado_h1alt does not own) is shown as an expected failure, and a
  pass is simply a pass.
"""

from __future__ import annotations

import datetime
import logging
import socket
from typing import Any, Dict, Iterator, List, NamedTuple

import pytest
import tornado
import tornado.httpserver
from security_corpus import SCALING, Case, Scaling, applications, cases, make_static_root
from tornado import gen
from tornado.httputil import HTTPHeaders
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.testing import bind_unused_port

import tornado_h1alt

# Never reached when a server behaves (each case is answered in milliseconds).
HANG_GUARD = 20.0
CASE_NAMES = [case.advisory.split()[0] + ": " + case.name for case in cases("/static-root")]


class Servers(NamedTuple):
    engine: str
    ports: Dict[str, int]
    static_root: str


@pytest.fixture(params=["stock", "h1alt"])
def servers(request: pytest.FixtureRequest, io_loop: IOLoop, tmp_path: Any) -> Iterator[Servers]:
    """One server per corpus application, all on the engine under test."""
    engine = request.param
    server_class = tornado_h1alt.HTTPServer if engine == "h1alt" else tornado.httpserver.HTTPServer
    assert not tornado_h1alt.is_installed()
    static_root = make_static_root(str(tmp_path))
    ports: Dict[str, int] = {}
    started: List[tornado.httpserver.HTTPServer] = []
    for name, (app, kwargs) in applications(static_root).items():
        sock, port = bind_unused_port()
        server = server_class(app, **kwargs)
        server.add_sockets([sock])
        started.append(server)
        ports[name] = port
    yield Servers(engine, ports, static_root)
    for server in started:
        server.stop()
        io_loop.run_sync(server.close_all_connections)


async def send(port: int, data: bytes) -> bytes:
    """The response to ``data`` on a new connection (b"" if closed without one)."""
    stream = IOStream(socket.socket())
    try:
        await stream.connect(("127.0.0.1", port))
        await stream.write(data)
        # Most responses end with the connection; a refused websocket
        # handshake keeps it open, so read by Content-Length when there is one.
        head = await stream.read_until(b"\r\n\r\n")
        headers = HTTPHeaders.parse(head.decode("latin1").partition("\r\n")[2])
        if "Content-Length" in headers:
            body = await stream.read_bytes(int(headers["Content-Length"]))
        else:
            body = await stream.read_until_close()
        return head + body
    except StreamClosedError:
        return b""
    finally:
        stream.close()


async def send_guarded(port: int, data: bytes) -> bytes:
    return await gen.with_timeout(datetime.timedelta(seconds=HANG_GUARD), send(port, data))


def server_logs(records: List[logging.LogRecord]) -> List[logging.LogRecord]:
    """The tornado loggers' records, without the access log's one per response."""
    return [r for r in records if r.name.startswith("tornado") and r.name != "tornado.access"]


def problems(case: Case, response: bytes, records: List[logging.LogRecord]) -> List[str]:
    """What is wrong with the server's answer to ``case`` (nothing: it passed)."""
    found = []
    if case.status is None:
        if response != b"":
            found.append("expected a close without a response, got %r" % response[:200])
    else:
        status_line = response.split(b"\r\n", 1)[0]
        if status_line.split(b" ")[:2] != [b"HTTP/1.1", str(case.status).encode()]:
            found.append("expected status %d, got %r" % (case.status, response[:200]))
    if case.forbidden is not None and case.forbidden in response:
        found.append("%r in the response" % case.forbidden)
    logs = server_logs(records)
    errors = [r.getMessage() for r in logs if r.levelno >= logging.ERROR]
    if errors:
        found.append("logged at ERROR: %r" % errors)
    if len(logs) > case.max_logs:
        found.append("%d log records: %r" % (len(logs), [r.getMessage() for r in logs]))
    return found


def must_pass(engine: str, layer: str, fixed_in: tuple) -> bool:
    """Whether a failure is a real failure rather than an expected one."""
    if tornado.version_info[: len(fixed_in)] >= fixed_in:
        return True
    return engine == "h1alt" and layer == "http1"


def test_case_names_are_unique() -> None:
    assert len(set(CASE_NAMES)) == len(CASE_NAMES)


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
async def test_security_case(
    servers: Servers, index: int, caplog: pytest.LogCaptureFixture
) -> None:
    case = cases(servers.static_root)[index]
    caplog.set_level(logging.INFO, logger="tornado")
    response = await send_guarded(servers.ports[case.app], case.request)
    found = problems(case, response, caplog.records)
    if found and not must_pass(servers.engine, case.layer, case.fixed_in):
        pytest.xfail(
            "%s layer, fixed in Tornado %s; Tornado %s with %s: %s"
            % (case.layer, case.advisory, tornado.version, servers.engine, "; ".join(found))
        )
    assert found == []


@pytest.mark.parametrize("scaling", SCALING, ids=[s.name for s in SCALING])
async def test_security_scaling_input_is_answered(
    servers: Servers, scaling: Scaling, caplog: pytest.LogCaptureFixture
) -> None:
    if not must_pass(servers.engine, scaling.layer, scaling.fixed_in):
        # Before the fix this input takes minutes to parse (that was the
        # vulnerability); it is not sent, and the case is shown as failing.
        pytest.xfail(
            "%s layer, quadratic before Tornado %s (not sent)" % (scaling.layer, scaling.advisory)
        )
    caplog.set_level(logging.INFO, logger="tornado")
    response = await send_guarded(servers.ports[scaling.app], scaling.build(scaling.n))
    assert response.split(b"\r\n", 1)[0].split(b" ")[:2] == [
        b"HTTP/1.1",
        str(scaling.status).encode(),
    ]
    assert [r for r in server_logs(caplog.records) if r.levelno >= logging.ERROR] == []


def test_must_pass_rule() -> None:
    newer = tuple(tornado.version_info[:3])
    future = (99, 0, 0)
    assert must_pass("stock", "app", newer) and must_pass("h1alt", "app", newer)
    assert must_pass("h1alt", "http1", future)
    assert not must_pass("stock", "http1", future)
    assert not must_pass("h1alt", "app", future)
