"""Ours against the majority of the other parsers, and the triage table.

For each case the other parsers' outcomes are counted; the majority is the
outcome at least two of them share and no other outcome matches in number.
Where ours differs from it, the disagreement gets a category:

* ``stricter``: we refused, after fewer messages than the majority handed
  on: a message they accept is one we do not;
* ``tail``: the same messages, after which we refuse what is left (a
  truncated message at the close, say) where the majority stops quietly;
* ``laxer``: the other way round, we accept what the majority refuses;
* ``closes`` / ``keeps``: the same messages, but we close the connection
  after one where the majority reads on (and reads more, or refuses what
  follows), or the other way round;
* ``fields``: the same messages (start lines and bodies) but other header
  fields handed on (names, values, or how duplicates are merged);
* ``boundary``: the messages themselves differ: where one ends, what its
  body is, or how a start line reads.

Every disagreement must be triaged: `triage.json` lists, per mutation
(a name or an ``fnmatch`` pattern, see `differential.corpus`) and
category, the RFC section that makes ours right.  An untriaged
disagreement fails the run.
"""

from __future__ import annotations

import collections
import fnmatch
import json
import os
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from .corpus import Case
from .parsers import Outcome

__all__ = ["Disagreement", "TRIAGE_FILE", "Triage", "classify", "load_triage", "majority"]

TRIAGE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "triage.json")


def majority(outcomes: Sequence[Optional[Outcome]]) -> Optional[Outcome]:
    """The outcome most of ``outcomes`` share (at least two, and no tie)."""
    counts = collections.Counter(outcome for outcome in outcomes if outcome is not None)
    ranked = counts.most_common(2)
    if not ranked or ranked[0][1] < 2 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None
    return ranked[0][0]


def _prefix(shorter: Tuple[object, ...], longer: Tuple[object, ...]) -> bool:
    return len(shorter) <= len(longer) and longer[: len(shorter)] == shorter


def classify(ours: Outcome, other: Outcome) -> Optional[str]:
    """How ``ours`` differs from ``other``; None if it does not."""
    if ours == other:
        return None
    if ours.messages == other.messages and ours.error:
        return "tail"
    if ours.error and _prefix(ours.messages, other.messages):
        if len(ours.messages) < len(other.messages) or not other.error:
            return "stricter"
    if other.error and _prefix(other.messages, ours.messages):
        if len(other.messages) < len(ours.messages):
            return "laxer"
        if not ours.error:
            return "closes"  # the same messages: they read on (and refused)
    if not ours.error and not other.error:
        if _prefix(ours.messages, other.messages):
            return "closes"
        if _prefix(other.messages, ours.messages):
            return "keeps"
    if len(ours.messages) == len(other.messages) and all(
        a.start == b.start and a.body == b.body for a, b in zip(ours.messages, other.messages)
    ):
        return "fields"
    return "boundary"


class Triage(NamedTuple):
    mutation: str  # a mutation's name, or an fnmatch pattern of names
    category: str
    rfc: str
    reason: str
    kinds: Tuple[str, ...] = ("request", "response")
    seeds: Optional[Tuple[str, ...]] = None  # None: any seed

    def covers(self, case: Case, category: str) -> bool:
        return (
            category == self.category
            and case.kind in self.kinds
            and (self.seeds is None or case.seed in self.seeds)
            and fnmatch.fnmatchcase(case.mutation, self.mutation)
        )


def load_triage(path: str = TRIAGE_FILE) -> List[Triage]:
    with open(path) as f:
        entries = json.load(f)
    return [
        Triage(
            entry["mutation"],
            entry["category"],
            entry["rfc"],
            entry["reason"],
            tuple(entry.get("kinds", ("request", "response"))),
            tuple(entry["seeds"]) if "seeds" in entry else None,
        )
        for entry in entries
    ]


class Disagreement(NamedTuple):
    case: Case
    category: str
    ours: Outcome
    majority: Outcome
    others: Dict[str, Optional[Outcome]]
    triage: Optional[Triage]
