"""KeepAliveHTTPClient's quick exchange against simple_httpclient's own path.

A plain request on an idle pooled connection is sent by ``QuickExchange``
(see `tornado_h1alt.client.quick`) instead of simple_httpclient's
``_HTTPConnection``; it must not be told apart from the outside.  Every
scenario here opens a connection with a first request, then sends the
request under test on it (and sometimes a third), against a raw server
that records the exact bytes it receives and answers from a script.

The scenario runs in two modes: "full", with ``QuickExchange.start``
replaced by a classmethod that always declines (so every request takes
simple_httpclient's path), and "quick", the client as shipped.  The quick
mode runs the scenario in full mode too, as its reference, and compares
everything a peer or the caller can observe: the bytes of every request
the server received (on which connection, at which position), the
response's code, reason, header fields, body, effective URL, error type and
message, which request object it names, the caller's request headers
afterwards, the pool's counters after each fetch, the connections the
server accepted, and what was logged.  Both modes also check the scenario's
own expectations, and which requests the quick path actually took (it
must take the reused-connection request in quick mode, none in full mode).

The quick path exists from Tornado 6.0 (`compat.QUICK_POOLED_EXCHANGE`):
on 5.1 only the full mode runs.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import pytest
import tornado
from test_keepalive_client import (
    Harness,
    ReceivedRequest,
    Reply,
    ScriptedServer,
    fetch,
    raw_response,
)
from tornado import httputil
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.ioloop import IOLoop
from tornado.testing import bind_unused_port

from tornado_h1alt import KeepAliveHTTPClient, compat
from tornado_h1alt.client.quick import QuickExchange

QUICK_PATH_EXISTS = tornado.version_info >= (6, 0)

# (The redirect tests with a body caught a real difference once: Tornado 6.0
# to 6.5 keep a response body as a list of pieces, 6.6 as a bytearray.)
# What a fetch is made of, given the server's base URL (a new HTTPRequest
# per run: the client adds its header fields to the caller's request).
RequestFactory = Callable[[str], HTTPRequest]
# A scripted reply per request target (path and query); a list is used up
# in order, its last reply then repeating.  Unlisted targets get `echo`.
Replies = Dict[str, Union[Reply, List[Reply]]]


def echo(target: str) -> Reply:
    """A 200 whose body is the request target, on a kept connection."""
    return raw_response(target.encode("latin-1"))


def response(status: str, *lines: str, body: bytes = b"", action: str = "keep") -> Reply:
    """A response written out field by field (no Content-Length added)."""
    head = "\r\n".join(("HTTP/1.1 " + status, *lines)) + "\r\n\r\n"
    return Reply(head.encode("latin-1") + body, action)


def request(path: str, **options: Any) -> RequestFactory:
    """A factory of ``HTTPRequest(base + path, **options)``."""

    def make(base: str) -> HTTPRequest:
        copied = dict(options)
        if isinstance(copied.get("headers"), dict):
            copied["headers"] = dict(copied["headers"])
        return HTTPRequest(base + path, **copied)

    return make


FIRST = request("/first")
STREAM_CLOSED = "tornado.simple_httpclient.HTTPStreamClosedError"


# -- the recording server ------------------------------------------------------------------


class RecordingServer(ScriptedServer):
    """A `ScriptedServer` answering from a table of replies per target.

    Its ``wire`` keeps each request's exact bytes.  A reply with no data
    and the action "hang" sends nothing, and the server waits for the next
    request (or the client's close).
    """

    def __init__(self, replies: Replies) -> None:
        super().__init__(self._answer)
        # Copied: a list of replies is used up by one run of the scenario.
        self.scripted: Dict[str, List[Reply]] = {
            target: list(reply) if isinstance(reply, list) else [reply]
            for target, reply in replies.items()
        }

    def _answer(self, request: ReceivedRequest) -> Reply:
        replies = self.scripted.get(request.target)
        if not replies:
            return echo(request.target)
        return replies.pop(0) if len(replies) > 1 else replies[0]


# -- observing a scenario ---------------------------------------------------------------------


@dataclass
class Outcome:
    """What the caller can see of one fetch (and of the pool right after it)."""

    code: Optional[int] = None
    reason: Optional[str] = None
    headers: Optional[List[Tuple[str, str]]] = None
    body: Optional[bytes] = None
    effective_url: Optional[str] = None
    time_info: Optional[List[str]] = None
    # Which request the response names: the caller's, or one standing for it.
    names_request: Optional[str] = None
    # The error raised by fetch(), or else the response's own error.
    error_type: Optional[str] = None
    error_message: Optional[str] = None
    error_code: Optional[int] = None
    # The caller's HTTPRequest afterwards: the client adds its fields there.
    request_headers: List[Tuple[str, str]] = field(default_factory=list)
    pool_stats: Tuple[int, ...] = ()


@dataclass
class Observation:
    """What a peer and the caller can see of one run of a scenario."""

    outcomes: List[Outcome]
    # (connection, position, bytes) of every request the server received
    wire: List[Tuple[int, int, bytes]]
    connections_opened: int
    # (logger, level, message) of what was logged at INFO and above
    logs: List[Tuple[str, str, str]]


def assert_same(quick: Observation, full: Observation) -> None:
    """``quick == full``, compared piece by piece so that a failure names the piece."""
    assert quick.wire == full.wire
    assert len(quick.outcomes) == len(full.outcomes)
    for index, (quick_outcome, full_outcome) in enumerate(zip(quick.outcomes, full.outcomes)):
        for name in Outcome.__dataclass_fields__:
            assert (index, name, getattr(quick_outcome, name)) == (
                index,
                name,
                getattr(full_outcome, name),
            )
    assert quick.connections_opened == full.connections_opened
    assert quick.logs == full.logs
    assert quick == full  # and nothing was left out above


class QuickPathSpy:
    """Wraps ``QuickExchange.start``: records its answers; declines when disabled.

    Disabled, it is the classmethod returning False that sends every request
    down simple_httpclient's path (the "full" mode).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.enabled = True
        # (the caller's HTTPRequest, whether the quick path took it)
        self.calls: List[Tuple[HTTPRequest, bool]] = []
        original: Callable[..., bool] = QuickExchange.start

        def start(
            cls: type,
            client: Any,
            pool: Any,
            request: HTTPRequest,
            release_callback: Callable[[], None],
            final_callback: Callable[[HTTPResponse], None],
            restart: Any,
        ) -> bool:
            taken = self.enabled and original(
                client, pool, request, release_callback, final_callback, restart
            )
            self.calls.append((getattr(request, "request", request), taken))
            return taken

        monkeypatch.setattr(QuickExchange, "start", classmethod(start))

    def answers_for(self, request: HTTPRequest) -> List[bool]:
        return [taken for caller, taken in self.calls if caller is request]


def _names_request(named: Any, caller: HTTPRequest, normal: Callable[[str], str]) -> str:
    if named is caller:
        return "the caller's request"
    if getattr(named, "request", None) is caller:
        return "a _RequestProxy of the caller's request"
    return "another %s for %s" % (type(named).__name__, normal(str(getattr(named, "url", ""))))


class Differential:
    """Runs a scenario in the test's mode (and, in quick mode, in full mode first)."""

    def __init__(
        self, harness: Harness, mode: str, spy: QuickPathSpy, caplog: pytest.LogCaptureFixture
    ) -> None:
        self.harness = harness
        self.mode = mode
        self.spy = spy
        self.caplog = caplog

    async def run(
        self,
        requests: Sequence[RequestFactory],
        replies: Optional[Replies] = None,
        quick: Sequence[int] = (1,),
        **client_options: Any,
    ) -> Observation:
        """Fetch ``requests`` in order on one client; return what was observed.

        ``quick``: the indexes of the requests the quick path must take in
        quick mode (in full mode it takes none).  In quick mode the run is
        compared, whole, with a full-mode run of the same scenario.
        """
        if self.mode == "quick":
            reference = await self._observe(False, requests, replies or {}, (), client_options)
            observed = await self._observe(True, requests, replies or {}, quick, client_options)
            assert_same(observed, reference)
        else:
            observed = await self._observe(False, requests, replies or {}, (), client_options)
        return observed

    async def _observe(
        self,
        enabled: bool,
        requests: Sequence[RequestFactory],
        replies: Replies,
        quick: Sequence[int],
        client_options: Dict[str, Any],
    ) -> Observation:
        self.spy.enabled = enabled
        server = RecordingServer(replies)
        sock, port = bind_unused_port()
        server.add_socket(sock)
        self.harness.servers.append(server)
        host = "127.0.0.1:%d" % port
        base = "http://" + host

        # The two runs use two servers: their port is all that may differ.
        def normal(text: str) -> str:
            return text.replace(host, "127.0.0.1:PORT")

        client = self.harness.client(**client_options)
        first_record = len(self.caplog.records)
        outcomes = []
        answers = []
        for make in requests:
            caller = make(base)
            outcomes.append(await self._fetch(client, caller, normal))
            answers.append(self.spy.answers_for(caller))
        # Every request went past the hook exactly once (so the full mode's
        # hook is really in the path), and the quick path took exactly the
        # requests it should.
        expected = [[index in quick] for index in range(len(requests))]
        assert answers == expected
        logs = [
            (record.name, record.levelname, normal(record.getMessage()))
            for record in self.caplog.records[first_record:]
            if record.name.startswith("tornado") and record.levelno >= logging.INFO
        ]
        wire = [
            (number, position, data.replace(host.encode(), b"127.0.0.1:PORT"))
            for number, position, data in server.wire
        ]
        return Observation(outcomes, wire, server.connections_opened, logs)

    @staticmethod
    async def _fetch(
        client: KeepAliveHTTPClient, caller: HTTPRequest, normal: Callable[[str], str]
    ) -> Outcome:
        outcome = Outcome()
        fetched: Optional[HTTPResponse] = None
        error: Optional[BaseException] = None
        try:
            # raise_error=True: Tornado 5.1 warns (an error, here) when
            # raise_error=False meets an error that is not a status code.
            fetched = await fetch(client, caller)
        except Exception as raised:
            error = raised
            # An error status: the response comes with it.
            fetched = getattr(raised, "response", None)
        if fetched is not None:
            outcome.code = fetched.code
            outcome.reason = fetched.reason
            outcome.headers = [(name, normal(value)) for name, value in fetched.headers.get_all()]
            outcome.body = fetched.body
            outcome.effective_url = normal(fetched.effective_url)
            outcome.time_info = sorted(fetched.time_info)
            outcome.names_request = _names_request(fetched.request, caller, normal)
            assert fetched.error is error
        if error is not None:
            outcome.error_type = "%s.%s" % (type(error).__module__, type(error).__qualname__)
            outcome.error_message = normal(str(error))
            outcome.error_code = getattr(error, "code", None)
        outcome.request_headers = [
            (name, normal(value)) for name, value in caller.headers.get_all()
        ]
        outcome.pool_stats = tuple(client.pool_stats())
        return outcome


def modes() -> List[Any]:
    """The two modes (the quick one from Tornado 6.0 on)."""
    quick = pytest.mark.skipif(not QUICK_PATH_EXISTS, reason="no quick path before Tornado 6.0")
    return ["full", pytest.param("quick", marks=quick)]


@pytest.fixture(params=modes())
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def differential(
    io_loop: IOLoop,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Differential]:
    caplog.set_level(logging.INFO)
    harness = Harness(io_loop)
    yield Differential(harness, mode, QuickPathSpy(monkeypatch), caplog)
    harness.close()


def test_the_quick_path_exists_from_tornado_6() -> None:
    assert compat.QUICK_POOLED_EXCHANGE is QUICK_PATH_EXISTS


def head_of(observed: Observation, index: int) -> List[bytes]:
    """The request line and header lines the server received as request ``index``."""
    data = observed.wire[index][2]
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


# =====================================================================================
# 1. Requests without a body
# =====================================================================================


@pytest.mark.parametrize(
    "path, target",
    [
        ("/second", "/second"),
        ("", "/"),
        ("/second?a=1&b=two%20words", "/second?a=1&b=two%20words"),
        ("/second?q#fragment", "/second?q"),
    ],
    ids=["path", "empty-path", "query", "fragment"],
)
async def test_get(differential: Differential, path: str, target: str) -> None:
    observed = await differential.run([FIRST, request(path)])
    second = observed.outcomes[1]
    assert (second.code, second.body) == (200, target.encode())
    assert head_of(observed, 1)[0] == b"GET %s HTTP/1.1" % target.encode()
    assert b"Host: 127.0.0.1:PORT" in head_of(observed, 1)
    assert b"Connection: keep-alive" in head_of(observed, 1)
    assert [(number, position) for number, position, _ in observed.wire] == [(1, 0), (1, 1)]
    assert observed.connections_opened == 1
    assert second.names_request == "the caller's request"
    assert second.effective_url == "http://127.0.0.1:PORT" + path
    assert second.pool_stats[:2] == (1, 1)  # opened, reused


async def test_get_with_custom_headers_and_user_agent(differential: Differential) -> None:
    headers = httputil.HTTPHeaders({"X-Custom": "one"})
    headers.add("X-Multi", "a")
    headers.add("X-Multi", "b")
    headers["Accept-Encoding"] = "identity"  # replaced: the client decompresses
    observed = await differential.run(
        [
            FIRST,
            request(
                "/second",
                headers=headers,
                user_agent="agent/1.0",
                if_modified_since=1700000000.0,
            ),
        ]
    )
    lines = head_of(observed, 1)
    for line in (b"X-Custom: one", b"X-Multi: a", b"X-Multi: b", b"User-Agent: agent/1.0"):
        assert line in lines
    assert b"Accept-Encoding: gzip" in lines
    assert any(line.startswith(b"If-Modified-Since: ") for line in lines)
    assert observed.outcomes[1].body == b"/second"


async def test_get_with_its_own_host_and_connection_fields(differential: Differential) -> None:
    observed = await differential.run(
        [
            FIRST,
            request("/second", headers={"Host": "example.test", "Connection": "Keep-Alive"}),
            request("/third"),
        ],
        quick=(1, 2),
    )
    assert b"Host: example.test" in head_of(observed, 1)
    assert b"Connection: Keep-Alive" in head_of(observed, 1)
    assert observed.connections_opened == 1


async def test_head_with_content_length_and_no_body(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second", method="HEAD"), request("/third")],
        {"/second": response("200 OK", "Content-Length: 5", "Content-Type: text/plain")},
        quick=(1, 2),
    )
    head = observed.outcomes[1]
    assert (head.code, head.body) == (200, b"")
    assert ("Content-Length", "5") in (head.headers or [])
    # Nothing was read as a body: the third request reuses the connection.
    assert observed.outcomes[2].body == b"/third"
    assert observed.connections_opened == 1


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE"])
async def test_options_and_delete(differential: Differential, method: str) -> None:
    observed = await differential.run([FIRST, request("/second", method=method)])
    assert head_of(observed, 1)[0] == b"%s /second HTTP/1.1" % method.encode()
    assert observed.outcomes[1].body == b"/second"


# =====================================================================================
# 2. Requests with a body
# =====================================================================================


@pytest.mark.parametrize(
    "method, body, headers",
    [
        ("POST", b"a=1&b=2", {}),
        ("POST", b"", {}),
        ("POST", b'{"a": 1}', {"Content-Type": "application/json"}),
        ("PUT", b"put body", {}),
        ("PATCH", b"patch body", {}),
    ],
    ids=["post", "post-empty", "post-content-type", "put", "patch"],
)
async def test_request_with_a_body(
    differential: Differential, method: str, body: bytes, headers: Dict[str, str]
) -> None:
    observed = await differential.run(
        [FIRST, request("/second", method=method, body=body, headers=headers)]
    )
    lines = head_of(observed, 1)
    assert lines[0] == b"%s /second HTTP/1.1" % method.encode()
    assert b"Content-Length: %d" % len(body) in lines
    assert observed.wire[1][2].endswith(b"\r\n\r\n" + body)
    content_types = [line for line in lines if line.startswith(b"Content-Type:")]
    if method == "POST":
        expected = headers.get("Content-Type", "application/x-www-form-urlencoded")
        assert content_types == [b"Content-Type: " + expected.encode()]
    else:
        assert content_types == []
    assert observed.outcomes[1].body == b"/second"


@pytest.mark.parametrize(
    "method, body",
    [("PROPFIND", None), ("PROPFIND", b"<propfind/>"), ("GET", b"a body on a GET")],
    ids=["custom-method", "custom-method-with-body", "get-with-body"],
)
async def test_allow_nonstandard_methods(
    differential: Differential, method: str, body: Optional[bytes]
) -> None:
    observed = await differential.run(
        [
            FIRST,
            request("/second", method=method, body=body, allow_nonstandard_methods=True),
        ]
    )
    assert head_of(observed, 1)[0] == b"%s /second HTTP/1.1" % method.encode()
    assert observed.wire[1][2].endswith(b"\r\n\r\n" + (body or b""))
    assert observed.outcomes[1].body == b"/second"


# =====================================================================================
# 3. Compressed responses
# =====================================================================================

TEXT = b"compressible text " * 100
GZIPPED = gzip.compress(TEXT, mtime=0)
GZIP_REPLY = response(
    "200 OK",
    "Content-Type: text/plain",
    "Content-Encoding: gzip",
    "Content-Length: %d" % len(GZIPPED),
    "Vary: Accept-Encoding",
    body=GZIPPED,
)


async def test_gzip_response_is_decompressed(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")], {"/second": GZIP_REPLY}, quick=(1, 2)
    )
    second = observed.outcomes[1]
    assert second.body == TEXT
    names = [name for name, _ in second.headers or []]
    assert "Content-Encoding" not in names
    assert ("X-Consumed-Content-Encoding", "gzip") in (second.headers or [])
    assert b"Accept-Encoding: gzip" in head_of(observed, 1)
    assert observed.connections_opened == 1


async def test_gzip_response_kept_raw_without_decompress_response(
    differential: Differential,
) -> None:
    observed = await differential.run(
        [FIRST, request("/second", decompress_response=False), request("/third")],
        {"/second": GZIP_REPLY},
        quick=(1, 2),
    )
    second = observed.outcomes[1]
    assert second.body == GZIPPED
    assert ("Content-Encoding", "gzip") in (second.headers or [])
    assert not any(line.startswith(b"Accept-Encoding") for line in head_of(observed, 1))
    assert observed.connections_opened == 1


async def test_chunked_gzip_response(differential: Differential) -> None:
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(GZIPPED[i : i + 100]), GZIPPED[i : i + 100])
        for i in range(0, len(GZIPPED), 100)
    )
    observed = await differential.run(
        [FIRST, request("/second")],
        {
            "/second": response(
                "200 OK",
                "Content-Encoding: gzip",
                "Transfer-Encoding: chunked",
                body=chunks + b"0\r\n\r\n",
            )
        },
    )
    assert observed.outcomes[1].body == TEXT


async def test_corrupt_gzip_body(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")],
        {
            "/second": response(
                "200 OK", "Content-Encoding: gzip", "Content-Length: 11", body=b"not gzipped"
            )
        },
    )
    second = observed.outcomes[1]
    assert (second.error_type, second.error_message) == (STREAM_CLOSED, "Connection closed")
    assert observed.logs[0][2].startswith("Malformed HTTP message from None: invalid gzip data")
    assert observed.outcomes[2].body == b"/third"


# =====================================================================================
# 4. Framings and status codes
# =====================================================================================


@pytest.mark.parametrize(
    "body, expected",
    [
        (b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n", b"one,two,three"),
        (b"4;ext=1\r\none,\r\n0\r\nX-Trailer: yes\r\n\r\n", b"one,"),
        (b"0\r\n\r\n", b""),
    ],
    ids=["chunks", "extension-and-trailer", "empty"],
)
async def test_chunked_response(differential: Differential, body: bytes, expected: bytes) -> None:
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")],
        {"/second": response("200 OK", "Transfer-Encoding: chunked", body=body)},
        quick=(1, 2),
    )
    assert observed.outcomes[1].body == expected
    assert observed.outcomes[2].body == b"/third"
    assert observed.connections_opened == 1


async def test_interim_103_early_hints(differential: Differential) -> None:
    early_hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    final = response("200 OK", "Content-Length: 5", "X-Final: yes", body=b"final")
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")],
        {"/second": Reply(early_hints + final.data)},
        quick=(1, 2),
    )
    second = observed.outcomes[1]
    assert (second.code, second.reason, second.body) == (200, "OK", b"final")
    assert ("X-Final", "yes") in (second.headers or [])
    assert "Link" not in [name for name, _ in second.headers or []]
    assert observed.outcomes[2].body == b"/third"


@pytest.mark.parametrize(
    "reply",
    [
        response("204 No Content", "X-Empty: yes"),
        response("304 Not Modified", 'ETag: "v1"'),
        # A 304's Content-Length describes the representation, not a body.
        response("304 Not Modified", "Content-Length: 5"),
    ],
    ids=["204", "304", "304-content-length"],
)
async def test_responses_without_a_body(differential: Differential, reply: Reply) -> None:
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")], {"/second": reply}, quick=(1, 2)
    )
    second = observed.outcomes[1]
    assert second.body == b""
    assert second.code in (204, 304)
    assert observed.outcomes[2].body == b"/third"
    assert observed.connections_opened == 1


async def test_error_status_with_a_body(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second")],
        {"/second": response("404 Gone Fishing", "Content-Length: 4", body=b"nope")},
    )
    second = observed.outcomes[1]
    assert (second.code, second.reason, second.body) == (404, "Gone Fishing", b"nope")
    assert second.error_message == "HTTP 404: Gone Fishing"


# =====================================================================================
# 5. Responses after which the connection is not reused
# =====================================================================================


@pytest.mark.parametrize(
    "reply",
    [
        raw_response(b"closing", headers=("Connection: close",), action="close"),
        raw_response(b"old", version="HTTP/1.0"),
        raw_response(b"until the close", content_length=False, action="close"),
        raw_response(b"no more", headers=("Keep-Alive: timeout=5, max=0",)),
    ],
    ids=["connection-close", "http10", "close-delimited", "keep-alive-max-0"],
)
async def test_connection_not_reused_after(differential: Differential, reply: Reply) -> None:
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")], {"/second": reply}
    )
    assert observed.outcomes[1].code == 200
    assert observed.outcomes[1].body == reply.data.split(b"\r\n\r\n", 1)[1]
    assert [(number, position) for number, position, _ in observed.wire] == [
        (1, 0),
        (1, 1),
        (2, 0),
    ]
    assert observed.outcomes[2].pool_stats[:3] == (2, 1, 0)  # opened, reused, retries


async def test_request_asking_to_close(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second", headers={"Connection": "close"}), request("/third")]
    )
    assert b"Connection: close" in head_of(observed, 1)
    assert observed.connections_opened == 2
    assert observed.outcomes[1].pool_stats[3:5] == (0, 0)  # open, idle


async def test_http10_response_with_keep_alive_is_reused(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")],
        {"/second": raw_response(b"old", version="HTTP/1.0", headers=("Connection: keep-alive",))},
        quick=(1, 2),
    )
    assert observed.outcomes[1].body == b"old"
    assert observed.connections_opened == 1


# =====================================================================================
# 6. Malformed responses
# =====================================================================================


@pytest.mark.parametrize(
    "garbage",
    [
        b"HTTP/1.1 2x0 Nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["bad-status-line", "bad-field-line", "unequal-content-lengths", "bad-chunk-size"],
)
async def test_malformed_response(differential: Differential, garbage: bytes) -> None:
    observed = await differential.run(
        [FIRST, request("/second")], {"/second": Reply(garbage, "close")}
    )
    second = observed.outcomes[1]
    assert (second.error_type, second.error_message) == (STREAM_CLOSED, "Connection closed")
    assert second.body is None
    [(_, level, message)] = observed.logs
    assert level == "INFO" and message.startswith("Malformed HTTP message from None: ")
    assert len(observed.wire) == 2  # not retried: bytes of a response had arrived
    assert second.pool_stats[2:5] == (0, 0, 0)  # retries, open, idle


# =====================================================================================
# 7. A stale connection
# =====================================================================================


def drop_then_answer(method: str) -> List[Reply]:
    """The server closes the connection on the request, then answers it on a new one."""
    if method == "HEAD":
        return [Reply(b"", "drop"), response("200 OK", "Content-Length: 7")]
    return [Reply(b"", "drop"), echo("/second")]


@pytest.mark.parametrize(
    "method, body",
    [("GET", None), ("HEAD", None), ("PUT", b"again"), ("DELETE", None)],
)
async def test_idempotent_request_on_a_dropped_connection_is_retried(
    differential: Differential, method: str, body: Optional[bytes]
) -> None:
    observed = await differential.run(
        [FIRST, request("/second", method=method, body=body)],
        {"/second": drop_then_answer(method)},
    )
    second = observed.outcomes[1]
    assert second.code == 200
    assert second.body == (b"" if method == "HEAD" else b"/second")
    assert [(number, position) for number, position, _ in observed.wire] == [
        (1, 0),
        (1, 1),
        (2, 0),
    ]
    assert observed.wire[1][2] == observed.wire[2][2]  # the same bytes, sent again
    assert second.pool_stats[:3] == (2, 1, 1)  # opened, reused, retries


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_non_idempotent_request_on_a_dropped_connection_fails(
    differential: Differential, method: str
) -> None:
    observed = await differential.run(
        [FIRST, request("/second", method=method, body=b"once")],
        {"/second": drop_then_answer(method)},
    )
    second = observed.outcomes[1]
    assert (second.error_type, second.error_message) == (STREAM_CLOSED, "Stream closed")
    assert second.body is None
    assert len(observed.wire) == 2
    assert second.pool_stats[2] == 0  # no retry


# =====================================================================================
# 8. Request timeout
# =====================================================================================


async def test_request_timeout(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second", request_timeout=0.1), request("/third")],
        {"/second": Reply(b"", "hang")},
    )
    second = observed.outcomes[1]
    assert second.error_type == "tornado.simple_httpclient.HTTPTimeoutError"
    assert second.error_message == "Timeout during request"
    assert observed.outcomes[2].body == b"/third"
    assert observed.connections_opened == 2
    assert second.pool_stats[2] == 0  # a timeout is not retried


# =====================================================================================
# 9. Redirects
# =====================================================================================


def redirect(status: str, location: str = "/target") -> Reply:
    return response(status, "Location: " + location, "Content-Length: 5", body=b"moved")


@pytest.mark.parametrize(
    "status, method, body, followed_by",
    [
        ("302 Found", "GET", None, "GET"),
        ("301 Moved Permanently", "GET", None, "GET"),
        ("303 See Other", "POST", b"form", "GET"),
        ("302 Found", "POST", b"form", "GET"),
        ("307 Temporary Redirect", "POST", b"form", "POST"),
        ("308 Permanent Redirect", "PUT", b"data", "PUT"),
    ],
    ids=["302", "301", "303-after-post", "302-after-post", "307-after-post", "308-after-put"],
)
async def test_redirect_followed(
    differential: Differential,
    status: str,
    method: str,
    body: Optional[bytes],
    followed_by: str,
) -> None:
    observed = await differential.run(
        [FIRST, request("/second", method=method, body=body)], {"/second": redirect(status)}
    )
    second = observed.outcomes[1]
    assert (second.code, second.body) == (200, b"/target")
    assert second.effective_url == "http://127.0.0.1:PORT/target"
    assert second.names_request == "the caller's request"
    assert head_of(observed, 2)[0] == b"%s /target HTTP/1.1" % followed_by.encode()
    assert observed.connections_opened == 1


async def test_redirect_without_a_body_followed(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second")],
        {"/second": response("302 Found", "Location: /target", "Content-Length: 0")},
    )
    second = observed.outcomes[1]
    assert (second.code, second.body) == (200, b"/target")
    assert second.effective_url == "http://127.0.0.1:PORT/target"
    assert second.names_request == "the caller's request"
    assert observed.connections_opened == 1


async def test_redirect_with_max_redirects_0(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second", max_redirects=0)], {"/second": redirect("302 Found")}
    )
    second = observed.outcomes[1]
    assert (second.code, second.body) == (302, b"moved")
    assert second.effective_url == "http://127.0.0.1:PORT/second"
    assert second.error_message == "HTTP 302: Found"
    assert len(observed.wire) == 2


async def test_redirect_not_followed(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second", follow_redirects=False), request("/third")],
        {"/second": redirect("302 Found")},
        quick=(1, 2),
    )
    second = observed.outcomes[1]
    assert (second.code, second.body) == (302, b"moved")
    assert ("Location", "/target") in (second.headers or [])
    assert second.names_request == "the caller's request"
    assert observed.connections_opened == 1


async def test_too_many_redirects(differential: Differential) -> None:
    observed = await differential.run(
        [FIRST, request("/second", max_redirects=2)],
        {"/second": redirect("302 Found", "/second")},
    )
    second = observed.outcomes[1]
    assert second.code == 302
    assert len(observed.wire) == 4  # the first request, then three of /second


# =====================================================================================
# 10. Limits
# =====================================================================================


@pytest.mark.parametrize(
    "reply",
    [
        raw_response(b"x" * 4096),
        response(
            "200 OK",
            "Transfer-Encoding: chunked",
            body=b"1000\r\n" + b"x" * 4096 + b"\r\n0\r\n\r\n",
        ),
    ],
    ids=["content-length", "chunked"],
)
async def test_response_over_max_body_size(differential: Differential, reply: Reply) -> None:
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")],
        {"/second": reply},
        max_body_size=1024,
    )
    second = observed.outcomes[1]
    assert (second.error_type, second.error_message) == (STREAM_CLOSED, "Connection closed")
    assert second.body is None
    assert observed.logs[0][2].startswith("Malformed HTTP message from None: ")
    assert observed.outcomes[2].body == b"/third"
    assert observed.connections_opened == 2


async def test_response_head_over_max_header_size(differential: Differential) -> None:
    big = response("200 OK", "X-Big: " + "b" * 2048, "Content-Length: 0")
    observed = await differential.run(
        [FIRST, request("/second"), request("/third")],
        {"/second": big},
        max_header_size=1024,
    )
    assert observed.outcomes[1].error_type == "tornado.iostream.UnsatisfiableReadError"
    assert observed.outcomes[2].body == b"/third"
    assert observed.connections_opened == 2


# =====================================================================================
# 11. Header fields that cannot be sent
# =====================================================================================


@pytest.mark.parametrize(
    "headers",
    [{"X-Injected": "a\r\nX-Evil: yes"}, {"X-Newline": "a\nb"}, {"X-Return": "a\rb"}],
    ids=["crlf", "lf", "cr"],
)
async def test_header_value_with_a_line_break(
    differential: Differential, headers: Dict[str, str]
) -> None:
    observed = await differential.run(
        [FIRST, request("/second", headers=headers), request("/third")]
    )
    second = observed.outcomes[1]
    assert second.error_type == "builtins.ValueError"
    assert len(observed.wire) == 2 and observed.wire[1][2].startswith(b"GET /third ")
    assert observed.connections_opened == 2


@pytest.mark.skipif(not QUICK_PATH_EXISTS, reason="no quick path before Tornado 6.0")
async def test_an_unexpected_error_ends_a_quick_request_at_once(
    io_loop: IOLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever goes wrong while a response is handled on the quick path ends
    # the request with that error, rather than leaving it to its timeout.
    from tornado.web import Application, RequestHandler

    import tornado_h1alt.client.quick as quick_module
    from tornado_h1alt import HTTPServer as H1HTTPServer

    class Hello(RequestHandler):
        def get(self) -> None:
            self.write("hello")

    sock, port = bind_unused_port()
    server = H1HTTPServer(Application([("/", Hello)]))
    server.add_sockets([sock])
    client = KeepAliveHTTPClient(force_instance=True)
    started: List[Any] = []
    real_start = QuickExchange.start

    def spy_start(*args: Any, **kwargs: Any) -> Any:
        started.append(args)
        return real_start(*args, **kwargs)

    class BrokenCompat:
        def __getattr__(self, name: str) -> Any:
            if name == "headers_from_fields":
                raise RuntimeError("broken on purpose")
            return getattr(compat, name)

    try:
        url = "http://127.0.0.1:%d/" % port
        assert (await client.fetch(url)).body == b"hello"
        monkeypatch.setattr(QuickExchange, "start", staticmethod(spy_start))
        monkeypatch.setattr(quick_module, "compat", BrokenCompat())
        with pytest.raises(RuntimeError, match="broken on purpose"):
            await client.fetch(url, request_timeout=20)
        assert started  # the second request took the quick path
    finally:
        client.close()
        server.stop()
