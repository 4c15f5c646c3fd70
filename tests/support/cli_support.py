"""Helpers shared by the tests that run the admin command line in-process."""

from __future__ import annotations

import io
import sys
import textwrap
from typing import Any

import pytest
import yaml

from synapse_dp_auth.admin import cli


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No secret or token from the developer's shell, no terminal to prompt on, no proxy for
    loopback (each test file calls this from an autouse fixture of its own)."""
    monkeypatch.delenv(cli.SECRET_ENV, raising=False)
    monkeypatch.delenv(cli.AS_TOKEN_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``synapse_dp_auth ARGV``: the exit code, stdout and stderr; never a traceback."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def yaml_block(output: str, first_line: str) -> Any:
    """The YAML block of ``output`` that starts with ``first_line`` (indented by four spaces),
    parsed: what an admin copies into a file."""
    lines = output.splitlines()
    start = lines.index(f"    {first_line}")
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(line)
    return yaml.safe_load(textwrap.dedent("\n".join(block)))
