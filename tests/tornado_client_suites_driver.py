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

The outcomes are recorded by the conformance driver's machinery
(`conformance._driver`: its result mixin, runner wrapper and log catcher),
with a recorder that also keeps the fetches and every escaped log line.

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
from typing import Any, Dict, List, Optional, Set, Tuple

from conformance import _driver as base

SUITE_MODULES = ("tornado.test.httpclient_test", "tornado.test.simple_httpclient_test")
SUBSTITUTED_NAME = "SimpleAsyncHTTPClient"
_DETAIL_LIMIT = 600


class ClientSuiteRecorder(base.Recorder):
    """The conformance driver's recorder, plus the client each test fetched
    with and every escaped log record's first lines (not only a count)."""

    def __init__(self) -> None:
        super().__init__()
        self.fetch_clients: Dict[str, Set[str]] = {}
        self.escaped_log_lines: Dict[str, List[str]] = {}
        self.escaped_log_details: Dict[str, List[str]] = {}

    def record_fetch(self, client: Any) -> None:
        cls = type(client)
        name = f"{cls.__module__}.{cls.__qualname__}"
        self.fetch_clients.setdefault(self.current_test or base.OUTSIDE_TESTS, set()).add(name)

    def record_log(self, record: logging.LogRecord) -> None:
        super().record_log(record)
        try:
            message = record.getMessage()
        except Exception:  # a broken log call must not break the run
            message = str(record.msg)
        lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
        key = self.current_test or base.OUTSIDE_TESTS
        prefix = f"{record.levelname} {record.name}: "
        self.escaped_log_lines.setdefault(key, []).append(prefix + (lines[0] if lines else ""))
        # The first line alone can be too terse ("Task was destroyed but it
        # is pending!" names its task on the next one).
        detail = prefix + " | ".join(lines[:3])
        self.escaped_log_details.setdefault(key, []).append(detail[:_DETAIL_LIMIT])


# The conformance driver's result mixin and log catcher find the recorder
# in their own module.
RECORDER = ClientSuiteRecorder()
base.RECORDER = RECORDER
RECORDER.after_test = gc.collect


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

    runtests.test_runner_factory = base.wrap_runner_factory(runtests.test_runner_factory)
    from tornado.options import add_parse_callback

    # Runs after runtests' own parse callbacks have set up logging.
    add_parse_callback(base._watch_escaped_logs)
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
        "collected": [test_id for test_id, _ in RECORDER.collected],
        "tests_run": RECORDER.tests_run,
        "outcomes": RECORDER.outcomes,
        "details": RECORDER.details,
        "fetch_clients": {
            test_id: sorted(names) for test_id, names in sorted(RECORDER.fetch_clients.items())
        },
        "escaped_logs": RECORDER.escaped_log_lines,
        "escaped_log_details": RECORDER.escaped_log_details,
        "exit_code": exit_code,
        "crash": crash,
    }
    with open(args.out, "w", encoding="utf-8") as stream:
        json.dump(result, stream, indent=1, sort_keys=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
