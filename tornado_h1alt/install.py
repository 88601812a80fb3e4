"""install() / uninstall() / installed(): swap the engine into Tornado, in one place.

Tornado's modules bind the engine's names at import time
(``from tornado.http1connection import HTTP1Connection`` in
simple_httpclient, for example), so each binding is replaced where it lives.
One method is wrapped in its class: simple_httpclient's ``_HTTPConnection.run``,
so that its requests go through their proxy (`.proxied`); the websocket
client subclasses that class when Tornado is imported, so replacing the
module's name would not reach it.
Call `install` before servers and clients are created: connections that
already exist keep the engine they were made with, and `install` warns when
a server already exists.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
import warnings
from typing import Any, Callable, Dict, Iterator, Tuple

from . import connection, server
from .client import proxied

__all__ = ["install", "installed", "is_installed", "uninstall"]

# (module, attribute) -> our replacement
_REPLACEMENTS: Dict[Tuple[str, str], object] = {
    ("tornado.http1connection", "HTTP1Connection"): connection.HTTP1Connection,
    ("tornado.http1connection", "HTTP1ConnectionParameters"): connection.HTTP1ConnectionParameters,
    ("tornado.http1connection", "HTTP1ServerConnection"): server.HTTP1ServerConnection,
    ("tornado.httpserver", "HTTP1ServerConnection"): server.HTTP1ServerConnection,
    ("tornado.httpserver", "HTTP1ConnectionParameters"): connection.HTTP1ConnectionParameters,
    ("tornado.simple_httpclient", "HTTP1Connection"): connection.HTTP1Connection,
    (
        "tornado.simple_httpclient",
        "HTTP1ConnectionParameters",
    ): connection.HTTP1ConnectionParameters,
}

# (module, class, method) -> what wraps the original method
_WRAPPED_METHODS: Dict[Tuple[str, str, str], Callable[[Any], Any]] = {
    # HTTPRequest's proxy options, which run() refuses, honoured.
    ("tornado.simple_httpclient", "_HTTPConnection", "run"): proxied.through_proxy,
}

# The originals, saved by the first install() and emptied by uninstall().
_originals: Dict[Tuple[str, str], object] = {}
_original_methods: Dict[Tuple[str, str, str], object] = {}


def install() -> None:
    """Make Tornado's HTTP server and simple client use tornado_h1alt's engine.

    Tornado's simple client (and the websocket client, its subclass) also
    honours `.HTTPRequest`'s proxy options from then on (see `.proxied`).
    Idempotent: a second call changes nothing.
    """
    if _originals:
        return
    _warn_if_late()
    for (module_name, attribute), replacement in _REPLACEMENTS.items():
        module = importlib.import_module(module_name)
        _originals[(module_name, attribute)] = getattr(module, attribute)
        setattr(module, attribute, replacement)
    for (module_name, class_name, method), wrap in _WRAPPED_METHODS.items():
        cls = getattr(importlib.import_module(module_name), class_name)
        original = cls.__dict__[method]
        _original_methods[(module_name, class_name, method)] = original
        setattr(cls, method, wrap(original))


def _warn_if_late() -> None:
    httpserver = sys.modules.get("tornado.httpserver")
    if httpserver is None:
        return  # no server can exist yet
    # (Servers of our own HTTPServer class run our engine already; a
    # stopped server takes no new connections, so install() changes nothing
    # for it.)
    servers = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, httpserver.HTTPServer)
        and not isinstance(obj, server.HTTPServer)
        and not getattr(obj, "_stopped", False)
    ]
    if servers:
        warnings.warn(
            "tornado_h1alt.install() after %d HTTPServer(s) were created: their open "
            "connections keep Tornado's engine, only their new connections get "
            "tornado_h1alt's. Install before creating servers, or use "
            "tornado_h1alt.HTTPServer." % len(servers),
            RuntimeWarning,
            stacklevel=3,
        )


def uninstall() -> None:
    """Put Tornado's own engine back exactly as it was.  Safe to call when not installed."""
    for (module_name, attribute), original in _originals.items():
        setattr(importlib.import_module(module_name), attribute, original)
    _originals.clear()
    for (module_name, class_name, method), original in _original_methods.items():
        setattr(getattr(importlib.import_module(module_name), class_name), method, original)
    _original_methods.clear()


def is_installed() -> bool:
    """True while `install` is in effect."""
    return bool(_originals)


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Context manager: the engine is installed inside the block.

    Nesting is safe: only the outermost block uninstalls.
    """
    already = is_installed()
    install()
    try:
        yield
    finally:
        if not already:
            uninstall()
