"""The receive buffer: the bytes received from the peer and not yet consumed.

A bytes object and an offset, rather than a bytearray trimmed from the
front: a read that holds exactly the next piece of body is handed on
without being copied at all (`ReceiveBuffer.take`).
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    """Received bytes not yet consumed are ``data[pos:]``; ``eof`` once the peer closed.

    The readers work on ``data`` and ``pos`` directly (a regex match at an
    offset needs them, and an attribute is cheaper than a call); what more
    than one reader does is a method here.
    """

    __slots__ = ("data", "pos", "eof")

    def __init__(self) -> None:
        self.data = b""
        self.pos = 0
        self.eof = False

    def feed(self, data: bytes) -> None:
        """Add bytes read from the peer; ``b""`` means the peer closed."""
        if not data:
            self.eof = True
        elif self.pos >= len(self.data):
            self.data = data
            self.pos = 0
        else:
            self.data = self.data[self.pos :] + data
            self.pos = 0

    def __len__(self) -> int:
        """How many bytes are held (received and not consumed)."""
        return len(self.data) - self.pos

    @property
    def has_input(self) -> bool:
        """True if bytes (or the end of the stream) wait to be parsed."""
        return self.pos < len(self.data) or self.eof

    def take(self, count: int) -> bytes:
        """Consume and return up to ``count`` bytes."""
        pos = self.pos
        held = self.data
        if pos + count >= len(held):
            # Everything held is taken: let go of the buffer at once, so a
            # large read is not kept alive (by us) while the next one is
            # allocated.
            taken = held if pos == 0 else held[pos:]  # (whole: no copy)
            self.data = b""
            self.pos = 0
            return taken
        self.pos = pos + count
        return held[pos : pos + count]

    def line_end(self) -> int:
        """Offset (from ``pos``) of the next LF, or -1 if none is held."""
        end = self.data.find(b"\n", self.pos)
        return end - self.pos if end >= 0 else -1

    def rest(self) -> bytes:
        """The held bytes, without consuming them."""
        return self.data[self.pos :]
