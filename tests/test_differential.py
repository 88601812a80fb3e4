"""One suite, two engines: the same bytes on the wire to stock Tornado and to us.

Each case is sent on a fresh connection to a server running either stock
Tornado's ``tornado.httpserver.HTTPServer`` (tornado_h1alt not installed) or
``tornado_h1alt.HTTPServer``, both serving the same recording
`tornado.web.Application`.  Only what a peer and the application can observe
is compared: the sequence of response status codes, whether the server
closed the connection, and the requests the application saw.

A case has one expected outcome for both engines unless it says otherwise;
every difference is spelled out in ``differs`` with the RFC section that
justifies it (or marked as a tornado_h1alt bug).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import pytest
import tornado
import tornado.httpserver
import tornado.web
from h1wire import exchange, parse_responses
from tornado.ioloop import IOLoop

import tornado_h1alt

# Never reached when an engine behaves as expected (the server closes).
HANG_GUARD = 5.0
# The Tornado release whose stock behaviour the case table records.
TABLE_TORNADO = (6, 6)
# Inputs on which stock Tornado before 6.3.3 never returns (int(x, 16)
# accepted a sign, and a negative chunk length loops for ever).
STOCK_HANGS = {"chunk-size-negative": "a negative chunk size loops forever (fixed in 6.3.3)"}

Seen = Tuple[str, str, str, List[Tuple[str, str]], bytes]


class Observation(NamedTuple):
    statuses: List[int]
    closed: bool
    seen: List[Seen]


class Outcome(NamedTuple):
    statuses: Sequence[int]
    closed: bool = True
    seen: Sequence[Seen] = ()


class Case(NamedTuple):
    id: str
    wire: bytes
    expect: Outcome
    # engine name -> its own outcome, where the engines legitimately differ
    differs: Optional[Dict[str, Outcome]] = None
    methods: Sequence[str] = ()  # request methods, for parsing HEAD responses


def seen(method: str, uri: str, *fields: str, body: bytes = b"", version: str = "HTTP/1.1") -> Seen:
    """What the application sees of one request; ``fields`` as "Name: value"."""
    headers = []
    for field in fields:
        name, _, value = field.partition(": ")
        headers.append((name, value))
    return (method, uri, version, headers, body)


BAD = Outcome([400])  # "HTTP/1.1 400 Bad Request", then the server closes
H = b"Host: x\r\n"
CLOSE = b"Connection: close\r\n"
POST_CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"

# A chunked POST of "hello" that the engine accepted (where only we accept it).
CHUNKED_HELLO_ACCEPTED = Outcome(
    [200],
    seen=[
        seen(
            "POST",
            "/",
            "Host: x",
            "Transfer-Encoding: chunked",
            "Connection: close",
            body=b"hello",
        )
    ],
)

CASES = [
    # -- valid requests ----------------------------------------------------------
    Case(
        "get",
        b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Outcome([200], seen=[seen("GET", "/a?b=1", "Host: x", "Connection: close")]),
    ),
    Case(
        "post-content-length",
        b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        Outcome(
            [200],
            seen=[
                seen(
                    "POST", "/p", "Host: x", "Content-Length: 5", "Connection: close", body=b"hello"
                )
            ],
        ),
    ),
    Case(
        "post-chunked",
        POST_CHUNKED + CLOSE + b"\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        Outcome(
            [200],
            seen=[
                seen(
                    "POST",
                    "/",
                    "Host: x",
                    "Transfer-Encoding: chunked",
                    "Connection: close",
                    body=b"hello world",
                )
            ],
        ),
    ),
    Case(
        "chunked-coding-name-is-case-insensitive",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n"
        + CLOSE
        + b"\r\n5\r\nhello\r\n0\r\n\r\n",
        Outcome(
            [200],
            seen=[
                seen(
                    "POST",
                    "/",
                    "Host: x",
                    "Transfer-Encoding: Chunked",
                    "Connection: close",
                    body=b"hello",
                )
            ],
        ),
    ),
    Case(
        "pipelined",
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Outcome(
            [200, 200, 200],
            seen=[
                seen("GET", "/1", "Host: x"),
                seen("POST", "/2", "Host: x", "Content-Length: 3", body=b"abc"),
                seen("GET", "/3", "Host: x", "Connection: close"),
            ],
        ),
    ),
    Case(
        "head-then-get",
        b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /g HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Outcome(
            [200, 200],
            seen=[seen("HEAD", "/h", "Host: x"), seen("GET", "/g", "Host: x", "Connection: close")],
        ),
        methods=["HEAD", "GET"],
    ),
    Case(
        "bad-request-after-good-one",
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
        Outcome([200, 400], seen=[seen("GET", "/1", "Host: x")]),
    ),
    Case(
        # RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line.
        "leading-crlf",
        b"\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Outcome([200], seen=[seen("GET", "/", "Host: x", "Connection: close")]),
    ),
    Case(
        # RFC 9112 2.2: a recipient MAY recognize a single LF as a line terminator.
        "bare-lf-line-endings",
        b"GET / HTTP/1.1\nHost: x\nConnection: close\n\n",
        Outcome([200], seen=[seen("GET", "/", "Host: x", "Connection: close")]),
    ),
    Case(
        "absolute-form-target",
        b"GET http://x/p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Outcome([200], seen=[seen("GET", "http://x/p", "Host: x", "Connection: close")]),
    ),
    Case(
        "obs-text-and-whitespace-in-values",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\nX-B:\tb \t\r\nX-E:\r\n"
        b"Connection: close\r\n\r\n",
        Outcome(
            [200],
            seen=[
                seen("GET", "/", "Host: x", "X-A: caf\xe9", "X-B: b", "X-E: ", "Connection: close")
            ],
        ),
    ),
    Case(
        "http10-without-host-is-fine",
        b"GET / HTTP/1.0\r\n\r\n",
        Outcome([200], seen=[seen("GET", "/", version="HTTP/1.0")]),
    ),
    Case(
        "http10-keep-alive",
        b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
        Outcome(
            [200, 200],
            seen=[
                seen("GET", "/1", "Connection: keep-alive", version="HTTP/1.0"),
                seen("GET", "/2", version="HTTP/1.0"),
            ],
        ),
    ),
    Case(
        "expect-100-continue",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
        + CLOSE
        + b"\r\nhello",
        Outcome(
            [100, 200],
            seen=[
                seen(
                    "POST",
                    "/",
                    "Host: x",
                    "Content-Length: 5",
                    "Expect: 100-continue",
                    "Connection: close",
                    body=b"hello",
                )
            ],
        ),
    ),
    Case(
        # RFC 9110 8.6: identical Content-Length values may be accepted, "replacing
        # the duplicated field values with a single valid Content-Length field";
        # Tornado does exactly that, so the application sees "5".
        "content-length-list-equal",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n" + CLOSE + b"\r\nhello",
        Outcome(
            [200],
            seen=[
                seen(
                    "POST", "/", "Host: x", "Content-Length: 5", "Connection: close", body=b"hello"
                )
            ],
        ),
    ),
    Case(
        "content-length-twice-equal",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
        + CLOSE
        + b"\r\nhello",
        Outcome(
            [200],
            seen=[
                seen(
                    "POST", "/", "Host: x", "Content-Length: 5", "Connection: close", body=b"hello"
                )
            ],
        ),
    ),
    # -- malformed: both engines answer 400 and close ------------------------------
    Case("request-line-double-space", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", BAD),
    Case("request-line-trailing-space", b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", BAD),
    Case("request-line-invalid-method", b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", BAD),
    Case("request-line-lowercase-version", b"GET / http/1.1\r\nHost: x\r\n\r\n", BAD),
    Case("http09-request-line", b"GET /\r\n\r\n", BAD),
    Case("garbage", b"GARBAGE\r\n\r\n", BAD),
    Case("folded-header", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", BAD),
    Case("whitespace-before-first-header", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", BAD),
    Case("space-before-colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", BAD),
    Case("invalid-field-name", b"GET / HTTP/1.1\r\nHost: x\r\nX[A]: 1\r\n\r\n", BAD),
    Case("nul-in-header-value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", BAD),
    Case("bare-cr-in-header-value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", BAD),
    Case("del-in-header-value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", BAD),
    Case("missing-host-http11", b"GET / HTTP/1.1\r\n\r\n", BAD),
    Case("two-host-headers", b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", BAD),
    Case("host-with-comma", b"GET / HTTP/1.1\r\nHost: x, y\r\n\r\n", BAD),
    Case("host-invalid", b"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n", BAD),
    Case(
        "content-length-plus", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", BAD
    ),
    Case(
        "content-length-hex", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", BAD
    ),
    Case(
        "content-length-list-unequal",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello",
        BAD,
    ),
    Case(
        "content-length-twice-unequal",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        BAD,
    ),
    Case(
        # RFC 9110 15.5.14: a body over the server's limit (here the default
        # max_body_size, 100 MiB) gets 413 (Content Too Large).
        "content-length-too-large",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\nhello",
        BAD,
        differs={"h1alt": Outcome([413])},
    ),
    Case(
        "te-chunked-chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        BAD,
    ),
    Case(
        "te-gzip-chunked",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        BAD,
    ),
    Case("te-identity", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", BAD),
    Case("te-empty", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n", BAD),
    Case(
        "te-and-content-length",
        POST_CHUNKED + b"Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        BAD,
    ),
    Case("chunk-size-0x-prefix", POST_CHUNKED + b"\r\n0x5\r\nhello\r\n0\r\n\r\n", BAD),
    Case("chunk-size-negative", POST_CHUNKED + b"\r\n-5\r\nhello\r\n0\r\n\r\n", BAD),
    Case("chunk-size-huge", POST_CHUNKED + b"\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", BAD),
    Case("chunk-size-bare-lf", POST_CHUNKED + b"\r\n5\nhello\r\n0\r\n\r\n", BAD),
    Case("chunk-data-missing-crlf", POST_CHUNKED + b"\r\n5\r\nhelloX\r\n0\r\n\r\n", BAD),
    Case(
        # A head of exactly max_header_size (65536) bytes, end included, fits.
        "header-section-at-the-limit",
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
        + b"a" * (65536 - 51 - 4)
        + b"\r\n\r\n",
        Outcome(
            [200],
            seen=[seen("GET", "/", "Host: x", "Connection: close", "X-Big: " + "a" * 65481)],
        ),
    ),
    Case(
        # RFC 9110 2.5: a 1.x minor version we do not know is answered as 1.1.
        # (Stock Tornado treats it as 1.0; either way this request is served and closed.)
        "http-1.2",
        b"GET / HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n",
        Outcome([200], seen=[seen("GET", "/", "Host: x", "Connection: close", version="HTTP/1.2")]),
    ),
    # -- where tornado_h1alt is deliberately different ------------------------------
    Case(
        # RFC 6585 5: a header section over max_header_size gets 431 (Request
        # Header Fields Too Large).  Stock's IOStream refuses the read and
        # closes before any parser sees the head.
        "header-section-too-large",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
        Outcome([431]),
        differs={"stock": Outcome([])},
    ),
    Case(
        # The same with many short lines, and no end in sight.
        "header-section-too-large-many-lines",
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: a\r\n" * 20000,
        Outcome([431]),
        differs={"stock": Outcome([])},
    ),
    Case(
        # RFC 9112 3: a request-target longer than the server will parse gets
        # 414 (URI Too Long).
        "request-target-too-long",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        Outcome([414]),
        differs={"stock": Outcome([])},
    ),
    Case(
        # A first line over the limit that is not a request line is just bad.
        "start-line-too-long-garbage",
        b"\x01" * 70000 + b"\r\n\r\n",
        BAD,
        differs={"stock": Outcome([])},
    ),
    Case(
        # RFC 9110 15.6.6: 505 (HTTP Version Not Supported) for a major version
        # the server does not support; Tornado 6.6 answers 400.
        "http-2.0-request-line",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        BAD,
        differs={"h1alt": Outcome([505])},
    ),
    Case(
        # RFC 9112 7.1.1: a recipient MUST ignore unrecognized chunk extensions;
        # Tornado 6.6 rejects any chunk extension as an invalid chunk size.
        "chunk-extension",
        POST_CHUNKED + CLOSE + b"\r\n5;ext=1\r\nhello\r\n0;last\r\n\r\n",
        BAD,
        differs={"h1alt": CHUNKED_HELLO_ACCEPTED},
    ),
    Case(
        # RFC 9112 7.1.2: a trailer section may follow the last chunk and a
        # recipient must be able to parse it; Tornado 6.6 requires CRLF
        # directly after "0\r\n".
        "trailer-fields",
        POST_CHUNKED + CLOSE + b"\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n",
        BAD,
        differs={"h1alt": CHUNKED_HELLO_ACCEPTED},
    ),
    Case(
        # RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding must be
        # treated as having faulty framing and the connection closed after
        # processing it, even with keep-alive; Tornado keeps it open and
        # answers the next request.
        "http10-transfer-encoding-closes",
        b"POST /1 HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: keep-alive\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
        Outcome(
            [200, 200],
            seen=[
                seen(
                    "POST",
                    "/1",
                    "Host: x",
                    "Transfer-Encoding: chunked",
                    "Connection: keep-alive",
                    body=b"hello",
                    version="HTTP/1.0",
                ),
                seen("GET", "/2", version="HTTP/1.0"),
            ],
        ),
        differs={
            "h1alt": Outcome(
                [200],
                seen=[
                    seen(
                        "POST",
                        "/1",
                        "Host: x",
                        "Transfer-Encoding: chunked",
                        "Connection: keep-alive",
                        body=b"hello",
                        version="HTTP/1.0",
                    )
                ],
            )
        },
    ),
    Case(
        # RFC 9110 10.1.1: a server that receives a 100-continue expectation in
        # an HTTP/1.0 request MUST ignore it; Tornado sends "100 (Continue)".
        "http10-expect-100-continue-ignored",
        b"POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
        Outcome(
            [100, 200],
            seen=[
                seen(
                    "POST",
                    "/",
                    "Host: x",
                    "Content-Length: 5",
                    "Expect: 100-continue",
                    body=b"hello",
                    version="HTTP/1.0",
                )
            ],
        ),
        differs={
            "h1alt": Outcome(
                [200],
                seen=[
                    seen(
                        "POST",
                        "/",
                        "Host: x",
                        "Content-Length: 5",
                        "Expect: 100-continue",
                        body=b"hello",
                        version="HTTP/1.0",
                    )
                ],
            )
        },
    ),
    Case(
        # RFC 9110 7.6.1 / RFC 9112 9.6: "close" is a connection option that may
        # appear in a list; the server MUST close after its response.  Tornado
        # only recognises a Connection field that is exactly "close".
        "connection-option-list-with-close",
        b"GET /1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n"
        b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Outcome(
            [200, 200],
            seen=[
                seen("GET", "/1", "Host: x", "Connection: keep-alive, close"),
                seen("GET", "/2", "Host: x", "Connection: close"),
            ],
        ),
        differs={
            "h1alt": Outcome(
                [200], seen=[seen("GET", "/1", "Host: x", "Connection: keep-alive, close")]
            )
        },
    ),
    Case(
        # RFC 9112 6.3 rule 7: a request with neither Content-Length nor
        # Transfer-Encoding has an empty body, so its end is known and the
        # HTTP/1.0 keep-alive (RFC 9112 9.3) can be honoured, and we answer both
        # requests.  Tornado only keeps an HTTP/1.0 connection alive for a GET, a
        # HEAD or a request with an explicit length, so it closes after this
        # POST -- yet its request loop still reads the already-buffered GET /2
        # and runs it through the application, whose response is then lost.
        "http10-keep-alive-post-without-length",
        b"POST /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
        Outcome(
            [200],
            seen=[
                seen("POST", "/1", "Connection: keep-alive", version="HTTP/1.0"),
                seen("GET", "/2", version="HTTP/1.0"),
            ],
        ),
        differs={
            "h1alt": Outcome(
                [200, 200],
                seen=[
                    seen("POST", "/1", "Connection: keep-alive", version="HTTP/1.0"),
                    seen("GET", "/2", version="HTTP/1.0"),
                ],
            )
        },
    ),
    # -- RFC round two -------------------------------------------------------------------
    Case(
        # RFC 9112 9.6: a server that sends the "close" connection option MUST
        # close the connection after that response.  Tornado sends the
        # application's "Connection: close" and then serves the next request.
        "application-says-close",
        b"GET /app-close HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n"
        + CLOSE
        + b"\r\n",
        Outcome(
            [200, 200],
            seen=[
                seen("GET", "/app-close", "Host: x"),
                seen("GET", "/2", "Host: x", "Connection: close"),
            ],
        ),
        differs={"h1alt": Outcome([200], seen=[seen("GET", "/app-close", "Host: x")])},
    ),
    Case(
        "host-ipv6-literal-with-port",
        b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n" + CLOSE + b"\r\n",
        Outcome([200], seen=[seen("GET", "/", "Host: [::1]:8080", "Connection: close")]),
    ),
    Case(
        # RFC 9112 3.2: a server MUST answer 400 to an invalid Host value;
        # RFC 3986's uri-host allows "[" only around an IP literal.  Tornado
        # 6.6 allows "[", "]" and ":" anywhere.
        "host-bracket-in-reg-name",
        b"GET / HTTP/1.1\r\nHost: a[b\r\n" + CLOSE + b"\r\n",
        Outcome([200], seen=[seen("GET", "/", "Host: a[b", "Connection: close")]),
        differs={"h1alt": BAD},
    ),
    Case(
        # As above: Host = uri-host [ ":" port ], one port at most.
        "host-two-ports",
        b"GET / HTTP/1.1\r\nHost: x:80:80\r\n" + CLOSE + b"\r\n",
        Outcome([200], seen=[seen("GET", "/", "Host: x:80:80", "Connection: close")]),
        differs={"h1alt": BAD},
    ),
    Case(
        # RFC 9110 5.6.1: a recipient MUST parse and ignore a reasonable
        # number of empty list elements.  Tornado compares the whole value
        # with "chunked".
        "te-list-with-empty-element",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked,\r\n"
        + CLOSE
        + b"\r\n5\r\nhello\r\n0\r\n\r\n",
        BAD,
        differs={
            "h1alt": Outcome(
                [200],
                seen=[
                    seen(
                        "POST",
                        "/",
                        "Host: x",
                        "Transfer-Encoding: chunked,",
                        "Connection: close",
                        body=b"hello",
                    )
                ],
            )
        },
    ),
    Case(
        # RFC 9112 7.1: chunk-size = 1*HEXDIG, guarded against overflow by its
        # value; leading zeros are valid digits (we refused more than 16
        # digits before, as the only engine to).
        "chunk-size-leading-zeros",
        POST_CHUNKED + CLOSE + b"\r\n" + b"0" * 30 + b"5\r\nhello\r\n0\r\n\r\n",
        CHUNKED_HELLO_ACCEPTED,
    ),
    Case(
        # RFC 9110 8.6: the same for Content-Length = 1*DIGIT.
        "content-length-leading-zeros",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + b"0" * 30
        + b"5\r\n"
        + CLOSE
        + b"\r\nhello",
        Outcome(
            [200],
            seen=[
                seen(
                    "POST",
                    "/",
                    "Host: x",
                    "Content-Length: " + "0" * 30 + "5",
                    "Connection: close",
                    body=b"hello",
                )
            ],
        ),
        differs={
            "h1alt": Outcome(
                [200],
                seen=[
                    seen(
                        "POST",
                        "/",
                        "Host: x",
                        "Content-Length: 5",
                        "Connection: close",
                        body=b"hello",
                    )
                ],
            )
        },
    ),
    Case(
        # RFC 9112 3.2.4: the asterisk-form, for OPTIONS.
        "options-asterisk-form",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",
        Outcome([200], seen=[seen("OPTIONS", "*", "Host: x", "Connection: close")]),
    ),
    Case(
        # RFC 9112 3.2: a request-target is origin-form ("/..."), absolute-form,
        # authority-form (CONNECT) or asterisk-form (OPTIONS).  Tornado takes
        # any visible characters.
        "target-neither-path-nor-uri",
        b"GET a/b HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",
        Outcome([200], seen=[seen("GET", "a/b", "Host: x", "Connection: close")]),
        differs={"h1alt": BAD},
    ),
    Case(
        # RFC 9112 3.2.4: the asterisk-form is only for OPTIONS.
        "asterisk-form-with-get",
        b"GET * HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n",
        Outcome([200], seen=[seen("GET", "*", "Host: x", "Connection: close")]),
        differs={"h1alt": BAD},
    ),
]


class RecordingHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")

    def _record(self, *args: str) -> None:
        request = self.request
        if request.path == "/app-close":
            # The application ends the connection with this response.
            self.set_header("Connection", "close")
        self.settings["seen"].append(
            (
                request.method,
                request.uri,
                request.version,
                list(request.headers.get_all()),
                request.body,
            )
        )
        self.settings["engines"].append(type(request.connection).__module__)
        self.write("ok")

    get = head = post = put = delete = options = patch = _record


class Server(NamedTuple):
    engine: str
    port: int
    seen: List[Seen]
    engines: List[str]  # the module of each request's HTTPConnection


@pytest.fixture(params=["stock", "h1alt"])
def server(
    request: pytest.FixtureRequest, io_loop: IOLoop, http_server_port: Any
) -> Iterator[Server]:
    """A server on the stock engine or on ours, serving the recording application."""
    engine = request.param
    seen_requests: List[Seen] = []
    engines: List[str] = []
    app = tornado.web.Application([(r".*", RecordingHandler)], seen=seen_requests, engines=engines)
    if engine == "stock":
        assert not tornado_h1alt.is_installed()
        http_server = tornado.httpserver.HTTPServer(app)
        # Not configured to some other implementation either.
        assert type(http_server) is tornado.httpserver.HTTPServer
    else:
        http_server = tornado_h1alt.HTTPServer(app)
    sock, port = http_server_port
    http_server.add_socket(sock)
    yield Server(engine, port, seen_requests, engines)
    http_server.stop()
    io_loop.run_sync(http_server.close_all_connections)


async def observe(server: Server, case: Case) -> Observation:
    data, closed = await exchange(server.port, case.wire, timeout=HANG_GUARD)
    statuses = [response.status for response in parse_responses(data, case.methods)]
    return Observation(statuses, closed, list(server.seen))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_same_wire_same_observation(
    server: Server, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    if server.engine == "stock" and case.id in STOCK_HANGS and tornado.version_info < (6, 3, 3):
        # Not an xfail: the stock server would spin forever on the IOLoop
        # and take the whole test process with it.
        pytest.skip(
            "stock Tornado %s hangs on this input: %s" % (tornado.version, STOCK_HANGS[case.id])
        )
    expected = (case.differs or {}).get(server.engine, case.expect)
    wanted = Observation(list(expected.statuses), expected.closed, list(expected.seen))
    observation = await observe(server, case)
    if server.engine == "stock" and observation != wanted and tornado.version_info < TABLE_TORNADO:
        # The table records stock Tornado 6.6's behaviour.  Older releases
        # are laxer (that is why their users want tornado_h1alt); their
        # divergences are shown as expected failures of *stock*, never
        # hidden for our engine.
        pytest.xfail("stock Tornado %s differs: %r" % (tornado.version, observation))
    assert observation == wanted
    # Each request really went through the engine under test.
    module = {"stock": "tornado.http1connection", "h1alt": "tornado_h1alt."}[server.engine]
    assert all(name.startswith(module) for name in server.engines), server.engines
    # Malformed input is logged at INFO; nothing here is an application error.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in CASES}) == len(CASES)
