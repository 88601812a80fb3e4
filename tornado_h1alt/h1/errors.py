"""The core's two errors: the peer's mistakes and our own side's.

The core never raises Tornado's exceptions.  `ProtocolError` says the peer
sent something that is not valid HTTP/1 and carries the status a server
should answer with; `OutputError` says our side tried to send a message
that contradicts its own framing.  The adapter turns both into Tornado's
exceptions and log lines in one module (`tornado_h1alt.errors`).
"""

from __future__ import annotations

__all__ = ["OutputError", "ProtocolError"]


class ProtocolError(Exception):
    """The peer sent something that is not valid HTTP/1.1 framing or syntax.

    ``status_hint`` is the status code a server should send before closing
    (400 unless the RFC names another one, e.g. 414, 431 or 505).
    """

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class OutputError(Exception):
    """Our side tried to write a body that contradicts its framing
    (more or fewer bytes than its Content-Length)."""
