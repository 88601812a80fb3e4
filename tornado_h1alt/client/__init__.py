"""The HTTP clients on tornado_h1alt's engine.

`SimpleAsyncHTTPClient` is Tornado's simple_httpclient on our engine;
`KeepAliveHTTPClient` the same client with a connection pool underneath.
Each module has one job: `simple` (the SimpleAsyncHTTPClient subclass),
`resolver` (IP address literals without a thread pool), `reuse` (when a
connection may be reused or a request retried), `pool` (the pool's
bookkeeping), `streams` (the pool on real streams), `pooled` (a request on
simple_httpclient's path over a pooled connection), `quick` (a plain
request on an idle connection, without simple_httpclient's machinery),
`keepalive` (the client itself), and for HTTP proxies `proxy` (which proxy
a request takes and what it is told), `tunnel` (connecting through a
proxy: ``CONNECT``, then TLS to the origin) and `proxied` (the step before
simple_httpclient's ``run()`` that routes a request through its proxy).
"""

from __future__ import annotations

from .keepalive import KeepAliveHTTPClient
from .simple import SimpleAsyncHTTPClient

__all__ = ["KeepAliveHTTPClient", "SimpleAsyncHTTPClient"]
