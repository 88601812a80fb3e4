"""The fetch scenarios' client process: N sequential fetches, one JSON line out.

Usage::

    python bench/fetch_client.py --client stock|h1alt|keepalive --url http://127.0.0.1:N/ \
        [--requests 2000] [--warmup 100] [--expect-body "Hello world"]

``--client stock`` uses `tornado.simple_httpclient.SimpleAsyncHTTPClient`,
``--client h1alt`` uses `tornado_h1alt.SimpleAsyncHTTPClient` and
``--client keepalive`` `tornado_h1alt.KeepAliveHTTPClient`. Every response
must be a 200 with the expected body, or the process exits with status 1.
The last line on stdout is a JSON object with ``requests``, ``seconds`` and
``requests_per_s``, the module of the connection class that did the work, and
``connections_opened``: how many connections the server accepted during the
measured loop, and ``connections_opened_with_warmup`` the same counting the
warm-up fetches too (from the bench server's ``GET /connections``; null if
the server does not answer it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.parse
from typing import Any, Dict, List, Optional

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)


def make_client(kind: str) -> Any:
    """A fresh (not cached) client of the requested engine."""
    if kind == "stock":
        from tornado.simple_httpclient import SimpleAsyncHTTPClient
    elif kind == "h1alt":
        from tornado_h1alt import SimpleAsyncHTTPClient
    elif kind == "keepalive":
        from tornado_h1alt import KeepAliveHTTPClient as SimpleAsyncHTTPClient
    else:
        raise ValueError("unknown client %r" % kind)
    return SimpleAsyncHTTPClient(force_instance=True)


async def fetch_loop(client: Any, url: str, count: int, expect_body: bytes) -> float:
    """Fetch `url` `count` times one after another; the elapsed seconds."""
    start = time.perf_counter()
    for _ in range(count):
        response = await client.fetch(url, raise_error=False)
        if response.code != 200 or response.body != expect_body:
            raise SystemExit(
                "unexpected response: code=%r body=%r error=%r"
                % (response.code, (response.body or b"")[:80], response.error)
            )
    return time.perf_counter() - start


async def connections_accepted(url: str) -> Optional[int]:
    """The server's count of accepted connections (this query's own included), or None.

    Asked with a stock client of its own (one new connection, closed after),
    outside the timed loop, so that the pool under test is not involved.
    """
    from tornado.simple_httpclient import SimpleAsyncHTTPClient

    parts = urllib.parse.urlsplit(url)
    query = SimpleAsyncHTTPClient(force_instance=True)
    try:
        response = await query.fetch(
            "%s://%s/connections" % (parts.scheme, parts.netloc), raise_error=False
        )
        return int(response.body) if response.code == 200 else None
    except ValueError:
        return None
    finally:
        query.close()


async def run(
    kind: str, url: str, requests: int, warmup: int, expect_body: bytes
) -> Dict[str, Any]:
    """Warm up, then time the loop, counting the connections the server accepted."""
    client = make_client(kind)
    try:
        connection_module = client._connection_class().__module__
        at_start = await connections_accepted(url)
        await fetch_loop(client, url, warmup, expect_body)
        before = await connections_accepted(url)
        seconds = await fetch_loop(client, url, requests, expect_body)
        after = await connections_accepted(url)
    finally:
        client.close()
    opened = opened_in_all = None
    if at_start is not None and before is not None and after is not None:
        # Each count includes the query that asked for it.
        opened = after - before - 1
        opened_in_all = after - at_start - 2
    build = None
    if kind != "stock":
        import tornado_h1alt

        build = str(getattr(tornado_h1alt, "BUILD", "pure"))
    return {
        "client": kind,
        "connection_module": connection_module,
        # Which build of tornado_h1alt the client ran (None: stock's client).
        "build": build,
        "requests": requests,
        "seconds": seconds,
        "requests_per_s": requests / seconds if seconds > 0 else float("nan"),
        "connections_opened": opened,
        "connections_opened_with_warmup": opened_in_all,
    }


def main(argv: Optional[List[str]] = None) -> None:
    """Parse the command line, run, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", choices=["stock", "h1alt", "keepalive"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--expect-body", default="Hello world")
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(args.client, args.url, args.requests, args.warmup, args.expect_body.encode())
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
