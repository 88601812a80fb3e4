"""The states of one HTTP/1 message exchange and their transitions, in one table.

Everything that moves the exchange from one state to another is listed in
`TRANSITIONS`; `ExchangeState` refuses anything not listed there, and only
`tornado_h1alt.h1.exchange.Exchange` drives it.  One exchange is a request
and its response, so the table covers the message we read (``READ``: the
peer's) and the one we write (``WRITE``: ours) side by side, like h11's
"their state / our state".

States, events and sides are plain interned strings rather than Enum
members: the table is consulted several times per request, and hashing an
Enum member costs a Python-level call each time.
"""

from __future__ import annotations

from typing import Dict, Final

__all__ = ["Side", "State", "Transition", "TRANSITIONS", "ExchangeState", "InvalidTransition"]


class Side:
    READ: Final = "read"
    WRITE: Final = "write"


class State:
    IDLE: Final = "idle"  # nothing of the message seen (read) or sent (write) yet
    HEADERS: Final = "headers"  # read: the head is being handled; detach is allowed
    BODY: Final = "body"  # the body is being read / written
    DONE: Final = "done"  # the whole message has been read / written
    DETACHED: Final = "detached"  # the stream was handed to someone else (websockets)
    CLOSED: Final = "closed"  # the connection is gone


class Transition:
    HEAD: Final = "head"  # read: a head arrived; write: our head was sent
    INTERIM: Final = "interim"  # read: the head was a 1xx response; another head follows
    BODY: Final = "body"  # read: the head has been handled, the body follows
    END: Final = "end"  # the message is complete
    DETACH: Final = "detach"
    CLOSE: Final = "close"


# side -> state -> transition -> new state
TRANSITIONS: Final[Dict[str, Dict[str, Dict[str, str]]]] = {
    Side.READ: {
        State.IDLE: {Transition.HEAD: State.HEADERS},
        State.HEADERS: {Transition.INTERIM: State.IDLE, Transition.BODY: State.BODY},
        State.BODY: {Transition.END: State.DONE},
        State.DONE: {},
        State.DETACHED: {},
        State.CLOSED: {},
    },
    Side.WRITE: {
        State.IDLE: {Transition.HEAD: State.BODY},
        State.BODY: {Transition.END: State.DONE},
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
            _table[_state][Transition.CLOSE] = State.CLOSED
            _table[_state][Transition.DETACH] = State.DETACHED


class InvalidTransition(Exception):
    """A transition that the current state does not allow (a programming error)."""


class ExchangeState:
    """The current read and write states of one exchange."""

    __slots__ = ("read", "write")

    def __init__(self) -> None:
        self.read = State.IDLE
        self.write = State.IDLE

    def process(self, side: str, transition: str) -> str:
        """Apply ``transition`` to ``side``; returns the new state."""
        current = self.read if side == Side.READ else self.write
        new = TRANSITIONS[side][current].get(transition)
        if new is None:
            raise InvalidTransition(
                "%s side: %s is not allowed in state %s" % (side, transition, current)
            )
        if side == Side.READ:
            self.read = new
        else:
            self.write = new
        return new

    def close(self) -> None:
        """Move both live sides to CLOSED (idempotent)."""
        self._both(Transition.CLOSE)

    def detach(self) -> None:
        """Move both live sides to DETACHED (idempotent)."""
        self._both(Transition.DETACH)

    def _both(self, transition: str) -> None:
        for side in (Side.READ, Side.WRITE):
            current = self.read if side == Side.READ else self.write
            if transition in TRANSITIONS[side][current]:
                self.process(side, transition)
