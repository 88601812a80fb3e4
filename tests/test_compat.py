"""compat: the per-Tornado-version shims behave like the APIs they stand in for."""

from __future__ import annotations

from typing import List, Tuple

import pytest
from tornado import httputil

from tornado_h1alt import compat

FIELDS: List[List[Tuple[str, str]]] = [
    [],
    [("Host", "x")],
    [("host", "x"), ("content-TYPE", "text/plain"), ("X-Empty", "")],
    [("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Host", "x"), ("SET-COOKIE", "c=3")],
]


@pytest.mark.parametrize("fields", FIELDS)
def test_headers_from_fields_equals_adding_one_by_one(fields: List[Tuple[str, str]]) -> None:
    fast = compat.headers_from_fields(fields)
    slow = httputil.HTTPHeaders()
    for name, value in fields:
        slow.add(name, value)
    # The same internal state, whatever this Tornado's layout is (6.5+'s
    # cache of combined values is filled on demand, so only its presence
    # is compared).
    assert vars(fast).keys() == vars(slow).keys()
    assert {k: v for k, v in vars(fast).items() if k != "_combined_cache"} == {
        k: v for k, v in vars(slow).items() if k != "_combined_cache"
    }
    assert list(fast.get_all()) == list(slow.get_all())
    assert dict(fast) == dict(slow)
    for name, _ in fields:
        assert fast[name] == slow[name]
        assert fast.get_list(name) == slow.get_list(name)
    # Still a normal, mutable HTTPHeaders afterwards.
    fast.add("X-Later", "1")
    fast["Host"] = "y"
    assert fast["X-Later"] == "1" and fast["Host"] == "y"


def test_every_supported_tornado_gets_its_headers_filled_directly() -> None:
    # The fallback (HTTPHeaders.add per field) is correct but slow; a new
    # Tornado layout should be noticed here rather than in the benchmark.
    assert compat._FILL_DIRECTLY


def test_error_text_keeps_the_wording_of_the_installed_tornado() -> None:
    message = "Message with both Transfer-Encoding and Content-Length"
    expected = (
        message if compat.TORNADO_VERSION >= (6, 4) else message.replace("Message", "Response", 1)
    )
    assert compat.error_text(message) == expected
    assert compat.error_text("invalid chunk size") == "invalid chunk size"


class _Stream:
    def __init__(self, **attributes: int) -> None:
        self.__dict__.update(attributes)


def test_anchored_head_reads_need_a_search_from_the_buffer_start() -> None:
    # Before 6.3, IOStream searches from _read_buffer_pos, where \A fails.
    assert compat.searches_from_buffer_start(_Stream(_read_buffer_pos=0))
    assert compat.searches_from_buffer_start(_Stream())
    offset = _Stream(_read_buffer_pos=5)
    assert compat.searches_from_buffer_start(offset) is (compat.TORNADO_VERSION >= (6, 3))


def test_grouped_fields_is_the_table_get_all_walks() -> None:
    headers = httputil.HTTPHeaders()
    for name, value in FIELDS[3] + [("Content-Length", "0")]:
        headers.add(name, value)
    grouped = compat.grouped_fields(headers)
    assert grouped is not None
    assert [(name, value) for name, values in grouped.items() for value in values] == list(
        headers.get_all()
    )
    # The live table: what is set or deleted later shows in it.
    headers["Transfer-Encoding"] = "chunked"
    del headers["Content-Length"]
    assert grouped.get("Transfer-Encoding") == ["chunked"] and "Content-Length" not in grouped


def test_a_subclass_of_httpheaders_is_listed_by_its_own_get_all() -> None:
    class Listed(httputil.HTTPHeaders):
        def get_all(self):  # type: ignore[no-untyped-def]
            yield ("X-Listed", "1")

    assert compat.grouped_fields(Listed()) is None
    assert compat.grouped_fields(httputil.HTTPHeaders()) is not None
