"""The command line: ``python -m conformance run|publish|report``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

from conformance import compare, runner


def parse_modes(text: str) -> List[str]:
    """Parse ``--modes``: a comma-separated subset of stock, install, subclass.

    Stock is the baseline every comparison needs, so it is added when missing
    (and said so) rather than comparing against nothing.
    """
    modes = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(modes) - set(compare.MODES))
    if unknown or not modes:
        raise argparse.ArgumentTypeError(
            "modes must be a comma-separated subset of {}".format(",".join(compare.MODES))
        )
    if "stock" not in modes:
        sys.stderr.write("conformance: adding mode 'stock', the baseline for comparison\n")
        modes.insert(0, "stock")
    # Stable order, whatever the order given, and no duplicates.
    return [mode for mode in compare.MODES if mode in modes]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Run Tornado's own test suite stock and with tornado_h1alt swapped in.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{run,publish,report}")
    commands.required = True
    run = commands.add_parser(
        "run",
        help="run this environment's cell; write its results and a report to .conformance/",
        description="Exit status: 0 no regressions, 1 regressions, 2 a mode could not run.",
    )
    run.add_argument(
        "--modes",
        type=parse_modes,
        default=list(compare.MODES),
        help="comma-separated modes to run (default: stock,install,subclass)",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=runner.DEFAULT_JOBS,
        help="how many test-suite subprocesses to run at once (default: %(default)s)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=runner.DEFAULT_TIMEOUT,
        help="seconds before one suite subprocess is killed (default: %(default)s)",
    )
    commands.add_parser(
        "publish",
        help="copy the cells in .conformance/results/ into conformance/results/ "
        "and regenerate conformance/REPORT.md and report.json",
    )
    commands.add_parser(
        "report", help="regenerate conformance/REPORT.md and report.json from results/"
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "publish":
        copied = runner.publish()
        md = os.path.relpath(runner.REPORT_MD)
        print(f"copied {len(copied)} cell(s) into conformance/results/ and wrote {md}")
        return 0
    if args.command == "report":
        cells = runner.regenerate_report()
        md, js = os.path.relpath(runner.REPORT_MD), os.path.relpath(runner.REPORT_JSON)
        print(f"wrote {md} and {js} from {len(cells)} cell(s)")
        return 0
    return runner.CellRun(args.modes, jobs=args.jobs, timeout=args.timeout).run()


if __name__ == "__main__":
    sys.exit(main())
