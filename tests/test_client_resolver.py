"""The client's shortcut for IP address literals (client.AddressLiteralResolver).

What a user can observe: the same addresses getaddrinfo() gives, no
getaddrinfo() call (and so no thread pool) for a literal host, and every
resolver the user chose, or mapping they gave, still in charge.
"""

from __future__ import annotations

import socket
from typing import Any, Iterator, List, Tuple

import pytest
import tornado.web
from tornado.concurrent import Future
from tornado.httpclient import HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.netutil import OverrideResolver, Resolver
from tornado.testing import bind_unused_port

import tornado_h1alt
from tornado_h1alt import compat
from tornado_h1alt.client.resolver import AddressLiteralResolver, literal_address

PORT = 8080


def _getaddrinfo(host: str, port: int, family: int) -> List[Tuple[int, Any]]:
    # What Tornado's resolvers return (tornado.netutil._resolve_addr).
    return [
        (fam, address)
        for fam, _, _, _, address in socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    ]


@pytest.mark.parametrize(
    "host, family",
    [
        ("127.0.0.1", socket.AF_UNSPEC),
        ("127.0.0.1", socket.AF_INET),
        ("10.20.30.40", socket.AF_UNSPEC),
        ("0.0.0.0", socket.AF_UNSPEC),
        ("255.255.255.255", socket.AF_UNSPEC),
        ("::1", socket.AF_UNSPEC),
        ("::1", socket.AF_INET6),
        ("2001:db8::1", socket.AF_UNSPEC),
        ("::", socket.AF_UNSPEC),
    ],
)
def test_a_literal_resolves_as_getaddrinfo_resolves_it(host: str, family: int) -> None:
    assert literal_address(host, PORT, family) == _getaddrinfo(host, PORT, family)


@pytest.mark.parametrize(
    "host, port, family",
    [
        # Not literals, or spellings getaddrinfo may read its own way.
        ("localhost", PORT, socket.AF_UNSPEC),
        ("example.com", PORT, socket.AF_UNSPEC),
        ("127.1", PORT, socket.AF_UNSPEC),
        ("0x7f.0.0.1", PORT, socket.AF_UNSPEC),
        ("2130706433", PORT, socket.AF_UNSPEC),
        ("0:0:0:0:0:0:0:1", PORT, socket.AF_UNSPEC),
        ("[::1]", PORT, socket.AF_UNSPEC),
        (" 127.0.0.1", PORT, socket.AF_UNSPEC),
        ("fe80::1%1", PORT, socket.AF_UNSPEC),  # scoped: getaddrinfo fills the scope id
        # A family the literal does not have.
        ("127.0.0.1", PORT, socket.AF_INET6),
        ("::1", PORT, socket.AF_INET),
        # Ports getaddrinfo would judge.
        ("127.0.0.1", -1, socket.AF_UNSPEC),
        ("127.0.0.1", 65536, socket.AF_UNSPEC),
        ("127.0.0.1", "80", socket.AF_UNSPEC),
    ],
)
def test_anything_else_is_left_to_getaddrinfo(host: str, port: Any, family: int) -> None:
    assert literal_address(host, port, family) is None


class CountingResolver(Resolver):
    """A resolver that records what it is asked and answers from getaddrinfo."""

    def initialize(self) -> None:
        self.asked: List[str] = []
        self.closed = False

    def resolve(self, host: str, port: int, family: Any = socket.AF_UNSPEC) -> Any:
        self.asked.append(host)
        answer: Future[List[Tuple[int, Any]]] = Future()
        answer.set_result(_getaddrinfo(host, port, family))
        return answer

    def close(self) -> None:
        self.closed = True


async def test_the_shortcut_answers_literals_and_passes_the_rest_on(io_loop: IOLoop) -> None:
    inner = CountingResolver()
    resolver = AddressLiteralResolver(resolver=inner)
    assert await resolver.resolve("127.0.0.1", PORT) == [(socket.AF_INET, ("127.0.0.1", PORT))]
    assert await resolver.resolve("localhost", PORT) == _getaddrinfo("localhost", PORT, 0)
    assert inner.asked == ["localhost"]
    resolver.close()
    assert inner.closed


@pytest.fixture
def counted_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[str]]:
    """Every host socket.getaddrinfo() is asked for while the test runs."""
    hosts: List[str] = []
    original = socket.getaddrinfo

    def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.append(host)
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    yield hosts


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("hello")


@pytest.fixture
def port(io_loop: IOLoop) -> Iterator[int]:
    server = HTTPServer(tornado.web.Application([(r"/", HelloHandler)]))
    sock, port = bind_unused_port()
    server.add_socket(sock)
    yield port
    server.stop()
    io_loop.run_sync(server.close_all_connections)


@pytest.mark.parametrize(
    "client_class", [tornado_h1alt.SimpleAsyncHTTPClient, tornado_h1alt.KeepAliveHTTPClient]
)
async def test_a_literal_host_is_fetched_without_getaddrinfo(
    port: int, counted_getaddrinfo: List[str], client_class: Any
) -> None:
    client = client_class(force_instance=True)
    try:
        response = await client.fetch("http://127.0.0.1:%d/" % port)
        assert response.body == b"hello"
        assert counted_getaddrinfo == []
        # A name is still looked up, by the resolver Tornado would use.
        response = await client.fetch(HTTPRequest("http://localhost:%d/" % port))
        assert response.body == b"hello"
        assert counted_getaddrinfo == ["localhost"]
    finally:
        client.close()


async def test_the_mapping_applies_before_the_shortcut(port: int) -> None:
    # An address literal mapped elsewhere goes where the mapping says.
    client = tornado_h1alt.SimpleAsyncHTTPClient(
        force_instance=True, hostname_mapping={"192.0.2.1": "127.0.0.1"}
    )
    try:
        assert isinstance(client.resolver, OverrideResolver)
        response = await client.fetch("http://192.0.2.1:%d/" % port, connect_timeout=5)
        assert response.body == b"hello"
    finally:
        client.close()


async def test_a_resolver_passed_in_is_used_as_is(
    port: int, counted_getaddrinfo: List[str]
) -> None:
    resolver = CountingResolver()
    client = tornado_h1alt.SimpleAsyncHTTPClient(force_instance=True, resolver=resolver)
    try:
        assert client.resolver is resolver
        await client.fetch("http://127.0.0.1:%d/" % port)
        assert resolver.asked == ["127.0.0.1"]
    finally:
        client.close()
    assert not resolver.closed  # not ours to close


async def test_a_configured_resolver_class_is_used_as_is(port: int) -> None:
    saved = Resolver._save_configuration()
    Resolver.configure(CountingResolver)
    try:
        client = tornado_h1alt.SimpleAsyncHTTPClient(force_instance=True)
        try:
            assert type(client.resolver) is CountingResolver
            await client.fetch("http://127.0.0.1:%d/" % port)
            assert client.resolver.asked == ["127.0.0.1"]
        finally:
            client.close()
    finally:
        Resolver._restore_configuration(saved)


def test_the_default_resolver_is_one_the_shortcut_knows() -> None:
    # Otherwise the shortcut would silently never apply.
    resolver = Resolver()
    try:
        assert type(resolver) in compat.GETADDRINFO_RESOLVERS
    finally:
        resolver.close()
