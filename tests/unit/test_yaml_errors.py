"""A YAML file that does not parse is reported by file, line and column, and never by any piece of
its content: PyYAML's messages quote alias and tag names and the characters it stumbled on, and any
of them may be (part of) a shared secret or a token.

Each command that reads YAML an admin wrote is run on each such file: ``check-config`` on
homeserver.yaml and on a registration it lists, ``appservice -c``, and ``doctor --bridge-config``.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from cli_support import clean_environment, run_cli

from synapse_dp_auth.admin.shared import files

#: (a line of YAML that PyYAML refuses, the piece of it that must never be printed)
BROKEN = [
    pytest.param("*Sup3rS3cretAlias", "Sup3rS3cretAlias", id="undefined alias"),
    pytest.param("!Sup3rS3cretTag x", "Sup3rS3cretTag", id="unknown tag"),
    pytest.param('"abc\\žSECRET"', "ž", id="unknown escape"),
    pytest.param("&Sup3rAnchor a\nother: &Sup3rAnchor b", "Sup3rAnchor", id="duplicate anchor"),
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


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


# -- the one reader behind them --------------------------------------------------------------------


def test_read_text_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "homeserver.yaml"
    path.write_bytes(b"\xef\xbb\xbfserver_name: example.org\n")
    assert files.read_text(str(path)) == (str(path), "server_name: example.org\n")
    assert files.read_yaml(str(path)) == {"server_name": "example.org"}


def test_dash_is_stdin_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufefffrom stdin\n"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_text("from a file named -\n", encoding="utf-8")
    assert files.read_text("-") == ("-", "from a file named -\n")
    assert files.read_text("-", dash_is_stdin=True) == ("stdin", "from stdin\n")


def test_read_errors_name_the_file_only(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"Sup3r\xffS3cret\n")
    with pytest.raises(files.SourceError) as caught:
        files.read_text(str(path))
    assert str(caught.value) == f"cannot read {path}: not valid UTF-8"
    with pytest.raises(files.SourceError, match=r"cannot read .*nope: No such file"):
        files.read_text(str(tmp_path / "nope"))
