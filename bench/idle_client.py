"""The idle-rss scenario's client process: holds N idle keep-alive connections.

Usage::

    python bench/idle_client.py --port N [--connections 5000] [--warmup 50]

It talks to the harness in lock step over stdin/stdout, so the harness can read
the server's VmRSS at the right moments:

1. ``--warmup`` connections each make one request and close; prints ``WARM``.
2. waits for a line ``go`` on stdin (the harness reads VmRSS "before").
3. opens ``--connections`` connections one after another, makes one
   ``GET /`` on each (keep-alive, response read to its end) and leaves them
   open; prints ``READY <n>``.
4. waits for a line ``close`` (or end of input; the harness reads VmRSS
   "after" meanwhile), closes everything, prints ``CLOSED`` and exits.

Connections are opened sequentially: no listen-backlog overflow, no SYN
retries, and the server sees exactly one request per connection.
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
from typing import List, Optional

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
EXPECT_BODY = b"Hello world"


def raise_nofile_limit(needed: int) -> None:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; fail when that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target != resource.RLIM_INFINITY and target < needed:
        raise SystemExit(
            "RLIMIT_NOFILE hard limit %d is below the %d descriptors needed" % (target, needed)
        )


def read_response(sock: socket.socket) -> bytes:
    """Read one Content-Length response; return its body. Keeps no extra bytes."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed inside the response head")
        buffer += data
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 200 "):
        raise ConnectionError("unexpected status line %r" % lines[0])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise ConnectionError("response without Content-Length")
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed inside the response body")
        body += data
    return body


def open_one(port: int) -> socket.socket:
    """Connect, make one request, check the answer, return the still-open socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(REQUEST)
    body = read_response(sock)
    if body != EXPECT_BODY:
        sock.close()
        raise ConnectionError("unexpected body %r" % body[:80])
    return sock


def main(argv: Optional[List[str]] = None) -> None:
    """Run the lock-step protocol described in the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args(argv)
    raise_nofile_limit(args.connections + 64)

    for _ in range(args.warmup):
        open_one(args.port).close()
    print("WARM", flush=True)
    if sys.stdin.readline().strip() != "go":
        return

    held: List[socket.socket] = []
    try:
        for _ in range(args.connections):
            held.append(open_one(args.port))
        print("READY %d" % len(held), flush=True)
        sys.stdin.readline()
    finally:
        for sock in held:
            sock.close()
    print("CLOSED", flush=True)


if __name__ == "__main__":
    main()
