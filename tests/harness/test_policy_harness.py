"""Who may be impersonated, secret rotation, and random login bodies, in Synapse's own harness."""

from __future__ import annotations

import inspect
import os
import tempfile
import traceback
from pathlib import Path
from typing import Any, ClassVar

import pytest
from constants import DEVTURE, MODULE, OTHER_SECRET, PASSWORD, SECRET
from harness_support import ModuleTestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synapse.appservice import ApplicationService
from synapse.rest.client import register
from synapse.types import UserID

import synapse_dp_auth
from tests import unittest as synapse_unittest

#: Where the module's own code is: a traceback through it has a frame under this folder. (Not the
#: bare name: a checkout cloned into a folder named synapse_dp_auth-* has it in every path.)
PACKAGE_DIR = str(Path(synapse_dp_auth.__file__).parent) + os.sep

# Run on every Synapse release of the version matrix (tox envs synapse-<release>).
pytestmark = pytest.mark.core

AS_TOKEN = "appservice_token"


class ImpersonationTestCase(ModuleTestCase):
    servlets: ClassVar[list[Any]] = [*ModuleTestCase.servlets, register.register_servlets]

    def make_homeserver(self, reactor: Any, clock: Any) -> Any:
        hs = self.setup_test_homeserver()
        # Before Synapse 1.6x an ApplicationService also took the server name ("hostname").
        hostname: dict[str, Any] = (
            {"hostname": "test"}
            if "hostname" in inspect.signature(ApplicationService).parameters
            else {}
        )
        service = ApplicationService(
            **hostname,
            id="a_bridge",
            token=AS_TOKEN,
            sender=UserID.from_string("@bridgebot:test"),
            namespaces={
                ApplicationService.NS_USERS: [{"regex": r"@ghost_.*:test", "exclusive": True}],
                ApplicationService.NS_ROOMS: [],
                ApplicationService.NS_ALIASES: [],
            },
        )
        hs.get_datastores().main.services_cache.append(service)
        return hs

    def prepare(self, reactor: Any, clock: Any, hs: Any) -> None:
        super().prepare(reactor, clock, hs)
        self.ghost, _ = self.register_appservice_user("ghost_1", AS_TOKEN)
        self.admin = self.register_user("root", "root's password", admin=True)
        self.guest = "@1234:test"
        self.get_success(hs.get_datastores().main.register_user(self.guest, make_guest=True))

    def token_login(self, user_id: str) -> Any:
        return self.post_login(self.login_body(DEVTURE, user_id, self.token_for(user_id)))

    def assert_logs_in(self, user_id: str) -> None:
        channel = self.token_login(user_id)
        self.assertEqual(channel.code, 200, channel.json_body)
        self.assertEqual(self.whoami(channel.json_body["access_token"]), user_id)

    def assert_refused(self, user_id: str, reason: str) -> None:
        with self.captured_logs("synapse_dp_auth") as logs:
            channel = self.token_login(user_id)
        self.assertEqual(channel.code, 403, channel.json_body)
        self.assertEqual(len(logs.messages()), 1, logs.messages())
        self.assertIn(reason, logs.messages()[0])


class DefaultPolicyTests(ImpersonationTestCase):
    def test_ordinary_user(self) -> None:
        self.assert_logs_in(self.alice)

    def test_admin_allowed_by_default(self) -> None:
        self.assert_logs_in(self.admin)

    def test_appservice_user_refused(self) -> None:
        self.assert_refused(self.ghost, "belongs to an application service")

    def test_guest_refused(self) -> None:
        self.assert_refused(self.guest, "guest account")


class StrictPolicyTests(ImpersonationTestCase):
    module_config: ClassVar[dict[str, Any] | None] = {
        "shared_secret": SECRET,
        "allow_admins": False,
        "allow_appservice_users": True,
        "allowed_users": [r"@(alice|root|ghost_\d+|\d+):test"],
    }

    def test_admin_refused(self) -> None:
        self.assert_refused(self.admin, "server admin (allow_admins is false)")

    def test_appservice_user_allowed(self) -> None:
        self.assert_logs_in(self.ghost)

    def test_allowed_users(self) -> None:
        self.assert_logs_in(self.alice)
        bob = self.register_user("bob", "bob's password")
        self.assert_refused(bob, "matches none of allowed_users")
        # Patterns match the whole user ID: a prefix match is not enough.
        alicia = self.register_user("alice2", "alice2's password")
        self.assert_refused(alicia, "matches none of allowed_users")

    def test_guest_still_refused(self) -> None:
        self.assert_refused(self.guest, "guest account")


class RotationTests(ModuleTestCase):
    """The README's rotation procedure, step by step, with the secrets in a file."""

    def setUp(self) -> None:
        handle, self.secret_path = tempfile.mkstemp()
        os.close(handle)
        self.addCleanup(os.unlink, self.secret_path)
        self.write_secrets(SECRET)
        super().setUp()

    def default_config(self) -> dict[str, Any]:
        config = super().default_config()
        config["modules"] = [{"module": MODULE, "config": {"shared_secret_path": self.secret_path}}]
        return config

    def write_secrets(self, *secrets: str) -> None:
        with open(self.secret_path, "w") as file:
            file.write("\n".join(secrets) + "\n")

    def restart(self) -> None:
        """A new homeserver reading the same file, as after restarting Synapse."""
        # The harness caches parsed configs by their dict (since Synapse 1.6x); a restart must
        # parse (read) anew.
        parse_cache = getattr(synapse_unittest, "_parse_config_dict", None)
        if parse_cache is not None:
            parse_cache.cache_clear()
        super().setUp()

    def logs_in_with(self, secret: str) -> bool:
        body = self.login_body(PASSWORD, self.alice, self.token_for(self.alice, secret))
        return int(self.post_login(body).code) == 200

    def test_rotation(self) -> None:
        old, new = SECRET, OTHER_SECRET
        self.assertTrue(self.logs_in_with(old))
        self.assertFalse(self.logs_in_with(new))
        # 1. Add the new secret, restart: both work, so bridges can move one at a time.
        self.write_secrets(old, new)
        self.restart()
        self.assertTrue(self.logs_in_with(old))
        self.assertTrue(self.logs_in_with(new))
        # 2. All bridges moved: remove the old secret, restart: only the new one works.
        self.write_secrets(new)
        self.restart()
        self.assertFalse(self.logs_in_with(old))
        self.assertTrue(self.logs_in_with(new))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
NAMES = st.sampled_from(["@alice:test", "alice", "@alice:elsewhere.example", "m.id.user", ""])
FIELD_VALUES = st.one_of(JSON, NAMES)
RANDOM = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


class RandomLoginBodyTests(ModuleTestCase):
    """Whatever a client sends to /login, the module never raises and never lets it in."""

    def setUp(self) -> None:
        super().setUp()
        self._logs = self.captured_logs()
        self.logs = self._logs.__enter__()
        self.addCleanup(self._logs.__exit__, None, None, None)

    def post(self, body: dict[str, Any]) -> int:
        self.logs.records.clear()
        channel = self.post_login(body)
        self.assertNotEqual(channel.code, 200, body)
        for record in self.logs.records:
            self.assertNotIn("Failed to run module API callback", record.getMessage(), body)
            trace = record.exc_text or ""
            if record.exc_info:
                trace += "".join(traceback.format_exception(*record.exc_info))
            self.assertNotIn(PACKAGE_DIR, trace, body)
        return int(channel.code)

    @RANDOM
    @given(
        login_type=st.sampled_from([DEVTURE, PASSWORD]),
        user=st.one_of(NAMES, st.text(max_size=40)),
        secret_field=FIELD_VALUES,
        device_id=FIELD_VALUES,
        extra=st.dictionaries(st.text(max_size=10), JSON, max_size=2),
    )
    def test_random_values_in_every_field_the_module_reads(
        self,
        login_type: str,
        user: str,
        secret_field: Any,
        device_id: Any,
        extra: dict[str, Any],
    ) -> None:
        """With a user ID Synapse accepts, every answer is a clean 4xx: never a 500."""
        body = {
            **extra,
            "type": login_type,
            "identifier": {"type": "m.id.user", "user": user},
            "token": secret_field,
            "password": secret_field,
            "device_id": device_id,
        }
        self.assertLess(self.post(body), 500, body)

    @RANDOM
    @given(identifier=JSON, token=JSON, password=JSON)
    def test_random_identifier(self, identifier: Any, token: Any, password: Any) -> None:
        """Synapse itself answers 500 to some identifiers (a non-string ``user``) before any
        module runs; the module must never be the one that fails."""
        for login_type in (DEVTURE, PASSWORD):
            body = {"type": login_type, "identifier": identifier, "token": token}
            self.post({**body, "password": password})
