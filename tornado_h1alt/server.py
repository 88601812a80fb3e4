"""HTTP1ServerConnection (the per-connection request loop) and an HTTPServer using it."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, List, Optional

import tornado.httpserver
from tornado import gen, httputil, iostream
from tornado.concurrent import Future
from tornado.log import gen_log

from . import compat
from .connection import HTTP1Connection, HTTP1ConnectionParameters
from .streamio import HeadTimer, OutputBatch, nothing_arrived

__all__ = ["HTTP1ServerConnection", "HTTPServer", "detached_streams"]

# Pipelined requests served back to back before the IOLoop gets a turn.
PIPELINE_BURST = 16

# The streams our server connections handed over by detach() (websockets),
# per server (the connections' delegate), for `.drain` to reach.
_detached: weakref.WeakKeyDictionary[Any, weakref.WeakSet[iostream.IOStream]] = (
    weakref.WeakKeyDictionary()
)


def detached_streams(server: Any) -> List[iostream.IOStream]:
    """The streams ``server``'s connections (on our engine) handed over by
    ``detach()``, as websockets do, that are still open."""
    return [stream for stream in _detached.get(server, ()) if not stream.closed()]


class HTTP1ServerConnection:
    """An HTTP/1.x server connection: reads requests one after another."""

    def __init__(
        self,
        stream: iostream.IOStream,
        params: Optional[HTTP1ConnectionParameters] = None,
        context: Optional[object] = None,
    ) -> None:
        """
        :arg stream: an `.IOStream`
        :arg params: a `.HTTP1ConnectionParameters` or None
        :arg context: an opaque application-defined object that is accessible
            as ``connection.context``
        """
        self.stream = stream
        if params is None:
            params = HTTP1ConnectionParameters()
        self.params = params
        self.context = context
        self._serving_future: Optional[Future[None]] = None
        # The exchange being served, from its creation until it has been read
        # and answered (None between exchanges).
        self._current: Optional[HTTP1Connection] = None
        self._draining = False
        # How a drain ended this connection: it was idle and closed at once.
        self.closed_idle = False
        # The stream was handed over by detach() (to a websocket).
        self.detached = False

    async def close(self) -> None:
        """Closes the connection.

        Returns a `.Future` that resolves after the serving loop has exited.
        """
        self.stream.close()
        assert self._serving_future is not None, "start_serving was never called"
        try:
            await self._serving_future
        except Exception:
            pass  # start_serving's own callback logs it

    def start_draining(self) -> None:
        """Serve no request beyond those already begun, then close (a graceful drain).

        Idempotent.  An idle keep-alive connection (nothing of a next request
        has arrived) closes now; one whose request is in flight or has begun
        to arrive serves that request, with ``Connection: close`` on its
        response if it has not started yet, and closes after it, leaving
        any request pipelined behind it unstarted (RFC 9112 9.3.2: the
        client retries it).  `.drain` drains a whole server this way.
        """
        if self._draining:
            return
        self._draining = True
        current = self._current
        if current is None:
            return  # between exchanges: _serve decides before the next one
        if current.waits_for_request():
            self._close_idle()
        else:
            current.close_after()

    def _close_idle(self) -> None:
        self.closed_idle = True
        self.stream.close()

    def _on_detached(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        self.detached = True
        try:
            streams = _detached.setdefault(delegate, weakref.WeakSet())
        except TypeError:
            return  # a delegate that cannot be weakly referenced: not tracked
        streams.add(self.stream)

    def start_serving(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        """Starts serving requests on this connection.

        :arg delegate: a `.HTTPServerConnectionDelegate`
        """
        assert isinstance(delegate, httputil.HTTPServerConnectionDelegate)
        future: Future[None] = gen.convert_yielded(self._serve(delegate))
        self._serving_future = future
        # Registering the future with the IOLoop makes its errors logged.
        self.stream.io_loop.add_future(future, lambda f: f.result())

    async def _serve(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        # One header timer and one output batch for the whole connection,
        # handed to each request.
        head_timer = HeadTimer(self.stream.io_loop)
        output_batch = OutputBatch(self.stream)
        served_in_a_row = 0
        try:
            # The first request's connection; each next one is made from the
            # one before (see HTTP1Connection._successor).
            connection = HTTP1Connection(
                self.stream,
                False,
                self.params,
                self.context,
                head_timer=head_timer,
                output_batch=output_batch,
            )
            while True:
                if self._draining:
                    # The drain began between two exchanges: serve the next
                    # one only if it has begun to arrive.
                    if nothing_arrived(self.stream):
                        self._close_idle()
                        return
                    connection.close_after()
                request_delegate = delegate.start_request(self, connection)
                self._current = connection
                try:
                    keep_going = await connection.read_message(request_delegate)
                except (
                    iostream.StreamClosedError,
                    iostream.UnsatisfiableReadError,
                    asyncio.CancelledError,
                ):
                    return
                except Exception:
                    gen_log.error("Uncaught exception", exc_info=True)
                    connection.close()
                    return
                finally:
                    self._current = None
                if not keep_going:
                    if connection.stream is None:
                        self._on_detached(delegate)
                    return
                if self._draining:
                    # Our response went out before the drain began (the
                    # request's tail was still being read): nothing more.
                    connection.close()
                    return
                if not compat.has_buffered_input(self.stream):
                    # A keep-alive client usually sends its next request
                    # only once our response has arrived, so a read now
                    # would find nothing: a wasted recv() and a wait on
                    # epoll, whose wake-up costs more than the request's
                    # parsing.  After a turn of the IOLoop (the other
                    # ready connections are served meanwhile) the request
                    # has usually arrived and is read at once.  Tornado
                    # yields here too.  This turn is needed even after a
                    # response finished from another callback (tornado.web
                    # answers from a Task), whose end woke this loop a turn
                    # later: without it, the read found nothing for every
                    # request under wrk.
                    served_in_a_row = 0
                    await asyncio.sleep(0)
                    connection = connection._successor()
                    continue
                # A client pipelining many requests must not starve other
                # connections: when its next request is already buffered
                # (and so would be served without returning to the IOLoop),
                # let the IOLoop run after every PIPELINE_BURST of them.
                # (Tornado yields after each one; a burst lets their
                # responses leave in one write, see OutputBatch.)
                served_in_a_row += 1
                if served_in_a_row >= PIPELINE_BURST:
                    served_in_a_row = 0
                    await asyncio.sleep(0)
                connection = connection._successor()
        finally:
            head_timer.cancel()
            delegate.on_close(self)


class HTTPServer(tornado.httpserver.HTTPServer):
    """`tornado.httpserver.HTTPServer` with tornado_h1alt's engine.

    Takes the same arguments.  Usable directly, or through
    ``HTTPServer.configure("tornado_h1alt.HTTPServer")`` (which is what
    ``python -m tornado.test.runtests --httpserver=tornado_h1alt.HTTPServer``
    does).
    """

    def handle_stream(self, stream: iostream.IOStream, address: Any) -> None:
        context = tornado.httpserver._HTTPRequestContext(
            stream, address, self.protocol, self.trusted_downstream
        )
        connection = HTTP1ServerConnection(stream, self.conn_params, context)  # type: ignore[arg-type]
        self._connections.add(connection)  # type: ignore[arg-type]
        connection.start_serving(self)
