"""HTTP1ConnectionParameters and HTTP1Connection: Tornado's interface over the core.

`HTTP1Connection` drives one `~tornado_h1alt.h1.exchange.Exchange` over
Tornado's `~tornado.iostream.IOStream`: it reads what the exchange's read
plan asks for, hands the events to the `~tornado.httputil.HTTPMessageDelegate`,
writes the bytes the exchange returns, resolves the futures and runs the
timeouts.  Every protocol rule is the exchange's; every Tornado-version
difference is `compat`'s.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, List, Optional, Union

from tornado import gen, httputil, iostream
from tornado.concurrent import Future, future_add_done_callback
from tornado.log import app_log, gen_log

from . import compat
from .decompress import GzipMessageDelegate
from .errors import log_malformed, output_error
from .h1.errors import OutputError, ProtocolError
from .h1.events import ConnectionClosed, EndOfMessage, Event, Head, RequestHead, ResponseHead
from .h1.exchange import COALESCED_CHUNKS, MAX_INTERIM_RESPONSES, Exchange
from .streamio import (
    LARGE_BODY,
    HeadTimer,
    OutputBatch,
    bytes_at_close,
    close_lingering,
    nothing_arrived,
    read_for,
    set_nodelay,
    write_head_and_body,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_HEADER_SIZE",
    "HTTP1Connection",
    "HTTP1ConnectionParameters",
    "MAX_INTERIM_RESPONSES",
]

# HTTP1ConnectionParameters' defaults, as Tornado's.
DEFAULT_CHUNK_SIZE = 65536
DEFAULT_MAX_HEADER_SIZE = 65536


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


_new_tuple = tuple.__new__


class _DelegateFailed(Exception):
    """A delegate method raised; it has been logged to app_log already."""


def _delegate_failed() -> _DelegateFailed:
    """Log the exception a delegate method raised (being handled now); the
    error that ends the exchange."""
    app_log.error("Uncaught exception", exc_info=True)
    return _DelegateFailed()


class _HeaderTimeout(Exception):
    """The head did not arrive in time; the stream has been closed."""


class HTTP1Connection(httputil.HTTPConnection):
    """Implements the HTTP/1.x protocol for one request/response exchange.

    This class can be used on its own for clients, or via
    `.HTTP1ServerConnection` for servers.
    """

    # Per-exchange fields and their initial values (one exchange per request
    # makes the constructor hot, so they are class attributes until set).
    # Our side's message has been written and flushed (or the connection is
    # closed / detached); `_finish_waiter` is created only if someone has to
    # wait for that (see _end_exchange).
    _finished = False
    _finish_waiter: Optional[Future[None]] = None
    _close_callback: Optional[Callable[[], None]] = None
    _pending_write: Optional[Future[None]] = None
    _streaming_body = False  # write() was called: the body goes in pieces
    # True from the moment the delegate has seen a head until it has been
    # given finish() or on_connection_close(): exactly one of the two.
    _delegate_open = False
    _header_timed_out = False
    _owns_head_timer = False
    # Whether we put a close callback on the stream (and must take it off).
    _stream_close_callback_set = False
    # The read the next head waits on, while it waits (see waits_for_request).
    _head_read: Optional[Future[bytes]] = None

    def __init__(
        self,
        stream: iostream.IOStream,
        is_client: bool,
        params: Optional[HTTP1ConnectionParameters] = None,
        context: Optional[object] = None,
        *,
        head_timer: Optional[HeadTimer] = None,
        output_batch: Optional[OutputBatch] = None,
    ) -> None:
        """
        :arg stream: an `.IOStream`
        :arg bool is_client: client or server
        :arg params: a `.HTTP1ConnectionParameters` instance or ``None``
        :arg context: an opaque application-defined object that can be accessed
            as ``connection.context``.
        :arg head_timer: the stream's `.HeadTimer`, shared by the connections
            that serve one stream in turn (`.HTTP1ServerConnection`); by
            default each connection makes its own when it needs one.
        :arg output_batch: the stream's `.OutputBatch` (a server's, shared
            in the same way), which gathers responses to pipelined requests.
        """
        self.is_client = is_client
        self.stream = stream
        if params is None:
            params = HTTP1ConnectionParameters()
        self.params = params
        self.context = context
        self.no_keep_alive = params.no_keep_alive
        # The delegate may change these for its own message, so they are
        # copied rather than read from params each time.  Limits go to the
        # core as int and flags as bool: Tornado's own parameters and programs
        # may give floats or None, which the compiled core would refuse.
        self._max_body_size = self._default_max_body_size = int(
            params.max_body_size if params.max_body_size is not None else stream.max_buffer_size
        )
        self._body_timeout = params.body_timeout
        self._head_timer = head_timer
        self._output_batch = output_batch
        self._exchange_args = (  # (by position: see Exchange.__init__)
            bool(is_client),
            int(params.max_header_size or DEFAULT_MAX_HEADER_SIZE),  # max_header_size
            int(params.chunk_size or DEFAULT_CHUNK_SIZE),  # chunk_size
            None,  # max_body_size: set once the head has been handled
            # coalesce_chunks: chunk boundaries are not the application's
            # business from 6.6 on (see compat.COALESCES_BODY_PIECES).
            COALESCED_CHUNKS if compat.COALESCES_BODY_PIECES else 0,
            bool(params.no_keep_alive),  # no_keep_alive
        )
        self._exchange = Exchange(*self._exchange_args)
        # A server answers an oversized head or line with 414/431/400; a
        # client keeps Tornado's contract (IOStream's UnsatisfiableReadError).
        self._answers_oversize = not is_client
        # Whether _reads_stop_at_limits is true whatever the stream holds.
        self._always_stops_at_limits = not is_client and compat.ALWAYS_SEARCHES_FROM_BUFFER_START
        if is_client:
            # As with Tornado's engine, the connection takes the stream's
            # close callback over from whoever set it (simple_httpclient sets
            # one while connecting); closes now reach the delegate through us.
            stream.set_close_callback(None)

    def _successor(self) -> HTTP1Connection:
        """A connection for the next exchange on this one's stream: what the
        constructor makes from this one's arguments (so without what the
        delegate changed for its own message, as its body size limit).

        A server's request loop makes one connection per request, and half
        of what the constructor costs is working out these settings, which
        are the same for every request on a stream; they are copied here.
        (Copied one by one: updating ``__dict__`` in one call turns the
        instance's attributes into a plain dict, which made every later
        attribute access slower and the whole request 8% dearer.)
        """
        successor: HTTP1Connection = object.__new__(HTTP1Connection)
        successor.is_client = self.is_client
        successor.stream = self.stream
        successor.params = self.params
        successor.context = self.context
        successor.no_keep_alive = self.no_keep_alive
        successor._max_body_size = successor._default_max_body_size = self._default_max_body_size
        successor._body_timeout = self.params.body_timeout
        successor._head_timer = self._head_timer
        successor._output_batch = self._output_batch
        successor._exchange_args = self._exchange_args
        successor._exchange = Exchange(*self._exchange_args)
        successor._answers_oversize = self._answers_oversize
        successor._always_stops_at_limits = self._always_stops_at_limits
        return successor

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
        future: Future[bool] = gen.convert_yielded(self.read_message(delegate))
        return future

    async def read_message(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        """`read_response` as a coroutine, without the Future around it.

        `.HTTP1ServerConnection` and the keep-alive client await this
        directly: one Task less per message.
        """
        if self.params.decompress:
            delegate = GzipMessageDelegate(delegate, self.params.chunk_size, self._max_body_size)
        exchange = self._exchange
        self._delegate_open = False
        try:
            if not await self._read_heads(delegate):
                self._delegate_open = False
                return False  # detached
            # Most requests have no body: their end is known at once.
            event = exchange.next_event()
            if event.__class__ is not EndOfMessage:
                if not await self._read_body(delegate, event):
                    return False
            if not exchange.answered:
                # (_call_delegate, spelt out: this runs for every message.)
                try:
                    delegate.finish()
                except httputil.HTTPInputError:
                    # A wrapper (gzip) refused the body and has already told
                    # the wrapped delegate the connection is closing.
                    self._delegate_open = False
                    raise
                except Exception:
                    raise _delegate_failed() from None
                # Only a finish() that returned ends the delegate's message: if
                # it raised, on_connection_close still follows.
                self._delegate_open = False
            if not self._finished and self.stream is not None and not self.stream.closed():
                await self._wait_for_finish()
            if self.is_client and not exchange.keep_alive:
                self.close()
            return self.stream is not None and not self.stream.closed()
        except _HeaderTimeout:
            return False
        except (ProtocolError, httputil.HTTPInputError) as error:
            log_malformed(self.context, error)
            if not self.is_client:
                await self._send_error_response(error)
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
            if self._close_callback is not None or self._stream_close_callback_set:
                self._clear_callbacks()

    async def _wait_for_finish(self) -> None:
        """Wait for the application to finish the response it is producing."""
        waiter = self._finish_waiter = Future()
        asyncio.get_running_loop().call_soon(self._listen_for_close)
        await waiter

    def _listen_for_close(self) -> None:
        """Let the stream's close callback notice a vanished peer, if the
        application is still working a turn after the request.

        While the application works, the stream is not being read, so only
        the close callback notices a vanished peer.  But setting it makes
        IOStream listen for reads (epoll_ctl), and when the next request
        then arrives before it is read, IOStream reads it into its buffer
        and stops listening (epoll_ctl again): two system calls and their
        IOLoop bookkeeping per request.  Most applications (tornado.web's
        handlers among them) have finished by the time this runs: the
        application's own callback was scheduled before it.
        """
        if self._finished or self.stream is None:
            return
        if self.stream.closed():
            # Closed meanwhile (a failed write): as the close callback would
            # have.
            self._on_connection_close()
            return
        self.stream.set_close_callback(self._on_connection_close)
        self._stream_close_callback_set = True

    async def _read_heads(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        """Read the head, and on a client any 1xx heads before it; hand each
        to the delegate, then let the exchange read on to the body.

        Returns False if the delegate detached the stream.
        """
        exchange = self._exchange
        # The head's deadline, once armed (see _arm_head_timer).
        armed: Optional[HeadTimer] = None
        while True:
            # Between messages the exchange usually holds nothing, and then
            # there is nothing to parse before reading.
            event = exchange.next_event() if exchange.has_input else None
            while event is None:
                read = read_for(
                    self.stream,
                    exchange.wants(),
                    self._always_stops_at_limits or self._reads_stop_at_limits(),
                )
                if not read.done():
                    self._head_read = read
                    if armed is None:
                        armed = self._arm_head_timer()
                try:
                    data = await read
                except iostream.StreamClosedError:
                    if self._header_timed_out:
                        raise _HeaderTimeout() from None
                    raise
                finally:
                    self._head_read = None
                exchange.receive_data(data)
                event = exchange.next_event()
            if event.__class__ is ConnectionClosed:
                raise iostream.StreamClosedError()
            head: Head = event  # type: ignore[assignment]
            if armed is not None:
                armed.disarm()
                armed = None  # an interim response's successor has its own deadline
            start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine]
            if head.__class__ is RequestHead:
                # (RequestStartLine is a named tuple, whose __new__ is a Python
                # function that does just this: one call less per request.)
                start_line = _new_tuple(
                    httputil.RequestStartLine, (head.method, head.target, head.http_version)
                )
            else:
                assert head.__class__ is ResponseHead
                start_line = httputil.ResponseStartLine(
                    head.http_version, head.status_code, head.reason
                )
            headers = compat.headers_from_fields(head.fields)
            self._delegate_open = True
            # (_call_delegate, spelt out: this runs for every message.)
            try:
                result = delegate.headers_received(start_line, headers)
            except httputil.HTTPInputError:
                raise
            except Exception:
                raise _delegate_failed() from None
            if result is not None:
                await self._await_delegate_result(result)
            exchange.max_body_size = self._max_body_size
            owed = exchange.after_head()
            if owed is None:
                if exchange.detached:
                    return False
                # The delegate closed the connection from headers_received.
                raise iostream.StreamClosedError()
            if owed:
                self._write_through(owed)
            if exchange.head is not None:
                return True
            # An interim (1xx) response: the final one follows.

    def _arm_head_timer(self) -> Optional[HeadTimer]:
        """Start the head's deadline, now that a read has to wait; returns
        the timer, or None without a ``header_timeout``.

        One deadline covers the whole head (it is also the idle keep-alive
        timer HTTPServer sets), kept by a timer that lives as long as the
        stream rather than one scheduled and cancelled per request.  It is
        armed only once a read has to wait: a head already buffered (as a
        keep-alive client's next request usually is, see
        HTTP1ServerConnection) needs no deadline.
        """
        header_timeout = self.params.header_timeout
        if header_timeout is None:
            return None
        timer = self._head_timer
        if timer is None:
            # Standalone use (no HTTP1ServerConnection to share one): this
            # exchange's own timer, cancelled when it ends.
            timer = self._head_timer = HeadTimer(self.stream.io_loop)
            self._owns_head_timer = True
        timer.arm(header_timeout, self._on_header_timeout)
        return timer

    def waits_for_request(self) -> bool:
        """On a server: this connection waits for a request of which nothing
        has arrived, not even a first byte (an idle keep-alive connection).

        Bytes count as arrived wherever they are: parsed into a partial head,
        in the IOStream's buffer, in a read that has completed but not been
        handed to us yet, or still in the socket (where the end of the
        stream counts too: reading it is how the close is noticed).
        """
        read = self._head_read
        return (
            read is not None
            and not read.done()
            and not self._exchange.has_input
            and nothing_arrived(self.stream)
        )

    def close_after(self) -> None:
        """End the connection with this exchange, as a draining server does:
        a response not yet begun says ``Connection: close``, and the stream
        closes once our side's message is complete (see `.Exchange.close_after`)."""
        self._exchange.close_after()

    def _reads_stop_at_limits(self) -> bool:
        """Whether head and line reads use the patterns that stop at the size
        limit by themselves (see `.read_for`): on a server, whose IOStream
        can search from the start of its buffer."""
        return self._answers_oversize and compat.searches_from_buffer_start(self.stream)

    def _on_header_timeout(self) -> None:
        # A client that never finishes its head (or an idle keep-alive
        # connection): close quietly, as Tornado does.
        self._header_timed_out = True
        self.close()

    async def _read_body(
        self, delegate: httputil.HTTPMessageDelegate, event: Optional[Event]
    ) -> bool:
        """Read the body, from its first ``event`` on; False if it timed out."""
        if self._body_timeout is None:
            await self._read_body_events(delegate, event)
            return True
        try:
            await gen.with_timeout(
                self.stream.io_loop.time() + self._body_timeout,
                gen.convert_yielded(self._read_body_events(delegate, event)),
                quiet_exceptions=iostream.StreamClosedError,
            )
        except compat.TIMEOUT_ERRORS:
            gen_log.info("Timeout reading body from %s", self.context)
            self._close_stream()
            return False
        return True

    async def _read_body_events(
        self, delegate: httputil.HTTPMessageDelegate, event: Optional[Event]
    ) -> None:
        exchange = self._exchange
        stream = self.stream
        chunk_size = exchange.chunk_size
        chunked = exchange.reads_chunked
        # The pieces of a chunked body are gathered and handed over together,
        # whenever we would otherwise wait for the network or have a
        # chunk_size worth: chunk boundaries carry no meaning, and this
        # bounds data_received calls however the peer slices its body.
        pending: List[bytes] = []
        pending_size = 0
        while True:
            if event is None:
                want = exchange.wants()
                if chunked:
                    want = exchange.widen(want, *compat.peek_buffered(stream, chunk_size))
                read = read_for(
                    stream, want, self._always_stops_at_limits or self._reads_stop_at_limits()
                )
                if pending and not read.done():
                    await self._deliver(delegate, pending)
                    pending, pending_size = [], 0
                try:
                    data = await read
                except iostream.StreamClosedError as error:
                    data = bytes_at_close(want, error)  # the close may end this body
                exchange.receive_data(data)
                # Held by the exchange only, which lets go of it once it is
                # handed over: a large body piece is not kept alive by us
                # while IOStream allocates the next read.
                del data
                event = exchange.next_event()
                continue
            if event.__class__ is EndOfMessage:
                if pending:
                    await self._deliver(delegate, pending)
                return
            piece: bytes = event.data  # type: ignore[union-attr]
            if not chunked:
                # Pieces of a Content-Length (or close-delimited) body are
                # whole reads, at most chunk_size each: handed over as they
                # come, as Tornado does, without copying them together (and
                # without a coroutine per piece: see _hand_over).
                result = self._hand_over(delegate, piece)
                if result is not None:
                    await self._await_delegate_result(result)
            else:
                pending.append(piece)
                pending_size += len(piece)
                if pending_size >= chunk_size:
                    # Hand over whole chunk_size pieces; never more than
                    # chunk_size at once (delegates size their buffers on it).
                    gathered = b"".join(pending)
                    full = len(gathered) - len(gathered) % chunk_size
                    for start in range(0, full, chunk_size):
                        await self._deliver(delegate, [gathered[start : start + chunk_size]])
                    rest = gathered[full:]
                    pending, pending_size = ([rest] if rest else []), len(rest)
                if pending and event.chunk_end and not compat.COALESCES_BODY_PIECES:  # type: ignore[union-attr]
                    # Before Tornado 6.6 chunk boundaries are visible to the
                    # application: a chunk ends its delivery, however the
                    # reads cut it.
                    await self._deliver(delegate, pending)
                    pending, pending_size = [], 0
            if exchange.yield_due():
                await asyncio.sleep(0)
            event = exchange.next_event()

    async def _deliver(self, delegate: httputil.HTTPMessageDelegate, pieces: List[bytes]) -> None:
        result = self._hand_over(delegate, pieces[0] if len(pieces) == 1 else b"".join(pieces))
        if result is not None:
            await self._await_delegate_result(result)

    def _hand_over(self, delegate: httputil.HTTPMessageDelegate, data: bytes) -> Any:
        """``delegate.data_received(data)``; returns what it returned (None or
        an awaitable for the caller to await).  Nothing once our response is
        complete (see `.Exchange.answered`)."""
        if self._exchange.answered:
            return None
        return self._call_delegate(delegate.data_received, data)

    async def _send_error_response(
        self, error: Union[ProtocolError, httputil.HTTPInputError]
    ) -> None:
        if self.stream is None or self.stream.closed():
            return
        # A delegate's own HTTPInputError (gzip) is a plain 400.
        status = error.status_hint if isinstance(error, ProtocolError) else 400
        response = self._exchange.error_response(status)
        if response is None:
            return  # our response has begun: nothing can be said any more
        try:
            await self._write_through(response)
        except iostream.StreamClosedError:
            return
        # The client may still be sending what we refused.
        await close_lingering(self.stream)

    # -- delegate calls ----------------------------------------------------------

    @staticmethod
    def _call_delegate(method: Callable[..., Any], *args: Any) -> Any:
        try:
            return method(*args)
        except httputil.HTTPInputError:
            raise  # the delegate found the message malformed: handled as ours
        except Exception:
            raise _delegate_failed() from None

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
        # promptly (CPython reference cycles through the stream).  (The
        # per-message path calls this only if a callback is set: the call
        # costs more than that test.)
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
        self._close_callback = compat.wrap_callback(callback)

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
        waiter = self._finish_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """Close the connection."""
        if self.stream is not None:
            self._close_stream()
        self._exchange.close()
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
        self._exchange.detach()
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
        self._max_body_size = int(max_body_size)

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

        The exchange adds the framing fields (``Transfer-Encoding: chunked``
        when the body length is unknown and the peer speaks HTTP/1.1) and
        the ``Connection`` field its keep-alive decision calls for.
        """
        if self.is_client:
            assert isinstance(start_line, httputil.RequestStartLine)
            data = self._exchange.send_request(
                start_line.method, start_line.path, headers, compat.grouped_fields(headers)
            )
        else:
            assert isinstance(start_line, httputil.ResponseStartLine)
            data = self._exchange.send_response(
                start_line.code, start_line.reason or "", headers, compat.grouped_fields(headers)
            )
        if chunk:
            body = self._frame(chunk)
            if len(body) >= LARGE_BODY:
                # (one write of head + body would copy the body behind the head)
                return self._write_bytes(data, callback, body)
            data += body
        return self._write_bytes(data, callback)

    def _frame(self, chunk: bytes) -> bytes:
        if type(chunk) is not bytes:
            # Applications also write bytearray and memoryview; the core
            # (whose compiled build checks its annotations) takes bytes.
            chunk = bytes(chunk)
        try:
            return self._exchange.send_data(chunk)
        except OutputError as error:
            # Stop at once: anything more on this stream would be misframed.
            if self.stream is not None:
                self._close_stream()
            raise output_error(error) from None

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
        self, data: bytes, callback: Optional[Callable[[], None]] = None, body: bytes = b""
    ) -> Future[None]:
        """Write ``data`` (then ``body``, a `LARGE_BODY` kept apart from its head)."""
        if callback is not None:
            compat.warn_write_callback()
            callback = compat.wrap_callback(callback)
        future: Future[None]
        if self.stream is None or self.stream.closed():
            future = Future()
            future.set_exception(iostream.StreamClosedError())
            future.exception()  # retrieved: nobody has to await a failed write
            return future
        batch = self._output_batch
        if (
            batch is not None
            and not body
            and self._exchange.keep_alive
            and compat.has_buffered_input(self.stream)
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
        if body or (batch is not None and batch.size):
            written = self._write_through(data, body)
        else:
            written = self.stream.write(data)  # (_write_through's common case)
        self._pending_write = written
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

    def _write_through(self, data: bytes, body: bytes = b"") -> Future[None]:
        """Write ``data`` (and ``body`` after it) now, after any responses held
        back before it."""
        batch = self._output_batch
        if batch is not None and batch.size:
            data = batch.take() + data
        if body:
            return write_head_and_body(self.stream, data, body)
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
        if not future.done():
            future.set_result(None)

    def finish(self) -> None:
        """Implements `.HTTPConnection.finish`."""
        try:
            tail = self._exchange.send_end()
        except OutputError as error:
            if self.stream is not None and not self.stream.closed():
                self._close_stream()
                raise output_error(error) from None
            tail = b""
        if tail:
            self._write_bytes(tail)  # (nothing is written on a closed stream)
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
        if self._close_callback is not None or self._stream_close_callback_set:
            self._clear_callbacks()
        if not self.is_client and not self._exchange.keep_alive:
            self.close()
            return
        self._end_exchange()
