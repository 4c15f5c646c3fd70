"""check-config's regex advice on a real Synapse: pasted as printed into the registration of
``mdad-homeserver-hostpaths.yaml`` (tests/fixtures/bridge_configs/homeserver/, restating
``mdad-double-puppet-registration.yaml``: matrix-docker-ansible-deploy @ c0681e4bc2d5
``roles/custom/matrix-appservice-double-puppet/templates/registration.yaml.j2``, written with
to_nice_yaml, so the regex is single-quoted), Synapse lets the registration's as_token act for
``@alice:example.com``. The Python repr check-config printed before (backslash doubled) does not."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from constants import REPO_ROOT

from synapse_dp_auth.admin import cli
from testbed.homeserver import Homeserver

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "bridge_configs" / "homeserver"
REGISTRATION = "mdad-double-puppet-registration.yaml"
#: The fixture's regex line, as to_nice_yaml writes it.
FIXTURE_REGEX_LINE = "    regex: '@.*:example\\.com'\n"


def with_regex(directory: Path, yaml_scalar: str) -> Path:
    """The fixture registration with its regex replaced by ``yaml_scalar``, pasted as is."""
    text = (FIXTURES / REGISTRATION).read_text("utf-8")
    assert FIXTURE_REGEX_LINE in text
    path = directory / f"pasted-{len(list(directory.glob('pasted-*')))}.yaml"
    path.write_text(text.replace(FIXTURE_REGEX_LINE, f"    regex: {yaml_scalar}\n"), "utf-8")
    return path


def test_the_printed_regex_pasted_makes_synapse_accept_the_as_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(FIXTURES, tmp_path / "homeserver")
    monkeypatch.chdir(tmp_path / "homeserver")
    assert cli.main(["check-config", "mdad-homeserver-hostpaths.yaml"]) == 0
    advice = re.search(r"write regex: ('[^']*')", capsys.readouterr().out)
    assert advice is not None
    pasted = with_regex(tmp_path, advice.group(1))
    as_token = yaml.safe_load(pasted.read_text("utf-8"))["as_token"]

    with Homeserver(server_name="example.com", app_service_config_files=[pasted]) as homeserver:
        alice = homeserver.register_user("alice")
        assert alice == "@alice:example.com"
        status, body = homeserver.appservice_whoami(as_token, alice)
        assert (status, body.get("user_id")) == (200, alice)

        # The old advice, a Python repr pasted into the same single quotes, matches a literal
        # backslash: Synapse refuses the token for alice.
        homeserver.restart(
            app_service_config_files=[with_regex(tmp_path, "'@.*:example\\\\.com$'")]
        )
        status, _ = homeserver.appservice_whoami(as_token, alice)
        assert status != 200
