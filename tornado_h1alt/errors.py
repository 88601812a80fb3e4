"""The one place where the core's errors become Tornado's: exceptions and log lines.

The core raises `ProtocolError` (the peer's mistake) and `OutputError` (our
side's); Tornado's code expects `~tornado.httputil.HTTPInputError` and
`~tornado.httputil.HTTPOutputError`, and logs a malformed message at INFO to
``tornado.general``, in the wording of the installed release.
"""

from __future__ import annotations

from typing import Union

from tornado import httputil
from tornado.log import gen_log

from . import compat
from .h1.errors import OutputError, ProtocolError

__all__ = ["input_error", "log_malformed", "output_error"]


def input_error(error: ProtocolError) -> httputil.HTTPInputError:
    """The `.HTTPInputError` Tornado raises for the same mistake."""
    return httputil.HTTPInputError(compat.error_text(str(error)))


def output_error(error: OutputError) -> httputil.HTTPOutputError:
    """The `.HTTPOutputError` Tornado raises for the same mistake."""
    return httputil.HTTPOutputError(str(error))


def log_malformed(peer: object, error: Union[ProtocolError, httputil.HTTPInputError]) -> None:
    """Log a malformed message from ``peer`` (its address, or the connection's
    context) as Tornado does: at INFO, never ERROR, since the mistake is the
    peer's and nothing on our side failed."""
    gen_log.info("Malformed HTTP message from %s: %s", peer, compat.error_text(str(error)))
