"""A test's view of the sans-IO core: one message read through an `Exchange`.

`Reader` drives `tornado_h1alt.h1.exchange.Exchange` the way the adapters
do: once a head has been returned, the next call hands the exchange the
body limit and lets it read on (`Exchange.after_head`).  So a test can read
a whole message with `receive_data` and `next_event` alone, and change the
body limit after the head, as an application does.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

from tornado_h1alt.h1.events import Event
from tornado_h1alt.h1.exchange import Exchange
from tornado_h1alt.h1.plan import Want
from tornado_h1alt.h1.state import State

__all__ = ["Fields", "Reader"]


class Reader:
    """Reads messages as a server (``is_response=False``) or a client does."""

    def __init__(
        self,
        *,
        is_response: bool = False,
        request_method: Optional[str] = None,
        max_header_size: int = 65536,
        max_body_size: Optional[int] = None,
        chunk_size: int = 65536,
        coalesce_chunks: int = 0,
    ) -> None:
        self.exchange = Exchange(
            is_response,
            max_header_size=max_header_size,
            chunk_size=chunk_size,
            coalesce_chunks=coalesce_chunks,
        )
        # The request a response answers (as send_request records it).
        self.exchange.request_method = request_method
        self.max_body_size = max_body_size

    def _read_on(self) -> None:
        if self.exchange.state.read is State.HEADERS:
            self.exchange.max_body_size = self.max_body_size
            self.exchange.after_head()

    def receive_data(self, data: bytes) -> None:
        self.exchange.receive_data(data)

    def next_event(self) -> Optional[Event]:
        self._read_on()
        return self.exchange.next_event()

    def wants(self) -> Want:
        self._read_on()
        return self.exchange.wants()

    def readable_from(
        self, lookahead: Union[bytes, bytearray], start: int = 0, end: Optional[int] = None
    ) -> int:
        self._read_on()
        return self.exchange.readable_from(lookahead, start, end)

    @property
    def done(self) -> bool:
        return self.exchange.state.read is State.DONE

    @property
    def trailing_data(self) -> bytes:
        return self.exchange.trailing_data


class Fields:
    """Header fields of a message we send (the core's `HeaderFields`), in order."""

    def __init__(self, *fields: Tuple[str, str]) -> None:
        self.fields: List[Tuple[str, str]] = list(fields)

    def get_list(self, name: str) -> List[str]:
        return [value for field, value in self.fields if field.lower() == name.lower()]

    def __setitem__(self, name: str, value: str) -> None:
        del self[name]
        self.fields.append((name, value))

    def __delitem__(self, name: str) -> None:
        self.fields = [(n, v) for n, v in self.fields if n.lower() != name.lower()]

    def get_all(self) -> List[Tuple[str, str]]:
        return list(self.fields)


class GroupedOnly(Fields):
    """Fields the exchange must read through their grouped table (see
    `tornado_h1alt.h1.exchange.GroupedFields`): ``get_all`` fails, and
    the table follows every change, as HTTPHeaders' own does."""

    def __init__(self, *fields: Tuple[str, str]) -> None:
        super().__init__(*fields)
        self.grouped: Dict[str, List[object]] = {}
        self._regroup()

    def _regroup(self) -> None:
        self.grouped.clear()
        for name, value in self.fields:
            self.grouped.setdefault(name, []).append(value)

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(name, value)
        self._regroup()

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self._regroup()

    def get_all(self) -> List[Tuple[str, str]]:
        raise AssertionError("listed through get_all() although a table was given")
