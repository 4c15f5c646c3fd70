"""``doctor --appservice`` and ``doctor --bridge-config`` against one real Synapse process that
loads registrations written by ``synapse_dp_auth appservice`` (run here as an admin would) and
this module, and bridges' own config files pointing at it. (The decisions on their own:
tests/unit/test_doctor_appservice.py.)
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import clean_environment, run_cli
from constants import MODULE, SECRET

from synapse_dp_auth.admin import cli
from synapse_dp_auth.admin.shared.credentials import AS_TOKEN_ENV
from testbed.homeserver import Homeserver

SERVER = "test.local"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


# -- on a real homeserver --------------------------------------------------------------------------


class Setup:
    """One Synapse with the module and two registrations: a right one, and one made for another
    server name (a user namespace that covers nobody here)."""

    def __init__(self, homeserver: Homeserver, directory: Path, right: str, wrong: str) -> None:
        self.homeserver = homeserver
        self.directory = directory
        self.right_token = right
        self.wrong_token = wrong
        self.alice = homeserver.register_user("alice")

    def token_file(self, token: str, name: str = "as_token") -> str:
        path = self.directory / f"{name}-{secrets.token_hex(4)}"
        path.write_text(f"{token}\n", encoding="utf-8")
        return str(path)


def _registration(directory: Path, server_name: str, registration_id: str) -> tuple[Path, str]:
    """``synapse_dp_auth appservice --server-name NAME --id ID FILE``, and the token it wrote."""
    import yaml

    path = directory / f"{registration_id}.yaml"
    argv = ["appservice", "--server-name", server_name, "--id", registration_id, str(path)]
    assert cli.main(argv) == 0
    registration = yaml.safe_load(path.read_text(encoding="utf-8"))
    return path, str(registration["as_token"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("appservice")
    right_path, right = _registration(directory, SERVER, "doublepuppet")
    wrong_path, wrong = _registration(directory, "other.example", "doublepuppet-other")
    module = {"module": MODULE, "config": {"shared_secret": SECRET}}
    with Homeserver([module], app_service_config_files=[right_path, wrong_path]) as homeserver:
        yield Setup(homeserver, directory, right, wrong)


def alice_devices(setup: Setup) -> list[str]:
    path = f"/_matrix/client/v3/devices?user_id={setup.alice}"
    status, body = setup.homeserver.get(path, setup.right_token)
    assert status == 200, body
    return sorted(device["device_id"] for device in body["devices"])


def test_doctor_appservice_passes(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    token_file = setup.token_file(setup.right_token)
    devices_before = alice_devices(setup)
    code, out, err = run_cli(
        capsys, "doctor", setup.homeserver.url, "--user", setup.alice, "--as-token-file", token_file
    )
    assert (code, err) == (0, "")
    assert f"ok    appservice method (as_token) for {setup.alice}" in out
    assert f"?user_id={setup.alice} with the as_token: HTTP 200: {setup.alice}" in out
    assert out.rstrip().endswith(f"Bridges with this as_token can double-puppet {setup.alice}.")
    assert setup.right_token not in out
    # Read-only: no device was created for alice.
    assert alice_devices(setup) == devices_before


def test_doctor_appservice_from_the_registration_file(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    registration = setup.directory / "doublepuppet.yaml"
    code, out, _ = run_cli(
        capsys,
        "doctor",
        setup.homeserver.url,
        "--user",
        setup.alice,
        "--as-token-file",
        str(registration),
    )
    assert code == 0, out


def test_doctor_appservice_unknown_token(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = secrets.token_hex(32)
    code, out, err = run_cli(
        capsys,
        "doctor",
        setup.homeserver.url,
        "--user",
        setup.alice,
        "--as-token-file",
        setup.token_file(unknown),
    )
    assert (code, err) == (1, "")
    assert "with the as_token: HTTP 401 M_UNKNOWN_TOKEN" in out
    assert "FAIL  appservice method (as_token)" in out
    assert "the server does not know this as_token" in out
    assert "fix: the registration is not loaded, or its as_token is not this one" in out
    assert "?user_id=" not in out  # nothing more to ask
    assert unknown not in out


def test_doctor_appservice_user_outside_namespace(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys,
        "doctor",
        setup.homeserver.url,
        "--user",
        setup.alice,
        "--as-token-file",
        setup.token_file(setup.wrong_token),
    )
    assert code == 1
    assert "HTTP 403 M_FORBIDDEN: Application service cannot masquerade" in out
    assert f"{setup.alice} is outside the user namespace" in out
    assert "exclusive: false" in out


def test_doctor_appservice_remote_user(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "doctor",
        setup.homeserver.url,
        "--user",
        "@alice:other.example",
        "--as-token-file",
        setup.token_file(setup.right_token),
    )
    assert code == 1
    assert "@alice:other.example is a user of another server" in out
    assert "this as_token belongs to test.local" in out


def test_doctor_appservice_no_such_user(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "doctor",
        setup.homeserver.url,
        "--user",
        "@nobody:test.local",
        "--as-token-file",
        setup.token_file(setup.right_token),
    )
    assert code == 1
    assert "the registration covers @nobody:test.local, but no such user exists" in out


def test_doctor_appservice_a_users_access_token(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """carol's own access token, checked for carol: whoami?user_id= would answer carol."""
    password = secrets.token_hex(16)
    carol = setup.homeserver.register_user(f"carol{secrets.token_hex(3)}", password=password)
    status, body = setup.homeserver.login(
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": carol},
            "password": password,
        }
    )
    assert status == 200, body
    access_token = str(body["access_token"])
    status, body = setup.homeserver.appservice_whoami(access_token, carol)
    assert (status, body.get("user_id")) == (200, carol)  # what would pass for success
    code, out, err = run_cli(
        capsys,
        "doctor",
        setup.homeserver.url,
        "--user",
        carol,
        "--as-token-file",
        setup.token_file(access_token),
    )
    assert (code, err) == (1, ""), out
    assert f"FAIL  appservice method (as_token) for {carol}" in out
    assert f"this is a user's access token (of {carol}, on a device), not an as_token" in out
    assert "fix: give the as_token of the double-puppet registration" in out
    assert "?user_id=" not in out.split("FAIL")[0]  # nothing more was asked
    assert access_token not in out


def test_doctor_appservice_token_from_the_environment(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AS_TOKEN_ENV, f"as_token:{setup.right_token}")
    code, out, _ = run_cli(
        capsys, "doctor", setup.homeserver.url, "--user", setup.alice, "--appservice"
    )
    assert code == 0, out


# -- --bridge-config on a real homeserver ----------------------------------------------------------


def bridgev2_config(url: str, secret: str) -> str:
    """A bridgev2 config as mautrix-go's example-config.yaml lays it out (trimmed)."""
    return (
        "bridge:\n    command_prefix: '!wa'\n    permissions:\n        test.local: user\n"
        "database:\n    type: sqlite3-fk-wal\n    uri: file:bridge.db?_txlock=immediate\n"
        f"homeserver:\n    address: {url}\n    domain: test.local\n    software: standard\n"
        "appservice:\n    id: whatsapp\n    as_token: bridge-own-as\n    hs_token: bridge-own-hs\n"
        "network:\n    os_name: test\n"
        "double_puppet:\n    servers: {}\n    allow_discovery: false\n"
        f"    secrets:\n        test.local: {json.dumps(secret)}\n"
    )


def legacy_config(url: str, secret: str, *, python: bool) -> str:
    """A legacy mautrix-go (database mapping) or mautrix-python (database string) config."""
    database = (
        "    database: sqlite:bridge.db\n    bot_username: bridgebot\n"
        if python
        else "    database:\n        type: sqlite3\n        uri: bridge.db\n"
        "    bot:\n        username: bridgebot\n"
    )
    return (
        f"homeserver:\n    address: {url}\n    domain: test.local\n"
        "appservice:\n    address: http://localhost:29300\n    port: 29300\n"
        f"{database}    id: bridge\n    as_token: bridge-own-as\n    hs_token: bridge-own-hs\n"
        "bridge:\n    double_puppet_server_map: {}\n"
        f"    login_shared_secret_map:\n        test.local: {json.dumps(secret)}\n"
    )


def bridge_file(setup: Setup, text: str) -> str:
    path = setup.directory / f"config-{secrets.token_hex(4)}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_bridge_config_bridgev2_with_as_token(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bridge_file(
        setup, bridgev2_config(setup.homeserver.url, f"as_token:{setup.right_token}")
    )
    code, out, err = run_cli(capsys, "doctor", "--bridge-config", path, "--user", setup.alice)
    assert (code, err) == (0, ""), out
    assert "kind: mautrix-go bridgev2" in out
    assert f"homeserver: {setup.homeserver.url} (homeserver.address)" in out
    assert 'secret for this user\'s server: double_puppet.secrets["test.local"] (not shown)' in out
    assert "double puppeting: the appservice method" in out
    assert f"ok    appservice method (as_token) for {setup.alice}" in out
    assert setup.right_token not in out


def test_bridge_config_bridgev2_with_a_plain_secret(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bridge_file(setup, bridgev2_config(setup.homeserver.url, SECRET))
    code, out, err = run_cli(capsys, "doctor", "--bridge-config", path, "--user", setup.alice)
    assert (code, err) == (1, "")
    assert "double puppeting: none: the bridge ignores this value" in out
    assert f"FAIL  mautrix-go bridgev2 double puppeting for {setup.alice}" in out
    assert 'this bridge ignores double_puppet.secrets["test.local"]' in out
    assert 'double_puppet.secrets: {"test.local": "as_token:<the registration\'s as_token>"}' in out
    assert "synapse_dp_auth appservice" in out
    assert SECRET[:12] not in out


@pytest.mark.parametrize(
    ("python", "family"), [(False, "mautrix-go-legacy"), (True, "mautrix-python")]
)
def test_bridge_config_legacy_shared_secret(
    setup: Setup, capsys: pytest.CaptureFixture[str], python: bool, family: str
) -> None:
    path = bridge_file(setup, legacy_config(setup.homeserver.url, SECRET, python=python))
    code, out, err = run_cli(capsys, "doctor", "--bridge-config", path, "--user", setup.alice)
    assert (code, err) == (0, ""), out
    assert "double puppeting: shared-secret login" in out
    assert f"Checking shared-secret login as {family} clients log in:" in out
    assert f"logged in as {setup.alice}, logged out" in out
    assert f"ok    {family}" in out
    assert "Every client family checked can log in." in out
    assert SECRET[:12] not in out


def test_bridge_config_legacy_wrong_secret(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "not the module's secret, but long enough: 0123456789"
    path = bridge_file(setup, legacy_config(setup.homeserver.url, wrong, python=True))
    code, out, _ = run_cli(capsys, "doctor", "--bridge-config", path, "--user", setup.alice)
    assert code == 1
    assert "FAIL  mautrix-python" in out
    assert wrong[:12] not in out


def test_bridge_config_legacy_as_token(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    text = legacy_config(setup.homeserver.url, f"as_token:{setup.right_token}", python=True)
    code, out, _ = run_cli(
        capsys, "doctor", "--bridge-config", bridge_file(setup, text), "--user", setup.alice
    )
    assert code == 0, out
    assert "kind: mautrix-python" in out
    assert f"ok    appservice method (as_token) for {setup.alice}" in out


def test_bridge_config_homeserver_url_override(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    text = bridgev2_config("http://127.0.0.1:9", f"as_token:{setup.right_token}")
    code, out, _ = run_cli(
        capsys,
        "doctor",
        setup.homeserver.url,
        "--bridge-config",
        bridge_file(setup, text),
        "--user",
        setup.alice,
    )
    assert code == 0, out
    assert f"Using {setup.homeserver.url} (HOMESERVER_URL) instead of homeserver.address." in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("server_name: test.local\n", "is not a config file of a bridge this command knows"),
        ("homeserver: [unclosed\n", "is not valid YAML"),
        (
            "homeserver:\n    domain: test.local\nappservice:\n    database: sqlite:x.db\n",
            "homeserver.address is missing",
        ),
    ],
)
def test_bridge_config_bad_files(
    setup: Setup, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = bridge_file(setup, text)
    code, out, err = run_cli(capsys, "doctor", "--bridge-config", path, "--user", setup.alice)
    assert (code, out) == (1, "")
    assert err.startswith(f"synapse_dp_auth doctor: error: {path}")
    assert message in err
    assert err.count("\n") == 1


def test_bridge_config_remote_user_without_an_address(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With discovery on, the bridge would find the address itself: this command asks for it."""
    text = (
        bridgev2_config("http://127.0.0.1:9", "as_token:tok123")
        .replace("        test.local: ", "        other.example: ")
        .replace("allow_discovery: false", "allow_discovery: true")
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    argv = ["doctor", "--bridge-config", str(path), "--user", "@bob:other.example"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert err.startswith(
        f"synapse_dp_auth doctor: error: {path}: other.example is not this bridge's server"
        " (test.local, homeserver.domain)"
    )
    assert "Give HOMESERVER_URL" in err
    assert "tok123" not in out + err


def test_bridge_config_server_the_bridge_refuses(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bridge's own server is another one, test.local is not in double_puppet.servers and
    discovery is off: the bridge refuses test.local's users (doublepuppet.go: "double puppeting
    from ... is not allowed"), even though the as_token works on the server HOMESERVER_URL names.
    """
    text = bridgev2_config("http://127.0.0.1:9", f"as_token:{setup.right_token}").replace(
        "    domain: test.local\n", "    domain: bridge.example\n"
    )
    path = bridge_file(setup, text)
    argv = ["doctor", setup.homeserver.url, "--bridge-config", path, "--user", setup.alice]
    code, out, err = run_cli(capsys, *argv)
    assert (code, err) == (1, ""), out
    assert "double puppeting: none: the bridge does not double-puppet users of this server" in out
    assert f"FAIL  mautrix-go bridgev2 double puppeting for {setup.alice}" in out
    assert (
        "test.local is not this bridge's server (bridge.example, homeserver.domain) and not in"
        " double_puppet.servers, and discovery is off"
    ) in out
    assert "fix: add test.local with its homeserver's URL to double_puppet.servers" in out
    assert "whoami" not in out  # nothing is asked: the bridge would not get that far
    assert setup.right_token not in out


@pytest.mark.parametrize("python", [False, True])
def test_bridge_config_space_after_the_prefix(
    setup: Setup, capsys: pytest.CaptureFixture[str], python: bool
) -> None:
    """`as_token: <token>`: bridges remove only the prefix, and Synapse reads the header
    "Bearer  <token>" (two spaces) as no token at all."""
    status, body = setup.homeserver.whoami(f" {setup.right_token}")
    assert (status, body.get("errcode")) == (401, "M_MISSING_TOKEN")
    secret = f"as_token: {setup.right_token}"
    text = (
        legacy_config(setup.homeserver.url, secret, python=True)
        if python
        else bridgev2_config(setup.homeserver.url, secret)
    )
    path = bridge_file(setup, text)
    code, out, err = run_cli(capsys, "doctor", "--bridge-config", path, "--user", setup.alice)
    assert (code, err) == (1, ""), out
    assert "double puppeting: none: the bridge cannot use this value as written" in out
    assert "fix: remove the space after `as_token:`" in out
    assert setup.right_token not in out
