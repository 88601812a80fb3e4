"""Run Tornado's own test suite against tornado_h1alt and report the differences.

``python -m conformance run`` runs the suite of the Tornado installed in the
current environment three ways -- unchanged (``stock``), after
``tornado_h1alt.install()`` (``install``), and with runtests'
``--httpserver`` / ``--httpclient`` options pointing at the engine
(``subclass``) -- then compares every test with stock, reruns anything that
differs, and writes ``results/tornado-<ver>-py<x.y>.json``.
``python -m conformance report`` rebuilds ``REPORT.md`` and ``report.json``
from all result files. See ``conformance/README.md``.

The package uses only the standard library and runs on Python 3.8+, because it
has to run inside every Tornado/Python environment being measured.
"""
