"""Moving bytes over Tornado's IOStream: reads sized by the read plan, output
batching, TCP_NODELAY, and the one IOLoop timer a stream's head deadline needs.

No protocol rules here: what to read comes from the core's read plan
(`tornado_h1alt.h1.plan`), what to write from the core's writers.
"""

from __future__ import annotations

import select
import socket
from typing import Any, Callable, List, Optional

from tornado import gen, iostream
from tornado.concurrent import Future

from . import compat
from .h1.plan import ReadBytes, ReadUntilClose, ReadUntilRegex, Want, line_read_pattern

__all__ = [
    "HeadTimer",
    "LINGER_BYTES",
    "LINGER_SECONDS",
    "LARGE_BODY",
    "OutputBatch",
    "bytes_at_close",
    "close_lingering",
    "nothing_arrived",
    "read_for",
    "set_nodelay",
    "write_head_and_body",
]


def read_for(stream: iostream.IOStream, want: Want, stops_at_limits: bool) -> Future[bytes]:
    """The IOStream read that fetches what the core `wants`, and no more.

    ``stops_at_limits``: read heads and lines with the patterns that stop at
    the size limit by themselves, so that the core sees an oversized head
    or line and a server can answer it with its status; otherwise IOStream
    enforces the limit with ``max_bytes`` (UnsatisfiableReadError and a
    close: a client's contract, and on a server an old IOStream whose
    search starts mid-buffer).
    """
    # Any: IOStream's reads are typed Awaitable (5.1: plain Futures).  (Not
    # cast(): a Python call less per read.)
    read: Any
    if want.__class__ is ReadUntilRegex:  # (a head: the common case first)
        if stops_at_limits:
            read = stream.read_until_regex(want.pattern)
        else:
            read = stream.read_until_regex(want.unanchored, max_bytes=want.max_bytes)
    elif isinstance(want, (ReadBytes, ReadUntilClose)):
        read = stream.read_bytes(want.size, partial=True)
    elif stops_at_limits:
        read = stream.read_until_regex(line_read_pattern(want.max_bytes))
    else:
        read = stream.read_until(b"\n", max_bytes=want.max_bytes)
    return read  # type: ignore[no-any-return]


def bytes_at_close(want: Want, error: iostream.StreamClosedError) -> bytes:
    """What a read for ``want`` that the stream's close cut short gives the
    core: the end of the stream (``b""``) where the plan lets the close end
    the body; otherwise ``error`` is raised again."""
    if isinstance(want, ReadUntilClose):
        return b""
    raise error


# A lingering close reads (and throws away) what the peer still sends for at
# most this long, and at most this much (see close_lingering).
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20


async def close_lingering(stream: iostream.IOStream) -> None:
    """Close ``stream`` in stages, after a response the peer must get to read.

    RFC 9112 9.6: a server that closes at once while the client is still
    sending (a huge head, or a body we refused) makes the client's kernel
    receive a reset, which can discard our response before the client has
    read it.  So, as Apache and nginx do: half-close (the client reads our
    response, then the end of the stream), read and discard what still
    arrives until the client closes too, for at most `LINGER_SECONDS` and
    `LINGER_BYTES`, then close.  Over TLS the half-close would have to be a
    TLS close_notify, which IOStream cannot send alone, so there it only
    reads and discards.  Whatever fails here (a reset, the stream closed
    by the server's shutdown) just ends it.
    """
    sock = stream.socket
    if sock is not None and not isinstance(stream, iostream.SSLIOStream):
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            stream.close()
            return
    io_loop = stream.io_loop
    deadline = io_loop.time() + LINGER_SECONDS
    drained = 0
    try:
        while drained < LINGER_BYTES and not stream.closed():
            data = await gen.with_timeout(
                deadline,
                stream.read_bytes(65536, partial=True),
                quiet_exceptions=iostream.StreamClosedError,
            )
            drained += len(data)
    except (iostream.StreamClosedError, OSError) + compat.TIMEOUT_ERRORS:
        pass
    stream.close()


class OutputBatch:
    """Responses to pipelined requests, gathered into one write.

    A response finished while the client's next request already waits in
    the stream's buffer is held here instead of written, and goes out with
    the next response written through (the last of the burst, usually), so
    that 16 pipelined requests cost one send() instead of 16.  At most
    `LIMIT` bytes are held, and never past the current IOLoop iteration: a
    callback flushes whatever is still held once the serving coroutine
    really waits (for the network, or for an application that answers
    later).  Writes into the batch resolve at once; flow control returns
    with the next real write.
    """

    LIMIT = 65536

    def __init__(self, stream: iostream.IOStream) -> None:
        self.stream = stream
        self.chunks: List[bytes] = []
        self.size = 0
        self._flush_scheduled = False

    def hold(self, data: bytes) -> bool:
        """Keep ``data`` for the next write; False if that would pass `LIMIT`."""
        if self.size + len(data) > self.LIMIT:
            return False
        self.chunks.append(data)
        self.size += len(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.stream.io_loop.add_callback(self.flush)
        return True

    def take(self) -> bytes:
        """Everything held, removed from the batch."""
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        self.size = 0
        return data

    def flush(self) -> None:
        """Write whatever is held (nothing if the stream has closed)."""
        self._flush_scheduled = False
        if self.size and not self.stream.closed():
            self.stream.write(self.take())


# A body at least this large is not copied behind its head into one bytes
# object (see write_head_and_body): copying 1 MiB costs about 35 us here,
# several times an IOStream write, which is what not copying it costs.
LARGE_BODY = 256 * 1024
# How much of such a body leaves in the head's write: as much as one
# loopback segment carries, so that the head does not go alone.
_BODY_WITH_HEAD = 65536


def write_head_and_body(stream: iostream.IOStream, head: bytes, body: bytes) -> Future[None]:
    """``stream.write(head + body)`` for a body of `LARGE_BODY` or more, without
    that copy of the body.

    The head leaves with the body's first bytes in one write (one copy of
    those), the rest as a memoryview of ``body``, which IOStream keeps and
    sends from without copying.  Returns the last write's Future, which
    resolves once both are flushed (IOStream resolves writes in order).
    """
    view = memoryview(body)
    first = stream.write(b"".join((head, view[:_BODY_WITH_HEAD])))
    if stream.closed():
        return first  # the first write failed: it says so
    return stream.write(view[_BODY_WITH_HEAD:])


# The TCP_NODELAY setting tornado_h1alt last gave a stream, kept on the
# stream itself (connections come and go per exchange; the stream stays).
_NODELAY_ATTRIBUTE = "_tornado_h1alt_nodelay"


def nothing_arrived(stream: iostream.IOStream) -> bool:
    """True if no byte from the peer waits anywhere below us: not in the
    IOStream's buffer, not in an SSL socket's decrypted bytes, not in the
    kernel (a readable socket, which includes the peer's close)."""
    if compat.has_buffered_input(stream):
        return False
    sock = stream.socket
    if sock is None:
        return True  # closed: nothing will arrive
    pending = getattr(sock, "pending", None)  # ssl.SSLSocket
    if pending is not None and pending():
        return False
    fd = sock.fileno()
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return not poller.poll(0)
    readable, _, _ = select.select([fd], [], [], 0)  # Windows
    return not readable


def set_nodelay(stream: iostream.IOStream, on: bool) -> None:
    """`.IOStream.set_nodelay`, without the system call if it is already so.

    Tornado's engine sets TCP_NODELAY at the end of every message and
    clears it after, two system calls per exchange; here the setting
    changes only when it has to.  (A setting changed behind our back, e.g.
    by ``RequestHandler.set_nodelay``, is not seen; at worst the last
    segment of a one-write message waits for an ACK under Nagle.)
    """
    if getattr(stream, _NODELAY_ATTRIBUTE, None) is not on:
        stream.set_nodelay(on)
        setattr(stream, _NODELAY_ATTRIBUTE, on)


class HeadTimer:
    """A deadline for receiving a message head, with at most one IOLoop timer.

    Arming only records the deadline; the IOLoop timer is scheduled when
    none is pending, and when it fires early (the deadline moved on since)
    it reschedules itself.  A keep-alive connection serving many requests
    thus schedules about one timer per ``timeout`` instead of one per
    request.  `cancel` must be called when the stream is done with.
    """

    __slots__ = ("_io_loop", "_deadline", "_on_timeout", "_handle", "_scheduled_at")

    def __init__(self, io_loop: Any) -> None:
        self._io_loop = io_loop
        self._deadline: Optional[float] = None
        self._on_timeout: Optional[Callable[[], None]] = None
        self._handle: Any = None
        self._scheduled_at = 0.0

    def arm(self, timeout: float, on_timeout: Callable[[], None]) -> None:
        """Call ``on_timeout`` in ``timeout`` seconds unless disarmed first."""
        deadline = self._deadline = self._io_loop.time() + timeout
        self._on_timeout = on_timeout
        if self._handle is None or deadline < self._scheduled_at:
            self._schedule(deadline)

    def disarm(self) -> None:
        """Forget the deadline (the timer, if pending, fires harmlessly later)."""
        self._deadline = None
        self._on_timeout = None

    def cancel(self) -> None:
        """Disarm and remove the IOLoop timer."""
        self.disarm()
        if self._handle is not None:
            self._io_loop.remove_timeout(self._handle)
            self._handle = None

    def _schedule(self, when: float) -> None:
        if self._handle is not None:
            self._io_loop.remove_timeout(self._handle)
        self._scheduled_at = when
        self._handle = self._io_loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        deadline = self._deadline
        if deadline is None:
            return
        if self._io_loop.time() < deadline:
            self._schedule(deadline)
            return
        callback = self._on_timeout
        self.disarm()
        if callback is not None:
            callback()
