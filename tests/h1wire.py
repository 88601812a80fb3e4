"""Raw-socket helpers shared by the adapter and differential tests.

They play the peer: connect to 127.0.0.1, send bytes, read what comes back,
and split it into responses with a deliberately small parser of their own
(independent of both engines under test).
"""

from __future__ import annotations

import datetime
import re
import socket
from typing import List, NamedTuple, Optional, Sequence, Tuple

from tornado import gen
from tornado.iostream import IOStream, StreamClosedError
from tornado.util import TimeoutError as TornadoTimeoutError

__all__ = [
    "Response",
    "connect",
    "exchange",
    "parse_responses",
    "read_response",
    "read_with_timeout",
]


class Response(NamedTuple):
    """One response as a peer sees it."""

    status: int
    reason: str
    headers: List[Tuple[str, str]]
    body: bytes

    def header(self, name: str) -> Optional[str]:
        """The value of the first field called ``name`` (case-insensitive), or None."""
        for field_name, value in self.headers:
            if field_name.lower() == name.lower():
                return value
        return None


async def connect(port: int) -> IOStream:
    """An IOStream connected to 127.0.0.1:port."""
    stream = IOStream(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    await stream.connect(("127.0.0.1", port))
    return stream


async def read_with_timeout(stream: IOStream, timeout: float) -> Tuple[bytes, bool]:
    """Read until the peer closes, or until ``timeout`` seconds have passed.

    Returns the bytes and whether the peer closed.  On timeout the stream is
    closed by us (and the bytes received so far are returned).
    """
    read = stream.read_until_close()
    try:
        data = await gen.with_timeout(
            datetime.timedelta(seconds=timeout), read, quiet_exceptions=StreamClosedError
        )
        return data, True
    except TornadoTimeoutError:
        stream.close()
        # Closing resolves a pending read_until_close with what was buffered.
        return await read, False


async def exchange(port: int, data: bytes, timeout: float = 3.0) -> Tuple[bytes, bool]:
    """Send ``data`` on a new connection; return (everything received, peer closed?)."""
    stream = await connect(port)
    try:
        await stream.write(data)
        return await read_with_timeout(stream, timeout)
    finally:
        stream.close()


async def read_response(stream: IOStream, method: str = "GET") -> Response:
    """Read exactly one response off ``stream`` (a keep-alive connection).

    Handles Content-Length, chunked and bodiless responses; a response whose
    body runs until the close is a ValueError here (use `read_with_timeout`).
    """
    head = await stream.read_until(b"\r\n\r\n")
    (status, _), headers = _parse_head(head[:-4])
    fields = {name.lower(): value for name, value in headers}
    raw = b""
    if method == "HEAD" or status < 200 or status in (204, 304):
        pass
    elif fields.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await stream.read_until(b"\r\n")
            size = int(size_line[:-2], 16)
            raw += size_line + await stream.read_bytes(size + 2)
            if size == 0:
                break
    elif "content-length" in fields:
        raw = await stream.read_bytes(int(fields["content-length"]))
    else:
        raise ValueError(f"response body delimited by the close: {head!r}")
    (response,) = parse_responses(head + raw, [method])
    return response


def _parse_head(block: bytes) -> Tuple[Tuple[int, str], List[Tuple[str, str]]]:
    lines = block.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ValueError(f"bad status line: {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name, value.strip()))
    return (int(match.group(1)), (match.group(2) or b"").decode("latin-1")), headers


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([^\r\n]*))?")


def parse_responses(data: bytes, methods: Sequence[str] = ()) -> List[Response]:
    """Split raw bytes into responses.

    ``methods[i]`` is the method of the request the i-th final response
    answers (a HEAD response has no body); missing entries mean GET.  A
    response with neither Content-Length nor chunked framing runs to the
    end of ``data`` (its body was ended by the close).
    """
    responses: List[Response] = []
    final_index = 0
    while data:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            raise ValueError(f"incomplete response head: {data!r}")
        (status, reason), headers = _parse_head(data[:head_end])
        data = data[head_end + 4 :]
        fields = {name.lower(): value for name, value in headers}
        method = "GET"
        if status >= 200:
            method = methods[final_index] if final_index < len(methods) else "GET"
            final_index += 1
        if method == "HEAD" or status < 200 or status in (204, 304):
            body = b""
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            body, data = _decode_chunked(data)
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if len(data) < length:
                raise ValueError("truncated body")
            body, data = data[:length], data[length:]
        else:
            body, data = data, b""
        responses.append(Response(status, reason, headers, body))
    return responses


def _decode_chunked(data: bytes) -> Tuple[bytes, bytes]:
    body = b""
    while True:
        line_end = data.index(b"\r\n")
        size = int(data[:line_end], 16)
        data = data[line_end + 2 :]
        if size == 0:
            if not data.startswith(b"\r\n"):
                raise ValueError(f"trailers or missing final CRLF: {data!r}")
            return body, data[2:]
        body += data[:size]
        if data[size : size + 2] != b"\r\n":
            raise ValueError("bad chunk terminator")
        data = data[size + 2 :]
