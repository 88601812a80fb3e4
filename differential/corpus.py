"""The inputs: seed messages, and mutations of them, named for triage.

Every case is one message (a request, or a response to a given method)
followed by a canary message of the same kind: where each parser thinks
the first message ends shows in whether, and how, it reads the canary.

A case's ``mutation`` names what was done to its seed; the triage table
(`differential/triage.json`) speaks of mutations, not of single inputs, so
that a generated run can be checked against it whatever the seed.
Mutations are of two sorts: named edits at the places where parsers are
known to disagree (framing fields, line ends, chunk sizes, the start
line, Host), and random one-byte edits (insert, delete or replace one of
the bytes that matter to the grammar), whose name says the operation, the
byte and the part of the message it hit.
"""

from __future__ import annotations

import random
import re
from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple

__all__ = [
    "CANARY_REQUEST",
    "CANARY_RESPONSE",
    "Case",
    "MUTATIONS",
    "REQUEST_SEEDS",
    "RESPONSE_SEEDS",
    "cases",
]

CANARY_REQUEST = b"GET /canary HTTP/1.1\r\nHost: canary\r\n\r\n"
CANARY_RESPONSE = b"HTTP/1.1 299 Canary\r\nContent-Length: 6\r\n\r\ncanary"


class Case(NamedTuple):
    """One input: ``data`` (the message and the canary after it)."""

    kind: str  # "request" or "response"
    seed: str
    mutation: str
    data: bytes
    method: Optional[str] = None  # for a response: the request it answers

    @property
    def name(self) -> str:
        return "%s/%s" % (self.seed, self.mutation)


REQUEST_SEEDS = {
    "get": b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    "post-length": b"POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello",
    "post-chunked": (
        b"POST /p HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    ),
    # (Seeds of their own: Tornado reads no trailer section and no chunk
    # extension, so it refuses every mutation of these.)
    "post-chunked-extension": (
        b"POST /p HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n0\r\n\r\n"
    ),
    "post-chunked-trailer": (
        b"POST /p HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
    ),
    "http10": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
}

# (bytes, the method of the request it answers)
RESPONSE_SEEDS = {
    "ok-length": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET"),
    "ok-chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET",
    ),
    "head": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD"),
    "no-content": (b"HTTP/1.1 204 No Content\r\n\r\n", "GET"),
}

Mutation = Callable[[bytes], Optional[bytes]]


def _sub(pattern: bytes, replacement: bytes, count: int = 1) -> Mutation:
    compiled = re.compile(pattern)

    def mutate(message: bytes) -> Optional[bytes]:
        mutated, done = compiled.subn(replacement, message, count=count)
        return mutated if done else None

    return mutate


def _add_field(field: bytes) -> Mutation:
    """A field line added right after the start line."""

    def mutate(message: bytes) -> Optional[bytes]:
        line_end = message.find(b"\r\n")
        return message[: line_end + 2] + field + b"\r\n" + message[line_end + 2 :]

    return mutate


def _chunk_size(replacement: bytes) -> Mutation:
    """The first chunk-size line ("5" in the chunked seeds) replaced."""
    return _sub(rb"\r\n\r\n5\r\n", b"\r\n\r\n" + replacement + b"\r\n")


# Named edits, each at a place where parsers are known to disagree.
MUTATIONS = {
    "none": lambda message: message,
    # line ends (RFC 9112 2.2)
    "lf-line-ends": _sub(rb"\r\n", b"\n", count=0),
    "first-crlf-as-lf": _sub(rb"\r\n", b"\n"),
    "cr-line-end": _sub(rb"\r\n", b"\r"),
    "leading-empty-line": lambda message: b"\r\n" + message,
    # start line (RFC 9112 3, 4)
    "double-space-start-line": _sub(rb" ", b"  "),
    "tab-in-start-line": _sub(rb" ", b"\t"),
    "trailing-space-start-line": _sub(rb"\r\n", b" \r\n"),
    "lowercase-version": _sub(rb"HTTP/1\.", b"http/1."),
    "version-1.2": _sub(rb"HTTP/1\.[01]", b"HTTP/1.2"),
    "version-2.0": _sub(rb"HTTP/1\.[01]", b"HTTP/2.0"),
    "version-01.1": _sub(rb"HTTP/1\.", b"HTTP/01."),
    "lowercase-method": _sub(rb"^(GET|POST)", b"get"),
    "target-asterisk": _sub(rb"^(GET|POST) \S+", rb"\1 *"),
    "target-absolute": _sub(rb"^(GET|POST) /", rb"\1 http://example.com/"),
    "target-no-slash": _sub(rb"^(GET|POST) /", rb"\1 "),
    "status-no-reason": _sub(rb"^(HTTP/1\.1 \d\d\d) [^\r]*", rb"\1"),
    "status-two-digits": _sub(rb"^(HTTP/1\.1) \d(\d\d)", rb"\1 \2"),
    # fields (RFC 9112 5, RFC 9110 5)
    "space-before-colon": _add_field(b"X-A : b"),
    "no-colon": _add_field(b"X-No-Colon"),
    "empty-field-name": _add_field(b": b"),
    "obs-fold": _add_field(b"X-A: a\r\n b"),
    "nul-in-value": _add_field(b"X-A: a\x00b"),
    "del-in-value": _add_field(b"X-A: a\x7fb"),
    "obs-text-in-value": _add_field(b"X-A: caf\xe9"),
    "non-token-name": _add_field(b"X[A]: b"),
    # Host (RFC 9112 3.2)
    "host-missing": _sub(rb"Host: [^\r]*\r\n", b""),
    "host-twice": _add_field(b"Host: other.example"),
    "host-empty": _sub(rb"Host: [^\r]*", b"Host: "),
    "host-bracket": _sub(rb"Host: [^\r]*", b"Host: a[b"),
    "host-two-ports": _sub(rb"Host: [^\r]*", b"Host: a:1:2"),
    "host-ipv6": _sub(rb"Host: [^\r]*", b"Host: [::1]:8080"),
    "host-userinfo": _sub(rb"Host: [^\r]*", b"Host: u@example.com"),
    # framing (RFC 9112 6, 7)
    "cl-and-te": _add_field(b"Content-Length: 5"),
    "te-and-cl": _add_field(b"Transfer-Encoding: chunked"),
    "cl-twice-equal": _sub(rb"Content-Length: 5", b"Content-Length: 5\r\nContent-Length: 5"),
    "cl-twice-unequal": _sub(rb"Content-Length: 5", b"Content-Length: 5\r\nContent-Length: 6"),
    "cl-list-equal": _sub(rb"Content-Length: 5", b"Content-Length: 5, 5"),
    "cl-plus": _sub(rb"Content-Length: 5", b"Content-Length: +5"),
    "cl-leading-zeros": _sub(rb"Content-Length: 5", b"Content-Length: 00000000000000000005"),
    "cl-trailing-comma": _sub(rb"Content-Length: 5", b"Content-Length: 5,"),
    "cl-space-inside": _sub(rb"Content-Length: 5", b"Content-Length: 5 5"),
    "te-uppercase": _sub(rb"chunked", b"CHUNKED"),
    "te-list-empty-element": _sub(rb"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked,"),
    "te-gzip-chunked": _sub(rb"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked"),
    "te-chunked-twice": _sub(
        rb"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked, chunked"
    ),
    "te-identity": _sub(rb"Transfer-Encoding: chunked", b"Transfer-Encoding: identity"),
    "te-folded": _sub(rb"Transfer-Encoding: chunked", b"Transfer-Encoding:\r\n chunked"),
    "te-http10": _sub(rb"HTTP/1\.1", b"HTTP/1.0"),
    "chunk-size-leading-zeros": _chunk_size(b"00000000000000000005"),
    "chunk-size-uppercase-hex": _chunk_size(b"0000005"),
    "chunk-size-overflow": _chunk_size(b"10000000000000005"),
    "chunk-size-0x": _chunk_size(b"0x5"),
    "chunk-size-plus": _chunk_size(b"+5"),
    "chunk-size-space": _chunk_size(b"5 "),
    "chunk-size-bare-lf": _sub(rb"\r\n\r\n5\r\n", b"\r\n\r\n5\n"),
    "chunk-ext-quoted": _chunk_size(b'5;a="b c"'),
    "chunk-ext-bad": _chunk_size(b"5;=x"),
    "chunk-ext": _chunk_size(b"5;ext=1"),
    "chunk-data-no-crlf": _sub(rb"hello\r\n6", b"helloXX6"),
    "last-chunk-bare-lf": _sub(rb"\r\n0\r\n\r\n$", b"\r\n0\r\n\n"),
    "trailer-bad": _sub(rb"X-Trailer: t", b"X Trailer t"),
    # connection (RFC 9112 9)
    "connection-close": _add_field(b"Connection: close"),
    "connection-list-close": _add_field(b"Connection: keep-alive, close"),
    "expect-continue": _add_field(b"Expect: 100-continue"),
}

# The bytes a random edit uses: those that matter to the grammar.
SIGNIFICANT = b" \t\r\n:;,0\x00\x7f\x80"


_START_PARTS = {
    "request": ("method", "target", "version"),
    "response": ("version", "status", "reason"),
}


def _region(kind: str, message: bytes, position: int) -> str:
    """Which part of the (unmutated) message ``position`` is in: a part of
    the start line, a field by its name, either with "-end" at the CRLF that
    ends it, "head-end", or the body's "chunk-line" or "body"."""
    if 0 < position < len(message) and message[position - 1 : position + 1] == b"\r\n":
        position -= 1  # (the LF of a CRLF is where its CR is)
    head_end = message.find(b"\r\n\r\n")
    first_line_end = message.find(b"\r\n")
    if position <= first_line_end:
        spaces = message[:position].count(b" ")
        part = _START_PARTS[kind][min(spaces, 2)]
        return part + "-end" if position == first_line_end else part
    if position < head_end + 2:
        line_start = message.rfind(b"\r\n", 0, position) + 2
        line_end = message.find(b"\r\n", line_start)
        name = message[line_start:line_end].partition(b":")[0].decode("latin-1").lower()
        return name + "-end" if position >= line_end else name
    if position < head_end + 4:
        return "head-end"
    body_line_start = message.rfind(b"\r\n", 0, position) + 2
    if body_line_start >= head_end + 4 and b"chunked" in message[:head_end].lower():
        line = message[body_line_start : message.find(b"\r\n", body_line_start)]
        if line[:1].isalnum() and all(c in b"0123456789abcdefABCDEF;=ext" for c in line):
            return "chunk-line"
    return "body"


def _random_mutation(kind: str, message: bytes, rng: random.Random) -> Tuple[str, bytes]:
    position = rng.randrange(len(message) + 1)
    byte = bytes([rng.choice(SIGNIFICANT)])
    region = _region(kind, message, position) if position < len(message) else "end"
    operation = rng.choice(["insert", "delete", "replace"])
    if operation == "insert" or position == len(message):
        return "random-insert-%02x-%s" % (byte[0], region), (
            message[:position] + byte + message[position:]
        )
    if operation == "delete":
        removed = message[position]
        return "random-delete-%02x-%s" % (removed, region), (
            message[:position] + message[position + 1 :]
        )
    replaced = message[position]
    return "random-replace-%02x-%02x-%s" % (replaced, byte[0], region), (
        message[:position] + byte + message[position + 1 :]
    )


def cases(
    *, random_count: int = 0, seed: int = 0, kinds: Tuple[str, ...] = ("request", "response")
) -> Iterator[Case]:
    """Every seed with every named mutation that applies to it, then
    ``random_count`` random one-byte edits of the seeds (from ``seed``)."""
    rng = random.Random(seed)
    seeds: List[Tuple[str, str, bytes, Optional[str], bytes]] = []
    if "request" in kinds:
        seeds += [
            ("request", name, data, None, CANARY_REQUEST) for name, data in REQUEST_SEEDS.items()
        ]
    if "response" in kinds:
        seeds += [
            ("response", name, data, method, CANARY_RESPONSE)
            for name, (data, method) in RESPONSE_SEEDS.items()
        ]
    seen = set()
    for kind, seed_name, message, method, canary in seeds:
        for mutation_name, mutate in MUTATIONS.items():
            mutated = mutate(message)
            if mutated is None or (mutated != message and mutation_name == "none"):
                continue
            if mutation_name != "none" and mutated == message:
                continue
            key = (kind, mutated, method)
            if key in seen:
                continue
            seen.add(key)
            yield Case(kind, seed_name, mutation_name, mutated + canary, method)
    for _ in range(random_count):
        kind, seed_name, message, method, canary = rng.choice(seeds)
        mutation_name, mutated = _random_mutation(kind, message, rng)
        yield Case(kind, seed_name, mutation_name, mutated + canary, method)
