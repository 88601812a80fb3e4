"""install() / uninstall() / installed(), the configure() paths and ``python -m tornado_h1alt``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import tornado.http1connection
import tornado.httpserver
import tornado.simple_httpclient
import tornado.web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpserver import TCPServer
from tornado.testing import bind_unused_port

import tornado_h1alt

REPO = Path(__file__).resolve().parent.parent

# Every binding install() replaces: (module, name) -> the name in tornado_h1alt.
PATCHED = {
    (tornado.http1connection, "HTTP1Connection"): "HTTP1Connection",
    (tornado.http1connection, "HTTP1ConnectionParameters"): "HTTP1ConnectionParameters",
    (tornado.http1connection, "HTTP1ServerConnection"): "HTTP1ServerConnection",
    (tornado.httpserver, "HTTP1ServerConnection"): "HTTP1ServerConnection",
    (tornado.httpserver, "HTTP1ConnectionParameters"): "HTTP1ConnectionParameters",
    (tornado.simple_httpclient, "HTTP1Connection"): "HTTP1Connection",
    (tornado.simple_httpclient, "HTTP1ConnectionParameters"): "HTTP1ConnectionParameters",
}


def _bindings() -> Dict[Tuple[Any, str], object]:
    return {(module, name): getattr(module, name) for module, name in PATCHED}


# Captured at import, before any test could install anything.
ORIGINALS = _bindings()


@pytest.fixture(autouse=True)
def restore_global_state() -> Iterator[None]:
    """Whatever a test does, Tornado is left exactly as it was found."""
    assert not tornado_h1alt.is_installed()
    saved_client = AsyncHTTPClient._save_configuration()
    saved_server = tornado.httpserver.HTTPServer._save_configuration()
    try:
        yield
    finally:
        tornado_h1alt.uninstall()
        AsyncHTTPClient._restore_configuration(saved_client)
        tornado.httpserver.HTTPServer._restore_configuration(saved_server)
        assert _bindings() == ORIGINALS
        assert all(_bindings()[key] is ORIGINALS[key] for key in ORIGINALS)


def test_originals_are_tornados_own() -> None:
    for (module, name), value in ORIGINALS.items():
        module_name = value.__module__
        assert module_name.startswith("tornado."), (module.__name__, name)


def test_install_replaces_every_binding() -> None:
    tornado_h1alt.install()
    assert tornado_h1alt.is_installed()
    for (module, name), ours_name in PATCHED.items():
        current = getattr(module, name)
        assert current is getattr(tornado_h1alt, ours_name), (module.__name__, name)
        assert current.__module__.startswith("tornado_h1alt"), (module.__name__, name)
        # A reimplementation, not a subclass of the class it replaces.
        original = ORIGINALS[(module, name)]
        assert not issubclass(current, original), (module.__name__, name)  # type: ignore[arg-type]


def test_uninstall_restores_the_exact_originals() -> None:
    tornado_h1alt.install()
    tornado_h1alt.uninstall()
    assert not tornado_h1alt.is_installed()
    for key, original in ORIGINALS.items():
        assert getattr(*key) is original, key


def test_install_twice_then_uninstall_once() -> None:
    tornado_h1alt.install()
    tornado_h1alt.install()
    assert tornado_h1alt.is_installed()
    tornado_h1alt.uninstall()
    assert not tornado_h1alt.is_installed()
    for key, original in ORIGINALS.items():
        assert getattr(*key) is original, key


def test_uninstall_when_not_installed_is_a_no_op() -> None:
    tornado_h1alt.uninstall()
    tornado_h1alt.uninstall()
    assert not tornado_h1alt.is_installed()
    for key, original in ORIGINALS.items():
        assert getattr(*key) is original, key


def test_installed_context_manager_nests() -> None:
    with tornado_h1alt.installed():
        assert tornado.http1connection.HTTP1Connection is tornado_h1alt.HTTP1Connection
        with tornado_h1alt.installed():
            assert tornado_h1alt.is_installed()
        # Only the outermost block uninstalls.
        assert tornado_h1alt.is_installed()
        assert tornado.httpserver.HTTP1ServerConnection is tornado_h1alt.HTTP1ServerConnection
    assert not tornado_h1alt.is_installed()
    assert (
        tornado.http1connection.HTTP1Connection
        is ORIGINALS[(tornado.http1connection, "HTTP1Connection")]
    )


def test_installed_inside_explicit_install_leaves_it_installed() -> None:
    tornado_h1alt.install()
    with tornado_h1alt.installed():
        pass
    assert tornado_h1alt.is_installed()


def test_installed_uninstalls_on_exception() -> None:
    with pytest.raises(KeyError):
        with tornado_h1alt.installed():
            raise KeyError("boom")
    assert not tornado_h1alt.is_installed()
    for key, original in ORIGINALS.items():
        assert getattr(*key) is original, key


# -- servers and clients created after install() -------------------------------------


class ConnectionTypeHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        connection = self.request.connection
        self.write(f"{type(connection).__module__}.{type(connection).__qualname__}")


def _listen(server: TCPServer) -> int:
    sock, port = bind_unused_port()
    server.add_socket(sock)
    return port


async def _fetch_connection_type(
    server: tornado.httpserver.HTTPServer, client: AsyncHTTPClient
) -> str:
    port = _listen(server)
    try:
        response = await client.fetch(f"http://127.0.0.1:{port}/")
        return response.body.decode()
    finally:
        server.stop()
        await server.close_all_connections()


async def test_server_created_after_install_uses_our_engine(io_loop: IOLoop) -> None:
    app = tornado.web.Application([(r"/", ConnectionTypeHandler)])
    client = AsyncHTTPClient(force_instance=True)
    try:
        with tornado_h1alt.installed():
            # The stock class, created while installed: it builds our connections.
            server = tornado.httpserver.HTTPServer(app)
            assert type(server) is tornado.httpserver.HTTPServer
            assert isinstance(server.conn_params, tornado_h1alt.HTTP1ConnectionParameters)
            served_by = await _fetch_connection_type(server, client)
        assert served_by == "tornado_h1alt.connection.HTTP1Connection"
        # And once uninstalled, a new server is stock again.
        served_by = await _fetch_connection_type(tornado.httpserver.HTTPServer(app), client)
        assert served_by == "tornado.http1connection.HTTP1Connection"
    finally:
        client.close()


class ChunkExtensionServer(TCPServer):
    """Answers every request with a chunked body that uses a chunk extension.

    RFC 9112 7.1.1 says extensions must be ignored; Tornado 6.6's engine
    rejects them and ours accepts them, so a fetch tells the engines apart.
    """

    def __init__(self) -> None:
        super().__init__()
        self.streams: List[IOStream] = []

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.append(stream)
        try:
            await stream.read_until(b"\r\n\r\n")
            await stream.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                b"5;ext=1\r\nhello\r\n0\r\n\r\n"
            )
        except StreamClosedError:
            pass
        stream.close()


@pytest.fixture
def chunk_extension_url(io_loop: IOLoop) -> Iterator[str]:
    server = ChunkExtensionServer()
    port = _listen(server)
    yield f"http://127.0.0.1:{port}/"
    server.stop()
    for stream in server.streams:
        stream.close()


async def test_stock_client_created_after_install_uses_our_engine(chunk_extension_url: str) -> None:
    with tornado_h1alt.installed():
        client = tornado.simple_httpclient.SimpleAsyncHTTPClient(force_instance=True)
        try:
            response = await client.fetch(chunk_extension_url)
            assert response.body == b"hello"
        finally:
            client.close()
    # Uninstalled: the stock engine refuses the same response.
    client = tornado.simple_httpclient.SimpleAsyncHTTPClient(force_instance=True)
    try:
        with pytest.raises((HTTPClientError, StreamClosedError)):
            await client.fetch(chunk_extension_url)
    finally:
        client.close()


async def test_async_http_client_configure(chunk_extension_url: str) -> None:
    AsyncHTTPClient.configure("tornado_h1alt.SimpleAsyncHTTPClient")
    client = AsyncHTTPClient(force_instance=True)
    try:
        assert type(client) is tornado_h1alt.SimpleAsyncHTTPClient
        assert not tornado_h1alt.is_installed()  # no monkeypatching involved
        response = await client.fetch(chunk_extension_url)
        assert (response.code, response.body) == (200, b"hello")
    finally:
        client.close()


async def test_http_server_configure(io_loop: IOLoop) -> None:
    tornado.httpserver.HTTPServer.configure("tornado_h1alt.HTTPServer")
    app = tornado.web.Application([(r"/", ConnectionTypeHandler)])
    server = tornado.httpserver.HTTPServer(app)
    assert type(server) is tornado_h1alt.HTTPServer
    assert not tornado_h1alt.is_installed()
    client = tornado.simple_httpclient.SimpleAsyncHTTPClient(force_instance=True)
    try:
        served_by = await _fetch_connection_type(server, client)
    finally:
        client.close()
    assert served_by == "tornado_h1alt.connection.HTTP1Connection"


# -- python -m tornado_h1alt -------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tornado.http1connection, tornado.httpserver, tornado.simple_httpclient
    import tornado_h1alt
    print(json.dumps({
        "name": __name__,
        "argv": sys.argv,
        "installed": tornado_h1alt.is_installed(),
        "engine": [
            tornado.http1connection.HTTP1Connection.__module__,
            tornado.httpserver.HTTP1ServerConnection.__module__,
            tornado.simple_httpclient.HTTP1Connection.__module__,
        ],
    }))
    """
)


def _run_module(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "tornado_h1alt", *args],
        cwd=str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_main_runs_script_as_main_with_engine_installed(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    result = _run_module(str(script), "--port", "8888", "extra arg")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["name"] == "__main__"
    assert seen["argv"] == [str(script), "--port", "8888", "extra arg"]
    assert seen["installed"] is True
    assert all(module.startswith("tornado_h1alt") for module in seen["engine"]), seen["engine"]


def test_main_propagates_script_exit_status(tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text("import sys\nsys.exit(7)\n")
    assert _run_module(str(script)).returncode == 7


def test_main_without_arguments_prints_usage_and_exits_2() -> None:
    result = _run_module()
    assert result.returncode == 2
    assert "usage" in result.stderr.lower()
    assert result.stdout == ""
