"""Which proxy a request goes through, and what the proxy is told: the rules, no I/O.

`request_proxy` reads a request's ``proxy_*`` options (and, if the client
trusts the environment, ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` /
``NO_PROXY``); `needs_tunnel` says whether the request goes through a
``CONNECT`` tunnel (RFC 9110 9.3.6) or to the proxy in absolute form
(RFC 9112 3.2.2); `connect_target`, `absolute_target` and
`Proxy.authorization` are what is written to the proxy.
"""

from __future__ import annotations

import base64
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Optional, Tuple

from tornado import httputil

__all__ = [
    "PROXY_OPTIONS",
    "Proxy",
    "absolute_target",
    "connect_target",
    "environment_proxy",
    "needs_tunnel",
    "origin_of",
    "parse_proxy_url",
    "request_proxy",
]

# HTTPRequest's proxy options, which simple_httpclient refuses (NotImplementedError).
PROXY_OPTIONS = (
    "proxy_host",
    "proxy_port",
    "proxy_username",
    "proxy_password",
    "proxy_auth_mode",
)


class Proxy:
    """An HTTP proxy: where it is, and the Basic credentials to give it (if any).

    Equal proxies (same host, port and credentials) share pooled
    connections.  The credentials never appear in ``repr()`` or ``str()``,
    so a `Proxy` in a pool key, a log line or a traceback gives nothing away.
    """

    __slots__ = ("host", "port", "_credentials")

    def __init__(
        self,
        host: str,
        port: int,
        username: Optional[str] = None,
        password: Optional[str] = None,
    ) -> None:
        self.host = host
        self.port = port
        self._credentials: Optional[Tuple[str, str]] = (
            None if username is None else (username, password or "")
        )

    @property
    def has_credentials(self) -> bool:
        """True if the proxy is given Basic credentials."""
        return self._credentials is not None

    def authorization(self) -> Optional[str]:
        """The ``Proxy-Authorization`` field value (RFC 9110 11.7.2), Basic
        (RFC 7617); None without credentials."""
        if self._credentials is None:
            return None
        username, password = self._credentials
        token = base64.b64encode(httputil.encode_username_password(username, password))
        return "Basic " + token.decode("ascii")

    def _identity(self) -> Tuple[str, int, Optional[Tuple[str, str]]]:
        return (self.host, self.port, self._credentials)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proxy) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return "Proxy(%r, %d%s)" % (
            self.host,
            self.port,
            ", with credentials" if self._credentials is not None else "",
        )


def _option(request: Any, name: str) -> Any:
    # Through simple_httpclient's _RequestProxy, so the client's defaults apply.
    return getattr(request, name, None)


def request_proxy(
    request: Any,
    scheme: str,
    host: str,
    port: int,
    trust_env: bool,
) -> Optional[Proxy]:
    """The proxy a request to ``scheme://host:port`` goes through, or None.

    The request's own options first: ``proxy_host`` with ``proxy_port``
    (both needed, as `.HTTPRequest` documents), ``proxy_username`` and
    ``proxy_password`` for Basic authentication, the only
    ``proxy_auth_mode`` supported.  Without ``proxy_host``, and only if
    ``trust_env``, the environment's proxy for the scheme
    (`environment_proxy`).  Raises ValueError for options that cannot be
    honoured.
    """
    auth_mode = _option(request, "proxy_auth_mode")
    if auth_mode and auth_mode != "basic":
        raise ValueError('unsupported proxy_auth_mode %r: only "basic" is supported' % (auth_mode,))
    proxy_host = _option(request, "proxy_host")
    if proxy_host:
        proxy_port = _option(request, "proxy_port")
        if not proxy_port:
            raise ValueError("proxy_host needs proxy_port")
        username = _option(request, "proxy_username")
        return Proxy(
            proxy_host,
            int(proxy_port),
            username or None,
            _option(request, "proxy_password") if username else None,
        )
    for name in ("proxy_port", "proxy_username"):
        if _option(request, name):
            raise ValueError("%s needs proxy_host" % name)
    if not trust_env:
        return None
    return environment_proxy(scheme, host, port)


# Documented in urllib.request's source, not in typeshed's stubs.
_proxy_bypass_environment: Callable[[str, Dict[str, str]], bool] = (
    urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
)


def environment_proxy(scheme: str, host: str, port: int) -> Optional[Proxy]:
    """The proxy the environment names for ``scheme://host:port``, or None.

    As `urllib.request` reads them: ``<scheme>_proxy`` (``http_proxy``,
    ``https_proxy``; the lower-case name wins), else ``all_proxy``; none for
    a host ``no_proxy`` lists (`urllib.request.proxy_bypass_environment`).
    ``HTTP_PROXY`` in upper case is ignored in a CGI script, as urllib does.
    """
    proxies = urllib.request.getproxies_environment()
    url = proxies.get(scheme) or proxies.get("all")
    if not url:
        return None
    authority = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    if _proxy_bypass_environment(host, proxies) or _proxy_bypass_environment(authority, proxies):
        return None
    return parse_proxy_url(url)


def parse_proxy_url(url: str) -> Proxy:
    """A `Proxy` from a URL such as ``http://user:pass@proxy:3128``.

    The scheme may be left out (``proxy:3128``); the port defaults to 80.
    Credentials are percent-decoded.  Only ``http://`` proxies are
    supported (not TLS to the proxy, not SOCKS): anything else raises
    ValueError, whose message never includes the credentials.
    """
    if "://" not in url:
        url = "http://" + url
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme.lower() != "http":
        raise ValueError(
            "unsupported proxy scheme %r: only http:// proxies are supported" % (parsed.scheme,)
        )
    try:
        port = parsed.port
    except ValueError:
        raise ValueError("invalid port in the proxy URL for host %r" % (parsed.hostname,)) from None
    if not parsed.hostname:
        raise ValueError("the proxy URL has no host")
    username = None if parsed.username is None else urllib.parse.unquote(parsed.username)
    password = None if parsed.password is None else urllib.parse.unquote(parsed.password)
    return Proxy(parsed.hostname, 80 if port is None else port, username, password)


def origin_of(url: str) -> Optional[Tuple[str, str, int]]:
    """``(scheme, host, port)`` of a URL as simple_httpclient connects to it
    (the host without an IPv6 literal's brackets), or None for a scheme
    it refuses itself.  Raises ValueError for a malformed port (its
    message leaves out the URL, which may hold credentials)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        return None
    host, port = httputil.split_host_and_port(parsed.netloc.rpartition("@")[2])
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        # split_host_and_port leaves "host:port" whole when the port is not digits.
        raise ValueError("invalid port in the request URL")
    if port is None:
        port = 443 if parsed.scheme == "https" else 80
    return parsed.scheme, host, port


def needs_tunnel(scheme: str, upgrade: bool) -> bool:
    """Whether a request goes through a ``CONNECT`` tunnel rather than to the
    proxy in absolute form.

    Through a tunnel: ``https`` (TLS is end to end, with the origin), and a
    request asking to upgrade the connection (``ws://``): ``Upgrade`` is
    hop-by-hop (RFC 9110 7.8), so a forwarding proxy would not pass it on.
    """
    return scheme == "https" or upgrade


def connect_target(host: str, port: int) -> str:
    """The authority-form request-target of ``CONNECT`` (RFC 9112 3.2.3),
    which is also its ``Host`` field; an IPv6 literal in brackets."""
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def absolute_target(url: str, path: str) -> str:
    """The absolute-form request-target (RFC 9112 3.2.2) for a request to
    ``url``, whose origin-form target is ``path``: scheme and authority as
    written in the URL, without user information (RFC 9110 4.2.4)."""
    parsed = urllib.parse.urlsplit(url)
    return "%s://%s%s" % (parsed.scheme, parsed.netloc.rpartition("@")[2], path)
