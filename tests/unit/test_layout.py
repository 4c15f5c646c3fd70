"""The two halves stay apart: the admin commands run without importing Synapse.

Each command runs as ``python -X importtime -m synapse_dp_auth ...`` in a fresh interpreter, whose
stderr then lists every module imported (lazy imports inside functions included). That this way
of looking does see Synapse being imported, and that the module Synapse loads is still reachable
as ``synapse_dp_auth.SharedSecretAuthProvider``, is tests/e2e/test_e2e_module_path.py.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import errors, imported_modules, run_python, synapse_modules
from constants import SECRET

from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET, make_token

USER = "@a:example.org"


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
    # A short poll interval: shutdown() waits for one, after every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
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
    assert {
        "synapse_dp_auth.admin.shared.client",
        "synapse_dp_auth.admin.doctor.shared_secret_diagnosis",
    } <= modules
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
        assert "synapse_dp_auth.admin.check_config.check" in modules
        assert synapse_modules(modules) == []


def test_plan_imports_no_synapse(tmp_path: Path) -> None:
    homeserver = tmp_path / "homeserver.yaml"
    homeserver.write_text("server_name: example.org\n", encoding="utf-8")
    bridge = tmp_path / "bridge.yaml"
    bridge.write_text(
        "homeserver: {address: 'http://localhost:8008', domain: example.org}\n"
        "appservice: {id: whatsapp, as_token: a, hs_token: b}\n"
        "database: {type: sqlite3-fk-wal, uri: 'file:x.db'}\n"
        "double_puppet: {secrets: {}}\n",
        encoding="utf-8",
    )
    completed = run_python(
        ["-m", "synapse_dp_auth", "plan", "-c", str(homeserver), str(bridge), "--apply"]
    )
    # The whole command ran: planned, the registration created, both files edited.
    assert completed.returncode == 0, errors(completed)
    assert "Done." in completed.stdout
    modules = imported_modules(completed.stderr)
    assert {"synapse_dp_auth.admin.plan.planning", "synapse_dp_auth.admin.plan.execute"} <= modules
    assert synapse_modules(modules) == []
