"""Child processes: starting, pinning, waiting for, checking, measuring and ending them."""

from __future__ import annotations

import http.client
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import IO, Callable, Iterator, List, Optional, Sequence, Type, Union

from . import scenarios

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)

# What GET /engine answers for each engine (the module of the connection class).
ENGINE_MODULE_PREFIX = {"stock": "tornado.http1connection", "h1alt": "tornado_h1alt."}


class BenchError(Exception):
    """Something makes the measurement meaningless; the harness stops."""


@dataclass(frozen=True)
class Pinning:
    """Which cores to pin to; `taskset` is None when pinning is off or unavailable."""

    taskset: Optional[str]
    server_cpu: int
    client_cpu: int

    def prefix(self, cpu: int) -> List[str]:
        """The taskset argv prefix for `cpu`, or nothing."""
        return [self.taskset, "-c", str(cpu)] if self.taskset else []

    def describe(self) -> str:
        """One line for the report."""
        if not self.taskset:
            return "not pinned"
        return "server on cpu %d, wrk/clients on cpu %d (taskset)" % (
            self.server_cpu,
            self.client_cpu,
        )


def detect_pinning(enabled: bool, server_cpu: int, client_cpu: int) -> Pinning:
    """Pin when asked, taskset exists and both cores are ours; otherwise say why not."""
    taskset = shutil.which("taskset") if enabled else None
    if enabled and not taskset:
        print("note: taskset not found; processes are not pinned", file=sys.stderr)
    if taskset:
        allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        if server_cpu not in allowed or client_cpu not in allowed or server_cpu == client_cpu:
            print(
                "note: cpus %d and %d are not two distinct usable cores (allowed: %s); "
                "processes are not pinned" % (server_cpu, client_cpu, sorted(allowed)),
                file=sys.stderr,
            )
            taskset = None
    return Pinning(taskset, server_cpu, client_cpu)


class ProcessGroup:
    """Every child the harness starts; `close` ends them all, also on errors and Ctrl-C.

    Children get their own session, so a Ctrl-C at the terminal reaches only
    the harness, which then ends them here in order, instead of the servers
    dying mid-run with tracebacks of their own.
    """

    def __init__(self) -> None:
        self._procs: List[subprocess.Popen] = []  # type: ignore[type-arg]

    def start(
        self,
        argv: Sequence[str],
        *,
        stdout: Union[None, int, IO[str]] = None,
        stderr: Union[None, int, IO[str]] = None,
        pipe_stdio: bool = False,
    ) -> subprocess.Popen:  # type: ignore[type-arg]
        """Start `argv`; with `pipe_stdio`, stdin and stdout are text pipes."""
        proc = subprocess.Popen(
            list(argv),
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE if pipe_stdio else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe_stdio else stdout,
            stderr=stderr,
            text=True,
            bufsize=1 if pipe_stdio else -1,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 5.0) -> None:  # type: ignore[type-arg]
        """SIGTERM, then SIGKILL after `timeout` seconds; always reaps the process."""
        if proc.poll() is None:
            try:
                proc.terminate()
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            except ProcessLookupError:
                pass
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if proc in self._procs:
            self._procs.remove(proc)

    def close(self) -> None:
        """End every child still running (newest first)."""
        for proc in reversed(list(self._procs)):
            self.stop(proc)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


def exit_on_sigterm() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit, so `finally` blocks end the children."""

    def handler(signum: int, frame: Optional[FrameType]) -> None:
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, handler)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: str, lines: int = 30) -> str:
    """The last `lines` lines of a log file (empty when unreadable)."""
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Server:
    """A running benchmark server (bench/server.py)."""

    engine: str
    app: str
    port: int
    proc: subprocess.Popen  # type: ignore[type-arg]
    log_path: str
    # Which build of tornado_h1alt an h1alt server runs ("compiled" or
    # "pure", as its GET /engine says; see check_server); None for stock.
    build: Optional[str] = None

    @property
    def pid(self) -> int:
        """The server's pid (taskset execs the interpreter, so it keeps the pid)."""
        return int(self.proc.pid)

    def url(self, path: str = "/") -> str:
        """The URL of `path` on this server."""
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def describe(self) -> str:
        """For messages."""
        return "%s server (app %s, port %d, pid %d)" % (self.engine, self.app, self.port, self.pid)


def start_server(
    group: ProcessGroup,
    engine: str,
    app: str,
    *,
    pinning: Pinning,
    log_dir: str,
    python: str = sys.executable,
    startup_timeout: float = 20.0,
) -> Server:
    """Start bench/server.py, wait until its port accepts, check it answers correctly."""
    server = launch_server(
        group,
        engine,
        app,
        lambda port: [
            python,
            os.path.join(BENCH_DIR, "server.py"),
            "--engine",
            engine,
            "--app",
            app,
            "--port",
            str(port),
        ],
        pinning=pinning,
        log_dir=log_dir,
        startup_timeout=startup_timeout,
    )
    server.build = check_server(server)
    return server


def launch_server(
    group: ProcessGroup,
    engine: str,
    app: str,
    command: Callable[[int], List[str]],
    *,
    pinning: Pinning,
    log_dir: str,
    startup_timeout: float = 20.0,
) -> Server:
    """Start ``command(port)`` on a free port, pinned to the server core, its
    output in a log; return once the port accepts connections."""
    port = free_port()
    log_path = os.path.join(log_dir, "server-%s-%s-%d.log" % (engine, app, port))
    argv = pinning.prefix(pinning.server_cpu) + command(port)
    with open(log_path, "w") as log:
        proc = group.start(argv, stdout=log, stderr=subprocess.STDOUT)
    server = Server(engine, app, port, proc, log_path)
    wait_for_port(server, startup_timeout)
    return server


def wait_for_port(server: Server, timeout: float) -> None:
    """Return once the server accepts a connection; raise if it dies or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise BenchError(
                "%s exited with status %s before accepting connections:\n%s"
                % (server.describe(), server.proc.returncode, tail(server.log_path))
            )
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(
                    "%s did not accept connections within %.0f s:\n%s"
                    % (server.describe(), timeout, tail(server.log_path))
                ) from None
            time.sleep(0.05)


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def parse_engine_answer(engine: str, answer: str) -> Optional[str]:
    """The build named in a GET /engine answer (``tornado_h1alt.connection
    compiled``), or None for stock; raises BenchError if the answer is not
    that of ``engine``."""
    module, _, build = answer.partition(" ")
    if not module.startswith(ENGINE_MODULE_PREFIX[engine]):
        raise BenchError("GET /engine: %r is not the %s engine" % (answer, engine))
    if engine == "stock":
        return None
    if build not in ("compiled", "pure"):
        raise BenchError("GET /engine: %r names no build (compiled or pure)" % answer)
    return build


def check_server(server: Server) -> Optional[str]:
    """Check, over one keep-alive connection, every path the scenarios use.

    GET / and the browser-like GET (its header fields as browsers send them)
    -> "Hello world"; POST /upload with a Content-Length body and with a
    chunked one -> the byte count; GET /1mib -> 1 MiB; GET /engine -> the
    module of the engine we asked for (so a misconfigured server can't pass
    as the other engine).  Returns the build an h1alt server reports
    ("compiled" or "pure"), None for stock.
    """
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    problems: List[str] = []
    answers: List[bytes] = []

    def expect(method: str, path: str, body_check: str, **request: object) -> None:
        fields = request.pop("fields", None)
        if fields is None:
            conn.request(method, path, **request)  # type: ignore[arg-type]
        else:
            # Exactly these fields, as a browser sends them (no Host or
            # Accept-Encoding of http.client's own).
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in fields:  # type: ignore[attr-defined]
                conn.putheader(name, value)
            conn.endheaders()
        response = conn.getresponse()
        body = response.read()
        answers.append(body)
        what = "%s %s" % (method, path)
        if response.status != 200:
            problems.append("%s: status %d" % (what, response.status))
        elif body_check.startswith("len="):
            if len(body) != int(body_check[4:]):
                problems.append("%s: %d body bytes, expected %s" % (what, len(body), body_check))
        elif body_check.startswith("prefix="):
            if not body.decode("latin-1").startswith(body_check[7:]):
                problems.append("%s: body %r, expected %s" % (what, body[:80], body_check))
        elif body != body_check.encode():
            problems.append("%s: body %r, expected %r" % (what, body[:80], body_check))
        if response.will_close:
            problems.append("%s: the server closed a keep-alive connection" % what)

    payload = b"x" * (256 * 1024)
    try:
        expect("GET", "/", "Hello world")
        expect("GET", scenarios.browser_target(), "Hello world", fields=scenarios.browser_fields())
        expect("POST", "/upload", str(64 * 1024), body=payload[: 64 * 1024])
        expect(
            "POST",
            "/upload",
            str(len(payload)),
            body=_chunks(payload, 1024),
            headers={"Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        expect("GET", "/1mib", "len=%d" % (1024 * 1024))
        expect("GET", "/engine", "prefix=" + ENGINE_MODULE_PREFIX[server.engine])
    except (OSError, http.client.HTTPException) as exc:
        problems.append("%s: %r" % (type(exc).__name__, exc))
    finally:
        conn.close()
    if not problems:
        try:
            return parse_engine_answer(server.engine, answers[-1].decode("latin-1"))
        except BenchError as error:
            problems.append(str(error))
    raise BenchError(
        "%s answers incorrectly:\n  %s\n%s"
        % (server.describe(), "\n  ".join(problems), tail(server.log_path))
    )


def read_vmrss_kib(pid: int) -> int:
    """VmRSS of `pid` in KiB, from /proc/<pid>/status."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                fields = line.split()
                if fields[2].lower() != "kb":
                    raise BenchError("unexpected VmRSS unit in %r" % line)
                return int(fields[1])
    raise BenchError("no VmRSS line for pid %d" % pid)


class LineReader:
    """Lines from a child's stdout, read by a thread, waited for with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._lines.put(line.rstrip("\n"))
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def next_line(self, timeout: float) -> Optional[str]:
        """The next line, or None at end of output; raises BenchError after `timeout`."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError("no output from the child within %.0f s" % timeout) from None
