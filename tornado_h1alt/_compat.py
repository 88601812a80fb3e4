"""Every difference between the Tornado versions we support, and only that.

Supported: Tornado 6.x (6.0 to 6.6).  Each name says what differs.
"""

from __future__ import annotations

import asyncio
from typing import Tuple, Type

import tornado
import tornado.gen
import tornado.util

__all__ = ["TIMEOUT_ERRORS", "TORNADO_VERSION", "to_native_str"]

TORNADO_VERSION: Tuple[int, ...] = tuple(tornado.version_info[:3])

# gen.with_timeout raised tornado.util.TimeoutError (its own class before
# 6.2, an alias of asyncio.TimeoutError from 6.2, which itself is the
# builtin TimeoutError from Python 3.11).
TIMEOUT_ERRORS: Tuple[Type[BaseException], ...] = tuple(
    {tornado.util.TimeoutError, asyncio.TimeoutError, TimeoutError}
)


def to_native_str(value: object) -> str:
    """A header name or value as str.

    Tornado's HTTPHeaders is meant to hold str, but some applications (and
    older Tornado code paths) still slip bytes through; Tornado has always
    decoded those as UTF-8 before writing them.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)
