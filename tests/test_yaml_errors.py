"""A YAML file that does not parse is reported by file, line and column, and never by any piece of
its content: PyYAML's messages quote alias and tag names and the characters it stumbled on, and any
of them may be (part of) a shared secret or a token.

Each command that reads YAML an admin wrote is run on each such file: ``check-config`` on
homeserver.yaml and on a registration it lists, ``appservice -c``, and ``doctor --bridge-config``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synapse_dp_auth.admin import cli

#: (a line of YAML that PyYAML refuses, the piece of it that must never be printed)
BROKEN = [
    pytest.param("*Sup3rS3cretAlias", "Sup3rS3cretAlias", id="undefined alias"),
    pytest.param("!Sup3rS3cretTag x", "Sup3rS3cretTag", id="unknown tag"),
    pytest.param('"abc\\žSECRET"', "ž", id="unknown escape"),
    pytest.param("&Sup3rAnchor a\nother: &Sup3rAnchor b", "Sup3rAnchor", id="duplicate anchor"),
]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize(("value", "hidden"), BROKEN)
def test_check_config_homeserver_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, hidden: str
) -> None:
    path = tmp_path / "homeserver.yaml"
    path.write_text(
        "server_name: example.org\nmodules:\n  - module: synapse_dp_auth.SharedSecretAuthProvider\n"
        f"    config:\n      shared_secret: {value}\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "check-config", str(path))
    assert (code, out) == (1, "")
    assert f"{path} is not valid YAML: " in err
    assert "(line 5, column" in err
    assert hidden not in err


@pytest.mark.parametrize(("value", "hidden"), BROKEN)
def test_check_config_registration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, hidden: str
) -> None:
    registration = tmp_path / "dp.yaml"
    registration.write_text(f"id: doublepuppet\nas_token: {value}\n", encoding="utf-8")
    config = tmp_path / "homeserver.yaml"
    config.write_text(
        f"server_name: example.org\napp_service_config_files: [{registration}]\n", "utf-8"
    )
    code, out, err = run_cli(capsys, "check-config", str(config))
    assert code == 1
    assert f"error: {registration} is not valid YAML: " in out
    assert "(line 2, column" in out
    assert hidden not in out + err


@pytest.mark.parametrize(("value", "hidden"), BROKEN)
def test_appservice_homeserver_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, hidden: str
) -> None:
    config = tmp_path / "homeserver.yaml"
    config.write_text(f"server_name: example.org\nmacaroon_secret_key: {value}\n", "utf-8")
    code, out, err = run_cli(capsys, "appservice", "-c", str(config), str(tmp_path / "dp.yaml"))
    assert code != 0
    assert f"{config} is not valid YAML: " in err
    assert hidden not in out + err
    assert not (tmp_path / "dp.yaml").exists()


@pytest.mark.parametrize(("value", "hidden"), BROKEN)
def test_doctor_bridge_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, hidden: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "homeserver:\n  address: http://127.0.0.1:9\n  domain: example.org\n"
        "appservice:\n  database: sqlite:x.db\n"
        f"bridge:\n  login_shared_secret_map:\n    example.org: {value}\n",
        encoding="utf-8",
    )
    argv = ["doctor", "--bridge-config", str(path), "--user", "@alice:example.org"]
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (1, "")
    assert f"{path} is not valid YAML: " in err
    assert "(line 8, column" in err
    assert hidden not in err
