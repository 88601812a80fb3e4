"""``python -m bench``: stock Tornado vs tornado_h1alt, every scenario, one command.

Examples::

    python -m bench                      # all scenarios, 3 runs x 5 s each
    python -m bench --quick              # smoke test: 1 run x 2 s, fewer fetches
    python -m bench --scenarios hello-bare,pipeline16 --runs 5
    python -m bench --list               # the scenarios and what they measure
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, List, Optional

from . import procs, report, runner
from .scenarios import SCENARIOS, select

# A scratch directory git ignores: a run leaves the checkout as it was.
# (The committed bench/results/ is written only when asked: --output-dir.)
DEFAULT_OUTPUT_DIR = os.path.join(os.path.dirname(procs.BENCH_DIR), ".bench", "results")


def parse_args(argv: List[str]) -> argparse.Namespace:
    """The command line; --quick only changes what was not given explicitly."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark stock Tornado's HTTP/1 engine against tornado_h1alt "
        "(wrk, a simple_httpclient loop, idle-connection memory). See bench/README.md.",
    )
    parser.add_argument(
        "--scenarios",
        help="comma-separated scenario names (default: all): "
        + ",".join(scenario.name for scenario in SCENARIOS),
    )
    parser.add_argument("--runs", type=int, help="measured runs per engine and scenario (3)")
    parser.add_argument("--duration", type=int, help="seconds per measured wrk run (5)")
    parser.add_argument("--warmup", type=int, help="seconds of wrk warm-up before each run (1)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--fetches", type=int, help="client-fetch: fetches per run (2000)")
    parser.add_argument(
        "--idle-connections", type=int, help="idle-rss: connections held open (5000)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 1 run, 2 s, 500 fetches; results go to .bench/results/quick/",
    )
    parser.add_argument("--output-dir", help="where RESULTS.md, results.json, ratios.png go")
    parser.add_argument("--no-pin", action="store_true", help="do not use taskset")
    parser.add_argument("--server-cpu", type=int, default=1, help="core for servers (1)")
    parser.add_argument("--client-cpu", type=int, default=0, help="core for wrk/clients (0)")
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the child processes' logs in OUTPUT/logs"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)

    quick = args.quick
    defaults: Dict[str, Any] = {
        "runs": 1 if quick else 3,
        "duration": 2 if quick else 5,
        "warmup": 1,
        "fetches": 500 if quick else 2000,
        "idle_connections": 5000,
        "output_dir": os.path.join(DEFAULT_OUTPUT_DIR, "quick") if quick else DEFAULT_OUTPUT_DIR,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("runs", "duration", "connections", "threads", "fetches", "idle_connections"):
        if getattr(args, name) < 1:
            parser.error("--%s must be at least 1" % name.replace("_", "-"))
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    if args.connections < args.threads:
        parser.error("wrk needs at least one connection per thread")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; 0 on success, 1 when a check fails, 130 on Ctrl-C."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.list:
        for scenario in SCENARIOS:
            print("%-14s %-9s %s" % (scenario.name, scenario.unit, scenario.description))
        return 0
    try:
        scenarios = select(args.scenarios)
    except ValueError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    if any(scenario.kind == "wrk" for scenario in scenarios) and not shutil.which("wrk"):
        print(
            "error: wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)", file=sys.stderr
        )
        return 2

    procs.exit_on_sigterm()
    os.makedirs(args.output_dir, exist_ok=True)
    log_dir = (
        os.path.join(args.output_dir, "logs")
        if args.keep_logs
        else tempfile.mkdtemp(prefix="bench-logs-")
    )
    os.makedirs(log_dir, exist_ok=True)
    pinning = procs.detect_pinning(not args.no_pin, args.server_cpu, args.client_cpu)
    settings = runner.Settings(
        runs=args.runs,
        duration_s=args.duration,
        warmup_s=args.warmup,
        verify_s=1,
        connections=args.connections,
        threads=args.threads,
        fetches=args.fetches,
        fetch_warmup=100,
        idle_connections=args.idle_connections,
        pinning=pinning,
        python=sys.executable,
        log_dir=log_dir,
    )
    meta = report.collect_meta(argv)
    runner.log(
        "bench: %d scenario(s), %d run(s) each, %s; tornado %s, Python %s"
        % (
            len(scenarios),
            args.runs,
            pinning.describe(),
            meta["tornado_version"],
            meta["python_version"],
        )
    )
    failed = False
    try:
        with procs.ProcessGroup() as group:
            records = runner.Runner(settings, group).run(scenarios)
    except procs.BenchError as exc:
        print("\nbench: FAILED: %s" % exc, file=sys.stderr)
        failed = True
    except KeyboardInterrupt:
        print("\nbench: interrupted; every child process was ended", file=sys.stderr)
        return 130
    except SystemExit:
        print("\nbench: stopped by a signal; every child process was ended", file=sys.stderr)
        raise
    finally:
        if not args.keep_logs:
            if failed:
                print("bench: the child processes' logs are in %s" % log_dir, file=sys.stderr)
            else:
                shutil.rmtree(log_dir, ignore_errors=True)
    if failed:
        return 1

    meta["loadavg_end"] = report.loadavg()
    meta["h1alt_build"] = report.h1alt_build(records)
    results = {
        "meta": meta,
        "settings": {
            "runs": settings.runs,
            "duration_s": settings.duration_s,
            "warmup_s": settings.warmup_s,
            "connections": settings.connections,
            "threads": settings.threads,
            "fetches": settings.fetches,
            "fetch_warmup": settings.fetch_warmup,
            "idle_connections": settings.idle_connections,
            "pinning": pinning.describe(),
            "quick": args.quick,
        },
        "scenarios": records,
    }
    markdown = report.render_markdown(results)
    report.write_text(markdown, os.path.join(args.output_dir, "RESULTS.md"))
    report.write_json(results, os.path.join(args.output_dir, "results.json"))
    chart_problem = report.plot_ratios(results, os.path.join(args.output_dir, "ratios.png"))
    print(report.render_table(records))
    print()
    print("Ratio = h1alt/stock of the medians (req/s, MB/s: >1 is faster; KiB/conn: <1 is leaner).")
    written = ["RESULTS.md", "results.json"] + ([] if chart_problem else ["ratios.png"])
    print("Wrote %s in %s" % (", ".join(written), os.path.relpath(args.output_dir)))
    if chart_problem:
        print("note: %s" % chart_problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
