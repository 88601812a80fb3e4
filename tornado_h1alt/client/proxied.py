"""simple_httpclient's requests through a proxy: the step before ``run()``.

Every per-request object of simple_httpclient (``_HTTPConnection``: ours,
`.KeepAliveHTTPClient`'s pooled one, and, once `.install` has wrapped its
``run``, Tornado's own and the websocket client's) starts through `start`.
For a request with a proxy (`.request_proxy`), it

* hides the ``proxy_*`` options from ``run()``, which refuses them;
* routes the connect through the proxy (a `.ProxyRoute`): a ``CONNECT``
  tunnel for ``https`` and upgrades (``ws://``, ``wss://``), the proxy
  itself for plain ``http``;
* writes the request as the route needs: in absolute form with the proxy's
  ``Proxy-Authorization`` to the proxy; through a tunnel, without any
  ``Proxy-Authorization`` (it is for the proxy, never for the origin).

The proxy's credentials are added to what is written, never to the
request's headers, so a redirect's copy of them cannot carry them anywhere;
a redirect is routed afresh (through the proxy, or directly, where it then
loses a ``Proxy-Authorization`` field of the caller's).
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Optional, Protocol, TypeVar, Union

import tornado.simple_httpclient
from tornado import httputil
from tornado.concurrent import Future
from tornado.escape import to_unicode
from tornado.httpclient import _RequestProxy
from tornado.iostream import IOStream

from .proxy import PROXY_OPTIONS, absolute_target, needs_tunnel, origin_of, request_proxy
from .tunnel import ProxyRoute, ProxyTCPClient

__all__ = ["ConnectsThroughProxy", "ProxyOptionsTaken", "start", "through_proxy"]

T = TypeVar("T")

RequestConnection = tornado.simple_httpclient._HTTPConnection

PROXY_AUTHORIZATION = "Proxy-Authorization"

# Set on a request's object once `start` has seen it (our subclasses call
# it, and so does Tornado's run() once install() has wrapped it).
_STARTED = "_h1alt_proxy_started"


class ConnectsThroughProxy(Protocol):
    """A request object that connects through a route its own way (the
    pooled one: through the pool); others get a `.ProxyTCPClient`."""

    def connect_through_proxy(self, route: ProxyRoute) -> None: ...


class ProxyOptionsTaken(_RequestProxy):
    """The request as ``run()`` sees it once its proxy is taken care of:
    the same request and defaults, with no ``proxy_*`` options.

    Still a ``_RequestProxy``, so `.HTTPResponse` unwraps it and a redirect
    copies the request underneath, proxy options included.
    """

    def __getattr__(self, name: str) -> Any:
        if name in PROXY_OPTIONS:
            return None
        return super().__getattr__(name)


def start(request_connection: RequestConnection, run: Callable[[], T]) -> Union[T, Future[None]]:
    """Prepare ``request_connection`` for its proxy, if it has one, then ``run()``.

    An error in the proxy settings (an unsupported ``proxy_auth_mode``, say)
    ends the request as one of ``run()``'s own errors would: its response
    carries the error.
    """
    if getattr(request_connection, _STARTED, False):
        return run()
    setattr(request_connection, _STARTED, True)
    try:
        route = _route(request_connection)
    except Exception:
        if not request_connection._handle_exception(*sys.exc_info()):
            raise
        done: Future[None] = Future()
        done.set_result(None)
        return done
    if route is not None:
        _take(request_connection, route)
    return run()


def through_proxy(run: Callable[[RequestConnection], T]) -> Callable[[RequestConnection], Any]:
    """``_HTTPConnection.run``, wrapped to `start` first (what `.install` puts in its place)."""

    @functools.wraps(run)
    def run_through_proxy(self: RequestConnection) -> Any:
        return start(self, functools.partial(run, self))

    return run_through_proxy


def _route(request_connection: RequestConnection) -> Optional[ProxyRoute]:
    request = request_connection.request
    trust_env = bool(getattr(request_connection.client, "trust_env", False))
    origin = None
    if trust_env or _has_proxy_option(request):
        # (None for a scheme run() refuses itself.)
        origin = origin_of(to_unicode(request.url))
    proxy = None
    if origin is not None:
        scheme, host, port = origin
        proxy = request_proxy(request, scheme, host, port, trust_env)
    if proxy is None or origin is None:
        if PROXY_AUTHORIZATION in request.headers and (
            getattr(request, "original_request", None) is not None
        ):
            # A redirect that goes directly: a Proxy-Authorization field the
            # caller set (for a proxy) is not for this origin.
            del request.headers[PROXY_AUTHORIZATION]
        return None
    tunnel = needs_tunnel(origin[0], "Upgrade" in request.headers)
    return ProxyRoute(
        proxy,
        tunnel,
        deadline=_setup_deadline(request_connection),
        abandoned=lambda: request_connection.final_callback is None,
        connect_authorization=request.headers.get(PROXY_AUTHORIZATION) if tunnel else None,
    )


def _has_proxy_option(request: Any) -> bool:
    """Whether any of the request's proxy options is set (truthy), as
    simple_httpclient's run() tests them, for every request: so through
    ``_RequestProxy``'s two attributes rather than its lookups."""
    raw = request.__dict__.get("request")
    if raw is None or type(request) is not _RequestProxy:
        return any(getattr(request, name, None) for name in PROXY_OPTIONS)
    defaults = request.defaults or {}
    for name in PROXY_OPTIONS:
        value = getattr(raw, name, None)
        if value is None:
            value = defaults.get(name)
        if value:
            return True
    return False


def _setup_deadline(request_connection: RequestConnection) -> Optional[float]:
    # What run() gives the connect (from Tornado 6.6; before, its own
    # timer): the shorter of the connect and request timeouts.
    request = request_connection.request
    timeouts = [
        timeout for timeout in (request.connect_timeout, request.request_timeout) if timeout
    ]
    return request_connection.start_time + min(timeouts) if timeouts else None


def _take(request_connection: RequestConnection, route: ProxyRoute) -> None:
    request = request_connection.request
    url = to_unicode(request.url)
    taken = ProxyOptionsTaken(getattr(request, "request", request), None)
    if isinstance(request, _RequestProxy):
        # With what was set on the proxy itself: its defaults, and the
        # websocket client's http(s):// for ws(s)://.
        taken.__dict__.update(vars(request))
    request_connection.request = taken  # type: ignore[assignment]
    connect_through = getattr(request_connection, "connect_through_proxy", None)
    if connect_through is not None:
        connect_through(route)
    else:
        request_connection.tcp_client = ProxyTCPClient(  # type: ignore[assignment]
            request_connection.tcp_client, route
        )
    create_connection = request_connection._create_connection

    def create_proxied_connection(stream: IOStream) -> ProxiedConnection:
        return ProxiedConnection(create_connection(stream), url, route)

    # On this object only: the class's method is ours or Tornado's.
    request_connection._create_connection = create_proxied_connection  # type: ignore[method-assign,assignment]


class ProxiedConnection:
    """A request's `.HTTP1Connection`, whose request head is written as its
    route needs; everything else is the connection's own."""

    def __init__(self, connection: Any, url: str, route: ProxyRoute) -> None:
        self._connection = connection
        self._url = url
        self._route = route

    def write_headers(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """The connection's write_headers, with the request line and
        ``Proxy-Authorization`` for the route."""
        # (*args, **kwargs: the chunk, and Tornado 5.1's callback.)
        if isinstance(start_line, httputil.RequestStartLine):
            route = self._route
            if route.tunnel:
                if PROXY_AUTHORIZATION in headers:
                    headers = headers.copy()
                    del headers[PROXY_AUTHORIZATION]
            else:
                # RFC 9112 3.2.2: to a proxy, the absolute form (Host as before).
                start_line = httputil.RequestStartLine(
                    start_line.method,
                    absolute_target(self._url, start_line.path),
                    start_line.version,
                )
                authorization = route.proxy.authorization()
                if authorization is not None:
                    headers = headers.copy()
                    headers[PROXY_AUTHORIZATION] = authorization
        return self._connection.write_headers(start_line, headers, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)
