"""HTTP1ServerConnection (the per-connection request loop) and an HTTPServer using it."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

import tornado.httpserver
from tornado import gen, httputil, iostream
from tornado.concurrent import Future
from tornado.log import gen_log

from . import compat
from .connection import HTTP1Connection, HTTP1ConnectionParameters
from .streamio import HeadTimer, OutputBatch

__all__ = ["HTTP1ServerConnection", "HTTPServer"]

# Pipelined requests served back to back before the IOLoop gets a turn.
PIPELINE_BURST = 16


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
            while True:
                connection = HTTP1Connection(
                    self.stream,
                    False,
                    self.params,
                    self.context,
                    head_timer=head_timer,
                    output_batch=output_batch,
                )
                request_delegate = delegate.start_request(self, connection)
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
                if not keep_going:
                    return
                if not compat.has_buffered_input(self.stream):
                    # A keep-alive client usually sends its next request
                    # only once our response has arrived, so a read now
                    # would find nothing: a wasted recv() and a wait on
                    # epoll, whose wake-up costs more than the request's
                    # parsing.  After one turn of the IOLoop (the other
                    # ready connections are served meanwhile) the request
                    # has often arrived and is read at once.  Tornado yields
                    # here too.  An exchange that waited for the application
                    # to finish (tornado.web answers from a Task) has had
                    # that turn already.
                    served_in_a_row = 0
                    if not connection.waited_for_finish:
                        await asyncio.sleep(0)
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
