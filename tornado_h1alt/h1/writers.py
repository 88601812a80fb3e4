"""Start line and fields to bytes; chunk framing; Content-Length accounting.

No I/O: `encode_head` writes a head, `BodyWriter` turns the body's pieces
into wire bytes and refuses writes that would break the framing announced
in the head, and `error_response` is the whole response a server sends
before closing on a malformed request.
"""

from __future__ import annotations

import http
import re
from typing import Dict, Final, List, Optional, Tuple

from . import abnf
from .errors import OutputError
from .framing import LAST_CHUNK, BodyKind, Framing

__all__ = [
    "BodyWriter",
    "CONTINUE_RESPONSE",
    "as_text",
    "encode_head",
    "error_response",
    "status_line",
]

_CR_OR_LF: Final = re.compile(r"[\r\n]")


# Status lines already checked and formatted, by (code, reason): an
# application answers with a handful of them.  Bounded, in case reasons
# come from user input.
_STATUS_LINES: Final[Dict[Tuple[int, str], str]] = {}
_STATUS_LINES_LIMIT: Final = 256


def status_line(code: int, reason: str) -> str:
    """The status line for ``code``, never with a reason the grammar forbids.

    RFC 9112 4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ).  A reason
    with CR, LF or another control character (CVE-2025-67724: a reason
    taken from user input split the response) or a character outside
    Latin-1 is replaced by the standard phrase for the code, or "Unknown".
    The phrase means nothing to a client (which SHOULD ignore it, RFC 9112
    4), so the response is still sent rather than failed: Tornado 6.5.3+
    does the same in tornado.web, and this gives every Tornado that rule.
    """
    key = (code, reason)
    line = _STATUS_LINES.get(key)
    if line is not None:
        return line
    if not abnf.reason_phrase.fullmatch(reason):
        try:
            reason = http.HTTPStatus(code).phrase
        except ValueError:
            reason = "Unknown"
    line = "HTTP/1.1 %d %s" % (code, reason)
    if len(_STATUS_LINES) < _STATUS_LINES_LIMIT:
        _STATUS_LINES[key] = line
    return line


def encode_head(start_line: str, fields: List[Tuple[object, object]]) -> bytes:
    """Serialise a start line and header fields into a message head.

    A name or value given as bytes is decoded as UTF-8, anything else but
    str converted with str() (Tornado's HTTPHeaders accepts both, and
    Tornado has always written them so).  Raises ValueError for a CR or LF
    anywhere: it would let a value inject fields or a whole response
    (header injection / response splitting).
    """
    parts: List[object] = [start_line, "\r\n"]
    for name, value in fields:
        parts += (name, ": ", value, "\r\n")
    parts.append("\r\n")
    try:
        text = "".join(parts)  # type: ignore[arg-type]
    except TypeError:  # (a name or value that is not str)
        text = "".join([part if isinstance(part, str) else as_text(part) for part in parts])
    # The separators put one CR and one LF per line there (the start line,
    # the fields, the empty line): any more came from the caller.  (Two
    # counts cost less than a regex search.)
    lines = len(fields) + 2
    if text.count("\r") != lines or text.count("\n") != lines:
        named = [start_line] + [as_text(name) + ": " + as_text(value) for name, value in fields]
        for line in named:
            if _CR_OR_LF.search(line):
                raise ValueError("Illegal characters (CR or LF) in header: %r" % line)
        raise AssertionError("a CR or LF outside every line")  # (counted, so unreachable)
    return text.encode("latin-1")


def as_text(value: object) -> str:
    """A header name or value as str: bytes decoded as UTF-8, anything else by str()."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class BodyWriter:
    """Frames outgoing body bytes according to a `Framing` decision.

    ``framing`` None means the caller frames the body itself (legacy raw
    writes): bytes pass through unchecked.
    """

    def __init__(self, framing: Optional[Framing]) -> None:
        self.framing = framing
        self.remaining: Optional[int] = None
        if framing is not None and framing.kind in (BodyKind.LENGTH, BodyKind.NONE):
            self.remaining = framing.length
        self.chunked = framing is not None and framing.kind is BodyKind.CHUNKED

    def frame(self, data: bytes) -> bytes:
        """The wire bytes for a piece of body ``data``."""
        if self.remaining is not None:
            self.remaining -= len(data)
            if self.remaining < 0:
                raise OutputError("Tried to write more data than Content-Length")
        if self.chunked:
            # An empty chunk would be read as the last chunk: send nothing.
            if not data:
                return b""
            return b"%x\r\n%b\r\n" % (len(data), data)
        return data

    def finish(self) -> bytes:
        """The bytes that end the body (the last chunk, if chunked)."""
        if self.remaining:
            raise OutputError("Tried to write %d bytes less than Content-Length" % self.remaining)
        return LAST_CHUNK if self.chunked else b""


# RFC 9110 15.2.1: the interim response a server sends to a client that
# waits for it before sending its content (Expect: 100-continue).
CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Reason phrases for the error responses we send ourselves.
_ERROR_REASONS = {
    400: "Bad Request",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}


def error_response(status: int) -> bytes:
    """The whole response a server sends before closing on a malformed request."""
    if status == 400:
        # Byte-for-byte what Tornado sends, which its own tests compare.
        return b"HTTP/1.1 400 Bad Request\r\n\r\n"
    reason = _ERROR_REASONS.get(status) or http.HTTPStatus(status).phrase
    return b"HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" % (
        status,
        reason.encode("ascii"),
    )
