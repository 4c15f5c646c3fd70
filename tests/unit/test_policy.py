"""The pure decisions: which user IDs and accounts may be logged in as."""

from __future__ import annotations

import re
import unittest

import attr

from synapse_dp_auth.config import parse_config
from synapse_dp_auth.policy import (
    Account,
    Outcome,
    account_refusal,
    qualify_user_id,
    user_id_refusal,
)

DEFAULTS = parse_config({"shared_secret": "x" * 32})
ORDINARY = Account(
    user_id="@alice:example.org",
    is_deactivated=False,
    is_guest=False,
    is_admin=False,
    appservice_id=None,
)


class QualifyTests(unittest.TestCase):
    def test_like_synapse(self) -> None:
        self.assertEqual(qualify_user_id("alice", "example.org"), "@alice:example.org")
        self.assertEqual(qualify_user_id("@alice:example.org", "x"), "@alice:example.org")
        # A full ID of another server stays as it is, so that it is refused as remote.
        self.assertEqual(qualify_user_id("@alice:other.org", "example.org"), "@alice:other.org")


class UserIdTests(unittest.TestCase):
    def outcome(self, user_id: str, config: object = DEFAULTS) -> Outcome | None:
        refusal = user_id_refusal(config, user_id, "example.org")  # type: ignore[arg-type]
        return refusal.outcome if refusal else None

    def test_local(self) -> None:
        self.assertIsNone(self.outcome("@alice:example.org"))

    def test_remote(self) -> None:
        self.assertEqual(self.outcome("@alice:other.org"), Outcome.REMOTE_USER)
        self.assertEqual(self.outcome("@alice:example.org:8448"), Outcome.REMOTE_USER)
        self.assertEqual(self.outcome("@alice:example.org.evil"), Outcome.REMOTE_USER)

    def test_too_long(self) -> None:
        longest = "@" + "a" * (255 - len(":example.org") - 1) + ":example.org"
        self.assertEqual(len(longest), 255)
        self.assertIsNone(self.outcome(longest))
        self.assertEqual(self.outcome("@a" + longest[1:]), Outcome.MALFORMED)
        self.assertEqual(self.outcome("@a:" + "x" * 200_000), Outcome.MALFORMED)

    def test_malformed(self) -> None:
        for user_id in ("@", "@:example.org", "@alice", "alice:example.org", ""):
            self.assertEqual(self.outcome(user_id), Outcome.MALFORMED, user_id)

    def test_allowed_users_must_match_whole_id(self) -> None:
        config = attr.evolve(DEFAULTS, allowed_users=(re.compile(r"@bridge_[a-z]+:example\.org"),))
        self.assertIsNone(self.outcome("@bridge_abc:example.org", config))
        self.assertEqual(self.outcome("@alice:example.org", config), Outcome.NOT_ALLOWED)
        # A pattern that matches only a prefix of the ID does not allow it.
        prefix = attr.evolve(DEFAULTS, allowed_users=(re.compile("@bridge_[a-z]+"),))
        self.assertEqual(self.outcome("@bridge_abc:example.org", prefix), Outcome.NOT_ALLOWED)


class AccountTests(unittest.TestCase):
    def reason(self, config: object = DEFAULTS, **flags: object) -> str | None:
        refusal = account_refusal(config, attr.evolve(ORDINARY, **flags))  # type: ignore[arg-type]
        if refusal is None:
            return None
        self.assertEqual(refusal.outcome, Outcome.NOT_ALLOWED)
        return refusal.reason

    def test_ordinary(self) -> None:
        self.assertIsNone(self.reason())

    def test_refusals(self) -> None:
        self.assertIn("deactivated", self.reason(is_deactivated=True) or "")
        self.assertIn("guest", self.reason(is_guest=True) or "")
        self.assertIn("application service", self.reason(appservice_id="bridge") or "")
        self.assertIsNone(self.reason(is_admin=True))

    def test_switches(self) -> None:
        strict = attr.evolve(DEFAULTS, allow_admins=False)
        self.assertIn("server admin", self.reason(strict, is_admin=True) or "")
        relaxed = attr.evolve(DEFAULTS, allow_appservice_users=True)
        self.assertIsNone(self.reason(relaxed, appservice_id="bridge"))
        # Never guests or deactivated accounts, whatever the switches say.
        self.assertIsNotNone(self.reason(relaxed, is_guest=True))
        self.assertIsNotNone(self.reason(relaxed, is_deactivated=True))
