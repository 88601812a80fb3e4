"""RFC 9110 / RFC 9112 productions as named regular expressions; no logic.

Each pattern quotes the production it implements and is meant to be used
with ``fullmatch``.  Patterns work on ``str`` decoded as latin-1, so that a
byte maps to exactly one character and ``obs-text`` is ``[\\x80-\\xff]``.
"""

from __future__ import annotations

import re

# RFC 5234 B.1:  VCHAR = %x21-7E
VCHAR = r"\x21-\x7e"
# RFC 9110 5.5:  obs-text = %x80-FF
OBS_TEXT = r"\x80-\xff"
# RFC 5234 B.1:  DIGIT = %x30-39 ; 1*DIGIT is a decimal number with no sign,
# space or prefix (Content-Length, RFC 9110 8.6)
digits = re.compile(r"[0-9]+")
# RFC 5234 B.1:  HEXDIG = DIGIT / "A" / "B" / "C" / "D" / "E" / "F" ; 1*HEXDIG
# (matched case-insensitively, as ABNF strings are)
hex_digits = re.compile(r"[0-9A-Fa-f]+")
# RFC 9110 5.6.1:  OWS = *( SP / HTAB )
OWS = r"[ \t]*"

# RFC 9110 5.6.2:
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
#   token = 1*tchar
TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
token = re.compile(rf"[{TCHAR}]+")

# RFC 9110 5.1:  field-name = token
field_name = token

# RFC 9110 5.5 (after the surrounding OWS has been stripped):
#   field-value   = *field-content
#   field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
#   field-vchar   = VCHAR / obs-text
# A stripped value is valid exactly when it contains no control character
# other than HTAB, so searching for a forbidden character is equivalent to a
# full match and much cheaper.
field_value_forbidden = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# A whole message head whose lines all end in CRLF and whose field lines
# are all well-formed (RFC 9112 5: field-line = field-name ":" OWS
# field-value OWS; no obs-fold, no bare CR or LF, no control characters):
# the common case, checked in one pass.  The start line is matched on its
# own afterwards.  A head that fails this is not necessarily invalid (bare
# LF line ends are allowed, RFC 9112 2.2); it is then parsed line by line.
plain_head = re.compile(rf"[^\r\n]*(?:\r\n[{TCHAR}]+:[\t\x20-\x7e{OBS_TEXT}]*)*")

# RFC 9110 9.1:  method = token
method = token

# RFC 9112 3.2: request-target; its forms come from RFC 3986.  As in Tornado
# 6.6 we accept any visible character (including obs-text, which WHATWG URLs
# allow) and leave URI syntax to the application.
request_target = re.compile(rf"[{VCHAR}{OBS_TEXT}]+")

# RFC 9112 2.3:  HTTP-version = HTTP-name "/" DIGIT "." DIGIT
HTTP_VERSION = r"HTTP/[0-9]\.[0-9]"

# RFC 9112 3:  request-line = method SP request-target SP HTTP-version
request_line = re.compile(rf"({method.pattern}) ({request_target.pattern}) ({HTTP_VERSION})")

# RFC 9112 4:
#   status-line   = HTTP-version SP status-code SP [ reason-phrase ]
#   status-code   = 3DIGIT
#   reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
# The SP before an empty reason-phrase is missing from many real servers'
# responses ("HTTP/1.1 200"); a client loses nothing by tolerating that, so
# the second SP is optional here.
reason_phrase = re.compile(rf"[\t {VCHAR}{OBS_TEXT}]*")
status_line = re.compile(rf"({HTTP_VERSION}) ([0-9]{{3}})(?: ({reason_phrase.pattern}))?")

# RFC 9112 7.1:
#   chunk-size = 1*HEXDIG
#   chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-name = token
#   chunk-ext-val  = token / quoted-string
# RFC 9110 5.6.4:
#   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
#   qdtext        = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair   = "\" ( HTAB / SP / VCHAR / obs-text )
quoted_string = rf'"(?:[\t \x21\x23-\x5b\x5d-\x7e{OBS_TEXT}]|\\[\t {VCHAR}{OBS_TEXT}])*"'
chunk_ext = rf"(?:{OWS};{OWS}{token.pattern}(?:{OWS}={OWS}(?:{token.pattern}|{quoted_string}))?)*"
# RFC 9112 7.1 asks recipients to guard against overflow in chunk-size:
# sixteen hex digits already exceed any sane body, and more would only be
# an overflow attempt against other parsers, so chunk-size is bounded here.
chunk_size = r"[0-9A-Fa-f]{1,16}"
# The chunk-size line without its CRLF.
chunk_size_line = re.compile(rf"({chunk_size})({chunk_ext})")
# The same line without extensions, and with its CRLF, as bytes: the common
# case, which the chunked reader matches in one step on undecoded input.
plain_chunk_size_line = re.compile(rb"(%s)\r\n" % chunk_size.encode())

# RFC 3986 3.2.2 / 3.2.3, as simplified by Tornado 6.6: the host may hold
# unreserved, sub-delims and pct-encoded characters plus "[", "]" and ":"
# (for IP literals), but never a comma (RFC 9112 3.2: several Host values
# folded into one by a proxy must be refused like several Host lines).
#   Host = uri-host [ ":" port ]
host = re.compile(r"(?:[\[\]:A-Za-z0-9\-._~!$&'()*+;=]|%[0-9A-Fa-f]{2})*")

# RFC 9112 9.6 / RFC 9110 7.6.1:  Connection = #connection-option
# List elements are separated by commas with optional whitespace.
list_separator = re.compile(r"[ \t]*,[ \t]*")
