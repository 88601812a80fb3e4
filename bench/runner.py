"""Runs the selected scenarios, stock and h1alt interleaved, and collects every sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set

from . import procs, stats, wrk
from .scenarios import Scenario

ENGINES = ("stock", "h1alt")

# The module of each client's per-request connection class (fetch_client reports it).
CLIENT_MODULE_PREFIX = {
    "stock": "tornado.simple_httpclient",
    "h1alt": "tornado_h1alt.",
    "keepalive": "tornado_h1alt.client.pooled",
}


@dataclass
class Settings:
    """Everything the command line decides about a run."""

    runs: int
    duration_s: int
    warmup_s: int
    verify_s: int
    connections: int
    threads: int
    fetches: int
    fetch_warmup: int
    idle_connections: int
    pinning: procs.Pinning
    python: str
    log_dir: str


def log(message: str) -> None:
    """Progress, on stderr (stdout gets the table)."""
    print(message, file=sys.stderr, flush=True)


class Runner:
    """Runs scenarios with one ProcessGroup that ends every child at the end."""

    def __init__(self, settings: Settings, group: procs.ProcessGroup) -> None:
        self.settings = settings
        self.group = group
        # Per scenario: the builds of tornado_h1alt ("compiled", "pure") that
        # its h1alt servers (or client) reported running.
        self.builds: Dict[str, Set[str]] = {}

    def _saw_build(self, scenario: Scenario, build: Optional[str]) -> None:
        if build is not None:
            self.builds.setdefault(scenario.name, set()).add(build)

    # -- wrk ---------------------------------------------------------------

    def _wrk(
        self, scenario: Scenario, server: procs.Server, duration_s: int, verify: bool
    ) -> wrk.WrkResult:
        s = self.settings
        argv = wrk.build_command(
            server.url(scenario.path),
            duration_s=duration_s,
            connections=s.connections,
            threads=s.threads,
            script=scenario.script,
            script_args=scenario.verify_args() if verify else scenario.script_args,
            cpu=s.pinning.client_cpu,
            taskset=s.pinning.taskset,
        )
        proc = self.group.start(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            output, _ = proc.communicate(timeout=duration_s + 60)
        finally:
            self.group.stop(proc)
        what = "wrk %s against the %s" % (scenario.name, server.describe())
        if proc.returncode != 0:
            raise procs.BenchError("%s exited with %s:\n%s" % (what, proc.returncode, output))
        if server.proc.poll() is not None:
            raise procs.BenchError("%s: the server died:\n%s" % (what, procs.tail(server.log_path)))
        try:
            result = wrk.parse_output(output)
            wrk.check_result(result, what)
        except wrk.WrkError as exc:
            raise procs.BenchError("%s\n--- wrk output ---\n%s" % (exc, output)) from None
        if verify and result.verify_ok is None:
            raise procs.BenchError("%s: the verification line is missing:\n%s" % (what, output))
        return result

    def run_wrk_scenario(self, scenario: Scenario) -> Dict[str, List[Dict[str, Any]]]:
        """Both servers up; verify each; then runs x (warm-up, measure), A B A B."""
        s = self.settings
        servers = {
            engine: procs.start_server(
                self.group,
                engine,
                scenario.app,
                pinning=s.pinning,
                log_dir=s.log_dir,
                python=s.python,
            )
            for engine in ENGINES
        }
        self._saw_build(scenario, servers["h1alt"].build)
        try:
            for engine in ENGINES:
                checked = self._wrk(scenario, servers[engine], s.verify_s, verify=True)
                log(
                    "  [%s] %s: %d responses checked"
                    % (scenario.name, engine, checked.verify_ok or 0)
                )
            samples: Dict[str, List[Dict[str, Any]]] = {engine: [] for engine in ENGINES}
            for run in range(s.runs):
                for engine in ENGINES:
                    server = servers[engine]
                    if s.warmup_s > 0:
                        self._wrk(scenario, server, s.warmup_s, verify=False)
                    result = self._wrk(scenario, server, s.duration_s, verify=False)
                    value = scenario.value_from_requests_per_s(result.requests_per_s)
                    samples[engine].append(
                        {"run": run + 1, "value": value, "wrk": result.as_dict()}
                    )
                    log(
                        "  [%s] run %d/%d %-5s %12.2f %s"
                        % (scenario.name, run + 1, s.runs, engine, value, scenario.unit)
                    )
            return samples
        finally:
            for server in servers.values():
                self.group.stop(server.proc)

    # -- simple_httpclient fetch loop --------------------------------------

    def run_fetch_scenario(self, scenario: Scenario) -> Dict[str, List[Dict[str, Any]]]:
        """One stock server; the client process alternates stock and h1alt clients."""
        s = self.settings
        server = procs.start_server(
            self.group, "stock", "bare", pinning=s.pinning, log_dir=s.log_dir, python=s.python
        )
        try:
            samples: Dict[str, List[Dict[str, Any]]] = {engine: [] for engine in ENGINES}
            clients = {"stock": "stock", "h1alt": scenario.h1alt_client}
            for run in range(s.runs):
                for engine in ENGINES:
                    result = self._fetch_once(clients[engine], server)
                    if engine == "h1alt":
                        self._saw_build(scenario, result.get("build"))
                    value = float(result["requests_per_s"])
                    samples[engine].append({"run": run + 1, "value": value, "client": result})
                    log(
                        "  [%s] run %d/%d %-5s %12.2f %s"
                        % (scenario.name, run + 1, s.runs, engine, value, scenario.unit)
                    )
            return samples
        finally:
            self.group.stop(server.proc)

    def _fetch_once(self, client: str, server: procs.Server) -> Dict[str, Any]:
        s = self.settings
        argv = s.pinning.prefix(s.pinning.client_cpu) + [
            s.python,
            os.path.join(procs.BENCH_DIR, "fetch_client.py"),
            "--client",
            client,
            "--url",
            server.url("/"),
            "--requests",
            str(s.fetches),
            "--warmup",
            str(s.fetch_warmup),
        ]
        proc = self.group.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            output, errors = proc.communicate(timeout=600)
        finally:
            self.group.stop(proc)
        what = "fetch_client --client %s" % client
        if proc.returncode != 0:
            raise procs.BenchError(
                "%s exited with %s:\n%s%s" % (what, proc.returncode, output, errors)
            )
        lines = [line for line in output.splitlines() if line.strip()]
        try:
            result: Dict[str, Any] = json.loads(lines[-1])
        except (IndexError, ValueError):
            raise procs.BenchError(
                "%s printed no JSON result:\n%s%s" % (what, output, errors)
            ) from None
        expected = CLIENT_MODULE_PREFIX[client]
        if not str(result.get("connection_module", "")).startswith(expected):
            raise procs.BenchError(
                "%s used connection class module %r, expected %s*"
                % (what, result.get("connection_module"), expected)
            )
        return result

    # -- idle keep-alive connections ---------------------------------------

    def run_rss_scenario(self, scenario: Scenario) -> Dict[str, List[Dict[str, Any]]]:
        """A fresh server per engine and run; VmRSS before and after N idle connections."""
        s = self.settings
        samples: Dict[str, List[Dict[str, Any]]] = {engine: [] for engine in ENGINES}
        for run in range(s.runs):
            for engine in ENGINES:
                sample = self._rss_once(engine)
                if engine == "h1alt":
                    self._saw_build(scenario, sample.get("build"))
                samples[engine].append(dict(sample, run=run + 1))
                log(
                    "  [%s] run %d/%d %-5s %12.2f %s (VmRSS %d -> %d KiB, %d connections)"
                    % (
                        scenario.name,
                        run + 1,
                        s.runs,
                        engine,
                        sample["value"],
                        scenario.unit,
                        sample["rss_before_kib"],
                        sample["rss_after_kib"],
                        sample["connections"],
                    )
                )
        return samples

    def _rss_once(self, engine: str) -> Dict[str, Any]:
        s = self.settings
        server = procs.start_server(
            self.group, engine, "bare", pinning=s.pinning, log_dir=s.log_dir, python=s.python
        )
        client = None
        try:
            argv = s.pinning.prefix(s.pinning.client_cpu) + [
                s.python,
                os.path.join(procs.BENCH_DIR, "idle_client.py"),
                "--port",
                str(server.port),
                "--connections",
                str(s.idle_connections),
            ]
            client_log = os.path.join(s.log_dir, "idle-client-%s-%d.log" % (engine, server.port))
            with open(client_log, "w") as client_stderr:
                client = self.group.start(argv, stderr=client_stderr, pipe_stdio=True)
            assert client.stdout is not None and client.stdin is not None
            lines = procs.LineReader(client.stdout)

            def expect_line(prefix: str, timeout: float) -> str:
                line = lines.next_line(timeout)
                if line is None or not line.startswith(prefix):
                    self.group.stop(client)
                    errors = procs.tail(client_log)
                    raise procs.BenchError(
                        "idle_client: expected %r, got %r:\n%s\n%s"
                        % (prefix, line, errors, procs.tail(server.log_path))
                    )
                return line

            expect_line("WARM", 120)
            time.sleep(0.5)  # let the server finish closing the warm-up connections
            before = procs.read_vmrss_kib(server.pid)
            client.stdin.write("go\n")
            client.stdin.flush()
            ready = expect_line("READY", 600)
            held = int(ready.split()[1])
            if held != s.idle_connections:
                raise procs.BenchError(
                    "idle_client holds %d connections, not %d" % (held, s.idle_connections)
                )
            time.sleep(1.0)  # let the server settle on its idle reads
            after = procs.read_vmrss_kib(server.pid)
            if server.proc.poll() is not None:
                raise procs.BenchError(
                    "the %s died while holding idle connections:\n%s"
                    % (server.describe(), procs.tail(server.log_path))
                )
            client.stdin.write("close\n")
            client.stdin.flush()
            expect_line("CLOSED", 60)
            return {
                "value": (after - before) / held,
                "rss_before_kib": before,
                "rss_after_kib": after,
                "connections": held,
                "build": server.build,
            }
        finally:
            if client is not None:
                self.group.stop(client)
            self.group.stop(server.proc)

    # -- all of it ---------------------------------------------------------

    def run(self, scenarios: List[Scenario]) -> List[Dict[str, Any]]:
        """Run each scenario; return one JSON-ready record per scenario."""
        kinds: Dict[str, Callable[[Scenario], Dict[str, List[Dict[str, Any]]]]] = {
            "wrk": self.run_wrk_scenario,
            "fetch": self.run_fetch_scenario,
            "rss": self.run_rss_scenario,
        }
        records = []
        for index, scenario in enumerate(scenarios, 1):
            log("[%d/%d] %s: %s" % (index, len(scenarios), scenario.name, scenario.title))
            started = time.monotonic()
            samples = kinds[scenario.kind](scenario)
            records.append(
                make_record(
                    scenario,
                    samples,
                    time.monotonic() - started,
                    h1alt_build=", ".join(sorted(self.builds.get(scenario.name, ()))) or None,
                )
            )
        return records


def make_record(
    scenario: Scenario,
    samples: Dict[str, List[Dict[str, Any]]],
    elapsed_s: float,
    h1alt_build: Optional[str] = None,
) -> Dict[str, Any]:
    """One scenario's results: description, per-engine samples and summaries, ratio.

    ``h1alt_build``: which build of tornado_h1alt the h1alt side ran
    ("compiled", "pure"), as its servers or client reported it."""
    summaries = {
        engine: stats.summarize([s["value"] for s in samples[engine]]) for engine in ENGINES
    }
    ratio = stats.ratio(summaries["h1alt"].median, summaries["stock"].median)
    return {
        "name": scenario.name,
        "title": scenario.title,
        "unit": scenario.unit,
        "higher_is_better": scenario.higher_is_better,
        "description": scenario.description,
        "elapsed_s": round(elapsed_s, 1),
        "h1alt_build": h1alt_build,
        "engines": {
            engine: {"summary": summaries[engine].as_dict(), "samples": samples[engine]}
            for engine in ENGINES
        },
        "ratio_h1alt_over_stock": ratio,
        "verdict": stats.verdict(ratio, scenario.higher_is_better),
    }
