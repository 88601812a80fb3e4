"""One HTTP/1 message exchange, seen from one side: every rule of it in one object.

An `Exchange` is a request and its response, as the client or the server
sees them (as h11's ``Connection`` is, for one cycle).  It holds the
exchange's state (`state.ExchangeState`), the receive buffer, the reader of
the peer's message and the writer of ours, and it decides:

* where each message's body ends (`framing`) and how ours is framed, with
  the ``Transfer-Encoding`` and ``Connection`` fields that says;
* whether the connection may carry another exchange afterwards
  (`Exchange.keep_alive`);
* interim (1xx) responses: how many a client accepts before the final one;
* ``Expect: 100-continue``: when a server owes the client a 100 (Continue);
* what to read next without passing the message's end (`Exchange.wants`),
  and when a busy reader should let others run (`Exchange.yield_due`).

No I/O: an adapter feeds it bytes (`receive_data`), takes events
(`next_event`), and writes the bytes it returns (`send_request`,
`send_response`, `send_data`, `send_end`).  The peer's mistakes raise
`ProtocolError`, our side's `OutputError`.
"""

from __future__ import annotations

from typing import Dict, Final, Iterable, List, Optional, Protocol, Tuple, Union

from mypy_extensions import mypyc_attr

from .buffer import ReceiveBuffer
from .chunked import ChunkedReader
from .errors import ProtocolError
from .events import ConnectionClosed, Data, Event, Head, RequestHead, ResponseHead
from .framing import (
    BodyKind,
    Framing,
    connection_options,
    forbids_length_fields,
    opens_tunnel,
    persistent_by_default,
    request_framing,
    response_framing,
    split_list,
)
from .plan import ReadBytes, Want
from .readers import EMPTY_BODY, BodyReader, HeadReader, LengthReader, UntilCloseReader
from .state import ExchangeState, Side, State, Transition
from .writers import (
    CONTINUE_RESPONSE,
    BodyWriter,
    as_text,
    encode_head,
    error_response,
    status_line,
)

__all__ = [
    "CHUNK_YIELD_COST",
    "COALESCED_CHUNKS",
    "Exchange",
    "GroupedFields",
    "HeaderFields",
    "MAX_INTERIM_RESPONSES",
    "YIELD_THRESHOLD",
]

# The most 1xx responses a client accepts before the final one.  Real
# servers send one or two (100 Continue, 103 Early Hints); the cap stops a
# peer from keeping a request alive forever.
MAX_INTERIM_RESPONSES: Final = 10

# While a body arrives faster than it is processed, an adapter's reads may
# complete without returning to the event loop; after this much work it
# should yield once, so one busy connection cannot starve the others.  A
# chunk of a chunked body counts as at least CHUNK_YIELD_COST bytes, since
# per-chunk overhead dominates there.
YIELD_THRESHOLD: Final = 256 * 1024
CHUNK_YIELD_COST: Final = 1024
# The most chunks worth coalescing into one Data event (see ChunkedReader):
# one yield's worth.
COALESCED_CHUNKS: Final = YIELD_THRESHOLD // CHUNK_YIELD_COST


class HeaderFields(Protocol):
    """What the exchange needs of the header fields of a message we send
    (Tornado's ``HTTPHeaders`` is one): it reads the framing and connection
    fields and adds the ones its decisions call for."""

    def get_list(self, name: str) -> List[str]: ...

    def __setitem__(self, name: str, value: str) -> None: ...

    def __delitem__(self, name: str) -> None: ...

    def get_all(self) -> Iterable[Tuple[str, str]]: ...


# The same fields grouped by name, in `HeaderFields.get_all`'s order: each
# name (as ``fields`` spells it) with its values.  An adapter that can see
# such a table inside its ``fields`` (Tornado's ``HTTPHeaders`` keeps one)
# passes it beside them, and the exchange reads the table instead of calling
# ``get_all``: a Python generator, which costs more than the rest of a small
# head's encoding.  It must be the live table, which the fields the exchange
# adds or removes change too.
GroupedFields = Dict[str, List[object]]


# The compiled build lets Python code subclass Exchange (the fuzz harness's
# deliberately broken engines do); the flag costs nothing in pure Python.
@mypyc_attr(allow_interpreted_subclasses=True)
class Exchange:
    """One request and its response; see the module docstring.

    ``is_client``: we send the request and read the response; otherwise we
    read the request and send the response.  ``max_header_size`` bounds the
    peer's head (and trailer section), ``chunk_size`` the body pieces it
    hands over, ``max_body_size`` (which may be changed until the head has
    been handled) the peer's body.  ``coalesce_chunks``: see `ChunkedReader`.
    ``no_keep_alive``: a server closes the connection after this exchange.

    ``keep_alive`` (read it, never set it) says whether the connection may
    carry another exchange after this one (RFC 9112 9.3): the peer's head
    allowed it, our response did not end its body with the close, and (on
    a server) the whole request was read.  It is an attribute rather than a
    property because the adapters read it on every response.
    """

    __slots__ = (
        "is_client",
        "max_header_size",
        "chunk_size",
        "max_body_size",
        "coalesce_chunks",
        "state",
        "buffer",
        "head",
        "request_method",
        "keep_alive",
        "_no_keep_alive",
        "_keep_alive_requested",
        "_head_reader",
        "_body",
        "_writer",
        "_interim_responses",
        "_work",
        "_chunks_counted",
    )

    # (Not keyword-only: the compiled build parses keyword arguments much
    # more slowly than positional ones, and an adapter makes one of these
    # per request, so the adapters pass them by position.)
    def __init__(
        self,
        is_client: bool,
        max_header_size: int = 65536,
        chunk_size: int = 65536,
        max_body_size: Optional[int] = None,
        coalesce_chunks: int = 0,
        no_keep_alive: bool = False,
    ) -> None:
        self.is_client = is_client
        self.max_header_size = max_header_size
        self.chunk_size = chunk_size
        self.max_body_size = max_body_size
        self.coalesce_chunks = coalesce_chunks
        self.state = ExchangeState()
        self.buffer = ReceiveBuffer()
        # The peer's head, once read (the final one, after interim responses).
        self.head: Optional[Head] = None
        # The request's method (whether a response has a body depends on it).
        self.request_method: Optional[str] = None
        # The connection closes after this exchange whatever the peer says:
        # a server told so (no_keep_alive), a client whose request said
        # "close" (see send_request).  As with Tornado's engine, a client
        # is not told so by no_keep_alive.
        self._no_keep_alive = no_keep_alive and not is_client
        self.keep_alive = True
        # An HTTP/1.0 client asked for keep-alive, which the response confirms.
        self._keep_alive_requested = False
        self._head_reader = HeadReader(is_client, max_header_size)
        self._body: BodyReader = EMPTY_BODY
        self._writer: Optional[BodyWriter] = None
        self._interim_responses = 0
        self._work = 0  # see yield_due
        self._chunks_counted = 0

    # -- the peer's message ----------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the peer; ``b""`` means the peer closed."""
        self.buffer.feed(data)

    @property
    def has_input(self) -> bool:
        """True if bytes (or the end of the stream) wait to be parsed."""
        buffer = self.buffer  # (ReceiveBuffer.has_input, without a second call)
        return buffer.pos < len(buffer.data) or buffer.eof

    def next_event(self) -> Optional[Event]:
        """The next event of the peer's message, or None if more bytes are needed.

        A head (`RequestHead`, `ResponseHead`), then, once `after_head` has
        been called, `Data`... and `EndOfMessage`; or `ConnectionClosed` if
        the peer closed cleanly before a message began.
        """
        read = self.state.read
        if read is State.BODY:
            event = self._body.read(self.buffer)
            if event is None:
                return None
            if isinstance(event, Data):
                body = self._body
                work = len(event.data)
                if body.chunks_read != self._chunks_counted:
                    # A chunk costs at least CHUNK_YIELD_COST, however many
                    # of them one event carries.
                    work += CHUNK_YIELD_COST * (body.chunks_read - self._chunks_counted)
                    self._chunks_counted = body.chunks_read
                self._work += work
                return event
            self.state.process(Side.READ, Transition.END)
            return event
        if read is State.IDLE:
            return self._next_head()
        raise AssertionError("no event to read in state %s" % read)

    def _next_head(self) -> Optional[Union[Head, ConnectionClosed]]:
        event = self._head_reader.read(self.buffer, self.request_method)
        if event is None or isinstance(event, ConnectionClosed):
            return event
        head: Head = event
        if self._no_keep_alive or not head.keep_alive:
            self.keep_alive = False
        if isinstance(head, RequestHead):
            self.request_method = head.method
            self._keep_alive_requested = not persistent_by_default(head.version) and head.keep_alive
        self.state.process(Side.READ, Transition.HEAD)
        self.head = head
        return head

    def after_head(self) -> Optional[bytes]:
        """The head has been handled: read on.  Returns what to send first.

        After an interim (1xx) response that is the next head; otherwise the
        body, whose limit (``max_body_size``) is applied now.  A server owes
        a client that sent ``Expect: 100-continue`` a 100 (Continue), which
        is returned here for the adapter to write before reading the body.
        None if the exchange ended while the head was handled (`detach`, or
        `close`): there is nothing more to read.
        """
        head = self.head
        if self.state.read is not State.HEADERS:
            assert self.state.read is State.DETACHED or self.state.read is State.CLOSED
            return None
        assert head is not None
        if isinstance(head, ResponseHead) and head.interim:
            self._interim_responses += 1
            if self._interim_responses > MAX_INTERIM_RESPONSES:
                raise ProtocolError("Too many 1xx responses")
            self.state.process(Side.READ, Transition.INTERIM)
            self.head = None
            self.keep_alive = not self._no_keep_alive  # decided by the final response
            return b""
        self.state.process(Side.READ, Transition.BODY)
        framing = head.framing
        if framing.kind is BodyKind.NONE or (
            framing.kind is BodyKind.LENGTH and not framing.length
        ):
            return b""  # no body (most requests): self._body stays EMPTY_BODY
        self._body = self._body_reader(framing)
        if self.is_client:
            return b""
        return CONTINUE_RESPONSE if self._owes_continue(head) else b""

    def _body_reader(self, framing: Framing) -> BodyReader:
        kind = framing.kind
        if kind is BodyKind.LENGTH:
            if self.max_body_size is not None and framing.length > self.max_body_size:
                # RFC 9110 15.5.14: 413 (Content Too Large).
                raise ProtocolError("Content-Length too long", 413)
            return LengthReader(framing.length, self.chunk_size)
        if kind is BodyKind.CHUNKED:
            return ChunkedReader(
                chunk_size=self.chunk_size,
                max_body_size=self.max_body_size,
                max_trailer_size=self.max_header_size,
                coalesce_chunks=self.coalesce_chunks,
            )
        assert kind is BodyKind.UNTIL_CLOSE
        return UntilCloseReader(self.chunk_size, self.max_body_size)

    def _owes_continue(self, head: Head) -> bool:
        # RFC 9110 10.1.1: the expectation is case-insensitive, is only
        # answered for HTTP/1.1 clients, and is pointless if there is no
        # content to ask for (the caller only asks when there is) or our
        # response has already begun.
        # Expect is a list (RFC 9110 10.1.1: Expect = #expectation).
        return (
            persistent_by_default(head.version)
            and self.state.write is State.IDLE
            and "100-continue"
            in [
                expectation.lower()
                for expectation in split_list(
                    [value for name, value in head.fields if name.lower() == "expect"]
                )
            ]
        )

    @property
    def reads_chunked(self) -> bool:
        """Whether the body being read is chunked (see `widen`)."""
        return isinstance(self._body, ChunkedReader)

    @property
    def trailing_data(self) -> bytes:
        """Bytes received beyond the end of the peer's message."""
        return self.buffer.rest() if self.state.read is State.DONE else b""

    # -- what to read next ---------------------------------------------------------------

    def wants(self) -> Want:
        """The read that gets what the next event needs without passing the message's end."""
        if self.state.read is State.IDLE:
            return self._head_reader.wants()
        return self._body.wants(self.buffer)

    def readable_from(
        self, lookahead: Union[bytes, bytearray], start: int = 0, end: Optional[int] = None
    ) -> int:
        """How many bytes of ``lookahead[start:end]`` (what the peer has sent
        beyond what we have read, seen without consuming it) surely belong
        to the body being read: every whole chunk of a chunked body, never
        its last chunk (see `ChunkedReader.readable_from`); 0 otherwise."""
        if self.state.read is not State.BODY:
            return 0
        return self._body.readable_from(
            self.buffer, lookahead, start, len(lookahead) if end is None else end
        )

    def widen(self, want: Want, lookahead: Union[bytes, bytearray], start: int, end: int) -> Want:
        """``want``, or a wider read that takes all that `readable_from` vouches
        for.  Small chunks arrive many to a segment; reading them one at a
        time costs a read each."""
        if not isinstance(want, ReadBytes) or end - start <= want.size:
            return want
        size = self.readable_from(lookahead, start, end)
        return ReadBytes(size) if size > want.size else want

    def yield_due(self) -> bool:
        """True once per `YIELD_THRESHOLD` of body read (a chunk counting at
        least `CHUNK_YIELD_COST`): time to let other connections run."""
        if self._work < YIELD_THRESHOLD:
            return False
        self._work = 0
        return True

    # -- our message -------------------------------------------------------------------

    def send_request(
        self,
        method: str,
        target: str,
        fields: HeaderFields,
        grouped: Optional[GroupedFields] = None,
    ) -> bytes:
        """The head of our request (a client's), with the framing fields it needs.

        A request without Content-Length is sent chunked if its method
        usually has content (`request_framing`); ``Transfer-Encoding`` is
        then added to ``fields``.  A request that says ``Connection: close``
        is the connection's last: RFC 9112 9.6, a client that sends the close
        option MUST close the connection after the response.  ``grouped``:
        see `GroupedFields`.
        """
        assert self.is_client
        sent = _SentFields(fields, grouped)
        framing = request_framing(method=method, content_length=sent.content_length)
        if framing is not None and framing.kind is BodyKind.CHUNKED:
            sent.set("Transfer-Encoding", "chunked")
        if sent.says_close():
            self.keep_alive = False
            self._no_keep_alive = True
        data = encode_head("%s %s HTTP/1.1" % (method, target), sent.pairs)
        self.request_method = method
        self.state.process(Side.WRITE, Transition.HEAD)
        self._writer = BodyWriter(framing)
        return data

    def send_response(
        self,
        code: int,
        reason: str,
        fields: HeaderFields,
        grouped: Optional[GroupedFields] = None,
    ) -> bytes:
        """The head of our response (a server's), with the framing and
        connection fields it needs, which are added to ``fields``.

        The body is framed as RFC 9112 6 says for this request and status
        (`response_framing`): its Content-Length, else chunked to an
        HTTP/1.1 client, else ended by the close.  ``Connection: close``
        tells an HTTP/1.1 client that the connection ends with this
        response; ``Connection: Keep-Alive`` confirms an HTTP/1.0 client's
        request to keep it.  A response given ``Connection: close`` by its
        sender is the connection's last: RFC 9112 9.6, a server that sends
        the close option MUST close the connection after that response.
        ``grouped``: see `GroupedFields`.
        """
        request = self.head
        assert not self.is_client and request is not None, "no request has been read"
        sent = _SentFields(fields, grouped)
        framing = response_framing(
            request_method=self.request_method,
            request_version=request.version,
            status_code=code,
            content_length=sent.content_length,
        )
        if framing.kind is BodyKind.UNTIL_CLOSE:
            # Only the close can end this body for an HTTP/1.0 client.
            self.keep_alive = False
        elif framing.kind is BodyKind.NONE and forbids_length_fields(self.request_method, code):
            # RFC 9110 8.6, RFC 9112 6.1: not in a 1xx or 204 response, nor
            # in a 2xx response to CONNECT, whatever the application set.
            for name in ("Content-Length", "Transfer-Encoding"):
                sent.remove(name)
            if opens_tunnel(self.request_method, code):
                # The connection is a tunnel now: no more HTTP on it.
                self.keep_alive = False
        closing = sent.says_close()
        if closing:
            self.keep_alive = False
        if persistent_by_default(request.version):
            if not self.keep_alive and not closing:
                sent.set("Connection", "close")
        elif self._keep_alive_requested and self.keep_alive:
            sent.set("Connection", "Keep-Alive")
        if framing.kind is BodyKind.CHUNKED:
            sent.set("Transfer-Encoding", "chunked")
        data = encode_head(status_line(code, reason), sent.pairs)
        self.state.process(Side.WRITE, Transition.HEAD)
        self._writer = BodyWriter(framing)
        return data

    def send_data(self, data: bytes) -> bytes:
        """The wire bytes for a piece of our body.

        Before a head was sent, ``data`` is taken as the caller's own,
        already framed bytes (Tornado's deprecated pre-encoded heads), and
        passed through unchecked.  Raises `OutputError` for more bytes than
        the Content-Length announced.
        """
        writer = self._writer
        return data if writer is None else writer.frame(data)

    def send_end(self) -> bytes:
        """Our message is complete: the bytes that end the body (the last chunk).

        Raises `OutputError` for fewer bytes than the Content-Length
        announced (the exchange is over all the same).  A server that
        answers before the whole request has been read must close the
        connection afterwards: only the close skips the rest of the body.
        """
        if self.state.write is State.IDLE:
            self.state.process(Side.WRITE, Transition.HEAD)  # raw, pre-framed writes
        if self.state.write is State.BODY:
            self.state.process(Side.WRITE, Transition.END)
        if not self.is_client and self.state.read is not State.DONE:
            self.keep_alive = False
        return b"" if self._writer is None else self._writer.finish()

    def error_response(self, status: int) -> Optional[bytes]:
        """What a server sends before closing on a malformed request: a
        response with ``status`` (a `ProtocolError`'s ``status_hint``), or
        None if our response has already begun (or we are the client)."""
        if self.is_client or self.state.write is not State.IDLE:
            return None
        return error_response(status)

    # -- the connection -------------------------------------------------------------------

    @property
    def answered(self) -> bool:
        """A server's response is complete: what is left of the request is
        read only to keep the framing in step, and handed to nobody."""
        return not self.is_client and self.state.write is State.DONE

    @property
    def detached(self) -> bool:
        """The stream was handed to someone else (`detach`)."""
        return self.state.read is State.DETACHED

    @property
    def closed(self) -> bool:
        """The connection is gone (`close`)."""
        return self.state.read is State.CLOSED

    def close_after(self) -> None:
        """The connection ends with this exchange, whatever the peer asked
        (a draining server): a response not yet begun carries the close
        option (RFC 9112 9.6), and `keep_alive` is False from now on."""
        self._no_keep_alive = True
        self.keep_alive = False

    def close(self) -> None:
        """The connection has closed: nothing more is read or written."""
        self.state.close()

    def detach(self) -> None:
        """The stream has been handed over (websockets): HTTP is over on it."""
        self.state.detach()


class _SentFields:
    """The header fields of a message we send, read once.

    ``fields`` (Tornado's ``HTTPHeaders``, whose methods are Python calls)
    is listed once (`pairs`, for `encode_head`), from ``grouped`` when the
    adapter gave that table (see `GroupedFields`), and the fields the
    exchange decides on are found in that list.  The fields the exchange
    adds or removes go to ``fields`` itself (the application may look at
    its headers afterwards, as with Tornado's engine), and ``pairs`` is
    listed again.
    """

    __slots__ = ("fields", "grouped", "pairs", "content_length", "_connection")

    def __init__(self, fields: HeaderFields, grouped: Optional[GroupedFields]) -> None:
        self.fields = fields
        self.grouped = grouped
        self.pairs: List[Tuple[object, object]] = []
        # Its Content-Length lines as one value (as HTTPHeaders.get gives
        # it), or None.
        self.content_length: Optional[str] = None
        self._connection: List[str] = []  # its Connection lines
        self._list()

    def _list(self) -> None:
        grouped = self.grouped
        pairs: List[Tuple[object, object]]
        if grouped is None:
            pairs = list(self.fields.get_all())
        else:
            pairs = [(name, value) for name, values in grouped.items() for value in values]
        lengths: List[str] = []
        connection: List[str] = []
        for name, value in pairs:
            # (Names are str, values str or bytes: see encode_head.  Only
            # names that begin with a C are lowered.)
            if isinstance(name, str) and name and name[0] in "Cc":
                lowered = name.lower()
                if lowered == "content-length":
                    lengths.append(as_text(value))
                elif lowered == "connection":
                    connection.append(as_text(value))
        self.pairs = pairs
        self.content_length = ",".join(lengths) if lengths else None
        self._connection = connection

    def set(self, name: str, value: str) -> None:
        """Set ``name`` to ``value`` (in place of any lines it had)."""
        self.fields[name] = value
        self._list()

    def remove(self, name: str) -> None:
        """Remove every line of ``name``, if it has any."""
        if self.fields.get_list(name):
            del self.fields[name]
            self._list()

    def says_close(self) -> bool:
        """Whether the message carries the close connection option."""
        # (The list is parsed only if "close" appears in it at all.)
        for value in self._connection:
            if "close" in value.lower():
                return "close" in connection_options({"connection": self._connection})
        return False
