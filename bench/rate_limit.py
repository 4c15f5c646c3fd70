"""How many users a bridge double-puppets in its first minute: module vs appservice method.

Every shared-secret login is a ``POST /login``, and Synapse limits logins per IP address with
``rc_login.address`` (default: a burst of 5, then one every 333 s). A bridge that double-puppets
many users from one address therefore waits. The appservice method logs nobody in: the bridge
sends the ``as_token`` with ``?user_id=``, which ``rc_login`` does not count.

On one real Synapse process (SQLite, loopback) with Synapse's **default** rate limits, the module
loaded and a double-puppet registration written by ``synapse_dp_auth appservice``'s own code, this
script has a bridge-like client log N users in one after another, trying again after each HTTP 429
(as ``retry_after_ms`` says, but at least every 5 s), and counts the logins done within the window
(60 s by default; measured once, wall-clock). Then it does the same for the appservice method
(``whoami?user_id=`` with the ``as_token`` for each user), and again for logins after raising
``rc_login.address.burst_count`` to N, which is the setting an admin needs to stay on the module.

Run it with ``./tox.sh -e rate_limit`` or ``python -m bench.rate_limit --help`` from the
repository root; it takes about the window plus half a minute.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from synapse_dp_auth.admin.appservice.registration import (
    build_registration,
    registration_yaml,
    write_registration,
)
from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, make_token
from testbed.homeserver import Homeserver, JsonDict

SECRET = "rate-limit benchmark shared secret, 64 characters long, as advised"
OUR_MODULE = "synapse_dp_auth.SharedSecretAuthProvider"
SERVER_NAME = "test.local"
#: A refused login is tried again after at most this many seconds, whatever Synapse asks.
MAX_RETRY_WAIT = 5.0
#: Synapse's default rc_login.address (synapse/config/ratelimiting.py), for the report.
DEFAULT_ADDRESS_LIMIT = {"per_second": 0.003, "burst_count": 5}


def bridge_login(homeserver: Homeserver, user_id: str) -> tuple[int, JsonDict]:
    """The login mautrix-python sends for a double puppet: the token as the password."""
    return homeserver.login(
        {
            "type": LOGIN_TYPE_PASSWORD,
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": make_token(SECRET, user_id),
            "initial_device_display_name": "rate-limit benchmark",
        }
    )


def run_window(
    user_ids: Sequence[str], window: float, attempt: Callable[[str], tuple[int, JsonDict]]
) -> dict[str, Any]:
    """Work through ``user_ids`` in order for ``window`` seconds of wall-clock time, as a bridge
    starting up would, but more insistently: on HTTP 429 it tries the same user again after
    ``retry_after_ms`` or :data:`MAX_RETRY_WAIT` seconds, whichever is sooner, until the window
    is over. Returns how many were done within the window, and when the last one was."""
    start = time.monotonic()
    done_at: list[float] = []
    refusals = 0
    last_wait: float | None = None
    for user_id in user_ids:
        while True:
            status, body = attempt(user_id)
            now = time.monotonic() - start
            if status == 200:
                done_at.append(now)
                break
            if status != 429:
                raise RuntimeError(f"{user_id}: HTTP {status}: {body}")
            refusals += 1
            last_wait = int(body.get("retry_after_ms", 1000)) / 1000
            if now >= window:
                return _summary(user_ids, window, done_at, refusals, last_wait)
            time.sleep(min(last_wait, MAX_RETRY_WAIT, window - now))
        if time.monotonic() - start >= window:
            break
    return _summary(user_ids, window, done_at, refusals, last_wait)


def _summary(
    user_ids: Sequence[str],
    window: float,
    done_at: list[float],
    refusals: int,
    last_wait: float | None,
) -> dict[str, Any]:
    within = [t for t in done_at if t <= window]
    return {
        "users": len(user_ids),
        "done_within_window": len(within),
        "last_done_at_s": round(within[-1], 3) if within else None,
        "http_429": refusals,
        "last_retry_after_s": None if last_wait is None else round(last_wait, 1),
    }


def measure(users: int, window: float) -> dict[str, Any]:
    module = {"module": OUR_MODULE, "config": {"shared_secret": SECRET}}
    with tempfile.TemporaryDirectory(prefix="dp-rate-limit-") as scratch:
        registration = build_registration(SERVER_NAME)
        path = Path(scratch) / "doublepuppet.yaml"
        write_registration(path, registration_yaml(registration, SERVER_NAME))
        as_token = registration["as_token"]
        with Homeserver(
            [module],
            server_name=SERVER_NAME,
            app_service_config_files=[path],
            synapse_rate_limits=True,
        ) as homeserver:
            progress(f"registering {users} users")
            user_ids = [homeserver.register_user(f"user{i:04d}") for i in range(users)]

            progress(f"module, default rc_login: logging {users} users in for {window:g} s")
            default = run_window(user_ids, window, lambda u: bridge_login(homeserver, u))

            progress(f"appservice method: whoami?user_id= for {users} users")
            appservice = run_window(
                user_ids, window, lambda u: homeserver.appservice_whoami(as_token, u)
            )

            raised_limit = rc_login_for(users)
            progress(f"module, rc_login.address {raised_limit}: logging {users} users in again")
            homeserver.restart(extra_config={"rc_login": {"address": raised_limit}})
            raised = run_window(user_ids, window, lambda u: bridge_login(homeserver, u))
    return {
        "users": users,
        "window_s": window,
        "module_default_rc_login": default,
        "appservice_method": appservice,
        "module_raised_rc_login": {**raised, "rc_login_address": raised_limit},
    }


def rc_login_for(users: int) -> dict[str, float | int]:
    """``rc_login.address`` for a bridge that logs ``users`` in at once from one address: a burst
    of all of them, refilled within the hour (never below Synapse's default rate)."""
    per_second = max(DEFAULT_ADDRESS_LIMIT["per_second"], math.ceil(users / 3.6) / 1000)
    return {
        "per_second": per_second,
        "burst_count": max(users, DEFAULT_ADDRESS_LIMIT["burst_count"]),
    }


def report(results: dict[str, Any], command: str) -> str:
    users, window = results["users"], results["window_s"]
    default = results["module_default_rc_login"]
    appservice = results["appservice_method"]
    raised = results["module_raised_rc_login"]
    rows = [
        ("module, Synapse's default rc_login", default),
        (
            f"module, rc_login.address.burst_count {raised['rc_login_address']['burst_count']}",
            raised,
        ),
        ("appservice method (no login)", appservice),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [
        f"Double-puppet sessions a bridge gets in its first {window:g} s, {users} users, one IP"
        f" address (measured: {command})",
        "",
        f"{'method':<{width}}  done in {window:g} s  last done at  HTTP 429",
    ]
    for name, row in rows:
        last = "-" if row["last_done_at_s"] is None else f"{row['last_done_at_s']:.2f} s"
        done = f"{row['done_within_window']} / {row['users']}"
        lines.append(
            f"{name:<{width}}  {done:>{8 + len(f'{window:g}')}}  {last:>12}  {row['http_429']:>8}"
        )
    left = users - default["done_within_window"]
    if left > 0:
        per = 1 / DEFAULT_ADDRESS_LIMIT["per_second"]
        lines += [
            "",
            f"With the default rc_login the other {left} wait one per {per:.0f} s each: about"
            f" {left * per / 3600:.1f} h (Synapse's setting; its last 429 asked to wait"
            f" {default['last_retry_after_s']} s more).",
        ]
    lines += [
        "",
        "rc_login.address for a bridge logging N users in at once from one address"
        " (burst = N, refilled within the hour):",
    ]
    for n in sorted({10, 50, users, 200, 1000}):
        limit = rc_login_for(n)
        lines.append(
            f"  N = {n:>4}: rc_login: {{address: {{per_second: {limit['per_second']:g},"
            f" burst_count: {limit['burst_count']}}}}}"
        )
    return "\n".join(lines) + "\n"


def progress(message: str) -> None:
    print(f"[rate_limit] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rate_limit",
        description="Count the double-puppet sessions a bridge gets in its first minute from one"
        " IP address: shared-secret logins under Synapse's default rc_login vs the appservice"
        " method, on a real Synapse.",
    )
    parser.add_argument("--users", type=int, default=50, help="users to double-puppet (default 50)")
    parser.add_argument(
        "--window", type=float, default=60.0, help="seconds counted, wall-clock (default 60)"
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if args.users < 1 or not 0 < args.window <= 3600:
        parser.error("--users must be at least 1 and --window between 0 and 3600 seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = measure(args.users, args.window)
    command = "python -m bench.rate_limit" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    print(report(results, command.strip()), end="")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
