"""Every difference between the Tornado versions we support.

Supported: Tornado 5.1 and 6.0 to 6.6.  Each name says what differs.  The
engine also reads a few of Tornado's private internals, for speed, whose
layout differs between releases (how HTTPHeaders stores its fields, what
IOStream holds in its buffer): those reads live here too, each detecting
the layout it finds, so that no other module depends on a release.
"""

from __future__ import annotations

import asyncio
import importlib
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union

import tornado
import tornado.gen
import tornado.netutil
import tornado.util

__all__ = [
    "ALWAYS_SEARCHES_FROM_BUFFER_START",
    "COALESCES_BODY_PIECES",
    "DEFAULT_CLIENT_USER_AGENT",
    "GETADDRINFO_RESOLVERS",
    "QUICK_POOLED_EXCHANGE",
    "TIMEOUT_ERRORS",
    "TORNADO_VERSION",
    "abandon_tls_handshake",
    "error_text",
    "grouped_fields",
    "has_buffered_input",
    "headers_from_fields",
    "peek_buffered",
    "searches_from_buffer_start",
    "warn_write_callback",
    "wrap_callback",
]

TORNADO_VERSION: Tuple[int, ...] = tuple(tornado.version_info[:3])

# gen.with_timeout raised tornado.util.TimeoutError (its own class before
# 6.2, an alias of asyncio.TimeoutError from 6.2, which itself is the
# builtin TimeoutError from Python 3.11).
TIMEOUT_ERRORS: Tuple[Type[BaseException], ...] = tuple(
    {tornado.util.TimeoutError, asyncio.TimeoutError, TimeoutError}
)


# Tornado 5.1's HTTPConnection.write_headers/write take a ``callback=``
# argument (deprecated there, removed in 6.0), and 5.x keeps a
# stack_context that callbacks must be wrapped in to keep the caller's
# exception handling.
_stack_context_wrap: Optional[Callable[..., Any]]
try:  # Tornado 5.x
    _stack_context_wrap = importlib.import_module("tornado.stack_context").wrap
except ImportError:  # Tornado 6.x: there is no stack_context
    _stack_context_wrap = None


def wrap_callback(callback: Optional[Callable[..., Any]]) -> Optional[Callable[..., Any]]:
    """Bind a callback to the current stack_context (Tornado 5.x only)."""
    if callback is None or _stack_context_wrap is None:
        return callback
    wrapped: Callable[..., Any] = _stack_context_wrap(callback)
    return wrapped


def warn_write_callback() -> None:
    """The warning Tornado 5.1 gives for write callbacks, from the caller's frame."""
    warnings.warn(
        "callback argument is deprecated, use returned Future instead",
        DeprecationWarning,
        stacklevel=3,
    )


# Tornado 6.6 gathers the small pieces of a body (tiny chunks of a chunked
# body) into chunk_size deliveries, and its tests count data_received calls
# accordingly; before 6.6 each chunk reached data_received on its own, and
# those versions' tests assert that chunk boundaries are visible.
COALESCES_BODY_PIECES = TORNADO_VERSION >= (6, 6)


# The log text of some input errors changed over the releases, and each
# release's tests look for its own wording in the log.
_OLD_ERROR_TEXTS = (
    # Before 6.4 the check said "Response" even for requests.
    ((6, 4), "Message with both", "Response with both"),
)


def error_text(message: str) -> str:
    """``message`` in the wording the installed Tornado uses for the same error."""
    for before, ours, theirs in _OLD_ERROR_TEXTS:
        if TORNADO_VERSION < before and message.startswith(ours):
            return theirs + message[len(ours) :]
    return message


# -- building HTTPHeaders from fields the core has already validated ----------
#
# HTTPHeaders.add() re-validates every field (6.6) and normalises the name
# through a cache; for fields our parser has just checked, filling the
# internal tables directly is several times faster.  The layout of those
# tables changed over the releases, so the layout is detected, and anything
# unrecognised falls back to add().

from tornado import httputil as _httputil  # noqa: E402

_normalize: Optional[Callable[[str], str]] = getattr(_httputil, "_normalize_header", None)
if _normalize is None and hasattr(_httputil, "_normalized_headers"):  # Tornado 5.x
    _normalize = _httputil._normalized_headers.__getitem__

_probe = _httputil.HTTPHeaders()
# 5.1-6.4: a combined-value dict beside the per-line lists;
# 6.5+: the lists, and a lazily filled cache of combined values.
_COMBINED_DICT = hasattr(_probe, "_dict") and hasattr(_probe, "_as_list")
_COMBINED_CACHE = hasattr(_probe, "_combined_cache") and hasattr(_probe, "_as_list")
_LAST_KEY = hasattr(_probe, "_last_key")  # (gone in 6.6)
# Every release keeps each name's lines in ``_as_list``, which get_all() walks.
_AS_LIST = isinstance(getattr(_probe, "_as_list", None), dict)
# The tables can be filled directly only if they are all there is to an
# empty HTTPHeaders: then a new one can skip __init__ (whose update() call
# costs an ABC isinstance check per message) and get its tables set here.
_FILL_DIRECTLY = (
    _normalize is not None
    and (_COMBINED_DICT or _COMBINED_CACHE)
    and set(vars(_probe))
    == {"_as_list"}
    | ({"_dict"} if _COMBINED_DICT else set())
    | ({"_combined_cache"} if _COMBINED_CACHE else set())
    | ({"_last_key"} if _LAST_KEY else set())
)
del _probe


def headers_from_fields(fields: list[tuple[str, str]]) -> _httputil.HTTPHeaders:
    """An HTTPHeaders holding ``fields``, equal to adding them one by one."""
    if not _FILL_DIRECTLY:
        headers = _httputil.HTTPHeaders()
        for name, value in fields:
            headers.add(name, value)
        return headers
    assert _normalize is not None
    as_list: dict[str, list[str]] = {}
    norm = None
    for name, value in fields:
        norm = _normalize(name)
        values = as_list.get(norm)
        if values is None:
            as_list[norm] = [value]
        else:
            values.append(value)
    # (Set as attributes: going through ``__dict__`` would turn the new
    # object's attributes into a plain dict, and every later look-up by the
    # application would be slower.)
    filled: Any = _httputil.HTTPHeaders.__new__(_httputil.HTTPHeaders)
    filled._as_list = as_list
    if _COMBINED_CACHE:
        filled._combined_cache = {}
    if _COMBINED_DICT:
        filled._dict = {
            norm_name: values[0] if len(values) == 1 else ",".join(values)
            for norm_name, values in as_list.items()
        }
    if _LAST_KEY:
        filled._last_key = norm
    return filled  # type: ignore[no-any-return]


def grouped_fields(headers: Any) -> Optional[Dict[str, List[object]]]:
    """The live table of ``headers``' lines, name to values, that its
    get_all() walks (`.Exchange.send_response`'s ``grouped``); None for a
    subclass of HTTPHeaders, which may list its fields otherwise."""
    if _AS_LIST and headers.__class__ is _httputil.HTTPHeaders:
        # (Values are typed object: programs also set bytes values.)
        grouped: Any = headers._as_list  # (not cast(): a call less per response)
        return grouped  # type: ignore[no-any-return]
    return None


# Before 6.3, IOStream keeps consumed bytes at the front of its buffer and
# starts a regex search at an offset past them, where \A never matches.
_SEARCH_OFFSET_IOSTREAM = TORNADO_VERSION < (6, 3)


# From 6.3 on, for every stream (see searches_from_buffer_start).
ALWAYS_SEARCHES_FROM_BUFFER_START = not _SEARCH_OFFSET_IOSTREAM


def searches_from_buffer_start(stream: Any) -> bool:
    """True if ``stream``'s next regex read can use a pattern anchored with \\A.

    Always from 6.3; before, only while no consumed bytes sit at the front
    of its buffer (after pipelined requests they can, briefly).
    """
    return not _SEARCH_OFFSET_IOSTREAM or not getattr(stream, "_read_buffer_pos", 0)


def has_buffered_input(stream: Any) -> bool:
    """True if the IOStream holds received bytes not yet read by anyone.

    Every IOStream from 5.1 to 6.6 keeps the count in ``_read_buffer_size``;
    if a release drops it we answer True, which only costs a yield.
    """
    return bool(getattr(stream, "_read_buffer_size", 1))


# simple_httpclient: from 6.1 a request without a User-Agent gets
# "Tornado/<version>" (6.0 and 5.1 send none).  The keep-alive client's
# quick exchange prepares requests as simple_httpclient does.
DEFAULT_CLIENT_USER_AGENT: Optional[str] = (
    "Tornado/%s" % tornado.version if TORNADO_VERSION >= (6, 1) else None
)

# The keep-alive client's quick exchange builds responses the way
# simple_httpclient does from 6.0 on (HTTPResponse's ``start_time``, the
# coroutine request path).  On 5.1 every request takes simple_httpclient's
# own path.
QUICK_POOLED_EXCHANGE = TORNADO_VERSION >= (6, 0)


def peek_buffered(stream: Any, limit: int) -> Tuple[Union[bytearray, bytes], int, int]:
    """Up to ``limit`` bytes the IOStream has received and nobody has read yet,
    without consuming or copying them: ``(buffer, start, end)``, the bytes
    being ``buffer[start:end]`` (an empty range when it holds none, or keeps
    them otherwise).  Only valid until the stream next reads.

    Every IOStream from 5.1 to 6.6 keeps them in the bytearray
    ``_read_buffer``: from ``_read_buffer_pos`` before 6.3, from its start
    since, ``_read_buffer_size`` of them.
    """
    size = getattr(stream, "_read_buffer_size", 0)
    buffer = getattr(stream, "_read_buffer", None)
    if not size or not isinstance(buffer, bytearray):
        return b"", 0, 0
    start = getattr(stream, "_read_buffer_pos", 0)
    return buffer, start, start + min(size, limit)


# Tornado's resolvers that answer with socket.getaddrinfo() and nothing else
# (on a thread pool, the event loop's executor, or blocking): for them an
# IP address literal resolves to itself.  DefaultExecutorResolver arrived in
# 5.0, DefaultLoopResolver in 6.2.
GETADDRINFO_RESOLVERS: Tuple[type, ...] = tuple(
    getattr(tornado.netutil, name)
    for name in (
        "DefaultLoopResolver",
        "DefaultExecutorResolver",
        "ExecutorResolver",
        "BlockingResolver",
        "ThreadedResolver",
    )
    if hasattr(tornado.netutil, name)
)


# IOStream.start_tls(): from 6.6, cancelling the Future it returns closes the
# TLS stream it made (and the socket).  Before, cancelling does not close it,
# and on 5.1 the handshake's end then fails on the cancelled Future (an
# error in the log), so the handshake is left to end by itself instead.
_CANCEL_CLOSES_TLS_HANDSHAKE = TORNADO_VERSION >= (6, 6)


def abandon_tls_handshake(handshake: asyncio.Future[Any]) -> None:
    """Stop a `start_tls` handshake nobody waits for any more, where Tornado
    can (6.6+); otherwise it runs on until the peer answers or closes, and
    whoever abandoned it closes the stream it yields."""
    if _CANCEL_CLOSES_TLS_HANDSHAKE:
        handshake.cancel()
