"""`Record`: the base of the core's small value objects (events, framing).

They were NamedTuples; as plain classes the compiled build makes them
native classes, which are cheap to create (a NamedTuple is created by a
Python-level ``__new__``, which cost more than parsing a short request
line).  They keep what the tuples gave: equality and a hash by value, and a
readable repr.  They are not to be changed once made.
"""

from __future__ import annotations

from typing import ClassVar, Tuple

__all__ = ["Record"]


class Record:
    """A value object, equal to another of its class with the same values."""

    __slots__ = ()

    # The names of the values, in the constructor's order.
    FIELDS: ClassVar[Tuple[str, ...]] = ()

    def values(self) -> Tuple[object, ...]:
        """The record's values, in the order of `FIELDS` (for equality,
        hash and repr, none of which a request needs)."""
        return tuple([getattr(self, name) for name in self.FIELDS])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Record):
            return NotImplemented
        return self.values() == other.values()

    # (Spelt out: mypyc 1.14, which the build uses on Python 3.8, fails to
    # derive it from __eq__ for a subclass.)
    def __ne__(self, other: object) -> bool:
        if type(other) is not type(self) or not isinstance(other, Record):
            return NotImplemented
        return self.values() != other.values()

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + self.values())

    def __repr__(self) -> str:
        return "%s(%s)" % (
            type(self).__name__,
            ", ".join("%s=%r" % pair for pair in zip(self.FIELDS, self.values())),
        )
