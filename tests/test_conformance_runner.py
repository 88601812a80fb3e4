"""Tests of the conformance runner's deciding and reporting logic.

Everything here runs on synthetic outcome maps; nothing runs Tornado's suite.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from typing import Any, Dict, List, Optional

import pytest

from conformance import compare, report, runner
from conformance.__main__ import parse_modes
from conformance._driver import Recorder, _portable, _unreported_outcome

T1 = "tornado.test.web_test.AppTest.test_one"
T2 = "tornado.test.web_test.AppTest.test_two"
T3 = "tornado.test.httpserver_test.KeepAliveTest.test_keepalive"


def om(mapping: Dict[str, str]) -> Dict[str, Dict[str, str]]:
    """Outcome map from {test_id: outcome}; failures get a message."""
    return {
        test_id: {
            "outcome": outcome,
            "message": "" if compare.is_ok(outcome) else "boom in " + test_id,
        }
        for test_id, outcome in mapping.items()
    }


def rerun(mapping: Dict[str, str], unmatched: Optional[List[str]] = None) -> Dict[str, Any]:
    return {"outcomes": om(mapping), "unmatched_selectors": unmatched or [], "fatal": None}


DEVIATION = {
    "test": T2,
    "rfc": "RFC 9112 section 6.1",
    "reason": "rejects Transfer-Encoding on HTTP/1.0",
    "tornado": None,
}


# --- candidates ---------------------------------------------------------------


def test_pass_stock_fail_swapped_confirmed_is_a_regression() -> None:
    stock = om({T1: "pass", T2: "pass"})
    swapped = om({T1: "pass", T2: "fail"})
    result = compare.compare_mode(stock, swapped, {}, rerun({T2: "pass"}), rerun({T2: "fail"}))
    assert [entry["test"] for entry in result["regressions"]] == [T2]
    entry = result["regressions"][0]
    assert entry["message"] == "boom in " + T2
    assert (entry["stock"], entry["swapped"]) == ("pass", "fail")
    assert entry["rerun"] == {"stock": "pass", "swapped": "fail"}
    assert result["flaky"] == [] and result["improvements"] == []


@pytest.mark.parametrize("failure", ["fail", "error", "unexpected_success", "not_run"])
def test_every_failure_kind_counts(failure: str) -> None:
    assert compare.find_candidates(om({T1: "pass"}), om({T1: failure})) == ([T1], [])


@pytest.mark.parametrize("ok", ["pass", "skip", "expected_failure"])
def test_skip_and_expected_failure_are_pass_equivalent(ok: str) -> None:
    for before, after in (("pass", ok), (ok, "pass")):
        assert compare.find_candidates(om({T1: before}), om({T1: after})) == ([], [])


def test_passing_on_rerun_is_flaky_not_a_regression() -> None:
    result = compare.compare_mode(
        om({T1: "pass"}), om({T1: "error"}), {}, rerun({T1: "pass"}), rerun({T1: "pass"})
    )
    assert result["regressions"] == []
    assert [(e["test"], e["detail"]) for e in result["flaky"]] == [(T1, "passed on rerun")]


def test_stock_failing_on_rerun_makes_it_flaky() -> None:
    result = compare.compare_mode(
        om({T1: "pass"}), om({T1: "fail"}), {}, rerun({T1: "fail"}), rerun({T1: "fail"})
    )
    assert result["regressions"] == []
    assert "stock also failed" in result["flaky"][0]["detail"]


def test_without_a_rerun_a_failure_stays_a_regression() -> None:
    result = compare.compare_mode(om({T1: "pass"}), om({T1: "fail"}), {}, None, None)
    assert [e["detail"] for e in result["regressions"]] == ["could not be rerun"]


def test_unmatched_rerun_selector_is_not_evidence_of_passing() -> None:
    swapped_rerun = rerun({}, unmatched=[T1])
    assert compare.rerun_outcome(swapped_rerun, T1) is None
    result = compare.compare_mode(
        om({T1: "pass"}), om({T1: "fail"}), {}, rerun({T1: "pass"}), swapped_rerun
    )
    assert [e["test"] for e in result["regressions"]] == [T1]


def test_fatal_rerun_is_not_evidence_of_passing() -> None:
    broken = {"outcomes": {}, "unmatched_selectors": [], "fatal": "crashed"}
    assert compare.rerun_outcome(broken, T1) is None


def test_new_fixture_error_in_swapped_is_a_regression_candidate() -> None:
    fixture = "setUpClass (tornado.test.web_test.AppTest)"
    stock = om({T1: "pass"})
    swapped = om({T1: "not_run", fixture: "error"})
    assert compare.find_candidates(stock, swapped) == (sorted([T1, fixture]), [])


def test_test_missing_from_swapped_is_a_regression_candidate() -> None:
    assert compare.find_candidates(om({T1: "pass", T2: "pass"}), om({T1: "pass"})) == ([T2], [])


def test_fixture_error_gone_in_swapped_is_an_improvement_candidate() -> None:
    fixture = "setUpModule (tornado.test.web_test)"
    assert compare.find_candidates(om({fixture: "error"}), om({})) == ([], [fixture])


def test_fixture_passing_on_rerun_counts_as_passing() -> None:
    fixture = "setUpClass (tornado.test.web_test.AppTest)"
    # The selector ran the class and the fixture error did not come back.
    assert compare.rerun_outcome(rerun({T1: "pass"}), fixture) == "absent"
    kind, _ = compare.classify_regression("absent", "absent")
    assert kind == "flaky"


# --- improvements -------------------------------------------------------------


def test_improvement_confirmed_on_rerun() -> None:
    result = compare.compare_mode(
        om({T1: "fail"}), om({T1: "pass"}), {}, rerun({T1: "fail"}), rerun({T1: "pass"})
    )
    assert [e["test"] for e in result["improvements"]] == [T1]
    assert result["improvements"][0]["message"] == "boom in " + T1


def test_improvement_where_stock_passes_on_rerun_is_flaky() -> None:
    result = compare.compare_mode(
        om({T1: "fail"}), om({T1: "pass"}), {}, rerun({T1: "pass"}), rerun({T1: "pass"})
    )
    assert result["improvements"] == []
    assert result["flaky"][0]["detail"] == "stock passed on rerun"


def test_improvements_can_use_their_own_reruns() -> None:
    # Improvement candidates are rerun in the opposite order to regression
    # candidates (see runner.CellRun._rerun), so they come with their own pair.
    stock, swapped = om({T1: "pass", T3: "fail"}), om({T1: "fail", T3: "pass"})
    result = compare.compare_mode(
        stock,
        swapped,
        {},
        rerun({T1: "pass"}),
        rerun({T1: "fail"}),
        (rerun({T3: "fail"}), rerun({T3: "pass"})),
    )
    assert [e["test"] for e in result["regressions"]] == [T1]
    assert [e["test"] for e in result["improvements"]] == [T3]
    assert result["improvements"][0]["rerun"] == {"stock": "fail", "swapped": "pass"}


def test_failing_both_ways_is_neither() -> None:
    result = compare.compare_mode(om({T1: "fail"}), om({T1: "error"}), {})
    assert all(result[name] == [] for name in ("regressions", "improvements", "flaky"))


# --- deviations -------------------------------------------------------------


def test_listed_deviation_is_not_a_regression() -> None:
    applicable = compare.applicable_deviations([DEVIATION], "6.6.1")
    result = compare.compare_mode(
        om({T1: "pass", T2: "pass"}), om({T1: "pass", T2: "fail"}), applicable
    )
    assert result["regressions"] == []
    assert [(e["test"], e["rfc"]) for e in result["deviations"]] == [(T2, "RFC 9112 section 6.1")]
    assert result["deviations"][0]["message"] == "boom in " + T2


def test_deviations_need_no_rerun() -> None:
    applicable = compare.applicable_deviations([DEVIATION], "6.6.1")
    stock, swapped = (
        om({T1: "pass", T2: "pass", T3: "fail"}),
        om({T1: "fail", T2: "fail", T3: "pass"}),
    )
    assert compare.rerun_candidates(stock, swapped, applicable) == ([T1], [T3])


@pytest.mark.parametrize(
    "specifier, version, applies",
    [
        ("<6.5", "6.4.2", True),
        ("<6.5", "6.5", False),
        ("<6.5", "6.5.2", False),
        ("<6.5", "5.1.1", True),
        (">=6.0,<6.3", "6.2", True),
        (">=6.0,<6.3", "6.3.3", False),
        ("==6.1", "6.1.0", True),
        ("6.4.2", "6.4.2", True),
        ("!=6.4.2", "6.4.2", False),
        (None, "5.1.1", True),
        ("", "6.6.1", True),
    ],
)
def test_deviation_version_specifiers_are_honoured(
    specifier: Optional[str], version: str, applies: bool
) -> None:
    deviation = dict(DEVIATION, tornado=specifier)
    applicable = compare.applicable_deviations([deviation], version)
    result = compare.compare_mode(om({T2: "pass"}), om({T2: "fail"}), applicable)
    assert len(result["deviations"]) == (1 if applies else 0)
    assert len(result["regressions"]) == (0 if applies else 1)


def test_version_with_suffix_parses() -> None:
    assert compare.version_tuple("6.5b1") == (6, 5)
    assert compare.version_matches("6.5b1", ">=6.5")


@pytest.mark.parametrize("bad", ["~=6.5", "<", "6.x", ">=6.0;<6.3"])
def test_malformed_specifier_is_an_error(bad: str) -> None:
    with pytest.raises(ValueError):
        compare.version_matches("6.6.1", bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"deviations": []},
        ["not an object"],
        [{"test": T1, "rfc": "RFC 9112", "reason": ""}],
        [{"test": T1, "reason": "no rfc"}],
        [{"test": T1, "rfc": "RFC 9112", "reason": "r", "tornado": 6.5}],
        [{"test": T1, "rfc": "RFC 9112", "reason": "r", "tornado": "about 6"}],
    ],
)
def test_malformed_deviations_file_is_rejected(bad: Any) -> None:
    with pytest.raises(ValueError):
        compare.validate_deviations(bad)


def test_checked_in_deviations_file_is_valid() -> None:
    assert isinstance(runner.load_deviations(), list)


def test_stale_deviation_is_listed() -> None:
    applicable = compare.applicable_deviations([DEVIATION], "6.6.1")
    result = compare.compare_mode(om({T2: "pass"}), om({T2: "pass"}), applicable)
    assert result["stale_deviations"] == [{"test": T2, "swapped": "pass"}]


# --- selectors and the driver's pure helpers ---------------------------------------


def test_rerun_selectors() -> None:
    assert compare.rerun_selector(T1) == T1
    assert (
        compare.rerun_selector("setUpClass (tornado.test.web_test.AppTest)")
        == "tornado.test.web_test.AppTest."
    )
    assert (
        compare.rerun_selector("tearDownModule (tornado.test.web_test)") == "tornado.test.web_test."
    )
    assert compare.selectors_for([T1, T1, "setUpModule (m)"]) == ["m.", T1]
    assert compare.selector_matches("tornado.test.web_test.AppTest.", T1)
    assert not compare.selector_matches("tornado.test.web_test.App.", T1)
    assert not compare.selector_matches(T1, T2)


def test_recorder_keeps_the_worst_outcome() -> None:
    class FakeTest:
        def id(self) -> str:
            return T1

    recorder = Recorder()
    recorder.record(FakeTest(), "pass")
    recorder.record(FakeTest(), "fail", "AssertionError: 1 != 2")
    recorder.record(FakeTest(), "skip", "later skip")
    assert recorder.outcomes[T1] == {"outcome": "fail", "message": "AssertionError: 1 != 2"}
    recorder.record(FakeTest(), "error", "KeyError: 'Connection'")
    assert recorder.outcomes[T1]["outcome"] == "error"


def test_tests_of_a_skipped_class_are_skips_and_of_a_failed_class_not_run() -> None:
    scopes = ["setUpClass (m.C)", "setUpModule (m)"]
    skipped = {"setUpClass (m.C)": {"outcome": "skip", "message": "abstract base class"}}
    assert _unreported_outcome(scopes, skipped) == {
        "outcome": "skip",
        "message": "abstract base class",
    }
    failed = {"setUpModule (m)": {"outcome": "error", "message": "OSError: no"}}
    assert _unreported_outcome(scopes, failed)["outcome"] == "not_run"
    assert "setUpModule failed: OSError: no" == _unreported_outcome(scopes, failed)["message"]
    assert _unreported_outcome(scopes, {})["outcome"] == "not_run"


def test_install_paths_are_stripped_from_messages() -> None:
    text = "ERROR asyncio: callback at /tmp/v51/lib/python3.8/site-packages/tornado/gen.py:968"
    assert _portable(text) == "ERROR asyncio: callback at tornado/gen.py:968"


def test_new_escaped_logs() -> None:
    stock = {T1: {"count": 1, "first": "ERROR x: a"}}
    swapped = {T1: {"count": 1, "first": "ERROR x: a"}, T2: {"count": 2, "first": "INFO y: b"}}
    assert compare.new_escaped_logs(stock, swapped) == [
        {"test": T2, "stock": 0, "swapped": 2, "first": "INFO y: b"}
    ]


# --- the command line and the runner's pure parts -----------------------------------


def test_modes_are_normalised_and_stock_is_added() -> None:
    assert parse_modes("subclass,install") == ["stock", "install", "subclass"]
    assert parse_modes("stock") == ["stock"]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_modes("stock,bogus")


def test_seclevel0_only_before_tornado_6() -> None:
    assert runner.needs_seclevel0("5.1.1")
    assert not runner.needs_seclevel0("6.0.4")
    assert "@SECLEVEL=0" in runner.OPENSSL_SECLEVEL0_CONF
    assert runner.cell_name("5.1.1", "3.8") == "tornado-5.1.1-py3.8"
    assert runner.cell_name("5.1.1", "3.8", "compiled") == "tornado-5.1.1-py3.8"
    assert runner.cell_name("5.1.1", "3.8", "pure") == "tornado-5.1.1-py3.8-pure"


def test_mode_summary_counts_and_keeps_failures_only() -> None:
    data: Dict[str, Any] = {
        "outcomes": om({T1: "pass", T2: "skip", T3: "fail"}),
        "exit_code": 1,
        "log_line": "logged 1 infos, 0 warnings, 0 errors, and 0 bytes to stderr",
        "wall_s": 3.5,
    }
    data["outcomes"][T2]["message"] = "running as root"
    summary = runner.mode_summary(data)
    assert (summary["tests"], summary["ok"]) == (3, 2)
    assert list(summary["not_ok"]) == [T3]
    assert summary["skip_reasons"] == {"running as root": 1}
    assert summary["counts"]["fail"] == 1 and summary["counts"]["error"] == 0


# --- the report ----------------------------------------------------------------


def make_cell(tornado: str, python: str, regression: bool = True) -> Dict[str, Any]:
    stock = om({T1: "pass", T2: "pass", T3: "fail"})
    swapped = om({T1: "pass", T2: "fail" if regression else "pass", T3: "pass"})
    reruns = {"stock": rerun({T2: "pass", T3: "fail"}), "install": rerun({T2: "fail", T3: "pass"})}
    comparison = compare.compare_mode(stock, swapped, {}, reruns["stock"], reruns["install"])
    comparison["new_escaped_logs"] = []
    modes = {
        "stock": dict(runner.mode_summary({"outcomes": stock, "exit_code": 1, "wall_s": 61.7})),
        "install": dict(
            runner.mode_summary(
                {
                    "outcomes": swapped,
                    "exit_code": 1,
                    "wall_s": 58.2,
                    "engine": {"active": True, "connections": {"engine": 10}},
                }
            )
        ),
    }
    return {
        "format": 1,
        "tornado": tornado,
        "python": python,
        "modes": modes,
        "comparisons": {"install": comparison},
        "elapsed_s": 123.4,
    }


def test_report_is_deterministic_and_sorted() -> None:
    cells = [
        make_cell("6.10.0", "3.12"),
        make_cell("5.1.1", "3.8"),
        make_cell("6.6.1", "3.11"),
        make_cell("6.6.1", "3.9"),
    ]
    first = report.render_markdown(cells)
    assert report.render_markdown(list(reversed(cells))) == first
    assert report.render_markdown(copy.deepcopy(cells)) == first
    assert report.render_json(cells) == report.render_json(list(reversed(cells)))
    rows = [
        line for line in first.splitlines() if line.startswith("| ") and "Tornado |" not in line
    ]
    # Numeric, not string, order: 6.10 after 6.6, Python 3.9 before 3.11.
    assert [row.split(" | ")[0:2] for row in rows] == [
        ["| 5.1.1", "3.8"],
        ["| 6.6.1", "3.9"],
        ["| 6.6.1", "3.11"],
        ["| 6.10.0", "3.12"],
    ]


def test_report_has_no_elapsed_times() -> None:
    text = report.render_markdown([make_cell("6.6.1", "3.11")])
    for number in ("123.4", "61.7", "58.2"):
        assert number not in text
    assert "123.4" not in report.render_json([make_cell("6.6.1", "3.11")])


def test_report_lists_regressions_and_improvements_with_messages() -> None:
    text = report.render_markdown([make_cell("6.6.1", "3.11")])
    row = [line for line in text.splitlines() if line.startswith("| 6.6.1")][0]
    assert row.split(" | ")[7:] == ["1 / —", "0 / —", "1 / —", "0 / — |"]
    assert row.split(" | ")[2] == "pure"  # a cell from before builds were recorded
    assert "### Regressions (install)" in text
    assert f"`{T2}` (pass → fail): boom in {T2}" in text
    assert "### Improvements (install)" in text
    assert "### Not passing in stock (the baseline)" in text
    data = json.loads(report.render_json([make_cell("6.6.1", "3.11")]))
    assert [e["test"] for e in data["cells"][0]["regressions"]["install"]] == [T2]
    assert report.total_regressions([make_cell("6.6.1", "3.11")]) == 1
    assert report.total_regressions([make_cell("6.6.1", "3.11", regression=False)]) == 0


def test_report_escapes_html_in_messages() -> None:
    cell = make_cell("6.6.1", "3.11")
    cell["comparisons"]["install"]["regressions"][0]["message"] = (
        "AssertionError: <Future pending> | x"
    )
    text = report.render_markdown([cell])
    assert "&lt;Future pending&gt;" in text


def test_report_for_no_cells() -> None:
    assert "No results yet" in report.render_markdown([])
    assert json.loads(report.render_json([])) == {"cells": [], "format": 1}


def test_mode_that_did_not_run_is_shown() -> None:
    cell = make_cell("6.6.1", "3.11")
    cell["modes"]["subclass"] = dict(
        runner.mode_summary({"outcomes": {}, "fatal": "cannot import tornado_h1alt"})
    )
    text = report.render_markdown([cell])
    assert "| did not run |" in text
    assert "**subclass**: did not run: cannot import tornado_h1alt" in text


def test_regenerate_report_reads_every_cell_file(tmp_path: Any) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / ".gitkeep").write_text("")
    for cell in (make_cell("6.6.1", "3.11"), make_cell("5.1.1", "3.8")):
        name = runner.cell_name(cell["tornado"], cell["python"]) + ".json"
        (results / name).write_text(json.dumps(cell))
    md, js = str(tmp_path / "REPORT.md"), str(tmp_path / "report.json")
    cells = runner.regenerate_report(str(results), md, js)
    assert [c["tornado"] for c in cells] == ["5.1.1", "6.6.1"]
    first = (tmp_path / "REPORT.md").read_text(encoding="utf-8")
    runner.regenerate_report(str(results), md, js)
    assert (tmp_path / "REPORT.md").read_text(encoding="utf-8") == first
    assert not [name for name in os.listdir(str(tmp_path)) if name.endswith(".tmp")]


def test_run_writes_only_to_the_ignored_scratch_directory() -> None:
    # The README's set-up command and every tox cell run `conformance run`:
    # it must leave the checkout clean, so its defaults are under
    # .conformance/, which .gitignore lists.
    scratch = os.path.join(runner.REPO_ROOT, ".conformance")
    assert runner.SCRATCH_RESULTS_DIR.startswith(scratch + os.sep)
    assert runner.LOGS_DIR.startswith(scratch + os.sep)
    import inspect

    defaults = inspect.signature(runner.CellRun).parameters
    assert defaults["results_dir"].default == runner.SCRATCH_RESULTS_DIR
    assert defaults["logs_dir"].default == runner.LOGS_DIR
    with open(os.path.join(runner.REPO_ROOT, ".gitignore"), encoding="utf-8") as f:
        assert ".conformance/" in f.read().split()


def test_publish_copies_the_scratch_cells_and_regenerates_the_report(tmp_path: Any) -> None:
    scratch, committed = tmp_path / "scratch", tmp_path / "committed"
    scratch.mkdir()
    cell = make_cell("6.6.1", "3.11")
    name = runner.cell_name(cell["tornado"], cell["python"]) + ".json"
    (scratch / name).write_text(json.dumps(cell))
    (scratch / "notes.txt").write_text("not a cell")
    md, js = str(tmp_path / "REPORT.md"), str(tmp_path / "report.json")
    copied = runner.publish(str(scratch), str(committed), md, js)
    assert copied == [name]
    assert json.loads((committed / name).read_text()) == cell
    assert sorted(os.listdir(str(committed))) == [name]
    assert "| 6.6.1 | 3.11 |" in (tmp_path / "REPORT.md").read_text(encoding="utf-8")


def test_deviation_modes_restrict_an_entry_to_those_swap_modes() -> None:
    deviations = compare.validate_deviations(
        [
            {"test": "t.only_install", "rfc": "r", "reason": "x", "modes": ["install"]},
            {"test": "t.everywhere", "rfc": "r", "reason": "x"},
        ]
    )
    install = compare.applicable_deviations(deviations, "6.6.1", "install")
    subclass = compare.applicable_deviations(deviations, "6.6.1", "subclass")
    assert sorted(install) == ["t.everywhere", "t.only_install"]
    assert sorted(subclass) == ["t.everywhere"]
    with pytest.raises(ValueError, match="modes"):
        compare.validate_deviations([{"test": "t", "rfc": "r", "reason": "x", "modes": ["bogus"]}])
