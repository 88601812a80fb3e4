"""The client side: a SimpleAsyncHTTPClient that runs on tornado_h1alt's engine."""

from __future__ import annotations

import ipaddress
import socket
import weakref
from typing import Any, Dict, List, Optional, Tuple

import tornado.simple_httpclient
from tornado.concurrent import Future
from tornado.iostream import IOStream
from tornado.netutil import OverrideResolver, Resolver
from tornado.tcpclient import TCPClient

from . import _compat
from .connection import HTTP1Connection, HTTP1ConnectionParameters

__all__ = ["SimpleAsyncHTTPClient"]


def connection_params(
    *,
    max_header_size: Optional[int],
    max_body_size: Optional[int],
    decompress: bool,
    keep_alive: bool,
) -> HTTP1ConnectionParameters:
    """The HTTP1Connection parameters for one of simple_httpclient's requests."""
    return HTTP1ConnectionParameters(
        no_keep_alive=not keep_alive,
        max_header_size=max_header_size,
        max_body_size=max_body_size,
        decompress=decompress,
    )


class _HTTPConnection(tornado.simple_httpclient._HTTPConnection):
    """simple_httpclient's per-request logic, on our HTTP1Connection."""

    def _create_connection(self, stream: IOStream) -> Any:
        stream.set_nodelay(True)
        return HTTP1Connection(
            stream,
            True,
            connection_params(
                max_header_size=self.max_header_size,
                max_body_size=self.max_body_size,
                decompress=bool(self.request.decompress_response),
                keep_alive=False,
            ),
            self._sockaddr,
        )


def literal_address(host: str, port: int, family: int) -> Optional[List[Tuple[int, Any]]]:
    """What getaddrinfo() answers for ``host`` if it is an IP address literal
    in its canonical spelling (``127.0.0.1``, ``::1``), else None.

    Anything that getaddrinfo() might read differently is left to it: other
    spellings (``127.1``, leading zeros, IPv4-mapped forms), scoped IPv6
    addresses, a family that does not match, an unusual port.
    """
    if not isinstance(port, int) or not 0 <= port <= 65535 or "%" in host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if str(address) != host:
        return None
    if address.version == 4:
        if family not in (socket.AF_UNSPEC, socket.AF_INET):
            return None
        return [(socket.AF_INET, (host, port))]
    if family not in (socket.AF_UNSPEC, socket.AF_INET6):
        return None
    return [(socket.AF_INET6, (host, port, 0, 0))]


class AddressLiteralResolver(Resolver):
    """Answers a host that is an IP address literal itself (see
    `literal_address`); any other host goes to the resolver it wraps.

    Tornado's own resolvers hand every host to getaddrinfo() on a thread
    pool (or the event loop's executor); that round trip (a thread woken,
    the IOLoop woken back) was 15 to 25% of the client's CPU per fetch from
    a local server in our benchmark (two runs).  An address literal needs no lookup:
    asyncio's ``create_connection()`` skips getaddrinfo() for one as well.
    """

    def initialize(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def close(self) -> None:
        self.resolver.close()

    def resolve(
        self,
        host: str,
        port: int,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # (*args, **kwargs: Tornado 5.1's callback= argument goes on as given.)
        answer = None if args or kwargs else literal_address(host, port, family)
        if answer is None:
            return self.resolver.resolve(host, port, family, *args, **kwargs)
        future: Future[List[Tuple[int, Any]]] = Future()
        future.set_result(answer)
        return future


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
    """

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        if not self.own_resolver:
            return
        resolver = self.resolver
        if isinstance(resolver, OverrideResolver):
            # The mapping first, then the shortcut for what it maps to.
            if type(resolver.resolver) in _compat.GETADDRINFO_RESOLVERS:
                resolver.resolver = AddressLiteralResolver(resolver=resolver.resolver)
        elif type(resolver) in _compat.GETADDRINFO_RESOLVERS:
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
