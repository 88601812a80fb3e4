"""Run Tornado's own test suite once, in one mode, and record every outcome.

Usage (the conformance runner starts this in a fresh subprocess per mode)::

    python -m conformance._driver --mode stock|install|subclass --out result.json
        [--select-file ids.txt] [runtests arguments ...]

It drives ``tornado.test.runtests.main()`` itself rather than re-implementing
it, so Tornado's warning filters, option definitions, log counting and runner
all behave exactly as under ``python -m tornado.test.runtests``. Only two
seams are used, both present from Tornado 5.1 to 6.6: ``test_runner_factory``
(wrapped so the result object also records each outcome) and the module-level
``LogCounter`` / ``CountingStderr`` classes (subclassed so their counts can be
read after ``main()`` exits).

The JSON written to ``--out`` holds: mode, versions, argv, ``outcomes``
(``{test_id: {"outcome", "message"}}`` for every test), ``details`` (full
tracebacks of failures), ``collected``, ``tests_run``, ``unmatched_selectors``,
``exit_code``, ``log_counts``, ``log_line``, ``escaped_logs`` (per test: the
log records at INFO+ that no ExpectLog absorbed, which are what runtests
counts), ``engine`` and ``fatal`` (set when the mode could not run at all,
e.g. the engine is missing).

This module must run on every supported Python and Tornado and import only
the standard library and Tornado -- and, in stock mode, never tornado_h1alt.
"""

from __future__ import annotations

import argparse
import builtins
import functools
import importlib
import json
import logging
import os
import re
import sys
import time
import traceback
import unittest
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

ENGINE = "tornado_h1alt"
OUTSIDE_TESTS = "(outside any test)"

# The bindings through which Tornado's server and simple client reach the
# HTTP/1 connection classes; install() must have replaced both, or the
# install mode would silently measure stock Tornado.
REQUIRED_SWAPS = (
    "tornado.httpserver.HTTP1ServerConnection",
    "tornado.simple_httpclient.HTTP1Connection",
)
MODES = ("stock", "install", "subclass")

# The exact options runtests defines; the subclass mode is just these.
SUBCLASS_OPTIONS = (
    "--httpserver=tornado_h1alt.HTTPServer",
    "--httpclient=tornado_h1alt.SimpleAsyncHTTPClient",
)

# Worst outcome wins when one test reports several (a failing subtest and a
# tearDown error, say): a test is only as good as its worst part.
_SEVERITY = {
    "pass": 0,
    "skip": 1,
    "expected_failure": 2,
    "unexpected_success": 3,
    "fail": 4,
    "error": 5,
}

_MESSAGE_LIMIT = 300
_DETAIL_LIMIT = 8000


class DriverError(Exception):
    """The mode cannot run; the message says why, for a human."""


class Recorder:
    """Collects outcomes and the instances runtests creates while it runs."""

    def __init__(self) -> None:
        self.outcomes: Dict[str, Dict[str, str]] = {}
        self.details: Dict[str, str] = {}
        # (test id, ids of its class and module fixtures), in run order.
        self.collected: List[Any] = []
        self.tests_run: Optional[int] = None
        self.log_counters: List[Any] = []
        self.counting_stderrs: List[Any] = []
        self.log_line: Optional[str] = None
        # Records at INFO+ that reached the log handler, i.e. that no ExpectLog
        # absorbed: what makes runtests exit 1 although every test passed.
        self.current_test: Optional[str] = None
        self.escaped_logs: Dict[str, Dict[str, Any]] = {}
        # Called after each test while it is still the current one (the
        # client-suite driver collects garbage there, so that a record logged
        # at collection is attributed to the test that left the garbage).
        self.after_test: Optional[Callable[[], Any]] = None

    def record_log(self, record: logging.LogRecord) -> None:
        key = self.current_test or OUTSIDE_TESTS
        entry = self.escaped_logs.get(key)
        if entry is None:
            try:
                message = record.getMessage()
            except Exception:  # a broken log call must not break the run
                message = str(record.msg)
            first = message.strip().splitlines()[0] if message.strip() else ""
            entry = self.escaped_logs[key] = {
                "count": 0,
                "first": _portable(f"{record.levelname} {record.name}: {first}")[:_MESSAGE_LIMIT],
            }
        entry["count"] += 1

    def record(self, test: Any, outcome: str, message: str = "", detail: str = "") -> None:
        test_id = _test_id(test)
        previous = self.outcomes.get(test_id)
        if previous is not None and _SEVERITY[previous["outcome"]] >= _SEVERITY[outcome]:
            return
        self.outcomes[test_id] = {
            "outcome": outcome,
            "message": _portable(message)[:_MESSAGE_LIMIT],
        }
        if detail:
            self.details[test_id] = detail[-_DETAIL_LIMIT:]


RECORDER = Recorder()


def _test_id(test: Any) -> str:
    # A subtest's outcome belongs to the test method that owns it; the
    # comparison works on whole tests, which is what can be rerun by name.
    parent = getattr(test, "test_case", None)
    if type(test).__name__ == "_SubTest" and parent is not None:
        test = parent
    return str(test.id())


# Where Tornado is installed differs between machines and environments, and
# would make the same failure read differently in every cell.
_INSTALL_PREFIX = re.compile(r"""[^\s'"(<]*[/\\](?:site|dist)-packages[/\\]""")


def _portable(text: str) -> str:
    return _INSTALL_PREFIX.sub("", text)


def _first_line(err: Any) -> str:
    exc_type, exc_value = err[0], err[1]
    text = "".join(traceback.format_exception_only(exc_type, exc_value))
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return exc_type.__name__ if exc_type is not None else "unknown error"


def _detail(err: Any) -> str:
    return "".join(traceback.format_exception(*err))


class RecordingResultMixin:
    """Mixed in front of whatever result class runtests' runner uses.

    Each hook records first and then defers to the real class, so Tornado's
    own reporting (including 6.6's hiding of abstract-base-test skips from
    its summary) is unchanged.
    """

    def startTest(self, test: Any) -> None:
        RECORDER.current_test = _test_id(test)
        super().startTest(test)  # type: ignore[misc]

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)  # type: ignore[misc]
        if RECORDER.after_test is not None:
            RECORDER.after_test()
        RECORDER.current_test = None

    def addSuccess(self, test: Any) -> None:
        RECORDER.record(test, "pass")
        super().addSuccess(test)  # type: ignore[misc]

    def addFailure(self, test: Any, err: Any) -> None:
        RECORDER.record(test, "fail", _first_line(err), _detail(err))
        super().addFailure(test, err)  # type: ignore[misc]

    def addError(self, test: Any, err: Any) -> None:
        RECORDER.record(test, "error", _first_line(err), _detail(err))
        super().addError(test, err)  # type: ignore[misc]

    def addSkip(self, test: Any, reason: str) -> None:
        RECORDER.record(test, "skip", str(reason))
        super().addSkip(test, reason)  # type: ignore[misc]

    def addExpectedFailure(self, test: Any, err: Any) -> None:
        RECORDER.record(test, "expected_failure", _first_line(err))
        super().addExpectedFailure(test, err)  # type: ignore[misc]

    def addUnexpectedSuccess(self, test: Any) -> None:
        RECORDER.record(test, "unexpected_success", "unexpected success")
        super().addUnexpectedSuccess(test)  # type: ignore[misc]

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            failed = issubclass(err[0], getattr(test, "failureException", AssertionError))
            RECORDER.record(subtest, "fail" if failed else "error", _first_line(err), _detail(err))
        super().addSubTest(test, subtest, err)  # type: ignore[misc]


def iter_tests(suite: Any) -> Iterator[Any]:
    """Yield the leaf tests of a (nested) suite in run order."""
    if isinstance(suite, unittest.TestSuite):
        for child in suite:
            yield from iter_tests(child)
    else:
        yield suite


def _fixture_scopes(test: Any) -> List[str]:
    """The ids unittest would give this test's class and module fixture errors."""
    cls = type(test)
    # unittest.util.strclass, the name used in "setUpClass (<name>)".
    class_name = f"{cls.__module__}.{cls.__qualname__}"
    return [
        f"setUpClass ({class_name})",
        f"setUpModule ({cls.__module__})",
    ]


def _unreported_outcome(
    scopes: Sequence[str], outcomes: Dict[str, Dict[str, str]]
) -> Dict[str, str]:
    """The outcome of a collected test that never reported one.

    unittest silently drops the tests of a class or module whose fixture
    raised; the fixture's own entry says why. A fixture that raised SkipTest
    skipped them (Tornado 6.6's abstract base tests do exactly this); any
    other fixture failure means they did not run, which is a failure.
    """
    for scope in scopes:
        fixture = outcomes.get(scope)
        if fixture is None:
            continue
        if fixture["outcome"] == "skip":
            return {"outcome": "skip", "message": fixture["message"]}
        return {
            "outcome": "not_run",
            "message": "{} failed: {}".format(scope.split(" ")[0], fixture["message"]),
        }
    return {"outcome": "not_run", "message": "collected but never reported"}


def wrap_runner_factory(factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap runtests.test_runner_factory so its runner records outcomes."""

    def recording_factory(stderr: Any) -> Any:
        base_runner = factory(stderr)

        class RecordingRunner(base_runner):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                # Derive from whatever runtests chose (6.6 sets its own
                # TornadoTextTestResult; older versions the stdlib default).
                base_result: Any = getattr(self, "resultclass", None) or unittest.TextTestResult
                self.resultclass = type(
                    "Recording" + base_result.__name__,
                    (RecordingResultMixin, base_result),
                    {},
                )

            def run(self, test: Any) -> Any:
                RECORDER.collected = [
                    (_test_id(leaf), _fixture_scopes(leaf)) for leaf in iter_tests(test)
                ]
                result = super().run(test)
                RECORDER.tests_run = result.testsRun
                return result

        return RecordingRunner

    return recording_factory


class _LogLineCatcher(logging.Filter):
    """Keeps runtests' own "logged N infos, ..." line, word for word."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("logged %d infos"):
            RECORDER.log_line = record.getMessage()
        return True


class _EscapedLogCatcher(logging.Filter):
    """Attributes each record that reaches the root handler to the running test.

    It sits where runtests' LogCounter sits (on the first root handler), so it
    counts exactly what runtests counts, but per test.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # runtests' own closing summary is not something a test leaked.
        if record.levelno >= logging.INFO and not str(record.msg).startswith("logged %d infos"):
            RECORDER.record_log(record)
        return True


def _watch_escaped_logs() -> None:
    handlers = logging.getLogger().handlers
    if handlers:
        handlers[0].addFilter(_EscapedLogCatcher())


class _BlockEngineImport:
    """A meta path finder that makes importing the engine fail in stock mode.

    Stock must measure unchanged Tornado; if anything imported the engine
    there, the baseline would be silently contaminated.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == ENGINE or name.startswith(ENGINE + "."):
            raise ImportError(f"{ENGINE} must not be imported in stock mode")
        return None


def _qualname(obj: Any) -> Optional[str]:
    if obj is None:
        return None
    return "{}.{}".format(getattr(obj, "__module__", "?"), getattr(obj, "__qualname__", "?"))


def _swap_points() -> Dict[str, Optional[str]]:
    """Where the classes that carry HTTP/1 traffic currently come from."""
    import tornado.http1connection
    import tornado.httpserver
    import tornado.simple_httpclient

    return {
        "tornado.http1connection.HTTP1Connection": _qualname(
            getattr(tornado.http1connection, "HTTP1Connection", None)
        ),
        "tornado.http1connection.HTTP1ServerConnection": _qualname(
            getattr(tornado.http1connection, "HTTP1ServerConnection", None)
        ),
        "tornado.httpserver.HTTP1ServerConnection": _qualname(
            getattr(tornado.httpserver, "HTTP1ServerConnection", None)
        ),
        "tornado.simple_httpclient.HTTP1Connection": _qualname(
            getattr(tornado.simple_httpclient, "HTTP1Connection", None)
        ),
    }


def _configured_classes() -> Dict[str, Optional[str]]:
    from tornado.httpclient import AsyncHTTPClient
    from tornado.httpserver import HTTPServer

    return {
        "HTTPServer.configured_class()": _qualname(HTTPServer.configured_class()),
        "AsyncHTTPClient.configured_class()": _qualname(AsyncHTTPClient.configured_class()),
    }


def _from_engine(qualname: Optional[str]) -> bool:
    return qualname is not None and qualname.startswith(ENGINE + ".")


class ConnectionCounter:
    """Counts constructions of a connection class by wrapping its __init__.

    This is the evidence that the engine really carried traffic: a swap
    that left every module attribute pointing at the engine but was bypassed
    would show zero engine connections.
    """

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        self.count = 0
        original = cls.__init__

        # functools.wraps keeps the wrapper invisible to introspection:
        # Tornado 6.6's api_test snapshots every public signature and the
        # module each method comes from, and an unwrapped counter made it fail.
        @functools.wraps(original)
        def counting_init(instance: Any, *args: Any, **kwargs: Any) -> None:
            self.count += 1
            original(instance, *args, **kwargs)

        cls.__init__ = counting_init


def _import_engine() -> Any:
    try:
        import tornado_h1alt
    except Exception as exc:
        raise DriverError(
            f"cannot import {ENGINE} ({type(exc).__name__}: {exc}); the repository root "
            "must be on sys.path (the runner sets PYTHONPATH)"
        ) from exc
    return tornado_h1alt


def prepare_install() -> Dict[str, Any]:
    """Swap the engine in with tornado_h1alt.install() and prove it took."""
    import tornado.http1connection

    stock_connection = tornado.http1connection.HTTP1Connection
    engine = _import_engine()
    install = getattr(engine, "install", None)
    if not callable(install):
        raise DriverError(f"{ENGINE} has no install() function yet")
    install()
    after_install = _swap_points()
    not_swapped = [name for name in REQUIRED_SWAPS if not _from_engine(after_install[name])]
    if not_swapped:
        raise DriverError(
            "{}.install() ran but these still point at stock Tornado: {}".format(
                ENGINE, ", ".join(f"{n} = {after_install[n]}" for n in not_swapped)
            )
        )
    counters = {
        "engine": ConnectionCounter(tornado.http1connection.HTTP1Connection),
        "stock": ConnectionCounter(stock_connection),
    }
    return {"after_install": after_install, "counters": counters}


def prepare_subclass() -> Dict[str, Any]:
    """Check the engine offers the two Configurable subclasses runtests needs."""
    import tornado.http1connection
    import tornado.httpclient
    import tornado.httpserver

    engine = _import_engine()
    missing = [
        name for name in ("HTTPServer", "SimpleAsyncHTTPClient") if not hasattr(engine, name)
    ]
    if missing:
        raise DriverError("{} has no {} yet".format(ENGINE, " or ".join(missing)))
    if not issubclass(engine.HTTPServer, tornado.httpserver.HTTPServer):
        raise DriverError(f"{ENGINE}.HTTPServer is not a tornado.httpserver.HTTPServer")
    if not issubclass(engine.SimpleAsyncHTTPClient, tornado.httpclient.AsyncHTTPClient):
        raise DriverError(
            f"{ENGINE}.SimpleAsyncHTTPClient is not a tornado.httpclient.AsyncHTTPClient"
        )
    counters = {"stock": ConnectionCounter(tornado.http1connection.HTTP1Connection)}
    engine_connection = getattr(engine, "HTTP1Connection", None)
    if isinstance(engine_connection, type) and engine_connection is not (
        tornado.http1connection.HTTP1Connection
    ):
        counters["engine"] = ConnectionCounter(engine_connection)
    return {"counters": counters}


def engine_report(mode: str, prepared: Dict[str, Any]) -> Dict[str, Any]:
    """Summarise, after the run, whether the engine really was in use."""
    counters = prepared.get("counters", {})
    engine = sys.modules.get("tornado_h1alt")
    report: Dict[str, Any] = {
        "build": getattr(engine, "BUILD", None),  # the build the swapped engine ran
        "connections": {name: counter.count for name, counter in sorted(counters.items())},
        "after_run": _swap_points(),
        "configured": _configured_classes(),
    }
    engine_connections = report["connections"].get("engine", 0)
    if mode == "install":
        report["after_install"] = prepared["after_install"]
        still_swapped = builtins.all(
            _from_engine(report["after_run"][name]) for name in REQUIRED_SWAPS
        )
        report["active"] = still_swapped and engine_connections > 0
    else:
        configured = report["configured"].values()
        report["active"] = builtins.all(_from_engine(where) for where in configured) and (
            "engine" not in counters or engine_connections > 0
        )
    return report


def _exit_code(code: Any) -> int:
    # SystemExit carries None, a bool (unittest.main), an int or a message.
    if code is None:
        return 0
    if isinstance(code, (bool, int)):
        return int(code)
    return 1


def _write_json(path: str, data: Dict[str, Any]) -> None:
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=1, sort_keys=True)
        stream.write("\n")
    os.replace(temporary, path)


def _read_selectors(path: Optional[str]) -> Optional[List[str]]:
    if path is None:
        return None
    with open(path, encoding="utf-8") as stream:
        return [line.strip() for line in stream if line.strip()]


def _selected_suite(runtests: Any, selectors: Optional[Sequence[str]], unmatched: List[str]) -> Any:
    suite = runtests.all()
    if selectors is None:
        return suite
    # Same matching rule as conformance.compare.selector_matches; duplicated
    # so the driver stays importable without the rest of the package.
    exact = set(s for s in selectors if not s.endswith("."))
    prefixes = tuple(s for s in selectors if s.endswith("."))
    chosen = []
    used = set()
    for test in iter_tests(suite):
        test_id = _test_id(test)
        hits = [s for s in prefixes if test_id.startswith(s)]
        if test_id in exact:
            hits.append(test_id)
        if hits:
            chosen.append(test)
            used.update(hits)
    unmatched.extend(sorted(set(selectors) - used))
    # A flat suite still gets class and module fixtures: unittest tracks the
    # previous test's class and module as it goes.
    return unittest.TestSuite(chosen)


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, List[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m conformance._driver", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument(
        "--select-file",
        help="run only tests matching these selectors, one a line: a test id, or "
        "a dotted prefix ending in '.' for a whole class or module",
    )
    return parser.parse_known_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args, runtests_args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    import tornado

    data: Dict[str, Any] = {
        "driver_format": 1,
        "mode": args.mode,
        "tornado": tornado.version,
        "python": ".".join(str(part) for part in sys.version_info[:3]),
        "outcomes": {},
        "details": {},
        "collected": 0,
        "tests_run": None,
        "unmatched_selectors": [],
        "exit_code": None,
        "log_counts": None,
        "log_line": None,
        "escaped_logs": {},
        "engine": None,
        "engine_imported": False,
        "fatal": None,
    }
    try:
        code = _run(args, runtests_args, data)
    except DriverError as exc:
        data["fatal"] = str(exc)
        code = 2
    except Exception:
        # Anything else escaping runtests (an option callback failing to
        # import the engine's classes, say) is just as fatal, and the JSON
        # must still be written so the runner can say what happened.
        data["fatal"] = "driver crashed:\n" + traceback.format_exc()
        code = 2
    if data["fatal"]:
        sys.stderr.write(
            "conformance driver ({} mode): FATAL: {}\n".format(args.mode, data["fatal"])
        )
    data["engine_imported"] = ENGINE in sys.modules
    if args.mode == "stock" and data["engine_imported"] and not data["fatal"]:
        data["fatal"] = f"{ENGINE} was imported during the stock run"
        code = 2
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    _write_json(args.out, data)
    return code


def _record_instances(cls: Any, sink: List[Any]) -> None:
    """Append every new instance of ``cls`` to ``sink`` (wraps __init__ in place)."""
    original_init = cls.__init__

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        sink.append(self)

    cls.__init__ = __init__


def _run(args: argparse.Namespace, runtests_args: List[str], data: Dict[str, Any]) -> int:
    # Untyped, and its classes and functions differ between versions: Any.
    runtests: Any = importlib.import_module("tornado.test.runtests")

    selectors = _read_selectors(args.select_file)
    prepared: Dict[str, Any] = {}
    options: List[str] = []
    if args.mode == "stock":
        sys.meta_path.insert(0, _BlockEngineImport())
    elif args.mode == "install":
        prepared = prepare_install()
    else:
        prepared = prepare_subclass()
        options = list(SUBCLASS_OPTIONS)

    runtests.test_runner_factory = wrap_runner_factory(runtests.test_runner_factory)

    # Keep every LogCounter / CountingStderr runtests makes, to read their
    # counts afterwards.  Their __init__ is wrapped in place rather than the
    # classes replaced by subclasses: Tornado <= 6.0 calls
    # super(LogCounter, self) by the module-global name, which a subclass
    # bound to that name would turn into infinite recursion.
    _record_instances(runtests.LogCounter, RECORDER.log_counters)
    _record_instances(runtests.CountingStderr, RECORDER.counting_stderrs)
    logging.getLogger().addFilter(_LogLineCatcher())
    # Parse callbacks run in registration order: tornado.log's
    # enable_pretty_logging (registered when tornado.options was imported)
    # creates the handler first, then this, then runtests' own callbacks.
    from tornado.options import add_parse_callback

    add_parse_callback(_watch_escaped_logs)

    unmatched: List[str] = []

    def all() -> Any:  # noqa: A001 - unittest.main(defaultTest="all") looks this up
        return _selected_suite(runtests, selectors, unmatched)

    # tornado.testing.main() calls unittest.main(defaultTest="all"), which
    # resolves "all" in the __main__ module: that is this module when run
    # with -m, but set it explicitly rather than rely on that. It shadows the
    # builtin for the rest of this module, hence builtins.all elsewhere here.
    sys.modules["__main__"].all = all  # type: ignore[attr-defined]

    # tornado.options stops at the first non-option, so options go first.
    sys.argv = [sys.argv[0]] + options + list(runtests_args)
    data["argv"] = sys.argv[1:]
    real_stderr = sys.stderr
    code = 0
    try:
        runtests.main()
    except SystemExit as exc:
        code = _exit_code(exc.code)
    finally:
        sys.stderr = real_stderr

    outcomes = dict(RECORDER.outcomes)
    for test_id, scopes in RECORDER.collected:
        if test_id not in outcomes:
            outcomes[test_id] = _unreported_outcome(scopes, outcomes)
    data.update(
        outcomes=outcomes,
        details=RECORDER.details,
        collected=len(set(test_id for test_id, _ in RECORDER.collected)),
        tests_run=RECORDER.tests_run,
        unmatched_selectors=unmatched,
        exit_code=code,
        log_line=RECORDER.log_line,
        escaped_logs=RECORDER.escaped_logs,
    )
    if RECORDER.log_counters:
        counter = RECORDER.log_counters[-1]
        data["log_counts"] = {
            "infos": counter.info_count,
            "warnings": counter.warning_count,
            "errors": counter.error_count,
            "stderr_bytes": (
                RECORDER.counting_stderrs[-1].byte_count if RECORDER.counting_stderrs else None
            ),
        }
    if args.mode != "stock":
        data["engine"] = engine_report(args.mode, prepared)
    if RECORDER.tests_run is None:
        raise DriverError(
            f"runtests.main() exited with code {code} before running any test; see the log"
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
