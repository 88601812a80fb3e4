"""KeepAliveHTTPClient: an `.AsyncHTTPClient` that reuses connections.

Tornado's `~tornado.simple_httpclient.SimpleAsyncHTTPClient` opens a new
connection for every request and asks the server to close it (Tornado issues
#324 and #778).  `KeepAliveHTTPClient` is the same client -- the same
`.HTTPRequest` options, redirects, callbacks, timeouts and errors -- with a
connection pool underneath.

The module has two halves:

* The pool's rules, as pure code with no sockets and no clock of its own:
  `pool_key`, `parse_keep_alive`, `idle_timeout_for`, `may_reuse`,
  `may_retry` and `ConnectionPool`, a state machine that is told the time
  and answers with what to do (which waiting request gets which connection,
  which connections to close).
* The adapter: `KeepAliveHTTPClient`, the per-request
  ``_PooledHTTPConnection`` (simple_httpclient's ``_HTTPConnection`` with its
  connect and end-of-request steps redirected to the pool) and
  ``_StreamPool``, which applies the pool's answers to real IOStreams,
  futures and IOLoop timers.

A connection goes back to the pool only when `.HTTP1Connection.read_response`
says the stream may carry another exchange (so not after ``Connection:
close``, an HTTP/1.0 response without keep-alive, a body delimited by the
close, or any error), the response was read whole, the request did not ask
to close, and the connection has not served its maximum number of requests.
"""

from __future__ import annotations

import collections
import datetime
import functools
import itertools
import re
import socket
import ssl
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from io import BytesIO
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    Generic,
    Hashable,
    List,
    NamedTuple,
    Optional,
    Protocol,
    Tuple,
    Type,
    TypeVar,
    Union,
    cast,
)

import tornado.simple_httpclient
from tornado import gen, httputil
from tornado.concurrent import Future, future_add_done_callback
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.log import gen_log
from tornado.netutil import Resolver
from tornado.simple_httpclient import HTTPStreamClosedError, HTTPTimeoutError
from tornado.tcpclient import TCPClient

from . import _abnf, _compat
from ._compat import error_text
from ._errors import ProtocolError
from ._framing import METHODS_WITH_CONTENT
from ._parse import Data, EndOfMessage, Head, MessageReader, ReadUntilClose, Want
from ._serialize import encode_head
from .client import SimpleAsyncHTTPClient, connection_params
from .connection import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_HEADER_SIZE,
    MAX_INTERIM_RESPONSES,
    YIELD_THRESHOLD,
    GzipBody,
    HeadTimer,
    HTTP1Connection,
    HTTP1ConnectionParameters,
    head_fields,
    read_for,
    set_nodelay,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "ConnectionPool",
    "Grant",
    "KeepAliveHTTPClient",
    "KeepAliveHint",
    "PoolActions",
    "PoolKey",
    "PoolLimits",
    "PoolStats",
    "idle_timeout_for",
    "is_connection_lost",
    "may_retry",
    "may_reuse",
    "parse_keep_alive",
    "pool_key",
    "request_asks_to_close",
]

# How long an idle connection stays in the pool, in seconds.  Servers close
# idle connections after anything from 5 s (Apache) to an hour (Tornado);
# the shorter we keep them, the rarer the race in which the server closes a
# connection just as we send a request on it.
DEFAULT_IDLE_TIMEOUT = 15.0

# RFC 9110 9.2.2: PUT, DELETE and the safe methods (9.2.1).  Method names
# are case-sensitive (9.1), so "get" is not among them.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

C = TypeVar("C")  # a pooled connection
W = TypeVar("W", bound=Hashable)  # a request waiting for one


# -- the rules, as pure functions --------------------------------------------------


class PoolKey(NamedTuple):
    """What must match for a connection to be reused: where it goes and how.

    ``tls`` is None for plain HTTP; otherwise the `ssl.SSLContext` itself
    (compared by identity) or a frozen copy of an ``ssl_options`` dict.
    """

    scheme: str
    host: str
    port: int
    tls: Hashable
    address_family: int
    source_ip: Optional[str]
    source_port: Optional[int]


def _freeze(value: Any) -> Hashable:
    if isinstance(value, dict):
        return tuple(sorted((str(name), _freeze(item)) for name, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return cast(Hashable, value)


def pool_key(
    host: str,
    port: int,
    ssl_options: Union[None, Dict[str, Any], ssl.SSLContext] = None,
    address_family: int = socket.AF_UNSPEC,
    source_ip: Optional[str] = None,
    source_port: Optional[int] = None,
) -> PoolKey:
    """The pool key for a connection `.TCPClient.connect` would open with these arguments."""
    tls: Hashable
    if ssl_options is None:
        tls = None
    elif isinstance(ssl_options, ssl.SSLContext):
        tls = ssl_options
    else:
        tls = ("options", _freeze(ssl_options))
    return PoolKey(
        "http" if ssl_options is None else "https",
        host,
        port,
        tls,
        int(address_family),
        source_ip,
        source_port,
    )


class KeepAliveHint(NamedTuple):
    """The parameters of a ``Keep-Alive`` response header (RFC 2068 19.7.1.1)."""

    timeout: Optional[int]
    max: Optional[int]


def parse_keep_alive(value: Optional[str]) -> KeepAliveHint:
    """Parse ``Keep-Alive: timeout=5, max=100``; unknown or malformed parts are ignored.

    The header is not in RFC 9110, but Apache, nginx and Node send it, and
    ``timeout`` tells us when the server will close an idle connection.
    """
    timeout: Optional[int] = None
    maximum: Optional[int] = None
    for part in (value or "").split(","):
        name, _, argument = part.partition("=")
        name = name.strip().lower()
        argument = argument.strip().strip('"')
        if not _abnf.digits.fullmatch(argument):
            continue
        if name == "timeout":
            timeout = int(argument)
        elif name == "max":
            maximum = int(argument)
    return KeepAliveHint(timeout, maximum)


def idle_timeout_for(configured: float, hint: KeepAliveHint) -> float:
    """How long to keep a connection idle, given the server's ``Keep-Alive`` hint.

    We give the connection up a little before the server's deadline (a
    second, or half of a short timeout), so a request is not sent just as
    the server closes.
    """
    if hint.timeout is None:
        return configured
    return min(configured, max(hint.timeout - 1.0, hint.timeout / 2.0))


def request_asks_to_close(headers: httputil.HTTPHeaders) -> bool:
    """Whether the request's ``Connection`` field has the ``close`` option (RFC 9112 9.6)."""
    return any(
        token.strip().lower() == "close"
        for value in headers.get_list("Connection")
        for token in value.split(",")
    )


def may_reuse(
    *,
    response_complete: bool,
    request_asked_close: bool,
    requests_served: int,
    max_requests: Optional[int],
    server_max: Optional[int] = None,
) -> bool:
    """Whether a connection may go back to the pool after an exchange.

    :arg response_complete: the response was read whole and the connection
        said the stream may carry another exchange (`.read_response`
        resolved to True: not ``Connection: close``, not HTTP/1.0 without
        keep-alive, not a body ended by the close, no error, no timeout, not
        cancelled).
    :arg request_asked_close: our request said ``Connection: close``.
    :arg requests_served: exchanges this connection has carried, this one included.
    :arg max_requests: our limit per connection (None: no limit).
    :arg server_max: the server's ``Keep-Alive: max=``, the number of further
        requests it will take on this connection.
    """
    if not response_complete or request_asked_close:
        return False
    if max_requests is not None and requests_served >= max_requests:
        return False
    return server_max is None or server_max > 0


def is_connection_lost(error: BaseException) -> bool:
    """Whether ``error`` says the connection went away (as opposed to a timeout,
    a malformed response or an error of the application)."""
    return isinstance(
        error,
        (
            StreamClosedError,
            HTTPStreamClosedError,
            ConnectionError,  # reset, aborted, broken pipe
            ssl.SSLEOFError,
            ssl.SSLZeroReturnError,
        ),
    )


def may_retry(
    *,
    method: str,
    body_replayable: bool,
    connection_reused: bool,
    response_started: bool,
    already_retried: bool,
    error: BaseException,
) -> bool:
    """Whether a failed request may be sent again, once, on a fresh connection.

    Only the symptom of a stale connection qualifies: a connection taken
    from the pool (the server may have closed it while it was idle) that was
    lost before any byte of the response arrived.  Even then the request
    might have reached the server, so only idempotent methods are resent
    (RFC 9110 9.2.2: "a client ... can automatically retry a request if it
    knows the request is idempotent"); a POST is never resent silently, and
    neither is a request whose body came from a ``body_producer``, which
    cannot be replayed.
    """
    return (
        connection_reused
        and not response_started
        and not already_retried
        and body_replayable
        and method in IDEMPOTENT_METHODS
        and is_connection_lost(error)
    )


# -- the pool: a state machine over connections, keys and waiting requests -----------


@dataclass(frozen=True)
class PoolLimits:
    """The pool's limits.

    :arg max_connections: open connections in total (idle ones included).
    :arg max_connections_per_host: open connections per `PoolKey`.
    :arg idle_timeout: seconds an unused connection is kept.
    :arg max_requests_per_connection: exchanges one connection may carry
        (None: no limit).
    """

    max_connections: int = 10
    max_connections_per_host: int = 10
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_requests_per_connection: Optional[int] = None

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_connections_per_host < 1:
            raise ValueError("connection limits must be at least 1")
        if self.idle_timeout < 0:
            raise ValueError("idle_timeout must not be negative")
        if self.max_requests_per_connection is not None and self.max_requests_per_connection < 1:
            raise ValueError("max_requests_per_connection must be at least 1 (or None)")


@dataclass(frozen=True)
class Grant(Generic[C]):
    """A waiting request's turn: reuse ``connection``, or (if None) open a new one.

    For a new connection a slot has been reserved; the holder must give it
    back with `ConnectionPool.release` or `ConnectionPool.discard`.
    """

    key: Hashable
    connection: Optional[C]


@dataclass
class PoolActions(Generic[C, W]):
    """What the caller must do after a `ConnectionPool` call."""

    grants: List[Tuple[W, Grant[C]]] = field(default_factory=list)
    to_close: List[C] = field(default_factory=list)


@dataclass
class _Idle(Generic[C]):
    connection: C
    key: Hashable
    expires_at: float
    order: int  # release order, for least-recently-used eviction


class ConnectionPool(Generic[C, W]):
    """Connections per key, their limits and the requests waiting for one.

    Pure bookkeeping: it never touches a connection itself and has no clock;
    every call that may change something returns `PoolActions`.  A request
    calls `checkout` with a waiter token and gets its `Grant` (now, in the
    returned actions, or from a later call's actions, in FIFO order among
    the requests it could serve); it ends with exactly one `release` or
    `discard`.

    Counted as open: idle connections, connections in use and slots
    reserved for connections being opened.  Idle connections are reused
    newest first (the least likely to have been closed by the server) and
    evicted oldest first when a request for another key needs the room.
    """

    def __init__(
        self,
        limits: PoolLimits,
        is_usable: Optional[Callable[[C], bool]] = None,
        is_poolable: Optional[Callable[[C], bool]] = None,
    ) -> None:
        """
        :arg limits: a `PoolLimits`
        :arg is_usable: checked before an idle connection is reused;
            False (closed by the peer, unexpected bytes) means close it instead.
        :arg is_poolable: checked before a released connection is pooled
            (default: ``is_usable``).  A cheaper check will do, since
            ``is_usable`` runs again when the connection is reused.
        """
        self.limits = limits
        self._is_usable: Callable[[C], bool] = is_usable or (lambda connection: True)
        self._is_poolable: Callable[[C], bool] = is_poolable or self._is_usable
        self._idle: Dict[Hashable, List[_Idle[C]]] = {}
        self._open: Dict[Hashable, int] = {}
        self._total = 0
        self._waiters: collections.OrderedDict[W, Tuple[Hashable, bool]] = collections.OrderedDict()
        self._release_order = itertools.count()
        self.closed = False

    # -- requests -----------------------------------------------------------------

    def checkout(
        self, key: Hashable, now: float, waiter: W, fresh: bool = False
    ) -> PoolActions[C, W]:
        """Ask for a connection for ``key``; ``fresh`` refuses idle ones.

        ``waiter`` appears in the grants of these actions or of a later
        call's, unless it is `cancel`\\ ed first.
        """
        actions: PoolActions[C, W] = PoolActions()
        self._expire(now, actions)
        if not self._waiters:
            # Nobody is ahead in the queue: the common case, without it.
            grant = self._try_grant(key, fresh, actions)
            if grant is not None:
                actions.grants.append((waiter, grant))
                return actions
        self._waiters[waiter] = (key, fresh)
        self._serve(actions)
        return actions

    def take_idle(self, key: Hashable, now: float) -> Tuple[Optional[C], PoolActions[C, W]]:
        """An idle connection for ``key`` if one can be had at once, else None.

        Never reserves a slot for a new connection, and never overtakes a
        waiting request: with anyone waiting the answer is None.  A
        connection returned is in use, to be given back with `release` like
        any granted one.
        """
        actions: PoolActions[C, W] = PoolActions()
        self._expire(now, actions)
        if self._waiters:
            return None, actions
        return self._pop_idle(key, actions), actions

    def cancel(self, waiter: W) -> bool:
        """Stop waiting.  False if ``waiter`` has already been granted (or is unknown)."""
        return self._waiters.pop(waiter, None) is not None

    def release(
        self, key: Hashable, connection: C, reusable: bool, now: float, idle_timeout: float
    ) -> PoolActions[C, W]:
        """Give back a connection granted for ``key``: to the pool if ``reusable``."""
        actions: PoolActions[C, W] = PoolActions()
        self._expire(now, actions)
        if reusable and not self.closed and idle_timeout > 0 and self._is_poolable(connection):
            idle = _Idle(connection, key, now + idle_timeout, next(self._release_order))
            self._idle.setdefault(key, []).append(idle)
        else:
            self._forget(key)
            actions.to_close.append(connection)
        self._serve(actions)
        return actions

    def discard(self, key: Hashable) -> PoolActions[C, W]:
        """Give back a grant whose connection is gone (or was never opened)."""
        actions: PoolActions[C, W] = PoolActions()
        self._forget(key)
        self._serve(actions)
        return actions

    # -- the idle connections ------------------------------------------------------

    def expire(self, now: float) -> PoolActions[C, W]:
        """Close the idle connections whose time is up."""
        actions: PoolActions[C, W] = PoolActions()
        self._expire(now, actions)
        self._serve(actions)
        return actions

    def next_expiry(self) -> Optional[float]:
        """When the next idle connection expires (None: nothing is idle)."""
        return min(
            (entry.expires_at for entries in self._idle.values() for entry in entries),
            default=None,
        )

    def close(self) -> PoolActions[C, W]:
        """Close every idle connection; connections released from now on are closed."""
        self.closed = True
        actions: PoolActions[C, W] = PoolActions()
        for entries in list(self._idle.values()):
            for entry in list(entries):
                self._drop_idle(entry, actions)
        self._serve(actions)
        return actions

    # -- counts ----------------------------------------------------------------------

    def open_count(self, key: Optional[Hashable] = None) -> int:
        """Open connections (idle, in use or being opened), for ``key`` or in total."""
        return self._total if key is None else self._open.get(key, 0)

    def idle_count(self, key: Optional[Hashable] = None) -> int:
        """Idle connections, for ``key`` or in total."""
        if key is not None:
            return len(self._idle.get(key, ()))
        return sum(len(entries) for entries in self._idle.values())

    @property
    def waiting(self) -> int:
        """Requests waiting for a connection."""
        return len(self._waiters)

    # -- internals ---------------------------------------------------------------------

    def _serve(self, actions: PoolActions[C, W]) -> None:
        # FIFO, but a request that cannot be served yet (its host is at its
        # limit) does not hold up requests for other hosts behind it.
        if not self._waiters:
            return
        for waiter, (key, fresh) in list(self._waiters.items()):
            grant = self._try_grant(key, fresh, actions)
            if grant is not None:
                del self._waiters[waiter]
                actions.grants.append((waiter, grant))

    def _try_grant(
        self, key: Hashable, fresh: bool, actions: PoolActions[C, W]
    ) -> Optional[Grant[C]]:
        if not fresh:
            connection = self._pop_idle(key, actions)
            if connection is not None:
                return Grant(key, connection)
        if self._open.get(key, 0) >= self.limits.max_connections_per_host:
            # Only an idle connection of this very key can make room (a
            # request for a fresh connection replaces one).
            victim = self._oldest_idle(key)
            if victim is None:
                return None
            self._drop_idle(victim, actions)
        elif self._total >= self.limits.max_connections:
            victim = self._oldest_idle(None)
            if victim is None:
                return None
            self._drop_idle(victim, actions)
        self._open[key] = self._open.get(key, 0) + 1
        self._total += 1
        return Grant(key, None)

    def _pop_idle(self, key: Hashable, actions: PoolActions[C, W]) -> Optional[C]:
        # The newest usable idle connection for key; unusable ones are closed.
        entries = self._idle.get(key)
        while entries:
            entry = entries.pop()
            if not entries:
                del self._idle[key]
            if self._is_usable(entry.connection):
                return entry.connection
            self._forget(key)
            actions.to_close.append(entry.connection)
        return None

    def _oldest_idle(self, key: Optional[Hashable]) -> Optional[_Idle[C]]:
        if key is not None:
            candidates = self._idle.get(key, [])
        else:
            candidates = [entry for entries in self._idle.values() for entry in entries]
        return min(candidates, key=lambda entry: entry.order, default=None)

    def _drop_idle(self, entry: _Idle[C], actions: PoolActions[C, W]) -> None:
        entries = self._idle[entry.key]
        entries.remove(entry)
        if not entries:
            del self._idle[entry.key]
        self._forget(entry.key)
        actions.to_close.append(entry.connection)

    def _expire(self, now: float, actions: PoolActions[C, W]) -> None:
        for entries in list(self._idle.values()):
            for entry in [entry for entry in entries if entry.expires_at <= now]:
                self._drop_idle(entry, actions)

    def _forget(self, key: Hashable) -> None:
        count = self._open.get(key, 0)
        if count <= 0:
            raise RuntimeError("released more connections than were granted for %r" % (key,))
        if count == 1:
            del self._open[key]
        else:
            self._open[key] = count - 1
        self._total -= 1


# -- the adapter: real streams, futures and timers --------------------------------------


class PoolStats(NamedTuple):
    """Counters of a `KeepAliveHTTPClient`'s pool (see `KeepAliveHTTPClient.pool_stats`)."""

    connections_opened: int
    connections_reused: int  # requests sent on a connection taken from the pool
    retries: int  # requests resent after a stale pooled connection failed
    open: int
    idle: int
    waiting: int


class _PooledStream:
    """An IOStream and what the pool knows of it."""

    __slots__ = ("stream", "key", "requests_served", "_deadline")

    def __init__(self, stream: IOStream, key: PoolKey) -> None:
        self.stream = stream
        self.key = key
        self.requests_served = 0
        self._deadline: Optional[HeadTimer] = None

    def deadline(self) -> HeadTimer:
        """The request timeout of the exchange on this stream: one IOLoop timer
        for the stream's life, not one per request (see `.HeadTimer`)."""
        if self._deadline is None:
            self._deadline = HeadTimer(self.stream.io_loop)
        return self._deadline

    def close(self) -> None:
        """Close the stream; its timer with it."""
        if self._deadline is not None:
            self._deadline.cancel()
        self.stream.close()


def _unread_bytes(stream: IOStream) -> int:
    # Bytes the stream has received but nobody has read: a response (or part
    # of one) nobody asked for.  IOStream has no public accessor for this;
    # the attribute has existed since Tornado 4.
    return int(getattr(stream, "_read_buffer_size", 0))


def _peer_has_spoken(sock: Optional[socket.socket]) -> bool:
    """Whether the peer closed, reset, or sent bytes we did not ask for.

    One non-blocking ``recv(MSG_PEEK)``, which consumes nothing.  On a TLS
    socket it is the raw socket that is peeked (`ssl.SSLSocket.recv` refuses
    flags): any record arriving on an idle connection -- a close_notify,
    most likely -- makes it unusable too.
    """
    if sock is None:
        return True
    try:
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        socket.socket.recv(sock, 1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False  # nothing to read: the connection is idle and open
    except OSError:
        return True  # reset, or otherwise broken
    return True  # b"" is the peer's FIN; anything else was not asked for


def _stream_is_poolable(pooled: _PooledStream) -> bool:
    # When a stream is given back: what it already knows (closed, or bytes
    # nobody asked for).  The system call waits for its reuse.
    stream = pooled.stream
    return not stream.closed() and _unread_bytes(stream) == 0


def _stream_is_usable(pooled: _PooledStream) -> bool:
    # An idle connection that the server closed, or on which it sent
    # something (a 408, say) before we asked, cannot carry a new exchange.
    # Checked at the moment of reuse: a close that arrived since the stream
    # was pooled is seen even if the IOLoop has not run in between.
    return _stream_is_poolable(pooled) and not _peer_has_spoken(pooled.stream.socket)


class _StreamPool:
    """Applies a `ConnectionPool`'s decisions to IOStreams on one IOLoop."""

    def __init__(self, tcp_client: TCPClient, limits: PoolLimits) -> None:
        self.tcp_client = tcp_client
        self.limits = limits
        self.io_loop = IOLoop.current()
        self.pool: ConnectionPool[_PooledStream, Future[Grant[_PooledStream]]] = ConnectionPool(
            limits, is_usable=_stream_is_usable, is_poolable=_stream_is_poolable
        )
        # SSLContexts built for requests' TLS settings, shared so that equal
        # settings make equal pool keys (simple_httpclient builds a new
        # context per request whenever the defaults are not used).
        self.ssl_contexts: Dict[Hashable, ssl.SSLContext] = {}
        self.connections_opened = 0
        self.connections_reused = 0
        self.retries = 0
        self._timer: Optional[object] = None
        self._timer_deadline = 0.0

    async def connect(
        self,
        connector: _Connector,
        key: PoolKey,
        timeout: Optional[float],
        open_stream: Callable[[Optional[float]], Awaitable[IOStream]],
    ) -> Tuple[_PooledStream, bool]:
        """A stream for ``key`` and whether it was reused; waits while the limits say so.

        ``timeout`` bounds the wait and the connect together, as
        `.TCPClient.connect`'s does.
        """
        deadline = None if timeout is None else self.io_loop.time() + timeout
        grant = await self._acquire(connector, key, deadline)
        if grant.connection is not None:
            self.connections_reused += 1
            return grant.connection, True
        try:
            stream = await open_stream(
                None if deadline is None else max(deadline - self.io_loop.time(), 0.0)
            )
        except BaseException:
            self._apply(self.pool.discard(key))
            raise
        # Requests are written whole; Nagle would only delay them.  Set once
        # per connection (simple_httpclient does it per request).
        set_nodelay(stream, True)
        self.connections_opened += 1
        return _PooledStream(stream, key), False

    def take_idle(self, key: PoolKey) -> Optional[_PooledStream]:
        """An idle pooled stream for ``key``, now, or None (see `ConnectionPool.take_idle`)."""
        pooled, actions = self.pool.take_idle(key, self.io_loop.time())
        self._apply(actions)
        if pooled is not None:
            self.connections_reused += 1
            pooled.requests_served += 1
        return pooled

    def release_after_response(
        self,
        pooled: _PooledStream,
        *,
        response_complete: bool,
        request_headers: httputil.HTTPHeaders,
        response_headers: httputil.HTTPHeaders,
    ) -> bool:
        """Give back a stream whose exchange has ended; True if it went back to the pool.

        ``response_complete``: the response was read whole and the
        connection may carry another exchange (`.HTTP1Connection.read_response`'s
        result).  The rest of the decision is `may_reuse`'s, and the idle
        timeout follows the server's ``Keep-Alive`` hint.
        """
        hint = parse_keep_alive(response_headers.get("Keep-Alive"))
        reusable = may_reuse(
            response_complete=response_complete,
            request_asked_close=request_asks_to_close(request_headers),
            requests_served=pooled.requests_served,
            max_requests=self.limits.max_requests_per_connection,
            server_max=hint.max,
        )
        self.release(pooled, reusable, idle_timeout_for(self.limits.idle_timeout, hint))
        return reusable

    async def _acquire(
        self, connector: _Connector, key: PoolKey, deadline: Optional[float]
    ) -> Grant[_PooledStream]:
        waiter: Future[Grant[_PooledStream]] = Future()
        self._apply(self.pool.checkout(key, self.io_loop.time(), waiter, connector.fresh))
        if waiter.done():
            return waiter.result()
        connector.waiter = waiter
        try:
            if deadline is None:
                return await waiter
            granted: Grant[_PooledStream] = await gen.with_timeout(deadline, waiter)
            return granted
        except _compat.TIMEOUT_ERRORS:
            if self.pool.cancel(waiter):
                raise TimeoutError("Timeout while waiting for a pooled connection") from None
            return waiter.result()  # granted in the same instant
        except BaseException:
            # Abandoned or cancelled while waiting: a turn that came all
            # the same goes back.
            if (
                not self.pool.cancel(waiter)
                and waiter.done()
                and not waiter.cancelled()
                and waiter.exception() is None
            ):
                self._give_back(waiter.result())
            raise
        finally:
            connector.waiter = None

    def abandon(self, connector: _Connector) -> None:
        """The request has ended (a timeout, say) while waiting for a connection."""
        waiter = connector.waiter
        if waiter is not None and self.pool.cancel(waiter):
            # Nobody handles this: simple_httpclient ignores a stream
            # error once the request has its response.
            waiter.set_exception(StreamClosedError())

    def release(self, pooled: _PooledStream, reusable: bool, idle_timeout: float) -> None:
        """Return a granted stream: to the pool if ``reusable``, else close it."""
        if not reusable:
            pooled.close()
        actions = self.pool.release(pooled.key, pooled, reusable, self.io_loop.time(), idle_timeout)
        self._apply(actions)
        if reusable:
            self._schedule_expiry()

    def close(self) -> None:
        if self._timer is not None:
            self.io_loop.remove_timeout(self._timer)
            self._timer = None
        self._apply(self.pool.close())

    def stats(self) -> PoolStats:
        return PoolStats(
            self.connections_opened,
            self.connections_reused,
            self.retries,
            self.pool.open_count(),
            self.pool.idle_count(),
            self.pool.waiting,
        )

    def _give_back(self, grant: Grant[_PooledStream]) -> None:
        if grant.connection is None:
            self._apply(self.pool.discard(grant.key))
        else:
            self.release(grant.connection, True, self.limits.idle_timeout)

    def _apply(self, actions: PoolActions[_PooledStream, Future[Grant[_PooledStream]]]) -> None:
        for pooled in actions.to_close:
            pooled.stream.set_close_callback(None)
            pooled.close()
        for waiter, grant in actions.grants:
            if waiter.done():  # cancelled: nobody will use this turn
                self._give_back(grant)
            else:
                waiter.set_result(grant)

    def _schedule_expiry(self) -> None:
        deadline = self.pool.next_expiry()
        if deadline is None:
            return
        if self._timer is not None:
            if self._timer_deadline <= deadline:
                return
            self.io_loop.remove_timeout(self._timer)
        self._timer_deadline = deadline
        self._timer = self.io_loop.call_at(deadline, self._on_expiry_timer)

    def _on_expiry_timer(self) -> None:
        self._timer = None
        self._apply(self.pool.expire(self.io_loop.time()))
        self._schedule_expiry()


def _unverified_client_context(
    client_cert: Optional[str], client_key: Optional[str]
) -> ssl.SSLContext:
    """What simple_httpclient builds for ``validate_cert=False``, without
    loading the system's CA store (tens of milliseconds), which a context
    that verifies nothing never consults."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        context.load_cert_chain(client_cert, client_key)
    if hasattr(ssl, "OP_NO_COMPRESSION"):
        context.options |= ssl.OP_NO_COMPRESSION
    return context


def _tls_settings(request: HTTPRequest) -> Hashable:
    # What a request's TLS context is built from when it has no ssl_options.
    return (
        bool(request.validate_cert),
        request.ca_certs,
        request.client_cert,
        request.client_key,
    )


class _Connector:
    """Stands in for the `.TCPClient` of one request: connects through the pool."""

    def __init__(self, pool: _StreamPool, fresh: bool) -> None:
        self.pool = pool
        self.fresh = fresh
        self.lease: Optional[_PooledStream] = None
        self.reused = False
        # While waiting for the pool: the future of that wait.
        self.waiter: Optional[Future[Grant[_PooledStream]]] = None

    async def connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily = socket.AF_UNSPEC,
        ssl_options: Union[None, Dict[str, Any], ssl.SSLContext] = None,
        max_buffer_size: Optional[int] = None,
        source_ip: Optional[str] = None,
        source_port: Optional[int] = None,
        timeout: Union[None, float, datetime.timedelta] = None,
    ) -> IOStream:
        """`.TCPClient.connect`, answered from the pool when it can be."""
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        key = pool_key(host, port, ssl_options, af, source_ip, source_port)
        tcp_client = self.pool.tcp_client

        def open_stream(remaining: Optional[float]) -> Awaitable[IOStream]:
            return tcp_client.connect(
                host,
                port,
                af=af,
                ssl_options=ssl_options,
                max_buffer_size=max_buffer_size,
                source_ip=source_ip,
                source_port=source_port,
                timeout=remaining,
            )

        pooled, reused = await self.pool.connect(self, key, timeout, open_stream)
        pooled.requests_served += 1
        self.lease = pooled
        self.reused = reused
        return pooled.stream

    def take_lease(self) -> Optional[_PooledStream]:
        lease, self.lease = self.lease, None
        return lease

    def abandon(self) -> None:
        """Stop waiting for a connection, if waiting."""
        self.pool.abandon(self)


class _ExchangeConnection(HTTP1Connection):
    """One exchange on a pooled stream; reports how the response ended.

    The report (``on_response_read(reusable)``) runs before whoever awaits
    `read_response` resumes, so the stream is back in the pool before the
    response (or a redirect's next request) is even delivered.
    """

    def __init__(
        self,
        stream: IOStream,
        params: HTTP1ConnectionParameters,
        context: Optional[object],
        on_response_read: Callable[[bool], None],
    ) -> None:
        super().__init__(stream, True, params, context)
        self._on_response_read = on_response_read
        # True once the whole request has been handed to the stream.
        self.request_finished = False

    def finish(self) -> None:
        self.request_finished = True
        super().finish()

    def read_response(  # type: ignore[override]
        self, delegate: httputil.HTTPMessageDelegate
    ) -> Awaitable[bool]:
        # A coroutine, as Tornado's own HTTP1Connection returns: the caller
        # (simple_httpclient's _HTTPConnection) awaits it at once, so the
        # read runs in the request's task instead of a Task of its own.
        return self._read_and_report(delegate)

    async def _read_and_report(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        try:
            reusable = await self._read_message_as_coroutine(delegate)
        except BaseException:
            self._on_response_read(False)
            raise
        self._on_response_read(reusable)
        return reusable


class _PooledHTTPConnection(tornado.simple_httpclient._HTTPConnection):
    """simple_httpclient's per-request logic, on a pooled connection.

    Four steps differ from Tornado's: connecting asks the pool (through a
    ``_Connector`` given as the TCP client); the request keeps the
    connection alive; the end of the response returns the stream to the
    pool instead of closing it; and a request that failed on a stale pooled
    connection may be sent again once (see `may_retry`).
    """

    def __init__(
        self,
        client: Optional[tornado.simple_httpclient.SimpleAsyncHTTPClient],
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        max_buffer_size: int,
        tcp_client: TCPClient,
        max_header_size: int,
        max_body_size: int,
        retry_of: Optional[_Attempt] = None,
        finish_from: Optional[_QuickExchange] = None,
    ) -> None:
        assert isinstance(client, KeepAliveHTTPClient)
        # Everything run() uses is set before the base class starts it.
        self._finish_from = finish_from
        self._pool = client._stream_pool
        self._connector = _Connector(self._pool, fresh=retry_of is not None)
        self._is_retry = retry_of is not None
        self._inherited_start = (
            None if retry_of is None else (retry_of.start_time, retry_of.start_wall_time)
        )
        self._exchange: Optional[_ExchangeConnection] = None
        self._response_started = False
        self._finish_deferred = False
        super().__init__(
            client,
            request,
            release_callback,
            final_callback,
            max_buffer_size,
            cast(TCPClient, self._connector),
            max_header_size,
            max_body_size,
        )

    def run(self) -> Future[None]:  # type: ignore[override]
        """simple_httpclient's run(); the stream it still holds when that ends
        (whichever way) is closed, not pooled.

        Not a coroutine of its own: on Tornado 5.1 run() is a gen.coroutine,
        and awaiting it from a Task would leave that Task one step short
        whenever the IOLoop closes right after the response is delivered
        (as the synchronous HTTPClient's does), which asyncio logs.
        """
        if self._finish_from is not None:
            self._finish_quick_exchange(self._finish_from)
            finished: Future[None] = Future()
            finished.set_result(None)
            return finished
        if self._inherited_start is not None:
            # A retry is the same request: its timeouts run from the first try.
            self.start_time, self.start_wall_time = self._inherited_start
        if "Connection" not in self.request.headers:
            # simple_httpclient would add "Connection: close".  HTTP/1.1
            # keeps alive by default; the explicit token also asks an
            # HTTP/1.0 server to.
            self.request.headers["Connection"] = "keep-alive"
        running: Future[None] = gen.convert_yielded(super().run())
        future_add_done_callback(running, lambda _: self._drop_lease())
        return running

    def _finish_quick_exchange(self, quick: _QuickExchange) -> None:
        # A response the quick exchange has read (a redirect, usually),
        # finished by simple_httpclient's own code: it follows the redirect
        # or delivers the response, as it would have on its own path.
        self.start_time, self.start_wall_time = quick.start_time, quick.start_wall_time
        self.code, self.reason, self.headers = quick.code, quick.reason, quick.headers
        try:
            # Through its own data_received: it discards a body it will not
            # deliver, and keeps one in its own container (a list before
            # Tornado 6.6, a bytearray since).
            body = quick.body()
            if body:
                self.data_received(body)
            self.finish()
        except Exception:
            if not self._handle_exception(*sys.exc_info()):
                raise

    def _get_ssl_options(self, scheme: str) -> Union[None, Dict[str, Any], ssl.SSLContext]:
        request = self.request
        if scheme != "https" or request.ssl_options is not None:
            return super()._get_ssl_options(scheme)
        settings = _tls_settings(request)
        context = self._pool.ssl_contexts.get(settings)
        if context is None:
            if not request.validate_cert and request.ca_certs is None:
                context = _unverified_client_context(request.client_cert, request.client_key)
            else:
                options = super()._get_ssl_options(scheme)
                assert isinstance(options, ssl.SSLContext)
                context = options
            self._pool.ssl_contexts[settings] = context
        return context

    def _create_connection(self, stream: IOStream) -> Any:
        # Any: the base class declares Tornado's own HTTP1Connection.
        # (TCP_NODELAY was set when the pool opened the stream.)
        self._exchange = _ExchangeConnection(
            stream,
            connection_params(
                max_header_size=self.max_header_size,
                max_body_size=self.max_body_size,
                decompress=bool(self.request.decompress_response),
                keep_alive=True,
            ),
            self._sockaddr,
            self._on_response_read,
        )
        return self._exchange

    async def headers_received(
        self,
        first_line: Union[httputil.ResponseStartLine, httputil.RequestStartLine],
        headers: httputil.HTTPHeaders,
    ) -> None:
        self._response_started = True
        # A coroutine from Tornado 6.0 on; a plain method in 5.1.
        result: Any = super().headers_received(first_line, headers)
        if result is not None:
            await result

    def finish(self) -> None:
        exchange = self._exchange
        if self._connector.lease is not None and exchange is not None and exchange.request_finished:
            # Wait for read_response's verdict: the stream goes back to the
            # pool (or is closed) first, then the response is delivered or
            # the redirect followed, which may then reuse this very stream.
            self._remove_timeout()
            self._finish_deferred = True
            return
        # The response came before our request was complete (an early
        # error, or Expect: 100-continue refused): the stream is out of
        # step, so it is closed, as Tornado always does.
        super().finish()

    def _on_response_read(self, response_complete: bool) -> None:
        # Runs at the end of read_response, in the request's task: an error
        # here reaches run() as one from the read itself would.
        deferred, self._finish_deferred = self._finish_deferred, False
        lease = self._connector.lease
        if deferred and lease is not None and self.headers is not None:
            self._connector.take_lease()
            if (
                self._pool.release_after_response(
                    lease,
                    response_complete=response_complete,
                    request_headers=self.request.headers,
                    response_headers=self.headers,
                )
                and getattr(self, "stream", None) is lease.stream
            ):
                # The stream is not ours any more: nothing here may close it.
                del self.stream
        else:
            self._drop_lease()
        if deferred and self.final_callback is not None:
            super().finish()

    def _on_end_request(self) -> None:
        # Tornado closes the stream here; ours is already back in the pool
        # (or closed) unless the response ended early.
        self._drop_lease()

    def _drop_lease(self) -> None:
        # The exchange ended some other way than a whole response: the stream
        # (if still held) is closed, not pooled.
        lease = self._connector.take_lease()
        if lease is not None:
            self._pool.release(lease, False, 0.0)

    def on_connection_close(self) -> None:
        # HTTP1Connection reports a close this way only once the response
        # has begun (a head, or bytes it could not parse): too late to
        # resend the request.
        self._response_started = True
        super().on_connection_close()

    def _handle_exception(
        self,
        typ: Optional[Type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool:
        if value is not None and self._maybe_retry(value):
            return True
        # Before 6.6, simple_httpclient times the connect out with a timer of
        # its own, which ends the request while it may still be queued for
        # a connection.
        self._connector.abandon()
        handled = super()._handle_exception(typ, value, tb)
        self._drop_lease()
        return handled

    def _maybe_retry(self, error: BaseException) -> bool:
        if self.final_callback is None:
            return False
        stream = getattr(self, "stream", None)
        response_started = self._response_started or (
            stream is not None and _unread_bytes(stream) > 0
        )
        if not may_retry(
            method=self.request.method,
            body_replayable=self.request.body_producer is None,
            connection_reused=self._connector.reused,
            response_started=response_started,
            already_retried=self._is_retry,
            error=error,
        ):
            return False
        gen_log.debug("Pooled connection lost before the response (%s); retrying", error)
        self._pool.retries += 1
        final_callback, release_callback = self.final_callback, self.release_callback
        # This attempt is over: whatever it reports from now on is ignored.
        self.final_callback = None  # type: ignore[assignment]
        self.release_callback = None  # type: ignore[assignment]
        self._remove_timeout()
        self._drop_lease()
        assert isinstance(self.client, KeepAliveHTTPClient)
        self.client._start_pooled(self.request, release_callback, final_callback, retry_of=self)
        return True


class _Attempt(Protocol):
    """An earlier attempt at a request, whose timeouts a retry inherits."""

    start_time: float
    start_wall_time: float


class _Target(NamedTuple):
    """What the quick exchange needs of a request's URL."""

    scheme: str
    host: str  # without the brackets of an IPv6 literal
    port: int
    netloc: str
    path: str  # the request-target: path and query


_IPV6_LITERAL = re.compile(r"^\[.*\]$")
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


@functools.lru_cache(maxsize=256)
def _quick_target(url: str) -> Optional[_Target]:
    """The URL's parts as simple_httpclient's ``run`` derives them.

    None for what the quick exchange leaves to simple_httpclient: another
    scheme, user info in the URL, a malformed port.
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or "@" in parsed.netloc:
        return None
    try:
        host, port = httputil.split_host_and_port(parsed.netloc)
    except ValueError:
        return None
    if port is None:
        port = 443 if parsed.scheme == "https" else 80
    if _IPV6_LITERAL.match(host):
        host = host[1:-1]
    path = (parsed.path or "/") + ("?" + parsed.query if parsed.query else "")
    return _Target(parsed.scheme, host, port, parsed.netloc, path)


# Options that send a request down simple_httpclient's own path when set
# (``is not None``), and those whose truth does (as its run() tests them).
_OPTIONS_FOR_THE_FULL_PATH = (
    "body_producer",
    "streaming_callback",
    "header_callback",
    "auth_username",
)
_FLAGS_FOR_THE_FULL_PATH = (
    "expect_100_continue",
    "network_interface",
    "proxy_host",
    "proxy_port",
    "proxy_username",
    "proxy_password",
    "proxy_auth_mode",
)


def _unproxied(request: HTTPRequest) -> Tuple[HTTPRequest, Dict[str, Any]]:
    """The request under simple_httpclient's ``_RequestProxy``, and the client's defaults.

    The proxy's attribute lookups cost a failed lookup and a Python call
    each; `_option` reads an option as the proxy would, from these two.
    """
    raw = getattr(request, "request", request)
    defaults: Optional[Dict[str, Any]] = getattr(request, "defaults", None)
    return raw, defaults or {}


def _option(raw: HTTPRequest, defaults: Dict[str, Any], name: str) -> Any:
    """What ``_RequestProxy`` gives for ``name``: the request's, unless None."""
    value = getattr(raw, name)
    return value if value is not None else defaults.get(name)


def _is_plain_request(raw: HTTPRequest, defaults: Dict[str, Any]) -> bool:
    """Whether the quick exchange does for a request (its `_unproxied` parts)
    all that simple_httpclient would.

    Requests with a body producer, streaming or header callbacks,
    ``Expect: 100-continue``, authentication, a network interface or proxy
    settings (which simple_httpclient refuses), a body framed by the
    caller's own Content-Length or sent chunked, and requests that
    simple_httpclient rejects (an unknown method, a body where none
    belongs) take simple_httpclient's own path.
    """
    for name in _OPTIONS_FOR_THE_FULL_PATH:
        if _option(raw, defaults, name) is not None:
            return False
    for name in _FLAGS_FOR_THE_FULL_PATH:
        if _option(raw, defaults, name):
            return False
    method = raw.method
    body = _option(raw, defaults, "body")
    if body is None and (method in METHODS_WITH_CONTENT or "Content-Length" in raw.headers):
        # A body framed by the caller's Content-Length, or sent chunked.
        return False
    if _option(raw, defaults, "allow_nonstandard_methods"):
        return True
    return method in _SUPPORTED_METHODS and (method in ("POST", "PATCH", "PUT")) == (
        body is not None
    )


_SUPPORTED_METHODS = frozenset(tornado.simple_httpclient._HTTPConnection._SUPPORTED_METHODS)


class _QuickExchange:
    """A plain request on an idle pooled connection, without simple_httpclient's machinery.

    simple_httpclient spends most of a keep-alive request's time on its own
    steps (parsing the URL again, connecting through three coroutines, a
    Task and a close callback per request, a Future per write, delegate
    calls, a callback per response), not on HTTP.  When a request is plain
    (see `_is_plain_request`) and a connection for it is idle in the pool,
    this class does the same job with a few callbacks: the request is
    prepared exactly as ``_HTTPConnection.run`` would (the same header
    fields, in the same order), the response read with the same
    `.MessageReader` as `.HTTP1Connection` uses, without reading past it
    (`.read_for`), and built as ``_HTTPConnection.finish`` would build it.

    What it leaves to simple_httpclient's own code: a redirect to follow
    (handed to a ``_PooledHTTPConnection`` to finish), a stale connection's
    retry (a new ``_PooledHTTPConnection`` on a fresh connection), and every
    request that is not plain or has no idle connection waiting.  Tornado
    6.0 and later (`_compat.QUICK_POOLED_EXCHANGE`).
    """

    @classmethod
    def start(
        cls,
        client: KeepAliveHTTPClient,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
    ) -> bool:
        """Send ``request`` the quick way if it can be; False (and nothing done) if not."""
        if not _compat.QUICK_POOLED_EXCHANGE:
            return False
        raw, defaults = _unproxied(request)
        url = raw.url
        target = _quick_target(url) if isinstance(url, str) else None
        if target is None or not _is_plain_request(raw, defaults):
            return False
        pool = client._stream_pool
        ssl_options: Union[None, Dict[str, Any], ssl.SSLContext] = None
        if target.scheme == "https":
            ssl_options = _option(raw, defaults, "ssl_options")
            if ssl_options is None:
                # Built (and cached) by simple_httpclient's path the first time.
                ssl_options = pool.ssl_contexts.get(_tls_settings(request))
                if ssl_options is None:
                    return False
        allow_ipv6 = _option(raw, defaults, "allow_ipv6")
        family = socket.AF_INET if allow_ipv6 is False else socket.AF_UNSPEC
        pooled = pool.take_idle(pool_key(target.host, target.port, ssl_options, family))
        if pooled is None:
            return False
        cls(
            client, request, raw, defaults, release_callback, final_callback, pooled, target
        )._send()
        return True

    def __init__(
        self,
        client: KeepAliveHTTPClient,
        request: HTTPRequest,
        raw: HTTPRequest,
        defaults: Dict[str, Any],
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        pooled: _PooledStream,
        target: _Target,
    ) -> None:
        """``request`` as simple_httpclient has it, and its `_unproxied` parts."""
        self.io_loop = IOLoop.current()
        self.start_time = self.io_loop.time()
        self.start_wall_time = time.time()
        self.client = client
        self.request = request
        self._raw = raw
        self._defaults = defaults
        self.release_callback: Optional[Callable[[], None]] = release_callback
        self.final_callback: Optional[Callable[[HTTPResponse], None]] = final_callback
        self.pooled: Optional[_PooledStream] = pooled
        self.target = target
        self.code = 0
        self.reason = ""
        self.headers: Optional[httputil.HTTPHeaders] = None
        self._reader: Optional[MessageReader] = None
        self._want: Optional[Want] = None  # the read in progress
        self._interim_responses = 0
        self._keep_alive = False
        self._gzip: Optional[GzipBody] = None
        self._chunks: List[bytes] = []
        self._timeout: Optional[HeadTimer] = None
        request_timeout = self._option("request_timeout")
        if request_timeout:
            self._timeout = pooled.deadline()
            self._timeout.arm(request_timeout, self._on_timeout)

    # -- the request ---------------------------------------------------------------------

    def _prepare_headers(self) -> httputil.HTTPHeaders:
        # What _HTTPConnection.run adds, in its order; "keep-alive" instead
        # of its "close" (see _PooledHTTPConnection.run).
        headers: httputil.HTTPHeaders = self._raw.headers
        if "Connection" not in headers:
            headers["Connection"] = "keep-alive"
        if "Host" not in headers:
            headers["Host"] = self.target.netloc
        user_agent = self._option("user_agent")
        if user_agent:
            headers["User-Agent"] = user_agent
        elif _compat.DEFAULT_CLIENT_USER_AGENT is not None and headers.get("User-Agent") is None:
            headers["User-Agent"] = _compat.DEFAULT_CLIENT_USER_AGENT
        body = self._option("body")
        if body is not None:
            headers["Content-Length"] = str(len(body))
        if self._raw.method == "POST" and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self._option("decompress_response"):
            headers["Accept-Encoding"] = "gzip"
        return headers

    def _option(self, name: str) -> Any:
        return _option(self._raw, self._defaults, name)

    def _send(self) -> None:
        """Write the request and start reading the response, at once (the server
        can start on it); the rest runs from callbacks, so whatever happens
        (a response, an error, a retry) reaches the caller after fetch() has
        returned, as it would from simple_httpclient."""
        pooled = self.pooled
        assert pooled is not None
        try:
            method = self._raw.method
            data = encode_head(
                "%s %s HTTP/1.1" % (method, self.target.path), head_fields(self._prepare_headers())
            )
        except ValueError as error:
            # A field simple_httpclient would refuse to send (CR or LF).
            self.io_loop.add_callback(self._fail, error)
            return
        body = self._option("body")
        if body:
            data += body
        client = self.client
        self._reader = MessageReader(
            is_response=True,
            max_header_size=client.max_header_size or DEFAULT_MAX_HEADER_SIZE,
            chunk_size=DEFAULT_CHUNK_SIZE,
            request_method=method,
        )
        stream = pooled.stream
        try:
            stream.write(data)
            # The response's head: started now, handled from the callback
            # (which a Future runs on the next iteration even if done now).
            want = self._reader.wants()
            read = read_for(stream, want, False)
        except StreamClosedError as error:
            self.io_loop.add_callback(self._on_stream_closed, error)
            return
        self._want = want
        read.add_done_callback(self._on_read)

    # -- the response ----------------------------------------------------------------------

    def _pump(self) -> None:
        """Parse what has been read; start the next read when more is needed."""
        reader = self._reader
        pooled = self.pooled
        if self.final_callback is None or reader is None or pooled is None:
            return  # timed out
        stream = pooled.stream
        work = 0
        try:
            while True:
                event = reader.next_event()
                if event is None:
                    want = reader.wants()
                    read = read_for(stream, want, False)
                    if not read.done():
                        self._want = want
                        read.add_done_callback(self._on_read)
                        return
                    reader.receive_data(self._read_result(read, want))
                elif isinstance(event, Data):
                    work += len(event.data)
                    if self._gzip is None:
                        self._chunks.append(event.data)
                    else:
                        self._chunks.extend(self._gzip.decode(event.data))
                    if work >= YIELD_THRESHOLD:
                        # A long body already buffered: let others run.
                        self.io_loop.add_callback(self._pump)
                        return
                elif isinstance(event, Head):
                    self._on_head(reader, event)
                elif isinstance(event, EndOfMessage):
                    if self._gzip is not None:
                        self._gzip.finish()
                    self._on_response(self._keep_alive and not stream.closed())
                    return
                else:  # ConnectionClosed: the peer closed before a response began
                    raise StreamClosedError()
        except StreamClosedError as error:
            self._on_stream_closed(error)
        except (ProtocolError, httputil.HTTPInputError) as error:
            # As HTTP1Connection reports a malformed response: bytes have
            # arrived, so the request is not retried.
            gen_log.info("Malformed HTTP message from %s: %s", None, error_text(str(error)))
            self._fail(stream.error or HTTPStreamClosedError("Connection closed"))

    @staticmethod
    def _read_result(read: Future[bytes], want: Want) -> bytes:
        try:
            return read.result()
        except StreamClosedError:
            if isinstance(want, ReadUntilClose):
                return b""  # the close ends this body
            raise

    def _on_read(self, read: Future[bytes]) -> None:
        want, self._want = self._want, None
        reader = self._reader
        assert want is not None and reader is not None
        try:
            data = self._read_result(read, want)
        except StreamClosedError as error:
            self._on_stream_closed(error)
            return
        reader.receive_data(data)
        self._pump()

    def _on_head(self, reader: MessageReader, head: Head) -> None:
        _, code, reason = head.start
        assert isinstance(code, int) and isinstance(reason, str)
        if 100 <= code < 200:
            # An interim response (no 100-continue was asked for): skipped,
            # as simple_httpclient overwrites it with the final one.
            self._interim_responses += 1
            if self._interim_responses > MAX_INTERIM_RESPONSES:
                raise ProtocolError("Too many 1xx responses")
            end = reader.next_event()
            assert isinstance(end, EndOfMessage), end
            reader.expect_next_head()
            return
        pooled = self.pooled
        assert pooled is not None
        client = self.client
        max_body_size = client.max_body_size
        if max_body_size is None:
            max_body_size = pooled.stream.max_buffer_size
        reader.max_body_size = max_body_size
        headers = _compat.headers_from_fields(head.fields)
        if self._option("decompress_response"):
            self._gzip = GzipBody.for_headers(headers, DEFAULT_CHUNK_SIZE, max_body_size)
        self.code, self.reason, self.headers = code, reason, headers
        self._keep_alive = head.keep_alive

    def _on_stream_closed(self, error: StreamClosedError) -> None:
        pooled = self.pooled
        if self.final_callback is None or pooled is None:
            return  # timed out already
        if may_retry(
            method=self._raw.method,
            body_replayable=True,
            connection_reused=True,
            response_started=self.headers is not None or _unread_bytes(pooled.stream) > 0,
            already_retried=False,
            error=error,
        ):
            gen_log.debug("Pooled connection lost before the response (%s); retrying", error)
            self._end_lease()
            self.client._stream_pool.retries += 1
            self._hand_over(retry_of=self)
            return
        # As simple_httpclient's _handle_exception reports a closed stream.
        real_error = error.real_error
        self._fail(real_error if real_error is not None else HTTPStreamClosedError("Stream closed"))

    def _on_response(self, complete: bool) -> None:
        pooled = self.pooled
        headers = self.headers
        assert pooled is not None and headers is not None
        self.pooled = None
        self._remove_timeout()
        raw = self._raw
        self.client._stream_pool.release_after_response(
            pooled,
            response_complete=complete,
            request_headers=raw.headers,
            response_headers=headers,
        )
        if self.code in _REDIRECT_CODES and self._option("follow_redirects"):
            self._hand_over(finish_from=self)
            return
        # The first request of a redirect chain, as in simple_httpclient's
        # finish() (set on the HTTPRequest itself).
        original_request = getattr(raw, "original_request", None) or self.request
        self._deliver(
            HTTPResponse(
                original_request,
                self.code,
                reason=self.reason,
                headers=headers,
                request_time=self.io_loop.time() - self.start_time,
                start_time=self.start_wall_time,
                buffer=BytesIO(self.body()),
                effective_url=raw.url,
            )
        )

    def _hand_over(self, **hand_over: Any) -> None:
        # simple_httpclient's own path takes the request on from here.
        release_callback, final_callback = self.release_callback, self.final_callback
        self.release_callback = self.final_callback = None
        assert release_callback is not None and final_callback is not None
        self._remove_timeout()
        self.client._start_pooled(self.request, release_callback, final_callback, **hand_over)

    def _on_timeout(self) -> None:
        self._timeout = None
        if self.final_callback is not None:
            self._fail(HTTPTimeoutError("Timeout during request"))

    def _fail(self, error: BaseException) -> None:
        # As simple_httpclient's _handle_exception: a 599 response, and the
        # connection closed (it may be in the middle of an exchange).
        if self.final_callback is None:
            return
        self._remove_timeout()
        self._end_lease()
        self._deliver(
            HTTPResponse(
                self.request,
                599,
                error=error,
                request_time=self.io_loop.time() - self.start_time,
                start_time=self.start_wall_time,
            )
        )

    def _end_lease(self) -> None:
        pooled, self.pooled = self.pooled, None
        if pooled is not None:
            self.client._stream_pool.release(pooled, False, 0.0)

    def _remove_timeout(self) -> None:
        if self._timeout is not None:
            self._timeout.disarm()
            self._timeout = None

    def _deliver(self, response: HTTPResponse) -> None:
        release_callback, final_callback = self.release_callback, self.final_callback
        self.release_callback = self.final_callback = None
        if release_callback is not None:
            release_callback()
        if final_callback is not None:
            # Called at once (simple_httpclient schedules it): it only
            # resolves the fetch's Future, whose waiter runs later anyway.
            final_callback(response)

    def body(self) -> bytes:
        """The response body read so far (decoded)."""
        return b"".join(self._chunks)


class KeepAliveHTTPClient(SimpleAsyncHTTPClient):
    """A `.SimpleAsyncHTTPClient` that keeps connections alive and reuses them.

    Select it with
    ``AsyncHTTPClient.configure("tornado_h1alt.KeepAliveHTTPClient", ...)``.
    It takes `.SimpleAsyncHTTPClient`'s arguments (``max_clients`` still
    limits concurrent requests) and these:

    ``max_connections`` (default: ``max_clients``) limits open connections
    in total, idle ones included; an idle connection to another host is
    closed to make room.  ``max_connections_per_host`` (default:
    ``max_connections``) limits them per host, port and TLS settings;
    requests beyond it wait for a connection, and the wait counts against
    ``connect_timeout``.  ``idle_timeout`` (default 15 s, less if the
    server's ``Keep-Alive: timeout=`` says so) is how long an unused
    connection is kept.  ``max_requests_per_connection`` (default: no
    limit) retires a connection after that many requests.

    Before an idle connection is reused it is checked (without reading
    from it) for a close, a reset or bytes nobody asked for; such a
    connection is closed and another one used.  A request sent on a pooled
    connection that the server closed all the same, and that fails before
    any byte of the response arrived, is sent once more on a new connection
    if its method is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and
    its body is not from a ``body_producer``.  Other requests fail as they
    would with `.SimpleAsyncHTTPClient`.

    `pool_stats` counts the connections opened and reused.  Works with
    Tornado 5.1 and 6.0 to 6.6.
    """

    def initialize(  # type: ignore[override]
        self,
        max_clients: int = 10,
        hostname_mapping: Optional[Dict[str, str]] = None,
        max_buffer_size: int = 104857600,
        resolver: Optional[Resolver] = None,
        defaults: Optional[Dict[str, Any]] = None,
        max_header_size: Optional[int] = None,
        max_body_size: Optional[int] = None,
        max_connections: Optional[int] = None,
        max_connections_per_host: Optional[int] = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_requests_per_connection: Optional[int] = None,
    ) -> None:
        super().initialize(
            max_clients=max_clients,
            hostname_mapping=hostname_mapping,
            max_buffer_size=max_buffer_size,
            resolver=resolver,
            defaults=defaults,
            max_header_size=max_header_size,
            max_body_size=max_body_size,
        )
        if max_connections is None:
            max_connections = max_clients
        self.pool_limits = PoolLimits(
            max_connections=max_connections,
            max_connections_per_host=(
                max_connections if max_connections_per_host is None else max_connections_per_host
            ),
            idle_timeout=idle_timeout,
            max_requests_per_connection=max_requests_per_connection,
        )
        self._stream_pool = _StreamPool(self.tcp_client, self.pool_limits)

    def close(self) -> None:
        """Closes the idle connections; those in use close when their request ends."""
        self._stream_pool.close()
        super().close()

    def pool_stats(self) -> PoolStats:
        """Counters of this client's connection pool."""
        return self._stream_pool.stats()

    def _connection_class(self) -> type:
        return _PooledHTTPConnection

    def _handle_request(
        self,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
    ) -> None:
        if not _QuickExchange.start(self, request, release_callback, final_callback):
            self._start_pooled(request, release_callback, final_callback)

    def _start_pooled(
        self,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        **hand_over: Any,
    ) -> None:
        """``request`` on simple_httpclient's own path, through the pool.

        ``hand_over``: ``retry_of`` (an earlier attempt) or ``finish_from``
        (a `_QuickExchange` whose response it finishes); see
        ``_PooledHTTPConnection``.
        """
        self._connection_class()(
            self,
            request,
            release_callback,
            final_callback,
            self.max_buffer_size,
            self.tcp_client,
            self.max_header_size,
            self.max_body_size,
            **hand_over,
        )
