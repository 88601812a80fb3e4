"""HTTP1ConnectionParameters and HTTP1Connection: the adapter around the core.

`HTTP1Connection` moves bytes between Tornado's `~tornado.iostream.IOStream`
and the sans-IO core (`tornado_h1alt._parse`, `tornado_h1alt._serialize`),
runs the timeouts, resolves the futures and calls the
`~tornado.httputil.HTTPMessageDelegate`.  It does no parsing of its own, and
it only ever asks the stream for bytes the core says belong to the current
message, so after `detach` every byte of what follows is still in the stream.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any, Awaitable, Callable, Iterator, List, Optional, Tuple, Union, cast

from tornado import gen, httputil, iostream
from tornado.concurrent import Future, future_add_done_callback
from tornado.log import app_log, gen_log
from tornado.util import GzipDecompressor

from . import _abnf, _compat
from ._errors import ProtocolError
from ._framing import BodyKind, request_framing, response_framing
from ._parse import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    Head,
    MessageReader,
    ReadBytes,
    ReadUntilClose,
    ReadUntilRegex,
    Want,
    line_read_pattern,
)
from ._serialize import BodyWriter, OutputError, encode_head, status_line
from ._state import Event, ExchangeState, Side, State

__all__ = ["HTTP1Connection", "HTTP1ConnectionParameters", "HeadTimer", "MAX_INTERIM_RESPONSES"]

# The most 1xx responses a client accepts before the final one.  Real
# servers send one or two (100 Continue, 103 Early Hints); the cap stops a
# peer from keeping a request alive forever.  Tornado 6.5+ calls this
# _MAX_1XX_RESPONSES and its tests import it.
MAX_INTERIM_RESPONSES = 10
# HTTP1ConnectionParameters' defaults, as Tornado's.
DEFAULT_CHUNK_SIZE = 65536
DEFAULT_MAX_HEADER_SIZE = 65536

# While a body arrives faster than we process it, reads complete without
# returning to the IOLoop; after this many bytes we yield once so one busy
# connection cannot starve the others.  A chunk of a chunked body counts as
# at least CHUNK_YIELD_COST bytes, since per-chunk overhead dominates there.
YIELD_THRESHOLD = 256 * 1024
CHUNK_YIELD_COST = 1024
# The most chunks the reader hands over in one Data event (see
# MessageReader.coalesce_chunks): one yield's worth.
COALESCED_CHUNKS = YIELD_THRESHOLD // CHUNK_YIELD_COST

# Reason phrases for the error responses we send ourselves.
_ERROR_REASONS = {
    400: "Bad Request",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


class HTTP1ConnectionParameters:
    """Parameters for `HTTP1Connection` and `.HTTP1ServerConnection`."""

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: Optional[int] = None,
        max_header_size: Optional[int] = None,
        header_timeout: Optional[float] = None,
        max_body_size: Optional[int] = None,
        body_timeout: Optional[float] = None,
        decompress: bool = False,
    ) -> None:
        """
        :arg bool no_keep_alive: If true, always close the connection after
            one request.
        :arg int chunk_size: how much data to read into memory at once
            (default 65536)
        :arg int max_header_size: maximum amount of data for HTTP headers
            (default 65536)
        :arg float header_timeout: how long to wait for all headers (seconds)
        :arg int max_body_size: maximum amount of data for body (default: the
            stream's ``max_buffer_size``)
        :arg float body_timeout: how long to wait while reading body (seconds)
        :arg bool decompress: if true, decode incoming
            ``Content-Encoding: gzip``
        """
        self.no_keep_alive = no_keep_alive
        self.chunk_size = chunk_size or DEFAULT_CHUNK_SIZE
        self.max_header_size = max_header_size or DEFAULT_MAX_HEADER_SIZE
        self.header_timeout = header_timeout
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.decompress = decompress


class _DelegateFailed(Exception):
    """A delegate method raised; it has been logged to app_log already."""


class HTTP1Connection(httputil.HTTPConnection):
    """Implements the HTTP/1.x protocol for one request/response exchange.

    This class can be used on its own for clients, or via
    `.HTTP1ServerConnection` for servers.
    """

    # Per-exchange fields and their initial values.  Close the connection
    # once this exchange is over (decided from the request on the server
    # side and from the response on the client).
    _disconnect_on_finish = False
    # Our side's message has been written and flushed (or the connection is
    # closed / detached); `_finish_waiter` is created only if someone has to
    # wait for that (see _end_exchange).
    _finished = False
    _finish_waiter: Optional[Future[None]] = None
    _close_callback: Optional[Callable[[], None]] = None
    _pending_write: Optional[Future[None]] = None
    _streaming_body = False  # write() was called: the body goes in pieces
    # Responses held back to go out with the next ones (server only;
    # HTTP1ServerConnection shares one per stream, see OutputBatch).
    _output_batch: Optional[OutputBatch] = None
    _body_writer: Optional[BodyWriter] = None
    # What we know of the request, which shapes the response.
    _request_method: Optional[str] = None
    _request_version = (1, 1)
    _request_start_line: Optional[httputil.RequestStartLine] = None
    _keep_alive_requested = False  # an HTTP/1.0 client sent "Connection: keep-alive"
    # True from the moment the delegate has seen a head until it has been
    # given finish() or on_connection_close(): exactly one of the two.
    _delegate_open = False
    _header_timed_out = False
    # The header timer; HTTP1ServerConnection shares one per stream.
    _head_timer: Optional[HeadTimer] = None
    _owns_head_timer = False
    # Whether we put a close callback on the stream (and must take it off).
    _stream_close_callback_set = False

    def __init__(
        self,
        stream: iostream.IOStream,
        is_client: bool,
        params: Optional[HTTP1ConnectionParameters] = None,
        context: Optional[object] = None,
    ) -> None:
        """
        :arg stream: an `.IOStream`
        :arg bool is_client: client or server
        :arg params: a `.HTTP1ConnectionParameters` instance or ``None``
        :arg context: an opaque application-defined object that can be accessed
            as ``connection.context``.
        """
        self.is_client = is_client
        self.stream = stream
        if params is None:
            params = HTTP1ConnectionParameters()
        self.params = params
        self.context = context
        self.no_keep_alive = params.no_keep_alive
        # The delegate may change these for its own message, so they are
        # copied rather than read from params each time.
        self._max_body_size: int = (
            params.max_body_size if params.max_body_size is not None else stream.max_buffer_size
        )
        self._body_timeout = params.body_timeout
        self._state = ExchangeState()
        # A server answers an oversized head or line with 414/431/400; a
        # client keeps Tornado's contract (IOStream's UnsatisfiableReadError).
        self._answers_oversize = not is_client
        # The other per-exchange fields start at their class-level defaults
        # (below): one exchange per request makes this constructor hot.
        if is_client:
            # As with Tornado's engine, the connection takes the stream's
            # close callback over from whoever set it (simple_httpclient sets
            # one while connecting); closes now reach the delegate through us.
            stream.set_close_callback(None)

    # -- reading ---------------------------------------------------------------

    def read_response(self, delegate: httputil.HTTPMessageDelegate) -> Future[bool]:
        """Read a single HTTP message (a response on a client, a request on a server).

        Typical client-mode usage is to write a request using `write_headers`,
        `write`, and `finish`, and then call ``read_response``.

        :arg delegate: a `.HTTPMessageDelegate`

        Returns a `.Future` that resolves to a bool after the full message has
        been read: True if the stream is still open and may carry another
        message.
        """
        future: Future[bool] = gen.convert_yielded(self._read_message_as_coroutine(delegate))
        return future

    async def _read_message_as_coroutine(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        """`read_response` as a coroutine, without the Future around it.

        `.HTTP1ServerConnection` and the keep-alive client await this
        directly: one Task less per message.
        """
        if self.params.decompress:
            delegate = _GzipMessageDelegate(delegate, self.params.chunk_size, self._max_body_size)
        reader = MessageReader(
            is_response=self.is_client,
            max_header_size=self.params.max_header_size,
            chunk_size=self.params.chunk_size,
            request_method=self._request_method,
            # Chunk boundaries are not the application's business from 6.6
            # on.  At most a yield's worth of chunks per event, so that the
            # reading still lets the IOLoop run as often (see YIELD_THRESHOLD).
            coalesce_chunks=COALESCED_CHUNKS if _compat.COALESCES_BODY_PIECES else 0,
        )
        # True from the moment the delegate has seen a head until it has been
        # given finish() or on_connection_close(): exactly one of the two.
        self._delegate_open = False
        try:
            head = await self._read_heads(reader, delegate)
            if head is None:
                self._delegate_open = False
                return False  # detached
            if self._state.read is State.CLOSED:
                # The delegate closed the connection from headers_received.
                raise iostream.StreamClosedError()
            reader.max_body_size = self._max_body_size
            self._state.process(Side.READ, Event.BODY)
            framing = head.framing
            if framing.kind is BodyKind.NONE or (
                framing.kind is BodyKind.LENGTH and framing.length == 0
            ):
                # No body (most requests): its end is already known.
                reader.next_event()
            else:
                if not self.is_client:
                    self._maybe_send_continue(head)
                if not await self._read_body(reader, delegate):
                    return False
            self._state.process(Side.READ, Event.END)
            if self.is_client or self._state.write is not State.DONE:
                try:
                    self._call_delegate(delegate.finish)
                except httputil.HTTPInputError:
                    # A wrapper (gzip) refused the body and has already told
                    # the wrapped delegate the connection is closing.
                    self._delegate_open = False
                    raise
                # Only a finish() that returned ends the delegate's message: if
                # it raised, on_connection_close still follows.
                self._delegate_open = False
            # While the application produces its response, the stream is not
            # being read, so only a close callback notices a vanished peer.
            if not self._finished and self.stream is not None and not self.stream.closed():
                self.stream.set_close_callback(self._on_connection_close)
                self._stream_close_callback_set = True
                waiter = self._finish_waiter = Future()
                await waiter
            if self.is_client and self._disconnect_on_finish:
                self.close()
            return self.stream is not None and not self.stream.closed()
        except _HeaderTimeout:
            return False
        except (ProtocolError, httputil.HTTPInputError) as error:
            gen_log.info(
                "Malformed HTTP message from %s: %s", self.context, _compat.error_text(str(error))
            )
            if not self.is_client:
                await self._send_error_response(getattr(error, "status_hint", 400))
            else:
                # Even before a head, a client delegate has a request
                # waiting for this response: it must hear that it failed.
                self._delegate_open = True
            self.close()
            return False
        except _DelegateFailed:
            self.close()
            return False
        finally:
            if self._delegate_open:
                self._delegate_open = False
                try:
                    self._call_delegate(delegate.on_connection_close)
                except _DelegateFailed:
                    pass
            if self._owns_head_timer and self._head_timer is not None:
                self._head_timer.cancel()
            self._clear_callbacks()

    async def _read_heads(
        self, reader: MessageReader, delegate: httputil.HTTPMessageDelegate
    ) -> Optional[Head]:
        """Read the head, and on a client any 1xx heads before it.

        Returns the final head after the delegate's headers_received, or None
        if the delegate detached the stream.
        """
        # One deadline for the whole head (it is also the idle keep-alive
        # timer HTTPServer sets), kept by a timer that lives as long as the
        # stream rather than one scheduled and cancelled per request.  It
        # is armed only once a read has to wait: a head already buffered
        # (as a keep-alive client's next request usually is, see
        # HTTP1ServerConnection) needs no deadline.
        timer = None
        if self.params.header_timeout is not None:
            timer = self._head_timer
            if timer is None:
                # Standalone use (no HTTP1ServerConnection to share one):
                # this exchange's own timer, cancelled when it ends.
                timer = self._head_timer = HeadTimer(self.stream.io_loop)
                self._owns_head_timer = True
        armed: Optional[HeadTimer] = None  # the timer, once armed for this head
        interim_responses = 0
        while True:
            # Between messages the reader usually holds nothing, and then
            # there is nothing to parse before reading.
            event = reader.next_event() if reader.has_input else None
            if event is None:
                read = read_for(self.stream, reader.wants(), self._reads_stop_at_limits())
                if timer is not None and armed is None and not read.done():
                    timer.arm(self.params.header_timeout, self._on_header_timeout)  # type: ignore[arg-type]
                    armed = timer
                try:
                    data = await read
                except iostream.StreamClosedError:
                    if self._header_timed_out:
                        raise _HeaderTimeout() from None
                    raise
                reader.receive_data(data)
                continue
            if isinstance(event, ConnectionClosed):
                raise iostream.StreamClosedError()
            assert isinstance(event, Head)
            head = event
            if armed is not None:
                armed.disarm()
            start_line = self._start_line(head)
            headers = _compat.headers_from_fields(head.fields)
            self._state.process(Side.READ, Event.HEAD)
            self._delegate_open = True
            result = self._call_delegate(delegate.headers_received, start_line, headers)
            if result is not None:
                await self._await_delegate_result(result)
            if self._state.read is State.DETACHED:
                return None
            if not (self.is_client and 100 <= head.start[1] < 200):  # type: ignore[operator]
                return head
            interim_responses += 1
            if interim_responses > MAX_INTERIM_RESPONSES:
                raise ProtocolError("Too many 1xx responses")
            self._state.process(Side.READ, Event.INTERIM)
            # An interim response has no body: its end follows at once.
            end = reader.next_event()
            assert isinstance(end, EndOfMessage), end
            reader.expect_next_head()
            armed = None  # the next head has a deadline of its own

    @property
    def _waited_for_finish(self) -> bool:
        """Whether reading this message ended by waiting for our side's
        message to be finished (so the IOLoop has turned since)."""
        return self._finish_waiter is not None

    def _reads_stop_at_limits(self) -> bool:
        """Whether head and line reads use the patterns that stop at the size
        limit by themselves (`head_read_pattern`, `line_read_pattern`).

        Then the reader sees an oversized head or line and the server answers
        414/431/400; with IOStream's own ``max_bytes`` the stream would be
        closed first.  Otherwise IOStream enforces the limit
        (UnsatisfiableReadError and a close): a client's contract, and on a
        server an old IOStream whose search starts mid-buffer.
        """
        return self._answers_oversize and _compat.searches_from_buffer_start(self.stream)

    def _on_header_timeout(self) -> None:
        # A client that never finishes its head (or an idle keep-alive
        # connection): close quietly, as Tornado does.
        self._header_timed_out = True
        self.close()

    def _start_line(
        self, head: Head
    ) -> Union[httputil.RequestStartLine, httputil.ResponseStartLine]:
        if self.is_client:
            version, code, reason = head.start
            response_line = httputil.ResponseStartLine(version, code, reason)  # type: ignore[arg-type]
            self._disconnect_on_finish = not head.keep_alive
            return response_line
        method, target, version = head.start
        request_line = httputil.RequestStartLine(method, target, version)  # type: ignore[arg-type]
        self._request_start_line = request_line
        self._request_method = request_line.method
        self._request_version = head.version
        self._disconnect_on_finish = self.params.no_keep_alive or not head.keep_alive
        self._keep_alive_requested = head.version < (1, 1) and head.keep_alive
        return request_line

    def _maybe_send_continue(self, head: Head) -> None:
        # RFC 9110 10.1.1: the expectation is case-insensitive, is only sent
        # to HTTP/1.1 clients, and is pointless if there is no content to
        # ask for (the caller only asks when there is) or our response has
        # already been sent.
        if (
            head.version >= (1, 1)
            and self._state.write is State.IDLE
            and any(
                name.lower() == "expect" and value.lower() == "100-continue"
                for name, value in head.fields
            )
        ):
            self._write_through(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _read_body(
        self, reader: MessageReader, delegate: httputil.HTTPMessageDelegate
    ) -> bool:
        if self._body_timeout is None:
            await self._read_body_events(reader, delegate)
            return True
        try:
            await gen.with_timeout(
                self.stream.io_loop.time() + self._body_timeout,
                gen.convert_yielded(self._read_body_events(reader, delegate)),
                quiet_exceptions=iostream.StreamClosedError,
            )
        except _compat.TIMEOUT_ERRORS:
            gen_log.info("Timeout reading body from %s", self.context)
            self._close_stream()
            return False
        return True

    async def _read_body_events(
        self, reader: MessageReader, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        stream = self.stream
        chunk_size = self.params.chunk_size
        # The pieces of a chunked body are gathered and handed over together,
        # whenever we would otherwise wait for the network or have a
        # chunk_size worth: chunk boundaries carry no meaning, and this
        # bounds data_received calls however the peer slices its body.
        pending: List[bytes] = []
        pending_size = 0
        work = 0  # see YIELD_THRESHOLD
        head = reader.head
        chunked = head is not None and head.framing.kind is BodyKind.CHUNKED
        chunks_counted = reader.chunks_read
        while True:
            event = reader.next_event()
            if event is None:
                want = reader.wants()
                if chunked and isinstance(want, ReadBytes):
                    want = self._widen_chunked_read(reader, want)
                read = read_for(stream, want, self._reads_stop_at_limits())
                if pending and not read.done():
                    await self._deliver(delegate, pending)
                    pending, pending_size = [], 0
                try:
                    data = await read
                except iostream.StreamClosedError:
                    if not isinstance(want, ReadUntilClose):
                        raise
                    data = b""  # the close is the end of this body
                reader.receive_data(data)
                # Held by the reader only, which lets go of it once it is
                # handed over: a large body piece is not kept alive by us
                # while IOStream allocates the next read.
                del data
                continue
            if isinstance(event, EndOfMessage):
                if pending:
                    await self._deliver(delegate, pending)
                return
            assert isinstance(event, Data)
            # A chunk costs at least CHUNK_YIELD_COST, however many of them
            # one event carries (see MessageReader.coalesce_chunks).
            work += len(event.data) + CHUNK_YIELD_COST * (reader.chunks_read - chunks_counted)
            chunks_counted = reader.chunks_read
            if not chunked:
                # Pieces of a Content-Length (or close-delimited) body are
                # whole reads, at most chunk_size each: handed over as they
                # come, as Tornado does, without copying them together (and
                # without a coroutine per piece: see _hand_over).
                result = self._hand_over(delegate, event.data)
                if result is not None:
                    await self._await_delegate_result(result)
                if work >= YIELD_THRESHOLD:
                    work = 0
                    await asyncio.sleep(0)
                continue
            pending.append(event.data)
            pending_size += len(event.data)
            if pending_size >= chunk_size:
                # Hand over whole chunk_size pieces; never more than
                # chunk_size at once (delegates size their buffers on it).
                gathered = b"".join(pending)
                full = len(gathered) - len(gathered) % chunk_size
                for start in range(0, full, chunk_size):
                    await self._deliver(delegate, [gathered[start : start + chunk_size]])
                rest = gathered[full:]
                pending, pending_size = ([rest] if rest else []), len(rest)
            if pending and event.chunk_end and not _compat.COALESCES_BODY_PIECES:
                # Before Tornado 6.6 chunk boundaries are visible to the
                # application: a chunk ends its delivery, however the
                # reads cut it.
                await self._deliver(delegate, pending)
                pending, pending_size = [], 0
            if work >= YIELD_THRESHOLD:
                work = 0
                await asyncio.sleep(0)

    def _widen_chunked_read(self, reader: MessageReader, want: ReadBytes) -> ReadBytes:
        """A read of every whole chunk the stream already holds, not just the next one.

        Small chunks arrive many to a segment; reading them one at a time
        costs an IOStream read each.  The buffered bytes are peeked, and the
        reader says how many of them surely belong to this body
        (`.MessageReader.readable_from`), so the wider read still never
        takes a byte of the next message.
        """
        if self.stream is None:
            return want
        buffer, start, end = _compat.peek_buffered(self.stream, self.params.chunk_size)
        if end - start <= want.size:
            return want
        size = reader.readable_from(buffer, start, end)
        return ReadBytes(size) if size > want.size else want

    async def _deliver(self, delegate: httputil.HTTPMessageDelegate, pieces: List[bytes]) -> None:
        result = self._hand_over(delegate, pieces[0] if len(pieces) == 1 else b"".join(pieces))
        if result is not None:
            await self._await_delegate_result(result)

    def _hand_over(self, delegate: httputil.HTTPMessageDelegate, data: bytes) -> Any:
        """``delegate.data_received(data)``; returns what it returned (None or
        an awaitable for the caller to await)."""
        # Once our response is finished the request body is of no use to
        # anyone; it is read only to keep the framing in step.
        if self.is_client or self._state.write is not State.DONE:
            return self._call_delegate(delegate.data_received, data)
        return None

    async def _send_error_response(self, status: int) -> None:
        if self.stream is None or self.stream.closed() or self._state.write is not State.IDLE:
            return
        reason = _ERROR_REASONS.get(status, "Bad Request")
        if status == 400:
            # Byte-for-byte what Tornado sends, which its own tests compare.
            response = b"HTTP/1.1 400 Bad Request\r\n\r\n"
        else:
            response = b"HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" % (
                status,
                reason.encode("ascii"),
            )
        try:
            await self._write_through(response)
        except iostream.StreamClosedError:
            pass

    # -- delegate calls ----------------------------------------------------------

    @staticmethod
    def _call_delegate(method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except httputil.HTTPInputError:
            raise  # the delegate found the message malformed: handled as ours
        except Exception:
            app_log.error("Uncaught exception", exc_info=True)
            raise _DelegateFailed() from None

    @staticmethod
    async def _await_delegate_result(result: Awaitable[Any]) -> None:
        try:
            await result
        except httputil.HTTPInputError:
            raise
        except (Exception, asyncio.CancelledError):
            # A delegate's coroutine that was cancelled failed as surely as
            # one that raised (CancelledError is a BaseException).
            app_log.error("Uncaught exception", exc_info=True)
            raise _DelegateFailed() from None

    # -- callbacks, close, detach --------------------------------------------------

    def _clear_callbacks(self) -> None:
        # Breaking these references lets request handlers be collected
        # promptly (CPython reference cycles through the stream).
        self._close_callback = None
        if self._stream_close_callback_set and self.stream is not None:
            self._stream_close_callback_set = False
            self.stream.set_close_callback(None)

    def set_close_callback(self, callback: Optional[Callable[[], None]]) -> None:
        """Sets a callback that will be run when the connection is closed.

        Unlike `.HTTPMessageDelegate.on_connection_close`, which is called if
        the connection closes while a message is being received, this
        callback is used while no delegate is active (on a server: after the
        request was read, before the response is complete).
        """
        self._close_callback = _compat.wrap_callback(callback)

    def _on_connection_close(self) -> None:
        callback = self._close_callback
        self._close_callback = None
        if callback is not None:
            callback()
        self._end_exchange()
        self._clear_callbacks()

    def _end_exchange(self) -> None:
        # Several paths (close, detach, the last write flushed) may each be
        # the one that ends our side; the first wins.
        self._finished = True
        if self._finish_waiter is not None:
            _resolve(self._finish_waiter)

    def close(self) -> None:
        """Close the connection."""
        if self.stream is not None:
            self._close_stream()
        self._state.close()
        self._clear_callbacks()
        self._end_exchange()

    def _close_stream(self) -> None:
        # Responses held for earlier pipelined requests were complete: they
        # go out before the close.
        if self._output_batch is not None:
            self._output_batch.flush()
        self.stream.close()

    def detach(self) -> iostream.IOStream:
        """Take control of the underlying stream.

        Returns the underlying `.IOStream` object and stops all further
        HTTP processing.  May only be called during
        `.HTTPMessageDelegate.headers_received` (or, on a server, while the
        response is being produced, as websockets do).  Nothing beyond the
        current message head has been read from the stream.
        """
        self._clear_callbacks()
        stream = self.stream
        if self._output_batch is not None:
            self._output_batch.flush()  # the new owner writes after our responses
        self._state.detach()
        self.stream = None  # type: ignore[assignment]
        self._end_exchange()
        return stream

    def set_body_timeout(self, timeout: float) -> None:
        """Sets the body timeout for a single request.

        Overrides the value from `.HTTP1ConnectionParameters`.
        """
        self._body_timeout = timeout

    def set_max_body_size(self, max_body_size: int) -> None:
        """Sets the body size limit for a single request.

        Overrides the value from `.HTTP1ConnectionParameters`.
        """
        self._max_body_size = max_body_size

    # -- writing -----------------------------------------------------------------

    def write_headers(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
        chunk: Optional[bytes] = None,
        callback: Optional[Callable[[], None]] = None,
    ) -> Future[None]:
        """Implements `.HTTPConnection.write_headers`.

        ``callback`` (Tornado 5.1's API, deprecated there) runs on the IOLoop
        once the write has been flushed; prefer the returned Future.

        Adds the framing fields (``Transfer-Encoding: chunked`` when the body
        length is unknown and the peer speaks HTTP/1.1) and the
        ``Connection`` field the keep-alive decision calls for.
        """
        if self.is_client:
            assert isinstance(start_line, httputil.RequestStartLine)
            self._request_start_line = start_line
            self._request_method = start_line.method
            framing = request_framing(
                method=start_line.method, content_length=headers.get("Content-Length")
            )
            line = "%s %s HTTP/1.1" % (start_line.method, start_line.path)
        else:
            assert isinstance(start_line, httputil.ResponseStartLine)
            assert self._request_start_line is not None, "no request has been read"
            framing = response_framing(
                request_method=self._request_method,
                request_version=self._request_version,
                status_code=start_line.code,
                content_length=headers.get("Content-Length"),
            )
            if framing.kind is BodyKind.UNTIL_CLOSE:
                # Only the close can end this body for an HTTP/1.0 client.
                self._disconnect_on_finish = True
            if self._request_version >= (1, 1):
                if self._disconnect_on_finish:
                    headers["Connection"] = "close"
            elif self._keep_alive_requested and not self._disconnect_on_finish:
                headers["Connection"] = "Keep-Alive"
            line = status_line(start_line.code, start_line.reason or "")
        if framing is not None and framing.kind is BodyKind.CHUNKED:
            headers["Transfer-Encoding"] = "chunked"
        try:
            data = encode_head(line, headers.get_all())
        except TypeError:
            # A name or value given as bytes (which Tornado accepts).
            data = encode_head(line, head_fields(headers))
        self._state.process(Side.WRITE, Event.HEAD)
        self._body_writer = BodyWriter(framing)
        if chunk:
            data += self._frame(chunk)
        return self._write_bytes(data, callback)

    def _frame(self, chunk: bytes) -> bytes:
        if self._body_writer is None:
            # Deprecated: the caller wrote its own head with write() and
            # frames everything itself.
            return chunk
        try:
            return self._body_writer.frame(chunk)
        except OutputError as error:
            # Stop at once: anything more on this stream would be misframed.
            if self.stream is not None:
                self._close_stream()
            raise httputil.HTTPOutputError(str(error)) from None

    def write(self, chunk: bytes, callback: Optional[Callable[[], None]] = None) -> Future[None]:
        """Implements `.HTTPConnection.write`.

        For backwards compatibility it is allowed but deprecated to skip
        `write_headers` and instead call `write()` with a pre-encoded header
        block.  ``callback`` is Tornado 5.1's deprecated alternative to the
        returned Future.
        """
        if not self._streaming_body and self.stream is not None:
            # A body in several writes: let Nagle gather the pieces until
            # finish() flushes them.
            self._streaming_body = True
            set_nodelay(self.stream, False)
        return self._write_bytes(self._frame(chunk), callback)

    def _write_bytes(
        self, data: bytes, callback: Optional[Callable[[], None]] = None
    ) -> Future[None]:
        if callback is not None:
            _compat.warn_write_callback()
            callback = _compat.wrap_callback(callback)
        future: Future[None]
        if self.stream is None or self.stream.closed():
            future = Future()
            future.set_exception(iostream.StreamClosedError())
            future.exception()  # retrieved: nobody has to await a failed write
            return future
        batch = self._output_batch
        if (
            batch is not None
            and not self._disconnect_on_finish
            and _compat.has_buffered_input(self.stream)
            and batch.hold(data)
        ):
            # The client's next request is already here: this goes out
            # with the responses to it, in one write.
            self._pending_write = None
            if callback is not None:
                self.stream.io_loop.add_callback(callback)
            future = Future()
            future.set_result(None)
            return future
        written = self._pending_write = self._write_through(data)
        if callback is None and written.done() and not written.cancelled():
            if written.exception() is None:
                # Flushed already, as a small write usually is: the stream's
                # own resolved Future says so, and there is nothing to wait for.
                self._pending_write = None
                return written
        future = Future()
        io_loop = self.stream.io_loop
        future_add_done_callback(
            written,
            lambda written: self._on_write_complete(written, future, callback, io_loop),
        )
        return future

    def _write_through(self, data: bytes) -> Future[None]:
        """Write ``data`` now, after any responses held back before it."""
        batch = self._output_batch
        if batch is not None and batch.size:
            data = batch.take() + data
        return self.stream.write(data)

    @staticmethod
    def _on_write_complete(
        written: Future[None],
        future: Future[None],
        callback: Optional[Callable[[], None]],
        io_loop: Any,
    ) -> None:
        error = written.exception()
        if error is not None and not isinstance(error, iostream.StreamClosedError):
            future.set_exception(error)
            return
        if callback is not None:
            io_loop.add_callback(callback)
        # A write cut short by a close still resolves: the caller learns of
        # the close from the connection, as with Tornado's own engine.
        _resolve(future)

    def finish(self) -> None:
        """Implements `.HTTPConnection.finish`."""
        stream_open = self.stream is not None and not self.stream.closed()
        if self._body_writer is not None:
            try:
                tail = self._body_writer.finish()
            except OutputError as error:
                if stream_open:
                    self._close_stream()
                    raise httputil.HTTPOutputError(str(error)) from None
                tail = b""
            if tail and stream_open:
                self._write_bytes(tail)
        if self._state.write is State.IDLE:
            self._state.process(Side.WRITE, Event.HEAD)
        if self._state.write is State.BODY:
            self._state.process(Side.WRITE, Event.END)
        if not self.is_client and self._state.read is not State.DONE:
            # The response is done before the request body was read: the
            # only way to skip the rest of the body is to close afterwards.
            self._disconnect_on_finish = True
        if self.stream is None:
            return
        # Nothing more is coming: send what is buffered without waiting for
        # a full TCP segment.  It stays set for the next exchange, whose head
        # and body usually leave in one write; only a body written in pieces
        # turns Nagle back on (see write()).
        set_nodelay(self.stream, True)
        if self._pending_write is None:
            self._finish_request(None)
        else:
            future_add_done_callback(self._pending_write, self._finish_request)

    def _finish_request(self, future: Optional[Future[None]]) -> None:
        self._clear_callbacks()
        if not self.is_client and self._disconnect_on_finish:
            self.close()
            return
        self._end_exchange()


def head_fields(headers: httputil.HTTPHeaders) -> List[Tuple[str, str]]:
    """The fields of ``headers`` to write, as str (see `_compat.to_native_str`)."""
    return [
        (
            n if n.__class__ is str else _compat.to_native_str(n),
            v if v.__class__ is str else _compat.to_native_str(v),
        )
        for n, v in headers.get_all()
    ]


def read_for(stream: iostream.IOStream, want: Want, stops_at_limits: bool) -> Future[bytes]:
    """The IOStream read that fetches what a `MessageReader` `wants`, and no more.

    ``stops_at_limits``: read heads and lines with the patterns that stop at
    the size limit by themselves, so that the reader sees an oversized head
    or line (see `HTTP1Connection._reads_stop_at_limits`); otherwise
    IOStream enforces the limit with ``max_bytes``.
    """
    read: Any
    if isinstance(want, (ReadBytes, ReadUntilClose)):
        read = stream.read_bytes(want.size, partial=True)
    elif isinstance(want, ReadUntilRegex):
        if stops_at_limits:
            read = stream.read_until_regex(want.pattern)
        else:
            read = stream.read_until_regex(want.unanchored, max_bytes=want.max_bytes)
    elif stops_at_limits:
        read = stream.read_until_regex(line_read_pattern(want.max_bytes))
    else:
        read = stream.read_until(b"\n", max_bytes=want.max_bytes)
    # Any: IOStream's reads are typed Awaitable (5.1: plain Futures).
    return cast("Future[bytes]", read)


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


# The TCP_NODELAY setting tornado_h1alt last gave a stream, kept on the
# stream itself (connections come and go per exchange; the stream stays).
_NODELAY_ATTRIBUTE = "_tornado_h1alt_nodelay"


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


def _resolve(future: Future[None]) -> None:
    # Several paths (close, detach, a finished write) may each be the one
    # that ends an exchange; the first wins and the others are no-ops.
    if not future.done():
        future.set_result(None)


class _HeaderTimeout(Exception):
    """The head did not arrive in time; the stream has been closed."""


class GzipBody:
    """Decodes a ``Content-Encoding: gzip`` body piece by piece.

    The size limit applies to the decompressed body, so a small compressed
    body cannot expand past ``max_body_size`` (a "zip bomb").  Malformed
    gzip data raises `.HTTPInputError`.
    """

    def __init__(self, chunk_size: int, max_body_size: int) -> None:
        self._chunk_size = chunk_size
        self._max_body_size = max_body_size
        self._decompressed_size = 0
        self._decompressor = GzipDecompressor()

    @staticmethod
    def for_headers(
        headers: httputil.HTTPHeaders, chunk_size: int, max_body_size: int
    ) -> Optional[GzipBody]:
        """A decoder if the message is gzip-encoded, else None.

        The headers are changed to describe the decoded body the recipient
        will see: ``Content-Encoding`` moves to ``X-Consumed-Content-Encoding``
        (so the application can still tell what was on the wire).
        """
        if headers.get("Content-Encoding", "").lower() != "gzip":
            return None
        headers.add("X-Consumed-Content-Encoding", headers["Content-Encoding"])
        del headers["Content-Encoding"]
        return GzipBody(chunk_size, max_body_size)

    def decode(self, compressed: bytes) -> Iterator[bytes]:
        """The decompressed pieces of ``compressed``, each at most ``chunk_size``."""
        while compressed:
            try:
                decompressed = self._decompressor.decompress(compressed, self._chunk_size)
            except zlib.error as error:
                raise httputil.HTTPInputError("invalid gzip data: %s" % error) from None
            if decompressed:
                self._decompressed_size += len(decompressed)
                if self._decompressed_size > self._max_body_size:
                    raise httputil.HTTPInputError("decompressed body too large")
                yield decompressed
            tail = self._decompressor.unconsumed_tail
            if not decompressed and len(tail) >= len(compressed):
                # No output and no input consumed: data after the end of
                # the gzip stream, which would otherwise loop forever.
                raise httputil.HTTPInputError(
                    "encountered unconsumed gzip data without making progress"
                )
            compressed = tail

    def finish(self) -> None:
        """All input has been given: raises `.HTTPInputError` if it was truncated."""
        try:
            self._decompressor.flush()
        except zlib.error as error:
            raise httputil.HTTPInputError("invalid gzip data: %s" % error) from None


class _GzipMessageDelegate(httputil.HTTPMessageDelegate):
    """Wraps an `.HTTPMessageDelegate` to decode ``Content-Encoding: gzip`` (see `GzipBody`)."""

    def __init__(
        self, delegate: httputil.HTTPMessageDelegate, chunk_size: int, max_body_size: int
    ) -> None:
        self._delegate = delegate
        self._chunk_size = chunk_size
        self._max_body_size = max_body_size
        self._gzip: Optional[GzipBody] = None

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        self._gzip = GzipBody.for_headers(headers, self._chunk_size, self._max_body_size)
        return self._delegate.headers_received(start_line, headers)

    async def data_received(self, chunk: bytes) -> None:
        pieces = [chunk] if self._gzip is None else self._gzip.decode(chunk)
        for piece in pieces:
            result = self._delegate.data_received(piece)
            if result is not None:
                await result

    def finish(self) -> None:
        if self._gzip is not None:
            try:
                self._gzip.finish()
            except httputil.HTTPInputError:
                # The connection considers this delegate finished, so the
                # wrapped one must hear of the close from us.
                self._delegate.on_connection_close()
                raise
        return self._delegate.finish()

    def on_connection_close(self) -> None:
        return self._delegate.on_connection_close()


def parse_int(s: str) -> int:
    """Parse a non-negative decimal integer (digits only: no sign, space or prefix)."""
    if not _abnf.digits.fullmatch(s):
        raise ValueError("not an integer: %r" % s)
    return int(s)


def parse_hex_int(s: str) -> int:
    """Parse a non-negative hexadecimal integer (hex digits only)."""
    if not _abnf.hex_digits.fullmatch(s):
        raise ValueError("not a hexadecimal integer: %r" % s)
    return int(s, 16)


def is_transfer_encoding_chunked(headers: httputil.HTTPHeaders) -> bool:
    """Returns true if the headers specify ``Transfer-Encoding: chunked``.

    Raises `.HTTPInputError` if any other transfer coding is used, or if
    Content-Length is present as well (RFC 9112 6.1): framing a message two
    ways is how requests are smuggled past proxies.
    """
    if "Transfer-Encoding" not in headers:
        return False
    if "Content-Length" in headers:
        raise httputil.HTTPInputError("Message with both Transfer-Encoding and Content-Length")
    if headers["Transfer-Encoding"].lower() == "chunked":
        return True
    raise httputil.HTTPInputError("Unsupported Transfer-Encoding %s" % headers["Transfer-Encoding"])
