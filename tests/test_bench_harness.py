"""Tests of the benchmark harness's pure logic: wrk output parsing, statistics, reports.

Nothing here starts wrk or measures time; the few tests that start a server
serve it in-process, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from typing import Any, Dict, List

import pytest

from bench import report, stats, wrk
from bench.__main__ import parse_args
from bench.runner import make_record
from bench.scenarios import SCENARIOS, SCENARIOS_BY_NAME, select

CLEAN_OUTPUT = """\
Running 5s test @ http://127.0.0.1:8000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    11.87ms    1.02ms  22.23ms   90.00%
    Req/Sec     4.21k   500.00     4.50k    70.00%
  Latency Distribution
     50%   11.63ms
     75%   12.82ms
     90%   14.81ms
     99%   19.51ms
  20938 requests in 5.00s, 1.52MB read
Requests/sec:   4187.55
Transfer/sec:    310.80KB
"""

FAILING_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8000/missing
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   605.83us  399.16us    1.20s    86.81%
    Req/Sec     3.56k   561.70     4.69k    72.73%
  3892 requests in 1.10m, 2.00GB read
  Socket errors: connect 0, read 3, write 0, timeout 7
  Non-2xx or 3xx responses: 3892
Requests/sec:   3540.13
Transfer/sec:       1.5MB
bench-verify ok=0 bad=12 first_bad=status=404 len=9 body="not found"
"""


# -- wrk output ---------------------------------------------------------------


def test_parse_clean_output() -> None:
    result = wrk.parse_output(CLEAN_OUTPUT)
    assert result.requests == 20938
    assert result.duration_s == 5.0
    assert result.bytes_read == pytest.approx(1.52 * 1024 * 1024)
    assert result.requests_per_s == 4187.55
    assert result.transfer_per_s == pytest.approx(310.80 * 1024)
    assert result.latency_avg_s == pytest.approx(0.01187)
    assert result.latency_max_s == pytest.approx(0.02223)
    assert result.latency_percentiles_s == {
        "p50": pytest.approx(0.01163),
        "p75": pytest.approx(0.01282),
        "p90": pytest.approx(0.01481),
        "p99": pytest.approx(0.01951),
    }
    assert result.socket_errors == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert result.non_2xx_3xx == 0
    assert result.verify_ok is None
    wrk.check_result(result, "clean")  # does not raise


def test_parse_errors_units_and_verify_line() -> None:
    result = wrk.parse_output(FAILING_OUTPUT)
    assert result.duration_s == 66.0
    assert result.bytes_read == 2 * 1024**3
    assert result.latency_avg_s == pytest.approx(605.83e-6)
    assert result.latency_max_s == pytest.approx(1.2)
    assert result.socket_errors == {"connect": 0, "read": 3, "write": 0, "timeout": 7}
    assert result.total_socket_errors == 10
    assert result.non_2xx_3xx == 3892
    assert (result.verify_ok, result.verify_bad) == (0, 12)
    assert result.verify_first_bad == 'status=404 len=9 body="not found"'


def test_check_result_names_every_problem() -> None:
    result = wrk.parse_output(FAILING_OUTPUT)
    with pytest.raises(wrk.WrkError) as info:
        wrk.check_result(result, "wrk hello")
    message = str(info.value)
    assert message.startswith("wrk hello: ")
    assert "3892 non-2xx/3xx responses" in message
    assert "read 3" in message and "timeout 7" in message and "connect" not in message
    assert "12 responses with an unexpected status or body" in message
    assert "saw no good response" in message


@pytest.mark.parametrize(
    "line",
    [
        "  Non-2xx or 3xx responses: 1",
        "  Socket errors: connect 1, read 0, write 0, timeout 0",
        "  Socket errors: connect 0, read 0, write 2, timeout 0",
    ],
)
def test_any_single_error_line_fails_the_run(line: str) -> None:
    text = CLEAN_OUTPUT.replace("Requests/sec:", line + "\nRequests/sec:")
    with pytest.raises(wrk.WrkError):
        wrk.check_result(wrk.parse_output(text), "run")


def test_zero_requests_fails_the_run() -> None:
    text = CLEAN_OUTPUT.replace("20938 requests", "0 requests")
    with pytest.raises(wrk.WrkError, match="no request completed"):
        wrk.check_result(wrk.parse_output(text), "run")


@pytest.mark.parametrize("drop", ["requests in", "Requests/sec", "Transfer/sec"])
def test_missing_summary_line_is_an_error(drop: str) -> None:
    text = "\n".join(line for line in CLEAN_OUTPUT.splitlines() if drop not in line)
    with pytest.raises(wrk.WrkError, match="lacks"):
        wrk.parse_output(text)


def test_unusable_output_is_an_error() -> None:
    with pytest.raises(wrk.WrkError):
        wrk.parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_build_command_pins_and_passes_script_args() -> None:
    argv = wrk.build_command(
        "http://127.0.0.1:8000/upload",
        duration_s=5,
        connections=50,
        threads=1,
        script="chunked.lua",
        script_args=("total=262144", "chunk=1024"),
        cpu=0,
        taskset="/usr/bin/taskset",
    )
    assert argv[:3] == ["/usr/bin/taskset", "-c", "0"]
    assert argv[3:7] == ["wrk", "-t1", "-c50", "-d5s"]
    assert argv[argv.index("-s") + 1] == os.path.join(wrk.LUA_DIR, "chunked.lua")
    assert argv[-4:] == ["http://127.0.0.1:8000/upload", "--", "total=262144", "chunk=1024"]


def test_build_command_without_taskset_or_args() -> None:
    argv = wrk.build_command(
        "http://127.0.0.1:8000/", duration_s=1, connections=2, threads=1, script="get.lua"
    )
    assert argv[0] == "wrk"
    assert argv[-1] == "http://127.0.0.1:8000/"
    assert "--" not in argv


def test_every_scenario_script_exists() -> None:
    for scenario in SCENARIOS:
        if scenario.kind == "wrk":
            assert os.path.isfile(os.path.join(wrk.LUA_DIR, scenario.script)), scenario.name


# -- statistics ---------------------------------------------------------------


def test_summarize() -> None:
    summary = stats.summarize([3.0, 1.0, 2.0, 10.0])
    assert summary.n == 4
    assert summary.median == 2.5
    assert (summary.minimum, summary.maximum) == (1.0, 10.0)
    assert summary.mean == 4.0
    assert summary.stdev == pytest.approx(4.0824829)


def test_summarize_one_sample_and_errors() -> None:
    summary = stats.summarize([7])
    assert (summary.median, summary.stdev) == (7.0, None)
    with pytest.raises(ValueError):
        stats.summarize([])
    with pytest.raises(ValueError):
        stats.summarize([1.0, float("nan")])


def test_ratio_and_verdict() -> None:
    assert stats.ratio(150.0, 100.0) == 1.5
    assert stats.ratio(1.0, 0.0) is None
    assert stats.verdict(1.5, higher_is_better=True) == "better"
    assert stats.verdict(0.5, higher_is_better=True) == "worse"
    assert stats.verdict(0.5, higher_is_better=False) == "better"
    assert stats.verdict(1.5, higher_is_better=False) == "worse"
    assert stats.verdict(1.02, higher_is_better=True) == "same"
    assert stats.verdict(None, higher_is_better=True) == "n/a"


# -- scenarios and command line -----------------------------------------------


def test_scenario_names_are_unique_and_selectable() -> None:
    assert len(SCENARIOS_BY_NAME) == len(SCENARIOS) == 12
    assert [s.name for s in select(None)] == [s.name for s in SCENARIOS]
    assert [s.name for s in select("all")] == [s.name for s in SCENARIOS]
    # The table's order wins over the order asked for.
    assert [s.name for s in select("idle-rss, hello-bare")] == ["hello-bare", "idle-rss"]
    with pytest.raises(ValueError, match="nope"):
        select("hello-bare,nope")


def test_scenario_values() -> None:
    assert SCENARIOS_BY_NAME["hello-bare"].value_from_requests_per_s(1234.5) == 1234.5
    chunked = SCENARIOS_BY_NAME["chunked-1k"]
    assert chunked.value_from_requests_per_s(100.0) == pytest.approx(100 * 262144 / 1e6)
    response = SCENARIOS_BY_NAME["response-1mib"]
    assert response.value_from_requests_per_s(1000.0) == pytest.approx(1048.576)
    assert "expect_len=1048576" in response.verify_args()
    assert SCENARIOS_BY_NAME["pipeline16"].verify_args() == (
        "depth=16",
        "expect_body=Hello world",
    )


def test_browser_scenarios_send_a_browser_sized_head() -> None:
    from bench.scenarios import BROWSER_PATH, browser_fields, browser_head, browser_target

    head = browser_head()
    # What a current browser sends for a page: 500 to 600 bytes.
    assert 500 <= len(head) <= 600
    assert head.startswith(b"GET " + BROWSER_PATH.encode() + b"?")
    assert head.endswith(b"\r\n\r\n") and b"\n" not in head.replace(b"\r\n", b"")
    names = [name for name, _ in browser_fields()]
    for name in (
        "Host",
        "User-Agent",
        "Accept",
        "Accept-Language",
        "Accept-Encoding",
        "Cookie",
        "Referer",
        "Sec-Fetch-Dest",
        "Sec-Fetch-Mode",
        "Sec-Fetch-Site",
        "Upgrade-Insecure-Requests",
        "Connection",
    ):
        assert name in names
    assert dict(browser_fields())["Connection"] == "keep-alive"
    assert len(dict(browser_fields())["Cookie"].split(";")) >= 2
    assert browser_target() == BROWSER_PATH + "?q=shoes&page=2"
    # The fields and the target rebuild the head exactly (what check_server sends).
    rebuilt = "GET %s HTTP/1.1\r\n" % browser_target() + "".join(
        "%s: %s\r\n" % field for field in browser_fields()
    )
    assert (rebuilt + "\r\n").encode() == head
    for name in ("browser-bare", "browser-web"):
        scenario = SCENARIOS_BY_NAME[name]
        assert (scenario.kind, scenario.script, scenario.path) == (
            "wrk",
            "browser.lua",
            BROWSER_PATH,
        )
        assert scenario.verify_args() == ("expect_body=Hello world",)
    assert SCENARIOS_BY_NAME["browser-bare"].app == "bare"
    assert SCENARIOS_BY_NAME["browser-web"].app == "web"


def test_browser_lua_sends_the_head_file_with_crlf() -> None:
    # lua/browser.lua reads browser_head.txt itself (wrk's Lua cannot ask
    # Python): it must read the same file and join its lines as browser_head does.
    with open(os.path.join(wrk.LUA_DIR, "browser.lua")) as script:
        lua = script.read()
    assert '"browser_head.txt"' in lua
    assert 'table.concat(lines, "\\r\\n") .. "\\r\\n\\r\\n"' in lua


def test_quick_only_changes_defaults() -> None:
    full = parse_args([])
    assert (full.runs, full.duration, full.warmup, full.fetches) == (3, 5, 1, 2000)
    assert full.output_dir.endswith(os.path.join("bench", "results"))
    quick = parse_args(["--quick"])
    assert (quick.runs, quick.duration, quick.fetches) == (1, 2, 500)
    assert quick.output_dir.endswith(os.path.join("results", "quick"))
    assert parse_args(["--quick", "--runs", "2"]).runs == 2


# -- reports ------------------------------------------------------------------


def _samples(values: List[float]) -> List[Dict[str, Any]]:
    return [{"run": index + 1, "value": value} for index, value in enumerate(values)]


def _results() -> Dict[str, Any]:
    records = [
        make_record(
            SCENARIOS_BY_NAME["hello-bare"],
            {"stock": _samples([4000, 4200, 4100]), "h1alt": _samples([5000, 4900, 5100])},
            elapsed_s=20.0,
        ),
        make_record(
            SCENARIOS_BY_NAME["idle-rss"],
            {"stock": _samples([9.2, 9.0, 9.1]), "h1alt": _samples([8.1, 8.0, 8.2])},
            elapsed_s=10.0,
        ),
    ]
    return {
        "meta": {
            "date": "2026-01-01T00:00:00+00:00",
            "command": "python -m bench",
            "tornado_version": "6.6.1",
            "python_version": "3.11.7",
            "python_implementation": "CPython",
            "platform": "Linux",
            "cpu_model": "Test CPU",
            "cpu_count": 2,
            "loadavg_start": "0.00, 0.00, 0.00",
            "git_commit": "abc1234",
            "wrk_version": "wrk 4.1.0",
            "h1alt_build": "compiled",
        },
        "settings": {
            "runs": 3,
            "duration_s": 5,
            "warmup_s": 1,
            "connections": 50,
            "threads": 1,
            "fetches": 2000,
            "fetch_warmup": 100,
            "idle_connections": 5000,
            "pinning": "not pinned",
            "quick": False,
        },
        "scenarios": records,
    }


def test_make_record_uses_medians() -> None:
    record = _results()["scenarios"][0]
    assert record["engines"]["stock"]["summary"]["median"] == 4100
    assert record["engines"]["h1alt"]["summary"]["median"] == 5000
    assert record["ratio_h1alt_over_stock"] == pytest.approx(5000 / 4100)
    assert record["verdict"] == "better"
    rss = _results()["scenarios"][1]
    assert rss["ratio_h1alt_over_stock"] == pytest.approx(8.1 / 9.1)
    assert rss["verdict"] == "better"  # lower is better for KiB/conn


def test_render_table() -> None:
    lines = report.render_table(_results()["scenarios"]).splitlines()
    assert len(lines) == 4
    assert [cell.strip() for cell in lines[0].strip("|").split("|")] == [
        "scenario",
        "unit",
        "stock median",
        "h1alt median",
        "ratio h1alt/stock",
    ]
    # A valid Markdown rule: text columns left, numbers right-aligned.
    rule = [cell for cell in lines[1].strip("|").split("|")]
    assert all(set(cell) == {"-"} for cell in rule[:2])
    assert all(cell.endswith(":") and set(cell) == {"-", ":"} for cell in rule[2:])
    assert all(len(line) == len(lines[0]) for line in lines)
    hello = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert hello == ["hello-bare", "req/s", "4,100", "5,000", "1.22"]
    rss = [cell.strip() for cell in lines[3].strip("|").split("|")]
    assert rss == ["idle-rss", "KiB/conn (lower is better)", "9.10", "8.10", "0.89"]


def test_render_markdown_has_table_conditions_and_samples() -> None:
    text = report.render_markdown(_results())
    assert text.startswith("# tornado_h1alt benchmark results\n")
    assert "| hello-bare " in text
    assert "tornado 6.6.1, Python 3.11.7" in text
    assert "Test CPU" in text
    assert "4,000, 4,200, 4,100" in text  # every sample, in run order
    assert "`python -m bench`" in text
    assert "- tornado_h1alt build (`tornado_h1alt.BUILD`" in text
    assert text.split("- tornado_h1alt build")[1].splitlines()[0].endswith(": compiled")


def test_h1alt_build_is_recorded_per_scenario_and_summed_up() -> None:
    hello = SCENARIOS_BY_NAME["hello-bare"]
    samples = {"stock": _samples([1.0]), "h1alt": _samples([2.0])}
    record = make_record(hello, samples, elapsed_s=1.0, h1alt_build="pure")
    assert record["h1alt_build"] == "pure"
    assert make_record(hello, samples, elapsed_s=1.0)["h1alt_build"] is None
    browser = make_record(
        SCENARIOS_BY_NAME["browser-bare"], samples, elapsed_s=1.0, h1alt_build="pure"
    )
    assert report.h1alt_build([record, browser]) == "pure"
    compiled = dict(browser, h1alt_build="compiled")
    assert report.h1alt_build([record, compiled]) == "hello-bare pure, browser-bare compiled"


def test_parse_engine_answer() -> None:
    from bench.procs import BenchError, parse_engine_answer

    assert parse_engine_answer("stock", "tornado.http1connection") is None
    assert parse_engine_answer("h1alt", "tornado_h1alt.connection compiled") == "compiled"
    assert parse_engine_answer("h1alt", "tornado_h1alt.connection pure") == "pure"
    with pytest.raises(BenchError, match="not the h1alt engine"):
        parse_engine_answer("h1alt", "tornado.http1connection")
    with pytest.raises(BenchError, match="names no build"):
        parse_engine_answer("h1alt", "tornado_h1alt.connection")


@pytest.mark.parametrize("engine", ["stock", "h1alt"])
@pytest.mark.parametrize("app", ["bare", "web"])
async def test_check_server_passes_every_app_and_reads_the_build(
    io_loop: Any, engine: str, app: str
) -> None:
    # The harness's own check (every path the scenarios use, the browser-like
    # GET included) against the real server code, served in-process; the
    # blocking client runs in a thread.
    from tornado.testing import bind_unused_port

    import tornado_h1alt
    from bench import procs
    from bench.server import make_server

    server = make_server(engine, app)
    sock, port = bind_unused_port()
    server.add_sockets([sock])
    checked = procs.Server(engine, app, port, proc=None, log_path="/nonexistent")  # type: ignore[arg-type]
    try:
        build = await asyncio.get_event_loop().run_in_executor(None, procs.check_server, checked)
    finally:
        server.stop()
        await server.close_all_connections()
    assert build == (None if engine == "stock" else tornado_h1alt.BUILD)


def test_format_value() -> None:
    assert report.format_value(12345.6) == "12,346"
    assert report.format_value(123.4) == "123"
    assert report.format_value(12.34) == "12.3"
    assert report.format_value(1.234) == "1.23"
    assert report.format_value(None) == "n/a"
    assert report.format_ratio(None) == "n/a"


def test_write_json_round_trips(tmp_path: Any) -> None:
    results = _results()
    path = os.path.join(str(tmp_path), "results.json")
    report.write_json(copy.deepcopy(results), path)
    with open(path) as saved:
        assert json.load(saved) == json.loads(json.dumps(results))
    assert os.listdir(str(tmp_path)) == ["results.json"]  # no temporary file left


def test_render_connections_lists_fetch_scenarios_only() -> None:
    def fetch_samples(client: str, opened: List[int]) -> List[Dict[str, Any]]:
        return [
            {
                "run": run + 1,
                "value": 1000.0,
                "client": {
                    "client": client,
                    "requests": 2000,
                    "connections_opened": n,
                    "connections_opened_with_warmup": n + (100 if n else 1),
                },
            }
            for run, n in enumerate(opened)
        ]

    records = _results()["scenarios"] + [
        make_record(
            SCENARIOS_BY_NAME["client-keepalive"],
            {
                "stock": fetch_samples("stock", [2000, 2000]),
                "h1alt": fetch_samples("keepalive", [0, 0]),
            },
            elapsed_s=5.0,
        )
    ]
    lines = report.render_connections(records).splitlines()
    assert len(lines) == 4  # header, rule, one row per engine; wrk/rss scenarios skipped
    stock = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert stock == ["client-keepalive", "stock", "stock", "2000", "2000 (2100), 2000 (2100)"]
    pooled = [cell.strip() for cell in lines[3].strip("|").split("|")]
    assert pooled == ["client-keepalive", "h1alt", "keepalive", "2000", "0 (1), 0 (1)"]
    assert report.render_connections(_results()["scenarios"]) == ""
    assert "## Connections opened" in report.render_markdown(dict(_results(), scenarios=records))


@pytest.mark.parametrize("client, opened, with_warmup", [("stock", 12, 15), ("keepalive", 0, 1)])
async def test_fetch_client_counts_the_connections_the_server_accepted(
    io_loop: Any, client: str, opened: int, with_warmup: int
) -> None:
    from tornado.testing import bind_unused_port

    from bench import fetch_client
    from bench.server import make_server

    server = make_server("stock", "bare")
    sock, port = bind_unused_port()
    server.add_sockets([sock])
    try:
        result = await fetch_client.run(
            client, "http://127.0.0.1:%d/" % port, 12, 3, b"Hello world"
        )
    finally:
        server.stop()
        await server.close_all_connections()
    assert result["connections_opened"] == opened
    assert result["connections_opened_with_warmup"] == with_warmup
    assert result["connection_module"].startswith(
        "tornado.simple_httpclient" if client == "stock" else "tornado_h1alt.client.pooled"
    )


@pytest.mark.parametrize("engine", ["stock", "h1alt", "null"])
@pytest.mark.parametrize("app", ["bare", "web"])
async def test_engine_cpu_serves_every_request_through_each_engine(
    io_loop: Any, engine: str, app: str
) -> None:
    # The engine-only measure (no sockets) must really run the engine it
    # names, and answer every request; measure() raises otherwise.
    from bench import engine_cpu

    expected = {"stock": "tornado.", "h1alt": "tornado_h1alt.", "null": "bench."}[engine]
    assert engine_cpu.ENGINES[engine][0].__module__.startswith(expected)
    assert await engine_cpu.measure(engine, app, requests=20, repeats=1) > 0
    assert await engine_cpu.measure(engine, app, requests=20, repeats=1, head="browser") > 0


# -- bench/floor.py -------------------------------------------------------------


def test_cpu_seconds_counts_from_after_the_command_name() -> None:
    from bench.floor import cpu_seconds

    # A command name with spaces and a ")" of its own; utime 250 and stime
    # 50 ticks are the 14th and 15th fields.
    stat = "4242 (py (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0"
    assert cpu_seconds(stat, 100) == 3.0


def test_floor_measures_the_null_loop_only_where_it_serves_the_scenario() -> None:
    from bench.floor import engines_for, main

    assert engines_for("hello-bare") == ("stock", "h1alt", "null")
    assert engines_for("post64k") == ("stock", "h1alt", "null")
    assert engines_for("browser-bare") == ("stock", "h1alt", "null")
    assert engines_for("hello-web") == ("stock", "h1alt", "null")
    assert engines_for("browser-web") == ("stock", "h1alt", "null")
    assert engines_for("chunked-16k") == ("stock", "h1alt")
    # Only wrk scenarios: refused before any server starts.
    for name in ("client-fetch", "idle-rss", "nope"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--scenarios", name])
        assert exit_info.value.code == 2


def test_floor_table_gives_medians_and_ratios_to_stock() -> None:
    from bench.floor import render

    # (req/s, CPU us/request) per run; medians 100/80, 150/50, 300/20.
    table = render(
        {
            "hello-bare": {
                "stock": [(90.0, 90.0), (100.0, 80.0), (110.0, 70.0)],
                "h1alt": [(150.0, 50.0), (140.0, 55.0), (160.0, 45.0)],
                "null": [(300.0, 20.0), (310.0, 19.0), (290.0, 21.0)],
            }
        }
    ).splitlines()
    assert len(table) == 5  # header, rule, a row per server
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert rows[0] == ["hello-bare", "stock", "100", "1.00", "80.0 (70.0 to 90.0)", "1.00"]
    assert rows[1] == ["hello-bare", "h1alt", "150", "1.50", "50.0 (45.0 to 55.0)", "0.62"]
    assert rows[2] == ["hello-bare", "null", "300", "3.00", "20.0 (19.0 to 21.0)", "0.25"]


@pytest.mark.parametrize("app", ["bare", "web"])
async def test_the_null_floor_server_answers_like_the_app(io_loop: Any, app: str) -> None:
    # bench/floor.py's null loop must answer what wrk's scenarios check
    # (GET / and a Content-Length POST, over one keep-alive connection), and
    # leave quietly when the client closes.
    import socket

    from tornado.iostream import IOStream
    from tornado.testing import bind_unused_port

    from bench.floor import make_null_server
    from bench.scenarios import browser_head

    server = make_null_server(app)
    sock, port = bind_unused_port()
    server.add_sockets([sock])
    stream = IOStream(socket.socket())
    try:
        await stream.connect(("127.0.0.1", port))
        body = b"x" * 70000  # more than one of the loop's 64 KiB reads
        for request, expected in [
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"Hello world"),
            (
                b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body),
                b"70000",
            ),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"Hello world"),
            (browser_head(), b"Hello world"),  # browser-bare's GET
        ]:
            await stream.write(request)
            head = await stream.read_until(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"\r\nContent-Length: %d\r\n" % len(expected) in head
            assert await stream.read_bytes(len(expected)) == expected
    finally:
        stream.close()
        server.stop()
    [connection] = server.null_connections
    assert connection.task is not None
    await asyncio.wait_for(connection.task, 5)  # raises what the loop raised
