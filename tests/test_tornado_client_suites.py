"""Tornado's own client test suites, with KeepAliveHTTPClient as the client.

What runs: ``tornado.test.httpclient_test`` and ``tornado.test.simple_httpclient_test``
from the installed Tornado, under Tornado's own ``runtests.main()``, in one
subprocess of the current interpreter (``tornado_client_suites_driver.py`` next
to this file), with the repository root on ``PYTHONPATH``:

* ``--httpclient=tornado_h1alt.KeepAliveHTTPClient``, so that ``AsyncHTTPClient()``
  and ``HTTPClient()`` -- the client of every httpclient_test test and of the
  simple_httpclient_test classes that do not pick one -- are KeepAliveHTTPClient;
* simple_httpclient_test's module-level name ``SimpleAsyncHTTPClient`` rebound to
  KeepAliveHTTPClient, so that its ``create_client`` / ``get_http_client`` /
  ``setUp`` constructions (which ``--httpclient`` does not reach) build it too.
  `test_substitution_reaches_every_construction` checks in the module's source
  that nothing reaches simple_httpclient's class another way, and
  `test_every_fetch_went_through_keepalive` that every fetch of the run did.

Why a subprocess under unittest rather than pytest collecting Tornado's tests:
``tornado.testing.AsyncHTTPTestCase`` breaks under pytest >= 8.2 on Tornado <= 6.4,
the rebinding must not leak into this process, and runtests' rules (warnings as
errors, a log record that no ``ExpectLog`` absorbed fails the run) are part of
what "Tornado's own suite passes" means.

What does not apply: ``EXCLUDED`` is where a test whose assertion is about
simple_httpclient's connection-per-request design (a new connection, or
``Connection: close``, per request) would be skipped, by name and with its
reason; a failure that shows a bug in KeepAliveHTTPClient is never excluded.
No test of either suite, Tornado 5.1 to 6.6, asserts such a thing: max_clients
still bounds concurrent requests (``test_connection_limit``, ``test_queue_timeout``),
the TLS and timeout tests are about one connection's setup, and the servers that
close after their response are handled like any server that does. So the list
is empty.  Tests that run but do not touch the client under test, and so do not
exercise it: the ``HTTPRequest`` / ``HTTPResponse`` / ``HTTPError`` / proxy-option
unit tests, ``CreateAsyncHTTPClientTestCase`` and ``test_singleton``
(constructors only) and ``SyncHTTPClientSubprocessTest`` (a fresh interpreter
with the default client).  ``test_streaming_unsolicited_brotli_bomb`` (6.5+) is
skipped by Tornado itself, for every client without brotli.

``KNOWN_ESCAPED_LOGS`` lists log records that fail runtests' log count although
the test passed, and why each is not a KeepAliveHTTPClient bug.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import pytest
import tornado

from conformance.compare import version_matches
from conformance.runner import OPENSSL_SECLEVEL0_CONF, needs_seclevel0

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
DRIVER = os.path.join(TESTS_DIR, "tornado_client_suites_driver.py")

CLIENT = "tornado_h1alt.KeepAliveHTTPClient"
CLIENT_CLASS = "tornado_h1alt.client.keepalive.KeepAliveHTTPClient"
HTTPCLIENT_TEST = "tornado.test.httpclient_test"
SIMPLE_HTTPCLIENT_TEST = "tornado.test.simple_httpclient_test"
SUITE_ARGS = (f"--httpclient={CLIENT}", HTTPCLIENT_TEST, SIMPLE_HTTPCLIENT_TEST)

# Both suites take 3 to 9 s; only a hang gets near this.
TIMEOUT = 300.0

# Floors per module, well under what every supported Tornado runs (5.1.1:
# 49 and 103 tests, 33 and 100 of them fetching; 6.6.1: 65 and 139, 46 and
# 135), so that a run that silently lost most of a module cannot pass.
MIN_TESTS_RUN = {HTTPCLIENT_TEST: 45, SIMPLE_HTTPCLIENT_TEST: 100}
MIN_FETCHING_TESTS = {HTTPCLIENT_TEST: 30, SIMPLE_HTTPCLIENT_TEST: 95}

# {test id: reason}: tests whose assertion is about simple_httpclient's
# connection-per-request design and so does not apply to a pooling client.
# Each is skipped by name with its reason.  Empty: see the module docstring.
EXCLUDED: Dict[str, str] = {}

# {test id: version specifier}: the Tornado versions whose suite has that
# excluded test; an id not listed here must exist in every supported version.
EXCLUDED_ONLY_IN: Dict[str, str] = {}


class KnownLog(NamedTuple):
    """A log record that escapes a test's ExpectLog but is not a client bug."""

    tornado: str  # where it is expected: a specifier, e.g. ">=6.1,<6.5"
    pattern: str  # matched (fullmatch) against "LEVEL logger: first line"
    reason: str


# test_invalid_gzip is new in Tornado 6.1.
_UNCONSUMED_GZIP = KnownLog(
    tornado=">=6.1,<6.5",
    pattern=(
        r"INFO tornado\.general: Malformed HTTP message from None: "
        r"encountered unconsumed gzip data without making progress"
    ),
    reason=(
        "tornado_h1alt's engine (every client on it, not only KeepAliveHTTPClient) "
        "rejects data after the end of the gzip stream as a malformed message, "
        "logged to gen_log as Tornado logs malformed input; the test accepts the "
        "HTTPError, and from Tornado 6.5 on its ExpectLog expects exactly this line. "
        "Before 6.5 the ExpectLog only covers app_log."
    ),
)

# Tornado 5.1 passes no timeout to TCPClient.connect: the request times out
# with simple_httpclient's own timer while the connect (through the pool, an
# asyncio Task) waits on a resolver that never answers.  Stock's connect is a
# gen.coroutine, pending just as forever but silently; the Task is reported
# by asyncio when the test's IOLoop is closed with it still pending.
_ABANDONED_CONNECT_51 = KnownLog(
    tornado="<6.0",
    pattern=r"ERROR asyncio: Task was destroyed but it is pending!",
    reason=(
        "Tornado 5.1: a request that timed out while its connect never finishes "
        "(a resolver that never answers) leaves the pool's connect Task pending; "
        "asyncio reports it when the IOLoop is closed.  The request itself fails "
        "with the timeout, as with stock."
    ),
)

# {test id: KnownLog}
KNOWN_ESCAPED_LOGS: Dict[str, KnownLog] = {
    f"{HTTPCLIENT_TEST}.HTTPClientCommonTestCase.test_invalid_gzip": _UNCONSUMED_GZIP,
    f"{SIMPLE_HTTPCLIENT_TEST}.SimpleHTTPClientCommonTestCase.test_invalid_gzip": (
        _UNCONSUMED_GZIP
    ),
    f"{SIMPLE_HTTPCLIENT_TEST}.ResolveTimeoutTestCase.test_resolve_timeout": (
        _ABANDONED_CONNECT_51
    ),
    f"{SIMPLE_HTTPCLIENT_TEST}.SimpleHTTPClientTestCase.test_connect_timeout": (
        _ABANDONED_CONNECT_51
    ),
    f"{SIMPLE_HTTPCLIENT_TEST}.SimpleHTTPSClientTestCase.test_connect_timeout": (
        _ABANDONED_CONNECT_51
    ),
}

_FAILED = ("fail", "error", "unexpected_success")
_RAN = re.compile(r"^Ran (\d+) tests? in ", re.MULTILINE)
_VERDICT = re.compile(r"^(OK|FAILED)(?: \(([^)]*)\))?$", re.MULTILINE)


class SuiteRun(NamedTuple):
    """One driver subprocess: its JSON result, exit code and output."""

    result: Dict[str, Any]
    returncode: int
    output: str

    def summary(self) -> Tuple[int, str]:
        """unittest's own account: ("Ran N tests", "OK" or "FAILED (...)")."""
        ran = _RAN.findall(self.output)
        verdict = _VERDICT.findall(self.output)
        assert len(ran) == 1 and len(verdict) == 1, "no unittest summary:\n" + self.output
        status, detail = verdict[0]
        return int(ran[0]), status + (f" ({detail})" if detail else "")


def run_driver(work_dir: str, runtests_args: Tuple[str, ...], skips: Dict[str, str]) -> SuiteRun:
    """Run the driver in a subprocess of this interpreter and read its result."""
    out_path = os.path.join(work_dir, "result.json")
    skips_path = os.path.join(work_dir, "skips.json")
    with open(skips_path, "w", encoding="utf-8") as stream:
        json.dump(skips, stream)
    env = dict(os.environ)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + existing if existing else "")
    env["PYTHONUNBUFFERED"] = "1"
    if needs_seclevel0(tornado.version):
        # Tornado < 6 ships a 1024-bit SHA-1 test certificate (see conformance.runner).
        openssl_conf = os.path.join(work_dir, "openssl.cnf")
        with open(openssl_conf, "w", encoding="utf-8") as stream:
            stream.write(OPENSSL_SECLEVEL0_CONF)
        env["OPENSSL_CONF"] = openssl_conf
    command = [sys.executable, DRIVER, "--out", out_path, "--skips", skips_path]
    completed = subprocess.run(
        command + list(runtests_args),
        cwd=work_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=TIMEOUT,
        check=False,
    )
    output = completed.stdout.decode("utf-8", "replace")
    assert os.path.exists(out_path), f"the driver wrote no result:\n{output}"
    with open(out_path, encoding="utf-8") as stream:
        result = json.load(stream)
    assert result["crash"] is None, result["crash"]
    return SuiteRun(result, completed.returncode, output)


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """Both suites, once for the module: the excluded tests skipped by name."""
    return run_driver(str(tmp_path_factory.mktemp("suites")), SUITE_ARGS, EXCLUDED)


def module_of(test_id: str) -> Optional[str]:
    """Which of the two suites a test id belongs to (None for fixtures)."""
    for module in (HTTPCLIENT_TEST, SIMPLE_HTTPCLIENT_TEST):
        if test_id.startswith(module + "."):
            return module
    return None


def known_log(test_id: str, line: str) -> Optional[KnownLog]:
    """The KnownLog that explains this record of this test here, if any."""
    known = KNOWN_ESCAPED_LOGS.get(test_id)
    if known is None or not version_matches(tornado.version, known.tornado):
        return None
    return known if re.fullmatch(known.pattern, line) else None


def unexplained_logs(result: Dict[str, Any]) -> Dict[str, List[str]]:
    """The escaped log records that KNOWN_ESCAPED_LOGS does not explain, per test."""
    unexplained: Dict[str, List[str]] = {}
    for test_id, lines in result["escaped_logs"].items():
        for line in lines:
            if known_log(test_id, line) is None:
                unexplained.setdefault(test_id, []).append(line)
    return unexplained


# --- the substitution reaches what it must --------------------------------------


def _suite_source(module: str) -> ast.Module:
    # Read, not imported: importing Tornado's test modules into this process
    # is what the subprocess is there to avoid.
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"{module} is not installed"
    with open(spec.origin, encoding="utf-8") as stream:
        source = stream.read()
    with warnings.catch_warnings():
        # Tornado before 6.2 has invalid escape sequences in its sources.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        return ast.parse(source, spec.origin)


def _bindings_of(tree: ast.Module, name: str) -> List[str]:
    """Every way ``name`` is bound or rebound in ``tree`` (imports included)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
            found.append(f"line {node.lineno}: assigned or deleted")
        elif isinstance(node, ast.arg) and node.arg == name:
            found.append(f"line {node.lineno}: parameter")
        elif (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.name == name
        ):
            found.append(f"line {node.lineno}: def/class")
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and name in node.names:
            found.append(f"line {node.lineno}: global/nonlocal")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == name:
                    found.append(f"line {node.lineno}: import")
    return found


def _simple_httpclient_reaches(tree: ast.Module) -> List[str]:
    """Ways the module reaches tornado.simple_httpclient other than by the bare name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in (
            "SimpleAsyncHTTPClient",
            "_HTTPConnection",
        ):
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id == "_HTTPConnection":
            found.append(f"line {node.lineno}: _HTTPConnection")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("tornado.simple_httpclient")
            ]
        elif isinstance(node, ast.ImportFrom) and node.module == "tornado":
            found += [
                f"line {node.lineno}: from tornado import simple_httpclient"
                for alias in node.names
                if alias.name == "simple_httpclient"
            ]
        elif isinstance(node, ast.ImportFrom) and node.module == "tornado.simple_httpclient":
            found += [
                f"line {node.lineno}: imports {alias.name} as {alias.asname}"
                for alias in node.names
                if alias.asname is not None or alias.name == "_HTTPConnection"
            ]
    return found


def test_substitution_reaches_every_construction() -> None:
    """simple_httpclient_test names the client only by its rebindable global name.

    It imports ``SimpleAsyncHTTPClient`` once, at module level, from
    tornado.simple_httpclient, never rebinds it, and never reaches the class
    (or simple_httpclient's ``_HTTPConnection``) through the module; so the
    driver's rebinding changes every construction, isinstance check and
    ``configure`` call in it.  httpclient_test does not name the class at all:
    ``--httpclient`` decides its client.
    """
    tree = _suite_source(SIMPLE_HTTPCLIENT_TEST)
    top_level_imports = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.module == "tornado.simple_httpclient"
        and any(alias.name == "SimpleAsyncHTTPClient" for alias in node.names)
    ]
    assert len(top_level_imports) == 1
    bindings = _bindings_of(tree, "SimpleAsyncHTTPClient")
    assert bindings == [f"line {top_level_imports[0].lineno}: import"]
    assert _simple_httpclient_reaches(tree) == []
    uses = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == "SimpleAsyncHTTPClient"
    ]
    assert len(uses) >= 15, uses  # 18 to 24 from Tornado 5.1.1 to 6.6.1

    tree = _suite_source(HTTPCLIENT_TEST)
    assert _bindings_of(tree, "SimpleAsyncHTTPClient") == []
    assert _simple_httpclient_reaches(tree) == []


# --- the run --------------------------------------------------------------------


def test_suites_ran_meaningfully(suite_run: SuiteRun) -> None:
    """unittest's summary agrees with the recorded outcomes, and both modules ran."""
    result = suite_run.result
    ran, _ = suite_run.summary()
    # Not compared with the outcome count: from Python 3.12 on, unittest does
    # not count a test skipped by a decorator as run.
    assert ran == result["tests_run"]
    for module, floor in MIN_TESTS_RUN.items():
        count = len([test_id for test_id in result["outcomes"] if module_of(test_id) == module])
        assert count >= floor, f"only {count} tests of {module} ran"
    assert result["substituted"] == {f"{SIMPLE_HTTPCLIENT_TEST}.SimpleAsyncHTTPClient": CLIENT}


def test_every_fetch_went_through_keepalive(suite_run: SuiteRun) -> None:
    """No test fetched with another client; most tests fetched with this one."""
    fetch_clients: Dict[str, List[str]] = suite_run.result["fetch_clients"]
    others = {test_id: names for test_id, names in fetch_clients.items() if names != [CLIENT_CLASS]}
    assert others == {}
    for module, floor in MIN_FETCHING_TESTS.items():
        count = len([test_id for test_id in fetch_clients if module_of(test_id) == module])
        assert count >= floor, f"only {count} tests of {module} fetched"


def test_no_test_fails(suite_run: SuiteRun) -> None:
    """Every test that ran passed or was skipped (with its traceback if not)."""
    result = suite_run.result
    failed = {
        test_id: entry
        for test_id, entry in result["outcomes"].items()
        if entry["outcome"] in _FAILED
    }
    report = "\n".join(
        f"{entry['outcome'].upper()}: {test_id}\n{result['details'].get(test_id, entry['message'])}"
        for test_id, entry in sorted(failed.items())
    )
    assert not failed, f"{len(failed)} test(s) failed on Tornado {tornado.version}:\n{report}"


def test_no_unexplained_log(suite_run: SuiteRun) -> None:
    """No log record escaped an ExpectLog unless KNOWN_ESCAPED_LOGS explains it.

    runtests fails a run on any such record, even when every test passed.
    """
    unexplained = unexplained_logs(suite_run.result)
    details = suite_run.result["escaped_log_details"]
    report = "\n".join(
        f"{test_id}:\n" + "\n".join("    " + line for line in details[test_id])
        for test_id in sorted(unexplained)
    )
    assert not unexplained, f"log records no ExpectLog absorbed:\n{report}"


def test_runtests_verdict(suite_run: SuiteRun) -> None:
    """runtests exits 0, or 1 for explained log records alone."""
    result = suite_run.result
    _, verdict = suite_run.summary()
    failed = [entry for entry in result["outcomes"].values() if entry["outcome"] in _FAILED]
    explained_only = (
        not failed
        and result["escaped_logs"]
        and not unexplained_logs(result)
        and verdict.startswith("OK")
    )
    assert suite_run.returncode == result["exit_code"]
    assert result["exit_code"] == 0 or (result["exit_code"] == 1 and explained_only), (
        f"runtests exit code {result['exit_code']}, {verdict}; output tail:\n"
        + suite_run.output[-3000:]
    )


def test_skips_are_named_and_explained(suite_run: SuiteRun) -> None:
    """Each excluded test is skipped with its reason; every other skip has one too."""
    outcomes = suite_run.result["outcomes"]
    for test_id, reason in EXCLUDED.items():
        if test_id in suite_run.result["skips_applied"]:
            assert outcomes[test_id] == {"outcome": "skip", "message": reason}
    for test_id, entry in outcomes.items():
        if entry["outcome"] == "skip":
            # Tornado's own skips (no IPv6, no brotli, ...) say why as well.
            assert entry["message"].strip(), f"{test_id} was skipped without a reason"


def test_exclusions_match_this_tornado(suite_run: SuiteRun) -> None:
    """Every excluded id names a test of this Tornado's suite, or is absent by design.

    An id that no longer names a test would otherwise leave the list to rot
    silently; one that is absent where ``EXCLUDED_ONLY_IN`` says it exists (or
    the other way round) fails here.
    """
    result = suite_run.result
    collected = set(result["collected"])
    assert set(EXCLUDED_ONLY_IN) <= set(EXCLUDED)
    for test_id in EXCLUDED:
        expected = version_matches(tornado.version, EXCLUDED_ONLY_IN.get(test_id))
        present = test_id in collected
        assert present == expected, (
            f"{test_id}: {'present' if present else 'absent'} in Tornado {tornado.version}'s "
            f"suite, expected {'present' if expected else 'absent'}"
        )
        assert (test_id in result["skips_applied"]) == present
        assert (test_id in result["skips_absent"]) == (not present)
    for test_id, known in KNOWN_ESCAPED_LOGS.items():
        if version_matches(tornado.version, known.tornado):
            assert test_id in collected, f"KNOWN_ESCAPED_LOGS names {test_id}, which is gone"


def test_skip_mechanism(tmp_path: pathlib.Path) -> None:
    """The driver skips a named test with its reason and reports a name that is absent.

    With ``EXCLUDED`` empty the main run cannot show this, so one small class
    (present from Tornado 5.1 to 6.6) is run with a made-up exclusion.
    """
    cls = f"{SIMPLE_HTTPCLIENT_TEST}.HostnameMappingTestCase"
    skips = {
        f"{cls}.test_hostname_mapping": "probe: skipped by name",
        f"{cls}.test_no_such_test": "probe: absent",
    }
    run = run_driver(str(tmp_path), (f"--httpclient={CLIENT}", cls), skips)
    outcomes = run.result["outcomes"]
    assert outcomes[f"{cls}.test_hostname_mapping"] == {
        "outcome": "skip",
        "message": "probe: skipped by name",
    }
    assert outcomes[f"{cls}.test_port_mapping"]["outcome"] == "pass"
    assert run.result["fetch_clients"][f"{cls}.test_port_mapping"] == [CLIENT_CLASS]
    assert run.result["skips_applied"] == [f"{cls}.test_hostname_mapping"]
    assert run.result["skips_absent"] == [f"{cls}.test_no_such_test"]
    ran, verdict = run.summary()
    # Python 3.12+ does not count the decorator-skipped test as run.
    assert (ran, verdict) in ((2, "OK (skipped=1)"), (1, "OK (skipped=1)"))


if __name__ == "__main__":
    # PYTHONPATH=. python tests/test_tornado_client_suites.py: the lists, for the record.
    print("Excluded (does not apply to a pooling client):", "none" if not EXCLUDED else "")
    for test_id, reason in sorted(EXCLUDED.items()):
        print(f"  {test_id} [{EXCLUDED_ONLY_IN.get(test_id, 'all versions')}]: {reason}")
    print("Known escaped log records (not client bugs):")
    for test_id, known in sorted(KNOWN_ESCAPED_LOGS.items()):
        print(f"  {test_id} [Tornado {known.tornado}]: {known.reason}")
