"""The module helpers tornado.http1connection exposes: parse_int, parse_hex_int,
is_transfer_encoding_chunked (strict, as Tornado's own)."""

from __future__ import annotations

import pytest
from tornado import httputil

from tornado_h1alt import is_transfer_encoding_chunked, parse_hex_int, parse_int


@pytest.mark.parametrize("text, value", [("0", 0), ("12", 12), ("007", 7)])
def test_parse_int_accepts_digits(text: str, value: int) -> None:
    assert parse_int(text) == value


@pytest.mark.parametrize("text", ["", "+1", "-1", " 1", "1 ", "1_0", "0x1", "1\n", "\uff11"])
def test_parse_int_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_int(text)


@pytest.mark.parametrize("text, value", [("0", 0), ("fF", 255), ("10", 16)])
def test_parse_hex_int_accepts_hex_digits(text: str, value: int) -> None:
    assert parse_hex_int(text) == value


@pytest.mark.parametrize("text", ["", "0x1", "-1", "+a", "1_a", " a", "g", "a\n"])
def test_parse_hex_int_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hex_int(text)


def test_is_transfer_encoding_chunked() -> None:
    assert is_transfer_encoding_chunked(httputil.HTTPHeaders()) is False
    assert is_transfer_encoding_chunked(httputil.HTTPHeaders({"Transfer-Encoding": "Chunked"}))
    with pytest.raises(httputil.HTTPInputError, match="Unsupported Transfer-Encoding"):
        is_transfer_encoding_chunked(httputil.HTTPHeaders({"Transfer-Encoding": "gzip"}))
    with pytest.raises(httputil.HTTPInputError, match="both Transfer-Encoding and Content-Length"):
        is_transfer_encoding_chunked(
            httputil.HTTPHeaders({"Transfer-Encoding": "chunked", "Content-Length": "1"})
        )
