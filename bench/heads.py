"""A browser's request head to Tornado's HTTPHeaders: ours, stock Tornado's, llhttp's.

Usage::

    python bench/heads.py [--number 20000] [--repeat 7]

A profiling aid, not a scenario.  Times, per head, the work from the head's
bytes (a 595-byte GET with the fields a current browser sends) to the
`HTTPHeaders` a delegate receives:

- ``h1alt``: our core (whichever build runs: `tornado_h1alt.BUILD`) finds
  the head's end, checks the head against the RFC grammar and splits it;
  the adapter's `compat.headers_from_fields` builds the HTTPHeaders;
- ``stock``: what Tornado's own engine does (`parse_request_start_line` and
  `HTTPHeaders.parse`);
- ``httptools``: llhttp splitting the head (uvicorn's and aiohttp's parser,
  validating less than we do), then `HTTPHeaders.add` per field.

Prints the best time per head of ``--repeat`` batches (the least disturbed
by the host), in microseconds.  Run it once with
``TORNADO_H1ALT_NO_EXTENSIONS=1`` for the pure-Python build.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from typing import Any, Callable, List, Optional, Tuple

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tornado import httputil  # noqa: E402

import tornado_h1alt  # noqa: E402
from bench.scenarios import browser_head  # noqa: E402
from tornado_h1alt import compat  # noqa: E402
from tornado_h1alt.h1 import Exchange, RequestHead  # noqa: E402

# What the browser-bare and browser-web scenarios send (lua/browser_head.txt).
BROWSER_HEAD = browser_head()


def h1alt(head: bytes = BROWSER_HEAD) -> httputil.HTTPHeaders:
    exchange = Exchange(False, max_header_size=65536, chunk_size=65536)
    exchange.receive_data(head)
    event = exchange.next_event()
    assert isinstance(event, RequestHead)
    return compat.headers_from_fields(event.fields)


def stock(head: bytes = BROWSER_HEAD) -> httputil.HTTPHeaders:
    data = head.decode("latin1")
    eol = data.find("\n")
    httputil.parse_request_start_line(data[:eol].rstrip("\r"))
    return httputil.HTTPHeaders.parse(data[eol:])


def _httptools() -> Optional[Callable[[], httputil.HTTPHeaders]]:
    try:
        import httptools  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None

    class Fields:
        def __init__(self) -> None:
            self.fields: List[Tuple[bytes, bytes]] = []

        def on_header(self, name: bytes, value: bytes) -> None:
            self.fields.append((name, value))

    def parse(head: bytes = BROWSER_HEAD) -> httputil.HTTPHeaders:
        sink = Fields()
        httptools.HttpRequestParser(sink).feed_data(head)
        headers = httputil.HTTPHeaders()
        for name, value in sink.fields:
            headers.add(name.decode("latin1"), value.decode("latin1"))
        return headers

    return parse


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20000, help="heads per batch")
    parser.add_argument("--repeat", type=int, default=7, help="batches")
    args = parser.parse_args(argv)
    parsers: List[Tuple[str, Any]] = [("h1alt (%s)" % tornado_h1alt.BUILD, h1alt), ("stock", stock)]
    llhttp = _httptools()
    if llhttp is not None:
        parsers.append(("httptools", llhttp))
    reference = sorted(stock().get_all())
    print("%d-byte head, %d fields" % (len(BROWSER_HEAD), len(reference)))
    for name, function in parsers:
        assert sorted(function().get_all()) == reference, name
        best = min(timeit.repeat(function, number=args.number, repeat=args.repeat))
        print("%-18s %6.2f us" % (name, best / args.number * 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
