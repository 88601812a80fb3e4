"""A request on simple_httpclient's own path, over a pooled connection.

`PooledHTTPConnection` is simple_httpclient's ``_HTTPConnection`` with its
connect and end-of-request steps redirected to the pool, and
`ExchangeConnection` the `.HTTP1Connection` under it, which reports how the
response ended so that the stream goes back to the pool (or is closed)
before the response is delivered.
"""

from __future__ import annotations

import ssl
import sys
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    Optional,
    Protocol,
    Type,
    Union,
    cast,
)

import tornado.simple_httpclient
from tornado import gen, httputil
from tornado.concurrent import Future, future_add_done_callback
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.iostream import IOStream
from tornado.log import gen_log
from tornado.tcpclient import TCPClient

from ..connection import HTTP1Connection, HTTP1ConnectionParameters
from . import proxied
from .reuse import may_retry
from .simple import connection_params
from .streams import Connector, StreamPool, tls_settings, unread_bytes, unverified_client_context

if TYPE_CHECKING:
    from types import TracebackType

    from .quick import QuickExchange
    from .tunnel import ProxyRoute

__all__ = ["Attempt", "ExchangeConnection", "PooledHTTPConnection", "StartPooled"]


class Attempt(Protocol):
    """An earlier attempt at a request, whose timeouts a retry inherits."""

    start_time: float
    start_wall_time: float


class StartPooled(Protocol):
    """How the client starts a request on this path (`.KeepAliveHTTPClient`'s)."""

    def __call__(
        self,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        *,
        retry_of: Optional[Attempt] = None,
        finish_from: Optional[QuickExchange] = None,
    ) -> None: ...


class ExchangeConnection(HTTP1Connection):
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
            reusable = await self.read_message(delegate)
        except BaseException:
            self._on_response_read(False)
            raise
        self._on_response_read(reusable)
        return reusable


class PooledHTTPConnection(tornado.simple_httpclient._HTTPConnection):
    """simple_httpclient's per-request logic, on a pooled connection.

    Four steps differ from Tornado's: connecting asks the pool (through a
    ``Connector`` given as the TCP client); the request keeps the
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
        max_header_size: Optional[int],  # (simple_httpclient passes None too,
        max_body_size: Optional[int],  # whatever its annotations say)
        *,
        pool: StreamPool,
        restart: StartPooled,
        retry_of: Optional[Attempt] = None,
        finish_from: Optional[QuickExchange] = None,
    ) -> None:
        """simple_httpclient's arguments, and: the client's ``pool``; how the
        client starts a request on this path (``restart``, for a retry);
        the attempt this one retries (``retry_of``), or the quick exchange
        whose response it finishes (``finish_from``)."""
        # Everything run() uses is set before the base class starts it.
        self._finish_from = finish_from
        self._pool = pool
        self._restart = restart
        self._connector = Connector(self._pool, fresh=retry_of is not None)
        self._is_retry = retry_of is not None
        self._inherited_start = (
            None if retry_of is None else (retry_of.start_time, retry_of.start_wall_time)
        )
        self._exchange: Optional[ExchangeConnection] = None
        self._response_started = False
        self._finish_deferred = False
        super().__init__(
            client,
            request,
            release_callback,
            final_callback,
            max_buffer_size,
            cast(TCPClient, self._connector),
            max_header_size,  # type: ignore[arg-type]
            max_body_size,  # type: ignore[arg-type]
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
        running: Future[None] = gen.convert_yielded(proxied.start(self, super().run))
        future_add_done_callback(running, lambda _: self._drop_lease())
        return running

    def connect_through_proxy(self, route: ProxyRoute) -> None:
        """Connect through ``route``, still through the pool (see `.proxied.start`)."""
        self._connector.route = route

    def _finish_quick_exchange(self, quick: QuickExchange) -> None:
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
        settings = tls_settings(request)
        context = self._pool.ssl_contexts.get(settings)
        if context is None:
            if not request.validate_cert and request.ca_certs is None:
                context = unverified_client_context(request.client_cert, request.client_key)
            else:
                options = super()._get_ssl_options(scheme)
                assert isinstance(options, ssl.SSLContext)
                context = options
            self._pool.ssl_contexts[settings] = context
        return context

    def _create_connection(self, stream: IOStream) -> Any:
        # Any: the base class declares Tornado's own HTTP1Connection.
        # (TCP_NODELAY was set when the pool opened the stream.)
        self._exchange = ExchangeConnection(
            stream,
            connection_params(self, keep_alive=True),
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
            stream is not None and unread_bytes(stream) > 0
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
        self._restart(self.request, release_callback, final_callback, retry_of=self)
        return True
