"""When a pooled connection may be reused or a request retried: the rules, as pure functions.

No sockets and no clock: `pool_key` says which connections are
interchangeable, `parse_keep_alive` and `idle_timeout_for` read the
server's ``Keep-Alive`` hint, `may_reuse` decides whether a connection goes
back to the pool after an exchange, and `may_retry` whether a request that
failed on a stale connection may be sent again.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, Dict, Hashable, NamedTuple, Optional, Union, cast

from tornado.iostream import StreamClosedError
from tornado.simple_httpclient import HTTPStreamClosedError

from ..h1 import abnf

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "KeepAliveHint",
    "PoolKey",
    "idle_timeout_for",
    "is_connection_lost",
    "may_retry",
    "may_reuse",
    "parse_keep_alive",
    "pool_key",
]

# How long an idle connection stays in the pool, in seconds.  Servers close
# idle connections after anything from 5 s (Apache) to an hour (Tornado);
# the shorter we keep them, the rarer the race in which the server closes a
# connection just as we send a request on it.
DEFAULT_IDLE_TIMEOUT = 15.0

# RFC 9110 9.2.2: PUT, DELETE and the safe methods (9.2.1).  Method names
# are case-sensitive (9.1), so "get" is not among them.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class PoolKey(NamedTuple):
    """What must match for a connection to be reused: where it goes and how.

    ``tls`` is None for plain HTTP; otherwise the `ssl.SSLContext` itself
    (compared by identity) or a frozen copy of an ``ssl_options`` dict.
    ``proxy`` is None for a direct connection; otherwise the proxy route's
    part (`.ProxyRoute.pool_key`: the proxy with its credentials, and
    whether the connection is a tunnel), so a connection is shared only by
    requests to the same origin through the same proxy as the same user.
    """

    scheme: str
    host: str
    port: int
    tls: Hashable
    address_family: int
    source_ip: Optional[str]
    source_port: Optional[int]
    proxy: Hashable = None


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
    proxy: Hashable = None,
) -> PoolKey:
    """The pool key for a connection `.TCPClient.connect` would open with these
    arguments (through the proxy route whose `.ProxyRoute.pool_key` is ``proxy``)."""
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
        proxy,
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
        if not abnf.digits.fullmatch(argument):
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


def may_reuse(
    *,
    response_complete: bool,
    requests_served: int,
    max_requests: Optional[int],
    server_max: Optional[int] = None,
) -> bool:
    """Whether a connection may go back to the pool after an exchange.

    :arg response_complete: the response was read whole and the exchange
        said the connection may carry another (`.Exchange.keep_alive`, which
        `.read_response` resolves to: not ``Connection: close`` in the
        request or the response, not HTTP/1.0 without keep-alive, not a body
        ended by the close; and no error, no timeout, not cancelled).
    :arg requests_served: exchanges this connection has carried, this one included.
    :arg max_requests: our limit per connection (None: no limit).
    :arg server_max: the server's ``Keep-Alive: max=``, the number of further
        requests it will take on this connection.
    """
    if not response_complete:
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
