"""tornado_h1alt: a from-scratch HTTP/1.x engine for Tornado.

The same public surface as `tornado.http1connection`, plus the ways to swap
it into an application: `install` / `uninstall` / `installed`, an
`HTTPServer` subclass and a `SimpleAsyncHTTPClient` subclass; and what
Tornado lacks: a graceful `drain` of a server (`drain_on_signal` for SIGTERM).
`BUILD` says whether the compiled core is running ("compiled") or the
pure-Python one ("pure"; ``TORNADO_H1ALT_NO_EXTENSIONS=1`` forces it).
"""

from __future__ import annotations

from .client import KeepAliveHTTPClient, SimpleAsyncHTTPClient
from .connection import MAX_INTERIM_RESPONSES, HTTP1Connection, HTTP1ConnectionParameters
from .drain import DrainSummary, drain, drain_on_signal
from .h1 import BUILD
from .helpers import is_transfer_encoding_chunked, parse_hex_int, parse_int
from .install import install, installed, is_installed, uninstall
from .server import HTTP1ServerConnection, HTTPServer

__version__ = "0.1.0"

# Tornado 6.5+ exposes the 1xx cap under this name and its tests import it.
_MAX_1XX_RESPONSES = MAX_INTERIM_RESPONSES

__all__ = [
    "BUILD",
    "DrainSummary",
    "HTTP1Connection",
    "HTTP1ConnectionParameters",
    "HTTP1ServerConnection",
    "HTTPServer",
    "KeepAliveHTTPClient",
    "SimpleAsyncHTTPClient",
    "drain",
    "drain_on_signal",
    "install",
    "installed",
    "is_installed",
    "is_transfer_encoding_chunked",
    "parse_hex_int",
    "parse_int",
    "uninstall",
]
