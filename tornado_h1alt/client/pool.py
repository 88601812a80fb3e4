"""The connection pool's bookkeeping: connections per key, limits, waiting requests.

`ConnectionPool` is a state machine with no sockets and no clock: it is
told the time, and every call answers with `PoolActions` (which waiting
request gets which connection, which connections to close), which
`tornado_h1alt.client.streams.StreamPool` applies to real streams.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass, field
from typing import Callable, Dict, Generic, Hashable, List, Optional, Tuple, TypeVar

from .reuse import DEFAULT_IDLE_TIMEOUT

__all__ = ["ConnectionPool", "Grant", "PoolActions", "PoolLimits"]

C = TypeVar("C")  # a pooled connection
W = TypeVar("W", bound=Hashable)  # a request waiting for one


@dataclass(frozen=True)
class PoolLimits:
    """The pool's limits.

    :arg max_connections: open connections in total (idle ones included).
    :arg max_connections_per_host: open connections per `PoolKey`.
    :arg idle_timeout: seconds an unused connection is kept.
    :arg max_requests_per_connection: exchanges one connection may carry
        (None: no limit).
    """

    max_connections: int = 10
    max_connections_per_host: int = 10
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_requests_per_connection: Optional[int] = None

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_connections_per_host < 1:
            raise ValueError("connection limits must be at least 1")
        if self.idle_timeout < 0:
            raise ValueError("idle_timeout must not be negative")
        if self.max_requests_per_connection is not None and self.max_requests_per_connection < 1:
            raise ValueError("max_requests_per_connection must be at least 1 (or None)")


@dataclass(frozen=True)
class Grant(Generic[C]):
    """A waiting request's turn: reuse ``connection``, or (if None) open a new one.

    For a new connection a slot has been reserved; the holder must give it
    back with `ConnectionPool.release` or `ConnectionPool.discard`.
    """

    key: Hashable
    connection: Optional[C]


@dataclass
class PoolActions(Generic[C, W]):
    """What the caller must do after a `ConnectionPool` call."""

    grants: List[Tuple[W, Grant[C]]] = field(default_factory=list)
    to_close: List[C] = field(default_factory=list)


@dataclass
class _Idle(Generic[C]):
    connection: C
    key: Hashable
    expires_at: float
    order: int  # release order, for least-recently-used eviction


class ConnectionPool(Generic[C, W]):
    """Connections per key, their limits and the requests waiting for one.

    Pure bookkeeping: it never touches a connection itself and has no clock;
    every call that may change something returns `PoolActions`.  A request
    calls `checkout` with a waiter token and gets its `Grant` (now, in the
    returned actions, or from a later call's actions, in FIFO order among
    the requests it could serve); it ends with exactly one `release` or
    `discard`.

    Counted as open: idle connections, connections in use and slots
    reserved for connections being opened.  Idle connections are reused
    newest first (the least likely to have been closed by the server) and
    evicted oldest first when a request for another key needs the room.
    """

    def __init__(
        self,
        limits: PoolLimits,
        is_usable: Optional[Callable[[C], bool]] = None,
        is_poolable: Optional[Callable[[C], bool]] = None,
    ) -> None:
        """
        :arg limits: a `PoolLimits`
        :arg is_usable: checked before an idle connection is reused;
            False (closed by the peer, unexpected bytes) means close it instead.
        :arg is_poolable: checked before a released connection is pooled
            (default: ``is_usable``).  A cheaper check will do, since
            ``is_usable`` runs again when the connection is reused.
        """
        self.limits = limits
        self._is_usable: Callable[[C], bool] = is_usable or (lambda connection: True)
        self._is_poolable: Callable[[C], bool] = is_poolable or self._is_usable
        self._idle: Dict[Hashable, List[_Idle[C]]] = {}
        self._open: Dict[Hashable, int] = {}
        self._total = 0
        self._waiters: collections.OrderedDict[W, Tuple[Hashable, bool]] = collections.OrderedDict()
        self._release_order = itertools.count()
        self.closed = False

    # -- requests -----------------------------------------------------------------

    def checkout(
        self, key: Hashable, now: float, waiter: W, fresh: bool = False
    ) -> PoolActions[C, W]:
        """Ask for a connection for ``key``; ``fresh`` refuses idle ones.

        ``waiter`` appears in the grants of these actions or of a later
        call's, unless it is `cancel`\\ ed first.
        """
        actions: PoolActions[C, W] = PoolActions()
        self._expire(now, actions)
        if not self._waiters:
            # Nobody is ahead in the queue: the common case, without it.
            grant = self._try_grant(key, fresh, actions)
            if grant is not None:
                actions.grants.append((waiter, grant))
                return actions
        self._waiters[waiter] = (key, fresh)
        self._serve(actions)
        return actions

    def take_idle(self, key: Hashable, now: float) -> Tuple[Optional[C], PoolActions[C, W]]:
        """An idle connection for ``key`` if one can be had at once, else None.

        Never reserves a slot for a new connection, and never overtakes a
        waiting request: with anyone waiting the answer is None.  A
        connection returned is in use, to be given back with `release` like
        any granted one.
        """
        actions: PoolActions[C, W] = PoolActions()
        self._expire(now, actions)
        if self._waiters:
            return None, actions
        return self._pop_idle(key, actions), actions

    def cancel(self, waiter: W) -> bool:
        """Stop waiting.  False if ``waiter`` has already been granted (or is unknown)."""
        return self._waiters.pop(waiter, None) is not None

    def release(
        self, key: Hashable, connection: C, reusable: bool, now: float, idle_timeout: float
    ) -> PoolActions[C, W]:
        """Give back a connection granted for ``key``: to the pool if ``reusable``."""
        actions: PoolActions[C, W] = PoolActions()
        self._expire(now, actions)
        if reusable and not self.closed and idle_timeout > 0 and self._is_poolable(connection):
            idle = _Idle(connection, key, now + idle_timeout, next(self._release_order))
            self._idle.setdefault(key, []).append(idle)
        else:
            self._forget(key)
            actions.to_close.append(connection)
        self._serve(actions)
        return actions

    def discard(self, key: Hashable) -> PoolActions[C, W]:
        """Give back a grant whose connection is gone (or was never opened)."""
        actions: PoolActions[C, W] = PoolActions()
        self._forget(key)
        self._serve(actions)
        return actions

    # -- the idle connections ------------------------------------------------------

    def expire(self, now: float) -> PoolActions[C, W]:
        """Close the idle connections whose time is up."""
        actions: PoolActions[C, W] = PoolActions()
        self._expire(now, actions)
        self._serve(actions)
        return actions

    def next_expiry(self) -> Optional[float]:
        """When the next idle connection expires (None: nothing is idle)."""
        return min(
            (entry.expires_at for entries in self._idle.values() for entry in entries),
            default=None,
        )

    def close(self) -> PoolActions[C, W]:
        """Close every idle connection; connections released from now on are closed."""
        self.closed = True
        actions: PoolActions[C, W] = PoolActions()
        for entries in list(self._idle.values()):
            for entry in list(entries):
                self._drop_idle(entry, actions)
        self._serve(actions)
        return actions

    # -- counts ----------------------------------------------------------------------

    def open_count(self, key: Optional[Hashable] = None) -> int:
        """Open connections (idle, in use or being opened), for ``key`` or in total."""
        return self._total if key is None else self._open.get(key, 0)

    def idle_count(self, key: Optional[Hashable] = None) -> int:
        """Idle connections, for ``key`` or in total."""
        if key is not None:
            return len(self._idle.get(key, ()))
        return sum(len(entries) for entries in self._idle.values())

    @property
    def waiting(self) -> int:
        """Requests waiting for a connection."""
        return len(self._waiters)

    # -- internals ---------------------------------------------------------------------

    def _serve(self, actions: PoolActions[C, W]) -> None:
        # FIFO, but a request that cannot be served yet (its host is at its
        # limit) does not hold up requests for other hosts behind it.
        if not self._waiters:
            return
        for waiter, (key, fresh) in list(self._waiters.items()):
            grant = self._try_grant(key, fresh, actions)
            if grant is not None:
                del self._waiters[waiter]
                actions.grants.append((waiter, grant))

    def _try_grant(
        self, key: Hashable, fresh: bool, actions: PoolActions[C, W]
    ) -> Optional[Grant[C]]:
        if not fresh:
            connection = self._pop_idle(key, actions)
            if connection is not None:
                return Grant(key, connection)
        if self._open.get(key, 0) >= self.limits.max_connections_per_host:
            # Only an idle connection of this very key can make room (a
            # request for a fresh connection replaces one).
            victim = self._oldest_idle(key)
            if victim is None:
                return None
            self._drop_idle(victim, actions)
        elif self._total >= self.limits.max_connections:
            victim = self._oldest_idle(None)
            if victim is None:
                return None
            self._drop_idle(victim, actions)
        self._open[key] = self._open.get(key, 0) + 1
        self._total += 1
        return Grant(key, None)

    def _pop_idle(self, key: Hashable, actions: PoolActions[C, W]) -> Optional[C]:
        # The newest usable idle connection for key; unusable ones are closed.
        entries = self._idle.get(key)
        while entries:
            entry = entries.pop()
            if not entries:
                del self._idle[key]
            if self._is_usable(entry.connection):
                return entry.connection
            self._forget(key)
            actions.to_close.append(entry.connection)
        return None

    def _oldest_idle(self, key: Optional[Hashable]) -> Optional[_Idle[C]]:
        if key is not None:
            candidates = self._idle.get(key, [])
        else:
            candidates = [entry for entries in self._idle.values() for entry in entries]
        return min(candidates, key=lambda entry: entry.order, default=None)

    def _drop_idle(self, entry: _Idle[C], actions: PoolActions[C, W]) -> None:
        entries = self._idle[entry.key]
        entries.remove(entry)
        if not entries:
            del self._idle[entry.key]
        self._forget(entry.key)
        actions.to_close.append(entry.connection)

    def _expire(self, now: float, actions: PoolActions[C, W]) -> None:
        for entries in list(self._idle.values()):
            for entry in [entry for entry in entries if entry.expires_at <= now]:
                self._drop_idle(entry, actions)

    def _forget(self, key: Hashable) -> None:
        count = self._open.get(key, 0)
        if count <= 0:
            raise RuntimeError("released more connections than were granted for %r" % (key,))
        if count == 1:
            del self._open[key]
        else:
            self._open[key] = count - 1
        self._total -= 1
