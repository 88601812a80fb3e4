"""The parsers under comparison, each turning a case into an `Outcome`.

* ``h1alt``: our core, `tornado_h1alt.h1.exchange.Exchange`, driven as the
  adapters drive it (a new exchange per message, given what the last one
  left over);
* ``h11``: python-hyper/h11, a server (or client) `h11.Connection`;
* ``llhttp``: llhttp, Node's parser, through httptools (uvicorn's and
  aiohttp's choice), with its default (strict) settings;
* ``tornado-X.Y``: stock Tornado's engine, through
  `differential.tornado_oracle` (in this process for the installed
  Tornado, or under another Python for another release).

Every parser stops reading where it would close the connection (after a
message that ends it, or at an error), as a server or client would.  What
is compared: each message's start line (method, target and version; or
version and status code), its header fields (names lower-cased, values
without surrounding whitespace, in order within a name) and its body.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from .corpus import Case

__all__ = ["Message", "Outcome", "PARSERS", "parse_with_tornado", "outcome_from_json"]

Fields = Tuple[Tuple[str, str], ...]


class Message(NamedTuple):
    start: Tuple[str, ...]
    fields: Fields
    body: bytes


class Outcome(NamedTuple):
    """The messages a parser handed on, and whether it then refused the rest."""

    messages: Tuple[Message, ...]
    error: bool

    def describe(self) -> str:
        parts = ["%s %dB" % (" ".join(m.start), len(m.body)) for m in self.messages]
        return "[%s]%s" % (", ".join(parts), " error" if self.error else "")


def _fields(pairs: Any) -> Fields:
    normal = [(str(name).lower(), str(value).strip(" \t")) for name, value in pairs]
    return tuple(sorted(normal, key=lambda field: field[0]))  # (stable within a name)


def _version(text: str) -> str:
    return text[5:] if text.upper().startswith("HTTP/") else text


def _request_start(method: str, target: str, version: str) -> Tuple[str, ...]:
    return (method, target, _version(version))


def _response_start(version: str, code: int) -> Tuple[str, ...]:
    return (_version(version), "%03d" % code)


# -- ours ---------------------------------------------------------------------------


def parse_h1alt(case: Case) -> Outcome:
    from tornado_h1alt.h1.errors import ProtocolError
    from tornado_h1alt.h1.events import (
        ConnectionClosed,
        Data,
        EndOfMessage,
        RequestHead,
        ResponseHead,
    )
    from tornado_h1alt.h1.exchange import Exchange

    is_response = case.kind == "response"
    messages: List[Message] = []
    method = case.method

    def new_exchange(data: bytes) -> Exchange:
        exchange = Exchange(is_response)
        exchange.request_method = method
        exchange.receive_data(data)
        exchange.receive_data(b"")
        return exchange

    exchange = new_exchange(case.data)
    start: Tuple[str, ...] = ()
    fields: Fields = ()
    body = b""
    try:
        while True:
            event = exchange.next_event()
            if event is None or isinstance(event, ConnectionClosed):
                return Outcome(tuple(messages), False)
            if isinstance(event, (RequestHead, ResponseHead)):
                if isinstance(event, RequestHead):
                    start = _request_start(event.method, event.target, event.http_version)
                else:
                    start = _response_start(event.http_version, event.status_code)
                fields, body = _fields(event.fields), b""
                exchange.after_head()
                if isinstance(event, ResponseHead) and event.interim:
                    messages.append(Message(start, fields, b""))
            elif isinstance(event, Data):
                body += event.data
            else:
                assert isinstance(event, EndOfMessage)
                messages.append(Message(start, fields, body))
                if not exchange.keep_alive:
                    return Outcome(tuple(messages), False)
                method = "GET"  # the canary's
                exchange = new_exchange(exchange.trailing_data)
    except ProtocolError:
        return Outcome(tuple(messages), True)


# -- h11 ----------------------------------------------------------------------------


def parse_h11(case: Case) -> Outcome:
    import h11

    is_response = case.kind == "response"
    connection = h11.Connection(h11.CLIENT if is_response else h11.SERVER)
    messages: List[Message] = []

    def send_request(method: str) -> None:
        connection.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        connection.send(h11.EndOfMessage())

    if is_response:
        send_request(case.method or "GET")
    connection.receive_data(case.data)
    connection.receive_data(b"")
    start: Tuple[str, ...] = ()
    fields: Fields = ()
    body = b""
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return Outcome(tuple(messages), False)
            if isinstance(event, h11.ConnectionClosed):
                return Outcome(tuple(messages), False)
            if isinstance(event, h11.Request):
                start = _request_start(
                    event.method.decode("latin-1"),
                    event.target.decode("latin-1"),
                    event.http_version.decode(),
                )
                fields, body = _fields(_decoded(event.headers)), b""
            elif isinstance(event, h11.InformationalResponse):
                messages.append(
                    Message(
                        _response_start(event.http_version.decode(), event.status_code),
                        _fields(_decoded(event.headers)),
                        b"",
                    )
                )
            elif isinstance(event, h11.Response):
                start = _response_start(event.http_version.decode(), event.status_code)
                fields, body = _fields(_decoded(event.headers)), b""
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                messages.append(Message(start, fields, body))
                if not is_response:
                    connection.send(
                        h11.Response(status_code=200, headers=[("Content-Length", "0")])
                    )
                    connection.send(h11.EndOfMessage())
                if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                    return Outcome(tuple(messages), False)
                connection.start_next_cycle()
                if is_response:
                    if not connection.trailing_data[0]:
                        # Nothing more has come: a client would not ask again
                        # (h11 calls a close before a response an error).
                        return Outcome(tuple(messages), False)
                    send_request("GET")
    except h11.RemoteProtocolError:
        return Outcome(tuple(messages), True)


def _decoded(headers: Any) -> List[Tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


# -- llhttp (httptools) ---------------------------------------------------------------


class _Callbacks:
    def __init__(self) -> None:
        self.messages: List[Tuple[Tuple[str, ...], Fields, bytes]] = []
        self.url = b""
        self.headers: List[Tuple[bytes, bytes]] = []
        self.body = b""
        self.in_message = False
        self.headers_done = False
        self.complete = 0
        self.status = b""
        self.parser: Any = None
        # llhttp's keep-alive verdict, taken when the head is complete:
        # once a message is complete it resets its flags for the next one.
        self.keep_alive = True

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", [], b""
        self.in_message, self.headers_done = True, False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_status(self, status: bytes) -> None:
        self.status += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.headers_done:  # (trailer fields are not compared)
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.in_message = False
        self.complete += 1


def parse_llhttp(case: Case) -> Optional[Outcome]:
    """None for a response to HEAD: httptools cannot tell llhttp that such
    a response has no body (llhttp's on_headers_complete return value)."""
    import httptools

    if case.kind == "response" and case.method == "HEAD":
        return None

    is_response = case.kind == "response"
    callbacks = _Callbacks()
    parser: Any = (
        httptools.HttpResponseParser(callbacks)
        if is_response
        else httptools.HttpRequestParser(callbacks)
    )
    callbacks.parser = parser
    messages: List[Message] = []
    data = case.data

    def message() -> Message:
        fields = _fields(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in callbacks.headers]
        )
        version = parser.get_http_version()
        if is_response:
            return Message(
                _response_start(version, parser.get_status_code()), fields, callbacks.body
            )
        return Message(
            _request_start(
                parser.get_method().decode("latin-1"), callbacks.url.decode("latin-1"), version
            ),
            fields,
            callbacks.body,
        )

    # One byte at a time, so that reading stops exactly where a message
    # ends the connection (llhttp would otherwise parse on).
    for index in range(len(data)):
        seen = callbacks.complete
        try:
            parser.feed_data(data[index : index + 1])
        except httptools.HttpParserUpgrade:
            messages.append(message())
            return Outcome(tuple(messages), False)
        except httptools.HttpParserError:
            return Outcome(tuple(messages), True)
        if callbacks.complete > seen:
            messages.append(message())
            if not callbacks.keep_alive:
                return Outcome(tuple(messages), False)
    if callbacks.in_message:
        # httptools cannot be told of the end of the stream (llhttp_finish),
        # which ends a response body with neither length nor chunking: such
        # a body is taken as complete here, anything else as cut short.
        framed = {name.lower() for name, _ in callbacks.headers} & {
            b"content-length",
            b"transfer-encoding",
        }
        if is_response and callbacks.headers_done and not framed:
            messages.append(message())
            return Outcome(tuple(messages), False)
        return Outcome(tuple(messages), True)
    return Outcome(tuple(messages), False)


# -- stock Tornado ----------------------------------------------------------------------


def outcome_from_json(kind: str, raw: Dict[str, Any]) -> Outcome:
    messages = []
    for message in raw["messages"]:
        start = message["start"]
        if kind == "request":
            normal = _request_start(start[0], start[1], start[2])
        else:
            normal = _response_start(start[0], int(start[1]))
        messages.append(
            Message(normal, _fields(message["headers"]), bytes.fromhex(message["body"]))
        )
    return Outcome(tuple(messages), bool(raw["error"]))


def _as_json(cases: List[Case]) -> List[Dict[str, Any]]:
    return [{"kind": c.kind, "data": c.data.hex(), "method": c.method} for c in cases]


def parse_with_tornado(
    cases: List[Case], python: Optional[str] = None
) -> Tuple[str, List[Outcome]]:
    """Stock Tornado's outcomes: ``(its version, outcomes)``.

    Without ``python``, the Tornado of this process (not installed over:
    the oracle imports nothing of tornado_h1alt); otherwise that
    interpreter's, in a subprocess.
    """
    if python is None:
        import tornado

        from . import tornado_oracle

        raw = tornado_oracle.run_cases(_as_json(cases))
        version = tornado.version
    else:
        oracle = __file__.replace("parsers.py", "tornado_oracle.py")
        done = subprocess.run(
            [python, "-I", oracle],
            input=json.dumps(_as_json(cases)).encode(),
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                "the Tornado oracle under %s failed:\n%s" % (python, done.stderr.decode()[-2000:])
            )
        result = json.loads(done.stdout)
        raw, version = result["outcomes"], result["tornado"]
    return version, [outcome_from_json(case.kind, one) for case, one in zip(cases, raw)]


PARSERS: Dict[str, Callable[[Case], Optional[Outcome]]] = {
    "h1alt": parse_h1alt,
    "h11": parse_h11,
    "llhttp": parse_llhttp,
}


if __name__ == "__main__":  # pragma: no cover - a debugging aid
    sys.exit("run python -m differential")
