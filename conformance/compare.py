"""Pure comparison logic: stock outcomes versus swapped outcomes, test by test.

Nothing here touches the file system, the network or a subprocess, so every
rule can be tested with small synthetic dictionaries
(``tests/test_conformance_runner.py``).

An *outcome map* is ``{test_id: {"outcome": str, "message": str}}`` as written
by ``conformance._driver``. The outcomes are:

``pass``, ``skip``, ``expected_failure``
    "ok": the test did what Tornado's suite expects.
``fail``, ``error``, ``unexpected_success``, ``not_run``
    a failure. ``not_run`` is a collected test that never reported an outcome
    (for instance because its class's ``setUpClass`` raised).

An id that is not in a map at all is *absent*. That is normal for the ids
unittest invents for class- and module-level errors (``setUpClass (m.C)``),
which exist only in the run where the error happened.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

OK_OUTCOMES = frozenset({"pass", "skip", "expected_failure"})
FAILED_OUTCOMES = frozenset({"fail", "error", "unexpected_success", "not_run"})
ALL_OUTCOMES = OK_OUTCOMES | FAILED_OUTCOMES

SWAPPED_MODES = ("install", "subclass")
MODES = ("stock",) + SWAPPED_MODES

Outcome = Dict[str, str]
OutcomeMap = Mapping[str, Outcome]
Deviation = Mapping[str, Any]
# (stock rerun, swapped rerun): driver results, either possibly missing.
RerunPair = Tuple[Optional[Mapping[str, Any]], Optional[Mapping[str, Any]]]

# unittest names class- and module-level fixture errors "<fixture> (<dotted name>)";
# the same format from Python 3.8 to 3.13 (unittest/suite.py).
_FIXTURE_ID = re.compile(
    r"(?P<fixture>setUpClass|tearDownClass|setUpModule|tearDownModule) \((?P<name>[^()]+)\)"
)


def outcome_of(outcomes: OutcomeMap, test_id: str) -> Optional[str]:
    """Return the outcome recorded for ``test_id``, or None when it is absent."""
    entry = outcomes.get(test_id)
    return None if entry is None else entry["outcome"]


def message_of(outcomes: OutcomeMap, test_id: str) -> str:
    """Return the first line of the failure message recorded for ``test_id``."""
    entry = outcomes.get(test_id)
    return "" if entry is None else entry.get("message", "")


def is_ok(outcome: Optional[str]) -> bool:
    """Whether an outcome counts as passing (pass, skip or expected failure)."""
    return outcome in OK_OUTCOMES


def is_failure(outcome: Optional[str]) -> bool:
    """Whether an outcome is a failure; absent is neither ok nor a failure."""
    return outcome in FAILED_OUTCOMES


def count_outcomes(outcomes: OutcomeMap) -> Dict[str, int]:
    """Count each outcome kind, always listing every kind (zeros included).

    Unknown outcome strings are counted too, so a driver bug shows up in the
    report instead of silently vanishing.
    """
    counts = {name: 0 for name in sorted(ALL_OUTCOMES)}
    for entry in outcomes.values():
        counts[entry["outcome"]] = counts.get(entry["outcome"], 0) + 1
    return counts


def count_ok(outcomes: OutcomeMap) -> int:
    """Number of ids whose outcome is ok."""
    return sum(1 for entry in outcomes.values() if is_ok(entry["outcome"]))


def is_regression_candidate(stock: Optional[str], swapped: Optional[str]) -> bool:
    """Whether a test looks like a regression before any rerun.

    Stock must not have failed it (ok, or absent: a brand-new fixture error
    such as ``setUpClass (m.C)`` that only the swapped run produced still
    counts), and the swapped run must have failed it -- or lost a test that
    stock ran successfully.
    """
    if is_failure(stock):
        return False
    if is_failure(swapped):
        return True
    return swapped is None and is_ok(stock)


def is_improvement_candidate(stock: Optional[str], swapped: Optional[str]) -> bool:
    """Whether stock failed a test that the swapped run did not fail."""
    return is_failure(stock) and not is_failure(swapped)


def find_candidates(stock: OutcomeMap, swapped: OutcomeMap) -> Tuple[List[str], List[str]]:
    """Return sorted (regression candidates, improvement candidates)."""
    regressions: List[str] = []
    improvements: List[str] = []
    for test_id in sorted(set(stock) | set(swapped)):
        before, after = outcome_of(stock, test_id), outcome_of(swapped, test_id)
        if is_regression_candidate(before, after):
            regressions.append(test_id)
        elif is_improvement_candidate(before, after):
            improvements.append(test_id)
    return regressions, improvements


# --- rerun selection -------------------------------------------------------


def rerun_selector(test_id: str) -> str:
    """The driver selector that reruns whatever produced ``test_id``.

    A plain id selects itself. A fixture error id selects everything under the
    class or module it names, with a trailing dot, because rerunning the
    fixture means rerunning the tests that trigger it.
    """
    match = _FIXTURE_ID.fullmatch(test_id)
    if match is None:
        return test_id
    return match.group("name") + "."


def selector_matches(selector: str, test_id: str) -> bool:
    """Whether a collected test id falls under ``selector`` (see rerun_selector)."""
    if selector.endswith("."):
        return test_id.startswith(selector)
    return test_id == selector


def rerun_outcome(rerun: Optional[Mapping[str, Any]], test_id: str) -> Optional[str]:
    """What a rerun says about ``test_id``: an outcome, ``absent`` or None.

    ``rerun`` is the driver's result (``outcomes`` and ``unmatched_selectors``).
    None means the rerun did not happen or could not select the test, which is
    *not* evidence that it passes. ``absent`` means the selector ran but this
    id was not produced, which for a fixture error id means the fixture passed.
    """
    if rerun is None or rerun.get("fatal"):
        return None
    outcome = outcome_of(rerun.get("outcomes", {}), test_id)
    if outcome is not None:
        return outcome
    if rerun_selector(test_id) in rerun.get("unmatched_selectors", ()):
        return None
    return "absent"


def _ok_or_absent(outcome: Optional[str]) -> bool:
    return outcome == "absent" or is_ok(outcome)


def classify_regression(
    stock_rerun: Optional[str], swapped_rerun: Optional[str]
) -> Tuple[str, str]:
    """Decide a regression candidate from its reruns: (kind, detail).

    kind is ``regression`` or ``flaky``. Without a usable swapped rerun the
    candidate stays a regression: a failure is never dismissed for lack of
    evidence.
    """
    if swapped_rerun is None:
        return "regression", "could not be rerun"
    if _ok_or_absent(swapped_rerun):
        return "flaky", "passed on rerun"
    if stock_rerun is not None and not _ok_or_absent(stock_rerun):
        # Stock failed it too this time, so "passes stock" no longer holds.
        return "flaky", "failed again swapped, but stock also failed on rerun"
    return "regression", "failed again on rerun"


def classify_improvement(
    stock_rerun: Optional[str], swapped_rerun: Optional[str]
) -> Tuple[str, str]:
    """Decide an improvement candidate from its reruns: (kind, detail).

    kind is ``improvement`` or ``flaky``; an improvement needs stock to fail
    again and the swapped run to pass again.
    """
    if stock_rerun is None or swapped_rerun is None:
        return "flaky", "could not be rerun"
    if _ok_or_absent(stock_rerun):
        return "flaky", "stock passed on rerun"
    if not _ok_or_absent(swapped_rerun):
        return "flaky", "swapped failed on rerun"
    return "improvement", "confirmed on rerun"


# --- deviations -------------------------------------------------------------

_SPECIFIER = re.compile(r"\s*(?P<op><=|>=|==|!=|<|>)?\s*(?P<version>\d+(?:\.\d+)*)\s*")


def version_tuple(version: str) -> Tuple[int, ...]:
    """Parse the leading numeric part of a version ("6.5b1" -> (6, 5))."""
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(part) for part in match.group(0).split("."))


def _compare(left: Tuple[int, ...], right: Tuple[int, ...]) -> int:
    # Pad so that 6.5 == 6.5.0, the way people read version numbers.
    width = max(len(left), len(right))
    padded_left = left + (0,) * (width - len(left))
    padded_right = right + (0,) * (width - len(right))
    return (padded_left > padded_right) - (padded_left < padded_right)


def version_matches(version: str, specifier: Optional[str]) -> bool:
    """Whether ``version`` satisfies a specifier such as ``">=6.0,<6.5"``.

    None or an empty string matches every version; a bare version means ``==``.
    A malformed specifier raises ValueError rather than matching nothing,
    because a typo would otherwise turn a deviation into a regression silently.
    """
    if specifier is None or not specifier.strip():
        return True
    current = version_tuple(version)
    for clause in specifier.split(","):
        match = _SPECIFIER.fullmatch(clause)
        if match is None:
            raise ValueError(f"bad version specifier {specifier!r}")
        order = _compare(current, version_tuple(match.group("version")))
        op = match.group("op") or "=="
        satisfied = {
            "<": order < 0,
            "<=": order <= 0,
            ">": order > 0,
            ">=": order >= 0,
            "==": order == 0,
            "!=": order != 0,
        }[op]
        if not satisfied:
            return False
    return True


def validate_deviations(deviations: Any) -> List[Dict[str, Any]]:
    """Check the shape of deviations.json and return it as a list of dicts."""
    if not isinstance(deviations, list):
        raise ValueError("deviations.json must hold a JSON list")
    checked: List[Dict[str, Any]] = []
    for index, entry in enumerate(deviations):
        if not isinstance(entry, dict):
            raise ValueError(f"deviation #{index} is not an object")
        for key in ("test", "rfc", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ValueError(f"deviation #{index} needs a non-empty {key!r}")
        tornado = entry.get("tornado")
        if tornado is not None and not isinstance(tornado, str):
            raise ValueError(f"deviation #{index}: 'tornado' must be a string or null")
        version_matches("1.0", tornado)  # raises on a malformed specifier
        modes = entry.get("modes")
        if modes is not None and (
            not isinstance(modes, list) or not set(modes) <= set(SWAPPED_MODES) or not modes
        ):
            raise ValueError(
                f"deviation #{index}: 'modes' must be a non-empty list of {list(SWAPPED_MODES)}"
            )
        checked.append(dict(entry))
    return checked


def applicable_deviations(
    deviations: Sequence[Deviation], tornado_version: str, mode: Optional[str] = None
) -> Dict[str, Deviation]:
    """The deviations that apply to this Tornado version (and swap mode), keyed by test id.

    An entry's optional ``modes`` list restricts it to those swap modes; with
    ``mode`` None every entry of the version is returned.
    """
    return {
        entry["test"]: entry
        for entry in deviations
        if version_matches(tornado_version, entry.get("tornado"))
        and (mode is None or entry.get("modes") is None or mode in entry["modes"])
    }


# --- the whole comparison ---------------------------------------------------


def compare_mode(
    stock: OutcomeMap,
    swapped: OutcomeMap,
    deviations: Mapping[str, Deviation],
    stock_rerun: Optional[Mapping[str, Any]] = None,
    swapped_rerun: Optional[Mapping[str, Any]] = None,
    improvement_reruns: Optional[RerunPair] = None,
) -> Dict[str, List[Dict[str, Any]]]:
    """Compare one swapped mode against stock, reruns included.

    ``deviations`` must already be filtered for the Tornado version (see
    applicable_deviations). ``stock_rerun`` / ``swapped_rerun`` are driver
    results for the rerun of the candidates (None if there was none);
    ``improvement_reruns``, a (stock, swapped) pair, overrides them for the
    improvement candidates when those were rerun separately.

    Returns lists, each sorted by test id: ``regressions``, ``deviations``,
    ``improvements``, ``flaky`` and ``stale_deviations`` (listed deviations
    whose test did not fail swapped, so the entry may be obsolete).
    """
    regression_ids, improvement_ids = find_candidates(stock, swapped)
    result: Dict[str, List[Dict[str, Any]]] = {
        "regressions": [],
        "deviations": [],
        "improvements": [],
        "flaky": [],
        "stale_deviations": [],
    }
    for test_id in regression_ids:
        first = {
            "stock": outcome_of(stock, test_id) or "absent",
            "swapped": outcome_of(swapped, test_id) or "absent",
            "message": message_of(swapped, test_id),
        }
        deviation = deviations.get(test_id)
        if deviation is not None:
            result["deviations"].append(
                dict(first, test=test_id, rfc=deviation["rfc"], reason=deviation["reason"])
            )
            continue
        reruns = {
            "stock": rerun_outcome(stock_rerun, test_id),
            "swapped": rerun_outcome(swapped_rerun, test_id),
        }
        kind, detail = classify_regression(reruns["stock"], reruns["swapped"])
        entry = dict(first, test=test_id, rerun=reruns, detail=detail)
        result["regressions" if kind == "regression" else "flaky"].append(entry)
    improvement_stock_rerun, improvement_swapped_rerun = improvement_reruns or (
        stock_rerun,
        swapped_rerun,
    )
    for test_id in improvement_ids:
        reruns = {
            "stock": rerun_outcome(improvement_stock_rerun, test_id),
            "swapped": rerun_outcome(improvement_swapped_rerun, test_id),
        }
        kind, detail = classify_improvement(reruns["stock"], reruns["swapped"])
        entry = {
            "test": test_id,
            "stock": outcome_of(stock, test_id) or "absent",
            "swapped": outcome_of(swapped, test_id) or "absent",
            "message": message_of(stock, test_id),
            "rerun": reruns,
            "detail": detail,
        }
        result["improvements" if kind == "improvement" else "flaky"].append(entry)
    triggered = {entry["test"] for entry in result["deviations"]}
    for test_id in sorted(deviations):
        if test_id not in triggered:
            result["stale_deviations"].append(
                {"test": test_id, "swapped": outcome_of(swapped, test_id) or "absent"}
            )
    for entries in result.values():
        entries.sort(key=lambda entry: entry["test"])
    return result


def rerun_candidates(
    stock: OutcomeMap, swapped: OutcomeMap, deviations: Mapping[str, Deviation]
) -> Tuple[List[str], List[str]]:
    """The ids to confirm by rerunning: (regression, improvement) candidates.

    Listed deviations need no rerun: they are reported whatever happens.
    """
    regression_ids, improvement_ids = find_candidates(stock, swapped)
    return [test_id for test_id in regression_ids if test_id not in deviations], improvement_ids


def selectors_for(test_ids: Iterable[str]) -> List[str]:
    """Sorted, de-duplicated driver selectors that rerun ``test_ids``."""
    return sorted({rerun_selector(test_id) for test_id in test_ids})


def new_escaped_logs(
    stock: Mapping[str, Mapping[str, Any]], swapped: Mapping[str, Mapping[str, Any]]
) -> List[Dict[str, Any]]:
    """Tests that let more log records escape ExpectLog swapped than stock.

    Informational, not a regression: runtests only turns such records into an
    exit status for the whole run, never into a test failure. But a swapped
    engine that logs where Tornado is silent is observable behaviour, so the
    report names the tests. Sorted by test id.
    """
    differences = []
    for test_id in sorted(swapped):
        count = int(swapped[test_id].get("count", 0))
        before = int(stock.get(test_id, {}).get("count", 0))
        if count > before:
            differences.append(
                {
                    "test": test_id,
                    "stock": before,
                    "swapped": count,
                    "first": swapped[test_id].get("first", ""),
                }
            )
    return differences
