"""The sans-IO HTTP/1 core: bytes in, events out; imports nothing from Tornado.

`Exchange` is the entry point: one request and its response, seen from the
client or the server, with every protocol rule of the exchange.  The other
modules are its parts, each with one job (see the README's Layout section).

Two builds of these same modules exist: pure Python, the reference, and the
compiled one (mypyc, built by ``hatch_build.py`` into ``_compiled/``).
`BUILD` says which one is running.  The compiled modules are used when they
were built for this Python from exactly these sources (a digest of the
sources is checked) and ``TORNADO_H1ALT_NO_EXTENSIONS`` is not set to a
non-empty value.
"""

from __future__ import annotations

import os
import sys
import warnings
from importlib.machinery import ExtensionFileLoader

from ._sources import digest_file_name, sources_digest

NO_EXTENSIONS = "TORNADO_H1ALT_NO_EXTENSIONS"
_HERE = os.path.dirname(os.path.abspath(__file__))
_COMPILED = os.path.join(_HERE, "_compiled")


def _compiled_build_matches() -> bool:
    """Whether ``_compiled/`` holds a build of these very sources for this
    interpreter (its digest file is written by ``hatch_build.py``); warns
    when it holds one of other sources, e.g. after an edit of the core."""
    try:
        with open(os.path.join(_COMPILED, digest_file_name())) as f:
            expected = f.read().strip()
    except OSError:
        return False
    if sources_digest(_HERE) == expected:
        return True
    warnings.warn(
        "tornado_h1alt: the compiled core in %s was built from other sources than"
        " these; running the pure-Python core (rebuild it: python hatch_build.py)" % _COMPILED,
        RuntimeWarning,
        stacklevel=2,
    )
    return False


if not os.environ.get(NO_EXTENSIONS) and _compiled_build_matches():
    # The compiled modules shadow the sources of the same name.
    __path__.insert(0, _COMPILED)
    # mypyc before 1.15 (the one Python 3.8 has) finds its shared library
    # by attribute from the top package, and the import system sets this
    # attribute only once this package has been imported.
    sys.modules[__name__.rpartition(".")[0]].h1 = sys.modules[__name__]  # type: ignore[attr-defined]

from .errors import OutputError, ProtocolError  # noqa: E402 (after the path choice)
from .events import ConnectionClosed, Data, EndOfMessage, Event, Head, RequestHead, ResponseHead  # noqa: E402, E501
from .exchange import Exchange  # noqa: E402

#: "compiled" when the core runs as mypyc-compiled code, else "pure".
BUILD = (
    "compiled"
    if isinstance(sys.modules[Exchange.__module__].__loader__, ExtensionFileLoader)
    else "pure"
)

__all__ = [
    "BUILD",
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Exchange",
    "Head",
    "OutputError",
    "ProtocolError",
    "RequestHead",
    "ResponseHead",
]
