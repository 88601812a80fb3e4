"""Tornado's security regression corpus, as data for tornado_h1alt's own tests.

The inputs are those of ``tornado/test/security_corpus_test.py`` in Tornado
6.6.1 (the triggers of past security fixes, sent to a real server), restated
here so that they run on every Tornado of our matrix, 5.1 included, where
that file does not exist.  Each case also says which layer the fix lives in:

``http1``
    The HTTP/1 engine decides the outcome: request framing (Content-Length,
    Transfer-Encoding, chunk sizes), the start line written on the wire, the
    header section.  These must pass with tornado_h1alt on *every* Tornado,
    however old: that is the promise of the project.
``app``
    ``tornado.web`` or ``tornado.httputil`` decides it (cookies, XSRF, static
    files, multipart and argument limits, error pages).  tornado_h1alt does
    not replace those modules, so with either engine these pass from the
    Tornado release in ``fixed_in`` on, and are shown as expected failures
    before it.

The handlers below are the applications the cases are sent to.
"""

from __future__ import annotations

import http.cookies
import os
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import tornado
from tornado.web import Application, RequestHandler, StaticFileHandler, create_signed_value
from tornado.websocket import WebSocketHandler

Version = Tuple[int, ...]


class Case(NamedTuple):
    advisory: str  # the Tornado release with the fix, and the CVE if any
    name: str
    request: bytes
    status: Optional[int]  # None: closed without a response
    layer: str  # "http1" or "app" (see the module docstring)
    fixed_in: Version  # the first Tornado whose own code passes the case
    forbidden: Optional[bytes] = None  # bytes that must not appear in the response
    app: str = "default"
    max_logs: int = 2  # log records besides the access log; none may be ERROR


class Scaling(NamedTuple):
    """Inputs that were quadratic to parse; sent once at the large size.

    No timing is checked here (the project keeps timing out of its tests):
    the case checks the large input is answered, without an ERROR log.
    Linearity of our engine's own parsing is checked by counting work in
    test_robustness.py.
    """

    advisory: str
    name: str
    build: Callable[[int], bytes]
    n: int
    status: int
    layer: str
    fixed_in: Version
    app: str = "default"


def version_tuple(version: str) -> Version:
    """``"6.5.3 CVE-..."`` -> (6, 5, 3)."""
    return tuple(int(part) for part in version.split()[0].split("."))


def request(method: str, target: str, headers: str = "", body: Optional[bytes] = None) -> bytes:
    head = "%s %s HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n" % (method, target)
    if body is not None and "Transfer-Encoding" not in headers:
        head += "Content-Length: %d\r\n" % len(body)
    return (head + headers + "\r\n").encode("latin1") + (body or b"")


def post(content_type: str, body: bytes) -> bytes:
    return request("POST", "/echo", "Content-Type: %s\r\n" % content_type, body)


def multipart(*parts: bytes) -> bytes:
    return post(
        "multipart/form-data; boundary=1234",
        b"".join(b"--1234\r\n" + p + b"\r\n" for p in parts) + b"--1234--\r\n",
    )


def ws_handshake(headers: str) -> bytes:
    return request(
        "GET",
        "/ws",
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + headers,
    )


PART = b'Content-Disposition: form-data; name="a"\r\n\r\nb'
FILE_PART = b'Content-Disposition: form-data; name="f"; filename="%s"\r\n\r\nb'
COOKIE_SECRET = "secret"
# A signed cookie for the name "a", and the same bytes split so that the
# start of the value moves into the name (3.2.1: the signature covered name
# and value without a delimiter).
_SIGNED = create_signed_value(COOKIE_SECRET, "a", "AAAABBBB").decode()
FORGED_COOKIE = ("a" + _SIGNED[:4], _SIGNED[4:])
TE_CHUNKED = "Transfer-Encoding: chunked\r\n"
OK_CHUNKED = b"2\r\nok\r\n0\r\n\r\n"


def cases(static_root: str) -> List[Case]:
    """Every case; ``static_root`` is the parent of the static app's directory."""
    return [
        Case(
            "1.1.1",
            "xsrf exemption for XMLHttpRequest",
            request(
                "POST",
                "/xsrf",
                "X-Requested-With: XMLHttpRequest\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n",
                b"a=b",
            ),
            403,
            "app",
            (1, 1, 1),
            app="xsrf",
        ),
        Case(
            "2.2.1",
            "set_header injection",
            request("GET", "/header?value=a%0D%0AX-Injection:%20injected"),
            400,
            "app",
            (2, 2, 1),
            forbidden=b"X-Injection",
        ),
        Case(
            "2.2.1",
            "redirect header injection",
            request("GET", "/redirect?url=/a%0D%0AX-Injection:%20injected"),
            400,
            "app",
            (2, 2, 1),
            forbidden=b"X-Injection",
        ),
        Case(
            "3.2.1",
            "signed cookie moved to another name",
            request("GET", "/signed?name=" + FORGED_COOKIE[0], "Cookie: %s=%s\r\n" % FORGED_COOKIE),
            403,
            "app",
            (3, 2, 1),
            app="xsrf",
        ),
        Case(
            "4.0.0",
            "cross-origin websocket",
            ws_handshake("Origin: http://evil.example.com\r\n"),
            403,
            "app",
            (4, 0, 0),
        ),
        Case(
            "4.2.1",
            "static path prefix traversal",
            request("GET", "/../static_foo.txt"),
            403,
            "app",
            (4, 2, 1),
            forbidden=b"should not be served",
            app="static",
        ),
        Case(
            "4.4.2",
            "cookie injected by another cookie's value",
            request(
                "POST",
                "/xsrf",
                "Cookie: a=b]_xsrf=injected\r\nContent-Type: application/x-www-form-urlencoded\r\n",
                b"_xsrf=injected",
            ),
            403,
            "app",
            (4, 4, 2),
            app="xsrf",
        ),
        Case(
            "6.3.2 CVE-2023-28370",
            "static open redirect",
            request("GET", "//evil.com/../%s/static/dir" % static_root.lstrip("/")),
            403,
            "app",
            (6, 3, 2),
            forbidden=b"Location",
            app="static",
        ),
        Case(
            "6.6.0",
            "static open redirect, backslash",
            request("GET", "/\\evil.com/../dir"),
            403,
            "app",
            (6, 6, 0),
            forbidden=b"Location",
            app="static",
        ),
        # -- request framing: the engine's job ----------------------------------
        Case(
            "6.3.3",
            "content-length plus sign",
            request("POST", "/echo", "Content-Length: +1\r\n", b"") + b"x",
            400,
            "http1",
            (6, 3, 3),
        ),
        Case(
            "6.3.3",
            "content-length underscore",
            request("POST", "/echo", "Content-Length: 1_0\r\n", b"") + b"x" * 10,
            400,
            "http1",
            (6, 3, 3),
        ),
        Case(
            "6.3.3",
            "content-length not a number",
            request("POST", "/echo", "Content-Length: foo\r\n", b""),
            400,
            "http1",
            (6, 3, 3),
        ),
        Case(
            "6.3.3",
            "chunk size underscore",
            request("POST", "/echo", TE_CHUNKED, b"1_a\r\n" + b"x" * 26 + b"\r\n0\r\n\r\n"),
            400,
            "http1",
            (6, 3, 3),
        ),
        Case(
            "6.3.3",
            "chunk size hex prefix",
            request("POST", "/echo", TE_CHUNKED, b"0x2\r\nok\r\n0\r\n\r\n"),
            400,
            "http1",
            (6, 3, 3),
        ),
        Case(
            "6.3.3",
            "chunk size sign",
            request("POST", "/echo", TE_CHUNKED, b"+2\r\nok\r\n0\r\n\r\n"),
            400,
            "http1",
            (6, 3, 3),
        ),
        Case(
            "6.4.1",
            "transfer-encoding gzip, chunked",
            request("POST", "/echo", "Transfer-Encoding: gzip, chunked\r\n", OK_CHUNKED),
            400,
            "http1",
            (6, 4, 1),
        ),
        Case(
            "6.4.1",
            "transfer-encoding repeated",
            request("POST", "/echo", TE_CHUNKED * 2, OK_CHUNKED),
            400,
            "http1",
            (6, 4, 1),
        ),
        Case(
            "6.4.1",
            "transfer-encoding and content-length",
            request("POST", "/echo", TE_CHUNKED + "Content-Length: 2\r\n", OK_CHUNKED),
            400,
            "http1",
            (6, 4, 1),
        ),
        Case(
            "6.4.1",
            "transfer-encoding with no-break space",
            request("POST", "/echo", "Transfer-Encoding: \xa0chunked\r\n", OK_CHUNKED),
            400,
            "http1",
            (6, 4, 1),
        ),
        Case(
            "6.4.1",
            "content-length with no-break space",
            request("POST", "/echo", "Content-Length: 2\xa0\r\n", b"") + b"ok",
            400,
            "http1",
            (6, 4, 1),
        ),
        # -- bodies and arguments: tornado.httputil --------------------------------
        Case(
            "6.5.0 CVE-2025-47287",
            "malformed multipart parts",
            multipart(*[b'Content-Disposition: invalid; name="a"\r\n\r\nb'] * 50),
            400,
            "app",
            (6, 5, 0),
        ),
        Case(
            "6.5.0 CVE-2025-47287",
            "multipart part without headers",
            multipart(*[b"b"] * 50),
            400,
            "app",
            (6, 5, 0),
        ),
        # The status line is written by the engine, which never puts an
        # invalid reason-phrase on the wire (RFC 9112 4), on any Tornado.
        Case(
            "6.5.3 CVE-2025-67724",
            "reason header injection",
            request("GET", "/status?code=200&reason=OK%0D%0AX-Injection:injected"),
            200,
            "http1",
            (6, 5, 3),
            forbidden=b"X-Injection",
        ),
        # ...but the error page that repeats the reason is tornado.web's.
        Case(
            "6.5.3 CVE-2025-67724",
            "reason xss",
            request("GET", "/status?code=400&reason=<script>alert(1)</script>"),
            400,
            "app",
            (6, 5, 3),
            forbidden=b"<script>",
        ),
        Case("6.5.5", "too many multipart parts", multipart(*[PART] * 150), 400, "app", (6, 5, 5)),
        Case(
            "6.5.5",
            "cookie domain injection",
            request("GET", "/cookie?domain=example.com;%20HttpOnly"),
            400,
            "app",
            (6, 5, 5),
            forbidden=b"HttpOnly",
        ),
        Case(
            "6.5.5",
            "cookie path injection",
            request("GET", "/cookie?path=/;Secure"),
            400,
            "app",
            (6, 5, 5),
            forbidden=b"Secure",
        ),
        Case(
            "6.5.5",
            "cookie samesite injection",
            request("GET", "/cookie?samesite=Lax;Partitioned"),
            400,
            "app",
            (6, 5, 5),
            forbidden=b"Partitioned",
        ),
        Case(
            "6.5.5",
            "multipart header with bare CR",
            multipart(FILE_PART % b"a\rb.txt"),
            400,
            "app",
            (6, 5, 5),
        ),
        Case(
            "6.5.8",
            "too many urlencoded arguments",
            post("application/x-www-form-urlencoded", b"&".join([b"a=b"] * 1001)),
            400,
            "app",
            (6, 5, 8),
        ),
        Case(
            "6.5.9",
            "too many query arguments",
            request("GET", "/echo?" + "&".join(["a=b"] * 1001)),
            400,
            "app",
            (6, 5, 9),
        ),
    ]


SCALING: List[Scaling] = [
    Scaling(
        "6.4.2 CVE-2024-7592",
        "cookie backslashes",
        lambda n: request("GET", "/echo", 'Cookie: a="b=' + "\\\\" * n + '"\r\n'),
        10000,
        200,
        "app",
        (6, 4, 2),
    ),
    # Repeated header lines were joined quadratically when the header
    # section was parsed: the engine builds the headers, so ours is linear
    # on every Tornado.
    Scaling(
        "6.5.3 CVE-2025-67725",
        "repeated header",
        lambda n: request("GET", "/echo", "X: a\r\n" * n),
        100000,
        200,
        "http1",
        (6, 5, 3),
        app="large_headers",
    ),
    Scaling(
        "6.5.3 CVE-2025-67726",
        "content-disposition semicolons",
        lambda n: multipart(
            b'Content-Disposition: form-data; x="' + b";" * n + b'"; name="a"\r\n\r\nb'
        ),
        10000,
        200,
        "app",
        (6, 5, 3),
    ),
]


# -- the applications ------------------------------------------------------------


class EchoHandler(RequestHandler):
    def get(self) -> None:
        self.post()

    def post(self) -> None:
        # Cookies are parsed on first use.
        self.write(
            {
                "cookies": len(self.cookies),
                "arguments": len(self.request.arguments),
                "files": len(self.request.files),
            }
        )


class StatusHandler(RequestHandler):
    def get(self) -> None:
        reason = self.get_argument("reason")
        self.set_status(int(self.get_argument("code")), reason)
        if self.get_status() >= 400:
            self.send_error(self.get_status(), reason=reason)
        else:
            self.write("ok")


class CookieHandler(RequestHandler):
    def get(self) -> None:
        try:
            self.set_cookie(
                "a",
                "b",
                domain=self.get_argument("domain", None),
                path=self.get_argument("path", "/"),
                samesite=self.get_argument("samesite", None),
            )
        except (ValueError, http.cookies.CookieError):
            self.send_error(400)


class HeaderHandler(RequestHandler):
    def get(self) -> None:
        try:
            self.set_header("X-Test", self.get_argument("value"))
        except ValueError:
            self.send_error(400)


class RedirectHandler(RequestHandler):
    def get(self) -> None:
        try:
            self.redirect(self.get_argument("url"))
        except ValueError:
            self.send_error(400)


class XSRFHandler(RequestHandler):
    def get(self) -> None:
        self.write(self.xsrf_token)

    def post(self) -> None:
        self.write("ok")


class SignedCookieHandler(RequestHandler):
    def get(self) -> None:
        name = self.get_argument("name")
        if tornado.version_info >= (6, 3):
            value = self.get_signed_cookie(name)
        else:  # the older name of the same method
            value = self.get_secure_cookie(name)
        if value is None:
            self.send_error(403)
        else:
            self.write("ok")


class EchoWebSocket(WebSocketHandler):
    def on_message(self, message: Any) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


def make_static_root(directory: str) -> str:
    """Lay out ``directory`` as the static app expects; returns it.

    ``directory/static`` is the static root with ``dir/index.html``;
    ``directory/static_foo.txt`` sits next to it and must never be served.
    """
    static = os.path.join(directory, "static")
    os.makedirs(os.path.join(static, "dir"))
    with open(os.path.join(static, "dir", "index.html"), "w") as f:
        f.write("this is the index\n")
    with open(os.path.join(directory, "static_foo.txt"), "w") as f:
        f.write("This file should not be served\n")
    return directory


def applications(static_root: str) -> Dict[str, Tuple[Application, Dict[str, Any]]]:
    """name -> (application, extra HTTPServer keyword arguments)."""
    handlers = [
        ("/echo", EchoHandler),
        ("/status", StatusHandler),
        ("/cookie", CookieHandler),
        ("/header", HeaderHandler),
        ("/redirect", RedirectHandler),
        ("/ws", EchoWebSocket),
    ]
    return {
        "default": (Application(handlers), {}),
        "xsrf": (
            Application(
                [("/xsrf", XSRFHandler), ("/signed", SignedCookieHandler)],
                xsrf_cookies=True,
                cookie_secret=COOKIE_SECRET,
            ),
            {},
        ),
        "large_headers": (Application(handlers), {"max_header_size": 1 << 20}),
        "static": (
            Application(
                static_path=os.path.join(static_root, "static"),
                static_url_prefix="/",
                static_handler_args=dict(default_filename="index.html"),
                static_handler_class=StaticFileHandler,
            ),
            {},
        ),
    }
