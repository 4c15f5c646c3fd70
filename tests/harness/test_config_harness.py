"""Configuration: the exact parsed object, and a ConfigError naming the key for every mistake."""

from __future__ import annotations

import importlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from typing import Any, cast

import pytest
from constants import MODULE, REPO_ROOT, SECRET
from harness_support import ModuleTestCase, expand
from synapse.config import ConfigError
from synapse.util.module_loader import load_module

from synapse_dp_auth import DpAuthConfig, SharedSecretAuthProvider
from synapse_dp_auth.config import KNOWN_KEYS
from tests import unittest

# Run on every Synapse release of the version matrix (tox envs synapse-<release>).
pytestmark = pytest.mark.core


def _synapse_format_config_error() -> Callable[[ConfigError], Iterable[str]]:
    """How Synapse prints a ConfigError at start-up (in synapse.app.homeserver before 1.6x)."""
    for module_name in ("synapse.config._base", "synapse.app.homeserver"):
        found = getattr(importlib.import_module(module_name), "format_config_error", None)
        if found is not None:
            return cast(Callable[[ConfigError], Iterable[str]], found)
    raise ImportError("this Synapse has no format_config_error")


format_config_error = _synapse_format_config_error()


def load_like_synapse(config: Any) -> Any:
    """Synapse's own start-up path for a `modules:` entry."""
    return load_module({"module": MODULE, "config": config}, ("modules", "<item 0>"))


class ParseConfigTests(unittest.TestCase):
    def test_defaults(self) -> None:
        parsed = SharedSecretAuthProvider.parse_config({"shared_secret": SECRET})
        self.assertEqual(
            parsed,
            DpAuthConfig(
                secrets=(SECRET.encode(),),
                m_login_password_support_enabled=True,
                com_devture_shared_secret_auth_support_enabled=True,
                allow_ui_auth=False,
                allow_appservice_users=False,
                allow_admins=True,
                allowed_users=None,
                login_records_retention_ms=90 * 86_400_000,
            ),
        )
        self.assertEqual(parsed.warnings, ())

    def test_every_option(self) -> None:
        parsed = SharedSecretAuthProvider.parse_config(
            {
                "shared_secret": [SECRET, "x" * 40],
                "m_login_password_support_enabled": False,
                "com_devture_shared_secret_auth_support_enabled": True,
                "allow_ui_auth": True,
                "allow_appservice_users": True,
                "allow_admins": False,
                "allowed_users": ["@bridge_.*:example.org"],
                "login_records_retention_period": "2w",
            }
        )
        self.assertEqual(
            parsed,
            DpAuthConfig(
                secrets=(SECRET.encode(), b"x" * 40),
                m_login_password_support_enabled=False,
                com_devture_shared_secret_auth_support_enabled=True,
                allow_ui_auth=True,
                allow_appservice_users=True,
                allow_admins=False,
                allowed_users=(re.compile("@bridge_.*:example.org"),),
                login_records_retention_ms=14 * 86_400_000,
            ),
        )

    def test_retention_period(self) -> None:
        """Durations as in Synapse's own config; null keeps the records for ever."""
        for value, ms in [
            ("1h", 3_600_000),
            ("90d", 90 * 86_400_000),
            ("1y", 365 * 86_400_000),
            (" 36h ", 36 * 3_600_000),
            (3_600_000, 3_600_000),
            ("3600s", 3_600_000),
            ("1000y", 1000 * 365 * 86_400_000),
            (None, None),
        ]:
            parsed = SharedSecretAuthProvider.parse_config(
                {"shared_secret": SECRET, "login_records_retention_period": value}
            )
            self.assertEqual(parsed.login_records_retention_ms, ms, value)

    def test_whitespace_around_an_inline_secret_warns(self) -> None:
        parsed = SharedSecretAuthProvider.parse_config({"shared_secret": f" {SECRET}"})
        self.assertEqual(parsed.secrets, (f" {SECRET}".encode(),))
        self.assertEqual(len(parsed.warnings), 1)
        self.assertIn("starts or ends with whitespace", parsed.warnings[0])

    def test_secret_is_not_in_repr(self) -> None:
        parsed = SharedSecretAuthProvider.parse_config({"shared_secret": SECRET})
        self.assertNotIn(SECRET, repr(parsed))
        self.assertNotIn(SECRET.encode().hex(), repr(parsed))

    def test_short_secret_warns_but_works(self) -> None:
        parsed = SharedSecretAuthProvider.parse_config({"shared_secret": "short"})
        self.assertEqual(parsed.secrets, (b"short",))
        self.assertEqual(len(parsed.warnings), 1)
        self.assertIn("only 5 characters long", parsed.warnings[0])
        self.assertNotIn("short", parsed.warnings[0].replace("shared_secret", ""))

    @expand(
        [
            ("missing", {}, "shared_secret", "is required"),
            ("empty", {"shared_secret": ""}, "shared_secret", "must not be empty"),
            ("blank", {"shared_secret": "   "}, "shared_secret", "must not be empty"),
            ("number", {"shared_secret": 42}, "shared_secret", "not int"),
            ("null", {"shared_secret": None}, "shared_secret", "not null"),
            ("empty list", {"shared_secret": []}, "shared_secret", "empty list"),
            ("list of junk", {"shared_secret": [SECRET, 1]}, "shared_secret", "not int"),
            (
                "both sources",
                {"shared_secret": SECRET, "shared_secret_path": "/x"},
                "shared_secret",
                "not both",
            ),
            (
                "string false",
                {"shared_secret": SECRET, "m_login_password_support_enabled": "false"},
                "m_login_password_support_enabled",
                "YAML boolean",
            ),
            (
                "integer toggle",
                {"shared_secret": SECRET, "com_devture_shared_secret_auth_support_enabled": 1},
                "com_devture_shared_secret_auth_support_enabled",
                "YAML boolean",
            ),
            (
                "both login types off",
                {
                    "shared_secret": SECRET,
                    "m_login_password_support_enabled": False,
                    "com_devture_shared_secret_auth_support_enabled": False,
                },
                "m_login_password_support_enabled",
                "both false",
            ),
            (
                "unknown key",
                {"shared_secret": SECRET, "shared_secert": "typo"},
                "shared_secert",
                "the known options are shared_secret, shared_secret_path",
            ),
            (
                "allow_ui_auth",
                {"shared_secret": SECRET, "allow_ui_auth": "yes"},
                "allow_ui_auth",
                "boolean",
            ),
            (
                "allowed_users not a list",
                {"shared_secret": SECRET, "allowed_users": "@a:b"},
                "allowed_users",
                "must be a list",
            ),
            (
                "allowed_users empty",
                {"shared_secret": SECRET, "allowed_users": []},
                "allowed_users",
                "allow nobody",
            ),
            (
                "allowed_users null",
                {"shared_secret": SECRET, "allowed_users": None},
                "allowed_users",
                "leave the key out to allow every local user",
            ),
            (
                "toggle holding a secret",
                {"shared_secret": SECRET, "allow_admins": "a-secret-pasted-here"},
                "allow_admins",
                "not str",
            ),
            (
                "allowed_users bad regex",
                {"shared_secret": SECRET, "allowed_users": ["@(a:b"]},
                "allowed_users",
                "not a valid regular expression",
            ),
            ("not a mapping", ["shared_secret"], "config", "must be a mapping"),
        ]
        + [
            (
                f"retention {value!r}",
                {"shared_secret": SECRET, "login_records_retention_period": value},
                "login_records_retention_period",
                message,
            )
            for value, message in [
                ("90 days", "must be a duration such as 90d, 12w or 1y"),
                ("-1d", "not '-1d'"),
                ("1.5d", "not '1.5d'"),
                ("d", "not 'd'"),
                ("", "not ''"),
                ("9" * 5000 + "d", "not a string of 5001 characters"),
                (True, "not bool"),
                (1.5, "not float"),
                (["90d"], "not list"),
                ("0d", "at least an hour"),
                ("59m", "at least an hour"),
                (1000, "at least an hour"),  # milliseconds, as in Synapse's config
                ("1001y", "at most 1000y"),
                (10**30, "at most 1000y"),
            ]
        ]
    )
    def test_rejected(self, _name: str, raw: Any, key: str, message: str) -> None:
        with self.assertRaisesRegex(ConfigError, re.escape(message)) as caught:
            SharedSecretAuthProvider.parse_config(raw)
        self.assertEqual(caught.exception.path, [key])
        # Synapse's own loader reports it at start-up with the full path to the key. (Read the
        # error only as Synapse's start-up does: before Synapse 1.6x its path is an iterator that
        # can be read once.)
        with self.assertRaises(ConfigError) as at_startup:
            load_like_synapse(raw)
        shown = "".join(format_config_error(at_startup.exception))
        self.assertIn(message, shown)
        self.assertIn("modules.<item 0>.config." + key, shown)

    def test_known_keys_are_all_documented(self) -> None:
        readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
        for key in KNOWN_KEYS:
            self.assertIn(f"{key}:", readme, key)


class SecretFileTests(unittest.TestCase):
    def write(self, text: str, mode: int = 0o600) -> str:
        handle, path = tempfile.mkstemp()
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.chmod(path, mode)
        self.addCleanup(os.unlink, path)
        return path

    def test_one_secret_stripped(self) -> None:
        path = self.write(f"  {SECRET}  \n")
        parsed = SharedSecretAuthProvider.parse_config({"shared_secret_path": path})
        self.assertEqual(parsed.secrets, (SECRET.encode(),))
        self.assertEqual(parsed.shared_secret_path, path)
        self.assertEqual(parsed.warnings, ())

    def test_byte_order_mark_is_not_part_of_the_secret(self) -> None:
        path = self.write("\ufeff" + SECRET + "\n")
        parsed = SharedSecretAuthProvider.parse_config({"shared_secret_path": path})
        self.assertEqual(parsed.secrets, (SECRET.encode(),))

    def test_not_utf8_does_not_quote_the_file(self) -> None:
        handle, path = tempfile.mkstemp()
        with os.fdopen(handle, "wb") as file:
            file.write(b"secret-\xff-more")
        self.addCleanup(os.unlink, path)
        with self.assertRaisesRegex(ConfigError, "is not valid UTF-8") as caught:
            SharedSecretAuthProvider.parse_config({"shared_secret_path": path})
        self.assertNotIn("xff", str(caught.exception.msg))
        self.assertNotIn("secret-", str(caught.exception.msg))

    def test_one_secret_per_line_for_rotation(self) -> None:
        path = self.write(f"{SECRET}\n\n{'n' * 48}\n")
        parsed = SharedSecretAuthProvider.parse_config({"shared_secret_path": path})
        self.assertEqual(parsed.secrets, (SECRET.encode(), b"n" * 48))

    def test_world_readable_file_warns(self) -> None:
        path = self.write(SECRET, mode=0o644)
        parsed = SharedSecretAuthProvider.parse_config({"shared_secret_path": path})
        self.assertEqual(len(parsed.warnings), 1)
        self.assertIn("accessible by group or others (mode 0644)", parsed.warnings[0])

    def test_missing_file(self) -> None:
        with self.assertRaisesRegex(ConfigError, "cannot read /nonexistent/secret") as caught:
            SharedSecretAuthProvider.parse_config({"shared_secret_path": "/nonexistent/secret"})
        self.assertEqual(caught.exception.path, ["shared_secret_path"])

    def test_unreadable_file(self) -> None:
        path = self.write(SECRET, mode=0o000)
        if os.access(path, os.R_OK):
            # root reads anything; make it unreadable another way: a directory.
            path = tempfile.mkdtemp()
            self.addCleanup(os.rmdir, path)
        with self.assertRaisesRegex(ConfigError, "cannot read") as caught:
            SharedSecretAuthProvider.parse_config({"shared_secret_path": path})
        self.assertEqual(caught.exception.path, ["shared_secret_path"])

    def test_empty_file(self) -> None:
        path = self.write(" \n\n")
        with self.assertRaisesRegex(ConfigError, "holds no secret"):
            SharedSecretAuthProvider.parse_config({"shared_secret_path": path})


class StartupTests(ModuleTestCase):
    """Whole-homeserver start-up behaviour."""

    def test_legacy_password_providers_entry_is_explained(self) -> None:
        config = self.default_config()
        config.pop("modules")
        config["password_providers"] = [{"module": MODULE, "config": {"shared_secret": SECRET}}]
        with self.assertRaisesRegex(ConfigError, "move its entry from `password_providers:`"):
            self.setup_test_homeserver(config=config)

    def test_short_secret_is_logged_at_startup(self) -> None:
        config = self.default_config()
        config["modules"] = [{"module": MODULE, "config": {"shared_secret": "tiny"}}]
        with self.captured_logs("synapse_dp_auth") as logs:
            self.setup_test_homeserver(config=config)
        warnings = [r.getMessage() for r in logs.records if r.levelno >= logging.WARNING]
        self.assertEqual(len(warnings), 1, logs.messages())
        self.assertIn("only 4 characters long", warnings[0])
