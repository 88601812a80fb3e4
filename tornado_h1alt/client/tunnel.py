"""Connecting through an HTTP proxy: to the proxy, then a ``CONNECT`` tunnel and TLS.

`ProxyRoute` is how one request reaches its origin through a `.Proxy`; its
`~ProxyRoute.connect` takes a `.TCPClient.connect`'s arguments and returns
the stream a request is written to: the connection to the proxy itself
(absolute form), or a tunnel through it to the origin (RFC 9110 9.3.6),
with TLS to the origin inside when the request is ``https``.
`ProxyTCPClient` stands in for a request's `.TCPClient`, connecting every
time through its route.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from typing import Any, Awaitable, Callable, Dict, Hashable, Optional, TypeVar, Union

from tornado import gen, httputil
from tornado.concurrent import Future, chain_future, future_add_done_callback
from tornado.httpclient import HTTPClientError
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.simple_httpclient import HTTPTimeoutError
from tornado.tcpclient import TCPClient

from .. import compat
from ..connection import DEFAULT_MAX_HEADER_SIZE
from ..errors import input_error
from ..h1.errors import ProtocolError
from ..h1.events import ConnectionClosed, ResponseHead
from ..h1.exchange import Exchange
from ..streamio import read_for
from .proxy import Proxy, connect_target
from .streams import unread_bytes

__all__ = ["ProxyRoute", "ProxyTCPClient"]

T = TypeVar("T")

SSLOptions = Union[None, Dict[str, Any], ssl.SSLContext]


class ProxyRoute:
    """How one request reaches its origin through ``proxy``.

    ``tunnel``: through a ``CONNECT`` tunnel (``https``, and ``ws://``);
    otherwise the stream goes to the proxy, which is sent the request in
    absolute form.  ``deadline`` (`.IOLoop` time, or None) bounds the whole
    set-up: connecting to the proxy, its answer to ``CONNECT``, and TLS with
    the origin; past it the set-up fails with `.HTTPTimeoutError` (599).
    ``abandoned`` says whether the request has already ended (its own
    timer, on Tornado before 6.6): a set-up failing after that raises a
    bare `.StreamClosedError`, which simple_httpclient ignores then, instead
    of an error nobody would handle.  ``connect_authorization``: the
    ``Proxy-Authorization`` value for ``CONNECT`` when the proxy has no
    credentials of its own (the request's own field, which never goes
    through the tunnel).
    """

    def __init__(
        self,
        proxy: Proxy,
        tunnel: bool,
        deadline: Optional[float] = None,
        abandoned: Callable[[], bool] = lambda: False,
        connect_authorization: Optional[str] = None,
    ) -> None:
        self.proxy = proxy
        self.tunnel = tunnel
        self.deadline = deadline
        self.abandoned = abandoned
        self.connect_authorization = connect_authorization

    @property
    def pool_key(self) -> Hashable:
        """What a pooled connection's key holds of the route: the proxy and
        its credentials, and whether the connection is a tunnel."""
        return (self.proxy, self.tunnel)

    async def connect(
        self,
        tcp_client: TCPClient,
        host: str,
        port: int,
        af: socket.AddressFamily = socket.AF_UNSPEC,
        ssl_options: SSLOptions = None,
        max_buffer_size: Optional[int] = None,
        source_ip: Optional[str] = None,
        source_port: Optional[int] = None,
        timeout: Union[None, float, datetime.timedelta] = None,
    ) -> IOStream:
        """`.TCPClient.connect` to ``host:port`` through the proxy, with
        ``tcp_client`` connecting to the proxy.

        ``ssl_options`` are the origin's: TLS starts inside the tunnel, with
        the origin's name for SNI and the certificate check.  A proxy that
        cannot be reached fails as an origin would; a proxy that refuses
        ``CONNECT`` gives `.HTTPClientError` with its status code and reason.
        """
        try:
            return await self._connect(
                tcp_client,
                host,
                port,
                af,
                ssl_options,
                max_buffer_size,
                source_ip,
                source_port,
                self._deadline(timeout),
            )
        except Exception:
            if self.abandoned():
                raise StreamClosedError() from None
            raise

    def _deadline(self, timeout: Union[None, float, datetime.timedelta]) -> Optional[float]:
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        if timeout is None:
            return self.deadline
        deadline = IOLoop.current().time() + timeout
        return deadline if self.deadline is None else min(deadline, self.deadline)

    async def _connect(
        self,
        tcp_client: TCPClient,
        host: str,
        port: int,
        af: socket.AddressFamily,
        ssl_options: SSLOptions,
        max_buffer_size: Optional[int],
        source_ip: Optional[str],
        source_port: Optional[int],
        deadline: Optional[float],
    ) -> IOStream:
        proxy = self.proxy
        io_loop = IOLoop.current()
        try:
            stream: IOStream = await tcp_client.connect(
                proxy.host,
                proxy.port,
                af=af,
                max_buffer_size=max_buffer_size,
                source_ip=source_ip,
                source_port=source_port,
                timeout=None if deadline is None else max(deadline - io_loop.time(), 0.0),
            )
        except compat.TIMEOUT_ERRORS as error:
            raise HTTPTimeoutError(str(error) or "Timeout while connecting to the proxy") from None
        if not self.tunnel:
            return stream
        try:
            await _before(
                deadline,
                self._open_tunnel(stream, host, port),
                stream.close,
                "waiting for the proxy's answer to CONNECT",
            )
            if ssl_options is None:
                return stream
            # As TCPClient.connect does for a direct connection: the origin's
            # name is the one TLS checks (and sends as SNI).
            handshake = stream.start_tls(False, ssl_options=ssl_options, server_hostname=host)
        except BaseException:
            stream.close()
            raise
        # The stream's socket belongs to the TLS stream now.
        tls_stream: IOStream = await _before(
            deadline,
            handshake,
            lambda: compat.abandon_tls_handshake(handshake),
            "during the TLS handshake through the proxy",
        )
        return tls_stream

    async def _open_tunnel(self, stream: IOStream, host: str, port: int) -> None:
        """Send ``CONNECT`` and read the proxy's answer, head only (a refusal's
        body is left unread: the stream is closed)."""
        target = connect_target(host, port)
        fields = httputil.HTTPHeaders()
        fields["Host"] = target
        authorization = self.proxy.authorization() or self.connect_authorization
        if authorization is not None:
            fields["Proxy-Authorization"] = authorization
        exchange = Exchange(True, max_header_size=DEFAULT_MAX_HEADER_SIZE)
        await stream.write(exchange.send_request("CONNECT", target, fields))
        try:
            head = await _read_head(stream, exchange)
        except ProtocolError as error:
            raise input_error(error) from None
        if not 200 <= head.status_code < 300:
            raise HTTPClientError(head.status_code, head.reason or None)
        if unread_bytes(stream):
            # Bytes from the tunnel before we sent any: nothing we could
            # have asked for (and TLS could not start over them).
            raise httputil.HTTPInputError("Unexpected data from the proxy after CONNECT")


async def _read_head(stream: IOStream, exchange: Exchange) -> ResponseHead:
    """The final response head, read with the core, never past its end
    (the tunnel's bytes follow it)."""
    while True:
        event = exchange.next_event()
        if event is None:
            want = exchange.wants()
            exchange.receive_data(await read_for(stream, want, False))
        elif isinstance(event, ResponseHead):
            if not event.interim:
                return event
            exchange.after_head()
        else:
            # A clean close before any answer: as a direct connection's.
            assert isinstance(event, ConnectionClosed)
            raise StreamClosedError()


async def _before(
    deadline: Optional[float], step: Awaitable[T], stop: Callable[[], object], what: str
) -> T:
    """``step`` of the set-up, if it ends before ``deadline``; at the deadline
    `.HTTPTimeoutError` is raised and ``stop()`` ends the step (closes its
    stream; or, for a TLS handshake, see `compat.abandon_tls_handshake`).

    The step's late outcome is consumed: an error is not reported as never
    retrieved, and a stream it produces after all is closed.
    """
    if deadline is None:
        return await step
    running: Future[T] = gen.convert_yielded(step)
    outcome: Future[T] = Future()
    chain_future(running, outcome)

    def settle(done: Future[T]) -> None:
        if done.cancelled() or done.exception() is not None or not expired:
            return
        late = done.result()
        if isinstance(late, IOStream):
            late.close()

    expired = False

    def expire() -> None:
        nonlocal expired
        if outcome.done():
            return
        expired = True
        outcome.set_exception(HTTPTimeoutError("Timeout %s" % what))
        stop()

    future_add_done_callback(running, settle)
    io_loop = IOLoop.current()
    timer = io_loop.call_at(deadline, expire)
    try:
        return await outcome
    finally:
        io_loop.remove_timeout(timer)


class ProxyTCPClient:
    """Stands in for a request's `.TCPClient`: every ``connect`` goes through ``route``."""

    def __init__(self, tcp_client: TCPClient, route: ProxyRoute) -> None:
        self.tcp_client = tcp_client
        self.route = route

    def connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily = socket.AF_UNSPEC,
        ssl_options: SSLOptions = None,
        max_buffer_size: Optional[int] = None,
        source_ip: Optional[str] = None,
        source_port: Optional[int] = None,
        timeout: Union[None, float, datetime.timedelta] = None,
    ) -> Awaitable[IOStream]:
        """`ProxyRoute.connect`, with the `.TCPClient` this one stands in for."""
        return self.route.connect(
            self.tcp_client,
            host,
            port,
            af=af,
            ssl_options=ssl_options,
            max_buffer_size=max_buffer_size,
            source_ip=source_ip,
            source_port=source_port,
            timeout=timeout,
        )

    def close(self) -> None:
        """Closes the `.TCPClient` it stands in for (the websocket client closes its own)."""
        self.tcp_client.close()
