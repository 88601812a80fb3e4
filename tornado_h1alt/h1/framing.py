"""Where a message body starts and ends, and whether the connection survives.

RFC 9112 section 6.3 decides the length of a received message body; the same
rules, seen from the sender, decide how we frame what we write.  Both sides
of the engine call these functions, so reading and writing can never
disagree about framing.
"""

from __future__ import annotations

import enum
from typing import ClassVar, Dict, Final, Iterable, List, Optional, Sequence, Tuple

from . import abnf
from .errors import ProtocolError
from .record import Record

__all__ = [
    "BodyKind",
    "FieldIndex",
    "Framing",
    "LAST_CHUNK",
    "METHODS_WITH_CONTENT",
    "forbids_length_fields",
    "opens_tunnel",
    "persistent_by_default",
    "NO_BODY",
    "connection_options",
    "field_values",
    "index_field",
    "index_fields",
    "received_framing",
    "request_framing",
    "request_keeps_alive",
    "response_framing",
    "response_has_no_body",
    "response_keeps_alive",
    "split_list",
]

Fields = Sequence[Tuple[str, str]]
# The values of each field by lower-cased name, in order (see index_fields).
FieldIndex = Dict[str, List[str]]


class BodyKind(enum.Enum):
    """How the end of a message body is found."""

    NONE = "none"  # no body at all (HEAD responses, 1xx, 204, 304)
    LENGTH = "length"  # exactly ``Framing.length`` bytes
    CHUNKED = "chunked"  # the chunked transfer coding (RFC 9112 7.1)
    UNTIL_CLOSE = "until-close"  # everything until the peer closes


class Framing(Record):
    """A body framing decision: its kind and, for LENGTH, the byte count."""

    FIELDS: ClassVar[Tuple[str, ...]] = ("kind", "length")

    def __init__(self, kind: BodyKind, length: int = 0) -> None:
        self.kind = kind
        self.length = length


# The shortest possible end of a chunked body: the last chunk and an empty
# trailer section (RFC 9112 7.1).
LAST_CHUNK: Final = b"0\r\n\r\n"

NO_BODY: Final = Framing(BodyKind.NONE)
CHUNKED: Final = Framing(BodyKind.CHUNKED)
UNTIL_CLOSE: Final = Framing(BodyKind.UNTIL_CLOSE)
# RFC 9112 6.3 rule 7: a request with neither Transfer-Encoding nor
# Content-Length has an empty body.
EMPTY: Final = Framing(BodyKind.LENGTH, 0)


def persistent_by_default(version: Tuple[int, int]) -> bool:
    """Whether ``version`` is HTTP/1.1 or later: its connections persist
    unless a message says close, and it speaks chunked (RFC 9112 9.3, 6.1).
    (Compared field by field: the compiled build would box two tuples to
    compare them whole.)"""
    return version[0] > 1 or (version[0] == 1 and version[1] >= 1)


def index_fields(fields: Fields) -> Dict[str, List[str]]:
    """The fields' values by lower-cased name: one pass, then a lookup per name."""
    index: Dict[str, List[str]] = {}
    for name, value in fields:
        index_field(index, name.lower(), value)
    return index


def index_field(index: FieldIndex, lowered_name: str, value: str) -> None:
    """Add one field, its name already lower-cased, to ``index`` (see `index_fields`)."""
    values = index.get(lowered_name)
    if values is None:
        index[lowered_name] = [value]
    else:
        values.append(value)


_NONE: Final[List[str]] = []


def field_values(fields: FieldIndex, name: str) -> List[str]:
    """All values of the field ``name`` (lower-case), in order."""
    return fields.get(name, _NONE)


def split_list(values: Iterable[str]) -> List[str]:
    """Elements of a comma-separated list field (RFC 9110 5.6.1), across lines.

    RFC 9110 5.6.1: a recipient MUST parse and ignore a reasonable number
    of empty list elements ("a, , b", "a,"); all are ignored here (the head
    they are in is bounded by max_header_size).
    """
    elements: List[str] = []
    for value in values:
        if "," in value:
            elements.extend(abnf.list_separator.split(value.strip(" \t")))
        else:
            elements.append(value.strip(" \t"))  # (one element, the common case)
    return [element for element in elements if element]


def connection_options(fields: FieldIndex) -> List[str]:
    """The lower-cased connection options (RFC 9110 7.6.1) of a message."""
    return [option.lower() for option in split_list(field_values(fields, "connection"))]


def response_has_no_body(request_method: Optional[str], status_code: int) -> bool:
    """RFC 9112 6.3 rules 1 and 2: responses that never carry content (the
    connection of a 2xx response to CONNECT is a tunnel after its head)."""
    return (
        request_method == "HEAD"
        or 100 <= status_code < 200
        or status_code in (204, 304)
        or opens_tunnel(request_method, status_code)
    )


def opens_tunnel(request_method: Optional[str], status_code: int) -> bool:
    """RFC 9110 9.3.6, RFC 9112 6.3 rule 2: a 2xx response to CONNECT makes
    the connection a tunnel right after its head: no more HTTP on it."""
    return request_method == "CONNECT" and 200 <= status_code < 300


def forbids_length_fields(request_method: Optional[str], status_code: int) -> bool:
    """RFC 9110 8.6, RFC 9112 6.1: a server MUST NOT send Content-Length or
    Transfer-Encoding in a 1xx or 204 response, or a 2xx response to CONNECT."""
    return status_code < 200 or status_code == 204 or opens_tunnel(request_method, status_code)


# RFC 9110 8.6 asks recipients to guard against overflow in Content-Length:
# more significant digits than this are refused (10**18 bytes is an exabyte).
MAX_LENGTH_DIGITS: Final = 18


def _content_length(values: List[str]) -> int:
    if len(values) == 1:
        value = values[0]
        # The common case, one plain number: ASCII isdigit() is exactly 1*DIGIT.
        if value.isascii() and value.isdigit() and len(value) <= MAX_LENGTH_DIGITS:
            return int(value)
    # RFC 9110 8.6: a recipient may accept a list of identical values (a
    # proxy's merge of duplicated fields); anything else is unrecoverable
    # framing and must be refused (RFC 9112 6.3 rule 5).  Content-Length is
    # not a list field, so an empty element here is refused too.
    elements = []
    for value in values:
        elements.extend(abnf.list_separator.split(value.strip(" \t")))
    if any(element != elements[0] for element in elements):
        raise ProtocolError("Multiple unequal Content-Lengths: %r" % ", ".join(values))
    # 1*DIGIT and nothing else: no sign, no whitespace, no "0x".  The value,
    # not the digit count, is bounded: leading zeros are valid digits.
    number = elements[0]
    if not abnf.digits.fullmatch(number) or len(number.lstrip("0")) > MAX_LENGTH_DIGITS:
        raise ProtocolError("Only integer Content-Length is allowed: %s" % number)
    return int(number)


def received_framing(
    *,
    is_response: bool,
    version: Tuple[int, int],
    fields: FieldIndex,
    request_method: Optional[str] = None,
    status_code: int = 0,
) -> Framing:
    """Decide how the body of a received message is delimited (RFC 9112 6.3).

    Raises `ProtocolError` when the framing is ambiguous or unsupported:
    this is where request smuggling is stopped, so every rule errs on the
    side of refusing.
    """
    transfer_encoding = fields.get("transfer-encoding", _NONE)
    content_length = fields.get("content-length", _NONE)

    if is_response:
        if opens_tunnel(request_method, status_code):
            # RFC 9112 6.3 rule 2: a client MUST ignore any Content-Length
            # or Transfer-Encoding in such a response.
            return NO_BODY
        if 100 <= status_code < 200 and (transfer_encoding or content_length):
            raise ProtocolError("Response code %d cannot have body" % status_code)
        if status_code == 204 and (
            transfer_encoding or (content_length and _content_length(content_length) != 0)
        ):
            raise ProtocolError("Response with code 204 should not have body")
        if response_has_no_body(request_method, status_code):
            return NO_BODY

    if transfer_encoding:
        # RFC 9112 6.1: a message with both is a smuggling attempt or a broken
        # intermediary; we refuse it outright rather than guess which wins.
        if content_length:
            raise ProtocolError("Message with both Transfer-Encoding and Content-Length")
        codings = [coding.lower() for coding in split_list(transfer_encoding)]
        if codings != ["chunked"]:
            # RFC 9112 6.1: chunked must be the final coding and may appear
            # once, and we implement no other coding.
            # (Tornado answers 400 to both; RFC 9112 6.1 only says SHOULD
            # for the 501, so we keep Tornado's status.)
            raise ProtocolError("Unsupported Transfer-Encoding %s" % ",".join(transfer_encoding))
        return CHUNKED
    if content_length:
        return Framing(BodyKind.LENGTH, _content_length(content_length))
    if is_response:
        return UNTIL_CLOSE
    return EMPTY


def request_keeps_alive(version: Tuple[int, int], fields: FieldIndex) -> bool:
    """Whether the connection may carry another request after this one (RFC 9112 9.3)."""
    if not persistent_by_default(version) and "transfer-encoding" in fields:
        # RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding MUST be
        # treated as if its framing were faulty and the connection closed
        # after processing it (a 1.0 intermediary may have mangled it).
        return False
    if "connection" not in fields:
        return persistent_by_default(version)
    options = connection_options(fields)
    if "close" in options:
        return False
    if persistent_by_default(version):
        return True
    return "keep-alive" in options


def response_keeps_alive(
    version: Tuple[int, int], fields: FieldIndex, framing: Framing, tunnel: bool = False
) -> bool:
    """Whether a client may send another request after this response (RFC 9112 9.3).

    Not after a body the close ends, nor on a connection that has become a
    tunnel (`opens_tunnel`, for which the caller passes ``tunnel``).
    """
    if framing.kind is BodyKind.UNTIL_CLOSE or tunnel:
        return False
    return request_keeps_alive(version, fields)


def _declared_length(content_length: Optional[str]) -> Optional[int]:
    if content_length is None:
        return None
    if content_length.isdigit() and content_length.isascii():
        return int(content_length)  # (ASCII isdigit() is exactly 1*DIGIT)
    if not abnf.digits.fullmatch(content_length):
        raise ValueError("invalid Content-Length %r" % content_length)
    return int(content_length)


def response_framing(
    *,
    request_method: Optional[str],
    request_version: Tuple[int, int],
    status_code: int,
    content_length: Optional[str],
) -> Framing:
    """How we frame a response we send: the mirror of `received_framing`."""
    if response_has_no_body(request_method, status_code):
        # A HEAD response may announce the length the GET would have had
        # (RFC 9110 9.3.2), but carries no content; 1xx, 204 and 304 have
        # none either (RFC 9112 6.3 rule 1).
        return NO_BODY
    length = _declared_length(content_length)
    if length is not None:
        return Framing(BodyKind.LENGTH, length)
    # RFC 9112 6.1: chunked may only be sent to a peer known to speak 1.1;
    # to an HTTP/1.0 client the close of the connection ends the body.
    if persistent_by_default(request_version):
        return CHUNKED
    return UNTIL_CLOSE


# Methods whose requests usually have content, so a request without a
# Content-Length is sent chunked rather than with an empty body (Tornado's
# long-standing client behaviour).
METHODS_WITH_CONTENT: Final = ("POST", "PUT", "PATCH")


def request_framing(*, method: str, content_length: Optional[str]) -> Optional[Framing]:
    """How we frame a request we send; None means "as the caller wrote it".

    A request that is neither chunked nor has a Content-Length has an empty
    body (RFC 9112 6.3 rule 7); Tornado has always let such requests pass
    raw bytes through, and simple_httpclient relies on that for nothing, so
    we keep the accounting loose only where Tornado did.
    """
    length = _declared_length(content_length)
    if length is not None:
        return Framing(BodyKind.LENGTH, length)
    if method in METHODS_WITH_CONTENT:
        return CHUNKED
    return None
