"""The scenarios, as data: what each one sends, to which app, and what it reports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

KIB = 1024
MIB = 1024 * 1024
HELLO = "Hello world"

# The browser-like GET (browser-bare, browser-web): its head, one line per
# line, which lua/browser.lua sends verbatim and `browser_head` returns.
BROWSER_HEAD_FILE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "lua", "browser_head.txt"
)
# The path its request line asks for (without the query), which both apps serve.
BROWSER_PATH = "/products/search"


def browser_head() -> bytes:
    """The browser-like request head, as lua/browser.lua sends it: the lines
    of `BROWSER_HEAD_FILE` joined with CRLF, then the empty line."""
    with open(BROWSER_HEAD_FILE, encoding="latin-1") as lines:
        kept = [line.rstrip("\r\n") for line in lines]
    return ("\r\n".join(line for line in kept if line) + "\r\n\r\n").encode("latin-1")


def browser_fields() -> List[Tuple[str, str]]:
    """The header fields of `browser_head`, in order (for clients that send them)."""
    lines = browser_head().decode("latin-1").split("\r\n")[1:]
    return [
        (name, value.strip()) for name, _, value in (line.partition(":") for line in lines if line)
    ]


def browser_target() -> str:
    """The request-target of `browser_head` (path and query)."""
    return browser_head().split(b" ", 2)[1].decode("ascii")


@dataclass(frozen=True)
class Scenario:
    """One line of the results table."""

    name: str
    title: str
    kind: str  # "wrk": wrk against both servers; "fetch": client loop; "rss": idle connections
    unit: str
    higher_is_better: bool
    description: str
    app: str = "bare"
    path: str = "/"
    script: str = "get.lua"
    script_args: Tuple[str, ...] = ()
    expect_body: Optional[str] = None
    expect_len: Optional[int] = None
    # For wrk scenarios reported in MB/s: bytes per request that the rate counts.
    bytes_per_request: int = 0
    # For fetch scenarios: the fetch_client --client run on the h1alt side
    # (the stock side is always stock SimpleAsyncHTTPClient).
    h1alt_client: str = "h1alt"

    def value_from_requests_per_s(self, requests_per_s: float) -> float:
        """The reported number for a wrk run: req/s, or MB/s (10**6 bytes) of body."""
        if self.unit == "req/s":
            return requests_per_s
        if self.unit == "MB/s":
            return requests_per_s * self.bytes_per_request / 1e6
        raise ValueError("scenario %s: no wrk value for unit %r" % (self.name, self.unit))

    def verify_args(self) -> Tuple[str, ...]:
        """Script arguments that make the Lua script check every response."""
        args = list(self.script_args)
        if self.expect_body is not None:
            args.append("expect_body=" + self.expect_body)
        if self.expect_len is not None:
            args.append("expect_len=%d" % self.expect_len)
        return tuple(args)


SCENARIOS: List[Scenario] = [
    Scenario(
        name="hello-bare",
        title="hello, bare delegate",
        kind="wrk",
        unit="req/s",
        higher_is_better=True,
        description="GET / answered 'Hello world' by a minimal HTTPServerConnectionDelegate; "
        "keep-alive. Mostly the cost of the HTTP/1 engine itself.",
        expect_body=HELLO,
    ),
    Scenario(
        name="hello-web",
        title="hello, tornado.web",
        kind="wrk",
        unit="req/s",
        higher_is_better=True,
        app="web",
        description="GET / answered by a tornado.web.Application RequestHandler; keep-alive. "
        "The engine's share is diluted by routing and RequestHandler.",
        expect_body=HELLO,
    ),
    Scenario(
        name="browser-bare",
        title="browser-like GET, bare delegate",
        kind="wrk",
        unit="req/s",
        higher_is_better=True,
        path=BROWSER_PATH,
        script="browser.lua",
        description="As hello-bare, with the 595-byte head a current browser sends for a page "
        "(User-Agent, Accept*, Cookie, Referer, Sec-Fetch-*, ...; lua/browser_head.txt): "
        "the cost of parsing a real head and building its HTTPHeaders.",
        expect_body=HELLO,
    ),
    Scenario(
        name="browser-web",
        title="browser-like GET, tornado.web",
        kind="wrk",
        unit="req/s",
        higher_is_better=True,
        app="web",
        path=BROWSER_PATH,
        script="browser.lua",
        description="The browser-like GET of browser-bare through a tornado.web.Application "
        "RequestHandler.",
        expect_body=HELLO,
    ),
    Scenario(
        name="pipeline16",
        title="16-deep pipelining",
        kind="wrk",
        unit="req/s",
        higher_is_better=True,
        script="pipeline.lua",
        script_args=("depth=16",),
        description="16 GET requests per write on each connection (bare app); shows per-request "
        "overhead once the syscall per request is amortised.",
        expect_body=HELLO,
    ),
    Scenario(
        name="post64k",
        title="POST 64 KiB body",
        kind="wrk",
        unit="req/s",
        higher_is_better=True,
        path="/upload",
        script="post.lua",
        script_args=("size=%d" % (64 * KIB),),
        description="POST with a 64 KiB Content-Length body, read and discarded (bare app).",
        expect_body=str(64 * KIB),
    ),
    Scenario(
        name="chunked-1k",
        title="chunked upload, 1 KiB chunks",
        kind="wrk",
        unit="MB/s",
        higher_is_better=True,
        path="/upload",
        script="chunked.lua",
        script_args=("total=%d" % (256 * KIB), "chunk=%d" % KIB),
        bytes_per_request=256 * KIB,
        description="POST of a 256 KiB body with Transfer-Encoding: chunked in 1 KiB chunks "
        "(bare app); MB/s of request body. Stresses the chunk-size-line parser.",
        expect_body=str(256 * KIB),
    ),
    Scenario(
        name="chunked-16k",
        title="chunked upload, 16 KiB chunks",
        kind="wrk",
        unit="MB/s",
        higher_is_better=True,
        path="/upload",
        script="chunked.lua",
        script_args=("total=%d" % (256 * KIB), "chunk=%d" % (16 * KIB)),
        bytes_per_request=256 * KIB,
        description="As chunked-1k with 16 KiB chunks: closer to bulk body throughput.",
        expect_body=str(256 * KIB),
    ),
    Scenario(
        name="response-1mib",
        title="1 MiB response",
        kind="wrk",
        unit="MB/s",
        higher_is_better=True,
        path="/1mib",
        bytes_per_request=MIB,
        description="GET /1mib, a 1 MiB Content-Length body (bare app); MB/s of response body.",
        expect_len=MIB,
    ),
    Scenario(
        name="client-fetch",
        title="simple_httpclient fetch loop",
        kind="fetch",
        unit="req/s",
        higher_is_better=True,
        description="One client process doing sequential fetch()es of GET / with stock "
        "SimpleAsyncHTTPClient vs tornado_h1alt.SimpleAsyncHTTPClient, against the same "
        "stock-engine bare server. simple_httpclient opens a connection per fetch.",
    ),
    Scenario(
        name="client-keepalive",
        title="keep-alive client fetch loop",
        kind="fetch",
        unit="req/s",
        higher_is_better=True,
        h1alt_client="keepalive",
        description="As client-fetch, but the h1alt side is tornado_h1alt.KeepAliveHTTPClient, "
        "which reuses one pooled connection; stock SimpleAsyncHTTPClient opens one per fetch. "
        "The connections each run opened, counted by the server, are in the report.",
    ),
    Scenario(
        name="idle-rss",
        title="RSS per idle keep-alive connection",
        kind="rss",
        unit="KiB/conn",
        higher_is_better=False,
        description="Open N idle keep-alive connections (one request each) to a fresh server; "
        "(VmRSS after - VmRSS before) / N. Lower is better.",
    ),
]

SCENARIOS_BY_NAME: Dict[str, Scenario] = {scenario.name: scenario for scenario in SCENARIOS}


def select(names: Optional[str]) -> List[Scenario]:
    """The scenarios named in a comma-separated list (all of them for None or "all").

    Keeps the table's order; raises ValueError naming any unknown scenario.
    """
    if names is None or names.strip() in ("", "all"):
        return list(SCENARIOS)
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in SCENARIOS_BY_NAME]
    if unknown:
        raise ValueError(
            "unknown scenario(s) %s; choose from %s"
            % (", ".join(unknown), ", ".join(SCENARIOS_BY_NAME))
        )
    return [scenario for scenario in SCENARIOS if scenario.name in wanted]
