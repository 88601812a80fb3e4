"""``tornado.http1connection``'s module-level helpers, on the core's rules."""

from __future__ import annotations

from tornado import httputil

from .errors import input_error
from .h1 import abnf
from .h1.errors import ProtocolError
from .h1.framing import received_framing

__all__ = ["is_transfer_encoding_chunked", "parse_hex_int", "parse_int"]


def parse_int(s: str) -> int:
    """Parse a non-negative decimal integer (digits only: no sign, space or prefix)."""
    if not abnf.digits.fullmatch(s):
        raise ValueError("not an integer: %r" % s)
    return int(s)


def parse_hex_int(s: str) -> int:
    """Parse a non-negative hexadecimal integer (hex digits only)."""
    if not abnf.hex_digits.fullmatch(s):
        raise ValueError("not a hexadecimal integer: %r" % s)
    return int(s, 16)


def is_transfer_encoding_chunked(headers: httputil.HTTPHeaders) -> bool:
    """Returns true if the headers specify ``Transfer-Encoding: chunked``.

    Raises `.HTTPInputError` if any other transfer coding is used, or if
    Content-Length is present as well (RFC 9112 6.1): framing a message two
    ways is how requests are smuggled past proxies.  The rules are the
    core's (`tornado_h1alt.h1.framing.received_framing`).
    """
    if "Transfer-Encoding" not in headers:
        return False
    fields = {
        "transfer-encoding": headers.get_list("Transfer-Encoding"),
        "content-length": headers.get_list("Content-Length"),
    }
    try:
        received_framing(is_response=False, version=(1, 1), fields=fields)
    except ProtocolError as error:
        raise input_error(error) from None
    return True
