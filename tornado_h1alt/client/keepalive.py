"""KeepAliveHTTPClient: an `.AsyncHTTPClient` that reuses connections.

Tornado's `~tornado.simple_httpclient.SimpleAsyncHTTPClient` opens a new
connection for every request and asks the server to close it (Tornado issues
#324 and #778).  `KeepAliveHTTPClient` is the same client -- the same
`.HTTPRequest` options, redirects, callbacks, timeouts and errors -- with a
connection pool underneath.

A plain request that finds an idle connection takes the quick path
(`QuickExchange`); every other request takes simple_httpclient's own path
(`PooledHTTPConnection`).  A connection goes back to the pool only when the
exchange says it may carry another one (so not after ``Connection: close``,
an HTTP/1.0 response without keep-alive, a body delimited by the close, or
any error), the response was read whole, the request did not ask to close,
and the connection has not served its maximum number of requests
(`~tornado_h1alt.client.reuse.may_reuse`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.netutil import Resolver

from .pool import PoolLimits
from .pooled import Attempt, PooledHTTPConnection
from .quick import QuickExchange
from .reuse import DEFAULT_IDLE_TIMEOUT
from .simple import SimpleAsyncHTTPClient
from .streams import PoolStats, StreamPool

__all__ = ["KeepAliveHTTPClient"]


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

    Proxies: `.HTTPRequest`'s proxy options, and ``trust_env=True`` for
    the environment's, as for `.SimpleAsyncHTTPClient`; pooled connections
    are keyed by the proxy (and its credentials) as well, so a tunnel is
    reused like a direct connection, by requests to the same origin only.

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
        trust_env: bool = False,
    ) -> None:
        super().initialize(
            max_clients=max_clients,
            hostname_mapping=hostname_mapping,
            max_buffer_size=max_buffer_size,
            resolver=resolver,
            defaults=defaults,
            max_header_size=max_header_size,
            max_body_size=max_body_size,
            trust_env=trust_env,
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
        self._stream_pool = StreamPool(self.tcp_client, self.pool_limits)

    def close(self) -> None:
        """Closes the idle connections; those in use close when their request ends."""
        self._stream_pool.close()
        super().close()

    def pool_stats(self) -> PoolStats:
        """Counters of this client's connection pool."""
        return self._stream_pool.stats()

    def _connection_class(self) -> type:
        return PooledHTTPConnection

    def _handle_request(
        self,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
    ) -> None:
        if not QuickExchange.start(
            self, self._stream_pool, request, release_callback, final_callback, self._start_pooled
        ):
            self._start_pooled(request, release_callback, final_callback)

    def _start_pooled(
        self,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        *,
        retry_of: Optional[Attempt] = None,
        finish_from: Optional[QuickExchange] = None,
    ) -> None:
        """``request`` on simple_httpclient's own path, through the pool.

        ``retry_of``: an earlier attempt; ``finish_from``: a `QuickExchange`
        whose response it finishes (see `PooledHTTPConnection`).
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
            pool=self._stream_pool,
            restart=self._start_pooled,
            retry_of=retry_of,
            finish_from=finish_from,
        )
