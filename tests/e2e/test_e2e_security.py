"""What the secret grants, observed on a real Synapse: the claims of the README's Security section.

A token login creates an ordinary, full session of the user: everything that user can do without
re-entering a password. These tests pin down what that means (the module cannot change it; the
README says so) and the one mitigation that is the module's own (``allow_admins: false``).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from synapse_dp_auth.token import make_token
from testbed.homeserver import Homeserver, JsonDict

SECRET = "security section secret: long and random enough for a real deployment"
MODULE = "synapse_dp_auth.SharedSecretAuthProvider"


def module(**options: Any) -> dict[str, Any]:
    return {"module": MODULE, "config": {"shared_secret": SECRET, **options}}


def token_login(homeserver: Homeserver, user_id: str) -> tuple[int, JsonDict]:
    return homeserver.login(
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": make_token(SECRET, user_id),
        }
    )


def test_a_token_session_logs_out_every_device_without_ui_auth() -> None:
    with Homeserver([module()]) as homeserver:
        alice = homeserver.register_user("alice", password="alice's own password")
        status, own = homeserver.password_login(alice, "alice's own password")
        assert status == 200, own
        status, bridge = token_login(homeserver, alice)
        assert status == 200, bridge

        status, answer = homeserver.post(
            "/_matrix/client/v3/logout/all", {}, bridge["access_token"]
        )
        assert status == 200, answer
        assert homeserver.whoami(own["access_token"])[0] == 401


def test_an_admin_token_session_has_the_admin_api_unless_allow_admins_is_false() -> None:
    with Homeserver([module()]) as homeserver:
        admin = homeserver.register_user("boss", admin=True)
        bob = homeserver.register_user("bob", password="bob's password")
        status, login = token_login(homeserver, admin)
        assert status == 200, login
        path = f"/_synapse/admin/v1/reset_password/{urllib.parse.quote(bob, safe='')}"
        status, answer = homeserver.post(
            path, {"new_password": "taken over", "logout_devices": False}, login["access_token"]
        )
        assert status == 200, answer
        assert homeserver.password_login(bob, "taken over")[0] == 200

        homeserver.restart(modules=[module(allow_admins=False)])
        status, answer = token_login(homeserver, admin)
        assert status == 403, answer


def test_login_via_existing_session_without_ui_auth_skips_the_grace_protection() -> None:
    """Synapse's ``login_via_existing_session`` with ``require_ui_auth: false``: the gap.

    The token login's own access token gets no UIA grace (the module sees to that), but it can
    mint a login token, and the access token that login token gives is freshly validated in
    Synapse's eyes: it deletes another device with no auth. That session is not a shared-secret
    login, so revoking the token login's device leaves it alive.
    """
    extra = {
        "login_via_existing_session": {"enabled": True, "require_ui_auth": False},
        "ui_auth": {"session_timeout": "5m"},
    }
    with Homeserver([module()], extra_config=extra) as homeserver:
        alice = homeserver.register_user("alice", password="alice's own password")
        status, own = homeserver.password_login(alice, "alice's own password")
        assert status == 200, own
        status, bridge = token_login(homeserver, alice)
        assert status == 200, bridge
        victim = f"/_matrix/client/v3/devices/{urllib.parse.quote(own['device_id'], safe='')}"
        # The module's protection: the token login itself must go through UIA.
        assert homeserver.delete(victim, bridge["access_token"])[0] == 401

        status, minted = homeserver.post(
            "/_matrix/client/v1/login/get_token", {}, bridge["access_token"]
        )
        assert status == 200, minted
        status, second = homeserver.login({"type": "m.login.token", "token": minted["login_token"]})
        assert status == 200, second
        status, answer = homeserver.delete(victim, second["access_token"])
        assert status == 200, answer
        assert homeserver.whoami(own["access_token"])[0] == 401

        # Revoking the token login's device (what `sessions revoke` does) leaves the minted one.
        path = f"/_synapse/admin/v2/users/{urllib.parse.quote(alice, safe='')}/delete_devices"
        status, answer = homeserver.post(
            path, {"devices": [bridge["device_id"]]}, homeserver.admin_token
        )
        assert status == 200, answer
        assert homeserver.whoami(bridge["access_token"])[0] == 401
        assert homeserver.whoami(second["access_token"])[0] == 200
