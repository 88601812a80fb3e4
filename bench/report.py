"""The outputs: the Markdown table, results.json and the ratio chart."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from typing import Any, Dict, List, Optional

from . import procs


def format_value(value: Optional[float]) -> str:
    """A number at a precision that suits its size: 12,345 / 123 / 12.3 / 1.23."""
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_ratio(value: Optional[float]) -> str:
    """The h1alt/stock ratio with two decimals."""
    return "n/a" if value is None else f"{value:.2f}"


def _table(header: List[str], rows: List[List[str]], right_align_from: int) -> List[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: List[str]) -> str:
        padded = [
            cell.rjust(width) if index >= right_align_from else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    # Each rule cell spans the cell's padding too; ":" on the right means right-aligned.
    rule = [
        "-" * (width + 1) + ":" if index >= right_align_from else "-" * (width + 2)
        for index, width in enumerate(widths)
    ]
    return [line(header), "|" + "|".join(rule) + "|"] + [line(row) for row in rows]


def render_table(records: List[Dict[str, Any]]) -> str:
    """The main table: scenario, unit, stock median, h1alt median, ratio h1alt/stock."""
    header = ["scenario", "unit", "stock median", "h1alt median", "ratio h1alt/stock"]
    rows = []
    for record in records:
        unit = record["unit"] + ("" if record["higher_is_better"] else " (lower is better)")
        rows.append(
            [
                record["name"],
                unit,
                format_value(record["engines"]["stock"]["summary"]["median"]),
                format_value(record["engines"]["h1alt"]["summary"]["median"]),
                format_ratio(record["ratio_h1alt_over_stock"]),
            ]
        )
    return "\n".join(_table(header, rows, right_align_from=2))


def render_samples(records: List[Dict[str, Any]]) -> str:
    """Every run's value, per scenario and engine, in run order."""
    header = ["scenario", "engine", "unit", "samples (in run order)", "min", "max"]
    rows = []
    for record in records:
        for engine, data in record["engines"].items():
            rows.append(
                [
                    record["name"],
                    engine,
                    record["unit"],
                    ", ".join(format_value(sample["value"]) for sample in data["samples"]),
                    format_value(data["summary"]["minimum"]),
                    format_value(data["summary"]["maximum"]),
                ]
            )
    return "\n".join(_table(header, rows, right_align_from=4))


def render_markdown(results: Dict[str, Any]) -> str:
    """RESULTS.md: the table, how to read it, the conditions and every sample."""
    meta = results["meta"]
    settings = results["settings"]
    records = results["scenarios"]
    lines = [
        "# tornado_h1alt benchmark results",
        "",
        render_table(records),
        "",
        "Ratio = h1alt median / stock median. For req/s and MB/s above 1.00 means "
        "tornado_h1alt is faster; for KiB/conn (lower is better) below 1.00 means it "
        "uses less memory. Differences within a few percent are noise on a shared machine.",
        "",
        "## Conditions",
        "",
        "- date: %s" % meta["date"],
        "- command: `%s`" % meta["command"],
        "- tornado %s, Python %s (%s), %s"
        % (
            meta["tornado_version"],
            meta["python_version"],
            meta["python_implementation"],
            meta["platform"],
        ),
        "- CPU: %s (%s cores); load average at start: %s, at end: %s"
        % (
            meta["cpu_model"],
            meta["cpu_count"],
            meta["loadavg_start"],
            meta.get("loadavg_end", "unknown"),
        ),
        "- tornado_h1alt commit: %s" % meta["git_commit"],
        "- tornado_h1alt build (`tornado_h1alt.BUILD`, as the h1alt servers and clients "
        "reported it): %s" % meta.get("h1alt_build", "unknown"),
        "- wrk: %s, %d connection(s), %d thread(s), keep-alive, %d s per run after a %d s warm-up"
        % (
            meta["wrk_version"],
            settings["connections"],
            settings["threads"],
            settings["duration_s"],
            settings["warmup_s"],
        ),
        "- runs per engine and scenario: %d, interleaved stock, h1alt, stock, h1alt, ..."
        % settings["runs"],
        "- client-fetch, client-keepalive: %d sequential fetches per run "
        "(after %d warm-up fetches)" % (settings["fetches"], settings["fetch_warmup"]),
        "- idle-rss: %d idle keep-alive connections per run" % settings["idle_connections"],
        "- pinning: %s" % settings["pinning"],
        "",
        "## Every sample",
        "",
        render_samples(records),
        "",
    ]
    connections = render_connections(records)
    if connections:
        lines += ["## Connections opened (fetch scenarios)", "", connections, ""]
    lines += [
        "Raw numbers, including every wrk run's latency and error counts, are in results.json.",
        "",
    ]
    return "\n".join(lines)


def _count(value: Any) -> str:
    return "?" if value is None else str(value)


def render_connections(records: List[Dict[str, Any]]) -> str:
    """Per fetch scenario and engine: the client, its fetches per run and the
    connections the server accepted during each run ("" if no scenario has them)."""
    header = [
        "scenario",
        "engine",
        "client",
        "fetches per run",
        "connections opened per run (with warm-up)",
    ]
    rows = []
    for record in records:
        for engine, data in record["engines"].items():
            clients = [sample.get("client") or {} for sample in data["samples"]]
            if not clients or "connections_opened" not in clients[0]:
                continue
            opened = [
                "%s (%s)"
                % (
                    _count(client.get("connections_opened")),
                    _count(client.get("connections_opened_with_warmup")),
                )
                for client in clients
            ]
            rows.append(
                [
                    record["name"],
                    engine,
                    str(clients[0].get("client", "?")),
                    str(clients[0].get("requests", "?")),
                    ", ".join(opened),
                ]
            )
    return "\n".join(_table(header, rows, right_align_from=3)) if rows else ""


def h1alt_build(records: List[Dict[str, Any]]) -> str:
    """The builds of tornado_h1alt the scenarios ran, for the conditions:
    "compiled", "pure", or each scenario's when they differ."""
    builds = {record.get("h1alt_build") or "unknown" for record in records}
    if len(builds) == 1:
        return builds.pop()
    return ", ".join(
        "%s %s" % (record["name"], record.get("h1alt_build") or "unknown") for record in records
    )


def _run_text(argv: List[str]) -> str:
    try:
        completed = subprocess.run(
            argv, cwd=procs.REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (completed.stdout or completed.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform's guess)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (other load skews the numbers)."""
    try:
        return ", ".join("%.2f" % value for value in os.getloadavg())
    except OSError:
        return "unknown"


def collect_meta(argv: List[str]) -> Dict[str, Any]:
    """Versions, machine, date and command line for results.json and RESULTS.md."""
    import tornado

    commit = _run_text(["git", "rev-parse", "--short", "HEAD"])
    dirty = _run_text(["git", "status", "--porcelain", "--", "tornado_h1alt"])
    if commit != "unknown" and dirty not in ("", "unknown"):
        commit += " (tornado_h1alt/ has uncommitted changes)"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "command": " ".join(["python -m bench"] + argv),
        "argv": argv,
        "tornado_version": tornado.version,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": loadavg(),
        # "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer" -> up to " ["
        "wrk_version": _run_text(["wrk", "--version"]).split(" [")[0],
        "git_commit": commit,
    }


def write_json(results: Dict[str, Any], path: str) -> None:
    """results.json, written whole (via a temporary file) so a crash leaves no half file."""
    temporary = path + ".tmp"
    with open(temporary, "w") as out:
        json.dump(results, out, indent=2, sort_keys=False)
        out.write("\n")
    os.replace(temporary, path)


def write_text(text: str, path: str) -> None:
    """A text file, written whole."""
    temporary = path + ".tmp"
    with open(temporary, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def plot_ratios(results: Dict[str, Any], path: str) -> Optional[str]:
    """ratios.png: one bar per scenario; returns why not when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return (
            "matplotlib is not installed, so no chart was drawn "
            "(pip install matplotlib to get %s)" % os.path.basename(path)
        )
    records = [r for r in results["scenarios"] if r["ratio_h1alt_over_stock"] is not None]
    if not records:
        return "no ratio to plot"
    names = [r["name"] + ("" if r["higher_is_better"] else "\n(lower is better)") for r in records]
    ratios = [r["ratio_h1alt_over_stock"] for r in records]
    colours = {
        "better": "#2e7d32",
        "worse": "#c62828",
        "same": "#757575",
        "n/a": "#757575",
    }
    figure, axes = plt.subplots(figsize=(8, 0.55 * len(records) + 1.6))
    positions = list(range(len(records)))[::-1]
    axes.barh(positions, ratios, color=[colours[r["verdict"]] for r in records])
    axes.axvline(1.0, color="black", linewidth=1)
    axes.set_yticks(positions)
    axes.set_yticklabels(names, fontsize=9)
    axes.set_xlabel("h1alt median / stock median")
    meta = results["meta"]
    axes.set_title(
        "tornado_h1alt vs stock tornado %s (green: h1alt better, red: worse, grey: within 3%%)"
        % meta["tornado_version"],
        fontsize=9,
    )
    right = max(ratios + [1.0]) * 1.15
    axes.set_xlim(0, right)
    for position, value in zip(positions, ratios):
        axes.text(
            value + right * 0.01,
            position,
            "%.2f" % value,
            va="center",
            fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    figure.text(
        0.01, 0.01, "%s, %s" % (meta["date"], meta["cpu_model"]), fontsize=7, color="#555555"
    )
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(path, dpi=130)
    plt.close(figure)
    return None
