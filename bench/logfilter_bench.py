"""How fast the log filter reads text built against it, beside ordinary log lines, in one run.

For each shape of :mod:`testbed.hostile_logs` (runs one digit short of a token, in every case and
escape, runs one character apart, one long run, unfinished escapes, a secret's prefix repeated)
and for ordinary access-log lines, it times :meth:`RedactingFilter.redact` on the whole text (no
cut: the scan itself) and prints the throughput in MB/s and its ratio to the ordinary lines'.
Shapes are interleaved within each round, their order rotated from round to round, and ratios are
taken per round, then their median: drift and other load on the machine are shared out.

Then the case the filter exists for: a body at Synapse's largest request (50 MiB), logged as
Synapse logs a body that is not JSON. Synapse's own handler formats it (``getMessage``); with the
module the filter formats it once instead, cuts it and scans what is left. Both are timed.

What the filter costs per line on the lines it sees for every login (an access-log line and
``Got login request``), beside what the handler then costs to format and write it.

What it costs a real Synapse per request: two Synapse processes, one without the module and one
with it, are sent ``POST /login`` bodies (not JSON) of each shape of
:data:`testbed.request_cost.SHAPES`, as long as the lines the filter scans whole; the servers'
CPU time per request is compared, round by round (``--server-requests``, ``--server-rounds``;
``--server-rounds=0`` skips it).

For reference, the pattern the filter used before (``[0-9a-f]{128,}``, tried again from every
digit of a run) on runs one digit short of a token, beside ordinary lines.

Run it with ``./tox.sh -e logfilter_bench`` or ``python -m bench.logfilter_bench --help`` from the
repository root.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from synapse_dp_auth.logfilter import MAX_LINE_LENGTH, RedactingFilter
from synapse_dp_auth.token import make_token
from testbed.hostile_logs import (
    SYNAPSE_MAX_BODY,
    SYNAPSE_MAX_REQUEST_SIZE,
    WORST_CASE_UNITS,
    repeated,
    shape_units,
)

SECRET = "log filter benchmark shared secret, 64 characters long as advised"
ORDINARY = "ordinary log lines"
#: The filter's pattern before issue 17, for the reference line.
PREVIOUS_PATTERN = re.compile("[0-9a-f]{128,}")
SHORT_RUNS = "runs one digit short of a token"
#: The reference is slow by design: it is measured on this much text at most.
PREVIOUS_PATTERN_SIZE = 1_000_000


def seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def scan_throughput(size: int, rounds: int) -> dict[str, dict[str, Any]]:
    """MB/s of :meth:`RedactingFilter.redact` on ``size`` characters of each shape, and the ratio
    to ordinary lines, per round and as medians."""
    redacting = RedactingFilter()
    redacting.add_secrets([SECRET])
    texts = {name: repeated(unit, size) for name, unit in shape_units(SECRET).items()}
    names = list(texts)
    per_round: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        mb_per_s = {}
        for name in names[shift:] + names[:shift]:
            text = texts[name]
            mb_per_s[name] = size / 1e6 / seconds(partial(redacting.redact, text))
        for name in names:
            per_round[name].append(mb_per_s[name])
            ratios[name].append(mb_per_s[name] / mb_per_s[ORDINARY])
    return {
        name: {
            "mb_per_s": statistics.median(per_round[name]),
            "ratio_to_ordinary": statistics.median(ratios[name]),
            "ratio_range": [min(ratios[name]), max(ratios[name])],
        }
        for name in names
    }


def filter_and_format(redacting: RedactingFilter, record: logging.LogRecord) -> str:
    """What a record costs with the module: the filter, then the handler's formatting."""
    redacting.filter(record)
    return record.getMessage()


def largest_body(rounds: int) -> dict[str, Any]:
    """A body at Synapse's largest request, logged as ``synapse.http.servlet`` logs one that is
    not JSON: Synapse's formatting alone, then the filter and the formatting after it."""
    redacting = RedactingFilter()
    redacting.add_secrets([SECRET])
    token = make_token(SECRET, "@alice:example.org")
    body = repeated(WORST_CASE_UNITS[SHORT_RUNS], SYNAPSE_MAX_BODY - len(token)) + token
    args = ("POST", "/_matrix/client/v3/login", "Expecting value", body.encode())
    line = "Unable to parse JSON from %s %s response: %s (%s)"

    def record() -> logging.LogRecord:
        return logging.LogRecord("synapse.http.servlet", logging.WARNING, "", 1, line, args, None)

    formatting, filtering, written = [], [], ""
    for _ in range(rounds):
        formatting.append(seconds(record().getMessage))
        filtered = record()
        filtering.append(seconds(partial(filter_and_format, redacting, filtered)))
        written = filtered.getMessage()
    if token in written:
        raise AssertionError("the token is in the line the filter let through")
    return {
        "body_bytes": len(body),
        "formatting_s": statistics.median(formatting),
        "filter_and_formatting_s": statistics.median(filtering),
        "ratio": statistics.median(f / g for f, g in zip(filtering, formatting, strict=True)),
        "written_chars": len(written),
    }


#: The lines the filter sees for every login, as Synapse logs them: (logger, format, arguments).
LOGIN_LINES = {
    "access-log line": (
        "synapse.access.http.8008",
        '%s - %s - {%s} Processed request: %.3fsec/%.3fsec (%.3fsec, %.3fsec) (%.3fsec/%.3fsec/%d)'
        ' %sB %s "%s %s %s" "%s" [%d dbevts]',
        ("127.0.0.1", "8008", "@alice:example.org", 0.004, 0.0, 0.001, 0.0, 0.001, 0.002, 2,
         "310", "200", "POST", "/_matrix/client/v3/login", "HTTP/1.1",
         "mautrix-python/0.20.4 aiohttp/3.9.1 Python/3.11", 0),
    ),
    "Got login request": (
        "synapse.rest.client.login",
        "Got login request with identifier: %r, medium: %r, address: %r, user: %r",
        ({"type": "m.id.user", "user": "@alice:example.org"}, None, None, "@alice:example.org"),
    ),
}  # fmt: skip


def per_line(rounds: int, lines_per_round: int = 20_000) -> dict[str, dict[str, float]]:
    """Microseconds per line: the filter alone, and a handler formatting and writing the line
    (to memory) as Synapse's file handler would; medians of rounds."""
    redacting = RedactingFilter()
    redacting.add_secrets([SECRET])
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(
        logging.Formatter("%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s")
    )
    results = {}
    for name, (logger, msg, args) in LOGIN_LINES.items():

        def records() -> list[logging.LogRecord]:
            return [
                logging.LogRecord(logger, logging.INFO, "", 1, msg, args, None)  # noqa: B023
                for _ in range(lines_per_round)
            ]

        filtering, handling = [], []
        for _ in range(rounds):
            batch = records()
            filtering.append(seconds(lambda: [redacting.filter(r) for r in batch]))  # noqa: B023
            batch = records()
            handling.append(seconds(lambda: [handler.handle(r) for r in batch]))  # noqa: B023
            handler.stream = io.StringIO()
        results[name] = {
            "filter_us": statistics.median(filtering) / lines_per_round * 1e6,
            "format_and_write_us": statistics.median(handling) / lines_per_round * 1e6,
        }
    return results


def server_cpu(requests: int, rounds: int) -> dict[str, dict[str, Any]]:
    """Synapse's CPU per request without and with the module, on bodies at the cut."""
    from testbed import request_cost  # imports Synapse's test launcher: only when asked
    from testbed.homeserver import Homeserver

    module = {
        "module": "synapse_dp_auth.SharedSecretAuthProvider",
        "config": {"shared_secret": SECRET},
    }
    bodies = {
        name: request_cost.body_at_the_cut(unit) for name, unit in request_cost.SHAPES.items()
    }
    with Homeserver([]) as bare, Homeserver([module]) as loaded:
        per_round = request_cost.compare(
            {"without": bare, "with": loaded}, bodies, requests, rounds
        )
    return {
        name: {
            "body_bytes": len(bodies[name]),
            "without_ms": statistics.median(figures["without"]) * 1000,
            "with_ms": statistics.median(figures["with"]) * 1000,
            "ratio": request_cost.paired_ratio(figures, "with", "without"),
            "ratio_range": [
                min(w / o for w, o in zip(figures["with"], figures["without"], strict=True)),
                max(w / o for w, o in zip(figures["with"], figures["without"], strict=True)),
            ],
        }
        for name, figures in per_round.items()
    }


def previous_pattern(size: int, rounds: int) -> dict[str, float]:
    """The pattern before issue 17 on runs one digit short of a token, beside ordinary lines."""
    size = min(size, PREVIOUS_PATTERN_SIZE)
    texts = {name: repeated(shape_units(SECRET)[name], size) for name in (ORDINARY, SHORT_RUNS)}
    ratios, short = [], []
    for _ in range(rounds):
        ordinary_s = seconds(lambda: PREVIOUS_PATTERN.search(texts[ORDINARY]))
        short_s = seconds(lambda: PREVIOUS_PATTERN.search(texts[SHORT_RUNS]))
        ratios.append(ordinary_s / short_s)
        short.append(size / 1e6 / short_s)
    return {"size": size, "mb_per_s": statistics.median(short), "ratio": statistics.median(ratios)}


def report(results: dict[str, Any]) -> str:
    size, rounds = results["size"], results["rounds"]
    lines = [
        f"synapse_dp_auth log filter benchmark: {size / 1e6:.1f} MB of each shape, whole text"
        f" scanned (no cut), {rounds} rounds, medians of per-round figures",
        "",
        f"{'shape':46} {'MB/s':>8} {'/ ordinary':>11} {'(range)':>13}",
    ]
    for name, figures in results["scan"].items():
        low, high = figures["ratio_range"]
        lines.append(
            f"{name:46} {figures['mb_per_s']:8.1f} {figures['ratio_to_ordinary']:11.2f}"
            f"   ({low:.2f}-{high:.2f})"
        )
    body = results["largest_body"]
    lines += [
        "",
        f"A body at Synapse's largest request ({body['body_bytes'] / 2**20:.0f} MiB), logged as"
        " synapse.http.servlet logs one that is not JSON:",
        f"  Synapse's formatting alone: {body['formatting_s'] * 1000:.0f} ms; the filter and the"
        f" formatting after it: {body['filter_and_formatting_s'] * 1000:.0f} ms"
        f" ({body['ratio']:.2f}x); line written: {body['written_chars']} characters",
    ]
    lines += ["", "Per line, the lines of every login (medians):"]
    for name, figures in results["per_line"].items():
        lines.append(
            f"  {name}: the filter {figures['filter_us']:.1f} µs; formatting and writing it"
            f" {figures['format_and_write_us']:.1f} µs"
        )
    server = results["server_cpu"]
    if server:
        lines += [
            "",
            f"Synapse's CPU per POST /login of a body not JSON, logged as a line just under the"
            f" cut ({MAX_LINE_LENGTH} characters), without and with the module"
            f" ({results['server_rounds']} rounds of {results['server_requests']} requests each,"
            " interleaved; medians, and of the per-round ratios):",
            f"{'shape':46} {'bytes':>7} {'without':>9} {'with':>9} {'ratio':>6} {'(range)':>13}",
        ]
        for name, figures in server.items():
            low, high = figures["ratio_range"]
            lines.append(
                f"{name:46} {figures['body_bytes']:7} {figures['without_ms']:7.2f}ms"
                f" {figures['with_ms']:7.2f}ms {figures['ratio']:6.2f}   ({low:.2f}-{high:.2f})"
            )
    previous = results["previous_pattern"]
    lines += [
        "",
        f"Before issue 17 ({PREVIOUS_PATTERN.pattern}), on {previous['size'] / 1e6:.1f} MB of"
        f" {SHORT_RUNS}: {previous['mb_per_s']:.1f} MB/s, {previous['ratio']:.3f} of ordinary"
        " lines' throughput with that pattern",
        "",
        f"Python {platform.python_version()} on {platform.machine()}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.logfilter_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--size",
        type=int,
        default=SYNAPSE_MAX_REQUEST_SIZE,
        help="characters of each shape (default: Synapse's MAX_REQUEST_SIZE, %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default %(default)s)")
    parser.add_argument(
        "--server-requests",
        type=int,
        default=20,
        help="requests per measurement of a real Synapse (default %(default)s)",
    )
    parser.add_argument(
        "--server-rounds",
        type=int,
        default=9,
        help="measurements of each server per shape, interleaved; 0 skips (default %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = {
        "size": args.size,
        "rounds": args.rounds,
        "scan": scan_throughput(args.size, args.rounds),
        "largest_body": largest_body(args.rounds),
        "per_line": per_line(args.rounds),
        "server_requests": args.server_requests,
        "server_rounds": args.server_rounds,
        "server_cpu": server_cpu(args.server_requests, args.server_rounds)
        if args.server_rounds
        else {},
        "previous_pattern": previous_pattern(args.size, args.rounds),
        "python": platform.python_version(),
    }
    print(report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
