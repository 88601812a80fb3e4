"""Differential testing: tornado_h1alt's core against other HTTP/1 parsers
(h11, llhttp through httptools, stock Tornado); see differential/README.md."""
