"""A message head's bytes to a typed head event: start line, field lines, Host.

`parse_request_head` and `parse_response_head` take a complete head (start
line and field lines, without the empty line that ends it) and return a
`RequestHead` or `ResponseHead`, or raise `ProtocolError`; `parse_plain_head`
takes bytes that may be a head, and parses them only if they are a plain
one (see `plain_head_fields`).  Where the body
ends and whether the connection survives are decided by `framing`; field
lines are parsed by `parse_fields`, which the chunked reader uses for
trailer lines too.
"""

from __future__ import annotations

from typing import Dict, Final, List, Optional, Set, Tuple, Union

from . import abnf
from .errors import ProtocolError
from .events import Fields, RequestHead, ResponseHead
from .framing import (
    BodyKind,
    FieldIndex,
    index_field,
    index_fields,
    opens_tunnel,
    persistent_by_default,
    received_framing,
    request_keeps_alive,
    response_keeps_alive,
)

__all__ = [
    "parse_fields",
    "parse_plain_head",
    "parse_request_head",
    "parse_response_head",
    "split_lines",
]

# The versions nearly every message carries, parsed once.
_VERSIONS: Final = {"HTTP/1.1": (1, 1), "HTTP/1.0": (1, 0)}


def parse_request_head(block: bytes) -> RequestHead:
    """Parse a request head (RFC 9112 3, 5); see the module docstring."""
    head = _request_head(block, False)
    assert head is not None  # (None only for plain_only)
    return head


def parse_response_head(block: bytes, request_method: Optional[str]) -> ResponseHead:
    """Parse a response head (RFC 9112 4, 5); ``request_method`` is the
    method of the request it answers, which decides whether it has a body."""
    head = _response_head(block, request_method, False)
    assert head is not None  # (None only for plain_only)
    return head


def parse_plain_head(
    block: bytes, is_response: bool, request_method: Optional[str]
) -> Optional[Union[RequestHead, ResponseHead]]:
    """The head ``block`` holds if it is a plain head: CRLF line ends only,
    no empty line, every field line well-formed (see `plain_head_fields`).
    None for anything else, which may still be a valid head (bare LF line
    ends) or a head followed by more; `ProtocolError` for a plain head that
    is malformed all the same (a bad request line, two Host fields, ...).

    So a reader can take the bytes before the first CRLF CRLF it holds
    without searching them for an earlier end of the head (an LF LF or LF
    CRLF): a plain head has none.
    """
    if is_response:
        return _response_head(block, request_method, True)
    return _request_head(block, True)


def _request_head(block: bytes, plain_only: bool) -> Optional[RequestHead]:
    plain = _lines_and_fields(block, allow_obs_fold=False, plain_only=plain_only)
    if plain is None:
        return None
    start_line, fields, index, printable = plain
    method, target, http_version = _request_line(start_line, printable)
    if target[0] != "/" or method == "CONNECT":
        _check_target_form(method, target)
    version = _version(http_version)
    # Framing first: when a message is wrong in several ways, the framing
    # error (the one that matters for smuggling) is reported.
    framing = received_framing(is_response=False, version=version, fields=index)
    keep_alive = request_keeps_alive(version, index)
    _check_host(version, index)
    if framing.kind is BodyKind.LENGTH and "content-length" in index:
        fields = _single_content_length(fields, index, framing.length)
    return RequestHead(method, target, http_version, version, fields, framing, keep_alive)


# The methods nearly every request has, known to be tokens.
_COMMON_METHODS: Final = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE")
)


def _request_line(line: str, printable: bool = False) -> Tuple[str, str, str]:
    """The method, request-target and HTTP-version of a request-line;
    ``printable``: the line is known to be printable ASCII.

    RFC 9112 3: request-line = method SP request-target SP HTTP-version,
    where neither the method (a token) nor the target contains a space: so
    the first space ends the method and the last begins the version.  This
    is `abnf.request_line`, checked part by part with cheap tests first;
    each part that fails them is matched against its grammar.
    """
    method, _, rest = line.partition(" ")
    target, _, http_version = rest.rpartition(" ")
    if (
        (method in _COMMON_METHODS or abnf.method.fullmatch(method))
        and (http_version in _VERSIONS or abnf.http_version.fullmatch(http_version))
        # (Printable ASCII but the space is exactly VCHAR.)
        and (
            (
                (printable or (target.isascii() and target.isprintable()))
                and " " not in target
                and target != ""
            )
            or abnf.request_target.fullmatch(target)
        )
    ):
        return method, target, http_version
    # RFC 9112 3: an invalid request-line SHOULD get a 400.
    raise ProtocolError("Malformed HTTP request line")


def _response_head(
    block: bytes, request_method: Optional[str], plain_only: bool
) -> Optional[ResponseHead]:
    # RFC 9112 5.2: a user agent must unfold obs-fold (a server refuses it).
    plain = _lines_and_fields(block, allow_obs_fold=True, plain_only=plain_only)
    if plain is None:
        return None
    start_line, fields, index, _ = plain
    match = abnf.status_line.fullmatch(start_line)
    if match is None:
        raise ProtocolError("Error parsing response start line")
    http_version, code_text, reason = match.groups()
    version = _version(http_version)
    code = int(code_text)
    framing = received_framing(
        is_response=True,
        version=version,
        fields=index,
        request_method=request_method,
        status_code=code,
    )
    keep_alive = response_keeps_alive(
        version, index, framing, tunnel=opens_tunnel(request_method, code)
    )
    if framing.kind is BodyKind.LENGTH and "content-length" in index:
        fields = _single_content_length(fields, index, framing.length)
    return ResponseHead(http_version, code, reason or "", version, fields, framing, keep_alive)


def _lines_and_fields(
    block: bytes, *, allow_obs_fold: bool, plain_only: bool
) -> Optional[Tuple[str, Fields, FieldIndex, bool]]:
    """The start line, the fields, their index (see `index_fields`), and
    whether the head is printable ASCII throughout (but for its CRLFs);
    ``plain_only``: None unless the head is plain (see `plain_head_fields`)."""
    text = block.decode("latin-1")
    if text.endswith("\r"):
        # The CR right before the line end that ends the head ("a\r\r\n\r\n"):
        # the head's end was found after it, so it is a bare CR (RFC 9112 2.2),
        # which split_lines would take for part of a CRLF.  (Not a plain
        # head: whether its end was found first is not known yet.)
        if plain_only:
            return None
        raise ProtocolError("bare CR in message head")
    plain = plain_head_fields(block, text)
    if plain is not None:
        lines, fields, index, printable = plain
        return lines[0], fields, index, printable
    if plain_only:
        return None
    # Bare LF line ends, obs-fold, or an error to be named precisely.
    lines = split_lines(text)
    fields = parse_fields(lines[1:], allow_obs_fold=allow_obs_fold, what="header")
    return lines[0], fields, index_fields(fields), False


# Field names already found to be tokens, with their lower-cased forms: a
# server hears a few dozen of them.  Bounded, since peers choose them.
_VALID_NAMES: Final[Dict[str, str]] = {}
_VALID_NAMES_LIMIT: Final = 256

# The control characters, CR and LF included (RFC 5234 B.1: CTL).
_CONTROLS: Final = bytes(range(0x20)) + b"\x7f"


def plain_head_fields(
    block: bytes, text: str
) -> Optional[Tuple[List[str], Fields, FieldIndex, bool]]:
    """The lines, fields and field index (see `index_fields`) of the common
    head, and whether it is printable ASCII throughout apart from its CRLFs;
    None for any other head.  ``text`` is ``block`` decoded as Latin-1.

    The common head: every line ends in CRLF (no bare CR or LF anywhere)
    and every field line is well-formed (RFC 9112 5: field-line =
    field-name ":" OWS field-value OWS, without obs-fold or control
    characters).  It needs only a split and a strip per line, with cheap
    checks first (printable ASCII throughout, a name seen before) and the
    grammar only for what fails them.  None is not an error: the head is
    then parsed line by line (`split_lines`, `parse_fields`), which allows
    bare LF line ends (RFC 9112 2.2) and names each error.
    """
    lines = text.split("\r\n")
    line_ends = len(lines) - 1
    # Printable ASCII apart from its line ends, as most heads are: no bare
    # CR or LF, and no control character in a value.  (Deleting the
    # controls from the bytes is one table lookup per byte; the CRLFs are
    # all the controls there are if that deletes only them.  A longer
    # deletion table costs more than the isascii() call.)
    printable = (
        block.isascii() and len(block) - len(block.translate(None, _CONTROLS)) == 2 * line_ends
    )
    if not printable and (text.count("\r") != line_ends or text.count("\n") != line_ends):
        return None  # a bare CR or LF
    fields: Fields = []
    index: FieldIndex = {}
    for number in range(1, len(lines)):
        name, colon, value = lines[number].partition(":")
        if not colon:
            return None
        lowered = _VALID_NAMES.get(name)
        if lowered is None:
            # RFC 9110 5.1: field-name = token.
            if not abnf.field_name.fullmatch(name):
                return None
            lowered = name.lower()
            if len(_VALID_NAMES) < _VALID_NAMES_LIMIT:
                _VALID_NAMES[name] = lowered
        # RFC 9110 5.5: no control character but HTAB (HTAB and obs-text are
        # what sends a valid value here).
        if (
            not printable
            and not (value.isascii() and value.isprintable())
            and abnf.field_value_forbidden.search(value)
        ):
            return None
        value = value.strip(" \t")
        fields.append((name, value))
        index_field(index, lowered, value)
    return lines, fields, index, printable


def _version(http_version: str) -> Tuple[int, int]:
    version = _VERSIONS.get(http_version) or (int(http_version[5]), int(http_version[7]))
    if version[0] != 1:
        # RFC 9110 15.6.6: 505 for a major version we do not speak.
        raise ProtocolError("Unexpected HTTP version %r" % http_version, 505)
    return version


def split_lines(block: str) -> List[str]:
    """The lines of a head or trailer block, each without its CRLF or LF."""
    lines = block.split("\n")
    for index, line in enumerate(lines):
        if line.endswith("\r"):
            line = lines[index] = line[:-1]
        # RFC 9112 2.2: a bare CR outside a quoted context MUST be treated as
        # invalid (or replaced by SP); a lone CR is a framing disagreement
        # waiting to happen, so we refuse it.
        if "\r" in line:
            raise ProtocolError("bare CR in message head")
    return lines


def parse_fields(lines: List[str], *, allow_obs_fold: bool, what: str) -> Fields:
    """Field lines to fields (RFC 9112 5); ``what`` names them in errors."""
    fields: Fields = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            # RFC 9112 5.2: obs-fold.  A server must refuse it or unfold it;
            # we refuse (it has no legitimate modern use and is a classic
            # smuggling tool).  A user agent must unfold it: replace the fold
            # with a space.
            if not allow_obs_fold or not fields:
                raise ProtocolError(
                    "%s line cannot start with whitespace, folding not supported" % what
                )
            continuation = line.strip(" \t")
            if abnf.field_value_forbidden.search(continuation):
                raise ProtocolError("Invalid header value %r" % continuation)
            if continuation:  # (a fold of only whitespace adds nothing)
                name, value = fields[-1]
                fields[-1] = (name, (value + " " + continuation) if value else continuation)
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError("no colon in %s line" % what)
        # RFC 9112 5.1: no whitespace is allowed between the field name and
        # the colon; a server MUST reject such a message with 400.
        if not abnf.field_name.fullmatch(name):
            raise ProtocolError("Invalid header name %r" % name)
        value = value.strip(" \t")
        # RFC 9110 5.5: CR, LF and NUL (and other controls) are invalid in a
        # field value and a recipient MUST reject or replace them; we reject.
        if abnf.field_value_forbidden.search(value):
            raise ProtocolError("Invalid header value %r" % value)
        fields.append((name, value))
    return fields


def _check_target_form(method: str, target: str) -> None:
    """RFC 9112 3.2: a request-target other than origin-form ("/..."), in
    the form its method allows: authority-form ("host:port") for CONNECT
    and only for it, asterisk-form ("*") only for OPTIONS, absolute-form
    ("scheme:...", which a server MUST accept, RFC 9112 3.2.2) otherwise."""
    if method == "CONNECT":
        # RFC 9110 9.3.6: a server MUST reject a CONNECT request that targets
        # an empty or invalid port number (with 400).
        if abnf.authority_form.fullmatch(target):
            port = target.rpartition(":")[2]
            if port and int(port) <= 65535:
                return
        raise ProtocolError("CONNECT needs a host:port request-target, not %r" % target)
    if target == abnf.ASTERISK_FORM:
        if method == "OPTIONS":
            return
        raise ProtocolError("request-target * is only for OPTIONS, not %s" % method)
    if not abnf.absolute_form.fullmatch(target):
        raise ProtocolError("request-target %r is neither a path nor an absolute URI" % target)


# Host values already found valid: a server hears a handful of them.
# Bounded, since peers choose them.
_VALID_HOSTS: Final[Set[str]] = set()
_VALID_HOSTS_LIMIT: Final = 256


def _check_host(version: Tuple[int, int], index: FieldIndex) -> None:
    # RFC 9112 3.2: a server MUST respond 400 to an HTTP/1.1 request that
    # lacks a Host field, has more than one, or has an invalid value.
    hosts = index.get("host")
    if hosts is None:
        if persistent_by_default(version):
            raise ProtocolError("Missing Host header")
        return
    if len(hosts) > 1 or "," in hosts[0]:
        raise ProtocolError("Multiple host headers not allowed: %r" % ",".join(hosts))
    host = hosts[0]
    if host not in _VALID_HOSTS:
        if not abnf.host.fullmatch(host):
            raise ProtocolError("Invalid Host header: %r" % host)
        if len(_VALID_HOSTS) < _VALID_HOSTS_LIMIT:
            _VALID_HOSTS.add(host)


def _single_content_length(fields: Fields, index: FieldIndex, length: int) -> Fields:
    # RFC 9110 8.6: a recipient that accepts a repeated Content-Length (all
    # values equal) MUST replace it with one field holding that value, so
    # the application never sees "5, 5".
    lengths = index["content-length"]
    if len(lengths) == 1 and lengths[0] == str(length):
        return fields
    positions = [i for i, (name, _) in enumerate(fields) if name.lower() == "content-length"]
    first = positions[0]
    return [
        (name, str(length)) if i == first else (name, value)
        for i, (name, value) in enumerate(fields)
        if i == first or i not in positions
    ]
