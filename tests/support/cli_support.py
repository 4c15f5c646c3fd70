"""Helpers shared by the tests that run the admin command line: in-process, or as
``python -X importtime -m synapse_dp_auth`` in a fresh interpreter (which lists every module it
imports)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

import pytest
import yaml

from synapse_dp_auth.admin import cli
from synapse_dp_auth.admin.shared import credentials


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No secret or token from the developer's shell, no terminal to prompt on, no proxy for
    loopback (each test file calls this from an autouse fixture of its own)."""
    for name in (credentials.SECRET_ENV, credentials.AS_TOKEN_ENV, credentials.ADMIN_TOKEN_ENV):
        monkeypatch.delenv(name, raising=False)
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


def imported_modules(stderr: str) -> set[str]:
    """The modules ``-X importtime`` reported (``import time: self | cumulative | name``)."""
    return {
        line.rpartition("|")[2].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def synapse_modules(modules: set[str]) -> list[str]:
    """Synapse itself and the module half's glue that imports it."""
    return sorted(
        m
        for m in modules
        if m == "synapse" or m.startswith("synapse.") or m == "synapse_dp_auth.provider"
    )


def errors(completed: subprocess.CompletedProcess[str]) -> str:
    """stderr without the ``-X importtime`` lines, for assertion messages."""
    return "\n".join(
        line for line in completed.stderr.splitlines() if not line.startswith("import time:")
    )


def run_python(args: Sequence[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    env.pop("SYNAPSE_DP_AUTH_SECRET", None)
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-X", "importtime", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
