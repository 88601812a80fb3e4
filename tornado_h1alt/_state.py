"""The states of one HTTP/1 message exchange and their transitions, in one table.

Everything that moves the exchange from one state to another is listed in
`TRANSITIONS`; `ExchangeState` refuses anything not listed there.  Each
`HTTP1Connection` handles one exchange (a request and its response), so the
table covers the incoming message (``READ``) and the outgoing one
(``WRITE``) side by side, like h11's "our state / their state".
"""

from __future__ import annotations

import enum
from typing import Dict, Tuple

__all__ = ["Side", "State", "Event", "TRANSITIONS", "ExchangeState", "InvalidTransition"]


class Side(enum.Enum):
    READ = "read"
    WRITE = "write"


class State(enum.Enum):
    IDLE = "idle"  # nothing of the message seen (read) or sent (write) yet
    HEADERS = "headers"  # read: the delegate is handling the head; detach is allowed
    BODY = "body"  # the body is being read / written
    DONE = "done"  # the whole message has been read / written
    DETACHED = "detached"  # the stream was handed to someone else (websockets)
    CLOSED = "closed"  # the connection is gone


class Event(enum.Enum):
    HEAD = "head"  # read: a head arrived; write: write_headers was called
    INTERIM = "interim"  # read: the head was a 1xx response; another head follows
    BODY = "body"  # read: headers_received returned, the body follows
    END = "end"  # the message is complete
    DETACH = "detach"
    CLOSE = "close"


_ANY = (State.IDLE, State.HEADERS, State.BODY, State.DONE)

TRANSITIONS: Dict[Tuple[Side, State], Dict[Event, State]] = {
    (Side.READ, State.IDLE): {Event.HEAD: State.HEADERS},
    (Side.READ, State.HEADERS): {
        Event.INTERIM: State.IDLE,
        Event.BODY: State.BODY,
        Event.DETACH: State.DETACHED,
    },
    (Side.READ, State.BODY): {Event.END: State.DONE},
    (Side.READ, State.DONE): {},
    (Side.WRITE, State.IDLE): {Event.HEAD: State.BODY},
    (Side.WRITE, State.BODY): {Event.END: State.DONE},
    (Side.WRITE, State.DONE): {},
}
# Either side can end abruptly from any live state.
for _side in Side:
    for _state in _ANY:
        _row = TRANSITIONS.setdefault((_side, _state), {})
        _row[Event.CLOSE] = State.CLOSED
        if _side is Side.WRITE:
            _row[Event.DETACH] = State.DETACHED


class InvalidTransition(Exception):
    """An event that the current state does not allow (a programming error)."""


class ExchangeState:
    """The current read and write states of one exchange."""

    __slots__ = ("read", "write")

    def __init__(self) -> None:
        self.read = State.IDLE
        self.write = State.IDLE

    def process(self, side: Side, event: Event) -> State:
        """Apply ``event`` to ``side``; returns the new state."""
        current = self.read if side is Side.READ else self.write
        try:
            new = TRANSITIONS[(side, current)][event]
        except KeyError:
            raise InvalidTransition(
                "%s side: %s is not allowed in state %s" % (side.value, event.value, current.value)
            ) from None
        if side is Side.READ:
            self.read = new
        else:
            self.write = new
        return new

    def close(self) -> None:
        """Move both live sides to CLOSED (idempotent)."""
        for side in Side:
            current = self.read if side is Side.READ else self.write
            if Event.CLOSE in TRANSITIONS.get((side, current), {}):
                self.process(side, Event.CLOSE)
