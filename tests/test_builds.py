"""The two builds of the core: the compiled one (mypyc, hatch_build.py) and pure Python.

What is checked here:

- which build runs, and how it is chosen: the compiled modules only when they
  were built from these very sources for this Python, never with
  ``TORNADO_H1ALT_NO_EXTENSIONS`` set; a stale build warns and is not used;
- that building never fails an install: no mypyc, no C compiler, or the
  variable set each give the pure-Python package and say so;
- that the build running these tests accepts what the pure one accepts from
  Tornado and applications (values the annotations do not describe: bytes
  header values, bytearray and memoryview bodies, float limits, Tornado's own
  HTTP1ConnectionParameters).  CI runs the whole suite once per build.
"""

from __future__ import annotations

import http
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest
import tornado.http1connection
from h1wire import connect, read_response
from tornado import httputil
from tornado.httpserver import HTTPServer as StockHTTPServer
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream
from tornado.web import Application, RequestHandler

import tornado_h1alt
from tornado_h1alt import HTTP1ServerConnection, HTTPServer
from tornado_h1alt.h1._sources import compiled_module_files

ROOT = Path(__file__).resolve().parent.parent
EXPECT = "TORNADO_H1ALT_EXPECT_BUILD"
NO_EXTENSIONS = "TORNADO_H1ALT_NO_EXTENSIONS"


def test_the_build_running_is_the_one_this_environment_expects() -> None:
    # tox sets the expectation for each cell (compiled or pure), so a cell
    # cannot silently run the other build.
    expected = os.environ.get(EXPECT)
    if not expected:
        pytest.skip(EXPECT + " is not set (tox sets it for every cell)")
    assert tornado_h1alt.BUILD == expected


def test_build_is_named_by_the_core_package() -> None:
    import tornado_h1alt.h1 as core
    import tornado_h1alt.h1.exchange as exchange

    assert tornado_h1alt.BUILD == core.BUILD
    assert core.BUILD == ("pure" if exchange.__file__.endswith(".py") else "compiled")


# -- building and choosing, in a copy of the package -----------------------------------


def _run(
    args: list, cwd: Path, env: Optional[Dict[str, str]] = None, check: bool = True
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in (NO_EXTENSIONS, "PYTHONPATH")}
    full_env["PYTHONPATH"] = str(cwd)
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _copy_project(target: Path) -> Path:
    shutil.copytree(
        ROOT / "tornado_h1alt",
        target / "tornado_h1alt",
        ignore=shutil.ignore_patterns("_compiled", "__pycache__"),
    )
    shutil.copy(ROOT / "hatch_build.py", target / "hatch_build.py")
    return target


_WHICH = (
    "import tornado_h1alt, tornado_h1alt.h1.exchange as e;"
    "print(tornado_h1alt.BUILD, '_compiled' in e.__file__)"
)


@pytest.fixture(scope="module")
def compiled_copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the package with its core compiled in place (about 20 s)."""
    root = _copy_project(tmp_path_factory.mktemp("compiled"))
    built = _run(["hatch_build.py"], root)
    modules = len(compiled_module_files(str(root / "tornado_h1alt" / "h1")))
    assert "compiled the core with mypyc (%d modules)" % modules in built.stderr
    yield root


def test_a_compiled_build_of_these_sources_is_used(compiled_copy: Path) -> None:
    assert _run(["-c", _WHICH], compiled_copy).stdout.split() == ["compiled", "True"]


def test_the_environment_variable_forces_pure_python(compiled_copy: Path) -> None:
    result = _run(["-c", _WHICH], compiled_copy, {NO_EXTENSIONS: "1"})
    assert result.stdout.split() == ["pure", "False"]
    assert result.stderr == ""


def test_a_build_of_other_sources_is_not_used_and_says_so(
    compiled_copy: Path, tmp_path: Path
) -> None:
    stale = tmp_path / "stale"
    shutil.copytree(compiled_copy, stale)
    with open(stale / "tornado_h1alt" / "h1" / "abnf.py", "a") as f:
        f.write("\n# an edit after the build\n")
    result = _run(["-c", _WHICH], stale)
    assert result.stdout.split() == ["pure", "False"]
    assert "RuntimeWarning" in result.stderr
    assert "python hatch_build.py" in result.stderr


@pytest.mark.parametrize(
    "env, why",
    [
        ({NO_EXTENSIONS: "1"}, NO_EXTENSIONS + " is set"),
        ({"CC": "/bin/false"}, "compiling failed"),
    ],
    ids=["variable-set", "no-c-compiler"],
)
def test_building_falls_back_to_pure_python_and_says_why(
    tmp_path: Path, env: Dict[str, str], why: str
) -> None:
    root = _copy_project(tmp_path)
    result = _run(["hatch_build.py"], root, env, check=False)
    assert result.returncode == 1  # the script's way of saying "pure"
    assert "tornado_h1alt build: building pure Python only: " + why in result.stderr
    assert not list((root / "tornado_h1alt" / "h1").glob("_compiled/*.so"))
    assert _run(["-c", _WHICH], root).stdout.split() == ["pure", "False"]


def test_building_without_mypyc_falls_back_to_pure_python(tmp_path: Path) -> None:
    root = _copy_project(tmp_path / "project")
    shadow = tmp_path / "shadow" / "mypyc"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no mypyc here')\n")
    result = _run(["hatch_build.py"], root, {"PYTHONPATH": str(tmp_path / "shadow")}, check=False)
    assert result.returncode == 1
    assert "building pure Python only: mypyc (part of mypy) is not installed" in result.stderr


# -- what Tornado and applications hand the engine -------------------------------------


class _OddValues(RequestHandler):
    """Writes through the connection what applications and Tornado pass in
    practice, beyond our annotations."""

    def get(self, kind: str) -> None:
        connection = self.request.connection
        assert connection is not None
        headers = httputil.HTTPHeaders()
        headers["X-Text"] = "text"
        headers.add("X-Bytes", b"bytes-value")  # type: ignore[arg-type]
        chunks: Dict[str, Any] = {
            "bytearray": bytearray(b"from a bytearray"),
            "memoryview": memoryview(b"from a memoryview"),
            "bytes": b"from bytes",
        }
        code: Any = http.HTTPStatus.OK if kind != "bytes" else 200
        connection.write_headers(httputil.ResponseStartLine("HTTP/1.1", code, "OK"), headers)
        connection.write(chunks[kind])
        connection.finish()
        self._finished = True  # we wrote the response ourselves


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
async def test_odd_but_accepted_values_reach_the_wire(io_loop: IOLoop, kind: str) -> None:
    server = HTTPServer(Application([(r"/(\w+)", _OddValues)]), max_body_size=1e6)
    sock, port = _bind()
    server.add_sockets([sock])
    try:
        stream = await connect(port)
        stream.write(b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % kind.encode())
        response = await read_response(stream)
        stream.close()
    finally:
        server.stop()
    assert response.status == 200
    assert response.header("X-Bytes") == "bytes-value"
    assert response.body == b"from " + (b"a " if kind != "bytes" else b"") + kind.encode()


async def test_tornados_own_connection_parameters_are_accepted(io_loop: IOLoop) -> None:
    # A program may build Tornado's HTTP1ConnectionParameters (with float
    # limits) and hand them to our connection.
    params = tornado.http1connection.HTTP1ConnectionParameters(
        max_header_size=65536.0,  # type: ignore[arg-type]
        max_body_size=1e6,  # type: ignore[arg-type]
        chunk_size=65536.0,  # type: ignore[arg-type]
    )
    served = []

    class Server(StockHTTPServer):
        def handle_stream(self, stream: IOStream, address: Any) -> None:
            connection = HTTP1ServerConnection(stream, params)
            served.append(connection)
            connection.start_serving(self)

    server = Server(Application([(r"/(\w+)", _OddValues)]))
    sock, port = _bind()
    server.add_sockets([sock])
    try:
        stream = await connect(port)
        stream.write(b"GET /bytes HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        response = await read_response(stream)
        stream.close()
    finally:
        server.stop()
    assert served and response.status == 200
    assert response.body == b"from bytes"


def _bind() -> Any:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("limit", ["max_body_size", "max_header_size"])
async def test_a_client_with_a_float_limit_reads_responses(io_loop: IOLoop, limit: str) -> None:
    # max_body_size=1e6 is an easy thing to write; both clients take it.
    server = HTTPServer(Application([(r"/(\w+)", _OddValues)]))
    sock, port = _bind()
    server.add_sockets([sock])
    options: Dict[str, Any] = {limit: 1e6}
    clients = [
        tornado_h1alt.KeepAliveHTTPClient(force_instance=True, **options),
        tornado_h1alt.SimpleAsyncHTTPClient(force_instance=True, **options),
    ]
    try:
        for client in clients:
            for _ in range(2):  # the second on a pooled connection (quick path)
                response = await client.fetch("http://127.0.0.1:%d/bytes" % port)
                assert response.body == b"from bytes"
    finally:
        for client in clients:
            client.close()
        server.stop()
