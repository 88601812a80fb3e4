"""The states of one HTTP/1 message exchange and their transitions, in one table.

Everything that moves the exchange from one state to another is listed in
`TRANSITIONS`; `ExchangeState` refuses anything not listed there.  Each
`HTTP1Connection` handles one exchange (a request and its response), so the
table covers the incoming message (``READ``) and the outgoing one
(``WRITE``) side by side, like h11's "our state / their state".

States, events and sides are plain interned strings rather than Enum
members: the table is consulted several times per request, and hashing an
Enum member costs a Python-level call each time.
"""

from __future__ import annotations

from typing import Dict

__all__ = ["Side", "State", "Event", "TRANSITIONS", "ExchangeState", "InvalidTransition"]


class Side:
    READ = "read"
    WRITE = "write"


class State:
    IDLE = "idle"  # nothing of the message seen (read) or sent (write) yet
    HEADERS = "headers"  # read: the delegate is handling the head; detach is allowed
    BODY = "body"  # the body is being read / written
    DONE = "done"  # the whole message has been read / written
    DETACHED = "detached"  # the stream was handed to someone else (websockets)
    CLOSED = "closed"  # the connection is gone


class Event:
    HEAD = "head"  # read: a head arrived; write: write_headers was called
    INTERIM = "interim"  # read: the head was a 1xx response; another head follows
    BODY = "body"  # read: headers_received returned, the body follows
    END = "end"  # the message is complete
    DETACH = "detach"
    CLOSE = "close"


# side -> state -> event -> new state
TRANSITIONS: Dict[str, Dict[str, Dict[str, str]]] = {
    Side.READ: {
        State.IDLE: {Event.HEAD: State.HEADERS},
        State.HEADERS: {Event.INTERIM: State.IDLE, Event.BODY: State.BODY},
        State.BODY: {Event.END: State.DONE},
        State.DONE: {},
        State.DETACHED: {},
        State.CLOSED: {},
    },
    Side.WRITE: {
        State.IDLE: {Event.HEAD: State.BODY},
        State.BODY: {Event.END: State.DONE},
        State.DONE: {},
        State.DETACHED: {},
        State.CLOSED: {},
    },
}
# Either side can end abruptly, or be handed over (detach: websockets take
# the stream during headers_received or while the response is produced),
# from any live state.
for _table in TRANSITIONS.values():
    for _state in (State.IDLE, State.HEADERS, State.BODY, State.DONE):
        if _state in _table:
            _table[_state][Event.CLOSE] = State.CLOSED
            _table[_state][Event.DETACH] = State.DETACHED


class InvalidTransition(Exception):
    """An event that the current state does not allow (a programming error)."""


class ExchangeState:
    """The current read and write states of one exchange."""

    __slots__ = ("read", "write")

    def __init__(self) -> None:
        self.read = State.IDLE
        self.write = State.IDLE

    def process(self, side: str, event: str) -> str:
        """Apply ``event`` to ``side``; returns the new state."""
        current = self.read if side == Side.READ else self.write
        new = TRANSITIONS[side][current].get(event)
        if new is None:
            raise InvalidTransition(
                "%s side: %s is not allowed in state %s" % (side, event, current)
            )
        if side == Side.READ:
            self.read = new
        else:
            self.write = new
        return new

    def close(self) -> None:
        """Move both live sides to CLOSED (idempotent)."""
        self._both(Event.CLOSE)

    def detach(self) -> None:
        """Move both live sides to DETACHED (idempotent)."""
        self._both(Event.DETACH)

    def _both(self, event: str) -> None:
        for side in (Side.READ, Side.WRITE):
            current = self.read if side == Side.READ else self.write
            if event in TRANSITIONS[side][current]:
                self.process(side, event)
