"""A short differential run (differential/): our core against h11, llhttp
(httptools) and the installed stock Tornado, on every named mutation and a
few hundred random ones; every disagreement with the majority must be in the
triage table with its RFC reason.  The full run is ``python -m differential``.
"""

from __future__ import annotations

import os
import sys

import pytest
import tornado

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

pytest.importorskip("httptools")
pytest.importorskip("h11")

from differential.__main__ import run  # noqa: E402
from differential.compare import classify, majority  # noqa: E402
from differential.corpus import cases  # noqa: E402
from differential.parsers import Message, Outcome  # noqa: E402

# The triage table was made with Tornado 6.6 (and 5.1) voting; an older
# release alone votes otherwise on some mutations.
pytestmark = pytest.mark.skipif(
    tornado.version_info < (6, 6), reason="the triage table records Tornado 6.6's votes"
)


def test_no_untriaged_disagreement() -> None:
    result = run(list(cases(random_count=400, seed=1)), None)
    untriaged = [
        "%s (%s): ours %s" % (d.case.name, d.category, d.ours.describe())
        for d in result["disagreements"]
        if d.triage is None
    ]
    assert untriaged == []
    # The harness compared something: most cases agree, and some do not.
    assert result["cases"] > 800
    assert sum(result["agreement"].values()) > result["cases"]
    assert result["disagreements"]


GET = Message(("GET", "/", "1.1"), (("host", "x"),), b"")
CANARY = Message(("GET", "/canary", "1.1"), (("host", "canary"),), b"")


@pytest.mark.parametrize(
    "ours, other, category",
    [
        (Outcome((GET, CANARY), False), Outcome((GET, CANARY), False), None),
        (Outcome((), True), Outcome((GET, CANARY), False), "stricter"),
        (Outcome((GET, CANARY), False), Outcome((), True), "laxer"),
        (Outcome((GET,), False), Outcome((GET, CANARY), False), "closes"),
        (Outcome((GET,), False), Outcome((GET,), True), "closes"),
        (Outcome((GET, CANARY), False), Outcome((GET,), False), "keeps"),
        (Outcome((GET,), True), Outcome((GET,), False), "tail"),
        (
            Outcome((GET._replace(fields=()),), False),
            Outcome((GET,), False),
            "fields",
        ),
        (
            Outcome((GET._replace(body=b"x"),), False),
            Outcome((GET,), False),
            "boundary",
        ),
    ],
)
def test_classify(ours: Outcome, other: Outcome, category: str) -> None:
    assert classify(ours, other) == category


def test_majority_needs_two_and_no_tie() -> None:
    a, b = Outcome((GET,), False), Outcome((), True)
    assert majority([a, a, b]) == a
    assert majority([a, b]) is None
    assert majority([a, a, b, b]) is None
    assert majority([a, None]) is None
