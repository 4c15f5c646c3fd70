"""The command line as a whole: help for every command, usage errors, ``python -m``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_support import clean_environment, run_cli


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
