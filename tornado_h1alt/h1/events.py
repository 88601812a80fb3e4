"""What the core hands an adapter: one typed event per thing that happened.

A message arrives as a head (`RequestHead` or `ResponseHead`), zero or more
`Data` events and an `EndOfMessage`; `ConnectionClosed` is the peer's clean
close before a message began.  Events are small immutable records (`Record`): cheap to make, and an
adapter can keep them.
"""

from __future__ import annotations

from typing import ClassVar, List, Tuple, Union

from .framing import Framing
from .record import Record

__all__ = [
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "Fields",
    "Head",
    "RequestHead",
    "ResponseHead",
]

# Header (or trailer) fields in the order received: (name, value), the name
# as sent and the value without surrounding whitespace.
Fields = List[Tuple[str, str]]


class _MessageHead(Record):
    """What request and response heads share (see `RequestHead`)."""

    def __init__(
        self, version: Tuple[int, int], fields: Fields, framing: Framing, keep_alive: bool
    ) -> None:
        self.version = version
        self.fields = fields
        self.framing = framing
        self.keep_alive = keep_alive


class RequestHead(_MessageHead):
    """A request's start line and header section (RFC 9112 3, 5).

    ``http_version`` is the version as sent ("HTTP/1.1") and ``version`` the
    same as numbers.  ``framing`` says where the body ends (RFC 9112 6.3);
    ``keep_alive`` whether the request lets the connection carry another one
    (RFC 9112 9.3).
    """

    FIELDS: ClassVar[Tuple[str, ...]] = (
        "method",
        "target",
        "http_version",
        "version",
        "fields",
        "framing",
        "keep_alive",
    )

    def __init__(
        self,
        method: str,
        target: str,
        http_version: str,
        version: Tuple[int, int],
        fields: Fields,
        framing: Framing,
        keep_alive: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        super().__init__(version, fields, framing, keep_alive)


class ResponseHead(_MessageHead):
    """A response's status line and header section (RFC 9112 4, 5).

    As `RequestHead`; ``reason`` is "" when the status line has none.  A
    1xx status makes it an interim response (`interim`): no body, and the
    final response follows.
    """

    FIELDS: ClassVar[Tuple[str, ...]] = (
        "http_version",
        "status_code",
        "reason",
        "version",
        "fields",
        "framing",
        "keep_alive",
    )

    def __init__(
        self,
        http_version: str,
        status_code: int,
        reason: str,
        version: Tuple[int, int],
        fields: Fields,
        framing: Framing,
        keep_alive: bool,
    ) -> None:
        self.http_version = http_version
        self.status_code = status_code
        self.reason = reason
        super().__init__(version, fields, framing, keep_alive)

    @property
    def interim(self) -> bool:
        """True for a 1xx response (RFC 9110 15.2), which another follows."""
        return 100 <= self.status_code < 200


Head = Union[RequestHead, ResponseHead]


class Data(Record):
    """A piece of message body (after removing chunk framing).

    ``chunk_end`` is False only for a piece that stops inside a chunk of a
    chunked body (more of the same chunk follows).
    """

    FIELDS: ClassVar[Tuple[str, ...]] = ("data", "chunk_end")

    def __init__(self, data: bytes, chunk_end: bool = True) -> None:
        self.data = data
        self.chunk_end = chunk_end


class EndOfMessage(Record):
    """The body is complete; ``trailers`` holds any trailer fields (RFC 9112 7.1.2)."""

    FIELDS: ClassVar[Tuple[str, ...]] = ("trailers",)

    def __init__(self, trailers: Fields) -> None:
        self.trailers = trailers


class ConnectionClosed(Record):
    """The peer closed the connection cleanly between two messages."""


Event = Union[RequestHead, ResponseHead, Data, EndOfMessage, ConnectionClosed]
