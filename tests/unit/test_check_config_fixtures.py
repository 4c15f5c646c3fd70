"""check-config on the homeserver configs admins really have: the "Homeserver fixtures
(check-config)" table of tests/fixtures/bridge_configs/README.md, fixture by fixture.

The fixtures restate (each header names the file, commit and lines):
- ``mdad-homeserver.yaml``, ``mdad-homeserver-appservice-only.yaml``: matrix-docker-ansible-deploy
  (MDAD) @ c0681e4bc2d5 ``roles/custom/matrix-synapse/templates/synapse/homeserver.yaml.j2`` with
  the registration paths of ``group_vars/matrix_servers`` 185-248 (paths inside Synapse's
  container);
- ``mdad-double-puppet-registration.yaml`` (listed by ``mdad-homeserver-hostpaths.yaml``): MDAD @
  c0681e4bc2d5 ``roles/custom/matrix-appservice-double-puppet/templates/registration.yaml.j2``;
- ``docs-registration-placeholders.yaml`` (listed by ``homeserver-docs-placeholders.yaml``) and
  ``registration-regex-too-wide.yaml``: mautrix/docs ``bridges/general/double-puppeting.md`` @
  b44236a6f947, lines 47-69.

Relative registration paths are read from the current directory, as Synapse does: each test runs
in a copy of the fixture directory.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from cli_support import clean_environment, run_cli
from constants import REPO_ROOT

from synapse_dp_auth.admin.check_config.path_map import (
    MDAD_DOUBLE_PUPPET_MOUNT,
    PathMapping,
    map_path,
)

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "bridge_configs" / "homeserver"
#: The module's shared secret in every fixture (never printed).
FIXTURE_SECRET = "fixture-shared-secret-3f8a1c9e7b52"
#: The registrations' tokens (never printed).
FIXTURE_TOKENS = (
    "6f1c2a9e-4b7d-5e3a-8c21-9d0e4f7a3b15",
    "3e2f1a0b-9c8d-5e7f-8a6b-5c4d3e2f1a0b",
    "8c7d6e5f-4a3b-5c2d-9e1f-0a9b8c7d6e5f",
)
MDAD_CONTAINER_PATHS = (
    "/matrix-appservice-double-puppet-registration.yaml",
    "/matrix-mautrix-googlechat-registration.yaml",
    "/matrix-mautrix-whatsapp-registration.yaml",
)


@pytest.fixture(autouse=True)
def _in_a_copy_of_the_fixtures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)
    shutil.copytree(FIXTURES, tmp_path / "homeserver")
    monkeypatch.chdir(tmp_path / "homeserver")


def check_config(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code, out, err = run_cli(capsys, "check-config", *argv)
    assert err == ""
    for secret in (FIXTURE_SECRET, *FIXTURE_TOKENS):
        assert secret not in out
    return code, out


def findings(out: str, level: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"{level}: ")]


def pasted_regex(text: str) -> str:
    """The regex a registration holds after the printed advice is pasted into it as printed
    (``regex: '...'``, the single-quoted YAML of MDAD's and mautrix's registrations)."""
    advice = re.search(r"write (regex: '[^']*')", text)
    assert advice is not None, text
    loaded = yaml.safe_load(advice.group(1))
    assert isinstance(loaded, dict)
    return str(loaded["regex"])


def assert_matches_only_this_server(regex: str) -> None:
    """As Synapse matches a namespace (``re.match`` on the user ID)."""
    assert re.match(regex, "@alice:example.com")
    assert not re.match(regex, "@alice:example.org")
    assert not re.match(regex, "@alice:exampleXcom")
    assert not re.match(regex, "@alice:example.com.evil.example")


def test_mdad_homeserver_one_finding_for_the_container_paths(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``mdad-homeserver.yaml`` (MDAD @ c0681e4bc2d5 ``homeserver.yaml.j2``, devture's module from
    ``tasks/ext/shared-secret-auth/setup_install.yml``), checked on the host."""
    code, out = check_config(capsys, "mdad-homeserver.yaml")
    assert code == 1
    [error] = findings(out, "error")
    assert findings(out, "warning") == []
    assert "do not exist here: " + ", ".join(MDAD_CONTAINER_PATHS) in error
    assert "They may be paths inside Synapse's container" in error
    assert (
        "matrix-docker-ansible-deploy mounts /matrix/appservice-double-puppet/config/registration"
        ".yaml as /matrix-appservice-double-puppet-registration.yaml"
    ) in error
    assert "run check-config inside that container" in error
    assert f"--path-map {MDAD_DOUBLE_PUPPET_MOUNT[0]}={MDAD_DOUBLE_PUPPET_MOUNT[1]}" in error
    # devture's module serves shared-secret logins: migration advice only.
    assert (
        "note: modules[0]: devture's shared_secret_authenticator.SharedSecretAuthProvider serves"
        " the bridges' shared-secret logins here. To migrate, change its module: to"
        " synapse_dp_auth.SharedSecretAuthProvider"
    ) in out
    assert "not configured" not in out
    assert "no double-puppet registration is listed" not in out
    assert "only bridges using the appservice method" not in out
    assert "no double-puppet registration among those checked; 3 listed files could not be" in out


def test_mdad_appservice_only_one_finding_and_no_other_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``mdad-homeserver-appservice-only.yaml`` (MDAD @ c0681e4bc2d5: ``modules: []``, the
    double-puppet appservice on by default): an appservice-only server is a valid set-up."""
    code, out = check_config(capsys, "mdad-homeserver-appservice-only.yaml")
    assert code == 1
    [error] = findings(out, "error")
    assert findings(out, "warning") == []
    assert error.startswith(
        "error: not checked: 2 files listed in app_service_config_files do not exist here:"
        f" {MDAD_CONTAINER_PATHS[0]}, {MDAD_CONTAINER_PATHS[2]}."
    )
    assert "--path-map CONTAINER_PREFIX=HOST_PREFIX" in error
    assert "not configured" not in out
    assert "no double-puppet registration is listed" not in out


def test_mdad_homeserver_with_the_path_mapped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``mdad-homeserver.yaml`` with ``--path-map`` for the double-puppet registration (at
    MDAD's host path under tmp_path): it is read and found; the unmapped bridges' paths stay one
    finding, naming where the mapped one was looked for."""
    host_dir = tmp_path / "matrix" / "appservice-double-puppet" / "config"
    host_dir.mkdir(parents=True)
    shutil.copy(FIXTURES / "mdad-double-puppet-registration.yaml", host_dir / "registration.yaml")
    mapping = f"{MDAD_DOUBLE_PUPPET_MOUNT[0]}={host_dir / 'registration.yaml'}"
    code, out = check_config(capsys, "mdad-homeserver.yaml", "--path-map", mapping)
    assert code == 1
    [error] = findings(out, "error")
    assert (
        "2 files listed in app_service_config_files do not exist here:"
        f" {MDAD_CONTAINER_PATHS[1]}, {MDAD_CONTAINER_PATHS[2]}. They may be"
    ) in error
    assert f"  {MDAD_CONTAINER_PATHS[0]} (id 'double-puppet'): double-puppet registration" in out
    assert "could not be checked" not in out  # a double-puppet registration was found

    # A directory prefix maps every path under it; the mapped path is named when it is missing.
    code, out = check_config(
        capsys, "mdad-homeserver.yaml", "--path-map", f"/={tmp_path / 'nowhere'}"
    )
    [error] = findings(out, "error")
    mapped = tmp_path / "nowhere" / MDAD_CONTAINER_PATHS[0][1:]
    assert f"{MDAD_CONTAINER_PATHS[0]} (mapped to {mapped})" in error


def test_mdad_hostpaths_valid_and_pasteable_regex(capsys: pytest.CaptureFixture[str]) -> None:
    """``mdad-homeserver-hostpaths.yaml`` with ``mdad-double-puppet-registration.yaml`` (MDAD @
    c0681e4bc2d5 ``registration.yaml.j2``, to_nice_yaml: the regex single-quoted, no ``$``)."""
    code, out = check_config(capsys, "mdad-homeserver-hostpaths.yaml")
    assert code == 0
    assert findings(out, "error") == findings(out, "warning") == []
    assert "only bridges using the appservice method" not in out
    assert "not configured" not in out
    [advice] = [line for line in out.splitlines() if "also matches longer server names" in line]
    # The registration's regex as it stands in the file, then the advice as it pastes.
    assert "namespaces.users[0].regex '@.*:example\\.com' also matches" in advice
    assert "write regex: '@.*:example\\.com$' (as printed, in single quotes;" in advice
    assert 'in double quotes each backslash is doubled: "@.*:example\\\\.com$"' in advice
    assert_matches_only_this_server(pasted_regex(advice))


def test_regex_too_wide_warns_with_pasteable_advice(capsys: pytest.CaptureFixture[str]) -> None:
    """``homeserver-regex-too-wide.yaml`` + ``registration-regex-too-wide.yaml`` (mautrix/docs
    ``bridges/general/double-puppeting.md`` @ b44236a6f947 47-69, the server name left out)."""
    code, out = check_config(capsys, "homeserver-regex-too-wide.yaml")
    assert code == 0
    [warning] = findings(out, "warning")
    assert "namespaces.users[0].regex '@.*' matches the users of every server" in warning
    regex = pasted_regex(warning)
    assert_matches_only_this_server(regex)
    # Pasted into the fixture itself (single-quoted YAML, as it is written), and loaded again.
    registration = Path("registration-regex-too-wide.yaml")
    advice = re.search(r"write regex: ('[^']*')", warning)
    assert advice is not None
    registration.write_text(
        registration.read_text("utf-8").replace("'@.*'", advice.group(1)), "utf-8"
    )
    assert_matches_only_this_server(
        yaml.safe_load(registration.read_text("utf-8"))["namespaces"]["users"][0]["regex"]
    )
    code, out = check_config(capsys, "homeserver-regex-too-wide.yaml")
    assert code == 0
    assert findings(out, "warning") == []
    assert "namespaces.users" not in out


def test_docs_placeholders_said_instead_of_generic_findings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``homeserver-docs-placeholders.yaml`` + ``docs-registration-placeholders.yaml`` (mautrix/docs
    ``bridges/general/double-puppeting.md`` @ b44236a6f947 47-69, pasted unedited)."""
    code, out = check_config(capsys, "homeserver-docs-placeholders.yaml")
    assert code == 1
    [error] = findings(out, "error")
    assert error.startswith(
        "error: docs-registration-placeholders.yaml still holds the placeholders of mautrix's"
        " docs (as_token: random string, hs_token: random string, sender_localpart: random"
        " string, namespaces.users[0].regex names your\\.domain)"
    )
    assert "sender_localpart may hold only" not in out
    assert "no double-puppet registration is listed" not in out
    assert "1 listed file could not be checked" in out


def test_path_mapping_prefixes() -> None:
    mappings = [
        PathMapping("/data", "/matrix/synapse/config"),
        PathMapping("/data/dp.yaml", "/srv/dp.yaml"),
    ]
    assert map_path("/data/wa.yaml", mappings) == "/matrix/synapse/config/wa.yaml"
    assert map_path("/data/dp.yaml", mappings) == "/srv/dp.yaml"  # the longest prefix wins
    assert map_path("/database.yaml", mappings) == "/database.yaml"  # not a directory prefix
    assert map_path("relative.yaml", mappings) == "relative.yaml"


@pytest.mark.parametrize(
    ("argument", "expected"),
    [("no-equals-sign", "is not CONTAINER_PREFIX=HOST_PREFIX"), ("data=/x", "absolute path")],
)
def test_path_map_argument_refused(
    capsys: pytest.CaptureFixture[str], argument: str, expected: str
) -> None:
    code, out, err = run_cli(capsys, "check-config", "mdad-homeserver.yaml", "--path-map", argument)
    assert (code, out) == (2, "")
    assert expected in err
