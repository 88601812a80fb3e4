"""The sans-IO HTTP/1 core: bytes in, events out; imports nothing from Tornado.

`Exchange` is the entry point: one request and its response, seen from the
client or the server, with every protocol rule of the exchange.  The other
modules are its parts, each with one job (see the README's Layout section).
"""

from __future__ import annotations

from .errors import OutputError, ProtocolError
from .events import ConnectionClosed, Data, EndOfMessage, Event, Head, RequestHead, ResponseHead
from .exchange import Exchange

__all__ = [
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
