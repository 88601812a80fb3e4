"""Run the current environment's cell: every mode, the reruns, the cell file.

A *cell* is the Tornado installed where this Python runs, with this Python's
major.minor version. Each mode, and each rerun, is a fresh subprocess of
``conformance._driver``, so one mode's monkeypatching can never leak into
another's results. The deciding is left to ``conformance.compare``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Dict, List, Mapping, Optional, Sequence

from conformance import compare, report

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(PACKAGE_DIR)
# The committed results and report: changed only by ``publish``.
RESULTS_DIR = os.path.join(PACKAGE_DIR, "results")
DEVIATIONS_FILE = os.path.join(PACKAGE_DIR, "deviations.json")
REPORT_MD = os.path.join(PACKAGE_DIR, "REPORT.md")
REPORT_JSON = os.path.join(PACKAGE_DIR, "report.json")
# Where ``run`` writes: a scratch directory git ignores, so that running the
# conformance (the README's set-up command, every tox cell) leaves the
# checkout as it was.
SCRATCH_DIR = os.path.join(REPO_ROOT, ".conformance")
SCRATCH_RESULTS_DIR = os.path.join(SCRATCH_DIR, "results")
LOGS_DIR = os.path.join(SCRATCH_DIR, "logs")

CELL_FORMAT = 1
DEFAULT_JOBS = 2
DEFAULT_TIMEOUT = 1800.0

# Tornado before 6.0 ships a 1024-bit RSA test certificate signed with SHA-1,
# which OpenSSL's default security level 2 (Debian, Ubuntu, ...) refuses; the
# TLS tests would then fail for reasons that have nothing to do with HTTP/1.
# Level 0 accepts it. OPENSSL_CONF replaces the system configuration for the
# subprocess only.
OPENSSL_SECLEVEL0_CONF = """\
openssl_conf = default_conf

[default_conf]
ssl_conf = ssl_sect

[ssl_sect]
system_default = system_default_sect

[system_default_sect]
CipherString = DEFAULT:@SECLEVEL=0
"""


def needs_seclevel0(tornado_version: str) -> bool:
    """Whether this Tornado's test certificate needs OpenSSL security level 0."""
    return compare.version_tuple(tornado_version) < (6,)


def cell_name(tornado_version: str, python_version: str, build: str = "compiled") -> str:
    """The file stem of a cell, e.g. ``tornado-6.6.1-py3.11``; a cell of the
    pure-Python build ends in ``-pure``."""
    suffix = "" if build == "compiled" else "-" + build
    return f"tornado-{tornado_version}-py{python_version}{suffix}"


def active_build() -> str:
    """The build of tornado_h1alt this environment runs ("compiled" or
    "pure"); the drivers inherit the environment that chooses it."""
    import tornado_h1alt

    return tornado_h1alt.BUILD


def load_deviations(path: str = DEVIATIONS_FILE) -> List[Dict[str, Any]]:
    """Read and validate deviations.json (a missing file means none)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as stream:
        return compare.validate_deviations(json.load(stream))


def load_cells(results_dir: str = RESULTS_DIR) -> List[Mapping[str, Any]]:
    """Every cell file in ``results_dir``, in report order."""
    cells = []
    for name in sorted(os.listdir(results_dir)) if os.path.isdir(results_dir) else []:
        if name.startswith("tornado-") and name.endswith(".json"):
            with open(os.path.join(results_dir, name), encoding="utf-8") as stream:
                cells.append(json.load(stream))
    return report.sorted_cells(cells)


def write_text(path: str, text: str) -> None:
    """Write a file atomically, so a reader never sees half a report."""
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8", newline="\n") as stream:
        stream.write(text)
    os.replace(temporary, path)


def regenerate_report(
    results_dir: str = RESULTS_DIR, md_path: str = REPORT_MD, json_path: str = REPORT_JSON
) -> List[Mapping[str, Any]]:
    """Rewrite REPORT.md and report.json from every cell in ``results_dir``."""
    cells = load_cells(results_dir)
    write_text(md_path, report.render_markdown(cells))
    write_text(json_path, report.render_json(cells))
    return cells


def publish(
    scratch_results_dir: str = SCRATCH_RESULTS_DIR,
    results_dir: str = RESULTS_DIR,
    md_path: str = REPORT_MD,
    json_path: str = REPORT_JSON,
) -> List[str]:
    """Copy the cells ``run`` wrote into the committed results, then
    regenerate the committed report; returns the cell files copied."""
    copied = []
    names = sorted(os.listdir(scratch_results_dir)) if os.path.isdir(scratch_results_dir) else []
    os.makedirs(results_dir, exist_ok=True)
    for name in names:
        if name.startswith("tornado-") and name.endswith(".json"):
            shutil.copyfile(
                os.path.join(scratch_results_dir, name), os.path.join(results_dir, name)
            )
            copied.append(name)
    regenerate_report(results_dir, md_path, json_path)
    return copied


# --- one driver subprocess -----------------------------------------------------


class DriverRun:
    """One ``conformance._driver`` subprocess: its files and how to start it."""

    def __init__(
        self, label: str, mode: str, work_dir: str, selectors: Optional[Sequence[str]] = None
    ) -> None:
        self.label = label
        self.mode = mode
        stem = label.replace(" ", "-")
        self.out_path = os.path.join(work_dir, stem + ".json")
        self.log_path = os.path.join(work_dir, stem + ".log")
        self.select_path: Optional[str] = None
        if selectors is not None:
            self.select_path = os.path.join(work_dir, stem + ".selectors")
            write_text(self.select_path, "".join(s + "\n" for s in selectors))

    def command(self) -> List[str]:
        command = [
            sys.executable,
            "-m",
            "conformance._driver",
            "--mode",
            self.mode,
            "--out",
            self.out_path,
        ]
        if self.select_path is not None:
            command += ["--select-file", self.select_path]
        return command

    def run(self, env: Mapping[str, str], timeout: float) -> Dict[str, Any]:
        """Run to completion and return the driver's JSON (or a fatal stand-in)."""
        started = time.monotonic()
        with open(self.log_path, "w", encoding="utf-8") as log:
            log.write("$ {}\n".format(" ".join(self.command())))
            log.flush()
            # Own session, so a timeout can take down the suite's own
            # subprocesses (process_test forks) along with it.
            process = subprocess.Popen(
                self.command(),
                cwd=REPO_ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                if hasattr(os, "killpg"):
                    os.killpg(process.pid, signal.SIGKILL)
                else:  # no process groups (Windows): the driver alone
                    process.kill()
                process.wait()
                return self._fatal(f"timed out after {timeout:.0f}s", None, started)
        if not os.path.exists(self.out_path):
            return self._fatal(
                f"driver exited with code {returncode} without writing results", returncode, started
            )
        with open(self.out_path, encoding="utf-8") as stream:
            data: Dict[str, Any] = json.load(stream)
        data["wall_s"] = round(time.monotonic() - started, 1)
        return data

    def _fatal(self, why: str, returncode: Optional[int], started: float) -> Dict[str, Any]:
        return {
            "mode": self.mode,
            "fatal": f"{why}; see {os.path.relpath(self.log_path, REPO_ROOT)}",
            "exit_code": returncode,
            "outcomes": {},
            "wall_s": round(time.monotonic() - started, 1),
        }


def subprocess_env(openssl_conf: Optional[str]) -> Dict[str, str]:
    """The environment for driver subprocesses."""
    env = dict(os.environ)
    # The repository root first, so `conformance` and `tornado_h1alt` import
    # from this checkout whatever the current directory or an installed copy.
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + existing if existing else "")
    env["PYTHONUNBUFFERED"] = "1"
    if openssl_conf is not None:
        env["OPENSSL_CONF"] = openssl_conf
    return env


def _read_lines(path: Optional[str]) -> List[str]:
    if path is None:
        return []
    with open(path, encoding="utf-8") as stream:
        return [line.strip() for line in stream if line.strip()]


def headline(fatal: str) -> str:
    """One line that says why a mode did not run.

    For a traceback that is its last line (the exception); otherwise the first.
    """
    lines = [line.strip() for line in str(fatal).strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    return lines[-1] if "Traceback" in fatal else lines[0]


# --- the cell ---------------------------------------------------------------


def mode_summary(data: Mapping[str, Any]) -> Dict[str, Any]:
    """What the cell file keeps of one mode's driver result."""
    outcomes = data.get("outcomes", {})
    skip_reasons: Dict[str, int] = {}
    for entry in outcomes.values():
        if entry["outcome"] == "skip":
            reason = entry.get("message", "")
            skip_reasons[reason] = skip_reasons.get(reason, 0) + 1
    return {
        "fatal": data.get("fatal"),
        "tests": len(outcomes),
        "tests_run": data.get("tests_run"),
        "collected": data.get("collected"),
        "ok": compare.count_ok(outcomes),
        "counts": compare.count_outcomes(outcomes),
        "not_ok": {
            test_id: {"outcome": entry["outcome"], "message": entry.get("message", "")}
            for test_id, entry in sorted(outcomes.items())
            if not compare.is_ok(entry["outcome"])
        },
        "skip_reasons": skip_reasons,
        "exit_code": data.get("exit_code"),
        "log_line": data.get("log_line"),
        "log_counts": data.get("log_counts"),
        "escaped_logs": data.get("escaped_logs", {}),
        "engine": data.get("engine"),
        "engine_imported": data.get("engine_imported"),
        "argv": data.get("argv"),
        "elapsed_s": data.get("wall_s"),
    }


class CellRun:
    """Runs the modes of the current environment's cell and writes its file."""

    def __init__(
        self,
        modes: Sequence[str],
        jobs: int = DEFAULT_JOBS,
        timeout: float = DEFAULT_TIMEOUT,
        results_dir: str = SCRATCH_RESULTS_DIR,
        logs_dir: str = LOGS_DIR,
        out: Any = None,
    ) -> None:
        import tornado

        self.tornado_version = tornado.version
        self.python_version = "{}.{}".format(*sys.version_info[:2])
        self.build = active_build()
        self.name = cell_name(self.tornado_version, self.python_version, self.build)
        self.tag = f"[tornado {self.tornado_version} / py{self.python_version} / {self.build}]"
        self.modes = list(modes)
        self.jobs = max(1, jobs)
        self.timeout = timeout
        self.results_dir = results_dir
        self.work_dir = os.path.join(logs_dir, self.name)
        self.out = out if out is not None else sys.stdout
        self.started = time.monotonic()
        self._print_lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._print_lock:
            self.out.write(f"{self.tag} {text}\n")
            self.out.flush()

    def _run_all(
        self, runs: Sequence[DriverRun], env: Mapping[str, str], on_done: Any
    ) -> Dict[str, Dict[str, Any]]:
        results: Dict[str, Dict[str, Any]] = {}
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = {pool.submit(run.run, env, self.timeout): run for run in runs}
            for future in as_completed(futures):
                run = futures[future]
                results[run.label] = future.result()
                on_done(run, results[run.label])
        return results

    def _announce_mode(self, run: DriverRun, data: Mapping[str, Any]) -> None:
        if data.get("fatal"):
            self.say(
                "{}: DID NOT RUN: {} ({:.1f}s)".format(
                    run.label, headline(data["fatal"]), data.get("wall_s", 0.0)
                )
            )
            return
        counts = compare.count_outcomes(data.get("outcomes", {}))
        run_count = sum(counts.values())
        passed = counts["pass"] + counts["expected_failure"]
        failed = sum(counts[name] for name in compare.FAILED_OUTCOMES)
        log_line = ", " + data["log_line"] if data.get("log_line") else ""
        self.say(
            f"{run.label}: {run_count} run, {passed} passed, {counts['skip']} skipped, "
            f"{failed} not passing (compared with stock below); "
            f"runtests exit code {data.get('exit_code')}{log_line} "
            f"({data.get('wall_s', 0.0):.1f}s)"
        )

    def run(self) -> int:
        """Run everything; return the process exit code (0, 1 regressions, 2 broken)."""
        deviations = load_deviations()
        applicable = compare.applicable_deviations(deviations, self.tornado_version)
        shutil.rmtree(self.work_dir, ignore_errors=True)
        os.makedirs(self.work_dir)
        os.makedirs(self.results_dir, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="conformance-") as scratch:
            openssl_conf = None
            if needs_seclevel0(self.tornado_version):
                openssl_conf = os.path.join(scratch, "openssl.cnf")
                write_text(openssl_conf, OPENSSL_SECLEVEL0_CONF)
                self.say(
                    "Tornado < 6: OPENSSL_CONF -> OpenSSL security level 0 "
                    "for its 1024-bit test certificate"
                )
            env = subprocess_env(openssl_conf)
            self.say(
                f"running {', '.join(self.modes)} with {self.jobs} job(s); "
                f"logs in {os.path.relpath(self.work_dir)}"
            )
            full_runs = [DriverRun(mode, mode, self.work_dir) for mode in self.modes]
            results = self._run_all(full_runs, env, self._announce_mode)
            reruns = self._rerun(results, applicable, env)
        cell = self._cell(results, reruns, applicable)
        path = os.path.join(self.results_dir, self.name + ".json")
        write_text(path, json.dumps(cell, indent=1, sort_keys=True) + "\n")
        for mode in compare.SWAPPED_MODES:
            if mode in cell["comparisons"]:
                self._announce_comparison(mode, cell)
        report_dir = os.path.dirname(os.path.abspath(self.results_dir))
        regenerate_report(
            self.results_dir,
            os.path.join(report_dir, "REPORT.md"),
            os.path.join(report_dir, "report.json"),
        )
        elapsed = time.monotonic() - self.started
        self.say(
            f"wrote {os.path.relpath(path)} and {os.path.relpath(report_dir)}/REPORT.md "
            f"({elapsed:.1f}s in all); `python -m conformance publish` copies the results "
            "into conformance/ for a commit"
        )
        broken = [mode for mode in self.modes if cell["modes"][mode]["fatal"]]
        if broken:
            self.say(f"FAILED: {', '.join(broken)} did not run (exit status 2)")
            return 2
        return 1 if report.total_regressions([cell]) else 0

    def _rerun(
        self,
        results: Mapping[str, Dict[str, Any]],
        applicable: Mapping[str, Any],
        env: Mapping[str, str],
    ) -> Dict[str, Dict[str, Dict[str, Any]]]:
        """Rerun the candidates of every swapped mode, in stock and swapped.

        Returns ``{"regressions"|"improvements": {"stock"|mode: driver result}}``.

        The order is deliberate. Some tests pass or fail depending on what ran
        just before on the machine: as root, Tornado 5.1/6.0's
        test_source_port_fail fails the first time port 1 is bound and passes
        while that use lingers in TIME_WAIT. So the side whose good result would
        support the claim reruns second, where such a test passes: for
        regression candidates stock reruns first and the swapped modes second,
        for improvement candidates the other way round. A first-use failure
        then lands on the side that makes the test "flaky", never on the side
        that makes it a regression or an improvement.
        """
        stock = results.get("stock")
        if stock is None or stock.get("fatal"):
            return {}
        wanted: Dict[str, Dict[str, List[str]]] = {"regressions": {}, "improvements": {}}
        for mode in compare.SWAPPED_MODES:
            swapped = results.get(mode)
            if swapped is None or swapped.get("fatal"):
                continue
            regressions, improvements = compare.rerun_candidates(
                stock["outcomes"], swapped["outcomes"], applicable
            )
            for purpose, ids in (("regressions", regressions), ("improvements", improvements)):
                if ids:
                    wanted[purpose][mode] = ids
        every = sorted({i for by_mode in wanted.values() for ids in by_mode.values() for i in ids})
        if not every:
            return {}
        self.say(f"rerunning {len(every)} differing test(s) to rule out flakiness")

        def stock_run(purpose: str) -> List[DriverRun]:
            union = sorted({i for ids in wanted[purpose].values() for i in ids})
            if not union:
                return []
            selectors = compare.selectors_for(union)
            return [DriverRun(f"rerun {purpose} stock", "stock", self.work_dir, selectors)]

        def swapped_runs(purpose: str) -> List[DriverRun]:
            return [
                DriverRun(
                    f"rerun {purpose} {mode}", mode, self.work_dir, compare.selectors_for(ids)
                )
                for mode, ids in sorted(wanted[purpose].items())
            ]

        reruns: Dict[str, Dict[str, Dict[str, Any]]] = {"regressions": {}, "improvements": {}}
        for phase in (
            stock_run("regressions") + swapped_runs("improvements"),
            swapped_runs("regressions") + stock_run("improvements"),
        ):
            done = self._run_all(phase, env, self._announce_mode)
            for run in phase:
                purpose = run.label.split()[1]
                reruns[purpose][run.mode] = dict(
                    done[run.label], selectors=_read_lines(run.select_path)
                )
        return reruns

    def _cell(
        self,
        results: Mapping[str, Dict[str, Any]],
        reruns: Mapping[str, Mapping[str, Dict[str, Any]]],
        applicable: Mapping[str, Any],
    ) -> Dict[str, Any]:
        cell: Dict[str, Any] = {
            "format": CELL_FORMAT,
            "tornado": self.tornado_version,
            "python": self.python_version,
            "python_full": ".".join(str(part) for part in sys.version_info[:3]),
            "build": self.build,
            "platform": sys.platform,
            "openssl_seclevel0": needs_seclevel0(self.tornado_version),
            "modes": {mode: mode_summary(results[mode]) for mode in self.modes},
            "comparisons": {},
            "reruns": {
                purpose: {
                    mode: {
                        "selectors": data.get("selectors", []),
                        "fatal": data.get("fatal"),
                        "elapsed_s": data.get("wall_s"),
                    }
                    for mode, data in sorted(by_mode.items())
                }
                for purpose, by_mode in sorted(reruns.items())
            },
            "deviations_applicable": sorted(applicable),
            "elapsed_s": round(time.monotonic() - self.started, 1),
        }
        stock = results.get("stock")
        for mode in compare.SWAPPED_MODES:
            swapped = results.get(mode)
            if stock is None or swapped is None or stock.get("fatal") or swapped.get("fatal"):
                continue
            regression_reruns = reruns.get("regressions", {})
            improvement_reruns = reruns.get("improvements", {})
            comparison = compare.compare_mode(
                stock["outcomes"],
                swapped["outcomes"],
                compare.applicable_deviations(
                    list(applicable.values()), self.tornado_version, mode
                ),
                regression_reruns.get("stock"),
                regression_reruns.get(mode),
                (improvement_reruns.get("stock"), improvement_reruns.get(mode)),
            )
            comparison["new_escaped_logs"] = compare.new_escaped_logs(
                stock.get("escaped_logs", {}), swapped.get("escaped_logs", {})
            )
            cell["comparisons"][mode] = comparison
        return cell

    def _announce_comparison(self, mode: str, cell: Mapping[str, Any]) -> None:
        summary = cell["modes"][mode]
        comparison = cell["comparisons"][mode]
        counts = ", ".join(
            f"{len(comparison[name])} {name}"
            for name in ("regressions", "deviations", "improvements", "flaky")
        )
        self.say(
            f"{mode}: {summary['tests']} run, {summary['ok']} ok, {counts} "
            f"({summary['elapsed_s'] or 0.0:.1f}s)"
        )
        for entry in comparison["regressions"]:
            self.say("  REGRESSION {}: {}".format(entry["test"], entry["message"]))
