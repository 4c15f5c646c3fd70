"""How much a shared-secret login costs: this module against the alternatives, in one run.

Over HTTP, on real Synapse processes (SQLite, and PostgreSQL from ``testbed.services``), with
concurrent clients on loopback, it measures logins per second, and the Synapse process's CPU time
per login (what the module costs the server, much less disturbed by other load on the machine), of

* this module (``m.login.password`` with the token, as mautrix-python sends it, and
  ``com.devture.shared_secret_auth``) against native appservice login
  (``m.login.application_service``: the same device and access token creation, no module at all)
  on the same server: the module's whole overhead; and
* the older ``shared-secret-authenticator`` module on an identically configured server.

Methods are interleaved within each round, their order rotated from round to round, so that drift
(caches warming, the database growing, other load on the machine) is shared out evenly; ratios are
taken per round and then summarised. In-process, it times ``verify_token`` against a bare HMAC,
and the cost of turning away an ordinary password.

Run it with ``tox -e bench`` or ``python -m bench.login_bench --help`` from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from synapse_dp_auth.provider import SharedSecretAuthProvider
from synapse_dp_auth.token import make_token, verify_token
from testbed.homeserver import Homeserver, HomeserverError
from testbed.services import PostgresServer

SECRET = "benchmark shared secret, 64 characters long, as the README advises"
AS_TOKEN = "bench-as-token-" + "a" * 32
OLDER_PACKAGE = "shared-secret-authenticator"
OLDER_MODULE = "shared_secret_authenticator.SharedSecretAuthProvider"
OUR_MODULE = "synapse_dp_auth.SharedSecretAuthProvider"
PASSWORD = "m.login.password"
DEVTURE = "com.devture.shared_secret_auth"
APPSERVICE = "m.login.application_service"
LOGIN_PATH = "/_matrix/client/v3/login"
DATABASES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Method:
    """One way of logging in: which server (ours or the older module's) and which login type."""

    key: str
    label: str
    server: str
    login_type: str


METHODS = (
    Method("dp_password", "synapse_dp_auth, m.login.password + token", "ours", PASSWORD),
    Method("dp_devture", "synapse_dp_auth, com.devture.shared_secret_auth", "ours", DEVTURE),
    Method("appservice", "native m.login.application_service", "ours", APPSERVICE),
    Method("older_password", "shared-secret-authenticator, m.login.password", "older", PASSWORD),
    Method("older_devture", "shared-secret-authenticator, com.devture...", "older", DEVTURE),
)


@dataclass(frozen=True)
class Comparison:
    numerator: str
    denominator: str
    target: float
    what: str


COMPARISONS = (
    Comparison("dp_password", "appservice", 0.95, "dp_auth password / appservice"),
    Comparison("dp_devture", "appservice", 0.95, "dp_auth devture / appservice"),
    Comparison("dp_password", "older_password", 1.0, "dp_auth password / older password"),
    Comparison("dp_devture", "older_devture", 1.0, "dp_auth devture / older devture"),
)


class BenchError(RuntimeError):
    """The benchmark could not measure what it claims to (a login failed, a package is missing)."""


# -- the servers -----------------------------------------------------------------------------------


def appservice_registration(server_name: str) -> dict[str, Any]:
    """A bridge-like appservice owning ``@bench_as_*``, for native appservice login."""
    return {
        "id": "bench-appservice",
        "url": None,
        "as_token": AS_TOKEN,
        "hs_token": "bench-hs-token-" + "b" * 32,
        "sender_localpart": "bench_as_bot",
        "namespaces": {
            "users": [{"exclusive": True, "regex": f"@bench_as_.*:{server_name}"}],
            "aliases": [],
            "rooms": [],
        },
    }


@dataclass
class BenchServer:
    """A running server and, per method it serves, the login requests its clients send."""

    homeserver: Homeserver
    requests: dict[str, list[tuple[bytes, dict[str, str]]]] = field(default_factory=dict)


def start_servers(
    stack: contextlib.ExitStack, database: str, with_older: bool, workdir: Path
) -> dict[str, BenchServer]:
    """Our server (module + appservice) and, identically configured, the older module's."""
    registration = workdir / "appservice.yaml"
    registration.write_text(json.dumps(appservice_registration("test.local")), encoding="utf-8")
    postgres = stack.enter_context(PostgresServer()) if database == "postgresql" else None
    modules = {
        "ours": {"module": OUR_MODULE, "config": {"shared_secret": SECRET}},
        "older": {
            "module": OLDER_MODULE,
            "config": {"shared_secret": SECRET, "m_login_password_support_enabled": True},
        },
    }
    servers = {}
    for name in ("ours", "older") if with_older else ("ours",):
        extra: dict[str, Any] = {"app_service_config_files": [str(registration)]}
        if postgres is not None:
            extra["database"] = postgres.synapse_database_config(postgres.create_database())
        homeserver = stack.enter_context(Homeserver([modules[name]], extra_config=extra))
        servers[name] = BenchServer(homeserver)
    return servers


def prepare_logins(
    servers: dict[str, BenchServer], methods: Sequence[Method], clients: int
) -> None:
    """Register ``clients`` users per method and build each one's login request once."""
    for method in methods:
        server = servers[method.server]
        homeserver = server.homeserver
        requests = []
        for index in range(clients):
            if method.login_type == APPSERVICE:
                localpart = f"bench_as_{index}"
                status, body = homeserver.post(
                    "/_matrix/client/v3/register",
                    {"type": APPSERVICE, "username": localpart, "inhibit_login": True},
                    AS_TOKEN,
                )
                if status != 200:
                    raise HomeserverError("registering an appservice user", status, body)
                user_id = str(body["user_id"])
                headers = {"Authorization": f"Bearer {AS_TOKEN}"}
                login: dict[str, Any] = {"type": APPSERVICE}
            else:
                user_id = homeserver.register_user(f"bench_{method.key}_{index}")
                headers = {}
                token_field = "token" if method.login_type == DEVTURE else "password"
                login = {"type": method.login_type, token_field: make_token(SECRET, user_id)}
            login["identifier"] = {"type": "m.id.user", "user": user_id}
            login["initial_device_display_name"] = "Bench Bridge"
            headers["Content-Type"] = "application/json"
            requests.append((json.dumps(login).encode("utf-8"), headers))
        server.requests[method.key] = requests


# -- the load --------------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """CPU time all threads of the process ``pid`` have used so far (SQLite work runs in threads).

    From each thread's ``schedstat`` (nanoseconds); ``stat``'s clock ticks (10 ms) would be too
    coarse for a block of logins.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that just ended
            total += int((task / "schedstat").read_text(encoding="ascii").split()[0])
    return total / 1e9


async def timed_logins(
    url: str,
    requests: Sequence[tuple[bytes, dict[str, str]]],
    logins: int,
    clients: int,
    server_pid: int,
) -> tuple[float, float]:
    """Wall seconds ``clients`` concurrent clients take for ``logins`` logins (keep-alive,
    round-robin over the users), and the CPU seconds the server process spent meanwhile.

    Connections are opened before the clock starts; every login must succeed.
    """
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def warm() -> None:
            async with session.get(url + "/health") as response:
                await response.read()

        await asyncio.gather(*(warm() for _ in range(clients)))
        remaining = iter(range(logins))

        async def client() -> None:
            for index in remaining:
                body, headers = requests[index % len(requests)]
                async with session.post(url + LOGIN_PATH, data=body, headers=headers) as response:
                    answer = await response.read()
                    if response.status != 200:
                        raise BenchError(f"a login failed with HTTP {response.status}: {answer!r}")

        cpu_start, start = process_cpu_seconds(server_pid), time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - start
        return wall, process_cpu_seconds(server_pid) - cpu_start


#: What is measured per method and round: logins per wall-clock second, and logins per CPU second
#: of the Synapse process. The second is what the module costs, nearly untouched by other load on
#: the machine; the first is what a bridge sees.
METRICS = ("throughput", "efficiency")


def measure_database(
    database: str, methods: Sequence[Method], args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """For each of :data:`METRICS`, each method's value per round.

    A round is ``args.logins`` logins per method, run in ``args.blocks`` blocks; block by block,
    every method takes its turn (A B C A B C ...), in an order rotated from round to round.
    """
    results: dict[str, dict[str, list[float]]] = {
        metric: {method.key: [] for method in methods} for metric in METRICS
    }
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="login-bench-")))
        started = time.monotonic()
        servers = start_servers(stack, database, args.with_older, workdir)
        prepare_logins(servers, methods, args.clients)
        progress(
            f"{database}: servers up and users registered in {time.monotonic() - started:.1f} s"
        )

        def run(method: Method, logins: int) -> tuple[float, float]:
            server = servers[method.server]
            pid = server.homeserver.pid
            assert pid is not None
            requests = server.requests[method.key]
            url = server.homeserver.url
            return asyncio.run(timed_logins(url, requests, logins, args.clients, pid))

        for method in methods:  # warm-up: caches, connection pools, code paths; not counted
            run(method, args.clients * 4)
        block_sizes = [len(part) for part in _split(range(args.logins), args.blocks)]
        for round_index in range(args.rounds):
            shift = round_index % len(methods)
            order = [*methods[shift:], *methods[:shift]]
            wall = {method.key: 0.0 for method in methods}
            cpu = {method.key: 0.0 for method in methods}
            for block_size in block_sizes:
                for method in order:
                    block_wall, block_cpu = run(method, block_size)
                    wall[method.key] += block_wall
                    cpu[method.key] += block_cpu
            for method in methods:
                results["throughput"][method.key].append(args.logins / wall[method.key])
                results["efficiency"][method.key].append(args.logins / cpu[method.key])
            progress(
                f"{database}: round {round_index + 1}/{args.rounds}: "
                + ", ".join(
                    f"{m.key} {results['throughput'][m.key][-1]:.0f}/s"
                    f" {1000 / results['efficiency'][m.key][-1]:.2f} ms CPU"
                    for m in methods
                )
            )
    return results


def _split(items: Sequence[int], parts: int) -> list[Sequence[int]]:
    """``items`` in ``parts`` nearly equal consecutive slices (none empty)."""
    parts = min(parts, len(items))
    size, extra = divmod(len(items), parts)
    bounds = [i * size + min(i, extra) for i in range(parts + 1)]
    return [items[bounds[i] : bounds[i + 1]] for i in range(parts)]


# -- in-process ------------------------------------------------------------------------------------


def measure_in_process(repeats: int, calls: int) -> dict[str, list[float]]:
    """Nanoseconds per call, one value per repeat, the methods interleaved within each repeat."""
    secret = SECRET.encode("utf-8")
    user_id = "@alice:example.org"
    token = make_token(SECRET, user_id)
    secret_list = [secret]

    def bare_hmac() -> bool:
        digest = hmac.new(secret, user_id.encode("utf-8"), hashlib.sha512).hexdigest()
        return hmac.compare_digest(digest, token)

    def our_verify() -> bool:
        return verify_token(secret_list, user_id, token)

    # The ordinary-password path must not touch the provider's state (no HMAC, no database, no
    # log line): an instance that Synapse never initialised proves it, and fails loudly if not.
    provider = SharedSecretAuthProvider.__new__(SharedSecretAuthProvider)
    ordinary = {"password": "an ordinary password of a human user"}

    def turn_away() -> None:
        coroutine = provider.check_password_login("alice", PASSWORD, ordinary)
        try:
            coroutine.send(None)
        except StopIteration as done:
            if done.value is not None:
                raise BenchError("an ordinary password was not turned away") from None
        else:
            raise BenchError("turning an ordinary password away awaited something")

    async def nothing() -> None:
        return None

    def empty_coroutine() -> None:  # the same driving code, around a coroutine doing nothing
        coroutine = nothing()
        try:
            coroutine.send(None)
        except StopIteration as done:
            if done.value is not None:
                raise BenchError("unreachable") from None

    if not (bare_hmac() and our_verify()):
        raise BenchError("the token under test does not verify")
    functions: dict[str, Callable[[], object]] = {
        "bare_hmac": bare_hmac,
        "verify_token": our_verify,
        "turn_away_password": turn_away,
        "empty_coroutine": empty_coroutine,
    }
    results: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            seconds = timeit.Timer(function).timeit(number=calls)
            results[name].append(seconds / calls * 1e9)
    return results


# -- reporting -------------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def spread(values: Sequence[float]) -> dict[str, float]:
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "q1": quartiles[0],
        "q3": quartiles[2],
    }


def version_of(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "os": platform.platform(),
        "python": platform.python_version(),
        "synapse": version_of("matrix-synapse"),
        "synapse_dp_auth": version_of("synapse_dp_auth"),
        OLDER_PACKAGE: version_of(OLDER_PACKAGE),
        "postgresql": PostgresServer().version,
        "loadavg": _loadavg(),
    }


def _loadavg() -> str:
    """Other work on the machine skews every figure here: the report says how much there was."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def paired_ratios(results: dict[str, list[float]], comparison: Comparison) -> list[float]:
    numerators, denominators = results[comparison.numerator], results[comparison.denominator]
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def report(
    info: dict[str, Any],
    args: argparse.Namespace,
    methods: Sequence[Method],
    http: dict[str, dict[str, dict[str, list[float]]]],
    in_process: dict[str, list[float]],
) -> dict[str, Any]:
    """Print the report and return it as data (for ``--json``)."""
    summary: dict[str, Any] = {"machine": info, "parameters": dict(vars(args)), "http": {}}
    print("synapse_dp_auth login benchmark")
    print(
        f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable),"
        f" {info['os']}"
    )
    print(
        f"software: Python {info['python']}, Synapse {info['synapse']}, synapse_dp_auth"
        f" {info['synapse_dp_auth']}, {OLDER_PACKAGE} {info[OLDER_PACKAGE]},"
        f" {info['postgresql']}"
    )
    print(
        f"load: {args.clients} concurrent clients (asyncio + aiohttp, keep-alive) on 127.0.0.1,"
        f" {args.logins} logins per method per round, {args.rounds} rounds after a warm-up;"
        f" methods take turns in {args.blocks} blocks per round, order rotated each round;"
        " each login makes a new device (none deleted); PostgreSQL without fsync,"
        " SQLite on disk"
    )
    print(f"load average before / after: {info['loadavg']} / {_loadavg()}")
    for database, results in http.items():
        throughput, efficiency = results["throughput"], results["efficiency"]
        print(
            f"\n{database}: per method, median [min - max] over rounds; logins/s with its IQR;"
            " Synapse CPU ms per login"
        )
        db_summary: dict[str, Any] = {metric: {} for metric in METRICS}
        db_summary["ratios"] = {}
        for method in methods:
            s = spread(throughput[method.key])
            c = spread([1000 / value for value in efficiency[method.key]])
            for metric in METRICS:
                values = results[metric][method.key]
                db_summary[metric][method.key] = {**spread(values), "per_round": values}
            print(
                f"  {method.label:<50} {s['median']:6.1f}/s [{s['min']:5.1f} - {s['max']:5.1f}]"
                f" ({s['q1']:.1f} - {s['q3']:.1f})   {c['median']:.2f} ms"
                f" [{c['min']:.2f} - {c['max']:.2f}]"
            )
        print(
            "  ratios, per round paired, median [min - max]:  throughput"
            "            CPU efficiency     target"
        )
        for comparison in COMPARISONS:
            if comparison.denominator not in throughput or comparison.numerator not in throughput:
                continue
            cells = []
            for metric in METRICS:
                ratios = paired_ratios(results[metric], comparison)
                s = spread(ratios)
                met = s["median"] >= comparison.target
                db_summary["ratios"].setdefault(metric, {})[
                    f"{comparison.numerator}/{comparison.denominator}"
                ] = {**s, "per_round": ratios, "target": comparison.target, "met": met}
                cells.append(
                    f"{s['median']:.3f} [{s['min']:.3f} - {s['max']:.3f}] {verdict(met):<7}"
                )
            print(f"  {comparison.what:<34} {cells[0]}  {cells[1]}  >= {comparison.target:.2f}")
        summary["http"][database] = db_summary

    print(f"\nin-process: ns per call, median [min - max] over {args.micro_repeats} repeats")
    micro = {name: spread(values) for name, values in in_process.items()}
    labels = {
        "bare_hmac": "bare hmac.new(...).hexdigest() + compare_digest",
        "verify_token": "synapse_dp_auth.token.verify_token",
        "turn_away_password": "check_password_login(ordinary password) -> None",
        "empty_coroutine": "  (of which: create and run an empty coroutine)",
    }
    for name, s in micro.items():
        print(f"  {labels[name]:<50} {s['median']:7.0f} [{s['min']:.0f} - {s['max']:.0f}]")
    ratio = spread(
        [v / b for v, b in zip(in_process["verify_token"], in_process["bare_hmac"], strict=True)]
    )
    turn_away = micro["turn_away_password"]["median"]
    print(
        f"  verify_token / bare HMAC: {ratio['median']:.2f} [{ratio['min']:.2f} -"
        f" {ratio['max']:.2f}]   <= 1.50  {verdict(ratio['median'] <= 1.5)}"
    )
    print(
        f"  turning away an ordinary password: {turn_away / 1000:.2f} us"
        f"   < 1 us  {verdict(turn_away < 1000)}"
    )
    summary["in_process"] = {
        "ns_per_call": {name: {**s, "per_repeat": in_process[name]} for name, s in micro.items()},
        "verify_token/bare_hmac": {**ratio, "target": 1.5, "met": ratio["median"] <= 1.5},
        "turn_away_password_met": turn_away < 1000,
    }
    return summary


# -- command line ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.login_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=9, help="measured rounds (default 9)")
    parser.add_argument(
        "--logins", type=int, default=200, help="logins per method per round (default 200)"
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--blocks",
        type=int,
        default=4,
        help="blocks per round: the methods take turns block by block (default 4)",
    )
    parser.add_argument(
        "--databases",
        default=",".join(DATABASES),
        help="comma-separated, from: sqlite, postgresql (default both)",
    )
    parser.add_argument(
        "--without-older",
        dest="with_older",
        action="store_false",
        help=f"skip the comparison with {OLDER_PACKAGE} (when it is not installed)",
    )
    parser.add_argument(
        "--micro-repeats", type=int, default=7, help="in-process repeats (default 7)"
    )
    parser.add_argument(
        "--micro-calls", type=int, default=100_000, help="in-process calls per repeat"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(args.databases) - set(DATABASES)
    if unknown or not args.databases:
        parser.error(f"--databases: choose from {', '.join(DATABASES)}")
    counts = (args.rounds, args.logins, args.clients, args.blocks)
    if min(*counts, args.micro_repeats, args.micro_calls) < 1:
        parser.error("--rounds, --logins, --clients, --blocks, --micro-* must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.with_older and importlib.util.find_spec("shared_secret_authenticator") is None:
        raise SystemExit(
            f"{OLDER_PACKAGE} is not installed here: `pip install {OLDER_PACKAGE}==2.0.1` (tox -e"
            " bench does), or pass --without-older"
        )
    methods = [m for m in METHODS if args.with_older or m.server != "older"]
    info = machine()
    started = time.monotonic()
    in_process = measure_in_process(args.micro_repeats, args.micro_calls)
    http = {database: measure_database(database, methods, args) for database in args.databases}
    summary = report(info, args, methods, http, in_process)
    elapsed = time.monotonic() - started
    summary["wall_seconds"] = elapsed
    print(f"\nwall time {elapsed:.0f} s; produced by: python -m bench.login_bench {_argv(argv)}")
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return 0


def _argv(argv: Sequence[str] | None) -> str:
    return " ".join(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
