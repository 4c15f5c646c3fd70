"""After a leak: find and end the sessions one secret created, on real Synapse processes.

Bridges log in with two secrets; the admin rotates one out (restart with only the other). Its
sessions live on (Synapse keeps access tokens; the module only refuses new logins). The admin
lists them by the old secret's fingerprint, revokes them, and their access tokens are dead while
the other secret's sessions live. On SQLite with one process, and on PostgreSQL with a
``generic_worker`` handling the logins (the records are written by the worker, read by main).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import password_login_device, worker_deployment

from synapse_dp_auth.admin import cli
from synapse_dp_auth.login_records import ADMIN_PATH as PATH
from synapse_dp_auth.token import make_token, secret_fingerprint
from testbed.homeserver import ClientListener, Homeserver, JsonDict
from testbed.workers import WorkerDeployment

OLD = "the old secret, which may have leaked: long and random all the same"
NEW = "the new secret, which stays: just as long and just as random as the old"
OLD_FP, NEW_FP = secret_fingerprint(OLD.encode()), secret_fingerprint(NEW.encode())


def module(*secrets: str) -> dict[str, Any]:
    return {
        "module": "synapse_dp_auth.SharedSecretAuthProvider",
        "config": {"shared_secret": list(secrets)},
    }


def token_login(
    endpoint: ClientListener,
    user_id: str,
    secret: str,
    login_type: str,
    device_id: str | None = None,
) -> JsonDict:
    field = "token" if login_type == "com.devture.shared_secret_auth" else "password"
    body: JsonDict = {
        "type": login_type,
        "identifier": {"type": "m.id.user", "user": user_id},
        field: make_token(secret, user_id),
    }
    if device_id is not None:
        body["device_id"] = device_id
    status, answer = endpoint.login(body)
    assert status == 200, answer
    return answer


def list_sessions(main: Homeserver, access_token: str, **query: str) -> tuple[int, JsonDict]:
    return main.get(f"{PATH}?{urllib.parse.urlencode(query)}", access_token)


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin command takes proxies from the environment, as curl does; not for loopback."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The admin command, in-process (stdout only; errors fail the test with stderr)."""
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return code, out


def upload_device_keys(
    homeserver: Homeserver, access_token: str, user_id: str, device: str
) -> None:
    """What a client with encryption does first: its device's identity keys."""
    keys = {
        "user_id": user_id,
        "device_id": device,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {f"curve25519:{device}": "A" * 43, f"ed25519:{device}": "B" * 43},
        "signatures": {user_id: {f"ed25519:{device}": "C" * 86}},
    }
    status, body = homeserver.post(
        "/_matrix/client/v3/keys/upload", {"device_keys": keys}, access_token
    )
    assert status == 200, body


def rotate_and_revoke(
    main: Homeserver,
    login_via: ClientListener,
    restart: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The whole story; ``restart(modules)`` restarts the deployment with new config."""
    alice = main.register_user("alice")
    bob = main.register_user("bob", password="bob's own password")
    root = main.whoami(main.admin_token)[1]["user_id"]
    # Bob's phone, with its encryption keys; a login with the old secret names it.
    phone = password_login_device(main, bob, "bob's own password", "PHONE")
    upload_device_keys(main, phone, bob, "PHONE")
    old_sessions = [
        token_login(login_via, alice, OLD, "com.devture.shared_secret_auth"),
        token_login(login_via, bob, OLD, "m.login.password"),
        token_login(login_via, root, OLD, "m.login.password"),
    ]
    on_phone = token_login(login_via, bob, OLD, "m.login.password", device_id="PHONE")
    kept = token_login(login_via, alice, NEW, "m.login.password")

    restart([module(NEW)])
    # Rotation alone: the old secret logs in no more, but what it created still works.
    status, _ = login_via.login(
        {"type": "m.login.password", "user": alice, "password": make_token(OLD, alice)}
    )
    assert status == 403
    for login in [*old_sessions, on_phone, kept]:
        assert main.whoami(login["access_token"])[0] == 200

    status, listing = list_sessions(main, main.admin_token, fingerprint=OLD_FP)
    assert status == 200, listing
    assert listing["configured_fingerprints"] == [NEW_FP]
    assert sorted(
        (s["user_id"], s["device_id"], s["created_device"]) for s in listing["sessions"]
    ) == sorted(
        [(login["user_id"], login["device_id"], True) for login in old_sessions]
        + [(bob, "PHONE", False)]
    )
    assert {s["secret_fingerprint"] for s in listing["sessions"]} == {OLD_FP}
    assert {s["login_type"] for s in listing["sessions"]} == {
        "com.devture.shared_secret_auth",
        "m.login.password",
    }
    # Filters: by user, and by time (nothing after now).
    status, alices = list_sessions(main, main.admin_token, user_id=alice)
    assert {s["device_id"] for s in alices["sessions"]} == {
        old_sessions[0]["device_id"],
        kept["device_id"],
    }
    latest = max(s["logged_in_ts"] for s in listing["sessions"] + alices["sessions"])
    status, later = list_sessions(main, main.admin_token, since_ts=str(latest + 1))
    assert later["sessions"] == []

    # The admin command: list, dry run, revoke.
    token_file = tmp_path / "admin-token"
    token_file.write_text(main.admin_token + "\n")
    command = ["sessions", "--admin-token-file", str(token_file), "--fingerprint", OLD_FP]
    _, out = run_cli(capsys, command[0], "list", main.url, *command[1:])
    *table, summary = out.splitlines()
    assert summary == (
        "4 session(s) created by shared-secret logins"
        f" (fingerprints of the secrets configured now: {NEW_FP})"
    )
    assert table[0].split() == [
        "LOGGED",
        "IN",
        "(UTC)",
        "USER",
        "DEVICE",
        "NEW",
        "DEVICE",
        "LOGIN",
        "TYPE",
        "SECRET",
    ]
    rows = sorted(line.split()[2:7] for line in table[1:])
    assert rows == sorted(
        [
            [login["user_id"], login["device_id"], "yes", login_type, OLD_FP]
            for login, login_type in zip(
                old_sessions,
                ["com.devture.shared_secret_auth", "m.login.password", "m.login.password"],
                strict=True,
            )
        ]
        + [[bob, "PHONE", "no", "m.login.password", OLD_FP]]
    )
    assert all(line.endswith(f"{OLD_FP} (no longer configured)") for line in table[1:])

    _, out = run_cli(capsys, command[0], "revoke", main.url, *command[1:])
    assert "Dry run: would delete 3 device(s) that 3 shared-secret login(s) created" in out
    assert f"Warning: 1 of these users are server admins ({root})" in out
    (described,) = [line for line in out.splitlines() if line.startswith("Device PHONE")]
    assert described.startswith(f'Device PHONE of {bob} (named "PHONE"') or described.startswith(
        f"Device PHONE of {bob} (no name"
    )
    assert "the login reused this device, which existed before it" in described
    assert "it has end-to-end encryption keys: deleting it destroys them" in described
    for login in [*old_sessions, on_phone, kept]:
        assert main.whoami(login["access_token"])[0] == 200

    _, out = run_cli(capsys, command[0], "revoke", main.url, *command[1:], "--yes")
    assert "Revoked 3 session(s): deleted the 3 device(s) the logins created." in out
    assert "to delete them too, add --include-reused-devices" in out
    for login in old_sessions:
        assert main.whoami(login["access_token"])[0] == 401
    # Bob's phone lives on (the old secret's session on it too: it is the same device).
    assert main.whoami(phone)[0] == 200
    assert main.whoami(kept["access_token"])[0] == 200
    # Again: the devices are gone already, and nothing else is touched.
    _, out = run_cli(capsys, command[0], "revoke", main.url, *command[1:], "--yes")
    assert "Revoked 3 session(s)" in out
    assert main.whoami(kept["access_token"])[0] == 200
    assert main.whoami(phone)[0] == 200
    # The admin decides the phone goes too.
    reused = "--include-reused-devices"
    _, out = run_cli(capsys, command[0], "revoke", main.url, *command[1:], "--yes", reused)
    assert "they are deleted too (--include-reused-devices)" in out
    assert main.whoami(phone)[0] == 401
    assert main.whoami(on_phone["access_token"])[0] == 401
    assert main.whoami(kept["access_token"])[0] == 200


def test_listing_is_for_server_admins_only(tmp_path: Path) -> None:
    as_token = "as-token-of-a-double-puppet-appservice"
    registration = {
        "id": "doublepuppet",
        "url": None,
        "as_token": as_token,
        "hs_token": "hs-token-of-a-double-puppet-appservice",
        "sender_localpart": "doublepuppet_bot",
        "rate_limited": False,
        "namespaces": {"users": [{"regex": "@.*:test\\.local", "exclusive": False}]},
    }
    path = tmp_path / "doublepuppet.yaml"
    path.write_text(json.dumps(registration), encoding="utf-8")
    with Homeserver([module(NEW)], app_service_config_files=[path]) as main:
        user_id = main.register_user("carol")
        login = token_login(main, user_id, NEW, "m.login.password")
        status, body = list_sessions(main, login["access_token"])
        assert (status, body.get("errcode")) == (403, "M_FORBIDDEN"), body
        status, body = main.get(PATH)
        assert status == 401, body
        status, body = list_sessions(main, main.admin_token, since_ts="yesterday")
        assert (status, body.get("errcode")) == (400, "M_INVALID_PARAM"), body
        for value in ("9" * 5000, "1_" + "9" * 5000):
            for name in ("since_ts", "from"):
                status, body = list_sessions(main, main.admin_token, **{name: value})
                assert (status, body.get("errcode")) == (400, "M_INVALID_PARAM"), body
        status, body = list_sessions(main, main.admin_token)
        assert status == 200, body
        assert [s["user_id"] for s in body["sessions"]] == [user_id]
        # An appservice whose namespace holds the admin may act as the admin elsewhere; not
        # here (its token with ?user_id= of the admin, and without).
        admin = main.whoami(main.admin_token)[1]["user_id"]
        assert main.appservice_whoami(as_token, admin)[0] == 200
        for query in ({"user_id": admin}, {}):
            status, body = list_sessions(main, as_token, **query)
            assert (status, body.get("errcode")) == (403, "M_FORBIDDEN"), body
            assert "Application services cannot list" in body["error"]


def test_rotate_list_revoke_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Homeserver([module(OLD, NEW)]) as main:
        rotate_and_revoke(
            main, main, lambda modules: main.restart(modules=modules), tmp_path, capsys
        )


@pytest.fixture
def deployment() -> Iterator[WorkerDeployment]:
    with worker_deployment([module(OLD, NEW)]) as running:
        yield running


def test_rotate_list_revoke_on_postgres_with_a_worker(
    deployment: WorkerDeployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rotate_and_revoke(
        deployment.main,
        deployment.worker,
        lambda modules: deployment.restart(modules=modules),
        tmp_path,
        capsys,
    )
    # The worker recorded the logins (the module there accepted them, and told new devices
    # from the reused one).
    worker_log = deployment.worker.log_text()
    assert "accepted (m.login.password) on new device" in worker_log
    assert "accepted (m.login.password) on existing device PHONE" in worker_log


def test_records_are_written_when_synapse_stops_right_after_the_logins() -> None:
    """Records are queued and written once a second; a clean stop writes the queue first.

    Each stop follows its login within about 0.1 s, so the periodic write would catch only about
    one in ten of them: a broken write at shutdown fails this almost surely.
    """
    with Homeserver([module(NEW)]) as main:
        for number in range(3):
            token_login(main, main.register_user(f"user{number}"), NEW, "m.login.password")
            main.stop()
            main.start()
            status, listing = list_sessions(main, main.admin_token)
            assert status == 200, listing
            assert len(listing["sessions"]) == number + 1
