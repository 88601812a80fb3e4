"""wrk: the command line for one run, and its text output parsed into numbers (no I/O).

wrk 4.x prints, for example::

    Running 5s test @ http://127.0.0.1:8000/
      1 threads and 50 connections
      Thread Stats   Avg      Stdev     Max   +/- Stdev
        Latency     5.13ms    1.02ms  20.11ms   90.00%
        Req/Sec     9.80k   500.00    10.50k    70.00%
      Latency Distribution
         50%    4.90ms
         99%    9.10ms
      48765 requests in 5.00s, 6.23MB read
      Socket errors: connect 0, read 1, write 0, timeout 0
      Non-2xx or 3xx responses: 12
    Requests/sec:   9750.12
    Transfer/sec:      1.25MB

The "Socket errors" and "Non-2xx or 3xx responses" lines appear only when a
count is non-zero. Our Lua scripts may add a line
``bench-verify ok=N bad=N first_bad=...`` (see lua/common.lua).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

LUA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")

# wrk's format_binary() uses powers of 1024 with these prefixes.
_BINARY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
# wrk's format_time_us() / format_time_s() units, in seconds.
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# wrk's format_metric() uses powers of 1000 (Req/Sec column).
_METRIC_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_REQUESTS_LINE = re.compile(
    r"^\s*(?P<requests>[0-9]+) requests in (?P<duration>%s)(?P<duration_unit>us|ms|s|m|h), "
    r"(?P<bytes>%s)(?P<bytes_unit>[KMGTP]?)B read\s*$" % (_NUMBER, _NUMBER)
)
_SOCKET_ERRORS_LINE = re.compile(
    r"^\s*Socket errors: connect (?P<connect>[0-9]+), read (?P<read>[0-9]+), "
    r"write (?P<write>[0-9]+), timeout (?P<timeout>[0-9]+)\s*$"
)
_NON_2XX_LINE = re.compile(r"^\s*Non-2xx or 3xx responses: (?P<count>[0-9]+)\s*$")
_RPS_LINE = re.compile(r"^\s*Requests/sec:\s*(?P<value>%s)\s*$" % _NUMBER)
_TRANSFER_LINE = re.compile(r"^\s*Transfer/sec:\s*(?P<value>%s)(?P<unit>[KMGTP]?)B\s*$" % _NUMBER)
_LATENCY_LINE = re.compile(
    r"^\s*Latency\s+(?P<avg>%s)(?P<avg_unit>us|ms|s|m|h)\s+(?P<stdev>%s)(?P<stdev_unit>us|ms|s|m|h)"
    r"\s+(?P<max>%s)(?P<max_unit>us|ms|s|m|h)" % (_NUMBER, _NUMBER, _NUMBER)
)
_PERCENTILE_LINE = re.compile(
    r"^\s*(?P<pct>%s)%%\s+(?P<value>%s)(?P<unit>us|ms|s|m|h)\s*$" % (_NUMBER, _NUMBER)
)
_VERIFY_LINE = re.compile(
    r"^bench-verify ok=(?P<ok>[0-9]+) bad=(?P<bad>[0-9]+) first_bad=(?P<first_bad>.*)$"
)


class WrkError(Exception):
    """wrk's output is unusable or reports failed requests."""


@dataclass
class WrkResult:
    """The numbers of one wrk run."""

    requests: int
    duration_s: float
    bytes_read: float
    requests_per_s: float
    transfer_per_s: float  # bytes/s, as wrk rounds it
    latency_avg_s: Optional[float] = None
    latency_max_s: Optional[float] = None
    latency_percentiles_s: Dict[str, float] = field(default_factory=dict)
    socket_errors: Dict[str, int] = field(
        default_factory=lambda: {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    )
    non_2xx_3xx: int = 0
    verify_ok: Optional[int] = None
    verify_bad: Optional[int] = None
    verify_first_bad: str = ""

    def as_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @property
    def total_socket_errors(self) -> int:
        """Connect, read, write and timeout errors added up."""
        return sum(self.socket_errors.values())


def _scaled(value: str, unit: str, table: Mapping[str, float]) -> float:
    # Rounded well below wrk's own precision, so "11.87ms" gives 0.01187 and
    # not 0.011869999999999999 in results.json.
    return round(float(value) * table[unit], 9)


def parse_output(text: str) -> WrkResult:
    """Parse wrk's text report; raises `WrkError` when the summary lines are missing."""
    requests = duration = bytes_read = rps = transfer = None
    result_extra: Dict[str, Any] = {
        "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "non_2xx_3xx": 0,
        "latency_percentiles_s": {},
    }
    in_distribution = False
    for line in text.splitlines():
        match = _REQUESTS_LINE.match(line)
        if match:
            requests = int(match.group("requests"))
            duration = _scaled(match.group("duration"), match.group("duration_unit"), _TIME_UNITS)
            bytes_read = _scaled(match.group("bytes"), match.group("bytes_unit"), _BINARY_UNITS)
            in_distribution = False
            continue
        match = _SOCKET_ERRORS_LINE.match(line)
        if match:
            result_extra["socket_errors"] = {k: int(v) for k, v in match.groupdict().items()}
            continue
        match = _NON_2XX_LINE.match(line)
        if match:
            result_extra["non_2xx_3xx"] = int(match.group("count"))
            continue
        match = _RPS_LINE.match(line)
        if match:
            rps = float(match.group("value"))
            continue
        match = _TRANSFER_LINE.match(line)
        if match:
            transfer = _scaled(match.group("value"), match.group("unit"), _BINARY_UNITS)
            continue
        match = _LATENCY_LINE.match(line)
        if match:
            result_extra["latency_avg_s"] = _scaled(
                match.group("avg"), match.group("avg_unit"), _TIME_UNITS
            )
            result_extra["latency_max_s"] = _scaled(
                match.group("max"), match.group("max_unit"), _TIME_UNITS
            )
            continue
        if line.strip() == "Latency Distribution":
            in_distribution = True
            continue
        if in_distribution:
            match = _PERCENTILE_LINE.match(line)
            if match:
                key = "p%g" % float(match.group("pct"))  # "50.000" -> "p50", "99.9" -> "p99.9"
                result_extra["latency_percentiles_s"][key] = _scaled(
                    match.group("value"), match.group("unit"), _TIME_UNITS
                )
                continue
            in_distribution = False
        match = _VERIFY_LINE.match(line.strip())
        if match:
            result_extra["verify_ok"] = int(match.group("ok"))
            result_extra["verify_bad"] = int(match.group("bad"))
            result_extra["verify_first_bad"] = match.group("first_bad")
            continue
    missing = [
        name
        for name, value in (
            ("'N requests in T, B read'", requests),
            ("'Requests/sec'", rps),
            ("'Transfer/sec'", transfer),
        )
        if value is None
    ]
    if missing:
        raise WrkError("wrk output lacks %s:\n%s" % (", ".join(missing), text))
    assert requests is not None and duration is not None and bytes_read is not None
    assert rps is not None and transfer is not None
    return WrkResult(
        requests=requests,
        duration_s=duration,
        bytes_read=bytes_read,
        requests_per_s=rps,
        transfer_per_s=transfer,
        **result_extra,
    )


def check_result(result: WrkResult, what: str) -> None:
    """Fail loudly on error responses, socket errors, failed checks or no requests at all."""
    problems: List[str] = []
    if result.non_2xx_3xx:
        problems.append("%d non-2xx/3xx responses" % result.non_2xx_3xx)
    if result.total_socket_errors:
        problems.append(
            "socket errors: "
            + ", ".join("%s %d" % (k, v) for k, v in result.socket_errors.items() if v)
        )
    if result.requests == 0:
        problems.append("no request completed")
    if result.verify_bad:
        problems.append(
            "%d responses with an unexpected status or body (first: %s)"
            % (result.verify_bad, result.verify_first_bad)
        )
    if result.verify_ok is not None and result.verify_ok == 0:
        problems.append("the verification pass saw no good response")
    if problems:
        raise WrkError("%s: %s" % (what, "; ".join(problems)))


def build_command(
    url: str,
    *,
    duration_s: int,
    connections: int,
    threads: int,
    script: str,
    script_args: Sequence[str] = (),
    cpu: Optional[int] = None,
    taskset: Optional[str] = None,
    latency: bool = True,
    timeout_s: int = 10,
) -> List[str]:
    """The argv of one wrk run (keep-alive is wrk's default), optionally under taskset."""
    argv: List[str] = []
    if taskset is not None and cpu is not None:
        argv += [taskset, "-c", str(cpu)]
    argv += [
        "wrk",
        "-t%d" % threads,
        "-c%d" % connections,
        "-d%ds" % duration_s,
        "--timeout",
        "%ds" % timeout_s,
    ]
    if latency:
        argv.append("--latency")
    argv += ["-s", os.path.join(LUA_DIR, script), url]
    if script_args:
        argv += ["--", *script_args]
    return argv
