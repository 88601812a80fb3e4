"""``python -m tornado_h1alt path/to/app.py | -m module [args...]``: run a program on our engine.

Runs the script or module as ``python path/to/app.py`` or ``python -m
module`` would (``sys.argv`` with the script's absolute path first,
``sys.path[0]``, an absolute ``__file__``, a traceback that starts in the
program, exit status 2 for a script that is not there), with the engine
installed, and
activated in every Python process the program starts or re-executes
(Tornado's autoreload, workers; see `tornado_h1alt.activation`).
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
from typing import Any, Callable, List, Optional

from .activation import activate_children, install_engine

__all__ = ["main"]

PROG = "python -m tornado_h1alt"
USAGE = "usage: %s [-m module | path/to/script.py] [args...]" % PROG


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    if args[0] == "-m":
        if len(args) < 2:
            print("%s: -m needs a module name\n%s" % (PROG, USAGE), file=sys.stderr)
            return 2
        module, rest = args[1], args[2:]
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # (a parent package that does not exist)
            found = False
        if not found:
            # What `python -m nosuch` says, and its exit status.
            print("%s: No module named %s" % (PROG, module), file=sys.stderr)
            return 1
        run: Callable[[], Any] = lambda: runpy.run_module(  # noqa: E731
            module, run_name="__main__", alter_sys=True
        )
        # As `python -m`: the current directory first on the path, and
        # argv[0] the module's file (run_module sets it).
        sys.argv = [module] + rest
        sys.path[0] = os.getcwd()
    elif args[0].startswith("-"):
        print("%s: unknown option %s\n%s" % (PROG, args[0], USAGE), file=sys.stderr)
        return 2
    else:
        script, rest = args[0], args[1:]
        path = os.path.abspath(script)
        if not os.path.isfile(path):
            # What `python nosuch.py` says, and its exit status.
            print(
                "%s: can't open file %r: [Errno 2] No such file or directory" % (PROG, path),
                file=sys.stderr,
            )
            return 2
        run = lambda: runpy.run_path(path, run_name="__main__")  # noqa: E731
        # As `python path/to/app.py`: the script's directory first on the
        # path (sibling modules import); run_path makes argv[0] the
        # script's absolute path.
        sys.argv = [script] + rest
        sys.path[0] = os.path.dirname(path)
    activate_children()
    install_engine()
    try:
        run()
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as error:
        _report(error)
        return 1
    return 0


def _report(error: BaseException) -> None:
    """The traceback as Python shows it for a program it runs itself: from
    the program's first frame, without this launcher's and runpy's."""
    traceback = error.__traceback__
    ours = {os.path.abspath(__file__), os.path.abspath(runpy.__file__)}
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if os.path.abspath(filename) not in ours and not filename.startswith("<frozen runpy"):
            break
        traceback = traceback.tb_next
    sys.excepthook(type(error), error.with_traceback(traceback), traceback)


if __name__ == "__main__":
    sys.exit(main())
