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

For reference, the pattern the filter used before (``[0-9a-f]{128,}``, tried again from every
digit of a run) on runs one digit short of a token, beside ordinary lines.

Run it with ``./tox.sh -e logfilter_bench`` or ``python -m bench.logfilter_bench --help`` from the
repository root.
"""

from __future__ import annotations

import argparse
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

from synapse_dp_auth.logfilter import RedactingFilter
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
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = {
        "size": args.size,
        "rounds": args.rounds,
        "scan": scan_throughput(args.size, args.rounds),
        "largest_body": largest_body(args.rounds),
        "previous_pattern": previous_pattern(args.size, args.rounds),
        "python": platform.python_version(),
    }
    print(report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
