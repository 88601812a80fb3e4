"""Run Tornado's client test modules with KeepAliveHTTPClient as the client.

Usage (``tests/test_tornado_client_suites.py`` starts this in a subprocess)::

    python tests/tornado_client_suites_driver.py --out result.json
        [--skips skips.json] [runtests arguments ...]

The runtests arguments are typically
``--httpclient=tornado_h1alt.KeepAliveHTTPClient tornado.test.httpclient_test
tornado.test.simple_httpclient_test``: ``--httpclient`` decides what
``AsyncHTTPClient()`` returns, which is the client of httpclient_test and of
the simple_httpclient_test classes that do not choose one.  The other
simple_httpclient_test classes call ``SimpleAsyncHTTPClient(...)`` by its
module-level name (every Tornado from 5.1 to 6.6 imports it with ``from
tornado.simple_httpclient import SimpleAsyncHTTPClient``), so that name is
rebound to `tornado_h1alt.KeepAliveHTTPClient` before any test runs.

``--skips`` names a JSON object ``{test id: reason}``: each of those test
methods that exists is replaced on its own class by ``unittest.skip(reason)``,
so it is reported as skipped, by name and with its reason.

Tornado's own ``runtests.main()`` then runs, unchanged: its warning filters,
its ``--httpclient`` option and its rule that a log record no ``ExpectLog``
absorbed fails the run.  Two things are added around it: ``AsyncHTTPClient.fetch``
notes which client class each test fetched with, and the garbage is collected
after each test, so that a record logged at collection (asyncio's "Task was
destroyed but it is pending!") is attributed to the test that left it.

The JSON written to ``--out`` holds ``outcomes`` (``{test id: {"outcome",
"message"}}``), ``details`` (tracebacks), ``collected`` (test ids in run order),
``tests_run``, ``fetch_clients`` (``{test id: [client class names]}``),
``escaped_logs`` (``{test id: ["LEVEL logger: first line", ...]}``, the records
runtests counts) and ``escaped_log_details``, ``skips_applied``, ``skips_absent``,
``substituted``, ``exit_code`` and ``crash`` (a traceback if runtests itself
crashed).

This script runs on every supported Python (3.8+) and Tornado (5.1+).
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import json
import logging
import sys
import traceback
import unittest
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

SUITE_MODULES = ("tornado.test.httpclient_test", "tornado.test.simple_httpclient_test")
SUBSTITUTED_NAME = "SimpleAsyncHTTPClient"
OUTSIDE_TESTS = "(outside any test)"
_DETAIL_LIMIT = 600

# Worst outcome wins when one test reports several (a failing subtest and a
# tearDown error, say).
_SEVERITY = {
    "pass": 0,
    "skip": 1,
    "expected_failure": 2,
    "unexpected_success": 3,
    "fail": 4,
    "error": 5,
}


class Recorder:
    """What the run did, test by test."""

    def __init__(self) -> None:
        self.outcomes: Dict[str, Dict[str, str]] = {}
        self.details: Dict[str, str] = {}
        self.collected: List[str] = []
        self.tests_run: Optional[int] = None
        self.current_test: Optional[str] = None
        self.fetch_clients: Dict[str, Set[str]] = {}
        self.escaped_logs: Dict[str, List[str]] = {}
        self.escaped_log_details: Dict[str, List[str]] = {}

    def record(self, test: Any, outcome: str, message: str = "", detail: str = "") -> None:
        test_id = test_id_of(test)
        previous = self.outcomes.get(test_id)
        if previous is not None and _SEVERITY[previous["outcome"]] >= _SEVERITY[outcome]:
            return
        self.outcomes[test_id] = {"outcome": outcome, "message": message}
        if detail:
            self.details[test_id] = detail

    def record_fetch(self, client: Any) -> None:
        cls = type(client)
        name = f"{cls.__module__}.{cls.__qualname__}"
        self.fetch_clients.setdefault(self.current_test or OUTSIDE_TESTS, set()).add(name)

    def record_log(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call must not break the run
            message = str(record.msg)
        lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
        key = self.current_test or OUTSIDE_TESTS
        prefix = f"{record.levelname} {record.name}: "
        self.escaped_logs.setdefault(key, []).append(prefix + (lines[0] if lines else ""))
        # The first line alone can be too terse ("Task was destroyed but it
        # is pending!" names its task on the next one).
        detail = prefix + " | ".join(lines[:3])
        self.escaped_log_details.setdefault(key, []).append(detail[:_DETAIL_LIMIT])


RECORDER = Recorder()


class EscapedLogCatcher(logging.Filter):
    """Attributes each record runtests counts (INFO and up) to the running test.

    It sits where runtests' own LogCounter sits, on the first root handler,
    so it sees exactly the records no ExpectLog absorbed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO and not str(record.msg).startswith("logged %d infos"):
            RECORDER.record_log(record)
        return True


def watch_escaped_logs() -> None:
    """Install EscapedLogCatcher once runtests has set up logging."""
    handlers = logging.getLogger().handlers
    if handlers:
        handlers[0].addFilter(EscapedLogCatcher())


def test_id_of(test: Any) -> str:
    """The id of a test; a subtest counts as the test method that owns it."""
    parent = getattr(test, "test_case", None)
    if type(test).__name__ == "_SubTest" and parent is not None:
        test = parent
    return str(test.id())


def _first_line(err: Any) -> str:
    text = "".join(traceback.format_exception_only(err[0], err[1]))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else err[0].__name__


def _detail(err: Any) -> str:
    return "".join(traceback.format_exception(*err))


class RecordingResultMixin:
    """Mixed in front of runtests' result class: record, then defer to it."""

    def startTest(self, test: Any) -> None:
        RECORDER.current_test = test_id_of(test)
        super().startTest(test)  # type: ignore[misc]

    def stopTest(self, test: Any) -> None:
        super().stopTest(test)  # type: ignore[misc]
        # What a test left behind is collected now, so that a record logged
        # at collection (asyncio's "Task was destroyed but it is pending!")
        # is attributed to that test and not to whichever test runs next.
        gc.collect()
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
    """The leaf tests of a (nested) suite, in run order."""
    if isinstance(suite, unittest.TestSuite):
        for child in suite:
            yield from iter_tests(child)
    else:
        yield suite


def wrap_runner_factory(factory: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap runtests.test_runner_factory so that its runner records outcomes."""

    def recording_factory(stderr: Any) -> Any:
        base_runner = factory(stderr)

        class RecordingRunner(base_runner):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                # Tornado 6.6 sets its own result class; older ones the default.
                base_result: Any = getattr(self, "resultclass", None) or unittest.TextTestResult
                self.resultclass = type(
                    "Recording" + base_result.__name__, (RecordingResultMixin, base_result), {}
                )

            def run(self, test: Any) -> Any:
                RECORDER.collected = [test_id_of(leaf) for leaf in iter_tests(test)]
                result = super().run(test)
                RECORDER.tests_run = result.testsRun
                return result

        return RecordingRunner

    return recording_factory


def substitute_client() -> Dict[str, str]:
    """Rebind simple_httpclient_test's ``SimpleAsyncHTTPClient`` to KeepAliveHTTPClient."""
    import tornado.simple_httpclient

    import tornado_h1alt

    module = importlib.import_module("tornado.test.simple_httpclient_test")
    stock = tornado.simple_httpclient.SimpleAsyncHTTPClient
    if getattr(module, SUBSTITUTED_NAME, None) is not stock:
        raise RuntimeError(f"{module.__name__}.{SUBSTITUTED_NAME} is not simple_httpclient's")
    setattr(module, SUBSTITUTED_NAME, tornado_h1alt.KeepAliveHTTPClient)
    return {f"{module.__name__}.{SUBSTITUTED_NAME}": "tornado_h1alt.KeepAliveHTTPClient"}


def apply_skips(skips: Dict[str, str]) -> Dict[str, List[str]]:
    """Mark each named test method skipped on its own class; say which were absent."""
    applied: List[str] = []
    absent: List[str] = []
    for test_id, reason in sorted(skips.items()):
        module_name, class_name, method_name = test_id.rsplit(".", 2)
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            absent.append(test_id)
            continue
        cls = getattr(module, class_name, None)
        method = getattr(cls, method_name, None) if cls is not None else None
        if not (isinstance(cls, type) and issubclass(cls, unittest.TestCase) and callable(method)):
            absent.append(test_id)
            continue
        # Set on this class only: the same method inherited by another
        # class (another client, or plain HTTP instead of TLS) still runs.
        setattr(cls, method_name, unittest.skip(reason)(method))
        applied.append(test_id)
    return {"applied": applied, "absent": absent}


def watch_fetches() -> None:
    """Record which client class each test fetches with."""
    from tornado.httpclient import AsyncHTTPClient

    fetch = AsyncHTTPClient.fetch

    @functools.wraps(fetch)
    def recording_fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        RECORDER.record_fetch(self)
        return fetch(self, *args, **kwargs)

    AsyncHTTPClient.fetch = recording_fetch  # type: ignore[method-assign]


def run_runtests(runtests_args: List[str]) -> Tuple[int, Optional[str]]:
    """Run ``runtests.main()``; return its exit code and, if it crashed, the traceback."""
    import tornado.test.runtests as runtests

    runtests.test_runner_factory = wrap_runner_factory(runtests.test_runner_factory)
    from tornado.options import add_parse_callback

    # Runs after runtests' own parse callbacks have set up logging.
    add_parse_callback(watch_escaped_logs)
    sys.argv = [sys.argv[0]] + runtests_args
    try:
        runtests.main()  # type: ignore[no-untyped-call]
    except SystemExit as exit:
        # unittest exits with a bool ("not successful"), runtests with 1.
        code = exit.code
        return (int(code) if isinstance(code, int) else (0 if code is None else 1)), None
    except BaseException:
        return 2, traceback.format_exc()
    return 0, None


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument("--skips", help="JSON file {test id: reason} of tests to skip")
    args, runtests_args = parser.parse_known_args(argv)

    skips: Dict[str, str] = {}
    if args.skips:
        with open(args.skips, encoding="utf-8") as stream:
            skips = json.load(stream)

    # Imported before runtests turns warnings into errors, as a plain import
    # of the test package would be: only the run itself is held to that.
    for name in SUITE_MODULES:
        importlib.import_module(name)
    import tornado

    substituted = substitute_client()
    skip_report = apply_skips(skips)
    watch_fetches()
    exit_code, crash = run_runtests(runtests_args)

    result = {
        "tornado_version": tornado.version,
        "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
        "argv": runtests_args,
        "substituted": substituted,
        "skips_applied": skip_report["applied"],
        "skips_absent": skip_report["absent"],
        "collected": RECORDER.collected,
        "tests_run": RECORDER.tests_run,
        "outcomes": RECORDER.outcomes,
        "details": RECORDER.details,
        "fetch_clients": {
            test_id: sorted(names) for test_id, names in sorted(RECORDER.fetch_clients.items())
        },
        "escaped_logs": RECORDER.escaped_logs,
        "escaped_log_details": RECORDER.escaped_log_details,
        "exit_code": exit_code,
        "crash": crash,
    }
    with open(args.out, "w", encoding="utf-8") as stream:
        json.dump(result, stream, indent=1, sort_keys=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
