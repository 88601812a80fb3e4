"""HTTP proxies, against a real proxy: tinyproxy, started by these tests on 127.0.0.1.

The clients: `tornado_h1alt.SimpleAsyncHTTPClient`, `tornado_h1alt.KeepAliveHTTPClient`
and, after `tornado_h1alt.install()`, Tornado's own ``SimpleAsyncHTTPClient`` and
``websocket_connect``.  The origins are Tornado servers on 127.0.0.1 that record
what they receive (request line, fields, TLS server name) and count the
connections they accept; a TLS origin has a self-signed certificate for
``localhost`` made here with the ``openssl`` command.  Where the exact bytes a
proxy receives matter (the request line, ``CONNECT``), or a proxy must misbehave
(stay silent, send bytes after its ``200``), a scripted proxy stands in for
tinyproxy.

tinyproxy must be installed (``apt-get install tinyproxy``; CI does it in
``.ci/run``): without it these tests fail, saying so.
"""

from __future__ import annotations

import base64
import logging
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple, Type

import pytest
import tornado.simple_httpclient
import tornado.web
import tornado.websocket
from tornado import gen
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream, StreamClosedError
from tornado.netutil import bind_sockets
from tornado.simple_httpclient import HTTPTimeoutError
from tornado.tcpserver import TCPServer
from tornado.testing import bind_unused_port

import tornado_h1alt
from tornado_h1alt import compat
from tornado_h1alt.client.proxy import Proxy

# Generous: only reached if something hangs, never on the expected path.
HANG_GUARD = 15.0

USER, PASSWORD = "proxy-user", "Zq7-s3cret-pass"
OTHER_USER, OTHER_PASSWORD = "other-user", "Xk2-other-pass"

TINYPROXY = shutil.which("tinyproxy")
OPENSSL = shutil.which("openssl")


def _require(program: Optional[str], missing: str) -> str:
    if program is None:
        pytest.fail(missing, pytrace=False)
    return program


def _tinyproxy() -> str:
    return _require(
        TINYPROXY,
        "tinyproxy is not installed, and the proxy tests run a real one: "
        "apt-get install tinyproxy (CI's .ci/run installs it)",
    )


def _openssl() -> str:
    return _require(
        OPENSSL,
        "openssl is not installed, and the proxy tests make their certificate with it: "
        "apt-get install openssl",
    )


def _unused_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# Sockets bound and never listening: a connection to one is refused, and
# nothing else (a parallel test run, say) can take its port meanwhile.
_REFUSING: List[socket.socket] = []


def _refusing_port() -> int:
    """A port on 127.0.0.1 that refuses connections until the module's tests end."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _REFUSING.append(sock)
    port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module", autouse=True)
def _close_refusing_ports() -> Iterator[None]:
    yield
    while _REFUSING:
        _REFUSING.pop().close()


class Tinyproxy:
    """A tinyproxy process listening on 127.0.0.1, with its configuration and log."""

    def __init__(
        self,
        directory: Path,
        users: Tuple[Tuple[str, str], ...] = (),
        connect_ports: Tuple[int, ...] = (),
    ) -> None:
        self.directory = directory
        self.users = users
        self.connect_ports = connect_ports
        self.process: Optional[subprocess.Popen[bytes]] = None
        for _ in range(3):  # another process may take the port first
            self.port = _unused_port()
            if self._start():
                return
        pytest.fail("tinyproxy did not start: %s" % self._output(), pytrace=False)

    def _start(self) -> bool:
        conf = self.directory / "tinyproxy.conf"
        lines = [
            "Listen 127.0.0.1",
            "Port %d" % self.port,
            "Timeout 30",
            "MaxClients 50",
            "Allow 127.0.0.1",
            'LogFile "%s"' % (self.directory / "tinyproxy.log"),
            "LogLevel Info",
        ]
        lines += ["BasicAuth %s %s" % user for user in self.users]
        lines += ["ConnectPort %d" % port for port in self.connect_ports]
        conf.write_text("\n".join(lines) + "\n")
        # Runs as whoever runs the tests (root in CI): with no User line,
        # tinyproxy keeps the current user.
        with open(self.directory / "stderr", "wb") as stderr:
            self.process = subprocess.Popen(
                [
                    _tinyproxy(),
                    "-d",
                    "-c",
                    str(conf),
                ],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        self.stop()
        return False

    def _output(self) -> str:
        texts = []
        for name in ("stderr", "tinyproxy.log"):
            path = self.directory / name
            if path.exists():
                texts.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(texts)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def options(self, credentials: Optional[Tuple[str, str]] = None) -> Dict[str, Any]:
        """HTTPRequest's proxy options for this proxy."""
        options: Dict[str, Any] = {"proxy_host": "127.0.0.1", "proxy_port": self.port}
        if credentials is not None:
            options["proxy_username"], options["proxy_password"] = credentials
        return options

    def url(self, credentials: Optional[Tuple[str, str]] = None) -> str:
        """This proxy as an environment variable names it."""
        userinfo = "%s:%s@" % credentials if credentials is not None else ""
        return "http://%s127.0.0.1:%d" % (userinfo, self.port)


class Proxies(NamedTuple):
    open: Tinyproxy  # no authentication
    auth: Tinyproxy  # Basic: USER / PASSWORD and OTHER_USER / OTHER_PASSWORD


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxies]:
    _tinyproxy()
    started = Proxies(
        Tinyproxy(tmp_path_factory.mktemp("open-proxy")),
        Tinyproxy(
            tmp_path_factory.mktemp("auth-proxy"),
            users=((USER, PASSWORD), (OTHER_USER, OTHER_PASSWORD)),
        ),
    )
    try:
        yield started
    finally:
        for proxy in started:
            proxy.stop()


class TLSFiles(NamedTuple):
    cert: str  # self-signed, for DNS:localhost only (not 127.0.0.1)
    key: str


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    openssl = _openssl()
    directory = tmp_path_factory.mktemp("tls")
    files = TLSFiles(str(directory / "cert.pem"), str(directory / "key.pem"))
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            files.key,
            "-out",
            files.cert,
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-addext",
            "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return files


# =====================================================================================
# Origins and a scripted proxy
# =====================================================================================


class Seen(NamedTuple):
    """A request as an origin received it."""

    method: str
    uri: str
    headers: Dict[str, str]


class OriginState:
    def __init__(self) -> None:
        self.requests: List[Seen] = []
        self.server_names: List[Optional[str]] = []  # TLS SNI, per handshake

    def last(self) -> Seen:
        return self.requests[-1]


class RecordingHandler(tornado.web.RequestHandler):
    def initialize(self, state: OriginState) -> None:
        self.state = state

    def prepare(self) -> None:
        request = self.request
        self.state.requests.append(
            Seen(request.method or "", request.uri or "", dict(request.headers))
        )


class EchoHandler(RecordingHandler):
    def get(self) -> None:
        self.write("hello from %s" % self.request.host)


class RedirectHandler(RecordingHandler):
    def get(self) -> None:
        self.redirect(self.get_argument("to"))


class WebSocketEcho(tornado.websocket.WebSocketHandler):
    def initialize(self, state: OriginState) -> None:
        self.state = state

    def open(self) -> None:
        request = self.request
        self.state.requests.append(
            Seen(request.method or "", request.uri or "", dict(request.headers))
        )

    def on_message(self, message: Any) -> None:
        self.write_message("echo: %s" % message)


class CountingServer(tornado_h1alt.HTTPServer):
    """Our HTTPServer (install() does not warn about it), counting accepted connections."""

    connections_accepted = 0

    def handle_stream(self, stream: IOStream, address: Any) -> Any:
        self.connections_accepted += 1
        return super().handle_stream(stream, address)


class Origin(NamedTuple):
    server: CountingServer
    state: OriginState
    port: int
    base: str  # scheme://host:port


class ScriptedProxy(TCPServer):
    """A stand-in proxy: records each request head it receives, and answers with
    ``reply`` (bytes), or not at all (None: it keeps the connection open, silent)."""

    def __init__(self, reply: Optional[bytes]) -> None:
        super().__init__()
        self.reply = reply
        self.heads: List[bytes] = []
        self.streams: List[IOStream] = []

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.append(stream)
        try:
            head = await stream.read_until(b"\r\n\r\n")
            self.heads.append(head)
            if self.reply is not None:
                await stream.write(self.reply)
            await stream.read_until_close()
        except StreamClosedError:
            pass


class Harness:
    """Starts origins and clients for one test, and tears them down."""

    def __init__(self, io_loop: IOLoop, tls: TLSFiles) -> None:
        self.io_loop = io_loop
        self.tls = tls
        self.servers: List[Any] = []
        self.clients: List[Any] = []

    def origin(self, tls: bool = False) -> Origin:
        state = OriginState()
        app = tornado.web.Application(
            [
                (r"/ws", WebSocketEcho, {"state": state}),
                (r"/redirect", RedirectHandler, {"state": state}),
                (r"/.*", EchoHandler, {"state": state}),
            ]
        )
        ssl_options = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.cert, self.tls.key)

            def record_name(sock: Any, server_name: Optional[str], ctx: Any) -> None:
                state.server_names.append(server_name)

            context.sni_callback = record_name
            ssl_options = context
        server = CountingServer(app, ssl_options=ssl_options)
        # The TLS origin is reached by the name its certificate is for;
        # tinyproxy resolves it (to whichever addresses it binds here).
        sockets = bind_sockets(0, "localhost" if tls else "127.0.0.1")
        server.add_sockets(sockets)
        self.servers.append(server)
        port = sockets[0].getsockname()[1]
        host = "localhost" if tls else "127.0.0.1"
        return Origin(server, state, port, "%s://%s:%d" % ("https" if tls else "http", host, port))

    def scripted_proxy(self, reply: Optional[bytes]) -> Tuple[ScriptedProxy, int]:
        proxy = ScriptedProxy(reply)
        sock, port = bind_unused_port()
        proxy.add_socket(sock)
        self.servers.append(proxy)
        return proxy, port

    def client(self, kind: str, **kwargs: Any) -> Any:
        client = CLIENT_KINDS[kind](force_instance=True, **kwargs)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for server in self.servers:
            server.stop()
            if isinstance(server, ScriptedProxy):
                for stream in server.streams:
                    stream.close()
            else:
                self.io_loop.run_sync(server.close_all_connections)


CLIENT_KINDS: Dict[str, Type[AsyncHTTPClient]] = {
    "h1alt-simple": tornado_h1alt.SimpleAsyncHTTPClient,
    "keepalive": tornado_h1alt.KeepAliveHTTPClient,
    # Tornado's own, with install() in effect (the client_kind fixture)
    "tornado-installed": tornado.simple_httpclient.SimpleAsyncHTTPClient,
}
OUR_CLIENTS = ["h1alt-simple", "keepalive"]


@pytest.fixture
def harness(io_loop: IOLoop, tls_files: TLSFiles) -> Iterator[Harness]:
    harness = Harness(io_loop, tls_files)
    yield harness
    harness.close()


@pytest.fixture(params=sorted(CLIENT_KINDS))
def client_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    kind: str = request.param
    if kind == "tornado-installed":
        tornado_h1alt.install()
    try:
        yield kind
    finally:
        tornado_h1alt.uninstall()


@pytest.fixture(params=[False, True], ids=["no-auth", "basic-auth"])
def auth(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def proxy_for(proxies: Proxies, auth: bool) -> Tuple[Tinyproxy, Dict[str, Any]]:
    """The proxy for the auth parameter, and the request options to use it."""
    if auth:
        return proxies.auth, proxies.auth.options((USER, PASSWORD))
    return proxies.open, proxies.open.options()


async def fetch(client: Any, request: HTTPRequest, raise_error: bool = True) -> HTTPResponse:
    response: HTTPResponse = await gen.with_timeout(
        IOLoop.current().time() + HANG_GUARD, client.fetch(request, raise_error=raise_error)
    )
    return response


async def fetch_error(client: Any, request: HTTPRequest) -> BaseException:
    """The exception ``client.fetch(request)`` raises (failing the test if none)."""
    try:
        await fetch(client, request)
    except Exception as error:
        return error
    raise AssertionError("the fetch succeeded")


def assert_no_proxy_authorization(seen: Seen) -> None:
    assert "Proxy-Authorization" not in seen.headers, seen.headers


# =====================================================================================
# http:// in absolute form, https:// through a tunnel
# =====================================================================================


async def test_http_goes_to_the_proxy_in_absolute_form(
    harness: Harness, proxies: Proxies, client_kind: str, auth: bool
) -> None:
    origin = harness.origin()
    proxy, options = proxy_for(proxies, auth)
    client = harness.client(client_kind)
    response = await fetch(client, HTTPRequest(origin.base + "/path?q=1", **options))
    assert response.code == 200
    assert response.body == b"hello from 127.0.0.1:%d" % origin.port
    seen = origin.state.last()
    # tinyproxy forwarded it: it only takes absolute-form requests, and says so in Via.
    assert "tinyproxy" in seen.headers.get("Via", "")
    assert seen.uri == "/path?q=1"
    assert seen.headers["Host"] == "127.0.0.1:%d" % origin.port
    assert_no_proxy_authorization(seen)
    # The credentials went to the proxy, not into the request's headers.
    assert "Proxy-Authorization" not in response.request.headers


async def test_https_goes_through_a_connect_tunnel(
    harness: Harness, proxies: Proxies, client_kind: str, auth: bool, tls_files: TLSFiles
) -> None:
    origin = harness.origin(tls=True)
    proxy, options = proxy_for(proxies, auth)
    client = harness.client(client_kind)
    response = await fetch(
        client, HTTPRequest(origin.base + "/secure", ca_certs=tls_files.cert, **options)
    )
    assert response.code == 200
    seen = origin.state.last()
    # End to end: the proxy saw no HTTP, so it added no Via.
    assert "Via" not in seen.headers
    assert seen.headers["Host"] == "localhost:%d" % origin.port
    assert_no_proxy_authorization(seen)
    # TLS was with the origin, under the origin's name.
    assert origin.state.server_names == ["localhost"]


async def test_request_proxy_authorization_field_is_for_the_proxy_only(
    harness: Harness, proxies: Proxies, client_kind: str, tls_files: TLSFiles
) -> None:
    # A Proxy-Authorization field the caller set is what CONNECT carries
    # when the options give no credentials, and never goes through the tunnel.
    origin = harness.origin(tls=True)
    token = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    client = harness.client(client_kind)
    request = HTTPRequest(
        origin.base + "/",
        ca_certs=tls_files.cert,
        headers={"Proxy-Authorization": token},
        **proxies.auth.options(),
    )
    response = await fetch(client, request)
    assert response.code == 200
    assert_no_proxy_authorization(origin.state.last())


# =====================================================================================
# TLS options apply to the origin
# =====================================================================================


async def test_tls_options_apply_to_the_origin(
    harness: Harness, proxies: Proxies, client_kind: str, tls_files: TLSFiles
) -> None:
    origin = harness.origin(tls=True)
    client = harness.client(client_kind)
    options = proxies.open.options()
    # The origin's certificate is self-signed: refused by default...
    default = await fetch_error(client, HTTPRequest(origin.base + "/", **options))
    assert isinstance(default, ssl.SSLError), repr(default)
    # ...accepted when it is the CA, or when validation is off.
    trusted = await fetch(
        client, HTTPRequest(origin.base + "/", ca_certs=tls_files.cert, **options)
    )
    assert trusted.code == 200
    unchecked = await fetch(client, HTTPRequest(origin.base + "/", validate_cert=False, **options))
    assert unchecked.code == 200
    # The name checked is the origin's: the certificate is for localhost, not
    # 127.0.0.1 (which is also the proxy's address).
    mismatch_url = "https://127.0.0.1:%d/" % origin.port
    mismatch = await fetch_error(
        client, HTTPRequest(mismatch_url, ca_certs=tls_files.cert, **options)
    )
    assert isinstance(mismatch, ssl.SSLCertVerificationError), repr(mismatch)
    assert "127.0.0.1" in str(mismatch)
    # The same error as without the proxy.
    direct = await fetch_error(client, HTTPRequest(mismatch_url, ca_certs=tls_files.cert))
    assert type(direct) is type(mismatch)


async def test_ssl_options_apply_to_the_origin(
    harness: Harness, proxies: Proxies, client_kind: str, tls_files: TLSFiles
) -> None:
    origin = harness.origin(tls=True)
    client = harness.client(client_kind)
    context = ssl.create_default_context(cafile=tls_files.cert)
    response = await fetch(
        client, HTTPRequest(origin.base + "/", ssl_options=context, **proxies.open.options())
    )
    assert response.code == 200
    assert origin.state.server_names == ["localhost"]


# =====================================================================================
# Websockets (Tornado's websocket_connect, after install())
# =====================================================================================


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_websocket_connect_through_the_proxy_after_install(
    harness: Harness, proxies: Proxies, auth: bool, tls: bool, tls_files: TLSFiles
) -> None:
    origin = harness.origin(tls=tls)
    proxy, options = proxy_for(proxies, auth)
    url = origin.base.replace("http", "ws", 1) + "/ws"
    extra = {"ca_certs": tls_files.cert} if tls else {}
    with tornado_h1alt.installed():
        connection = await gen.with_timeout(
            IOLoop.current().time() + HANG_GUARD,
            tornado.websocket.websocket_connect(HTTPRequest(url, **options, **extra)),
        )
        try:
            connection.write_message("hi")
            assert await connection.read_message() == "echo: hi"
        finally:
            connection.close()
    seen = origin.state.last()
    assert seen.uri == "/ws"
    assert seen.headers["Upgrade"].lower() == "websocket"
    # Through a tunnel even for ws:// (a forwarding proxy drops Upgrade).
    assert "Via" not in seen.headers
    assert_no_proxy_authorization(seen)
    if tls:
        assert origin.state.server_names == ["localhost"]


async def test_websocket_connect_refused_by_the_proxy(harness: Harness, proxies: Proxies) -> None:
    origin = harness.origin()
    url = origin.base.replace("http", "ws", 1) + "/ws"
    with tornado_h1alt.installed():
        with pytest.raises(HTTPClientError) as raised:
            await gen.with_timeout(
                IOLoop.current().time() + HANG_GUARD,
                tornado.websocket.websocket_connect(HTTPRequest(url, **proxies.auth.options())),
            )
    assert raised.value.code == 407
    assert origin.state.requests == []


async def test_websocket_connect_without_install_still_refuses_proxies(
    harness: Harness, proxies: Proxies
) -> None:
    # What install() changes: stock Tornado refuses the option.
    origin = harness.origin()
    url = origin.base.replace("http", "ws", 1) + "/ws"
    with pytest.raises(NotImplementedError):
        await gen.with_timeout(
            IOLoop.current().time() + HANG_GUARD,
            tornado.websocket.websocket_connect(HTTPRequest(url, **proxies.open.options())),
        )


def test_install_wraps_and_uninstall_restores_run() -> None:
    original = tornado.simple_httpclient._HTTPConnection.__dict__["run"]
    tornado_h1alt.install()
    try:
        assert tornado.simple_httpclient._HTTPConnection.__dict__["run"] is not original
    finally:
        tornado_h1alt.uninstall()
    assert tornado.simple_httpclient._HTTPConnection.__dict__["run"] is original


# =====================================================================================
# The keep-alive pool
# =====================================================================================


async def test_keepalive_reuses_a_tunnel(
    harness: Harness, proxies: Proxies, tls_files: TLSFiles
) -> None:
    origin = harness.origin(tls=True)
    client = harness.client("keepalive")

    def request(credentials: Optional[Tuple[str, str]] = (USER, PASSWORD)) -> HTTPRequest:
        options = proxies.auth.options(credentials) if credentials else {}
        return HTTPRequest(origin.base + "/", ca_certs=tls_files.cert, **options)

    for _ in range(2):
        assert (await fetch(client, request())).code == 200
    # Two sequential requests, one tunnel.
    assert origin.server.connections_accepted == 1
    assert client.pool_stats().connections_reused == 1
    # A direct request does not take the tunnel, nor another user's request.
    assert (await fetch(client, request(None))).code == 200
    assert origin.server.connections_accepted == 2
    assert (await fetch(client, request((OTHER_USER, OTHER_PASSWORD)))).code == 200
    assert origin.server.connections_accepted == 3
    # And each is reused in its turn.
    assert (await fetch(client, request())).code == 200
    assert (await fetch(client, request(None))).code == 200
    assert origin.server.connections_accepted == 3
    assert all("Proxy-Authorization" not in seen.headers for seen in origin.state.requests)


# =====================================================================================
# Refusals and failures
# =====================================================================================


async def test_connect_without_credentials_gets_407(
    harness: Harness, proxies: Proxies, client_kind: str, tls_files: TLSFiles
) -> None:
    origin = harness.origin(tls=True)
    client = harness.client(client_kind)
    error = await fetch_error(
        client, HTTPRequest(origin.base + "/", ca_certs=tls_files.cert, **proxies.auth.options())
    )
    assert isinstance(error, HTTPClientError)
    assert error.code == 407
    assert error.message == "Proxy Authentication Required"
    assert origin.server.connections_accepted == 0


async def test_connect_with_wrong_credentials_is_refused(
    harness: Harness, proxies: Proxies, client_kind: str, tls_files: TLSFiles
) -> None:
    origin = harness.origin(tls=True)
    client = harness.client(client_kind)
    error = await fetch_error(
        client,
        HTTPRequest(
            origin.base + "/",
            ca_certs=tls_files.cert,
            **proxies.auth.options((USER, "wrong")),
        ),
    )
    assert isinstance(error, HTTPClientError)
    # tinyproxy 1.11 answers wrong credentials with 401 (RFC 9110 says 407):
    # whichever it says is what the caller gets.
    assert error.code in (401, 407)
    assert error.message in ("Unauthorized", "Proxy Authentication Required")
    assert origin.server.connections_accepted == 0


async def test_http_407_is_the_response(
    harness: Harness, proxies: Proxies, client_kind: str
) -> None:
    origin = harness.origin()
    client = harness.client(client_kind)
    request = HTTPRequest(origin.base + "/", **proxies.auth.options())
    response = await fetch(client, request, raise_error=False)
    assert response.code == 407
    assert "Basic" in response.headers.get("Proxy-Authenticate", "")
    error = await fetch_error(client, HTTPRequest(origin.base + "/", **proxies.auth.options()))
    assert isinstance(error, HTTPClientError) and error.code == 407
    assert origin.state.requests == []


async def test_connect_to_a_port_the_proxy_forbids_gets_403(
    harness: Harness, client_kind: str, tls_files: TLSFiles, tmp_path: Path
) -> None:
    _tinyproxy()
    origin = harness.origin(tls=True)
    # CONNECT only to port 1: not the origin's.
    proxy = Tinyproxy(tmp_path, connect_ports=(1,))
    try:
        client = harness.client(client_kind)
        error = await fetch_error(
            client, HTTPRequest(origin.base + "/", ca_certs=tls_files.cert, **proxy.options())
        )
    finally:
        proxy.stop()
    assert isinstance(error, HTTPClientError)
    assert error.code == 403
    assert error.message == "Access violation"  # tinyproxy's reason phrase
    assert origin.server.connections_accepted == 0


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_unreachable_proxy_fails_like_an_unreachable_origin(
    harness: Harness, client_kind: str, scheme: str
) -> None:
    closed_port = _refusing_port()
    client = harness.client(client_kind)
    origin = harness.origin(tls=scheme == "https")
    proxied = await fetch_error(
        client,
        HTTPRequest(origin.base + "/", proxy_host="127.0.0.1", proxy_port=closed_port),
    )
    direct = await fetch_error(client, HTTPRequest("%s://127.0.0.1:%d/" % (scheme, closed_port)))
    assert type(proxied) is type(direct), (proxied, direct)
    assert isinstance(proxied, OSError)
    assert origin.server.connections_accepted == 0


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_silent_proxy_times_out(
    harness: Harness, client_kind: str, scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A proxy that accepts and never answers: CONNECT (https) or the
    # request itself (http) waits until the request's timeouts.
    proxy, port = harness.scripted_proxy(None)
    client = harness.client(client_kind)
    request = HTTPRequest(
        "%s://localhost:1/" % scheme,
        proxy_host="127.0.0.1",
        proxy_port=port,
        connect_timeout=0.3,
        request_timeout=0.6,
    )
    with caplog.at_level(logging.DEBUG):
        error = await fetch_error(client, request)
        # A late end of the set-up (on Tornado before 6.6 simple_httpclient
        # times the connect out itself) must not be reported as an error.
        for stream in proxy.streams:
            stream.close()
        await gen.sleep(0.1)
    assert isinstance(error, HTTPTimeoutError), repr(error)
    assert error.code == 599
    first_line = proxy.heads[0].split(b"\r\n", 1)[0]
    if scheme == "https":
        assert first_line == b"CONNECT localhost:1 HTTP/1.1"
    else:
        assert first_line == b"GET http://localhost:1/ HTTP/1.1"
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


async def test_tls_handshake_in_a_silent_tunnel_times_out(
    harness: Harness, client_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The proxy opens the tunnel, and nothing answers TLS at the other end.
    proxy, port = harness.scripted_proxy(b"HTTP/1.1 200 Connection established\r\n\r\n")
    client = harness.client(client_kind)
    request = HTTPRequest(
        "https://localhost:1/",
        proxy_host="127.0.0.1",
        proxy_port=port,
        connect_timeout=0.3,
        request_timeout=0.6,
    )
    with caplog.at_level(logging.DEBUG):
        error = await fetch_error(client, request)
        if compat.TORNADO_VERSION >= (6, 6):
            # The abandoned handshake's stream is closed at once.
            await gen.with_timeout(
                IOLoop.current().time() + HANG_GUARD, proxy.streams[0].read_until_close()
            )
        for stream in proxy.streams:
            stream.close()
        await gen.sleep(0.1)
    assert isinstance(error, HTTPTimeoutError), repr(error)
    assert proxy.heads[0].startswith(b"CONNECT localhost:1 HTTP/1.1\r\n")
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


# =====================================================================================
# What the proxy receives, byte for byte (a scripted proxy)
# =====================================================================================


async def test_connect_request_on_the_wire(harness: Harness, client_kind: str) -> None:
    proxy, port = harness.scripted_proxy(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    client = harness.client(client_kind)
    error = await fetch_error(
        client,
        HTTPRequest(
            "https://user:pw@origin.example:8443/a?b=c",
            proxy_host="127.0.0.1",
            proxy_port=port,
            proxy_username="alice",
            proxy_password="wonder land",
        ),
    )
    assert isinstance(error, HTTPClientError) and error.code == 403
    assert error.message == "Forbidden"
    token = base64.b64encode(b"alice:wonder land").decode()
    assert proxy.heads == [
        b"CONNECT origin.example:8443 HTTP/1.1\r\n"
        b"Host: origin.example:8443\r\n"
        b"Proxy-Authorization: Basic " + token.encode() + b"\r\n\r\n"
    ]


async def test_absolute_form_request_on_the_wire(harness: Harness, client_kind: str) -> None:
    proxy, port = harness.scripted_proxy(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    )
    client = harness.client(client_kind)
    response = await fetch(
        client,
        HTTPRequest(
            "http://origin.example:8080/a?b=c#fragment",
            proxy_host="127.0.0.1",
            proxy_port=port,
            proxy_username="alice",
            proxy_password="pw",
        ),
    )
    assert response.body == b"ok"
    lines = proxy.heads[0].decode("latin-1").split("\r\n")
    assert lines[0] == "GET http://origin.example:8080/a?b=c HTTP/1.1"
    assert "Host: origin.example:8080" in lines
    assert "Proxy-Authorization: Basic " + base64.b64encode(b"alice:pw").decode() in lines


async def test_tunnel_bytes_after_the_connect_answer_are_refused(
    harness: Harness, client_kind: str
) -> None:
    # The head of the answer is read, never past it: bytes the proxy sends
    # with its 200, before we said anything through the tunnel, are an error.
    proxy, port = harness.scripted_proxy(
        b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
    )
    client = harness.client(client_kind)
    error = await fetch_error(
        client, HTTPRequest("https://localhost:1/", proxy_host="127.0.0.1", proxy_port=port)
    )
    assert "after CONNECT" in str(error)


async def test_interim_answers_to_connect_are_skipped(harness: Harness, client_kind: str) -> None:
    proxy, port = harness.scripted_proxy(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 407 Proxy Authentication Required\r\n\r\n"
    )
    client = harness.client(client_kind)
    error = await fetch_error(
        client, HTTPRequest("https://localhost:1/", proxy_host="127.0.0.1", proxy_port=port)
    )
    assert isinstance(error, HTTPClientError) and error.code == 407


@pytest.mark.parametrize("mode", ["digest", "ntlm"])
async def test_only_basic_proxy_auth_is_supported(
    harness: Harness, client_kind: str, mode: str
) -> None:
    client = harness.client(client_kind)
    error = await fetch_error(
        client,
        HTTPRequest(
            "http://localhost:1/",
            proxy_host="127.0.0.1",
            proxy_port=1,
            proxy_username="u",
            proxy_password="p",
            proxy_auth_mode=mode,
        ),
    )
    assert isinstance(error, ValueError)
    assert '"basic"' in str(error) and mode in str(error)


# =====================================================================================
# Proxies from the environment (trust_env)
# =====================================================================================

PROXY_VARIABLES = [
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES + ["REQUEST_METHOD"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("client_kind", OUR_CLIENTS)
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_trust_env_takes_the_http_proxy(
    harness: Harness,
    proxies: Proxies,
    clean_env: pytest.MonkeyPatch,
    client_kind: str,
    variable: str,
) -> None:
    origin = harness.origin()
    clean_env.setenv(variable, proxies.auth.url((USER, PASSWORD)))
    trusting = harness.client(client_kind, trust_env=True)
    # Twice: the keep-alive client's second request could take its quick path.
    for _ in range(2):
        assert (await fetch(trusting, HTTPRequest(origin.base + "/"))).code == 200
        assert "tinyproxy" in origin.state.last().headers.get("Via", "")
    # Without trust_env the environment is ignored.
    ignoring = harness.client(client_kind)
    assert (await fetch(ignoring, HTTPRequest(origin.base + "/"))).code == 200
    assert "Via" not in origin.state.last().headers


@pytest.mark.parametrize("client_kind", OUR_CLIENTS)
async def test_trust_env_takes_the_https_proxy(
    harness: Harness,
    proxies: Proxies,
    clean_env: pytest.MonkeyPatch,
    client_kind: str,
    tls_files: TLSFiles,
) -> None:
    origin = harness.origin(tls=True)
    client = harness.client(client_kind, trust_env=True)
    request = HTTPRequest(origin.base + "/", ca_certs=tls_files.cert)
    # HTTP_PROXY is not for https.
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:%d" % _refusing_port())
    assert (await fetch(client, request)).code == 200
    # The auth proxy, without credentials: refused, so it was asked.
    clean_env.setenv("https_proxy", proxies.auth.url())
    error = await fetch_error(client, HTTPRequest(origin.base + "/", ca_certs=tls_files.cert))
    assert isinstance(error, HTTPClientError) and error.code == 407
    # With the credentials in the URL.
    clean_env.setenv("https_proxy", proxies.auth.url((USER, PASSWORD)))
    assert (
        await fetch(client, HTTPRequest(origin.base + "/", ca_certs=tls_files.cert))
    ).code == 200
    assert_no_proxy_authorization(origin.state.last())


@pytest.mark.parametrize("client_kind", OUR_CLIENTS)
@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", "127.0.0.1:{port}"])
async def test_no_proxy_bypasses_the_proxy(
    harness: Harness, clean_env: pytest.MonkeyPatch, client_kind: str, no_proxy: str
) -> None:
    origin = harness.origin()
    # A proxy that cannot be reached: only a bypass gets through.
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:%d" % _refusing_port())
    client = harness.client(client_kind, trust_env=True)
    with pytest.raises(OSError):
        await fetch(client, HTTPRequest(origin.base + "/"))
    clean_env.setenv("NO_PROXY", no_proxy.format(port=origin.port))
    assert (await fetch(client, HTTPRequest(origin.base + "/"))).code == 200
    assert "Via" not in origin.state.last().headers


@pytest.mark.parametrize("client_kind", OUR_CLIENTS)
async def test_request_options_win_over_the_environment(
    harness: Harness, proxies: Proxies, clean_env: pytest.MonkeyPatch, client_kind: str
) -> None:
    origin = harness.origin()
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:%d" % _refusing_port())
    client = harness.client(client_kind, trust_env=True)
    response = await fetch(client, HTTPRequest(origin.base + "/", **proxies.open.options()))
    assert response.code == 200
    assert "tinyproxy" in origin.state.last().headers.get("Via", "")


@pytest.mark.parametrize("client_kind", OUR_CLIENTS)
async def test_unusable_environment_proxy_is_an_error(
    harness: Harness, clean_env: pytest.MonkeyPatch, client_kind: str
) -> None:
    origin = harness.origin()
    clean_env.setenv("ALL_PROXY", "socks5://user:hidden-secret@127.0.0.1:1080")
    client = harness.client(client_kind, trust_env=True)
    error = await fetch_error(client, HTTPRequest(origin.base + "/"))
    assert isinstance(error, ValueError)
    assert "socks5" in str(error) and "hidden-secret" not in str(error)
    assert origin.state.requests == []


# =====================================================================================
# Redirects
# =====================================================================================


async def test_redirect_across_hosts_through_the_proxy(
    harness: Harness, proxies: Proxies, client_kind: str
) -> None:
    origin_a, origin_b = harness.origin(), harness.origin()
    client = harness.client(client_kind)
    target = origin_b.base + "/landing"
    response = await fetch(
        client,
        HTTPRequest(
            origin_a.base + "/redirect?to=" + target, **proxies.auth.options((USER, PASSWORD))
        ),
    )
    assert response.code == 200
    assert response.effective_url == target
    assert response.body == b"hello from 127.0.0.1:%d" % origin_b.port
    for origin in (origin_a, origin_b):
        seen = origin.state.last()
        assert "tinyproxy" in seen.headers.get("Via", "")  # both through the proxy
        assert_no_proxy_authorization(seen)


async def test_redirect_across_tunnels(
    harness: Harness, proxies: Proxies, client_kind: str, tls_files: TLSFiles
) -> None:
    origin_a, origin_b = harness.origin(tls=True), harness.origin(tls=True)
    client = harness.client(client_kind)
    target = origin_b.base + "/landing"
    response = await fetch(
        client,
        HTTPRequest(
            origin_a.base + "/redirect?to=" + target,
            ca_certs=tls_files.cert,
            headers={"Proxy-Authorization": "Basic bm90LWZvci10aGUtb3JpZ2lu"},
            **proxies.auth.options((USER, PASSWORD)),
        ),
    )
    assert response.effective_url == target and response.code == 200
    for origin in (origin_a, origin_b):
        assert origin.server.connections_accepted == 1
        assert origin.state.server_names == ["localhost"]
        assert_no_proxy_authorization(origin.state.last())


@pytest.mark.parametrize("client_kind", OUR_CLIENTS)
async def test_redirect_to_a_bypassed_host_goes_directly(
    harness: Harness,
    proxies: Proxies,
    clean_env: pytest.MonkeyPatch,
    client_kind: str,
    tls_files: TLSFiles,
) -> None:
    # A (https, through the proxy from the environment) redirects to B,
    # which NO_PROXY sends directly: B sees neither the proxy's credentials
    # nor the caller's own Proxy-Authorization field.
    origin_a = harness.origin(tls=True)
    origin_b = harness.origin()
    clean_env.setenv("HTTPS_PROXY", proxies.auth.url((USER, PASSWORD)))
    clean_env.setenv("HTTP_PROXY", proxies.auth.url((USER, PASSWORD)))
    clean_env.setenv("NO_PROXY", "127.0.0.1")
    client = harness.client(client_kind, trust_env=True)
    target = origin_b.base + "/landing"
    response = await fetch(
        client,
        HTTPRequest(
            origin_a.base + "/redirect?to=" + target,
            ca_certs=tls_files.cert,
            headers={"Proxy-Authorization": "Basic bm90LWZvci10aGUtb3JpZ2lu"},
        ),
    )
    assert response.effective_url == target and response.code == 200
    seen_b = origin_b.state.last()
    assert "Via" not in seen_b.headers  # directly
    assert_no_proxy_authorization(seen_b)
    assert_no_proxy_authorization(origin_a.state.last())


# =====================================================================================
# Credentials stay secret
# =====================================================================================


async def test_credentials_are_never_logged(
    harness: Harness,
    proxies: Proxies,
    client_kind: str,
    tls_files: TLSFiles,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secrets = [
        USER,
        PASSWORD,
        "wrong-" + PASSWORD,
        base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode(),
    ]
    http_origin, tls_origin = harness.origin(), harness.origin(tls=True)
    client = harness.client(client_kind)
    outcomes: List[Any] = []
    with caplog.at_level(logging.DEBUG):
        for origin, extra in ((http_origin, {}), (tls_origin, {"ca_certs": tls_files.cert})):
            for password in (PASSWORD, "wrong-" + PASSWORD):
                request = HTTPRequest(
                    origin.base + "/", **extra, **proxies.auth.options((USER, password))
                )
                outcomes.append(await _outcome(client, request))
        # A proxy that cannot be reached, and one that times out.
        silent, port = harness.scripted_proxy(None)
        for proxy_port, timeout in ((_refusing_port(), 5.0), (port, 0.3)):
            request = HTTPRequest(
                tls_origin.base + "/",
                proxy_host="127.0.0.1",
                proxy_port=proxy_port,
                proxy_username=USER,
                proxy_password=PASSWORD,
                connect_timeout=timeout,
            )
            outcomes.append(await _outcome(client, request))
    texts = [caplog.text]
    for outcome in outcomes:
        texts += [repr(outcome), str(outcome)]
        if isinstance(outcome, HTTPResponse):
            texts += [repr(outcome.error), str(outcome.error), repr(dict(outcome.request.headers))]
    if client_kind == "keepalive":
        texts.append(repr(client._stream_pool.pool._idle))
    texts.append(repr(Proxy("127.0.0.1", 1, USER, PASSWORD)))
    for text in texts:
        for secret in secrets:
            assert secret not in text
    # (and the outcomes are what they should be)
    assert [getattr(outcome, "code", None) for outcome in outcomes[:4]] == [200, 401, 200, 401]


async def _outcome(client: Any, request: HTTPRequest) -> Any:
    try:
        return await fetch(client, request)
    except Exception as error:
        return error
