"""Graceful drain: stop an HTTPServer without cutting a request in flight.

Tornado's own way to stop, ``server.stop()`` then
``close_all_connections()``, closes every connection at once: a request in
flight loses its response, and a keep-alive connection whose next request is
on its way loses that request.  `drain` stops accepting, closes only the
connections with nothing of a request in them, lets the others finish the
request they have begun (telling the client ``Connection: close``), and
closes what is left at a deadline.  `drain_on_signal` runs it on SIGTERM.

The per-connection rules are `.HTTP1ServerConnection.start_draining`'s;
this module only applies them to a server's connections and keeps time.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Set

import tornado.httpserver
from tornado import gen, iostream
from tornado.concurrent import Future, future_add_done_callback
from tornado.ioloop import IOLoop
from tornado.log import app_log, gen_log

from .server import HTTP1ServerConnection, HTTPServer, detached_streams

__all__ = ["DrainSummary", "drain", "drain_on_signal"]

# How often a drain looks whether the detached streams it waits for have
# closed (an IOStream has no "closed" future, and their close callback
# belongs to their new owner).
DETACHED_POLL_SECONDS = 0.05

# The most connections a drain takes from each listening socket's queue
# (Tornado's accept handler takes at most its listen backlog per turn too).
ACCEPT_LIMIT = 128

DetachedHook = Callable[[iostream.IOStream], Optional[Awaitable[Any]]]


@dataclass(frozen=True)
class DrainSummary:
    """What a drain did with the connections it found."""

    drained: int
    """Connections that finished the request they had begun, then closed
    (or that the client closed meanwhile)."""
    closed_idle: int
    """Idle keep-alive connections, closed at once."""
    forced: int
    """Connections still open at the deadline (or at a forced end), closed
    then; with an ``on_detached`` hook, detached streams among them."""
    detached: int
    """Streams handed over by ``detach()`` (websockets) open when the drain began."""


async def drain(
    *servers: tornado.httpserver.HTTPServer,
    timeout: float = 30.0,
    on_detached: Optional[DetachedHook] = None,
) -> DrainSummary:
    """Drain ``servers`` gracefully; returns once every connection has closed.

    Each server must run tornado_h1alt's engine (`tornado_h1alt.HTTPServer`,
    or any HTTPServer created after `tornado_h1alt.install`); otherwise
    TypeError, before anything is stopped.

    - New connections are refused: each server stops listening at once
      (after taking the connections already waiting in its listen queue,
      which closing the socket would reset).
    - An idle keep-alive connection closes at once; one whose next request
      has begun to arrive is served, as below.
    - A request in flight finishes; its response says ``Connection: close``
      (if it had not begun yet), and the connection closes after it.
      Requests pipelined behind it are not started: the client retries
      them on a new connection (RFC 9112 9.3.2).
    - After ``timeout`` seconds, whatever is left is closed.

    Streams handed over by ``detach()`` (websockets) are not HTTP any more
    and are left alone, unless ``on_detached`` is given: it is called with
    each of them that is still open (it may return an awaitable), and the
    drain then also waits, within the same deadline, until they have
    closed, closing those still open at the deadline.  For Tornado's
    websockets the hook usually finds its handler and calls
    ``handler.close(1001)`` ("going away").
    """
    return await _Drain(servers, timeout, on_detached).run()


def drain_on_signal(
    *servers: tornado.httpserver.HTTPServer,
    timeout: float = 30.0,
    signals: Sequence[signal.Signals] = (signal.SIGTERM,),
    on_detached: Optional[DetachedHook] = None,
    stop_loop: bool = False,
) -> Future[DrainSummary]:
    """Drain ``servers`` (see `drain`) when the process receives one of ``signals``.

    Returns a Future that resolves to the `DrainSummary` once the drain is
    over, so an ``asyncio.run(main())`` program ends its ``main`` with
    ``await tornado_h1alt.drain_on_signal(server)`` and exits when drained.
    A program that runs ``IOLoop.current().start()`` passes
    ``stop_loop=True`` instead: the loop stops once drained.  A second
    signal during the drain closes what is left at once; later ones do
    nothing.  The handlers replace any the program had for ``signals``.
    Call it on the IOLoop's thread (signal handlers belong to the main
    thread).
    """
    _check_engine(servers)
    io_loop = IOLoop.current()
    asyncio_loop: asyncio.AbstractEventLoop = io_loop.asyncio_loop  # type: ignore[attr-defined]
    done: Future[DrainSummary] = asyncio_loop.create_future()
    running: List[_Drain] = []

    def finished(task: Future[DrainSummary]) -> None:
        try:
            summary = task.result()
        except Exception as error:  # never expected: drain() logs hook errors itself
            done.set_exception(error)
        else:
            gen_log.info(
                "Drained: %d finished their request, %d idle closed, %d forced, %d detached",
                summary.drained,
                summary.closed_idle,
                summary.forced,
                summary.detached,
            )
            done.set_result(summary)
        if stop_loop:
            io_loop.stop()

    def on_signal() -> None:
        if running:
            if not done.done():
                gen_log.info("Second signal: closing the remaining connections now")
                running[0].force()
            return
        gen_log.info("Signal received: draining (at most %s s)", timeout)
        running.append(_Drain(servers, timeout, on_detached))
        future_add_done_callback(gen.convert_yielded(running[0].run()), finished)

    for sig in signals:
        try:
            asyncio_loop.add_signal_handler(sig, on_signal)
        except NotImplementedError:  # Windows' event loops
            signal.signal(sig, lambda *_: asyncio_loop.call_soon_threadsafe(on_signal))
    return done


def _check_engine(servers: Sequence[tornado.httpserver.HTTPServer]) -> None:
    if not servers:
        raise TypeError("drain needs at least one server")
    # The name install() replaces (imported there from http1connection).
    engine: object = getattr(tornado.httpserver, "HTTP1ServerConnection", None)
    installed = engine is HTTP1ServerConnection
    for server in servers:
        if not isinstance(server, tornado.httpserver.HTTPServer):
            raise TypeError("drain takes HTTPServers, not %r" % (server,))
        if not (installed or isinstance(server, HTTPServer)):
            raise TypeError(
                "%r does not run tornado_h1alt's engine: call tornado_h1alt.install() "
                "before creating it, or create a tornado_h1alt.HTTPServer" % (server,)
            )


class _Drain:
    """One drain of some servers: `run` it once; `force` ends it early."""

    def __init__(
        self,
        servers: Sequence[tornado.httpserver.HTTPServer],
        timeout: float,
        on_detached: Optional[DetachedHook],
    ) -> None:
        _check_engine(servers)
        self._servers = servers
        self._timeout = timeout
        self._on_detached = on_detached
        self._forced: Optional[Future[None]] = None
        self._force_requested = False

    def force(self) -> None:
        """Close what is left now instead of at the deadline."""
        self._force_requested = True
        if self._forced is not None and not self._forced.done():
            self._forced.set_result(None)

    async def run(self) -> DrainSummary:
        loop = asyncio.get_event_loop()
        deadline = loop.time() + self._timeout
        self._forced = loop.create_future()
        if self._force_requested:
            self._forced.set_result(None)
        ours: List[HTTP1ServerConnection] = []
        others: List[Any] = []  # made before a late install(): Tornado's engine
        for server in self._servers:
            _accept_waiting(server)
            server.stop()  # closes the listening sockets: new connections are refused
            found: List[Any] = list(server._connections)
            for each in found:
                if isinstance(each, HTTP1ServerConnection):
                    ours.append(each)
                else:
                    others.append(each)
        if others:
            gen_log.warning(
                "drain: %d connection(s) run Tornado's own engine (made before "
                "tornado_h1alt.install()): they are closed at the deadline unless "
                "their clients close them first",
                len(others),
            )
        for connection in ours:
            connection.start_draining()
        detached = [stream for server in self._servers for stream in detached_streams(server)]
        waits = [f for f in map(_serving, ours + others) if f is not None]
        if self._on_detached is not None:
            waits.extend(self._call_hook(self._on_detached, detached))
        # (gather() is never cancelled: that would cancel the serving loops.)
        everything: Future[Any] = asyncio.gather(*waits, return_exceptions=True)
        waits_for_detached = self._on_detached is not None

        def detached_open() -> bool:
            return waits_for_detached and any(not stream.closed() for stream in detached)

        while not self._forced.done():
            remaining = deadline - loop.time()
            if remaining <= 0 or (everything.done() and not detached_open()):
                break
            step = min(remaining, DETACHED_POLL_SECONDS) if detached_open() else remaining
            await asyncio.wait(
                [everything, self._forced], timeout=step, return_when=asyncio.FIRST_COMPLETED
            )

        closed_idle = sum(1 for c in ours if c.closed_idle)
        forced = 0
        for connection in ours:
            if not connection.closed_idle and _still_serving(connection):
                forced += 1
                connection.stream.close()
        drained = len(ours) - closed_idle - forced
        for other in others:
            if _still_serving(other):
                forced += 1
                await other.close()
        if waits_for_detached:
            for stream in detached:
                if not stream.closed():
                    forced += 1
                    stream.close()
        return DrainSummary(
            drained=drained, closed_idle=closed_idle, forced=forced, detached=len(detached)
        )

    @staticmethod
    def _call_hook(hook: DetachedHook, streams: List[iostream.IOStream]) -> Set[Future[Any]]:
        waits: Set[Future[Any]] = set()
        for stream in streams:
            try:
                result = hook(stream)
            except Exception:
                app_log.error("Uncaught exception in drain's on_detached hook", exc_info=True)
                continue
            if result is not None:
                future: Future[Any] = gen.convert_yielded(result)
                future_add_done_callback(future, _log_hook_failure)
                waits.add(future)
        return waits


def _accept_waiting(server: tornado.httpserver.HTTPServer) -> None:
    """Accept the connections the kernel has completed but the server has
    not accepted yet, as its accept handler would on the IOLoop's next turn.

    Closing a listening socket resets the connections in its queue, and
    their clients may have sent a request already; accepted, they are
    drained like the others (served if their request has begun to arrive).
    At most ACCEPT_LIMIT per socket: a flood must not hold the drain up.
    """
    sockets: Dict[int, socket.socket] = getattr(server, "_sockets", {})
    for sock in list(sockets.values()):
        for _ in range(ACCEPT_LIMIT):
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                break  # none left
            except ConnectionAbortedError:
                continue  # closed while still queued
            except OSError:
                break
            server._handle_connection(connection, address)


def _serving(connection: Any) -> Optional[Future[None]]:
    """A server connection's serving loop (ours and Tornado's keep it under
    this name), done once the connection is over."""
    future: Optional[Future[None]] = getattr(connection, "_serving_future", None)
    return future


def _still_serving(connection: Any) -> bool:
    serving = _serving(connection)
    return serving is not None and not serving.done()


def _log_hook_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        app_log.error("Uncaught exception in drain's on_detached hook", exc_info=future.exception())
