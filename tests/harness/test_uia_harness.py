"""User-interactive auth (UIA): tokens only log in; UIA stays what it is without the module."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from constants import DEVTURE, PASSWORD, SECRET
from harness_support import USER_PASSWORD, ModuleTestCase

from tests import unittest

# Run on every Synapse release of the version matrix (tox envs synapse-<release>).
pytestmark = pytest.mark.core


class UiaTestCase(ModuleTestCase):
    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.access_token = self.login(self.alice, USER_PASSWORD, device_id="MAIN")
        self.login(self.alice, USER_PASSWORD, device_id="VICTIM")

    def delete_device(self, auth: dict[str, Any] | None) -> Any:
        """``DELETE /devices/VICTIM`` with ``auth`` in a fresh UIA session."""
        first = self.make_request(
            "DELETE", "/_matrix/client/v3/devices/VICTIM", {}, access_token=self.access_token
        )
        self.assertEqual(first.code, 401, first.json_body)
        if auth is None:
            return first
        auth = {"session": first.json_body["session"], **auth}
        return self.make_request(
            "DELETE",
            "/_matrix/client/v3/devices/VICTIM",
            {"auth": auth},
            access_token=self.access_token,
        )

    def offered_stages(self) -> set[str]:
        flows = self.delete_device(None).json_body["flows"]
        return {stage for flow in flows for stage in flow["stages"]}

    def change_password(self, auth: dict[str, Any]) -> Any:
        first = self.make_request(
            "POST",
            "/_matrix/client/v3/account/password",
            {"new_password": "taken over"},
            access_token=self.access_token,
        )
        self.assertEqual(first.code, 401, first.json_body)
        body = {
            "new_password": "taken over",
            "auth": {"session": first.json_body["session"], **auth},
        }
        return self.make_request(
            "POST", "/_matrix/client/v3/account/password", body, access_token=self.access_token
        )

    def identified(self, login_type: str, field: str, value: str) -> dict[str, Any]:
        return {
            "type": login_type,
            "identifier": {"type": "m.id.user", "user": self.alice},
            field: value,
        }


class DefaultRefusesUiaTests(UiaTestCase):
    def test_token_as_password_does_not_delete_a_device(self) -> None:
        with self.captured_logs("synapse_dp_auth") as logs:
            channel = self.delete_device(
                self.identified(PASSWORD, "password", self.token_for(self.alice))
            )
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body.get("completed", []), [])
        self.assertEqual(len(logs.messages()), 1, logs.messages())
        self.assertIn("do not confirm user-interactive auth", logs.messages()[0])

    def test_shared_secret_type_does_not_delete_a_device(self) -> None:
        channel = self.delete_device(self.identified(DEVTURE, "token", self.token_for(self.alice)))
        self.assertNotEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body.get("completed", []), [])

    def test_token_does_not_change_the_password(self) -> None:
        channel = self.change_password(
            self.identified(PASSWORD, "password", self.token_for(self.alice))
        )
        self.assertEqual(channel.code, 401, channel.json_body)
        # Alice's own password still logs her in.
        self.assertEqual(
            self.post_login(self.login_body(PASSWORD, self.alice, USER_PASSWORD)).code, 200
        )

    def test_users_own_password_still_confirms_uia(self) -> None:
        channel = self.delete_device(self.identified(PASSWORD, "password", USER_PASSWORD))
        self.assertEqual(channel.code, 200, channel.json_body)

    def test_shared_secret_type_is_not_offered(self) -> None:
        self.assertEqual(self.offered_stages(), {PASSWORD})

    def test_login_still_works_after_uia_refusal(self) -> None:
        self.delete_device(self.identified(PASSWORD, "password", self.token_for(self.alice)))
        channel = self.post_login(self.login_body(PASSWORD, self.alice, self.token_for(self.alice)))
        self.assertEqual(channel.code, 200, channel.json_body)


class SessionTimeoutTests(UiaTestCase):
    """``ui_auth.session_timeout`` lets a fresh login skip UIA; a token login must not."""

    def default_config(self) -> dict[str, Any]:
        config = super().default_config()
        config["ui_auth"] = {"session_timeout": "5m"}
        return config

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        # The harness clock starts at 0, where "validated at time 0" would still be recent.
        reactor.advance(3600)
        super().prepare(reactor, clock, hs)

    def delete_victim_without_auth(self, access_token: str) -> int:
        channel = self.make_request(
            "DELETE", "/_matrix/client/v3/devices/VICTIM", {}, access_token=access_token
        )
        return int(channel.code)

    def test_password_login_gets_the_grace(self) -> None:
        """The control: Synapse's grace period really is on in this server."""
        self.assertEqual(self.delete_victim_without_auth(self.access_token), 200)

    def test_token_login_does_not(self) -> None:
        channel = self.post_login(self.login_body(PASSWORD, self.alice, self.token_for(self.alice)))
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.delete_victim_without_auth(channel.json_body["access_token"]), 401)
        channel = self.post_login(self.login_body(DEVTURE, self.alice, self.token_for(self.alice)))
        self.assertEqual(self.delete_victim_without_auth(channel.json_body["access_token"]), 401)
        # The token is otherwise fine, and the user's own password still confirms UIA.
        self.assertEqual(self.whoami(channel.json_body["access_token"]), self.alice)
        self.access_token = channel.json_body["access_token"]
        self.assertEqual(
            self.delete_device(self.identified(PASSWORD, "password", USER_PASSWORD)).code, 200
        )


class TwoEntriesTests(UiaTestCase):
    """The module listed twice: still nothing of ours offered in UIA."""

    def default_config(self) -> dict[str, Any]:
        config = super().default_config()
        config["modules"] = config["modules"] * 2
        return config

    def test_shared_secret_type_is_not_offered(self) -> None:
        self.assertEqual(self.offered_stages(), {PASSWORD})


class AllowUiAuthTests(UiaTestCase):
    """``allow_ui_auth: true`` restores the older module's behaviour, on purpose."""

    module_config: ClassVar[dict[str, Any] | None] = {
        "shared_secret": SECRET,
        "allow_ui_auth": True,
    }

    def test_token_deletes_a_device(self) -> None:
        channel = self.delete_device(
            self.identified(PASSWORD, "password", self.token_for(self.alice))
        )
        self.assertEqual(channel.code, 200, channel.json_body)

    def test_shared_secret_type_is_offered(self) -> None:
        self.assertEqual(self.offered_stages(), {PASSWORD, DEVTURE})


class WithoutModuleUiaTests(UiaTestCase):
    module_config = None

    def test_offered_stages(self) -> None:
        self.assertEqual(self.offered_stages(), {PASSWORD})


class PasswordlessUserTests(ModuleTestCase):
    """A user with no local password: the module must not add a password stage to UIA either."""

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.bob = self.register_user("bob", "temporary")
        # Remove bob's password, as for an SSO-only account.
        self.get_success(hs.get_datastores().main.user_set_password_hash(self.bob, None))
        token = self.token_for(self.bob)
        channel = self.post_login(self.login_body(DEVTURE, self.bob, token))
        self.assertEqual(channel.code, 200, channel.json_body)
        self.bob_token = channel.json_body["access_token"]

    def flows(self) -> Any:
        channel = self.make_request(
            "POST",
            "/_matrix/client/v3/delete_devices",
            {"devices": []},
            access_token=self.bob_token,
        )
        return channel

    def test_no_stage_offered(self) -> None:
        channel = self.flows()
        # Without the module Synapse offers bob nothing to authenticate with; so do we.
        self.assertEqual(channel.code, 401, channel.json_body)
        self.assertEqual(channel.json_body["flows"], [])


class PasswordlessUserTwoEntriesTests(PasswordlessUserTests):
    def default_config(self) -> dict[str, Any]:
        config = super().default_config()
        config["modules"] = config["modules"] * 2
        return config


class PasswordlessUserWithoutModuleTests(PasswordlessUserTests):
    """The same account on a server without the module (logged in through the admin API)."""

    module_config = None

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        ModuleTestCase.prepare(self, reactor, clock, hs)
        self.bob = self.register_user("bob", "temporary")
        self.get_success(hs.get_datastores().main.user_set_password_hash(self.bob, None))
        admin_id = self.register_user("admin", "admin password", admin=True)
        admin_token = self.login(admin_id, "admin password")
        channel = self.make_request(
            "POST", f"/_synapse/admin/v1/users/{self.bob}/login", {}, access_token=admin_token
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        self.bob_token = channel.json_body["access_token"]


class UnsupportedSynapseTests(unittest.HomeserverTestCase):
    """If Synapse moves what the UIA guard relies on, start-up fails loudly, never opens up."""

    def make_homeserver(self, reactor: Any, clock: Any) -> Any:
        return self.setup_test_homeserver()

    def test_missing_internal_is_a_config_error(self) -> None:
        from synapse.config import ConfigError

        from synapse_dp_auth import SharedSecretAuthProvider
        from synapse_dp_auth.releases import tested_range

        auth_handler = self.hs.get_auth_handler()
        auth_handler._get_available_ui_auth_types = None  # type: ignore[assignment]
        config = SharedSecretAuthProvider.parse_config({"shared_secret": SECRET})
        with self.assertRaisesRegex(ConfigError, r"on Synapse \d+\.\d+") as caught:
            SharedSecretAuthProvider(config, self.hs.get_module_api())
        self.assertIn("_get_available_ui_auth_types", str(caught.exception))
        # The admin learns which releases this version of the module was tested on.
        self.assertIn(tested_range(), str(caught.exception))
        # With allow_ui_auth the module does not need that internal and starts.
        relaxed = SharedSecretAuthProvider.parse_config(
            {"shared_secret": SECRET, "allow_ui_auth": True}
        )
        SharedSecretAuthProvider(relaxed, self.hs.get_module_api())

    @unittest.override_config({"ui_auth": {"session_timeout": "5m"}})
    def test_grace_period_column_is_checked_when_it_matters(self) -> None:
        """With ``ui_auth.session_timeout`` the guard marks each token as validated long ago in
        ``access_tokens.last_validated``: if Synapse no longer reads the grace period from that
        column, the guard would protect nothing, so the module refuses to start."""
        from synapse.config import ConfigError

        from synapse_dp_auth import SharedSecretAuthProvider

        config = SharedSecretAuthProvider.parse_config({"shared_secret": SECRET})
        SharedSecretAuthProvider(config, self.hs.get_module_api())  # as it is: starts

        store = self.hs.get_auth_handler().store

        async def reads_elsewhere(token_id: int) -> int:
            return 0

        store.get_access_token_last_validated = reads_elsewhere  # type: ignore[method-assign]
        with self.assertRaisesRegex(ConfigError, "access_tokens.last_validated"):
            SharedSecretAuthProvider(config, self.hs.get_module_api())

    def test_grace_period_column_is_not_needed_without_a_session_timeout(self) -> None:
        from synapse_dp_auth import SharedSecretAuthProvider

        store = self.hs.get_auth_handler().store

        async def reads_elsewhere(token_id: int) -> int:
            return 0

        store.get_access_token_last_validated = reads_elsewhere  # type: ignore[method-assign]
        config = SharedSecretAuthProvider.parse_config({"shared_secret": SECRET})
        SharedSecretAuthProvider(config, self.hs.get_module_api())
