"""The command line as a whole: help for every command, usage errors, ``python -m``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cli_support import clean_environment, run_cli


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


@pytest.mark.parametrize("command", [[], ["token"], ["check-config"], ["doctor"]])
def test_help_everywhere(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    assert out.startswith("usage: synapse_dp_auth")


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
    for command in ("token", "check-config", "doctor"):
        assert command in completed.stdout
