"""The quick exchange: a plain request on an idle pooled connection, as a
callback pump over the core's `~tornado_h1alt.h1.exchange.Exchange`.

simple_httpclient spends most of a keep-alive request's time on its own
steps (parsing the URL again, connecting through three coroutines, a Task
and a close callback per request, a Future per write, delegate calls, a
callback per response), not on HTTP.  When a request is plain (see
`_is_plain_request`) and a connection for it is idle in the pool,
`QuickExchange` does the same job with a few callbacks.
"""

from __future__ import annotations

import functools
import re
import socket
import ssl
import time
import urllib.parse
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import tornado.simple_httpclient
from tornado import httputil
from tornado.concurrent import Future
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.log import gen_log
from tornado.simple_httpclient import HTTPStreamClosedError, HTTPTimeoutError

from .. import compat
from ..connection import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_HEADER_SIZE
from ..decompress import GzipBody
from ..errors import log_malformed
from ..h1.errors import ProtocolError
from ..h1.events import ConnectionClosed, Data, EndOfMessage, ResponseHead
from ..h1.exchange import Exchange
from ..h1.framing import METHODS_WITH_CONTENT
from ..h1.plan import Want
from ..streamio import HeadTimer, bytes_at_close, read_for
from .proxy import environment_proxy
from .reuse import may_retry, pool_key
from .streams import PooledStream, StreamPool, tls_settings, unread_bytes

if TYPE_CHECKING:
    from .keepalive import KeepAliveHTTPClient
    from .pooled import StartPooled

__all__ = ["QuickExchange"]


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
    ``Expect: 100-continue``, authentication, a network interface, proxy
    settings or a ``Proxy-Authorization`` field, a body framed by the
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
    if "Proxy-Authorization" in raw.headers:
        # For a proxy: the full path sees that it never reaches an origin.
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


def _environment_proxies(target: _Target) -> bool:
    """Whether the environment sends a request to ``target`` through a proxy
    (or names one that cannot be used, which the full path reports)."""
    try:
        return environment_proxy(target.scheme, target.host, target.port) is not None
    except ValueError:
        return True


_SUPPORTED_METHODS = frozenset(tornado.simple_httpclient._HTTPConnection._SUPPORTED_METHODS)


class QuickExchange:
    """A plain request on an idle pooled connection, without simple_httpclient's machinery.

    The request is prepared exactly as ``_HTTPConnection.run`` would (the
    same header fields, in the same order), sent and its response read by
    an `.Exchange` (the same rules as `.HTTP1Connection`'s, without reading
    past the response, see `.read_for`), and the response built as
    ``_HTTPConnection.finish`` would build it.

    What it leaves to simple_httpclient's own code: a redirect to follow
    (handed to a `.PooledHTTPConnection` to finish), a stale connection's
    retry (a new `.PooledHTTPConnection` on a fresh connection), and every
    request that is not plain or has no idle connection waiting.  Tornado
    6.0 and later (`compat.QUICK_POOLED_EXCHANGE`).
    """

    @classmethod
    def start(
        cls,
        client: KeepAliveHTTPClient,
        pool: StreamPool,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        restart: StartPooled,
    ) -> bool:
        """Send ``request`` the quick way if it can be; False (and nothing done) if not.

        ``pool`` is the client's; ``restart`` starts a request on the
        client's pooled path, where a redirect or a retry continues.
        """
        if not compat.QUICK_POOLED_EXCHANGE:
            return False
        raw, defaults = _unproxied(request)
        url = raw.url
        target = _quick_target(url) if isinstance(url, str) else None
        if target is None or not _is_plain_request(raw, defaults):
            return False
        if client.trust_env and _environment_proxies(target):
            return False
        ssl_options: Union[None, Dict[str, Any], ssl.SSLContext] = None
        if target.scheme == "https":
            ssl_options = _option(raw, defaults, "ssl_options")
            if ssl_options is None:
                # Built (and cached) by simple_httpclient's path the first time.
                ssl_options = pool.ssl_contexts.get(tls_settings(request))
                if ssl_options is None:
                    return False
        allow_ipv6 = _option(raw, defaults, "allow_ipv6")
        family = socket.AF_INET if allow_ipv6 is False else socket.AF_UNSPEC
        pooled = pool.take_idle(pool_key(target.host, target.port, ssl_options, family))
        if pooled is None:
            return False
        cls(
            client,
            pool,
            restart,
            request,
            raw,
            defaults,
            release_callback,
            final_callback,
            pooled,
            target,
        )._send()
        return True

    def __init__(
        self,
        client: KeepAliveHTTPClient,
        pool: StreamPool,
        restart: StartPooled,
        request: HTTPRequest,
        raw: HTTPRequest,
        defaults: Dict[str, Any],
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        pooled: PooledStream,
        target: _Target,
    ) -> None:
        """``request`` as simple_httpclient has it, and its `_unproxied` parts;
        the rest as for `start`, and the idle stream taken from the pool."""
        self.io_loop = IOLoop.current()
        self.start_time = self.io_loop.time()
        self.start_wall_time = time.time()
        self.client = client
        self.pool = pool
        self._restart = restart
        self.request = request
        self._raw = raw
        self._defaults = defaults
        self.release_callback: Optional[Callable[[], None]] = release_callback
        self.final_callback: Optional[Callable[[HTTPResponse], None]] = final_callback
        self.pooled: Optional[PooledStream] = pooled
        self.target = target
        self.code = 0
        self.reason = ""
        self.headers: Optional[httputil.HTTPHeaders] = None
        self._exchange = Exchange(  # (by position: see Exchange.__init__)
            True,
            int(client.max_header_size or DEFAULT_MAX_HEADER_SIZE),  # max_header_size
            DEFAULT_CHUNK_SIZE,  # chunk_size
        )
        self._want: Optional[Want] = None  # the read in progress
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
        # of its "close" (see PooledHTTPConnection.run).
        headers: httputil.HTTPHeaders = self._raw.headers
        if "Connection" not in headers:
            headers["Connection"] = "keep-alive"
        if "Host" not in headers:
            headers["Host"] = self.target.netloc
        user_agent = self._option("user_agent")
        if user_agent:
            headers["User-Agent"] = user_agent
        elif compat.DEFAULT_CLIENT_USER_AGENT is not None and headers.get("User-Agent") is None:
            headers["User-Agent"] = compat.DEFAULT_CLIENT_USER_AGENT
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
        exchange = self._exchange
        headers = self._prepare_headers()
        try:
            data = exchange.send_request(
                self._raw.method, self.target.path, headers, compat.grouped_fields(headers)
            )
        except ValueError as error:
            # A field simple_httpclient would refuse to send (CR or LF).
            self.io_loop.add_callback(self._fail, error)
            return
        body = self._option("body")
        if body:
            data += exchange.send_data(body)
        data += exchange.send_end()
        stream = pooled.stream
        try:
            stream.write(data)
            # The response's head: started now, handled from the callback
            # (which a Future runs on the next iteration even if done now).
            want = exchange.wants()
            read = read_for(stream, want, False)
        except StreamClosedError as error:
            self.io_loop.add_callback(self._on_stream_closed, error)
            return
        self._want = want
        read.add_done_callback(self._on_read)

    # -- the response ----------------------------------------------------------------------

    def _pump(self) -> None:
        """Parse what has been read; start the next read when more is needed."""
        pooled = self.pooled
        if self.final_callback is None or pooled is None:
            return  # timed out
        exchange = self._exchange
        stream = pooled.stream
        try:
            while True:
                event = exchange.next_event()
                if event is None:
                    want = exchange.wants()
                    read = read_for(stream, want, False)
                    if not read.done():
                        self._want = want
                        read.add_done_callback(self._on_read)
                        return
                    exchange.receive_data(self._read_result(read, want))
                elif event.__class__ is Data:
                    data: bytes = event.data
                    if self._gzip is None:
                        self._chunks.append(data)
                    else:
                        self._chunks.extend(self._gzip.decode(data))
                    if exchange.yield_due():
                        # A long body already buffered: let others run.
                        self.io_loop.add_callback(self._pump)
                        return
                elif event.__class__ is ResponseHead:
                    self._on_head(event)
                elif event.__class__ is EndOfMessage:
                    if self._gzip is not None:
                        self._gzip.finish()
                    self._on_response(exchange.keep_alive and not stream.closed())
                    return
                else:
                    assert event.__class__ is ConnectionClosed
                    raise StreamClosedError()  # before a response began
        except StreamClosedError as error:
            self._on_stream_closed(error)
        except (ProtocolError, httputil.HTTPInputError) as error:
            # As simple_httpclient's HTTP1Connection reports a malformed
            # response (bytes have arrived, so the request is not retried).
            # Its context is simple_httpclient's _sockaddr, which Tornado
            # never sets: "from None", as Tornado's own tests expect.
            log_malformed(None, error)
            self._fail(stream.error or HTTPStreamClosedError("Connection closed"))
        except Exception as error:
            # Anything else ends the request with that error at once (as
            # simple_httpclient's _handle_exception does), not at its timeout.
            self._fail(error)

    @staticmethod
    def _read_result(read: Future[bytes], want: Want) -> bytes:
        try:
            return read.result()
        except StreamClosedError as error:
            return bytes_at_close(want, error)

    def _on_read(self, read: Future[bytes]) -> None:
        want, self._want = self._want, None
        assert want is not None
        try:
            data = self._read_result(read, want)
        except StreamClosedError as error:
            self._on_stream_closed(error)
            return
        self._exchange.receive_data(data)
        self._pump()

    def _on_head(self, head: ResponseHead) -> None:
        exchange = self._exchange
        if head.interim:
            # An interim response (no 100-continue was asked for): skipped,
            # as simple_httpclient overwrites it with the final one.
            exchange.after_head()
            return
        pooled = self.pooled
        assert pooled is not None
        max_body_size = self.client.max_body_size
        if max_body_size is None:
            max_body_size = pooled.stream.max_buffer_size
        exchange.max_body_size = int(max_body_size)  # (a float limit too: the core takes int)
        headers = compat.headers_from_fields(head.fields)
        if self._option("decompress_response"):
            self._gzip = GzipBody.for_headers(headers, DEFAULT_CHUNK_SIZE, max_body_size)
        self.code, self.reason, self.headers = head.status_code, head.reason, headers
        exchange.after_head()

    def _on_stream_closed(self, error: StreamClosedError) -> None:
        pooled = self.pooled
        if self.final_callback is None or pooled is None:
            return  # timed out already
        if may_retry(
            method=self._raw.method,
            body_replayable=True,
            connection_reused=True,
            response_started=self.headers is not None or unread_bytes(pooled.stream) > 0,
            already_retried=False,
            error=error,
        ):
            gen_log.debug("Pooled connection lost before the response (%s); retrying", error)
            self._end_lease()
            self.pool.retries += 1
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
        self.pool.release_after_response(
            pooled,
            response_complete=complete,
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
        self._restart(self.request, release_callback, final_callback, **hand_over)

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
            self.pool.release(pooled, False, 0.0)

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
