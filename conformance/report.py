"""Render REPORT.md and report.json from the per-cell result files.

Both renderers are pure functions of the list of cells, and both sort
everything, so regenerating from the same ``results/`` gives byte-identical
files. Nothing that changes from run to run without the outcome changing
(elapsed time, dates, paths) is rendered.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from conformance.compare import MODES, SWAPPED_MODES, version_tuple

REPORT_FORMAT = 1
_CATEGORIES = ("regressions", "deviations", "improvements", "flaky")
_MESSAGE_LIMIT = 200


def cell_key(cell: Mapping[str, Any]) -> Tuple[Tuple[int, ...], Tuple[int, ...], str]:
    """Sort key: Tornado version, then Python version, numerically, then the build."""
    return version_tuple(cell["tornado"]), version_tuple(cell["python"]), cell.get("build", "pure")


def sorted_cells(cells: Iterable[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    """Cells in report order."""
    return sorted(cells, key=cell_key)


def _mode(cell: Mapping[str, Any], mode: str) -> Optional[Mapping[str, Any]]:
    summary: Optional[Mapping[str, Any]] = cell.get("modes", {}).get(mode)
    return summary


def _ok_count(cell: Mapping[str, Any], mode: str) -> Optional[int]:
    summary = _mode(cell, mode)
    if summary is None or summary.get("fatal"):
        return None
    return summary.get("ok")


def _category(cell: Mapping[str, Any], mode: str, name: str) -> Optional[List[Mapping[str, Any]]]:
    comparison = cell.get("comparisons", {}).get(mode)
    if comparison is None:
        return None
    return list(comparison.get(name, []))


def cell_summary(cell: Mapping[str, Any]) -> Dict[str, Any]:
    """The machine-readable summary of one cell, as it appears in report.json."""
    present: Dict[str, Mapping[str, Any]] = {}
    for mode in MODES:
        data = _mode(cell, mode)
        if data is not None:
            present[mode] = data
    stock = present.get("stock") or {}
    summary: Dict[str, Any] = {
        "tornado": cell["tornado"],
        "python": cell["python"],
        "build": cell.get("build", "pure"),
        "tests": stock.get("tests"),
        "ok": {mode: _ok_count(cell, mode) for mode in present},
        "exit_code": {mode: data.get("exit_code") for mode, data in present.items()},
        "log_line": {mode: data.get("log_line") for mode, data in present.items()},
        "fatal": {mode: data["fatal"] for mode, data in present.items() if data.get("fatal")},
        "engine_active": {
            mode: (data.get("engine") or {}).get("active")
            for mode, data in present.items()
            if mode in SWAPPED_MODES
        },
        "stock_not_ok": {
            test_id: dict(entry) for test_id, entry in sorted(stock.get("not_ok", {}).items())
        },
    }
    for name in _CATEGORIES + ("stale_deviations", "new_escaped_logs"):
        summary[name] = {}
        for mode in SWAPPED_MODES:
            entries = _category(cell, mode, name)
            if entries is not None:
                summary[name][mode] = sorted(entries, key=lambda entry: entry["test"])
    return summary


def render_json(cells: Iterable[Mapping[str, Any]]) -> str:
    """report.json: every cell's summary, in report order."""
    document = {
        "format": REPORT_FORMAT,
        "cells": [cell_summary(cell) for cell in sorted_cells(cells)],
    }
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


# --- Markdown ---------------------------------------------------------------


def _number(value: Optional[int]) -> str:
    return "—" if value is None else str(value)


def _pair(cell: Mapping[str, Any], name: str) -> str:
    """ "install / subclass" counts for one category, "—" where not run."""
    parts = []
    for mode in SWAPPED_MODES:
        entries = _category(cell, mode, name)
        parts.append("—" if entries is None else str(len(entries)))
    return " / ".join(parts)


def _ok_cell(cell: Mapping[str, Any], mode: str) -> str:
    summary = _mode(cell, mode)
    if summary is None:
        return "—"
    if summary.get("fatal"):
        return "did not run"
    return str(summary.get("ok"))


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    if len(line) > _MESSAGE_LIMIT:
        line = line[: _MESSAGE_LIMIT - 1] + "…"
    # Keep Markdown from interpreting angle brackets in reprs as HTML.
    return line.replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    # Test ids contain no backticks, but a message may; pick a fence that fits.
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}"


def _entry_line(entry: Mapping[str, Any], extra: str = "") -> str:
    line = "- {} ({} → {})".format(_code(entry["test"]), entry.get("stock"), entry.get("swapped"))
    if extra:
        line += " " + extra
    message = entry.get("message")
    if message:
        line += ": " + _one_line(message)
    return line


def _cell_section(cell: Mapping[str, Any]) -> List[str]:
    lines = [
        "## Tornado {}, Python {}, {} build".format(
            cell["tornado"], cell["python"], cell.get("build", "pure")
        ),
        "",
    ]
    for mode in MODES:
        summary = _mode(cell, mode)
        if summary is None:
            continue
        if summary.get("fatal"):
            first = str(summary["fatal"]).strip().splitlines()[0]
            lines.append(f"- **{mode}**: did not run: {_one_line(first)}")
            continue
        counts = summary.get("counts", {})
        shown = ", ".join(
            "{} {}".format(counts[name], name.replace("_", " "))
            for name in sorted(counts)
            if counts[name]
        )
        text = "- **{}**: {} tests, {} ok ({}); exit code {}".format(
            mode,
            summary.get("tests"),
            summary.get("ok"),
            shown,
            summary.get("exit_code"),
        )
        if summary.get("log_line"):
            text += "; runtests: “{}”".format(_one_line(summary["log_line"]))
        engine = summary.get("engine")
        if engine is not None:
            connections = engine.get("connections", {})
            text += "; engine carrying traffic: {} ({})".format(
                "yes" if engine.get("active") else "**no**",
                ", ".join(
                    f"{name} HTTP1Connection: {connections[name]}" for name in sorted(connections)
                )
                or "no connection counts",
            )
        lines.append(text)
    lines.append("")

    stock = _mode(cell, "stock") or {}
    escaped = stock.get("escaped_logs", {})
    if escaped:
        lines.append("### Logging that escaped ExpectLog in stock (why runtests exits 1)")
        lines.append("")
        for test_id in sorted(escaped):
            count, first = escaped[test_id]["count"], _one_line(escaped[test_id]["first"])
            lines.append(f"- {_code(test_id)}: {count} record(s), first: {first}")
        lines.append("")
    not_ok = stock.get("not_ok", {})
    if not_ok:
        lines.append("### Not passing in stock (the baseline)")
        lines.append("")
        for test_id in sorted(not_ok):
            entry = not_ok[test_id]
            line = "- {} ({})".format(_code(test_id), entry["outcome"])
            if entry.get("message"):
                line += ": " + _one_line(entry["message"])
            lines.append(line)
        lines.append("")

    for mode in SWAPPED_MODES:
        comparison = cell.get("comparisons", {}).get(mode)
        if comparison is None:
            continue
        for name, title in (
            ("regressions", "Regressions"),
            ("deviations", "Deliberate deviations"),
            ("improvements", "Improvements"),
            ("flaky", "Flaky (not counted as regressions)"),
            ("stale_deviations", "Listed deviations that did not fail"),
            ("new_escaped_logs", "More logging escaped ExpectLog than in stock (informational)"),
        ):
            entries = sorted(comparison.get(name, []), key=lambda entry: entry["test"])
            if not entries:
                continue
            lines.append(f"### {title} ({mode})")
            lines.append("")
            for entry in entries:
                if name == "deviations":
                    lines.append(
                        _entry_line(
                            entry, "— {}: {}".format(entry["rfc"], _one_line(entry["reason"]))
                        )
                    )
                elif name == "new_escaped_logs":
                    lines.append(
                        "- {}: {} record(s), stock {}; first: {}".format(
                            _code(entry["test"]),
                            entry["swapped"],
                            entry["stock"],
                            _one_line(entry["first"]),
                        )
                    )
                elif name == "stale_deviations":
                    lines.append("- {} ({})".format(_code(entry["test"]), entry["swapped"]))
                elif name == "flaky":
                    lines.append(_entry_line(entry, "[{}]".format(entry.get("detail", ""))))
                else:
                    lines.append(_entry_line(entry))
            lines.append("")
    return lines


def render_markdown(cells: Iterable[Mapping[str, Any]]) -> str:
    """REPORT.md: the summary table, then one section per cell."""
    ordered = sorted_cells(cells)
    lines = [
        "# Conformance report: Tornado's own test suite against tornado_h1alt",
        "",
        "Generated by `python -m conformance report` from `conformance/results/*.json`;",
        "do not edit by hand. Each row is one cell (installed Tornado × Python). Modes:",
        "**stock** is unchanged Tornado, **install** runs after `tornado_h1alt.install()`,",
        "**subclass** passes `--httpserver=tornado_h1alt.HTTPServer",
        "--httpclient=tornado_h1alt.SimpleAsyncHTTPClient` to Tornado's runtests.",
        "",
        "*ok* counts tests that passed, were skipped or failed as expected. A *regression*",
        "is ok in stock but not swapped, confirmed by rerunning it in both modes; one that",
        "passed on rerun is *flaky* instead. A failure listed in `deviations.json` is a",
        "*deviation*, not a regression. Category columns read *install / subclass*;",
        "— means the mode was not run.",
        "",
    ]
    if not ordered:
        lines += ["No results yet: run `python -m conformance run`.", ""]
        return "\n".join(lines)
    lines += [
        "| Tornado | Python | Build | Tests | Stock ok | Install ok | Subclass ok "
        "| Regressions | Deviations | Improvements | Flaky |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in ordered:
        stock = _mode(cell, "stock") or {}
        lines.append(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                cell["tornado"],
                cell["python"],
                cell.get("build", "pure"),
                _number(stock.get("tests")),
                _ok_cell(cell, "stock"),
                _ok_cell(cell, "install"),
                _ok_cell(cell, "subclass"),
                _pair(cell, "regressions"),
                _pair(cell, "deviations"),
                _pair(cell, "improvements"),
                _pair(cell, "flaky"),
            )
        )
    lines.append("")
    for cell in ordered:
        lines += _cell_section(cell)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def total_regressions(cells: Sequence[Mapping[str, Any]]) -> int:
    """How many regressions all the given cells hold together."""
    return sum(
        len(_category(cell, mode, "regressions") or []) for cell in cells for mode in SWAPPED_MODES
    )
