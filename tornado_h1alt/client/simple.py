"""SimpleAsyncHTTPClient on tornado_h1alt's engine: simple_httpclient's own
per-request logic, with our `.HTTP1Connection` under it."""

from __future__ import annotations

import weakref
from typing import Any, Dict

import tornado.simple_httpclient
from tornado.iostream import IOStream
from tornado.netutil import OverrideResolver
from tornado.tcpclient import TCPClient

from .. import compat
from ..connection import HTTP1Connection, HTTP1ConnectionParameters
from . import proxied
from .resolver import AddressLiteralResolver

__all__ = ["SimpleAsyncHTTPClient", "connection_params"]


def connection_params(
    request_connection: tornado.simple_httpclient._HTTPConnection, *, keep_alive: bool
) -> HTTP1ConnectionParameters:
    """The HTTP1Connection parameters for one of simple_httpclient's requests
    (``request_connection``: its per-request object, ours or the pooled one)."""
    return HTTP1ConnectionParameters(
        no_keep_alive=not keep_alive,
        max_header_size=request_connection.max_header_size,
        max_body_size=request_connection.max_body_size,
        decompress=bool(request_connection.request.decompress_response),
    )


class _HTTPConnection(tornado.simple_httpclient._HTTPConnection):
    """simple_httpclient's per-request logic, on our HTTP1Connection, and
    through the request's proxy if it has one (see `.proxied`)."""

    def run(self) -> Any:
        # Not a coroutine of its own: Tornado 5.1's run() is a gen.coroutine.
        return proxied.start(self, super().run)

    def _create_connection(self, stream: IOStream) -> Any:
        stream.set_nodelay(True)
        return HTTP1Connection(
            stream,
            True,
            connection_params(self, keep_alive=False),
            self._sockaddr,
        )


class SimpleAsyncHTTPClient(tornado.simple_httpclient.SimpleAsyncHTTPClient):
    """`tornado.simple_httpclient.SimpleAsyncHTTPClient` with tornado_h1alt's engine.

    Takes the same arguments.  Select it with
    ``AsyncHTTPClient.configure("tornado_h1alt.SimpleAsyncHTTPClient")``.

    One difference beyond the engine: with the resolver the client makes
    itself (no ``resolver`` argument, and exactly one of Tornado's
    getaddrinfo() resolvers configured, as by default), a URL whose host
    is an IP address literal connects without a trip through the
    resolver's thread pool (see `AddressLiteralResolver`).
    ``hostname_mapping`` applies first, as before.  A resolver passed in
    or configured otherwise is used as is.

    And one addition: `.HTTPRequest`'s proxy options (``proxy_host``,
    ``proxy_port``, ``proxy_username``, ``proxy_password``,
    ``proxy_auth_mode="basic"``), which Tornado's refuses, are honoured;
    ``trust_env=True`` (default False) also takes the proxy from the
    environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
    ``NO_PROXY``, in upper or lower case) for requests without
    ``proxy_host``.  See `.proxied`.
    """

    def initialize(self, *args: Any, trust_env: bool = False, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.trust_env = trust_env
        if not self.own_resolver:
            return
        resolver = self.resolver
        if isinstance(resolver, OverrideResolver):
            # The mapping first, then the shortcut for what it maps to.
            if type(resolver.resolver) in compat.GETADDRINFO_RESOLVERS:
                resolver.resolver = AddressLiteralResolver(resolver=resolver.resolver)
        elif type(resolver) in compat.GETADDRINFO_RESOLVERS:
            self.resolver = AddressLiteralResolver(resolver=resolver)
            self.tcp_client = TCPClient(resolver=self.resolver)

    @classmethod
    def _async_clients(cls) -> Dict[Any, Any]:
        # AsyncHTTPClient caches one instance per IOLoop under an attribute
        # named after the class *name*, found with hasattr: a subclass named
        # like its parent would be handed the parent's cached instance.
        # Keep a cache that belongs to this very class.
        if "_h1alt_clients" not in cls.__dict__:
            cls._h1alt_clients = weakref.WeakKeyDictionary()  # type: ignore[attr-defined]
        clients: Dict[Any, Any] = cls.__dict__["_h1alt_clients"]
        return clients

    def _connection_class(self) -> type:
        return _HTTPConnection
