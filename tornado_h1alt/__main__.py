"""``python -m tornado_h1alt path/to/app.py [args...]``: run a Tornado app on our engine.

Installs the engine, then runs the script as ``__main__`` with ``sys.argv``
set as if it had been started directly.
"""

from __future__ import annotations

import runpy
import sys
from typing import List, Optional

from .install import install

__all__ = ["main"]

USAGE = "usage: python -m tornado_h1alt path/to/app.py [args...]"


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    script = args[0]
    install()
    sys.argv = args
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
