"""``decompress=True``: decoding a ``Content-Encoding: gzip`` body as it arrives.

`GzipBody` decodes piece by piece under the body's size limit (both clients
use it); `GzipMessageDelegate` wraps an `.HTTPMessageDelegate` with it, as
Tornado's ``_GzipMessageDelegate`` does.
"""

from __future__ import annotations

import zlib
from typing import Awaitable, Iterator, Optional, Union

from tornado import httputil
from tornado.util import GzipDecompressor

__all__ = ["GzipBody", "GzipMessageDelegate"]


class GzipBody:
    """Decodes a ``Content-Encoding: gzip`` body piece by piece.

    The size limit applies to the decompressed body, so a small compressed
    body cannot expand past ``max_body_size`` (a "zip bomb").  Malformed
    gzip data raises `.HTTPInputError`.
    """

    def __init__(self, chunk_size: int, max_body_size: int) -> None:
        self._chunk_size = chunk_size
        self._max_body_size = max_body_size
        self._decompressed_size = 0
        self._decompressor = GzipDecompressor()

    @staticmethod
    def for_headers(
        headers: httputil.HTTPHeaders, chunk_size: int, max_body_size: int
    ) -> Optional[GzipBody]:
        """A decoder if the message is gzip-encoded, else None.

        The headers are changed to describe the decoded body the recipient
        will see: ``Content-Encoding`` moves to ``X-Consumed-Content-Encoding``
        (so the application can still tell what was on the wire).
        """
        if headers.get("Content-Encoding", "").lower() != "gzip":
            return None
        headers.add("X-Consumed-Content-Encoding", headers["Content-Encoding"])
        del headers["Content-Encoding"]
        return GzipBody(chunk_size, max_body_size)

    def decode(self, compressed: bytes) -> Iterator[bytes]:
        """The decompressed pieces of ``compressed``, each at most ``chunk_size``."""
        while compressed:
            try:
                decompressed = self._decompressor.decompress(compressed, self._chunk_size)
            except zlib.error as error:
                raise httputil.HTTPInputError("invalid gzip data: %s" % error) from None
            if decompressed:
                self._decompressed_size += len(decompressed)
                if self._decompressed_size > self._max_body_size:
                    raise httputil.HTTPInputError("decompressed body too large")
                yield decompressed
            tail = self._decompressor.unconsumed_tail
            if not decompressed and len(tail) >= len(compressed):
                # No output and no input consumed: data after the end of
                # the gzip stream, which would otherwise loop forever.
                raise httputil.HTTPInputError(
                    "encountered unconsumed gzip data without making progress"
                )
            compressed = tail

    def finish(self) -> None:
        """All input has been given: raises `.HTTPInputError` if it was truncated."""
        try:
            self._decompressor.flush()
        except zlib.error as error:
            raise httputil.HTTPInputError("invalid gzip data: %s" % error) from None


class GzipMessageDelegate(httputil.HTTPMessageDelegate):
    """Wraps an `.HTTPMessageDelegate` to decode ``Content-Encoding: gzip`` (see `GzipBody`)."""

    def __init__(
        self, delegate: httputil.HTTPMessageDelegate, chunk_size: int, max_body_size: int
    ) -> None:
        self._delegate = delegate
        self._chunk_size = chunk_size
        self._max_body_size = max_body_size
        self._gzip: Optional[GzipBody] = None

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        self._gzip = GzipBody.for_headers(headers, self._chunk_size, self._max_body_size)
        return self._delegate.headers_received(start_line, headers)

    async def data_received(self, chunk: bytes) -> None:
        pieces = [chunk] if self._gzip is None else self._gzip.decode(chunk)
        for piece in pieces:
            result = self._delegate.data_received(piece)
            if result is not None:
                await result

    def finish(self) -> None:
        if self._gzip is not None:
            try:
                self._gzip.finish()
            except httputil.HTTPInputError:
                # The connection considers this delegate finished, so the
                # wrapped one must hear of the close from us.
                self._delegate.on_connection_close()
                raise
        return self._delegate.finish()

    def on_connection_close(self) -> None:
        return self._delegate.on_connection_close()
