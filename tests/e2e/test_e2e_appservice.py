"""The appservice double-puppet method on real Synapse processes: registration files Synapse
loads, a homeserver set up only from ``synapse_dp_auth appservice``'s output, check-config's
registration checks against what Synapse does with the same files, and a homeserver that delegates
auth to the Matrix Authentication Service."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from cli_support import yaml_block

from synapse_dp_auth.admin import cli
from synapse_dp_auth.admin.appservice.registration import build_registration
from testbed.homeserver import Homeserver, HomeserverError, StartupError, oauth_delegation_config

MODULE = "synapse_dp_auth.SharedSecretAuthProvider"


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


def failed_check_config(
    tmp_path: Path, paths: list[Path], capsys: pytest.CaptureFixture[str]
) -> str:
    """What check-config prints for a homeserver.yaml listing ``paths``, which it must refuse."""
    config = tmp_path / "homeserver.yaml"
    config.write_text(
        json.dumps(
            {"server_name": "test.local", "app_service_config_files": [str(p) for p in paths]}
        ),
        encoding="utf-8",
    )
    assert cli.main(["check-config", str(config)]) == 1
    return capsys.readouterr().out


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


def test_synapse_starts_with_oauth_delegation(tmp_path: Path) -> None:
    registration = hand_written_registration(r"test\.local")
    path = write_registration(tmp_path / "doublepuppet.yaml", registration)
    with Homeserver(
        extra_config=oauth_delegation_config(), app_service_config_files=[path]
    ) as homeserver:
        # Login is MAS's job now: Synapse serves no /login at all (what shows that delegation is
        # on, rather than the config this test wrote).
        status, body = homeserver.get("/_matrix/client/v3/login")
        assert (status, body.get("errcode")) == (404, "M_UNRECOGNIZED")
        # The as_token is Synapse's own and still recognised; only accounts MAS has provisioned
        # exist, and no MAS runs here, so alice does not.
        status, body = homeserver.appservice_whoami(registration["as_token"], "@alice:test.local")
        assert (status, body.get("errcode")) == (403, "M_FORBIDDEN")
        assert "has not registered this user" in body.get("error", "")
        # Any other token is sent to MAS to be checked, which is not there.
        status, body = homeserver.appservice_whoami("not-the-token", "@alice:test.local")
        assert status == 503


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


# -- synapse_dp_auth appservice, followed to the letter ------------------------------------------


@pytest.mark.parametrize("server_name", ["test.local", "test.local:8448"])
def test_a_homeserver_set_up_from_the_commands_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server_name: str
) -> None:
    """Only what the command printed goes into the homeserver and the "bridge": the
    app_service_config_files entry, and the bridgev2 double_puppet.secrets value."""
    path = tmp_path / "doublepuppet.yaml"
    assert cli.main(["appservice", "--server-name", server_name, str(path)]) == 0
    output = capsys.readouterr().out

    homeserver_snippet = yaml_block(output, "app_service_config_files:")
    bridge_snippet = yaml_block(output, "double_puppet:")
    secret = bridge_snippet["double_puppet"]["secrets"][server_name]
    assert secret.startswith("as_token:")
    as_token = secret.removeprefix("as_token:")

    with Homeserver(server_name=server_name, extra_config=homeserver_snippet) as homeserver:
        alice = homeserver.register_user("alice")
        assert alice == f"@alice:{server_name}"
        devices_path = f"/_synapse/admin/v2/users/{alice}/devices"
        status, before = homeserver.get(devices_path, homeserver.admin_token)
        assert status == 200
        status, body = homeserver.appservice_whoami(as_token, alice)
        assert (status, body.get("user_id")) == (200, alice)
        assert homeserver.sender_of_new_message(as_token, as_user=alice) == alice
        # No login happened, so alice has no new device (session) in her list.
        assert homeserver.get(devices_path, homeserver.admin_token) == (200, before)
        # Remote users are refused: the namespace is this server's only.
        status, _ = homeserver.appservice_whoami(as_token, "@alice:elsewhere.example")
        assert status == 403
        # check-config, on the very file Synapse runs with, has nothing to object to.
        assert cli.main(["check-config", str(homeserver.config_path)]) == 0
        out = capsys.readouterr().out
        assert f"  {path} (id 'doublepuppet'): double-puppet registration\n" in out
        assert "only bridges using the appservice method double-puppet here" in out
        assert as_token not in out


# -- check-config against what Synapse does with the same files ------------------------------------


def test_check_config_flags_what_synapse_loads_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each mistake in a file of its own; Synapse starts with all of them, check-config names
    each one."""
    exclusive = build_registration("test.local", "dp-exclusive")
    exclusive["namespaces"]["users"][0]["exclusive"] = True
    with_url = build_registration("test.local", "dp-url")
    with_url["url"] = "http://127.0.0.1:9/"
    rate_limited = build_registration("test.local", "dp-rate-limited")
    del rate_limited["rate_limited"]
    wrong_server = build_registration("test.local", "dp-wrong-server")
    wrong_server["namespaces"]["users"][0]["regex"] = r"@.*:matrix\.test\.local"
    unescaped = build_registration("test.local", "dp-unescaped")
    unescaped["namespaces"]["users"][0]["regex"] = "@.*:test.local"
    bridge = hand_written_registration(
        r"test\.local", id="bridge", url="http://127.0.0.1:9/", sender_localpart="bridgebot"
    )
    bridge["namespaces"]["users"].insert(0, {"regex": r"@bridge_.*:test\.local", "exclusive": True})
    files = {
        name: write_registration(tmp_path / f"{name}.yaml", registration)
        for name, registration in {
            "exclusive": exclusive,
            "url": with_url,
            "rate-limited": rate_limited,
            "wrong-server": wrong_server,
            "unescaped": unescaped,
            "bridge": bridge,
        }.items()
    }
    module = {"module": MODULE, "config": {"shared_secret": secrets.token_hex(32)}}
    with Homeserver([module], app_service_config_files=list(files.values())) as homeserver:
        # Synapse starts with every one of them, without a word; the exclusive namespace shows
        # only when someone tries to create an account.
        with pytest.raises(HomeserverError) as refused:
            homeserver.register_user("alice")
        assert refused.value.body.get("errcode") == "M_EXCLUSIVE"
        assert cli.main(["check-config", str(homeserver.config_path)]) == 1
        out = capsys.readouterr().out

    def finding(name: str, level: str) -> str:
        found = [line for line in out.splitlines() if line.startswith(f"{level}: {files[name]} ")]
        assert len(found) == 1, (name, out)
        return found[0]

    assert "namespaces.users[0].exclusive is true" in finding("exclusive", "error")
    assert "url is set ('http://127.0.0.1:9/'): Synapse pushes every event" in finding(
        "url", "warning"
    )
    assert "rate_limited is not false" in finding("rate-limited", "warning")
    assert r"does not match the users of this server (test.local), e.g. @alice:test.local" in (
        finding("wrong-server", "error")
    )
    assert "an unescaped '.'" in finding("unescaped", "warning")
    assert "catch-all user namespace (the deprecated" in finding("bridge", "warning")
    for registration in (exclusive, with_url, rate_limited, wrong_server, unescaped, bridge):
        assert registration["as_token"] not in out
        assert registration["hs_token"] not in out


def test_check_config_catches_a_reused_token_before_synapse_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = hand_written_registration(r"test\.local", id="bridge", url="http://127.0.0.1:9/")
    bridge["namespaces"]["users"] = [{"regex": r"@bridge_.*:test\.local", "exclusive": True}]
    copied = build_registration("test.local")
    copied["as_token"] = bridge["as_token"]  # the double-puppet file made from the bridge's
    paths = [
        write_registration(tmp_path / "bridge.yaml", bridge),
        write_registration(tmp_path / "doublepuppet.yaml", copied),
    ]
    error = Homeserver.start_expecting_failure(app_service_config_files=paths)
    # What Synapse does at its next restart: refuse, with the token in its log.
    assert "Cannot reuse as_token across application services" in error.output + error.log
    assert bridge["as_token"] in error.output + error.log

    out = failed_check_config(tmp_path, paths, capsys)
    assert (
        f"error: {paths[1]} and {paths[0]} have the same as_token: Synapse refuses to start"
    ) in out
    assert bridge["as_token"] not in out
    assert re.search(r"[0-9a-f]{64}", out) is None  # no token of either file


def test_check_config_catches_a_reused_id_before_synapse_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = hand_written_registration(r"test\.local", id="whatsapp", url="http://127.0.0.1:9/")
    bridge["namespaces"]["users"] = [{"regex": r"@whatsapp_.*:test\.local", "exclusive": True}]
    paths = [
        write_registration(tmp_path / "bridge.yaml", bridge),
        # `--id whatsapp` by mistake: the bridge's own id.
        write_registration(
            tmp_path / "doublepuppet.yaml", build_registration("test.local", "whatsapp")
        ),
    ]
    error = Homeserver.start_expecting_failure(app_service_config_files=paths)
    assert "Cannot reuse ID across application services: whatsapp" in error.output + error.log

    out = failed_check_config(tmp_path, paths, capsys)
    assert (
        f"error: {paths[1]} and {paths[0]} have the same id 'whatsapp': Synapse refuses to start"
        " with two registrations of one id"
    ) in out
    assert re.search(r"[0-9a-f]{64}", out) is None  # no token of either file


def test_check_config_catches_a_shared_hs_token_synapse_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = hand_written_registration(r"test\.local", id="bridge", url="http://127.0.0.1:9/")
    bridge["namespaces"]["users"] = [{"regex": r"@bridge_.*:test\.local", "exclusive": True}]
    copied = build_registration("test.local")
    copied["hs_token"] = bridge["hs_token"]  # the double-puppet file made from the bridge's
    paths = [
        write_registration(tmp_path / "bridge.yaml", bridge),
        write_registration(tmp_path / "doublepuppet.yaml", copied),
    ]
    module = {"module": MODULE, "config": {"shared_secret": secrets.token_hex(32)}}
    with Homeserver([module], app_service_config_files=paths) as homeserver:
        # Synapse runs with both, and each as_token is its own appservice's.
        alice = homeserver.register_user("alice")
        status, body = homeserver.appservice_whoami(copied["as_token"], alice)
        assert (status, body.get("user_id")) == (200, alice)
        assert cli.main(["check-config", str(homeserver.config_path)]) == 1
    out = capsys.readouterr().out
    assert (
        f"error: {paths[1]} and {paths[0]} have the same hs_token: Synapse accepts it, but each"
        " appservice could then pose as the homeserver to the other"
    ) in out
    assert bridge["hs_token"] not in out
    assert re.search(r"[0-9a-f]{64}", out) is None


def test_check_config_flags_the_module_under_oauth_delegation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The configuration Synapse refuses to start with is the one check-config flags."""
    secret = secrets.token_hex(32)
    module = {"module": MODULE, "config": {"shared_secret": secret}}
    homeserver = Homeserver([module], extra_config=oauth_delegation_config())
    try:
        with pytest.raises(StartupError):
            homeserver.start()
        assert cli.main(["check-config", str(homeserver.config_path)]) == 1
    finally:
        homeserver.close()
    out = capsys.readouterr().out
    assert (
        "error: modules[0]: synapse_dp_auth cannot run while auth is delegated to the Matrix"
        " Authentication Service (matrix_authentication_service.enabled): Synapse refuses to"
        " start with a password-auth module then. Remove this entry and double-puppet with the"
        " appservice method instead: `synapse_dp_auth appservice -c homeserver.yaml FILE`"
    ) in out
    assert secret not in out
