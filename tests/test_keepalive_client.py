"""KeepAliveHTTPClient: the pool's rules without sockets, then real servers.

The first half drives the pure pieces of `tornado_h1alt.client` (keys,
``Keep-Alive`` hints, the reuse and retry rules, `ConnectionPool` with a
fake clock and fake connections).  The second half runs the client against
servers on 127.0.0.1 that count the connections they accept: tornado.web
applications on stock Tornado's and tornado_h1alt's `HTTPServer` (plain and
TLS), and a scripted raw server for what a Tornado server would never send
(HTTP/1.0 responses, close-delimited bodies, connections dropped before or
after a response, at random).
"""

from __future__ import annotations

import gzip
import os
import random
import socket
import ssl
from typing import Any, Awaitable, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import pytest
import tornado
import tornado.httpserver
import tornado.web
from hypothesis import given, settings
from hypothesis import strategies as st
from tornado import gen, httputil, locks
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.simple_httpclient import HTTPStreamClosedError, HTTPTimeoutError
from tornado.tcpserver import TCPServer
from tornado.testing import bind_unused_port

import tornado_h1alt
from tornado_h1alt.client.pool import ConnectionPool, Grant, PoolActions, PoolLimits
from tornado_h1alt.client.quick import QuickExchange
from tornado_h1alt.client.reuse import (
    KeepAliveHint,
    idle_timeout_for,
    is_connection_lost,
    may_retry,
    may_reuse,
    parse_keep_alive,
    pool_key,
)
from tornado_h1alt.client.streams import _peer_has_spoken

# Generous: only reached if something hangs, never on the expected path.
HANG_GUARD = 10.0

# Tornado's own test certificate (tornado/test is not a package in every release).
TEST_CERT_DIR = os.path.join(os.path.dirname(tornado.__file__), "test")


def server_ssl_context() -> ssl.SSLContext:
    """The TLS context of our test servers, with Tornado's own test certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tornado.version_info < (6, 0):
        # Tornado 5.1 ships a 1024-bit test key, which OpenSSL's default
        # security level refuses to load.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(
        os.path.join(TEST_CERT_DIR, "test.crt"), os.path.join(TEST_CERT_DIR, "test.key")
    )
    return context


# =====================================================================================
# The rules, without sockets
# =====================================================================================


def test_pool_key_separates_scheme_host_port_and_tls() -> None:
    context = ssl.create_default_context()
    other_context = ssl.create_default_context()
    plain = pool_key("example.com", 80)
    assert plain == pool_key("example.com", 80)
    assert plain.scheme == "http" and plain.tls is None
    assert pool_key("example.com", 81) != plain
    assert pool_key("example.org", 80) != plain
    assert pool_key("example.com", 443, context).scheme == "https"
    assert pool_key("example.com", 443, context) == pool_key("example.com", 443, context)
    # Contexts are compared by identity: two contexts may differ in ways
    # nobody can see from outside (loaded certificates, callbacks).
    assert pool_key("example.com", 443, context) != pool_key("example.com", 443, other_context)


def test_pool_key_freezes_ssl_options_dicts() -> None:
    options = {"cert_reqs": ssl.CERT_NONE, "ciphers": ["A", "B"]}
    same = {"ciphers": ["A", "B"], "cert_reqs": ssl.CERT_NONE}
    assert pool_key("h", 443, options) == pool_key("h", 443, same)
    assert pool_key("h", 443, options) != pool_key("h", 443, {"cert_reqs": ssl.CERT_REQUIRED})
    hash(pool_key("h", 443, options))  # usable as a dict key despite the list


def test_pool_key_includes_address_family_and_source() -> None:
    import socket

    base = pool_key("h", 80)
    assert pool_key("h", 80, None, socket.AF_INET) != base
    assert pool_key("h", 80, None, socket.AF_UNSPEC, "127.0.0.2") != base
    assert pool_key("h", 80, None, socket.AF_UNSPEC, None, 5000) != base


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, KeepAliveHint(None, None)),
        ("", KeepAliveHint(None, None)),
        ("timeout=5, max=100", KeepAliveHint(5, 100)),
        ("Timeout=5,MAX=3", KeepAliveHint(5, 3)),
        ('timeout="7"', KeepAliveHint(7, None)),
        ("max=0", KeepAliveHint(None, 0)),
        ("timeout=-1, max=1e3, timeout=x", KeepAliveHint(None, None)),  # malformed: ignored
        ("timeout=\u0665", KeepAliveHint(None, None)),  # non-ASCII digit
        ("foo, timeout=2", KeepAliveHint(2, None)),
    ],
)
def test_parse_keep_alive(value: Optional[str], expected: KeepAliveHint) -> None:
    assert parse_keep_alive(value) == expected


def test_idle_timeout_follows_the_servers_hint_with_a_margin() -> None:
    assert idle_timeout_for(15.0, KeepAliveHint(None, None)) == 15.0
    assert idle_timeout_for(15.0, KeepAliveHint(5, None)) == 4.0
    assert idle_timeout_for(15.0, KeepAliveHint(1, None)) == 0.5
    assert idle_timeout_for(15.0, KeepAliveHint(0, None)) == 0.0
    assert idle_timeout_for(3.0, KeepAliveHint(3600, None)) == 3.0


def test_may_reuse() -> None:
    def reuse(**overrides: Any) -> bool:
        arguments: Dict[str, Any] = dict(
            response_complete=True,
            requests_served=1,
            max_requests=None,
            server_max=None,
        )
        arguments.update(overrides)
        return may_reuse(**arguments)

    assert reuse()
    assert not reuse(response_complete=False)
    assert reuse(requests_served=2, max_requests=3)
    assert not reuse(requests_served=3, max_requests=3)
    assert reuse(server_max=1)
    assert not reuse(server_max=0)


def _retry(**overrides: Any) -> bool:
    arguments: Dict[str, Any] = dict(
        method="GET",
        body_replayable=True,
        connection_reused=True,
        response_started=False,
        already_retried=False,
        error=StreamClosedError(),
    )
    arguments.update(overrides)
    return may_retry(**arguments)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"])
def test_may_retry_idempotent_methods(method: str) -> None:
    assert _retry(method=method)


@pytest.mark.parametrize("method", ["POST", "PATCH", "CONNECT", "PROPFIND", "get"])
def test_never_retries_other_methods(method: str) -> None:
    assert not _retry(method=method)


def test_may_retry_only_a_stale_pooled_connection_once() -> None:
    assert not _retry(connection_reused=False)  # a fresh connection failed: real error
    assert not _retry(response_started=True)  # some of the response arrived
    assert not _retry(already_retried=True)
    assert not _retry(body_replayable=False)  # body_producer: cannot send it again


@pytest.mark.parametrize(
    "error, lost",
    [
        (StreamClosedError(), True),
        (StreamClosedError(real_error=ConnectionResetError()), True),
        (HTTPStreamClosedError("Connection closed"), True),
        (ConnectionResetError(), True),
        (BrokenPipeError(), True),
        (ssl.SSLEOFError(), True),
        (HTTPTimeoutError("Timeout"), False),
        (httputil.HTTPInputError("malformed"), False),
        (ValueError("application"), False),
    ],
)
def test_connection_lost_errors(error: BaseException, lost: bool) -> None:
    assert is_connection_lost(error) is lost
    assert _retry(error=error) is lost


def test_pool_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        PoolLimits(max_connections=0)
    with pytest.raises(ValueError):
        PoolLimits(max_connections_per_host=0)
    with pytest.raises(ValueError):
        PoolLimits(idle_timeout=-1)
    with pytest.raises(ValueError):
        PoolLimits(max_requests_per_connection=0)


# -- ConnectionPool with fake connections and a fake clock ---------------------------


class Conn:
    """A fake connection: a name, and whether the peer has closed it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.alive = True

    def __repr__(self) -> str:
        return "Conn(%s)" % self.name


Pool = ConnectionPool[Conn, str]
Actions = PoolActions[Conn, str]


def make_pool(**limits: Any) -> Pool:
    return ConnectionPool(PoolLimits(**limits), is_usable=lambda conn: conn.alive)


def granted(actions: Actions) -> Dict[str, Grant[Conn]]:
    return dict(actions.grants)


def test_pool_opens_then_reuses() -> None:
    pool = make_pool()
    grant = granted(pool.checkout("a", 0.0, "r1"))["r1"]
    assert grant.connection is None  # open one; a slot is reserved
    assert pool.open_count("a") == 1
    conn = Conn("1")
    assert pool.release("a", conn, True, 1.0, idle_timeout=10).grants == []
    assert pool.idle_count("a") == 1 and pool.open_count() == 1
    assert granted(pool.checkout("a", 2.0, "r2"))["r2"].connection is conn
    assert pool.idle_count() == 0 and pool.open_count() == 1


def test_pool_reuses_the_most_recently_released_connection() -> None:
    pool = make_pool()
    pool.checkout("a", 0.0, "r1")
    pool.checkout("a", 0.0, "r2")
    older, newer = Conn("older"), Conn("newer")
    pool.release("a", older, True, 1.0, 10)
    pool.release("a", newer, True, 2.0, 10)
    assert granted(pool.checkout("a", 3.0, "r3"))["r3"].connection is newer


def test_pool_not_reusable_release_closes_and_frees_the_slot() -> None:
    pool = make_pool()
    pool.checkout("a", 0.0, "r1")
    conn = Conn("1")
    actions = pool.release("a", conn, False, 1.0, 10)
    assert actions.to_close == [conn]
    assert pool.open_count() == 0 and pool.idle_count() == 0


def test_pool_per_host_limit_queues_and_hands_over() -> None:
    pool = make_pool(max_connections=10, max_connections_per_host=2)
    assert set(granted(pool.checkout("a", 0, "r1"))) == {"r1"}
    assert set(granted(pool.checkout("a", 0, "r2"))) == {"r2"}
    assert granted(pool.checkout("a", 0, "r3")) == {}
    assert pool.waiting == 1
    # Another host is not held up behind the queue.
    assert set(granted(pool.checkout("b", 0, "rb"))) == {"rb"}
    conn = Conn("1")
    actions = pool.release("a", conn, True, 1.0, 10)
    assert granted(actions)["r3"].connection is conn  # handed over, not idled
    assert pool.idle_count() == 0 and pool.waiting == 0
    assert pool.open_count("a") == 2


def test_pool_waiter_gets_a_new_slot_when_a_connection_is_closed() -> None:
    pool = make_pool(max_connections_per_host=1)
    pool.checkout("a", 0, "r1")
    pool.checkout("a", 0, "r2")
    actions = pool.release("a", Conn("1"), False, 1.0, 10)
    assert granted(actions)["r2"].connection is None
    assert pool.open_count("a") == 1


def test_pool_discard_frees_a_slot_for_a_waiter() -> None:
    pool = make_pool(max_connections_per_host=1)
    pool.checkout("a", 0, "r1")
    pool.checkout("a", 0, "r2")
    assert set(granted(pool.discard("a"))) == {"r2"}
    with pytest.raises(RuntimeError):
        make_pool().discard("never-granted")


def test_pool_total_limit_evicts_the_oldest_idle_connection_of_another_host() -> None:
    pool = make_pool(max_connections=2, max_connections_per_host=2)
    pool.checkout("a", 0, "r1")
    pool.checkout("b", 0, "r2")
    conn_a, conn_b = Conn("a"), Conn("b")
    pool.release("a", conn_a, True, 1.0, 10)
    pool.release("b", conn_b, True, 2.0, 10)
    actions = pool.checkout("c", 3.0, "r3")
    assert granted(actions)["r3"].connection is None
    assert actions.to_close == [conn_a]  # least recently used
    assert pool.open_count() == 2 and pool.open_count("a") == 0


def test_pool_total_limit_with_everything_busy_waits() -> None:
    pool = make_pool(max_connections=1)
    pool.checkout("a", 0, "r1")
    assert granted(pool.checkout("b", 0, "r2")) == {}
    conn = Conn("a")
    # Released reusable, but the waiter is for another host: the idle
    # connection is evicted at once to make room.
    actions = pool.release("a", conn, True, 1.0, 10)
    assert actions.to_close == [conn]
    assert granted(actions)["r2"].connection is None
    assert pool.open_count("b") == 1 and pool.open_count() == 1


def test_pool_serves_waiters_in_order() -> None:
    pool = make_pool(max_connections_per_host=1)
    pool.checkout("a", 0, "first")
    for name in ("w1", "w2", "w3"):
        pool.checkout("a", 0, name)
    order = []
    conn = Conn("1")
    for now in (1.0, 2.0, 3.0):
        grants = pool.release("a", conn, True, now, 10).grants
        order += [waiter for waiter, _ in grants]
    assert order == ["w1", "w2", "w3"]


def test_pool_idle_timeout() -> None:
    pool = make_pool(idle_timeout=5)
    pool.checkout("a", 0, "r1")
    conn = Conn("1")
    pool.release("a", conn, True, 10.0, idle_timeout=5)
    assert pool.next_expiry() == 15.0
    assert pool.expire(14.9).to_close == []
    assert pool.expire(15.0).to_close == [conn]
    assert pool.open_count() == 0 and pool.next_expiry() is None


def test_pool_expires_lazily_on_checkout() -> None:
    pool = make_pool()
    pool.checkout("a", 0, "r1")
    conn = Conn("1")
    pool.release("a", conn, True, 0.0, idle_timeout=1)
    actions = pool.checkout("a", 5.0, "r2")
    assert actions.to_close == [conn]
    assert granted(actions)["r2"].connection is None


def test_pool_zero_idle_timeout_does_not_pool() -> None:
    pool = make_pool()
    pool.checkout("a", 0, "r1")
    conn = Conn("1")
    assert pool.release("a", conn, True, 0.0, idle_timeout=0).to_close == [conn]


def test_pool_skips_connections_the_peer_closed() -> None:
    pool = make_pool()
    pool.checkout("a", 0, "r1")
    pool.checkout("a", 0, "r2")
    good, stale = Conn("good"), Conn("stale")
    pool.release("a", good, True, 1.0, 10)
    pool.release("a", stale, True, 2.0, 10)
    stale.alive = False
    actions = pool.checkout("a", 3.0, "r3")
    assert actions.to_close == [stale]
    assert granted(actions)["r3"].connection is good
    assert pool.open_count() == 1


def test_pool_does_not_idle_a_connection_that_is_no_longer_usable() -> None:
    pool = make_pool()
    pool.checkout("a", 0, "r1")
    conn = Conn("1")
    conn.alive = False
    assert pool.release("a", conn, True, 1.0, 10).to_close == [conn]


def test_pool_checks_poolable_on_release_and_usable_on_reuse() -> None:
    checked: List[str] = []

    def usable(conn: Conn) -> bool:
        checked.append("usable " + conn.name)
        return conn.alive

    def poolable(conn: Conn) -> bool:
        checked.append("poolable " + conn.name)
        return True

    pool: Pool = ConnectionPool(PoolLimits(), is_usable=usable, is_poolable=poolable)
    pool.checkout("a", 0, "r1")
    conn = Conn("1")
    pool.release("a", conn, True, 1.0, 10)
    assert checked == ["poolable 1"]
    conn.alive = False  # the peer closed it while it was idle
    actions = pool.checkout("a", 2.0, "r2")
    assert checked == ["poolable 1", "usable 1"]
    assert actions.to_close == [conn]
    assert granted(actions)["r2"].connection is None  # a new one is opened instead


def test_pool_take_idle_reuses_but_never_opens_or_overtakes() -> None:
    pool = make_pool(max_connections_per_host=1)
    # Nothing idle: no connection, and no slot reserved for a new one.
    assert pool.take_idle("a", 0) == (None, PoolActions())
    assert pool.open_count("a") == 0
    pool.checkout("a", 0, "r1")
    conn = Conn("1")
    pool.release("a", conn, True, 1.0, 10)
    connection, actions = pool.take_idle("a", 2.0)
    assert connection is conn and actions == PoolActions()
    assert pool.idle_count() == 0 and pool.open_count("a") == 1
    # In use: nothing to take, and a request that waits for it gets it
    # when it comes back, not whoever calls take_idle next.
    assert pool.take_idle("a", 3.0)[0] is None
    pool.checkout("a", 3.0, "waiting")
    actions = pool.release("a", conn, True, 4.0, 10)
    assert granted(actions)["waiting"].connection is conn
    assert pool.take_idle("a", 5.0)[0] is None


def test_pool_take_idle_closes_stale_and_expired_connections() -> None:
    pool = make_pool()
    for name in ("old", "stale"):
        pool.checkout("a", 0, "r-" + name)
    old, stale = Conn("old"), Conn("stale")
    pool.release("a", old, True, 1.0, 5)  # expires at 6
    pool.release("a", stale, True, 1.0, 100)
    stale.alive = False
    connection, actions = pool.take_idle("a", 7.0)
    assert connection is None
    assert sorted(c.name for c in actions.to_close) == ["old", "stale"]
    assert pool.open_count() == 0


def test_pool_fresh_request_skips_idle_and_replaces_one_at_the_limit() -> None:
    pool = make_pool(max_connections_per_host=1)
    pool.checkout("a", 0, "r1")
    conn = Conn("1")
    pool.release("a", conn, True, 1.0, 10)
    actions = pool.checkout("a", 2.0, "retry", fresh=True)
    assert granted(actions)["retry"].connection is None
    assert actions.to_close == [conn]
    assert pool.open_count("a") == 1


def test_pool_cancel() -> None:
    pool = make_pool(max_connections_per_host=1)
    pool.checkout("a", 0, "r1")
    pool.checkout("a", 0, "r2")
    assert pool.cancel("r2")
    assert not pool.cancel("r2")
    assert not pool.cancel("r1")  # granted already: the caller holds a slot
    assert pool.release("a", Conn("1"), True, 1.0, 10).grants == []


def test_pool_close() -> None:
    pool = make_pool()
    pool.checkout("a", 0, "r1")
    pool.checkout("a", 0, "r2")
    idle, busy = Conn("idle"), Conn("busy")
    pool.release("a", idle, True, 1.0, 10)
    assert pool.close().to_close == [idle]
    assert pool.release("a", busy, True, 2.0, 10).to_close == [busy]
    assert pool.open_count() == 0


def test_peer_has_spoken_peeks_without_consuming() -> None:
    import socket

    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        assert not _peer_has_spoken(ours)  # open and quiet
        theirs.sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        assert _peer_has_spoken(ours)  # unsolicited bytes
        assert ours.recv(100).startswith(b"HTTP/1.1 408")  # nothing was consumed
        assert not _peer_has_spoken(ours)
        theirs.close()
        assert _peer_has_spoken(ours)  # EOF
    finally:
        ours.close()
        theirs.close()
    assert _peer_has_spoken(None)


class _Op(NamedTuple):
    kind: str
    key: str
    flag: bool


_ops = st.lists(
    st.builds(
        _Op,
        st.sampled_from(["checkout", "release", "cancel", "expire", "peer_close"]),
        st.sampled_from(["a", "b", "c"]),
        st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(
    ops=_ops,
    max_connections=st.integers(1, 4),
    max_per_host=st.integers(1, 3),
)
def test_pool_invariants_hold_for_any_sequence(
    ops: List[_Op], max_connections: int, max_per_host: int
) -> None:
    """Limits are never exceeded, nothing is both idle and in use, and no
    request is lost: once everything is given back, every waiter has its turn."""
    pool = make_pool(max_connections=max_connections, max_connections_per_host=max_per_host)
    now = 0.0
    serial = 0
    held: Dict[str, Tuple[str, Optional[Conn]]] = {}  # waiter -> (key, conn) granted
    waiting: Dict[str, str] = {}
    closed: List[Conn] = []

    def apply(actions: Actions) -> None:
        closed.extend(actions.to_close)
        for waiter, grant in actions.grants:
            assert waiter in waiting, "granted twice or never asked"
            assert grant.key == waiting.pop(waiter)
            if grant.connection is not None:
                assert grant.connection not in closed
                assert all(grant.connection is not c for _, c in held.values())
            held[waiter] = (str(grant.key), grant.connection)

    def check() -> None:
        assert pool.open_count() <= max_connections
        for key in "abc":
            assert pool.open_count(key) <= max_per_host
            assert pool.idle_count(key) <= pool.open_count(key)
        assert pool.open_count() == pool.idle_count() + len(held)
        assert pool.waiting == len(waiting)

    for op in ops:
        now += 1.0
        if op.kind == "checkout":
            serial += 1
            waiter = "w%d" % serial
            waiting[waiter] = op.key
            apply(pool.checkout(op.key, now, waiter, fresh=op.flag))
        elif op.kind == "release" and held:
            waiter = sorted(held)[0]
            key, conn = held.pop(waiter)
            conn = conn or Conn(waiter)
            apply(pool.release(key, conn, op.flag, now, idle_timeout=3.0))
        elif op.kind == "cancel" and waiting:
            waiter = sorted(waiting)[0]
            assert pool.cancel(waiter)
            del waiting[waiter]
        elif op.kind == "expire":
            apply(pool.expire(now))
        elif op.kind == "peer_close":
            # The peer closes some idle connection (if any): the usability
            # check finds it when it would be reused.
            for key in "abc":
                if pool.idle_count(key):
                    pool._idle[key][0].connection.alive = False
                    break
        check()
    # Give everything back, repeatedly: every waiter must be served.
    while held:
        waiter = sorted(held)[0]
        key, conn = held.pop(waiter)
        now += 1.0
        apply(pool.release(key, conn or Conn(waiter), True, now, idle_timeout=3.0))
        check()
    assert not waiting


# =====================================================================================
# Against real servers
# =====================================================================================


class ServerState:
    """What a test server saw; shared by its handlers."""

    def __init__(self) -> None:
        self.hits: Dict[str, int] = {}
        self.active = 0
        self.max_active = 0
        self.release = locks.Event()  # lets /slow handlers finish at teardown

    def hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1


class _Handler(tornado.web.RequestHandler):
    def initialize(self, state: ServerState) -> None:
        self.state = state


class HelloHandler(_Handler):
    def get(self) -> None:
        self.state.hit("hello")
        self.write("hello")

    def head(self) -> None:
        self.write("hello")


class HeaderHandler(_Handler):
    def get(self, name: str) -> None:
        self.write(self.request.headers.get(name, "<absent>"))


class EchoHandler(_Handler):
    def post(self) -> None:
        self.state.hit("echo")
        self.write(self.request.body)

    put = post


class SlowHandler(_Handler):
    async def get(self) -> None:
        self.state.hit("slow")
        await self.state.release.wait()
        self.write("late")


class WaitHandler(_Handler):
    async def get(self) -> None:
        self.state.active += 1
        self.state.max_active = max(self.state.max_active, self.state.active)
        try:
            await gen.sleep(0.005)
            self.write(self.get_argument("id"))
        finally:
            self.state.active -= 1


class RedirectHandler(_Handler):
    def get(self) -> None:
        self.state.hit("redirect")
        self.redirect(self.get_argument("to"))


class BigHandler(_Handler):
    def get(self) -> None:
        self.write(b"x" * 4096)


class ChunksHandler(_Handler):
    async def get(self) -> None:
        for piece in (b"one,", b"two,", b"three"):
            self.write(piece)
            await self.flush()


class TextHandler(_Handler):
    def get(self) -> None:
        self.write("compressible text " * 200)


class NotModifiedHandler(_Handler):
    def get(self) -> None:
        self.set_status(304)


def make_app(state: ServerState) -> tornado.web.Application:
    handlers: List[Any] = [
        (r"/", HelloHandler),
        (r"/header/(.*)", HeaderHandler),
        (r"/echo", EchoHandler),
        (r"/slow", SlowHandler),
        (r"/wait", WaitHandler),
        (r"/redirect", RedirectHandler),
        (r"/big", BigHandler),
        (r"/chunks", ChunksHandler),
        (r"/text", TextHandler),
        (r"/304", NotModifiedHandler),
    ]
    return tornado.web.Application(
        [(pattern, handler, {"state": state}) for pattern, handler in handlers],
        compress_response=True,
    )


def _counting(server_class: Any) -> Any:
    class CountingServer(server_class):  # type: ignore[misc]
        connections_opened = 0

        def handle_stream(self, stream: IOStream, address: Any) -> Any:
            self.connections_opened += 1
            return super().handle_stream(stream, address)

    return CountingServer


STOCK_SERVER = _counting(tornado.httpserver.HTTPServer)
H1ALT_SERVER = _counting(tornado_h1alt.HTTPServer)
SERVER_CLASSES = {"stock-server": STOCK_SERVER, "h1alt-server": H1ALT_SERVER}


class Reply(NamedTuple):
    """What the scripted server does with a request: send ``data`` (if any),
    then keep the connection ("keep"), close it ("close"), or close without
    sending anything ("drop")."""

    data: bytes
    action: str = "keep"


def raw_response(
    body: bytes = b"ok",
    version: str = "HTTP/1.1",
    headers: Tuple[str, ...] = (),
    content_length: bool = True,
    action: str = "keep",
) -> Reply:
    lines = ["%s 200 OK" % version, *headers]
    if content_length:
        lines.append("Content-Length: %d" % len(body))
    return Reply(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, action)


class ReceivedRequest(NamedTuple):
    connection: int  # 1, 2, ... in accept order
    position: int  # 0 for the first request on its connection
    method: str
    target: str
    body: bytes


Script = Callable[[ReceivedRequest], Reply]


class ScriptedServer(TCPServer):
    """A raw HTTP/1.1 server that answers as its script says, and records everything."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.connections_opened = 0
        self.open_streams: List[IOStream] = []
        self.requests: List[ReceivedRequest] = []
        self.replies: List[Reply] = []
        # (connection number, position on it, the request's exact bytes)
        self.wire: List[Tuple[int, int, bytes]] = []

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.connections_opened += 1
        number = self.connections_opened
        self.open_streams.append(stream)
        try:
            index = 0
            while True:
                head = await stream.read_until(b"\r\n\r\n", max_bytes=65536)
                start_line, _, fields = head.decode("latin-1").partition("\r\n")
                method, target, _ = start_line.split(" ", 2)
                headers = httputil.HTTPHeaders.parse(fields)
                length = int(headers.get("Content-Length", "0"))
                body = await stream.read_bytes(length) if length else b""
                request = ReceivedRequest(number, index, method, target, body)
                self.requests.append(request)
                self.wire.append((number, index, head + body))
                reply = self.script(request)
                self.replies.append(reply)
                if reply.action == "drop":
                    break
                if reply.data:
                    await stream.write(reply.data)
                if reply.action == "close":
                    break
                index += 1
        except StreamClosedError:
            pass
        finally:
            stream.close()
            self.open_streams.remove(stream)

    def methods(self) -> List[str]:
        return [request.method for request in self.requests]


class Harness:
    """Starts servers and clients for one test, and tears them all down."""

    def __init__(self, io_loop: IOLoop) -> None:
        self.io_loop = io_loop
        self.clients: List[AsyncHTTPClient] = []
        self.servers: List[Any] = []
        self.states: List[ServerState] = []

    def web_server(
        self, server_class: Any = STOCK_SERVER, tls: bool = False, **server_options: Any
    ) -> Tuple[Any, ServerState, str]:
        """A tornado.web application on ``server_class``: (server, state, base URL)."""
        state = ServerState()
        server = server_class(
            make_app(state), ssl_options=server_ssl_context() if tls else None, **server_options
        )
        sock, port = bind_unused_port()
        server.add_socket(sock)
        self.servers.append(server)
        self.states.append(state)
        return server, state, "%s://127.0.0.1:%d" % ("https" if tls else "http", port)

    def scripted_server(self, script: Script) -> Tuple[ScriptedServer, str]:
        server = ScriptedServer(script)
        sock, port = bind_unused_port()
        server.add_socket(sock)
        self.servers.append(server)
        return server, "http://127.0.0.1:%d" % port

    def client(self, **kwargs: Any) -> tornado_h1alt.KeepAliveHTTPClient:
        client = tornado_h1alt.KeepAliveHTTPClient(force_instance=True, **kwargs)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for state in self.states:
            state.release.set()
        for server in self.servers:
            server.stop()
            if isinstance(server, tornado.httpserver.HTTPServer):
                self.io_loop.run_sync(server.close_all_connections)
            else:
                self._drain(server)

    def _drain(self, server: ScriptedServer) -> None:
        # Let the handlers see the close and end, rather than be cancelled
        # with the IOLoop (which Tornado 5.1 logs).
        open_streams = server.open_streams
        for stream in list(open_streams):
            stream.close()
        self.io_loop.run_sync(lambda: wait_for(lambda: not open_streams))


@pytest.fixture
def harness(io_loop: IOLoop) -> Any:
    harness = Harness(io_loop)
    yield harness
    harness.close()


@pytest.fixture(params=sorted(SERVER_CLASSES))
def server_class(request: pytest.FixtureRequest) -> Any:
    return SERVER_CLASSES[request.param]


async def fetch(
    client: AsyncHTTPClient, url: Union[str, HTTPRequest], raise_error: bool = True, **kwargs: Any
) -> HTTPResponse:
    response: HTTPResponse = await gen.with_timeout(
        IOLoop.current().time() + HANG_GUARD,
        client.fetch(url, raise_error=raise_error, **kwargs),
    )
    return response


async def wait_for(condition: Callable[[], bool]) -> None:
    """Wait (briefly, repeatedly) until ``condition()`` holds; fail after HANG_GUARD."""
    deadline = IOLoop.current().time() + HANG_GUARD
    while not condition():
        assert IOLoop.current().time() < deadline, "condition never became true"
        await gen.sleep(0.005)


# -- reuse -------------------------------------------------------------------------


async def test_sequential_gets_use_one_connection(harness: Harness, server_class: Any) -> None:
    server, state, base = harness.web_server(server_class)
    client = harness.client()
    for _ in range(25):
        response = await fetch(client, base + "/")
        assert response.body == b"hello"
    assert state.hits["hello"] == 25
    assert server.connections_opened == 1
    stats = client.pool_stats()
    assert (stats.connections_opened, stats.connections_reused) == (1, 24)
    assert (stats.open, stats.idle, stats.waiting) == (1, 1, 0)


async def test_pooled_connections_disable_nagle(harness: Harness) -> None:
    # Set once when the pool opens the stream, and still set on reuse.
    _, _, base = harness.web_server()
    client = harness.client()
    for _ in range(2):
        await fetch(client, base + "/")
    [entries] = client._stream_pool.pool._idle.values()
    sock = entries[0].connection.stream.socket
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_requests_ask_to_keep_alive_not_to_close(harness: Harness) -> None:
    _, _, base = harness.web_server()
    client = harness.client()
    response = await fetch(client, base + "/header/Connection")
    assert response.body == b"keep-alive"


async def test_configure_selects_the_client_with_pool_options(harness: Harness) -> None:
    saved = AsyncHTTPClient._save_configuration()
    try:
        AsyncHTTPClient.configure(
            "tornado_h1alt.KeepAliveHTTPClient",
            max_clients=7,
            max_connections_per_host=3,
            idle_timeout=2.5,
            max_requests_per_connection=50,
        )
        client = AsyncHTTPClient(force_instance=True)
        harness.clients.append(client)
        assert isinstance(client, tornado_h1alt.KeepAliveHTTPClient)
        limits = client.pool_limits
        assert (limits.max_connections, limits.max_connections_per_host) == (7, 3)
        assert (limits.idle_timeout, limits.max_requests_per_connection) == (2.5, 50)
        _, _, base = harness.web_server()
        assert (await fetch(client, base + "/")).body == b"hello"
    finally:
        AsyncHTTPClient._restore_configuration(saved)


async def test_shared_instance_is_cached_per_ioloop(io_loop: IOLoop) -> None:
    client = tornado_h1alt.KeepAliveHTTPClient()
    try:
        assert tornado_h1alt.KeepAliveHTTPClient() is client
        assert not isinstance(tornado_h1alt.SimpleAsyncHTTPClient(), type(client))
    finally:
        client.close()
        tornado_h1alt.SimpleAsyncHTTPClient().close()


async def test_post_head_304_and_chunked_responses_keep_the_connection(
    harness: Harness, server_class: Any
) -> None:
    server, state, base = harness.web_server(server_class)
    client = harness.client()
    assert (await fetch(client, base + "/echo", method="POST", body=b"abc")).body == b"abc"
    assert (await fetch(client, base + "/echo", method="PUT", body=b"")).body == b""
    head = await fetch(client, base + "/", method="HEAD")
    assert head.body == b"" and head.headers["Content-Length"] == "5"
    assert (await fetch(client, base + "/304", raise_error=False)).code == 304
    assert (await fetch(client, base + "/chunks")).body == b"one,two,three"
    assert (await fetch(client, base + "/big")).body == b"x" * 4096
    assert (await fetch(client, base + "/")).body == b"hello"
    assert server.connections_opened == 1


async def test_expect_100_continue_on_a_pooled_connection(
    harness: Harness, server_class: Any
) -> None:
    server, _, base = harness.web_server(server_class)
    client = harness.client()
    for body in (b"first", b"second"):
        response = await fetch(
            client, base + "/echo", method="POST", body=body, expect_100_continue=True
        )
        assert response.body == body
    assert server.connections_opened == 1


async def test_streaming_and_header_callbacks(harness: Harness) -> None:
    server, _, base = harness.web_server()
    client = harness.client()
    for _ in range(2):
        chunks: List[bytes] = []
        lines: List[str] = []
        response = await fetch(
            client,
            base + "/chunks",
            streaming_callback=chunks.append,
            header_callback=lines.append,
        )
        assert b"".join(chunks) == b"one,two,three"
        assert response.body == b""
        assert lines[0].startswith("HTTP/1.1 200") and lines[-1] == "\r\n"
    assert server.connections_opened == 1


async def test_gzip_responses_are_decompressed(harness: Harness) -> None:
    server, _, base = harness.web_server()
    client = harness.client()
    for _ in range(3):
        response = await fetch(client, base + "/text")
        assert response.body == b"compressible text " * 200
        assert response.headers.get("X-Consumed-Content-Encoding") == "gzip"
    raw = await fetch(
        client, base + "/text", decompress_response=False, headers={"Accept-Encoding": "gzip"}
    )
    assert gzip.decompress(raw.body) == b"compressible text " * 200
    assert server.connections_opened == 1


async def test_max_requests_per_connection(harness: Harness) -> None:
    server, _, base = harness.web_server()
    client = harness.client(max_requests_per_connection=3)
    for _ in range(7):
        assert (await fetch(client, base + "/")).body == b"hello"
    assert server.connections_opened == 3  # 3 + 3 + 1


async def test_idle_timeout_closes_unused_connections(harness: Harness) -> None:
    server, _, base = harness.web_server()
    client = harness.client(idle_timeout=0.05)
    await fetch(client, base + "/")
    assert client.pool_stats().idle == 1
    await wait_for(lambda: client.pool_stats().open == 0)  # closed by the timer
    await fetch(client, base + "/")
    assert server.connections_opened == 2


async def test_client_close_closes_idle_connections(harness: Harness) -> None:
    server, base = harness.scripted_server(lambda request: raw_response())
    client = harness.client()
    await fetch(client, base + "/")
    assert len(server.open_streams) == 1
    client.close()
    await wait_for(lambda: not server.open_streams)


# -- when a connection must not be reused ---------------------------------------------------


async def test_server_connection_close(harness: Harness) -> None:
    server, base = harness.scripted_server(
        lambda request: raw_response(request.target.encode(), headers=("Connection: close",))
    )
    client = harness.client()
    for number in range(5):
        assert (await fetch(client, base + "/%d" % number)).body == b"/%d" % number
    assert server.connections_opened == 5
    assert client.pool_stats().open == 0


async def test_http10_response_without_keep_alive_is_not_reused(harness: Harness) -> None:
    server, base = harness.scripted_server(lambda request: raw_response(version="HTTP/1.0"))
    client = harness.client()
    for _ in range(3):
        response = await fetch(client, base + "/")
        assert response.body == b"ok"
    assert server.connections_opened == 3


async def test_http10_response_with_keep_alive_is_reused(harness: Harness) -> None:
    server, base = harness.scripted_server(
        lambda request: raw_response(version="HTTP/1.0", headers=("Connection: keep-alive",))
    )
    client = harness.client()
    for _ in range(3):
        assert (await fetch(client, base + "/")).body == b"ok"
    assert server.connections_opened == 1


async def test_close_delimited_body_is_not_reused(harness: Harness) -> None:
    server, base = harness.scripted_server(
        lambda request: raw_response(b"until close", content_length=False, action="close")
    )
    client = harness.client()
    for _ in range(3):
        assert (await fetch(client, base + "/")).body == b"until close"
    assert server.connections_opened == 3


async def test_keep_alive_max_zero_is_not_reused(harness: Harness) -> None:
    server, base = harness.scripted_server(
        lambda request: raw_response(headers=("Keep-Alive: timeout=5, max=0",))
    )
    client = harness.client()
    for _ in range(3):
        await fetch(client, base + "/")
    assert server.connections_opened == 3


async def test_request_with_connection_close_is_not_reused(harness: Harness) -> None:
    server, _, base = harness.web_server()
    client = harness.client()
    await fetch(client, base + "/", headers={"Connection": "close"})
    await fetch(client, base + "/")
    await fetch(client, base + "/")
    assert server.connections_opened == 2


@pytest.mark.parametrize("closing_fetch", [0, 1], ids=["first-fetch", "on-a-reused-connection"])
async def test_request_with_connection_close_is_the_connections_last_whatever_the_response_says(
    harness: Harness, closing_fetch: int
) -> None:
    # RFC 9112 9.6: a client that sends "close" MUST NOT send further
    # requests on that connection, even if the server (wrongly) keeps it.
    server, base = harness.scripted_server(
        lambda request: raw_response(headers=("Connection: keep-alive",))
    )
    client = harness.client()
    for index in range(3):
        headers = {"Connection": "close"} if index == closing_fetch else {}
        await fetch(client, base + "/", headers=headers)
    assert server.connections_opened == 2


async def test_response_over_max_body_size_fails_and_is_not_reused(harness: Harness) -> None:
    server, _, base = harness.web_server()
    client = harness.client(max_body_size=1024)
    with pytest.raises(Exception):  # noqa: B017 -- the engine's error, as with stock
        await fetch(client, base + "/big")
    assert (await fetch(client, base + "/")).body == b"hello"
    assert server.connections_opened == 2


async def test_request_timeout_closes_the_connection(harness: Harness) -> None:
    server, state, base = harness.web_server()
    client = harness.client()
    await fetch(client, base + "/")
    with pytest.raises(HTTPTimeoutError):
        await fetch(client, base + "/slow", request_timeout=0.2)
    assert (await fetch(client, base + "/")).body == b"hello"
    assert state.hits["slow"] == 1  # a timeout is never retried
    assert server.connections_opened == 2


async def test_streaming_callback_error_cancels_and_closes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    server, _, base = harness.web_server()
    client = harness.client()

    def refuse(chunk: bytes) -> None:
        raise RuntimeError("stop reading")

    with pytest.raises(HTTPStreamClosedError):
        await fetch(client, base + "/big", streaming_callback=refuse)
    assert any(
        "stop reading" in record.getMessage() or record.exc_info for record in caplog.records
    )
    assert (await fetch(client, base + "/")).body == b"hello"
    assert server.connections_opened == 2


async def test_abandoned_fetch_still_reads_the_response_and_reuses(harness: Harness) -> None:
    """Cancelling the Future of a fetch does not stop the exchange (as with
    SimpleAsyncHTTPClient), so the connection ends in a known state."""
    server, state, base = harness.web_server()
    client = harness.client()
    future = client.fetch(base + "/big")
    future.cancel()
    await wait_for(lambda: client.pool_stats().idle == 1)
    await fetch(client, base + "/")
    assert server.connections_opened == 1


# -- stale connections ---------------------------------------------------------------------


def drop_second_request(request: ReceivedRequest) -> Reply:
    """The server "closed the idle connection" just as the next request arrived."""
    if request.position >= 1:
        return Reply(b"", "drop")
    return raw_response(request.target.encode())


async def test_stale_connection_get_is_retried_once(harness: Harness) -> None:
    server, base = harness.scripted_server(drop_second_request)
    client = harness.client()
    assert (await fetch(client, base + "/a")).body == b"/a"
    assert (await fetch(client, base + "/b")).body == b"/b"
    assert [(r.connection, r.position, r.target) for r in server.requests] == [
        (1, 0, "/a"),
        (1, 1, "/b"),  # dropped
        (2, 0, "/b"),  # resent on a fresh connection
    ]
    assert client.pool_stats().retries == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD", "OPTIONS"])
async def test_stale_connection_idempotent_methods_are_retried(
    harness: Harness, method: str
) -> None:
    server, base = harness.scripted_server(drop_second_request)
    client = harness.client()
    body = b"data" if method == "PUT" else None
    await fetch(client, base + "/first")
    response = await fetch(client, base + "/second", method=method, body=body)
    assert response.code == 200
    assert server.methods() == ["GET", method, method]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_stale_connection_post_is_never_resent(harness: Harness, method: str) -> None:
    server, base = harness.scripted_server(drop_second_request)
    client = harness.client()
    await fetch(client, base + "/first")
    with pytest.raises((HTTPStreamClosedError, ConnectionError)) as raised:
        await fetch(client, base + "/second", method=method, body=b"pay once")
    if isinstance(raised.value, HTTPClientError):
        assert raised.value.code == 599
    assert server.methods() == ["GET", method]
    assert client.pool_stats().retries == 0
    # The client is fine afterwards.
    assert (await fetch(client, base + "/third")).body == b"/third"


async def test_stale_connection_body_producer_is_not_resent(harness: Harness) -> None:
    server, base = harness.scripted_server(drop_second_request)
    client = harness.client()
    await fetch(client, base + "/first")

    async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
        await write(b"once")

    with pytest.raises((HTTPStreamClosedError, ConnectionError)):
        await fetch(
            client,
            base + "/second",
            method="PUT",
            body_producer=produce,
            headers={"Content-Length": "4"},
        )
    assert server.methods() == ["GET", "PUT"]


async def test_failure_on_a_fresh_connection_is_not_retried(harness: Harness) -> None:
    server, base = harness.scripted_server(lambda request: Reply(b"", "drop"))
    client = harness.client()
    with pytest.raises((HTTPStreamClosedError, ConnectionError)):
        await fetch(client, base + "/")
    assert len(server.requests) == 1


async def test_truncated_response_on_a_pooled_connection_is_not_retried(
    harness: Harness,
) -> None:
    def script(request: ReceivedRequest) -> Reply:
        if request.position == 0:
            return raw_response()
        return Reply(b"HTTP/1.1 200 OK\r\nContent-Le", "close")  # part of a head

    server, base = harness.scripted_server(script)
    client = harness.client()
    await fetch(client, base + "/")
    with pytest.raises((HTTPStreamClosedError, ConnectionError)):
        await fetch(client, base + "/")
    assert len(server.requests) == 2
    assert client.pool_stats().retries == 0


@pytest.mark.parametrize(
    "garbage",
    [b"HTTP/1.1 2x0 Nope\r\n\r\n", b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"],
    ids=["bad-status-line", "bad-field"],
)
@pytest.mark.parametrize("path", ["quick", "simple_httpclient"])
async def test_malformed_response_on_a_pooled_connection_is_not_retried(
    harness: Harness, garbage: bytes, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes of a response arrived, so the request may have been acted on:
    a GET fails (as with stock) instead of being sent again, whichever path
    the request took on the reused connection."""
    if path != "quick":
        monkeypatch.setattr(QuickExchange, "start", classmethod(lambda cls, *args: False))

    def script(request: ReceivedRequest) -> Reply:
        return raw_response() if request.position == 0 else Reply(garbage, "close")

    server, base = harness.scripted_server(script)
    client = harness.client()
    await fetch(client, base + "/")
    with pytest.raises(HTTPStreamClosedError):
        await fetch(client, base + "/")
    assert len(server.requests) == 2
    assert client.pool_stats().retries == 0


async def test_idle_connection_closed_by_the_server_is_noticed(harness: Harness) -> None:
    """Closed while idle (no Connection: close announced): the pool sees the
    close before reusing it, so even a POST goes out on a new connection."""
    server, base = harness.scripted_server(lambda request: raw_response(action="close"))
    client = harness.client()
    await fetch(client, base + "/")
    await wait_for(lambda: not server.open_streams)
    response = await fetch(client, base + "/", method="POST", body=b"x")
    assert response.body == b"ok"
    assert server.methods() == ["GET", "POST"]
    assert server.connections_opened == 2
    assert client.pool_stats().retries == 0


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_tornado_server_idle_timeout_then_post(
    harness: Harness, server_class: Any, tls: bool
) -> None:
    """A Tornado server closing idle keep-alive connections
    (``idle_connection_timeout``): the next POST is not lost or failed."""
    server, state, base = harness.web_server(server_class, tls=tls, idle_connection_timeout=0.05)
    client = harness.client()
    options: Dict[str, Any] = {"validate_cert": False} if tls else {}
    assert (await fetch(client, base + "/", **options)).body == b"hello"
    await wait_for(lambda: not server._connections)  # the server closed it
    response = await fetch(client, base + "/echo", method="POST", body=b"once", **options)
    assert response.body == b"once"
    assert state.hits["echo"] == 1
    assert server.connections_opened == 2
    assert client.pool_stats().retries == 0


async def test_server_closing_idle_connections_at_random(harness: Harness) -> None:
    """No request is lost or answered twice while the server drops idle
    connections: either just after a response or when the next request
    arrives (the race a retry exists for)."""
    drops = 0

    def script(request: ReceivedRequest) -> Reply:
        nonlocal drops
        decide = random.Random("%d/%d" % (request.connection, request.position)).random()
        if request.position >= 1 and decide < 0.3:
            drops += 1
            return Reply(b"", "drop")
        return raw_response(request.target.encode(), action="close" if decide > 0.7 else "keep")

    server, base = harness.scripted_server(script)
    client = harness.client(max_connections_per_host=3)
    targets = ["/seq/%d" % number for number in range(40)]
    for target in targets:
        assert (await fetch(client, base + target)).body == target.encode()
    for batch in range(4):
        batch_targets = ["/batch/%d/%d" % (batch, number) for number in range(10)]
        responses = await gen.multi([fetch(client, base + target) for target in batch_targets])
        assert [response.body for response in responses] == [t.encode() for t in batch_targets]
        targets += batch_targets
    # Every request reached the server exactly once, plus once more for each drop.
    answered = [r.target for r, reply in zip(server.requests, server.replies) if reply.data]
    assert sorted(answered) == sorted(targets)
    assert drops >= 1
    assert client.pool_stats().retries >= drops
    assert 1 < server.connections_opened < len(targets)


# -- TLS -------------------------------------------------------------------------------------


async def test_tls_connections_are_reused_per_tls_settings(
    harness: Harness, server_class: Any
) -> None:
    server, _, base = harness.web_server(server_class, tls=True)
    client = harness.client()
    for _ in range(5):
        assert (await fetch(client, base + "/", validate_cert=False)).body == b"hello"
    assert server.connections_opened == 1
    # Other TLS settings: another connection, then each is reused.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for _ in range(3):
        assert (await fetch(client, base + "/", ssl_options=context)).body == b"hello"
    assert server.connections_opened == 2
    await fetch(client, base + "/", validate_cert=False)
    assert server.connections_opened == 2
    assert client.pool_stats().open == 2


async def test_tls_certificate_is_still_verified(harness: Harness) -> None:
    _, _, base = harness.web_server(tls=True)
    client = harness.client()
    with pytest.raises(ssl.SSLError):
        await fetch(client, base + "/")  # self-signed test certificate


# -- redirects -----------------------------------------------------------------------------------


async def test_redirects_across_hosts_reuse_each_hosts_connection(harness: Harness) -> None:
    server_a, state_a, base_a = harness.web_server(STOCK_SERVER)
    server_b, _, base_b = harness.web_server(H1ALT_SERVER)
    client = harness.client()
    for _ in range(4):
        response = await fetch(client, base_a + "/redirect?to=" + base_b + "/")
        assert response.body == b"hello"
        assert response.effective_url == base_b + "/"
    assert state_a.hits["redirect"] == 4
    assert (server_a.connections_opened, server_b.connections_opened) == (1, 1)


async def test_redirect_to_the_same_host_reuses_the_connection(harness: Harness) -> None:
    server, _, base = harness.web_server()
    client = harness.client()
    for _ in range(3):
        assert (await fetch(client, base + "/redirect?to=/")).body == b"hello"
    assert server.connections_opened == 1


# -- concurrency and limits ---------------------------------------------------------------


async def test_concurrency_above_the_pool_limit_queues_without_loss(
    harness: Harness, server_class: Any
) -> None:
    server, state, base = harness.web_server(server_class)
    client = harness.client(max_clients=20, max_connections_per_host=2)
    ids = [str(number) for number in range(60)]
    responses = await gen.multi([fetch(client, base + "/wait?id=" + i) for i in ids])
    assert [response.body.decode() for response in responses] == ids
    assert server.connections_opened == 2
    assert state.max_active <= 2
    assert client.pool_stats().waiting == 0


async def test_total_limit_across_hosts(harness: Harness) -> None:
    server_a, _, base_a = harness.web_server()
    server_b, _, base_b = harness.web_server()
    client = harness.client(max_clients=10, max_connections=2, max_connections_per_host=2)
    urls = [(base_a if number % 2 else base_b) + "/wait?id=%d" % number for number in range(30)]
    responses = await gen.multi([fetch(client, url) for url in urls])
    assert [r.body.decode() for r in responses] == [str(n) for n in range(30)]
    assert client.pool_stats().open <= 2
    # Sequentially, one connection in total: each host change evicts the other.
    client_one = harness.client(max_connections=1)
    for url in [base_a + "/", base_b + "/", base_a + "/", base_a + "/"]:
        assert (await fetch(client_one, url)).body == b"hello"
        assert client_one.pool_stats().open == 1
    assert client_one.pool_stats().connections_opened == 3


async def test_waiting_for_a_connection_counts_against_connect_timeout(
    harness: Harness,
) -> None:
    _, state, base = harness.web_server()
    client = harness.client(max_connections_per_host=1)
    slow = client.fetch(base + "/slow", request_timeout=HANG_GUARD)
    await wait_for(lambda: state.hits.get("slow") == 1)
    with pytest.raises(HTTPTimeoutError) as raised:
        await fetch(client, base + "/", connect_timeout=0.1)
    # Tornado 6.6 hands the connect timeout to the pool (which says so);
    # before 6.6 simple_httpclient runs a timer of its own.
    assert "pooled connection" in str(raised.value) or "while connecting" in str(raised.value)
    assert client.pool_stats().waiting == 0
    state.release.set()
    assert (await gen.with_timeout(IOLoop.current().time() + HANG_GUARD, slow)).body == b"late"


async def test_max_clients_queue_still_applies(harness: Harness) -> None:
    _, state, base = harness.web_server()
    client = harness.client(max_clients=2)
    responses = await gen.multi([fetch(client, base + "/wait?id=%d" % n) for n in range(10)])
    assert len(responses) == 10
    assert state.max_active <= 2


async def test_request_object_and_defaults_are_honoured(harness: Harness) -> None:
    _, _, base = harness.web_server()
    client = harness.client(defaults={"user_agent": "keepalive-test"})
    request = HTTPRequest(base + "/header/User-Agent")
    assert (await fetch(client, request)).body == b"keepalive-test"
