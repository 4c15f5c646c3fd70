"""The two halves stay apart: the admin commands run without importing Synapse.

Each command runs as ``python -X importtime -m synapse_dp_auth ...`` in a fresh interpreter, whose
stderr then lists every module imported (lazy imports inside functions included). The module
Synapse loads is still reachable as ``synapse_dp_auth.SharedSecretAuthProvider``: the last test
checks that, and that this way of looking does see Synapse being imported.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET, make_token

SECRET = "a shared secret for the layout test, long enough to look like one"
USER = "@a:example.org"


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


class _Homeserver(http.server.BaseHTTPRequestHandler):
    """Just enough of a homeserver for doctor: both login types listed, every login refused."""

    def do_GET(self) -> None:
        flows = [{"type": LOGIN_TYPE_PASSWORD}, {"type": LOGIN_TYPE_SHARED_SECRET}]
        self._answer(200, {"flows": flows})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(403, {"errcode": "M_FORBIDDEN", "error": "Invalid username or password"})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def homeserver_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Homeserver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_token_imports_no_synapse() -> None:
    completed = run_python(
        ["-m", "synapse_dp_auth", "token", USER, "--secret-file", "-"], stdin=SECRET + "\n"
    )
    assert completed.returncode == 0, errors(completed)
    assert completed.stdout == make_token(SECRET, USER) + "\n"
    modules = imported_modules(completed.stderr)
    assert "synapse_dp_auth.admin.cli" in modules
    assert synapse_modules(modules) == []


def test_doctor_imports_no_synapse(homeserver_url: str) -> None:
    completed = run_python(
        ["-m", "synapse_dp_auth", "doctor", homeserver_url, "--user", USER, "--secret-file", "-"],
        stdin=SECRET + "\n",
    )
    # Every login is refused: the whole command ran, diagnosis and report included.
    assert completed.returncode == 1, errors(completed)
    assert "wrong secret, or the user does not exist" in completed.stdout
    modules = imported_modules(completed.stderr)
    assert {"synapse_dp_auth.admin.client", "synapse_dp_auth.admin.diagnosis"} <= modules
    assert synapse_modules(modules) == []


def test_check_config_imports_no_synapse(tmp_path: Path) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text(
        "modules:\n"
        "  - module: synapse_dp_auth.SharedSecretAuthProvider\n"
        f"    config:\n      shared_secret: {json.dumps(SECRET)}\n",
        encoding="utf-8",
    )
    devture = tmp_path / "devture.yaml"
    devture.write_text(
        "modules:\n"
        "  - module: shared_secret_authenticator.SharedSecretAuthProvider\n"
        "    config:\n      shared_secret: 12\n",
        encoding="utf-8",
    )
    # Both of check-config's uses of parse_config: a valid entry, and advice on devture's.
    for path, expected in (
        (ours, "shared_secret: 1 secret (masked)"),
        (devture, "synapse_dp_auth would refuse this"),
    ):
        completed = run_python(["-m", "synapse_dp_auth", "check-config", str(path)])
        assert expected in completed.stdout, errors(completed)
        modules = imported_modules(completed.stderr)
        assert "synapse_dp_auth.admin.checkconfig" in modules
        assert synapse_modules(modules) == []


def test_module_name_still_loads_the_provider() -> None:
    """What Synapse's module loader does; and proof that the tests above would see Synapse."""
    completed = run_python(
        [
            "-c",
            "import importlib; print(getattr(importlib.import_module('synapse_dp_auth'),"
            " 'SharedSecretAuthProvider').__module__)",
        ]
    )
    assert completed.returncode == 0, errors(completed)
    assert completed.stdout == "synapse_dp_auth.provider\n"
    modules = imported_modules(completed.stderr)
    assert "synapse.module_api" in synapse_modules(modules)
    assert "synapse_dp_auth.provider" in synapse_modules(modules)
