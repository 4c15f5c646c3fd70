"""Listing and revoking at scale: 20,000 shared-secret logins on a real Synapse, on SQLite and on
PostgreSQL, all listed and all revoked by the admin command, in time linear in their number.

Twice the 10,000 rows of one page of the module's listing, and ten times the 2,000 logins that
still listed before paging was cut by bytes. The logins are real ones through the module (HTTP,
concurrent clients on keep-alive connections, Synapse's login rate limits lifted as a bridge
deployment's admin would for a bulk test), spread over 200 users. The times are printed (run with
``-s``, or read the summary at the end of the tox run): ``./tox.sh -e scale``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from synapse_dp_auth.admin import cli
from synapse_dp_auth.token import make_token, secret_fingerprint
from testbed.homeserver import Homeserver
from testbed.services import INSTALL_HINT, PostgresServer, missing_services

pytestmark = pytest.mark.scale

OLD = "the leaked secret, at scale: long and random all the same, 64 chars"
NEW = "the secret that stays, at scale: as long and as random as the other"
OLD_FP, NEW_FP = secret_fingerprint(OLD.encode()), secret_fingerprint(NEW.encode())

USERS = 200
#: Logins with the leaked secret (the scale asked for), 100 per user; and with the other one,
#: 100 per user too for a tenth of the users: a revocation ten times smaller, to compare the
#: time per device with.
LEAKED_LOGINS = 20_000
OTHER_LOGINS = 2_000
CLIENTS = 8
#: Whose access tokens are checked before and after (whoami).
SAMPLE = 100

#: What is measured, by database, for the summary at the end of the session.
TIMES: dict[str, dict[str, float]] = {}


def module() -> dict[str, Any]:
    return {
        "module": "synapse_dp_auth.SharedSecretAuthProvider",
        "config": {"shared_secret": [OLD, NEW]},
    }


async def log_in_many(url: str, plan: list[tuple[str, str]]) -> list[str]:
    """Every login of ``plan`` ((user ID, secret) each), ``CLIENTS`` at a time; their access
    tokens, in order. Any refusal fails the test."""
    tokens = [""] * len(plan)
    bodies = {
        (user_id, secret): json.dumps(
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user_id},
                "password": make_token(secret, user_id),
                "initial_device_display_name": "Scale Test Bridge",
            }
        ).encode()
        for user_id, secret in set(plan)
    }
    remaining = iter(range(len(plan)))
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            for index in remaining:
                body = bodies[plan[index]]
                async with session.post(
                    url + "/_matrix/client/v3/login",
                    data=body,
                    headers={"Content-Type": "application/json"},
                ) as response:
                    answer = await response.json()
                    assert response.status == 200, answer
                    tokens[index] = answer["access_token"]

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return tokens


def timed_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[float, str]:
    capsys.readouterr()
    start = time.perf_counter()
    code = cli.main(list(argv))
    elapsed = time.perf_counter() - start
    out, err = capsys.readouterr()
    assert code == 0, err
    return elapsed, out


def list_and_revoke(
    homeserver: Homeserver, label: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = [homeserver.register_user(f"user{number}") for number in range(USERS)]
    # Each user's logins one after the other, so that both revocations delete a user's 100
    # devices in one request (a page of 10,000 rows holds 100 users' whole sets).
    per_user = LEAKED_LOGINS // USERS
    plan = [(users[n // per_user], OLD) for n in range(LEAKED_LOGINS)]
    plan += [(users[n // per_user], NEW) for n in range(OTHER_LOGINS)]
    start = time.perf_counter()
    tokens = asyncio.run(log_in_many(homeserver.url, plan))
    logins_s = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n{label}: {len(plan)} logins in {logins_s:.1f} s", flush=True)
    leaked = random.sample(range(LEAKED_LOGINS), SAMPLE)
    others = random.sample(range(LEAKED_LOGINS, len(plan)), SAMPLE)
    for index in leaked + others:
        assert homeserver.whoami(tokens[index])[0] == 200
    time.sleep(2)  # the records are written once a second

    token_file = tmp_path / "admin-token"
    token_file.write_text(homeserver.admin_token + "\n")
    common = [homeserver.url, "--admin-token-file", str(token_file)]
    list_s, out = timed_cli(capsys, "sessions", "list", *common)
    assert out.splitlines()[-1].startswith(f"{len(plan)} session(s) created by shared-secret")
    list_old_s, out = timed_cli(capsys, "sessions", "list", *common, "--fingerprint", OLD_FP)
    assert out.splitlines()[-1].startswith(f"{LEAKED_LOGINS} session(s) created")

    with capsys.disabled():
        print(f"{label}: listed all in {list_s:.2f} s, by fingerprint {list_old_s:.2f} s")
    revoke_other_s, out = timed_cli(
        capsys, "sessions", "revoke", *common, "--fingerprint", NEW_FP, "--yes"
    )
    assert f"Revoked {OTHER_LOGINS} session(s): deleted the {OTHER_LOGINS} device(s)" in out
    revoke_s, out = timed_cli(
        capsys, "sessions", "revoke", *common, "--fingerprint", OLD_FP, "--yes"
    )
    assert f"Revoked {LEAKED_LOGINS} session(s): deleted the {LEAKED_LOGINS} device(s)" in out
    for index in leaked + others:
        assert homeserver.whoami(tokens[index])[0] == 401
    # Every device the logins made is gone, not only the sample's (the one left to each user
    # is the registration's).
    for user_id in random.sample(users, 10):
        path = f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id)}/devices"
        status, answer = homeserver.get(path, homeserver.admin_token)
        assert status == 200, answer
        names = [device["display_name"] for device in answer["devices"]]
        assert names == [None], answer

    per_device = revoke_s / LEAKED_LOGINS
    per_device_small = revoke_other_s / OTHER_LOGINS
    TIMES[label] = {
        "logins (s)": logins_s,
        "logins/s": len(plan) / logins_s,
        f"list {len(plan):,} (s)": list_s,
        f"list {LEAKED_LOGINS:,} by fingerprint (s)": list_old_s,
        f"revoke {OTHER_LOGINS:,} (s)": revoke_other_s,
        f"revoke {LEAKED_LOGINS:,} (s)": revoke_s,
        f"revoke ms/device at {LEAKED_LOGINS:,} / at {OTHER_LOGINS:,}": (
            per_device / per_device_small
        ),
    }
    with capsys.disabled():
        print(f"{label}: " + ", ".join(f"{key} {value:.2f}" for key, value in TIMES[label].items()))
    # Linear: a device costs about the same in a revocation ten times as large (a page-by-page
    # listing that re-sorted or skipped rows would cost more per device as it grows).
    assert per_device < 2.5 * per_device_small, TIMES[label]


@pytest.fixture(scope="module", autouse=True)
def _print_times() -> Iterator[None]:
    yield
    for label, times in TIMES.items():
        print(f"\nsessions at scale, {label}: {times}")


def test_20000_sessions_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Homeserver([module()], extra_config={"bcrypt_rounds": 4}) as homeserver:
        list_and_revoke(homeserver, "SQLite", tmp_path, capsys)


def test_20000_sessions_on_postgres(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = missing_services()
    if missing:
        pytest.fail(f"{'; '.join(missing)}: {INSTALL_HINT}", pytrace=False)
    with PostgresServer() as postgres:
        database = postgres.synapse_database_config(postgres.create_database())
        config = {"bcrypt_rounds": 4, "database": database}
        with Homeserver([module()], extra_config=config) as homeserver:
            list_and_revoke(
                homeserver, f"PostgreSQL {postgres.version.split()[2]}", tmp_path, capsys
            )
