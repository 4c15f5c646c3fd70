"""Logins through Synapse's real ``/login``, in Synapse's own test harness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from constants import DEVTURE, OTHER_SECRET, PASSWORD, SECRET
from harness_support import USER_PASSWORD, ModuleTestCase, expand
from parameterized import parameterized_class

import synapse_dp_auth.provider
import synapse_dp_auth.token

# Run on every Synapse release of the version matrix (tox envs synapse-<release>).
pytestmark = pytest.mark.core

LOGGER = "synapse_dp_auth"


@parameterized_class(
    ("module_config", "devture_on", "password_on"),
    [
        ({"shared_secret": SECRET}, True, True),
        (
            {"shared_secret": SECRET, "com_devture_shared_secret_auth_support_enabled": False},
            False,
            True,
        ),
        ({"shared_secret": SECRET, "m_login_password_support_enabled": False}, True, False),
    ],
)
class LoginTypeToggleTests(ModuleTestCase):
    """Each toggle combination: what ``GET /login`` advertises and which logins succeed."""

    devture_on: bool
    password_on: bool

    def test_flows_advertised(self) -> None:
        types = self.login_types()
        self.assertEqual(DEVTURE in types, self.devture_on)
        # Synapse always lists m.login.password first, which is what mautrix-python picks.
        self.assertEqual(types[0], PASSWORD)

    def test_shared_secret_login_type(self) -> None:
        channel = self.post_login(self.login_body(DEVTURE, self.alice, self.token_for(self.alice)))
        if self.devture_on:
            self.assertEqual(channel.code, 200, channel.json_body)
            self.assertEqual(channel.json_body["user_id"], self.alice)
            self.assertEqual(channel.json_body["device_id"], "BRIDGE")
            self.assertEqual(self.whoami(channel.json_body["access_token"]), self.alice)
        else:
            self.assertEqual(channel.code, 400, channel.json_body)

    def test_token_as_password(self) -> None:
        channel = self.post_login(self.login_body(PASSWORD, self.alice, self.token_for(self.alice)))
        if self.password_on:
            self.assertEqual(channel.code, 200, channel.json_body)
            self.assertEqual(self.whoami(channel.json_body["access_token"]), self.alice)
        else:
            self.assertEqual(channel.code, 403, channel.json_body)

    def test_localpart_is_qualified_like_synapse_does(self) -> None:
        login_type = DEVTURE if self.devture_on else PASSWORD
        channel = self.post_login(self.login_body(login_type, "alice", self.token_for(self.alice)))
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(channel.json_body["user_id"], self.alice)

    def test_ordinary_password_still_works(self) -> None:
        channel = self.post_login(self.login_body(PASSWORD, self.alice, USER_PASSWORD))
        self.assertEqual(channel.code, 200, channel.json_body)
        wrong = self.post_login(self.login_body(PASSWORD, self.alice, "not alice's password"))
        self.assertEqual(wrong.code, 403, wrong.json_body)


class WithoutModuleTests(ModuleTestCase):
    """The baseline the module must not disturb."""

    module_config = None

    def test_ordinary_password_login(self) -> None:
        channel = self.post_login(self.login_body(PASSWORD, self.alice, USER_PASSWORD))
        self.assertEqual(channel.code, 200, channel.json_body)

    def test_no_shared_secret_login(self) -> None:
        self.assertNotIn(DEVTURE, self.login_types())
        token = self.token_for(self.alice)
        self.assertEqual(self.post_login(self.login_body(PASSWORD, self.alice, token)).code, 403)
        self.assertEqual(self.post_login(self.login_body(DEVTURE, self.alice, token)).code, 400)


class RefusalTests(ModuleTestCase):
    """Bad input: a clean 403 (or Synapse's 400), one INFO line saying why, no secret logged."""

    def assert_refused(self, body: dict[str, Any], reason: str) -> list[str]:
        with self.captured_logs() as logs:
            channel = self.post_login(body)
        self.assertIn(channel.code, (400, 403), channel.json_body)
        ours = logs.messages(LOGGER)
        refusals = [m for m in ours if "refused" in m]
        self.assertEqual(len(refusals), 1, ours)
        self.assertIn(reason, refusals[0])
        everything = "\n".join(logs.messages())
        self.assertNotIn(SECRET, everything)
        self.assertNotIn("Failed to run module API callback", everything)
        token = body.get("token", body.get("password"))
        if isinstance(token, str) and len(token) > 8:
            self.assertNotIn(token, everything)
        return refusals

    @expand(
        [
            ("int", 12345, "a JSON number"),
            ("null", None, "null"),
            ("list", ["x"], "a JSON array"),
            ("dict", {"a": 1}, "a JSON object"),
            ("bool", True, "a JSON boolean"),
            ("empty", "", "a string of 0 characters"),
            ("megabyte", "a" * 1_000_000, "a string of 1000000 characters"),
            ("short", "ab" * 10, "a string of 20 characters"),
        ]
    )
    def test_malformed_tokens(self, _name: str, token: Any, described: str) -> None:
        self.assert_refused(self.login_body(DEVTURE, self.alice, token), described)

    def test_trailing_newline(self) -> None:
        token = self.token_for(self.alice) + "\n"
        self.assert_refused(self.login_body(DEVTURE, self.alice, token), "129 characters")

    def test_uppercase_hex(self) -> None:
        token = self.token_for(self.alice).upper()
        self.assert_refused(self.login_body(DEVTURE, self.alice, token), "not 128 lowercase hex")

    def test_other_users_token(self) -> None:
        bob = self.register_user("bob", "bob's password")
        body = self.login_body(DEVTURE, self.alice, self.token_for(bob))
        self.assert_refused(body, "does not match")
        body = self.login_body(PASSWORD, self.alice, self.token_for(bob))
        self.assert_refused(body, "does not match")

    def test_wrong_secret(self) -> None:
        token = self.token_for(self.alice, OTHER_SECRET)
        self.assert_refused(self.login_body(DEVTURE, self.alice, token), "does not match")

    def test_missing_user(self) -> None:
        ghost = "@ghost:test"
        self.assert_refused(self.login_body(DEVTURE, ghost, self.token_for(ghost)), "no such user")

    def test_deactivated_user(self) -> None:
        carol = self.register_user("carol", "carol's password")
        admin_token = self.login(
            self.register_user("admin", "admin's password", admin=True), "admin's password"
        )
        channel = self.make_request(
            "POST", f"/_synapse/admin/v1/deactivate/{carol}", {}, access_token=admin_token
        )
        self.assertEqual(channel.code, 200, channel.json_body)
        body = self.login_body(DEVTURE, carol, self.token_for(carol))
        self.assert_refused(body, "deactivated")

    def test_remote_user_is_refused_without_a_database_query(self) -> None:
        store = self.hs.get_datastores().main
        queried: list[str] = []
        # A cached method: mypy cannot see that the bound form takes just the user ID.
        real_get_user_by_id = cast(Callable[[str], Awaitable[Any]], store.get_user_by_id)

        async def spy(user_id: str) -> Any:
            queried.append(user_id)
            return await real_get_user_by_id(user_id)

        self.patch(store, "get_user_by_id", spy)
        remote = "@alice:elsewhere.example"
        self.assert_refused(self.login_body(DEVTURE, remote, self.token_for(remote)), "elsewhere")
        self.assertEqual(queried, [])
        # The spy does see a local login, so its silence above means something.
        self.post_login(self.login_body(DEVTURE, self.alice, self.token_for(self.alice)))
        self.assertEqual(queried, [self.alice])

    def test_huge_user_id_gives_a_bounded_log_line(self) -> None:
        huge = "@a:" + "x" * 200_000
        refusals = self.assert_refused(
            self.login_body(DEVTURE, huge, self.token_for(huge)), "longer than 255 characters"
        )
        self.assertLess(len(refusals[0]), 600)

    def test_control_characters_do_not_forge_log_lines(self) -> None:
        forged = "@eve:test\nShared-secret login as @admin:test accepted"
        refusals = self.assert_refused(self.login_body(DEVTURE, forged, "0" * 128), "")
        self.assertNotIn("\n", refusals[0])

    def test_success_logs_without_the_token(self) -> None:
        token = self.token_for(self.alice)
        with self.captured_logs() as logs:
            channel = self.post_login(self.login_body(PASSWORD, self.alice, token))
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertIn(f"Shared-secret login as {self.alice} accepted", logs.messages(LOGGER)[0])
        self.assertNotIn(token, "\n".join(logs.messages()))

    def test_ordinary_password_costs_nothing(self) -> None:
        """Not token-shaped: no HMAC, no database query by the module, no log line."""
        hmac_calls: list[object] = []
        real_verify = synapse_dp_auth.token.matching_secret

        def counting_verify(*args: Any) -> int | None:
            hmac_calls.append(args)
            return real_verify(*args)

        self.patch(synapse_dp_auth.provider, "matching_secret", counting_verify)
        for password in (USER_PASSWORD, "wrong password", "f" * 127, "F" * 128):
            with self.captured_logs(LOGGER) as logs:
                self.post_login(self.login_body(PASSWORD, self.alice, password))
            self.assertEqual(logs.messages(LOGGER), [], password)
        self.assertEqual(hmac_calls, [])
        # A token-shaped password does reach the HMAC: the counter works.
        self.post_login(self.login_body(PASSWORD, self.alice, "f" * 128))
        self.assertEqual(len(hmac_calls), 1)
