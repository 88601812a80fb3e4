"""The floor under an engine: server CPU per request for stock, h1alt and a null loop.

Usage::

    python bench/floor.py [--runs 4] [--duration 4] [--scenarios hello-bare,post64k]

(``--scenarios`` takes any wrk scenario; the null loop serves the GETs of
either application and post64k.  Other scenarios, e.g. ``chunked-16k``, are
measured for stock and tornado_h1alt only: the null loop reads no chunked
body.)

Serves the scenario's application (the bare one, or the tornado.web one)
three ways on real sockets, pinned like the benchmark (server on one core,
wrk on the other): stock Tornado, tornado_h1alt, and the ``null`` loop of
`bench/engine_cpu.py` (`NullServerConnection`, with one IOLoop turn between
requests as both engines take).  The null loop does only what any engine
must do through Tornado's interfaces: an IOStream read for the head and for
a Content-Length body, `HTTPHeaders`, the delegate's calls, one write.  No
validation, framing decision, keep-alive rule, timer or state, and no close
callback while the application works (a peer that vanishes meanwhile goes
unnoticed until the next read).  So it is a floor, not an engine: what
IOStream, the IOLoop and the kernel cost per request on this machine, which
no HTTP/1 engine on Tornado's interfaces can go below.

For each scenario the three servers are run interleaved (wrk, 50
connections, keep-alive) and each run's server CPU (user + system, from
``/proc/<pid>/stat``) is divided by the requests wrk completed.  Prints a
Markdown table: medians of req/s and of CPU us per request, with each
median's ratio to stock.  Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Sequence, Tuple

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from bench import procs, wrk  # noqa: E402
from bench.scenarios import SCENARIOS_BY_NAME  # noqa: E402

ENGINES = ("stock", "h1alt", "null")
DEFAULT_SCENARIOS = ("hello-bare", "post64k")
# What the null loop serves: GET (the browser-like one too) on either app
# and Content-Length bodies on the bare app.  Other wrk scenarios are
# measured for stock and h1alt only.
NULL_SCENARIOS = DEFAULT_SCENARIOS + ("browser-bare", "hello-web", "browser-web")


def engines_for(scenario: str) -> Tuple[str, ...]:
    """The servers measured for ``scenario``: the null loop only where it can serve it."""
    return ENGINES if scenario in NULL_SCENARIOS else ("stock", "h1alt")


def cpu_seconds(stat_text: str, clock_ticks: int) -> float:
    """User + system CPU seconds from the text of ``/proc/<pid>/stat``.

    The command name (field 2) may hold spaces and parentheses, so fields
    are counted from after its last ``)``: utime and stime are fields 14 and
    15 of the line.
    """
    fields = stat_text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / clock_ticks


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid``."""
    with open("/proc/%d/stat" % pid) as stat:
        return cpu_seconds(stat.read(), os.sysconf("SC_CLK_TCK"))


def make_null_server(app: str = "bare") -> Any:
    """An `HTTPServer` of bench/server.py's ``app`` ("bare" or "web"), served
    by the null loop."""
    import tornado.httpserver

    from bench.engine_cpu import NullServerConnection
    from bench.server import make_app

    class NullHTTPServer(tornado.httpserver.HTTPServer):
        # Every connection served, for a test to check how its loop ended
        # (a class per make_null_server call, so a list per server).
        null_connections: List[NullServerConnection] = []

        def handle_stream(self, stream: Any, address: Any) -> None:
            connection = NullServerConnection(stream, None, None, turn=True)
            self.null_connections.append(connection)
            connection.start_serving(self)

    return NullHTTPServer(make_app(app))


def serve_null(port: int, app: str) -> None:
    """Serve ``app`` by the null loop on 127.0.0.1:``port`` until killed."""
    import tornado.netutil

    async def serve() -> None:
        server = make_null_server(app)
        server.add_sockets(tornado.netutil.bind_sockets(port, "127.0.0.1", backlog=4096))
        await asyncio.Event().wait()

    asyncio.run(serve())


def start(
    group: procs.ProcessGroup, engine: str, app: str, pinning: procs.Pinning, log_dir: str
) -> procs.Server:
    """A running server of ``engine`` and ``app`` (the null loop is this
    script's ``--serve``)."""
    if engine != "null":
        return procs.start_server(group, engine, app, pinning=pinning, log_dir=log_dir)
    return procs.launch_server(
        group,
        "null",
        app,
        lambda port: [
            sys.executable,
            os.path.abspath(__file__),
            "--serve",
            str(port),
            "--app",
            app,
        ],
        pinning=pinning,
        log_dir=log_dir,
    )


def measure(
    server: procs.Server,
    scenario_name: str,
    pinning: procs.Pinning,
    duration: int,
    verify: bool = False,
) -> Tuple[float, float]:
    """One wrk run: (requests per second, server CPU microseconds per request).

    ``verify``: the Lua script checks every response (slower; for the warm-up).
    """
    scenario = SCENARIOS_BY_NAME[scenario_name]
    argv = wrk.build_command(
        server.url(scenario.path),
        duration_s=duration,
        connections=50,
        threads=1,
        script=scenario.script,
        script_args=scenario.verify_args() if verify else scenario.script_args,
        cpu=pinning.client_cpu,
        taskset=pinning.taskset,
    )
    before = process_cpu_seconds(server.pid)
    output = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    used = process_cpu_seconds(server.pid) - before
    result = wrk.parse_output(output)
    wrk.check_result(result, "%s on %s" % (scenario_name, server.engine))
    if verify and not result.verify_ok:
        raise procs.BenchError("%s on %s: no response verified" % (scenario_name, server.engine))
    return result.requests_per_s, used / result.requests * 1e6


def render(results: Dict[str, Dict[str, List[Tuple[float, float]]]]) -> str:
    """The Markdown table of medians and ratios to stock."""
    lines = [
        "| scenario | server | req/s (median) | vs stock | CPU us/request (median, range) "
        "| vs stock |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario, by_engine in results.items():
        stock_rate = statistics.median(rate for rate, _ in by_engine["stock"])
        stock_cpu = statistics.median(cpu for _, cpu in by_engine["stock"])
        for engine, samples in by_engine.items():
            rate = statistics.median(r for r, _ in samples)
            cpus = [c for _, c in samples]
            cpu = statistics.median(cpus)
            lines.append(
                "| %s | %s | %.0f | %.2f | %.1f (%.1f to %.1f) | %.2f |"
                % (
                    scenario,
                    engine,
                    rate,
                    rate / stock_rate,
                    cpu,
                    min(cpus),
                    max(cpus),
                    cpu / stock_cpu,
                )
            )
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help="wrk scenarios; the null loop serves only %s" % ", ".join(NULL_SCENARIOS),
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--app", choices=("bare", "web"), default="bare", help=argparse.SUPPRESS)
    args = parser.parse_args(list(argv) or None)
    if args.serve:
        serve_null(args.serve, args.app)
        return
    scenarios = args.scenarios.split(",")
    for name in scenarios:
        scenario = SCENARIOS_BY_NAME.get(name)
        if scenario is None or scenario.kind != "wrk":
            parser.error("%r is not a wrk scenario" % name)
    procs.exit_on_sigterm()
    try:
        print(run(scenarios, args.runs, args.duration))
    except (procs.BenchError, wrk.WrkError) as error:
        sys.exit("floor.py: %s" % error)


def run(scenarios: Sequence[str], runs: int, duration: int) -> str:
    """Measure ``scenarios`` (``runs`` interleaved runs each); the table."""
    pinning = procs.detect_pinning(True, server_cpu=1, client_cpu=0)
    results: Dict[str, Dict[str, List[Tuple[float, float]]]] = {}
    with procs.ProcessGroup() as group, tempfile.TemporaryDirectory() as log_dir:
        servers: Dict[Tuple[str, str], procs.Server] = {}
        for name in scenarios:
            app = SCENARIOS_BY_NAME[name].app
            for engine in engines_for(name):
                if (engine, app) not in servers:
                    servers[engine, app] = start(group, engine, app, pinning, log_dir)
        for name in scenarios:
            app = SCENARIOS_BY_NAME[name].app
            engines = engines_for(name)
            results[name] = {engine: [] for engine in engines}
            for engine in engines:  # warm-up, checking every response
                measure(servers[engine, app], name, pinning, 2, verify=True)
            for index in range(runs):
                for engine in engines:
                    sample = measure(servers[engine, app], name, pinning, duration)
                    results[name][engine].append(sample)
                    print(
                        "  [%s] run %d/%d %-5s %8.0f req/s %6.1f us/request"
                        % (name, index + 1, runs, engine, *sample),
                        file=sys.stderr,
                    )
    return render(results)


if __name__ == "__main__":
    main(sys.argv[1:])
