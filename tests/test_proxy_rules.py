"""The proxy rules without sockets: which proxy, what it is told, and how connections are keyed.

`tornado_h1alt.client.proxy` (options, the environment, the request-targets)
and the pool key's proxy part.  `tests/test_proxy.py` runs the same rules
against a real proxy.
"""

from __future__ import annotations

import base64
from typing import Any, Dict, Optional

import pytest
from tornado.httpclient import HTTPRequest, _RequestProxy

from tornado_h1alt.client.proxy import (
    Proxy,
    absolute_target,
    connect_target,
    environment_proxy,
    needs_tunnel,
    origin_of,
    parse_proxy_url,
    request_proxy,
)
from tornado_h1alt.client.reuse import pool_key
from tornado_h1alt.client.tunnel import ProxyRoute

PROXY_VARIABLES = [
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process environment with no proxy variables (the tests set their own)."""
    for name in PROXY_VARIABLES + ["REQUEST_METHOD"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def basic(userpass: str) -> str:
    return "Basic " + base64.b64encode(userpass.encode("utf-8")).decode("ascii")


# -- Proxy ---------------------------------------------------------------------------------


def test_proxy_authorization_is_basic() -> None:
    assert Proxy("p", 1, "alice", "wonder land").authorization() == basic("alice:wonder land")
    assert Proxy("p", 1, "alice").authorization() == basic("alice:")
    assert Proxy("p", 1, "\u00e9l\u00e8ve", "\u00fc").authorization() == basic(
        "\u00e9l\u00e8ve:\u00fc"
    )
    assert Proxy("p", 1).authorization() is None
    assert not Proxy("p", 1).has_credentials and Proxy("p", 1, "a").has_credentials


def test_proxies_are_equal_with_equal_credentials_only() -> None:
    same = {Proxy("p", 1, "a", "b"), Proxy("p", 1, "a", "b")}
    assert len(same) == 1
    assert Proxy("p", 1, "a", "b") != Proxy("p", 1, "a", "c")
    assert Proxy("p", 1, "a", "b") != Proxy("p", 1)
    assert Proxy("p", 1) != Proxy("p", 2)
    assert Proxy("p", 1) != ("p", 1)


def test_proxy_repr_hides_credentials() -> None:
    proxy = Proxy("proxy.example", 3128, "the-user", "the-password")
    for text in (repr(proxy), str(proxy)):
        assert "the-user" not in text and "the-password" not in text
        assert "proxy.example" in text and "3128" in text
    assert repr(Proxy("proxy.example", 3128)) == "Proxy('proxy.example', 3128)"


# -- proxy URLs (the environment's) ---------------------------------------------------------


@pytest.mark.parametrize(
    "url, host, port, authorization",
    [
        ("http://proxy.example:3128", "proxy.example", 3128, None),
        ("http://proxy.example", "proxy.example", 80, None),
        ("proxy.example:3128", "proxy.example", 3128, None),
        ("HTTP://Proxy.Example:8080/", "proxy.example", 8080, None),
        ("http://u:p%40ss%3Aword@proxy.example:1", "proxy.example", 1, basic("u:p@ss:word")),
        ("http://u@proxy.example:1", "proxy.example", 1, basic("u:")),
        ("http://[::1]:3128", "::1", 3128, None),
    ],
)
def test_parse_proxy_url(url: str, host: str, port: int, authorization: Optional[str]) -> None:
    proxy = parse_proxy_url(url)
    assert (proxy.host, proxy.port, proxy.authorization()) == (host, port, authorization)


@pytest.mark.parametrize(
    "url, says",
    [
        ("https://user:hidden-secret@proxy.example:443", "only http://"),
        ("socks5://user:hidden-secret@proxy.example:1080", "socks5"),
        ("http://user:hidden-secret@proxy.example:port", "invalid port"),
        ("http://user:hidden-secret@:3128", "no host"),
    ],
)
def test_unusable_proxy_urls_are_refused_without_their_credentials(url: str, says: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_proxy_url(url)
    assert says in str(raised.value)
    assert "hidden-secret" not in str(raised.value)


# -- the environment ------------------------------------------------------------------------


def test_environment_proxy_per_scheme(env: pytest.MonkeyPatch) -> None:
    assert environment_proxy("http", "origin.example", 80) is None
    env.setenv("HTTP_PROXY", "http://plain-proxy:1")
    env.setenv("HTTPS_PROXY", "http://tls-proxy:2")
    assert environment_proxy("http", "origin.example", 80) == Proxy("plain-proxy", 1)
    assert environment_proxy("https", "origin.example", 443) == Proxy("tls-proxy", 2)


def test_environment_lower_case_wins(env: pytest.MonkeyPatch) -> None:
    env.setenv("HTTP_PROXY", "http://upper:1")
    env.setenv("http_proxy", "http://lower:2")
    assert environment_proxy("http", "origin.example", 80) == Proxy("lower", 2)


def test_environment_all_proxy_is_the_fallback(env: pytest.MonkeyPatch) -> None:
    env.setenv("ALL_PROXY", "http://everything:3")
    env.setenv("https_proxy", "http://tls-proxy:2")
    assert environment_proxy("http", "origin.example", 80) == Proxy("everything", 3)
    assert environment_proxy("https", "origin.example", 443) == Proxy("tls-proxy", 2)


def test_environment_credentials(env: pytest.MonkeyPatch) -> None:
    env.setenv("https_proxy", "http://alice:s%20cret@proxy.example:3128")
    proxy = environment_proxy("https", "origin.example", 443)
    assert proxy == Proxy("proxy.example", 3128, "alice", "s cret")


@pytest.mark.parametrize(
    "no_proxy, bypassed",
    [
        ("origin.example", True),
        ("example", True),  # a domain suffix (at a dot)
        ("ample", False),
        (".example", True),
        ("other.example, origin.example", True),
        ("*", True),
        ("origin.example:8080", True),
        ("origin.example:9090", False),
        ("ORIGIN.EXAMPLE", True),
        ("", False),
    ],
)
def test_no_proxy(env: pytest.MonkeyPatch, no_proxy: str, bypassed: bool) -> None:
    env.setenv("http_proxy", "http://proxy:1")
    env.setenv("NO_PROXY", no_proxy)
    proxy = environment_proxy("http", "origin.example", 8080)
    assert (proxy is None) is bypassed


def test_no_proxy_for_ipv6_literals(env: pytest.MonkeyPatch) -> None:
    env.setenv("http_proxy", "http://proxy:1")
    env.setenv("no_proxy", "::1")
    assert environment_proxy("http", "::1", 80) is None
    assert environment_proxy("http", "::2", 80) == Proxy("proxy", 1)


def test_cgi_scripts_ignore_upper_case_http_proxy(env: pytest.MonkeyPatch) -> None:
    # httpoxy (CVE-2016-1000110): a client's "Proxy:" header becomes HTTP_PROXY.
    env.setenv("REQUEST_METHOD", "GET")
    env.setenv("HTTP_PROXY", "http://attacker:1")
    assert environment_proxy("http", "origin.example", 80) is None
    env.setenv("http_proxy", "http://mine:2")
    assert environment_proxy("http", "origin.example", 80) == Proxy("mine", 2)


# -- a request's proxy ----------------------------------------------------------------------


def proxied_request(defaults: Optional[Dict[str, Any]] = None, **options: Any) -> Any:
    """A request as simple_httpclient sees it: through _RequestProxy, with defaults."""
    merged = dict(HTTPRequest._DEFAULTS)
    merged.update(defaults or {})
    return _RequestProxy(HTTPRequest("http://origin.example/", **options), merged)


def test_request_options_give_the_proxy(env: pytest.MonkeyPatch) -> None:
    request = proxied_request(proxy_host="proxy.example", proxy_port=3128)
    assert request_proxy(request, "http", "origin.example", 80, False) == Proxy(
        "proxy.example", 3128
    )
    with_credentials = proxied_request(
        proxy_host="proxy.example", proxy_port=3128, proxy_username="u", proxy_password="p"
    )
    proxy = request_proxy(with_credentials, "http", "origin.example", 80, False)
    assert proxy is not None and proxy.authorization() == basic("u:p")
    # The client's defaults count, as for any option.
    defaulted = proxied_request(defaults={"proxy_host": "proxy.example", "proxy_port": 1})
    assert request_proxy(defaulted, "http", "origin.example", 80, False) == Proxy(
        "proxy.example", 1
    )
    assert request_proxy(proxied_request(), "http", "origin.example", 80, False) is None


def test_request_options_win_over_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("http_proxy", "http://from-env:1")
    request = proxied_request(proxy_host="from-options", proxy_port=2)
    assert request_proxy(request, "http", "origin.example", 80, True) == Proxy("from-options", 2)
    # The environment only if trusted.
    assert request_proxy(proxied_request(), "http", "origin.example", 80, True) == Proxy(
        "from-env", 1
    )
    assert request_proxy(proxied_request(), "http", "origin.example", 80, False) is None


@pytest.mark.parametrize(
    "options, says",
    [
        ({"proxy_host": "p"}, "proxy_host needs proxy_port"),
        ({"proxy_port": 1}, "proxy_port needs proxy_host"),
        ({"proxy_username": "u"}, "proxy_username needs proxy_host"),
        (
            {"proxy_host": "p", "proxy_port": 1, "proxy_auth_mode": "digest"},
            "unsupported proxy_auth_mode 'digest': only \"basic\" is supported",
        ),
    ],
)
def test_request_options_that_cannot_be_honoured(options: Dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError) as raised:
        request_proxy(proxied_request(**options), "http", "origin.example", 80, False)
    assert str(raised.value) == says


def test_basic_auth_mode_is_accepted() -> None:
    request = proxied_request(
        proxy_host="p", proxy_port=1, proxy_username="u", proxy_password="", proxy_auth_mode="basic"
    )
    proxy = request_proxy(request, "http", "origin.example", 80, False)
    assert proxy is not None and proxy.authorization() == basic("u:")


# -- what the proxy is told ------------------------------------------------------------------


def test_tunnel_or_absolute_form() -> None:
    assert needs_tunnel("https", upgrade=False)
    assert needs_tunnel("http", upgrade=True)  # ws://
    assert not needs_tunnel("http", upgrade=False)


def test_connect_target_is_authority_form() -> None:
    assert connect_target("origin.example", 443) == "origin.example:443"
    assert connect_target("::1", 8443) == "[::1]:8443"


def test_absolute_target() -> None:
    assert absolute_target("http://origin.example/a", "/a") == "http://origin.example/a"
    assert (
        absolute_target("http://user:pw@origin.example:8080/a?b#c", "/a?b")
        == "http://origin.example:8080/a?b"
    )
    assert absolute_target("http://[::1]:8080/", "/") == "http://[::1]:8080/"


@pytest.mark.parametrize(
    "url, origin",
    [
        ("http://origin.example/a", ("http", "origin.example", 80)),
        ("https://origin.example/a", ("https", "origin.example", 443)),
        ("https://u:p@origin.example:8443/", ("https", "origin.example", 8443)),
        ("http://[::1]:8080/", ("http", "::1", 8080)),
        ("ftp://origin.example/", None),
    ],
)
def test_origin_of(url: str, origin: Any) -> None:
    assert origin_of(url) == origin


def test_origin_of_refuses_a_malformed_port_without_the_url() -> None:
    with pytest.raises(ValueError) as raised:
        origin_of("http://user:hidden-secret@origin.example:port/")
    assert "hidden-secret" not in str(raised.value)


# -- pooled connections ---------------------------------------------------------------------


def test_pool_key_separates_proxies_credentials_and_tunnels() -> None:
    def key(proxy: Optional[Proxy], tunnel: bool = True) -> Any:
        route = None if proxy is None else ProxyRoute(proxy, tunnel)
        return pool_key("origin.example", 443, None, proxy=route and route.pool_key)

    direct = key(None)
    assert direct == pool_key("origin.example", 443)
    alice = key(Proxy("p", 1, "alice", "a-password"))
    assert alice == key(Proxy("p", 1, "alice", "a-password"))
    assert len({direct, alice, key(Proxy("p", 1, "bob", "b")), key(Proxy("p", 1))}) == 4
    assert key(Proxy("p", 1), tunnel=False) != key(Proxy("p", 1), tunnel=True)
    assert key(Proxy("p", 1)) != key(Proxy("p", 2))
    # A key may appear in an error message: the credentials do not.
    assert "a-password" not in repr(alice) and "alice" not in repr(alice)
