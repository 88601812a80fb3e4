"""Turning the engine on without editing the program: ``python -m tornado_h1alt``,
the ``tornado-h1alt-run`` console script, autoreload restarts and forked workers.

Each test runs a real program in a subprocess and checks what only our
engine does, not just that ``install()`` ran: a request whose Host value
RFC 3986 does not allow (``a[b``) gets 400 from tornado_h1alt, while stock
Tornado hands it to the application (200).
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Only reached if something hangs.
HANG_GUARD = 20.0

# A program serving on a free port on 127.0.0.1, which it prints first:
# GET /whoami answers the process id, its start time and the module of the
# request's connection class.
APP = """\
import os, sys, time
import tornado.ioloop, tornado.web
STARTED = repr(time.time())

class WhoAmI(tornado.web.RequestHandler):
    def get(self):
        self.write("%d %s %s" % (os.getpid(), STARTED, type(self.request.connection).__module__))

def main():
    app = tornado.web.Application([(r"/.*", WhoAmI)], debug={debug})
    server = app.listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    with open({port_file!r}, "w") as f:
        f.write(str(port))
    tornado.ioloop.IOLoop.current().start()

main()
"""


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    # The working tree's tornado_h1alt, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join([REPO] + [p for p in [env.get("PYTHONPATH")] if p])
    for name in ("TORNADO_H1ALT_ACTIVATE", "TORNADO_H1ALT_VERBOSE"):
        env.pop(name, None)
    return env


def _run(args: List[str], cwd: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def _wait_for(path: str) -> str:
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if text:
                return text
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + path)


def _get(port: int, host: str = "x") -> Tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_GUARD)
    try:
        connection.putrequest("GET", "/whoami", skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _assert_our_engine_serves(port: int) -> str:
    """Checks what only tornado_h1alt does; returns /whoami's answer."""
    status, body = _get(port)
    assert status == 200, body
    assert body.split()[2].startswith("tornado_h1alt."), body
    # RFC 9112 3.2 by RFC 3986's grammar: stock Tornado answers 200 here.
    assert _get(port, host="a[b")[0] == 400
    return body


class Program:
    """A program started in its own session, stopped (all of it) at the end."""

    def __init__(self, args: List[str], cwd: str, env: Optional[Dict[str, str]] = None) -> None:
        self.process = subprocess.Popen(
            args,
            cwd=cwd,
            env=env or _env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def stop(self) -> str:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            output, _ = self.process.communicate(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            output, _ = self.process.communicate()
        return output


@pytest.fixture
def programs() -> Iterator[List[Program]]:
    started: List[Program] = []
    yield started
    for program in started:
        program.stop()


def _write_app(directory: str, debug: bool = False) -> Tuple[str, str]:
    port_file = os.path.join(directory, "port")
    app = os.path.join(directory, "app.py")
    with open(app, "w") as f:
        f.write(APP.format(debug=debug, port_file=port_file))
    return app, port_file


# -- python -m tornado_h1alt ------------------------------------------------------


def test_a_script_runs_as_if_started_directly(tmp_path: object) -> None:
    directory = str(tmp_path)
    os.mkdir(os.path.join(directory, "sub"))
    with open(os.path.join(directory, "sub", "helper.py"), "w") as f:
        f.write("VALUE = 'sibling'\n")
    with open(os.path.join(directory, "sub", "app.py"), "w") as f:
        f.write(
            textwrap.dedent(
                """\
                import os, sys
                import helper  # a sibling module: sys.path[0] is the script's directory
                import tornado_h1alt
                for value in (helper.VALUE, __file__, sys.argv, sys.path[0]):
                    print(repr(value))
                print(tornado_h1alt.is_installed())
                """
            )
        )
    done = _run([sys.executable, "-m", "tornado_h1alt", "sub/app.py", "a", "b"], directory)
    assert done.returncode == 0, done.stderr
    script = os.path.join(directory, "sub", "app.py")
    assert done.stdout.splitlines() == [
        repr("sibling"),
        repr(script),  # __file__ absolute, as Python 3.9+ gives it
        repr([script, "a", "b"]),
        repr(os.path.join(directory, "sub")),
        "True",
    ]


def test_a_module_runs_as_with_python_m(tmp_path: object) -> None:
    directory = str(tmp_path)
    os.mkdir(os.path.join(directory, "pkg"))
    with open(os.path.join(directory, "pkg", "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(directory, "pkg", "serve.py"), "w") as f:
        f.write(
            "import sys, tornado_h1alt\n"
            "print(__name__, sys.argv[1:], tornado_h1alt.is_installed())\n"
        )
    done = _run([sys.executable, "-m", "tornado_h1alt", "-m", "pkg.serve", "x"], directory)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "__main__ ['x'] True"


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["nosuch.py"], 2, "can't open file"),
        (["-m", "nosuch_module"], 1, "No module named nosuch_module"),
        (["-m"], 2, "-m needs a module name"),
        (["--bogus"], 2, "unknown option --bogus"),
        ([], 2, "usage:"),
    ],
)
def test_launcher_errors_are_one_line_and_the_status_python_gives(
    tmp_path: object, args: List[str], status: int, message: str
) -> None:
    done = _run([sys.executable, "-m", "tornado_h1alt"] + args, str(tmp_path))
    assert done.returncode == status
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_failing_script_shows_only_its_own_frames(tmp_path: object) -> None:
    directory = str(tmp_path)
    with open(os.path.join(directory, "fails.py"), "w") as f:
        f.write("def boom():\n    raise ValueError('the program failed')\n\nboom()\n")
    done = _run([sys.executable, "-m", "tornado_h1alt", "fails.py"], directory)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert 'fails.py", line 4, in <module>' in lines[1]
    assert "tornado_h1alt" not in done.stderr and "runpy" not in done.stderr
    assert lines[-1] == "ValueError: the program failed"


def test_a_launched_program_and_the_programs_it_starts_serve_on_our_engine(
    tmp_path: object, programs: List[Program]
) -> None:
    directory = str(tmp_path)
    child_dir = os.path.join(directory, "child")
    os.mkdir(child_dir)
    _, child_port_file = _write_app(child_dir)
    app, port_file = _write_app(directory)
    with open(app) as f:
        source = f.read()
    # The launched program starts another Python program, as a front
    # command starts its subcommand: that one must get the engine too.
    with open(app, "w") as f:
        f.write(
            "import subprocess, sys\n"
            "subprocess.Popen([sys.executable, %r])\n" % os.path.join(child_dir, "app.py") + source
        )
    programs.append(Program([sys.executable, "-m", "tornado_h1alt", app], directory))
    _assert_our_engine_serves(int(_wait_for(port_file)))
    _assert_our_engine_serves(int(_wait_for(child_port_file)))


# -- tornado-h1alt-run ---------------------------------------------------------------

RUN_SCRIPT = shutil.which("tornado-h1alt-run", path=os.path.dirname(sys.executable))
needs_console_script = pytest.mark.skipif(
    RUN_SCRIPT is None,
    reason="tornado-h1alt-run is not installed in this environment (pip install -e .)",
)


@needs_console_script
def test_the_console_script_activates_any_python_program(
    tmp_path: object, programs: List[Program]
) -> None:
    assert RUN_SCRIPT is not None
    app, port_file = _write_app(str(tmp_path))
    programs.append(Program([RUN_SCRIPT, sys.executable, app], str(tmp_path)))
    _assert_our_engine_serves(int(_wait_for(port_file)))


@needs_console_script
def test_the_console_script_imports_nothing_into_programs_that_do_not_use_tornado(
    tmp_path: object,
) -> None:
    assert RUN_SCRIPT is not None
    done = _run(
        [
            RUN_SCRIPT,
            sys.executable,
            "-c",
            "import sys; print(sorted(m for m in sys.modules if m.startswith('tornado')))",
        ],
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@needs_console_script
def test_the_console_script_errors(tmp_path: object) -> None:
    assert RUN_SCRIPT is not None
    missing = _run([RUN_SCRIPT, "no-such-command-anywhere"], str(tmp_path))
    assert missing.returncode == 127 and "no-such-command-anywhere" in missing.stderr
    usage = _run([RUN_SCRIPT], str(tmp_path))
    assert usage.returncode == 2 and "usage:" in usage.stderr


@needs_console_script
@pytest.mark.parametrize("how", ["python -m tornado_h1alt", "tornado-h1alt-run"])
def test_verbose_says_where_the_engine_was_installed(tmp_path: object, how: str) -> None:
    if how == "tornado-h1alt-run" and RUN_SCRIPT is None:
        pytest.skip("tornado-h1alt-run is not installed in this environment")
    script = os.path.join(str(tmp_path), "uses_tornado.py")
    with open(script, "w") as f:
        f.write("import tornado.httpserver\n")
    launcher = (
        [sys.executable, "-m", "tornado_h1alt"]
        if how != "tornado-h1alt-run"
        else [RUN_SCRIPT, sys.executable]
    )
    env = _env()
    env["TORNADO_H1ALT_VERBOSE"] = "1"
    done = subprocess.run(
        launcher + [script],  # type: ignore[operator]
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    assert done.returncode == 0
    assert done.stderr.startswith("tornado_h1alt: engine installed (pid ")
    assert done.stderr.count("engine installed") == 1  # one process, one install


# -- surviving re-execution and fork -------------------------------------------------


def _restarted(port: int, first: str) -> str:
    """Wait until /whoami names another start than ``first``."""
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        try:
            body = _get(port)[1]
        except (OSError, http.client.HTTPException):
            body = first  # restarting: not listening yet
        if body.split()[1] != first.split()[1]:
            return body
        time.sleep(0.1)
    raise AssertionError("the program did not restart")


@pytest.mark.parametrize("how", ["python -m tornado_h1alt", "tornado-h1alt-run"])
def test_the_engine_survives_an_autoreload_restart(
    tmp_path: object, programs: List[Program], how: str
) -> None:
    if how == "tornado-h1alt-run" and RUN_SCRIPT is None:
        pytest.skip("tornado-h1alt-run is not installed in this environment")
    app, port_file = _write_app(str(tmp_path), debug=True)
    launcher = (
        [sys.executable, "-m", "tornado_h1alt"]
        if how != "tornado-h1alt-run"
        else [RUN_SCRIPT, sys.executable]
    )
    programs.append(Program(launcher + [app], str(tmp_path)))  # type: ignore[list-item]
    port = int(_wait_for(port_file))
    first = _assert_our_engine_serves(port)
    # Tornado's autoreload re-executes the program when a module changes.
    os.remove(port_file)
    time.sleep(1.1)  # a new mtime the watcher can see
    with open(app, "a") as f:
        f.write("\n# changed\n")
    port = int(_wait_for(port_file))
    after = _restarted(port, first)
    assert after.split()[0] == first.split()[0]  # the same process, re-executed (execv)
    _assert_our_engine_serves(port)


FORKING_APP = """\
import os, sys
import tornado_h1alt
tornado_h1alt.install()
import tornado.httpserver, tornado.ioloop, tornado.netutil, tornado.process, tornado.web

class WhoAmI(tornado.web.RequestHandler):
    def get(self):
        self.write("%d - %s" % (os.getpid(), type(self.request.connection).__module__))

REUSE_PORT = {reuse_port!r}
sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", reuse_port=REUSE_PORT)
port = sockets[0].getsockname()[1]
with open({port_file!r}, "w") as f:
    f.write(str(port))
if REUSE_PORT:
    # Each worker binds the port itself (SO_REUSEPORT: the kernel spreads
    # the connections over the workers' own sockets).
    for sock in sockets:
        sock.close()
tornado.process.fork_processes(2, max_restarts=0)
if REUSE_PORT:
    sockets = tornado.netutil.bind_sockets(port, "127.0.0.1", reuse_port=True)
server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/.*", WhoAmI)]))
server.add_sockets(sockets)
tornado.ioloop.IOLoop.current().start()
"""


@pytest.mark.parametrize(
    "reuse_port",
    [
        False,
        pytest.param(
            True,
            marks=pytest.mark.skipif(
                not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here"
            ),
        ),
    ],
    ids=["shared-sockets", "reuse-port"],
)
def test_every_forked_worker_serves_on_our_engine(
    tmp_path: object, programs: List[Program], reuse_port: bool
) -> None:
    port_file = os.path.join(str(tmp_path), "port")
    app = os.path.join(str(tmp_path), "forking.py")
    with open(app, "w") as f:
        f.write(FORKING_APP.format(port_file=port_file, reuse_port=reuse_port))
    programs.append(Program([sys.executable, app], str(tmp_path)))
    port = int(_wait_for(port_file))
    workers = set()
    deadline = time.monotonic() + HANG_GUARD
    while len(workers) < 2:
        assert time.monotonic() < deadline, "only saw workers %r" % workers
        try:
            body = _assert_our_engine_serves(port)
        except (ConnectionError, socket.timeout):
            continue  # a worker not listening yet
        workers.add(body.split()[0])
    assert len(workers) == 2
