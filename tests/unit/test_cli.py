"""The command line as a whole: help for every command, usage errors, files no command can read,
``python -m``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import clean_environment, run_cli
from constants import USER


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


@pytest.mark.parametrize(
    "command",
    [[], ["token"], ["check-config"], ["doctor"], ["appservice"], ["sessions"]],
)
def test_help_everywhere(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(" ".join(["usage: synapse_dp_auth", *command]))


def test_sessions_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "sessions", "--help")
    assert (code, err) == (0, "")
    assert out.startswith("usage: synapse_dp_auth sessions [-h]")
    text = " ".join(out.split())  # argparse wraps to the terminal's width
    for option in (
        "{list,revoke}",
        "HOMESERVER_URL",
        "--admin-token-file PATH",
        "$SYNAPSE_DP_AUTH_ADMIN_TOKEN",
        "--fingerprint X",
        "--user USER_ID",
        "--since TIME",
        "--yes",
        "--allow-insecure-http",
        "--timeout SECONDS",
    ):
        assert option in text, option
    assert "a dry run unless --yes" in text


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys)
    assert code == 2
    assert "required: COMMAND" in err


def test_files_nested_too_deeply_are_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config, appservice -c, doctor --bridge-config and --as-token-file: one line, no
    RecursionError, for files nested some thousand levels deep (Python's parsers recurse)."""
    flow, value, block = (tmp_path / name for name in ("flow.yaml", "value.yaml", "block.yaml"))
    flow.write_text("[" * 3000, encoding="utf-8")
    value.write_text("server_name: a.org\nmodules: " + "[" * 1500 + "]" * 1500 + "\n")
    block.write_text("".join(" " * depth + "a:\n" for depth in range(1500)), encoding="utf-8")
    for argv in (
        ["check-config", str(flow)],
        ["appservice", str(tmp_path / "out.yaml"), "-c", str(value)],
        ["doctor", "--bridge-config", str(block), "--user", USER],
        ["doctor", "http://127.0.0.1:1", "--user", USER, "--as-token-file", str(flow)],
    ):
        code, out, err = run_cli(capsys, *argv)
        assert code in (1, 2), argv
        assert "is nested too deeply to be read" in out + err, argv
    # A registration listed in homeserver.yaml, too.
    config = tmp_path / "hs.yaml"
    config.write_text(
        f"server_name: example.org\napp_service_config_files: [{block}]\n", encoding="utf-8"
    )
    code, out, _ = run_cli(capsys, "check-config", str(config))
    assert "is nested too deeply to be read" in out


def test_python_dash_m() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "synapse_dp_auth", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for command in ("token", "check-config", "doctor", "appservice", "sessions"):
        assert command in completed.stdout
