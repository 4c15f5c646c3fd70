"""The appservice double-puppet method on real Synapse processes: registration files Synapse
loads, and a homeserver that delegates auth to the Matrix Authentication Service."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from testbed.homeserver import Homeserver, oauth_delegation_config


def hand_written_registration(server_regex: str, **overrides: Any) -> dict[str, Any]:
    """A double-puppet registration as mautrix's docs describe it, written out by hand."""
    registration: dict[str, Any] = {
        "id": "doublepuppet",
        "url": None,
        "as_token": secrets.token_hex(32),
        "hs_token": secrets.token_hex(32),
        "sender_localpart": secrets.token_hex(8),
        "rate_limited": False,
        "namespaces": {"users": [{"regex": f"@.*:{server_regex}", "exclusive": False}]},
    }
    registration.update(overrides)
    return registration


def write_registration(path: Path, registration: dict[str, Any]) -> Path:
    path.write_text(json.dumps(registration), encoding="utf-8")  # JSON is YAML
    return path


# -- the testbed: registrations and OAuth delegation ---------------------------------------------


def test_synapse_loads_a_registration_file(tmp_path: Path) -> None:
    registration = hand_written_registration(r"test\.local")
    path = write_registration(tmp_path / "doublepuppet.yaml", registration)
    as_token = registration["as_token"]
    with Homeserver(app_service_config_files=[path]) as homeserver:
        alice = homeserver.register_user("alice")
        status, body = homeserver.appservice_whoami(as_token, alice)
        assert (status, body.get("user_id")) == (200, alice)
        assert homeserver.sender_of_new_message(as_token, as_user=alice) == alice
        # Without the registration listed, the same token is nobody's.
        homeserver.restart(app_service_config_files=[])
        status, body = homeserver.appservice_whoami(as_token, alice)
        assert (status, body.get("errcode")) == (401, "M_UNKNOWN_TOKEN")


def test_synapse_refuses_a_broken_registration_file(tmp_path: Path) -> None:
    registration = hand_written_registration(r"test\.local")
    del registration["as_token"]
    path = write_registration(tmp_path / "broken.yaml", registration)
    error = Homeserver.start_expecting_failure(app_service_config_files=[path])
    assert "Required string field: 'as_token'" in error.output + error.log


def test_synapse_starts_with_oauth_delegation() -> None:
    with Homeserver(extra_config=oauth_delegation_config()) as homeserver:
        # Login is MAS's job now: Synapse serves no /login at all.
        status, body = homeserver.get("/_matrix/client/v3/login")
        assert (status, body.get("errcode")) == (404, "M_UNRECOGNIZED")
        config = json.loads(homeserver.config_path.read_text(encoding="utf-8"))
        assert config["matrix_authentication_service"]["enabled"] is True


# -- the module under OAuth delegation ------------------------------------------------------------


def test_module_under_oauth_delegation_names_the_appservice_method() -> None:
    secret = secrets.token_hex(32)
    module = {
        "module": "synapse_dp_auth.SharedSecretAuthProvider",
        "config": {"shared_secret": secret},
    }
    error = Homeserver.start_expecting_failure([module], extra_config=oauth_delegation_config())
    text = error.output + error.log
    assert "synapse_dp_auth cannot work when Synapse delegates auth" in text
    assert "matrix_authentication_service.enabled" in text
    assert "appservice double-puppet method" in text
    assert "synapse_dp_auth appservice --server-name SERVER_NAME FILE" in text
    # Synapse's bare message is replaced, not repeated.
    assert "Cannot use password auth provider callbacks" not in text
    assert secret not in text
