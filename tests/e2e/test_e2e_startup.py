"""Config mistakes stop a real Synapse at start-up, with an error naming the key."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from testbed import compat
from testbed.homeserver import Homeserver

pytestmark = pytest.mark.core

SECRET = secrets.token_hex(32)


@pytest.mark.parametrize(
    ("options", "key", "message"),
    [
        pytest.param({}, "shared_secret", "is required", id="no-secret"),
        pytest.param(
            {"shared_secret": SECRET, "m_login_password_support_enabled": "false"},
            "m_login_password_support_enabled",
            "YAML boolean",
            id="string-false",
        ),
        pytest.param(
            {"shared_secret": SECRET, "allowed_user": ["@a:test.local"]},
            "allowed_user",
            "unknown option",
            id="unknown-key",
        ),
    ],
)
def test_config_mistake_stops_synapse_naming_the_key(
    options: dict[str, Any], key: str, message: str
) -> None:
    error = Homeserver.start_expecting_failure([{"module": compat.MODULE, "config": options}])
    shown = error.output + error.log
    assert f"modules.<item 0>.config.{key}" in shown, str(error)
    assert message in shown, str(error)
    assert SECRET not in shown


def test_legacy_password_providers_entry_is_explained() -> None:
    error = Homeserver.start_expecting_failure(
        extra_config={
            "password_providers": [{"module": compat.MODULE, "config": {"shared_secret": SECRET}}]
        }
    )
    shown = error.output + error.log
    assert "move its entry from `password_providers:` to `modules:`" in shown, str(error)
    assert SECRET not in shown
