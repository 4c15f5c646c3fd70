"""``synapse_dp_auth appservice``: the file it writes, what it prints, and every user mistake.

What Synapse makes of the output is tested on real homeservers in ``test_e2e_appservice.py``;
``check-config``'s reading of registrations on real files is at the end of this file.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_support import run_cli
from cli_support import yaml_block as snippet
from constants import MODULE, REPO_ROOT, SECRET

from synapse_dp_auth.admin.appservice.registration import build_registration
from synapse_dp_auth.admin.shared.families import EVERY_FAMILY

PYTHON_M = [sys.executable, "-X", "importtime", "-m", "synapse_dp_auth"]


def as_token_in(output: str, setting: str, server_name: str) -> str:
    """The bridge setting ``setting`` (dotted) from the output, for ``server_name``."""
    keys = setting.split(".")
    value: Any = snippet(output, f"{keys[0]}:")
    for key in keys:
        value = value[key]
    secret = value[server_name]
    assert secret.startswith("as_token:")
    return str(secret.removeprefix("as_token:"))


# -- the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize("server_name", ["example.org", "example.org:8448", "[2001:db8::1]:8448"])
def test_writes_the_registration_and_prints_the_next_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server_name: str
) -> None:
    path = tmp_path / "doublepuppet.yaml"
    code, out, err = run_cli(capsys, "appservice", "--server-name", server_name, str(path))
    assert (code, err) == (0, "")

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    registration = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert registration["id"] == "doublepuppet"
    assert registration["url"] is None
    assert registration["rate_limited"] is False
    assert registration["namespaces"]["users"] == [
        {"regex": "@.*:" + re.escape(server_name) + "$", "exclusive": False}
    ]

    assert snippet(out, "app_service_config_files:") == {
        "app_service_config_files": [str(path.resolve())]
    }
    for family in EVERY_FAMILY:
        assert family.name in out
        if family.appservice_setting is not None:
            token = as_token_in(out, family.appservice_setting, server_name)
            assert token == registration["as_token"]
    assert out.count(registration["as_token"]) == 3  # bridgev2, mautrix-python, legacy Go
    assert registration["hs_token"] not in out
    staying = out.split("3. These cannot use the appservice method")[1]
    for name in ("mx-puppet-bridge", "matrix-corporal", "mautrix-go-bots"):
        assert f"- {name}:" in staying
    assert "legacy Python signal bridge" in out


def test_tokens_differ_on_every_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = set()
    for name in ("one.yaml", "two.yaml"):
        code, _, _ = run_cli(
            capsys, "appservice", "--server-name", "example.org", str(tmp_path / name)
        )
        assert code == 0
        registration = yaml.safe_load((tmp_path / name).read_text(encoding="utf-8"))
        tokens |= {registration[k] for k in ("as_token", "hs_token", "sender_localpart")}
    assert len(tokens) == 6


def test_id_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dp.yaml"
    code, out, _ = run_cli(
        capsys, "appservice", "--server-name", "example.org", "--id", "dp-2", str(path)
    )
    assert code == 0
    assert "(id dp-2)" in out
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["id"] == "dp-2"


def test_server_name_from_homeserver_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "homeserver.yaml"
    config.write_text("server_name: 'example.org:8448'\nreport_stats: false\n", encoding="utf-8")
    path = tmp_path / "dp.yaml"
    code, out, err = run_cli(capsys, "appservice", "-c", str(config), str(path))
    assert (code, err) == (0, "")
    registration = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert registration["namespaces"]["users"][0]["regex"] == r"@.*:example\.org:8448$"
    assert as_token_in(out, "double_puppet.secrets", "example.org:8448") == registration["as_token"]
    assert out.endswith(f"    synapse_dp_auth check-config {config}\n")


def test_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dp.yaml"
    path.write_text("id: the-one-synapse-loads\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "appservice", "--server-name", "example.org", str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"synapse_dp_auth appservice: error: {path} already exists:")
    assert err.count("\n") == 1
    assert path.read_text(encoding="utf-8") == "id: the-one-synapse-loads\n"


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "missing" / "dp.yaml"
    code, out, err = run_cli(capsys, "appservice", "--server-name", "example.org", str(path))
    assert (code, out) == (1, "")
    assert err == (
        f"synapse_dp_auth appservice: error: cannot write {path}: the directory"
        f" {tmp_path / 'missing'} does not exist\n"
    )


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("::1", "an IPv6 literal goes in brackets"),
        ("2001:db8::1", "an IPv6 literal goes in brackets"),
        ("example.org:99999", "port 99999 is not between 1 and 65535"),
        ("https://example.org", "is not a Matrix server name"),
        ("@alice:example.org", "is not a Matrix server name"),
    ],
)
def test_bad_server_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server_name: str, expected: str
) -> None:
    path = tmp_path / "dp.yaml"
    code, out, err = run_cli(capsys, "appservice", "--server-name", server_name, str(path))
    assert (code, out) == (2, "")
    assert "argument --server-name:" in err
    assert expected in err
    assert not path.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("report_stats: false\n", "{config}: server_name is missing (give --server-name instead)"),
        ("server_name: 8448\n", "{config}: server_name must be a string, not int"),
        ("server_name: '::1'\n", "{config}: server_name: '::1': an IPv6 literal goes in brackets"),
        ("server_name: 'a.org'\nkey: [unclosed\n", "{config} is not valid YAML: "),
        ("- a\n- list\n", "{config} does not hold a mapping of settings"),
    ],
)
def test_bad_homeserver_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    config = tmp_path / "homeserver.yaml"
    config.write_text(text, encoding="utf-8")
    path = tmp_path / "dp.yaml"
    code, out, err = run_cli(capsys, "appservice", "-c", str(config), str(path))
    assert (code, out) == (1, "")
    assert err.startswith("synapse_dp_auth appservice: error: " + expected.format(config=config))
    assert err.count("\n") == 1
    assert not path.exists()


def test_unreadable_homeserver_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "nope.yaml"
    code, _, err = run_cli(capsys, "appservice", "-c", str(config), str(tmp_path / "dp.yaml"))
    assert code == 1
    assert (
        err
        == f"synapse_dp_auth appservice: error: cannot read {config}: No such file or directory\n"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["appservice", "dp.yaml"],  # neither --server-name nor -c
        ["appservice", "--server-name", "a.org", "-c", "homeserver.yaml", "dp.yaml"],
        ["appservice", "--server-name", "a.org"],  # no FILE
        ["appservice", "--server-name", "a.org", "--as-token", "x", "dp.yaml"],
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert "usage: synapse_dp_auth" in err  # unknown options: the top-level usage
    assert err.count("error:") == 1


@pytest.mark.parametrize("file", ["", "  "])
def test_empty_file_argument(capsys: pytest.CaptureFixture[str], file: str) -> None:
    """Not '. already exists': an empty path is a usage error."""
    code, out, err = run_cli(capsys, "appservice", "--server-name", "a.org", file)
    assert (code, out) == (2, "")
    assert "argument FILE: the path is empty: give the file to write" in err


def test_bad_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dp.yaml"
    code, _, err = run_cli(capsys, "appservice", "--server-name", "a.org", "--id", "a b", str(path))
    assert code == 2  # a usage error, as an invalid --server-name is
    assert "argument --id: 'a b': use 1 to 64 letters" in err
    assert not path.exists()


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "appservice", "--help")
    assert code == 0
    assert "--server-name NAME" in out
    assert "-c CONFIG, --config CONFIG" in out
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    assert "appservice" in out


def test_runs_without_importing_synapse(tmp_path: Path) -> None:
    path = tmp_path / "dp.yaml"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and module
        [*PYTHON_M, "appservice", "--server-name", "example.org", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO_ROOT,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    imported = {
        line.rpartition("|")[2].strip()
        for line in completed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "synapse_dp_auth.admin.appservice.next_steps" in imported
    assert not [m for m in imported if m == "synapse" or m.startswith("synapse.")]


# -- check-config reads the registrations (real files) ---------------------------------------------


def homeserver_yaml(directory: Path, registrations: list[Path], extra: str = "") -> str:
    listed = "".join(f"  - {path}\n" for path in registrations)
    text = (
        "server_name: example.org\n"
        f"modules:\n  - module: {MODULE}\n    config:\n      shared_secret: '{SECRET}'\n"
        f"app_service_config_files:\n{listed}{extra}"
    )
    path = directory / "homeserver.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def write_yaml(path: Path, content: Any) -> Path:
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def test_check_config_generated_registration_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dp.yaml"
    assert run_cli(capsys, "appservice", "--server-name", "example.org", str(path))[0] == 0
    code, out, _ = run_cli(capsys, "check-config", homeserver_yaml(tmp_path, [path]))
    assert code == 0
    assert f"  {path} (id 'doublepuppet'): double-puppet registration\n" in out
    assert out.endswith("Valid, with 0 warning(s).\n")
    as_token = yaml.safe_load(path.read_text(encoding="utf-8"))["as_token"]
    assert as_token not in out


def test_check_config_module_and_mas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = "matrix_authentication_service:\n  enabled: true\n  secret: x\n"
    code, out, _ = run_cli(capsys, "check-config", homeserver_yaml(tmp_path, [], extra))
    assert code == 1
    assert (
        "error: modules[0]: synapse_dp_auth cannot run while auth is delegated to the Matrix"
        " Authentication Service"
    ) in out
    assert "`synapse_dp_auth appservice -c homeserver.yaml FILE`" in out


def test_check_config_mas_without_any_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "homeserver.yaml"
    config.write_text(
        "server_name: example.org\nmatrix_authentication_service:\n  enabled: true\n", "utf-8"
    )
    code, out, _ = run_cli(capsys, "check-config", str(config))
    assert code == 0  # a valid homeserver config; only double puppeting is missing
    assert (
        "warning: no bridge can double-puppet here: auth is delegated to the Matrix"
        " Authentication Service, where synapse_dp_auth cannot run, and no double-puppet"
        " registration is listed in app_service_config_files: `synapse_dp_auth appservice -c"
        " homeserver.yaml FILE` writes one"
    ) in out
    assert "only bridges using the appservice method double-puppet here" not in out


def test_check_config_appservice_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without the module, a double-puppet registration alone is a valid set-up."""
    path = write_yaml(tmp_path / "dp.yaml", build_registration("example.org"))
    config = tmp_path / "homeserver.yaml"
    config.write_text(f"server_name: example.org\napp_service_config_files: [{path}]\n", "utf-8")
    code, out, _ = run_cli(capsys, "check-config", str(config))
    assert code == 0
    assert "only bridges using the appservice method double-puppet here" in out
    assert "error: synapse_dp_auth is not configured" not in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: x\nas_token: [unclosed\n", "{path} is not valid YAML: "),
        (b"id: \xff\n", "cannot read {path}: not valid UTF-8"),
        ("- a list\n", "{path} does not hold a registration"),
        ("id: x\nurl: null\n", "{path}: as_token is missing or not a string"),
    ],
)
def test_check_config_unreadable_or_malformed_registration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, expected: str
) -> None:
    path = tmp_path / "dp.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    code, out, _ = run_cli(capsys, "check-config", homeserver_yaml(tmp_path, [path]))
    assert code == 1
    assert f"error: {expected.format(path=path)}" in out


def test_check_config_missing_registration_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(
        capsys, "check-config", homeserver_yaml(tmp_path, [Path("relative/dp.yaml")])
    )
    assert code == 1
    assert (
        "error: cannot read relative/dp.yaml: No such file or directory (a relative path:"
        " Synapse reads it from its working directory)"
    ) in out


def test_check_config_app_service_config_files_not_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = homeserver_yaml(tmp_path, [])
    Path(config).write_text(
        Path(config).read_text(encoding="utf-8") + "  dp.yaml: true\n", encoding="utf-8"
    )
    code, out, _ = run_cli(capsys, "check-config", config)
    assert code == 1
    assert f"error: app_service_config_files (in {config}) must be a list of file names" in out


@pytest.mark.parametrize(
    ("server_name_line", "expected"),
    [
        ("", "error: {config}: server_name is missing: the registrations cannot be checked"),
        ("server_name: '::1'\n", "an IPv6 literal goes in brackets"),
    ],
)
def test_check_config_registrations_need_a_valid_server_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server_name_line: str, expected: str
) -> None:
    path = write_yaml(tmp_path / "dp.yaml", build_registration("example.org"))
    config = tmp_path / "homeserver.yaml"
    config.write_text(f"{server_name_line}app_service_config_files: [{path}]\n", "utf-8")
    code, out, _ = run_cli(capsys, "check-config", str(config))
    assert code == 1
    assert expected.format(config=config) in out
    assert "the registrations cannot be checked" in out


def test_check_config_without_server_name_or_registrations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No registration listed: nothing needs the server name, and nothing fails for lack of it."""
    config = tmp_path / "homeserver.yaml"
    text = f"modules:\n  - module: {MODULE}\n    config: {{shared_secret: '{SECRET}'}}\n"
    config.write_text(text, encoding="utf-8")
    code, out, _ = run_cli(capsys, "check-config", str(config))
    assert code == 0
    assert "no double-puppet registration is listed" in out
