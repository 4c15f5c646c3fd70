"""The module's configuration without Synapse: ``parse_config`` returns the exact parsed object and
raises :class:`ConfigValueError` naming the key. (Through Synapse's ``ConfigError`` and its
start-up path: tests/harness/test_config_harness.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from constants import SECRET

from synapse_dp_auth.config import ConfigValueError, DpAuthConfig, parse_config


def test_defaults() -> None:
    parsed = parse_config({"shared_secret": SECRET})
    assert parsed == DpAuthConfig(
        secrets=(SECRET.encode(),),
        m_login_password_support_enabled=True,
        com_devture_shared_secret_auth_support_enabled=True,
        allow_ui_auth=False,
        allow_appservice_users=False,
        allow_admins=True,
        allowed_users=None,
    )
    assert parsed.warnings == ()
    assert SECRET not in repr(parsed)


def test_secrets_from_a_file_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(f"\ufeff  {SECRET}  \n\n{'n' * 48}\n", encoding="utf-8")
    path.chmod(0o600)
    parsed = parse_config({"shared_secret_path": str(path), "allowed_users": ["@bridge_.*:x"]})
    assert parsed.secrets == (SECRET.encode(), b"n" * 48)
    assert parsed.shared_secret_path == str(path)
    assert parsed.allowed_users == (re.compile("@bridge_.*:x"),)
    assert parsed.warnings == ()


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        ({}, "shared_secret", "is required"),
        ({"shared_secret": "  "}, "shared_secret", "must not be empty"),
        ({"shared_secret": SECRET, "shared_secret_path": "/x"}, "shared_secret", "not both"),
        ({"shared_secret": SECRET, "allow_admins": "false"}, "allow_admins", "YAML boolean"),
        ({"shared_secret": SECRET, "shared_secert": "typo"}, "shared_secert", "unknown option"),
        ({"shared_secret": SECRET, "allowed_users": None}, "allowed_users", "allow nobody"),
        (["shared_secret"], "config", "must be a mapping"),
    ],
)
def test_rejected_with_the_key(raw: Any, key: str, message: str) -> None:
    with pytest.raises(ConfigValueError) as caught:
        parse_config(raw)
    assert (caught.value.key, message in caught.value.message) == (key, True)
    assert SECRET not in str(caught.value)


def test_secret_file_not_utf8_is_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"secret-\xff-more")
    with pytest.raises(ConfigValueError) as caught:
        parse_config({"shared_secret_path": str(path)})
    assert caught.value.key == "shared_secret_path"
    assert str(caught.value) == f"shared_secret_path: {path} is not valid UTF-8"
