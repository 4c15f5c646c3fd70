"""User-interactive auth against real Synapse processes, with matrix-js-sdk's InteractiveAuth.

Synapse builds its UIA flows from a ``set`` of login types, so their order follows the string
hashes and changes with ``PYTHONHASHSEED``. A client that takes the first short flow
(matrix-js-sdk's InteractiveAuth without ``supportedStages``, as a plain client creates it) is
stuck whenever ``com.devture.shared_secret_auth`` comes first. With the default config the module
keeps its type out of UIA, so deleting a device with one's own password works under every seed;
with ``allow_ui_auth: true`` (the older module's behaviour) it fails under some.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import delete_device, device_exists, password_login_device, require_js_clients

from synapse_dp_auth.token import make_token
from testbed import compat
from testbed.bridges import JS_DIR, LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET
from testbed.homeserver import Homeserver

P = LOGIN_TYPE_PASSWORD
D = LOGIN_TYPE_SHARED_SECRET
UIA_SCRIPT = JS_DIR / "js_sdk_uia_delete_device.mjs"

#: PYTHONHASHSEED -> the stage Synapse lists first when UIA offers both types. Found by running
#: Synapse under each seed; chosen so that the order is the same on CPython 3.10 (SipHash-2-4)
#: and 3.11+ (SipHash-1-3), two seeds of each kind.
FIRST_STAGE_WHEN_BOTH_OFFERED = {1: D, 5: P, 10: D, 11: P}
SEEDS = tuple(FIRST_STAGE_WHEN_BOTH_OFFERED)


class SeededServer:
    """A real Synapse whose ``PYTHONHASHSEED`` can be changed by restarting it."""

    def __init__(self, allow_ui_auth: bool) -> None:
        self.secret = secrets.token_hex(32)
        self.password = secrets.token_urlsafe(16)
        options = {"allow_ui_auth": True} if allow_ui_auth else {}
        self.seed = SEEDS[0]
        self.homeserver = Homeserver(
            [compat.module_entry(self.secret, options)], env=self._env(self.seed)
        )
        self.homeserver.start()
        self.user_id = self.homeserver.register_user("alice", self.password)
        self.access_token = password_login_device(
            self.homeserver, self.user_id, self.password, "MAIN"
        )
        self._devices = 0

    @staticmethod
    def _env(seed: int) -> dict[str, str]:
        return {"PYTHONHASHSEED": str(seed)}

    def use_seed(self, seed: int) -> None:
        if seed != self.seed:
            self.homeserver.restart(env=self._env(seed))
            self.seed = seed

    def new_device(self) -> str:
        """A fresh device of alice's (logged in with her password), to be deleted."""
        self._devices += 1
        device_id = f"VICTIM{self._devices}"
        password_login_device(self.homeserver, self.user_id, self.password, device_id)
        return device_id

    def close(self) -> None:
        self.homeserver.close()


def seeded_server(allow_ui_auth: bool) -> Iterator[SeededServer]:
    server = SeededServer(allow_ui_auth)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module", autouse=True)
def _js_clients() -> None:
    require_js_clients()


@pytest.fixture(scope="module")
def default_server() -> Iterator[SeededServer]:
    yield from seeded_server(allow_ui_auth=False)


@pytest.fixture(scope="module")
def allow_ui_auth_server() -> Iterator[SeededServer]:
    yield from seeded_server(allow_ui_auth=True)


def js_sdk_delete_device(server: SeededServer, device_id: str) -> dict[str, Any]:
    """Delete ``device_id`` with matrix-js-sdk's InteractiveAuth and alice's own password."""
    node = shutil.which("node")
    assert node is not None  # require_js_clients() has checked
    completed = subprocess.run(  # noqa: S603 - fixed script; arguments are the test's own values
        [
            node,
            str(UIA_SCRIPT),
            server.homeserver.url,
            server.user_id,
            server.access_token,
            device_id,
            server.password,
        ],
        cwd=JS_DIR,
        # The script's own 5 s limit is for people; a loaded CI machine gets more.
        env={**os.environ, "SYNAPSE_DP_AUTH_JS_UIA_TIMEOUT_MS": "30000"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def first_stages(result: dict[str, Any]) -> list[str]:
    return [flow["stages"][0] for flow in result["flows"] or []]


def test_js_sdk_deletes_a_device_with_the_password_under_every_seed(
    default_server: SeededServer,
) -> None:
    observed: dict[int, tuple[bool, list[str], bool]] = {}
    for seed in SEEDS:
        default_server.use_seed(seed)
        device_id = default_server.new_device()
        result = js_sdk_delete_device(default_server, device_id)
        gone = not device_exists(default_server.homeserver, default_server.access_token, device_id)
        observed[seed] = (result["ok"], first_stages(result), gone)
    assert observed == {seed: (True, [P], True) for seed in SEEDS}


def test_js_sdk_is_stuck_under_some_seeds_with_allow_ui_auth(
    allow_ui_auth_server: SeededServer,
) -> None:
    observed: dict[int, tuple[str, bool, str | None, bool]] = {}
    flows: dict[int, list[str]] = {}
    for seed in SEEDS:
        allow_ui_auth_server.use_seed(seed)
        device_id = allow_ui_auth_server.new_device()
        result = js_sdk_delete_device(allow_ui_auth_server, device_id)
        homeserver, token = allow_ui_auth_server.homeserver, allow_ui_auth_server.access_token
        flows[seed] = first_stages(result)
        error = result["error"]["errcode"] if result["error"] else None
        observed[seed] = (
            result["chosen_stage"],
            result["ok"],
            error,
            not device_exists(homeserver, token, device_id),
        )
    # Both types offered, each as a one-stage flow, in the seed's order.
    assert flows == {
        seed: [first, P if first == D else D]
        for seed, first in FIRST_STAGE_WHEN_BOTH_OFFERED.items()
    }
    stuck = (D, False, "UNSUPPORTED_STAGE", False)
    works = (P, True, None, True)
    assert observed == {
        seed: stuck if first == D else works
        for seed, first in FIRST_STAGE_WHEN_BOTH_OFFERED.items()
    }
    failing_seeds = [seed for seed, outcome in observed.items() if outcome == stuck]
    assert failing_seeds == [1, 10]


# -- a shared-secret token as a UIA stage ------------------------------------------------------


def token_auth(server: SeededServer, login_type: str) -> dict[str, Any]:
    field = "token" if login_type == D else "password"
    return {
        "type": login_type,
        "identifier": {"type": "m.id.user", "user": server.user_id},
        field: make_token(server.secret, server.user_id),
    }


@pytest.mark.core
@pytest.mark.parametrize("login_type", [P, D])
def test_token_does_not_confirm_uia_by_default(
    default_server: SeededServer, login_type: str
) -> None:
    device_id = default_server.new_device()
    homeserver, token = default_server.homeserver, default_server.access_token
    status, body = delete_device(
        homeserver, token, device_id, token_auth(default_server, login_type)
    )
    assert status == 401, body
    assert body.get("completed", []) == []
    assert device_exists(homeserver, token, device_id)


@pytest.mark.parametrize("login_type", [P, D])
def test_token_confirms_uia_with_allow_ui_auth(
    allow_ui_auth_server: SeededServer, login_type: str
) -> None:
    device_id = allow_ui_auth_server.new_device()
    homeserver, token = allow_ui_auth_server.homeserver, allow_ui_auth_server.access_token
    status, body = delete_device(
        homeserver, token, device_id, token_auth(allow_ui_auth_server, login_type)
    )
    assert status == 200, body
    assert not device_exists(homeserver, token, device_id)
