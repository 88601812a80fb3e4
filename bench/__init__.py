"""The benchmark harness: stock Tornado vs tornado_h1alt, run with ``python -m bench``.

See bench/README.md. Modules: scenarios (the table of scenarios), wrk (its
command line and output parsing), stats (medians, ratios), procs (child
processes), runner (the interleaved runs), report (Markdown, JSON, chart);
server.py, fetch_client.py and idle_client.py are the child processes.
"""
