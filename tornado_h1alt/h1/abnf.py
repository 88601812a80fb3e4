"""RFC 9110 / RFC 9112 productions as named regular expressions; no logic.

Each pattern quotes the production it implements and is meant to be used
with ``fullmatch``.  Patterns work on ``str`` decoded as latin-1, so that a
byte maps to exactly one character and ``obs-text`` is ``[\\x80-\\xff]``;
the one bytes pattern (``plain_chunk_size_line``, matched on undecoded
input) is built from the same production as its str twin.
"""

from __future__ import annotations

import re

__all__ = [
    "ASTERISK_FORM",
    "HTTP_VERSION",
    "IPV4ADDRESS",
    "IPV6ADDRESS",
    "IPVFUTURE",
    "OBS_TEXT",
    "OWS",
    "PCT_ENCODED",
    "PORT",
    "REG_NAME",
    "SUB_DELIMS",
    "TCHAR",
    "UNRESERVED",
    "URI_HOST",
    "VCHAR",
    "absolute_form",
    "authority_form",
    "chunk_ext",
    "chunk_size",
    "chunk_size_line",
    "digits",
    "field_name",
    "field_value_forbidden",
    "hex_digits",
    "http_version",
    "host",
    "list_separator",
    "method",
    "plain_chunk_size_line",
    "quoted_string",
    "reason_phrase",
    "request_line",
    "request_target",
    "status_line",
    "token",
]

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

# RFC 9110 9.1:  method = token
method = token

# RFC 9112 3.2: request-target; its forms come from RFC 3986.  As in Tornado
# 6.6 we accept any visible character (including obs-text, which WHATWG URLs
# allow) and leave the syntax of paths and queries to the application; which
# form a target has is checked on its own (see target_form below).
request_target = re.compile(rf"[{VCHAR}{OBS_TEXT}]+")

# RFC 9112 2.3:  HTTP-version = HTTP-name "/" DIGIT "." DIGIT
HTTP_VERSION = r"HTTP/[0-9]\.[0-9]"
http_version = re.compile(HTTP_VERSION)

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
# sixteen significant hex digits already exceed any sane body, and more
# would only be an overflow attempt against other parsers, so the value is
# bounded here (leading zeros are valid digits, and cost nothing).
chunk_size = r"0*[0-9A-Fa-f]{1,16}"
# The chunk-size line without its CRLF.
chunk_size_line = re.compile(rf"({chunk_size})({chunk_ext})")
# The same line without extensions, and with its CRLF, as bytes: the common
# case, which the chunked reader matches in one step on undecoded input.
plain_chunk_size_line = re.compile(rb"(%s)\r\n" % chunk_size.encode())

# RFC 3986 2.2, 2.3, 2.1:
#   unreserved  = ALPHA / DIGIT / "-" / "." / "_" / "~"
#   sub-delims  = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
#   pct-encoded = "%" HEXDIG HEXDIG
UNRESERVED = r"A-Za-z0-9\-._~"
SUB_DELIMS = r"!$&'()*+,;="
PCT_ENCODED = r"%[0-9A-Fa-f]{2}"
# RFC 3986 3.2.2:
#   h16         = 1*4HEXDIG
#   ls32        = ( h16 ":" h16 ) / IPv4address
#   IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet
#   dec-octet   = DIGIT / %x31-39 DIGIT / "1" 2DIGIT / "2" %x30-34 DIGIT / "25" %x30-35
_DEC_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
IPV4ADDRESS = rf"{_DEC_OCTET}(?:\.{_DEC_OCTET}){{3}}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{IPV4ADDRESS})"
#   IPv6address =                            6( h16 ":" ) ls32
#               /                       "::" 5( h16 ":" ) ls32
#               / [               h16 ] "::" 4( h16 ":" ) ls32
#               / [ *1( h16 ":" ) h16 ] "::" 3( h16 ":" ) ls32
#               / [ *2( h16 ":" ) h16 ] "::" 2( h16 ":" ) ls32
#               / [ *3( h16 ":" ) h16 ] "::"    h16 ":"   ls32
#               / [ *4( h16 ":" ) h16 ] "::"              ls32
#               / [ *5( h16 ":" ) h16 ] "::"              h16
#               / [ *6( h16 ":" ) h16 ] "::"
IPV6ADDRESS = (
    "(?:"
    + "|".join(
        [
            rf"(?:{_H16}:){{6}}{_LS32}",
            rf"::(?:{_H16}:){{5}}{_LS32}",
            rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
            rf"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
            rf"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
            rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
            rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
            rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
            rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
        ]
    )
    + ")"
)
#   IPvFuture  = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
#   IP-literal = "[" ( IPv6address / IPvFuture  ) "]"
#   reg-name   = *( unreserved / pct-encoded / sub-delims )
#   host       = IP-literal / IPv4address / reg-name
# (An IPv4address is a reg-name too, so it needs no branch of its own.)
IPVFUTURE = rf"[vV][0-9A-Fa-f]+\.[{UNRESERVED}{SUB_DELIMS}:]+"
REG_NAME = rf"(?:[{UNRESERVED}{SUB_DELIMS}]|{PCT_ENCODED})*"
URI_HOST = rf"(?:\[(?:{IPV6ADDRESS}|{IPVFUTURE})\]|{REG_NAME})"
# RFC 3986 3.2.3:  port = *DIGIT
PORT = r"[0-9]*"
# RFC 9110 7.2:  Host = uri-host [ ":" port ]
host = re.compile(rf"{URI_HOST}(?::{PORT})?")

# RFC 9112 3.2, the forms of request-target other than origin-form (which
# starts with "/" and whose path and query are the application's business):
# RFC 9112 3.2.2:  absolute-form = absolute-URI
# RFC 3986 4.3:    absolute-URI  = scheme ":" hier-part [ "?" query ]
#                  scheme        = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
absolute_form = re.compile(rf"[A-Za-z][A-Za-z0-9+\-.]*:[{VCHAR}{OBS_TEXT}]*")
# RFC 9112 3.2.3:  authority-form = uri-host ":" port
authority_form = re.compile(rf"{URI_HOST}:{PORT}")
# RFC 9112 3.2.4:  asterisk-form = "*"
ASTERISK_FORM = "*"

# RFC 9112 9.6 / RFC 9110 7.6.1:  Connection = #connection-option
# List elements are separated by commas with optional whitespace.
list_separator = re.compile(r"[ \t]*,[ \t]*")
