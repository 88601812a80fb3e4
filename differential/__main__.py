"""``python -m differential``: our core against other HTTP/1 parsers.

Feeds every case of `differential.corpus` (each seed with each named
mutation, plus ``--random`` random one-byte edits) to our core, h11,
llhttp (httptools), the installed stock Tornado and, if a Python with
Tornado 5.1 is found, stock Tornado 5.1; compares ours with the majority
of the others (see `differential.compare`) and checks every disagreement
against the triage table.  Writes a report (Markdown and JSON) to
``--output-dir`` (default: ``.differential/`` in the repository, which git
ignores) and exits 1 if a disagreement is untriaged.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from typing import Any, Dict, List, Optional

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from differential.compare import Disagreement, classify, load_triage, majority  # noqa: E402
from differential.corpus import Case, cases  # noqa: E402
from differential.parsers import PARSERS, Outcome, parse_with_tornado  # noqa: E402

# Where tox puts Tornado 5.1 (the matrix's oldest cell).
DEFAULT_TORNADO51 = os.path.join(_ROOT, ".tox", "py38-tornado51", "bin", "python")


def run(selected: List[Case], tornado51: Optional[str]) -> Dict[str, Any]:
    """Every parser on every case; the disagreements of ours with the majority."""
    outcomes: Dict[str, List[Optional[Outcome]]] = {
        name: [parse(case) for case in selected] for name, parse in PARSERS.items()
    }
    version, stock = parse_with_tornado(selected)
    outcomes["tornado-%s" % version] = list(stock)
    if tornado51 is not None:
        version51, stock51 = parse_with_tornado(selected, tornado51)
        outcomes["tornado-%s" % version51] = list(stock51)
    triage = load_triage()
    others = [name for name in outcomes if name != "h1alt"]
    # A parser that refuses a seed as it is says nothing about that seed's
    # mutations (Tornado reads neither chunk extensions nor trailers): it
    # has no vote on them.
    refuses_seed = {
        (name, case.kind, case.seed)
        for name in others
        for index, case in enumerate(selected)
        if case.mutation == "none"
        and outcomes[name][index] is not None
        and outcomes[name][index].error  # type: ignore[union-attr]
    }
    disagreements: List[Disagreement] = []
    no_majority = 0
    for index, case in enumerate(selected):
        ours = outcomes["h1alt"][index]
        assert ours is not None
        their = {
            name: outcomes[name][index]
            for name in others
            if (name, case.kind, case.seed) not in refuses_seed
        }
        common = majority(list(their.values()))
        if common is None:
            no_majority += 1
            continue
        category = classify(ours, common)
        if category is None:
            continue
        entry = next((t for t in triage if t.covers(case, category)), None)
        disagreements.append(Disagreement(case, category, ours, common, their, entry))
    agreement = {
        name: sum(
            1 for index in range(len(selected)) if outcomes[name][index] == outcomes["h1alt"][index]
        )
        for name in others
    }
    applicable = {
        name: sum(1 for outcome in outcomes[name] if outcome is not None) for name in others
    }
    used = {(d.triage.mutation, d.triage.category) for d in disagreements if d.triage}
    return {
        "parsers": ["h1alt"] + others,
        "cases": len(selected),
        "no_majority": no_majority,
        "agreement": agreement,
        "applicable": applicable,
        "disagreements": disagreements,
        "unused_triage": [t for t in triage if (t.mutation, t.category) not in used],
    }


def _report(result: Dict[str, Any], command: str) -> str:
    disagreements: List[Disagreement] = result["disagreements"]
    untriaged = [d for d in disagreements if d.triage is None]
    lines = [
        "# Differential run: tornado_h1alt's core against other parsers",
        "",
        "Command: `%s`" % command,
        "",
        "%d cases; parsers: %s. Ours agrees exactly with:"
        % (
            result["cases"],
            ", ".join(result["parsers"]),
        ),
        "",
        "| parser | same outcome as ours |",
        "|---|---:|",
    ]
    for name, same in result["agreement"].items():
        lines.append("| %s | %d of %d |" % (name, same, result["applicable"][name]))
    lines += [
        "",
        "Cases with no majority among the others: %d (not compared)." % result["no_majority"],
        "",
        "Disagreements with the majority: %d (%d untriaged)."
        % (len(disagreements), len(untriaged)),
        "",
        "| mutation | kind | category | cases | triage |",
        "|---|---|---|---:|---|",
    ]
    groups: Dict[Any, List[Disagreement]] = collections.defaultdict(list)
    for d in disagreements:
        groups[(d.case.mutation, d.case.kind, d.category)].append(d)
    for (mutation, kind, category), group in sorted(groups.items()):
        entry = group[0].triage
        lines.append(
            "| %s | %s | %s | %d | %s |"
            % (mutation, kind, category, len(group), entry.rfc if entry else "**untriaged**")
        )
    if untriaged:
        lines += ["", "## Untriaged", ""]
        for d in untriaged:
            lines.append("- `%s` (%s): %r" % (d.case.name, d.category, d.case.data))
            lines.append("  - ours: %s" % d.ours.describe())
            for name, outcome in d.others.items():
                lines.append("  - %s: %s" % (name, outcome.describe() if outcome else "n/a"))
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m differential", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--random", type=int, default=2000, help="random one-byte edits (default 2000)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tornado51",
        default=DEFAULT_TORNADO51,
        help="a Python with Tornado 5.1 (default: tox's py38-tornado51 env, if it exists); "
        "'none' to leave it out",
    )
    parser.add_argument("--output-dir", default=os.path.join(_ROOT, ".differential"))
    args = parser.parse_args(argv)
    tornado51 = (
        None if args.tornado51 == "none" or not os.path.exists(args.tornado51) else args.tornado51
    )
    if tornado51 is None:
        print("no Tornado 5.1 found (%s): compared without it" % args.tornado51, file=sys.stderr)
    selected = list(cases(random_count=args.random, seed=args.seed))
    result = run(selected, tornado51)
    command = "python -m differential --random %d --seed %d" % (args.random, args.seed)
    report = _report(result, command)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "REPORT.md"), "w") as f:
        f.write(report)
    with open(os.path.join(args.output_dir, "disagreements.json"), "w") as f:
        json.dump(
            [
                {
                    "case": d.case.name,
                    "kind": d.case.kind,
                    "data": d.case.data.decode("latin-1"),
                    "category": d.category,
                    "triaged": d.triage is not None,
                    "ours": d.ours.describe(),
                    "others": {n: (o.describe() if o else None) for n, o in d.others.items()},
                }
                for d in result["disagreements"]
            ],
            f,
            indent=1,
        )
    untriaged = [d for d in result["disagreements"] if d.triage is None]
    print(report.split("\n## Untriaged")[0])
    print("Wrote %s" % os.path.join(args.output_dir, "REPORT.md"))
    return 1 if untriaged else 0


if __name__ == "__main__":
    sys.exit(main())
