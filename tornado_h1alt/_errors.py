"""The one internal error type of the sans-IO core.

The core never raises Tornado's exceptions: it raises `ProtocolError`, which
carries the HTTP status a server should answer with.  The adapter translates
it to Tornado's `~tornado.httputil.HTTPInputError` in exactly one place
(`tornado_h1alt.connection`).
"""

from __future__ import annotations

__all__ = ["ProtocolError"]


class ProtocolError(Exception):
    """The peer sent something that is not valid HTTP/1.1 framing or syntax.

    ``status_hint`` is the status code a server should send before closing
    (400 unless the RFC names another one, e.g. 431, 501 or 505).
    """

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint
