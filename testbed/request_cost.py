"""What a request costs a real Synapse: its server's CPU time per request, with and without the
module, on request bodies built against the log filter.

One measurement for the end-to-end test (``tests/e2e/test_e2e_logs.py``) and the benchmark
(``bench/logfilter_bench.py``). A body that is not JSON is logged whole by Synapse
(``synapse.http.servlet``, as a bytes ``repr``); the bodies here are as long as the filter scans
whole: the line Synapse logs is just under :data:`~synapse_dp_auth.logfilter.MAX_LINE_LENGTH`.
The CPU time is the process's own (all its threads), which other load on the machine disturbs
less than the wall-clock time.
"""

from __future__ import annotations

import http.client
import statistics
from collections.abc import Mapping
from pathlib import Path

from synapse_dp_auth.logfilter import MAX_LINE_LENGTH
from testbed.homeserver import Homeserver
from testbed.hostile_logs import ORDINARY_LINE, WORST_CASE_UNITS, repeated

LOGIN = "/_matrix/client/v3/login"

#: The shapes whose cost per request is compared: ordinary text and those that cost the filter
#: most (up to 3.6 times Synapse's own CPU per request before it marked candidates first) or now.
SHAPES = {
    "ordinary log lines": ORDINARY_LINE.replace("\n", " "),
    **{
        name: WORST_CASE_UNITS[name]
        for name in (
            "runs one digit short of a token",
            "escaped and plain digits mixed, one short",
            "percent signs only",
            "runs of %30 just short of a token",
            "runs of \\x30 just short of a token",
            "runs a token long, one apart",
            "JSON escapes of a letter",
            "escaped quotes",
        )
    },
}

#: What Synapse's line adds to the body's ``repr`` (``Unable to parse JSON from POST ...
#: response: <the decoder's error> (...)``), with room to spare.
_LINE_AROUND_BODY = 256


def body_at_the_cut(unit: str) -> bytes:
    """``unit`` repeated into the longest body (not JSON: it starts with ``{`` and never closes)
    whose logged line the filter still scans whole."""
    longest_repr = MAX_LINE_LENGTH - _LINE_AROUND_BODY
    body = ("{" + repeated(unit, longest_repr)).encode()
    # A bytes repr is longer than the bytes where it escapes them: shorten to fit.
    while len(repr(body)) > longest_repr:
        body = body[: len(body) - (len(repr(body)) - longest_repr + 1) // 2 - 1]
    return body


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far: the sum of its threads' run times, in nanoseconds
    (``/proc/PID/task/*/schedstat``). ``/proc/PID/stat`` counts in clock ticks (10 ms): a
    measurement would need seconds of requests to be read to a few percent."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text(encoding="ascii").split()[0])
        except (FileNotFoundError, ProcessLookupError):  # a thread that has just ended
            continue
    return total / 1e9


def cpu_per_request(homeserver: Homeserver, body: bytes, count: int) -> float:
    """Server CPU seconds per ``POST /login`` of ``body``, over ``count`` sequential requests on
    one connection; each must be refused as not JSON."""
    host, port = homeserver.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    pid = homeserver.pid
    assert pid is not None, "the homeserver is not running"
    try:
        before = cpu_seconds(pid)
        for _ in range(count):
            connection.request("POST", LOGIN, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 400:
                raise AssertionError(f"POST {LOGIN} answered {response.status}: {answer[:200]!r}")
        return (cpu_seconds(pid) - before) / count
    finally:
        connection.close()


def compare(
    servers: Mapping[str, Homeserver], bodies: Mapping[str, bytes], count: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """CPU seconds per request of each body on each server, per round: ``{body: {server:
    [round, ...]}}``. Within a round each body goes to every server in turn, the order reversed
    from one round to the next, so that drift and other load are shared out."""
    results: dict[str, dict[str, list[float]]] = {
        name: {server: [] for server in servers} for name in bodies
    }
    order = list(servers)
    for number in range(rounds):
        for name, body in bodies.items():
            for server in order if number % 2 == 0 else order[::-1]:
                results[name][server].append(cpu_per_request(servers[server], body, count))
    return results


def paired_ratio(per_round: Mapping[str, list[float]], server: str, baseline: str) -> float:
    """The median over rounds of ``server``'s CPU per request over ``baseline``'s in the same
    round (measured one right after the other, so under about the same load)."""
    return statistics.median(
        mine / theirs for mine, theirs in zip(per_round[server], per_round[baseline], strict=True)
    )
