"""The connection pool on real streams: IOStreams, futures and IOLoop timers.

`StreamPool` applies a `~tornado_h1alt.client.pool.ConnectionPool`'s
answers to IOStreams, checks an idle stream's liveness before reuse, and
shares the TLS contexts built for requests' settings; `Connector` stands in
for one request's `.TCPClient`, connecting through the pool.
"""

from __future__ import annotations

import datetime
import functools
import socket
import ssl
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    Hashable,
    NamedTuple,
    Optional,
    Tuple,
    Union,
)

from tornado import gen, httputil
from tornado.concurrent import Future
from tornado.httpclient import HTTPRequest
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

from .. import compat
from ..streamio import HeadTimer, set_nodelay
from .pool import ConnectionPool, Grant, PoolActions, PoolLimits
from .reuse import (
    PoolKey,
    idle_timeout_for,
    may_reuse,
    parse_keep_alive,
    pool_key,
)

if TYPE_CHECKING:
    from .tunnel import ProxyRoute

__all__ = [
    "Connector",
    "PoolStats",
    "PooledStream",
    "StreamPool",
    "tls_settings",
    "unread_bytes",
    "unverified_client_context",
]


class PoolStats(NamedTuple):
    """Counters of a `KeepAliveHTTPClient`'s pool (see `KeepAliveHTTPClient.pool_stats`)."""

    connections_opened: int
    connections_reused: int  # requests sent on a connection taken from the pool
    retries: int  # requests resent after a stale pooled connection failed
    open: int
    idle: int
    waiting: int


class PooledStream:
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


def unread_bytes(stream: IOStream) -> int:
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


def _stream_is_poolable(pooled: PooledStream) -> bool:
    # When a stream is given back: what it already knows (closed, or bytes
    # nobody asked for).  The system call waits for its reuse.
    stream = pooled.stream
    return not stream.closed() and unread_bytes(stream) == 0


def _stream_is_usable(pooled: PooledStream) -> bool:
    # An idle connection that the server closed, or on which it sent
    # something (a 408, say) before we asked, cannot carry a new exchange.
    # Checked at the moment of reuse: a close that arrived since the stream
    # was pooled is seen even if the IOLoop has not run in between.
    return _stream_is_poolable(pooled) and not _peer_has_spoken(pooled.stream.socket)


class StreamPool:
    """Applies a `ConnectionPool`'s decisions to IOStreams on one IOLoop."""

    def __init__(self, tcp_client: TCPClient, limits: PoolLimits) -> None:
        self.tcp_client = tcp_client
        self.limits = limits
        self.io_loop = IOLoop.current()
        self.pool: ConnectionPool[PooledStream, Future[Grant[PooledStream]]] = ConnectionPool(
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
        connector: Connector,
        key: PoolKey,
        timeout: Optional[float],
        open_stream: Callable[[Optional[float]], Awaitable[IOStream]],
    ) -> Tuple[PooledStream, bool]:
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
        return PooledStream(stream, key), False

    def take_idle(self, key: PoolKey) -> Optional[PooledStream]:
        """An idle pooled stream for ``key``, now, or None (see `ConnectionPool.take_idle`)."""
        pooled, actions = self.pool.take_idle(key, self.io_loop.time())
        self._apply(actions)
        if pooled is not None:
            self.connections_reused += 1
            pooled.requests_served += 1
        return pooled

    def release_after_response(
        self,
        pooled: PooledStream,
        *,
        response_complete: bool,
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
            requests_served=pooled.requests_served,
            max_requests=self.limits.max_requests_per_connection,
            server_max=hint.max,
        )
        self.release(pooled, reusable, idle_timeout_for(self.limits.idle_timeout, hint))
        return reusable

    async def _acquire(
        self, connector: Connector, key: PoolKey, deadline: Optional[float]
    ) -> Grant[PooledStream]:
        waiter: Future[Grant[PooledStream]] = Future()
        self._apply(self.pool.checkout(key, self.io_loop.time(), waiter, connector.fresh))
        if waiter.done():
            return waiter.result()
        connector.waiter = waiter
        try:
            if deadline is None:
                return await waiter
            granted: Grant[PooledStream] = await gen.with_timeout(deadline, waiter)
            return granted
        except compat.TIMEOUT_ERRORS:
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

    def abandon(self, connector: Connector) -> None:
        """The request has ended (a timeout, say) while waiting for a connection."""
        waiter = connector.waiter
        if waiter is not None and self.pool.cancel(waiter):
            # Nobody handles this: simple_httpclient ignores a stream
            # error once the request has its response.
            waiter.set_exception(StreamClosedError())

    def release(self, pooled: PooledStream, reusable: bool, idle_timeout: float) -> None:
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

    def _give_back(self, grant: Grant[PooledStream]) -> None:
        if grant.connection is None:
            self._apply(self.pool.discard(grant.key))
        else:
            self.release(grant.connection, True, self.limits.idle_timeout)

    def _apply(self, actions: PoolActions[PooledStream, Future[Grant[PooledStream]]]) -> None:
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


def unverified_client_context(
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


def tls_settings(request: HTTPRequest) -> Hashable:
    # What a request's TLS context is built from when it has no ssl_options.
    return (
        bool(request.validate_cert),
        request.ca_certs,
        request.client_cert,
        request.client_key,
    )


class Connector:
    """Stands in for the `.TCPClient` of one request: connects through the pool
    (and, if it has a ``route``, through that proxy route)."""

    def __init__(self, pool: StreamPool, fresh: bool) -> None:
        self.pool = pool
        self.fresh = fresh
        self.route: Optional[ProxyRoute] = None
        self.lease: Optional[PooledStream] = None
        self.reused = False
        # While waiting for the pool: the future of that wait.
        self.waiter: Optional[Future[Grant[PooledStream]]] = None

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
        route = self.route
        key = pool_key(
            host,
            port,
            ssl_options,
            af,
            source_ip,
            source_port,
            None if route is None else route.pool_key,
        )
        tcp_client = self.pool.tcp_client

        def open_stream(remaining: Optional[float]) -> Awaitable[IOStream]:
            connect: Callable[..., Awaitable[IOStream]] = tcp_client.connect
            if route is not None:
                connect = functools.partial(route.connect, tcp_client)
            return connect(
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

    def take_lease(self) -> Optional[PooledStream]:
        lease, self.lease = self.lease, None
        return lease

    def abandon(self) -> None:
        """Stop waiting for a connection, if waiting."""
        self.pool.abandon(self)
