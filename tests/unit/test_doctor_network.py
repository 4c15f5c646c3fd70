"""``doctor`` against what is not a working homeserver, in-process (no Synapse): servers it cannot
reach or that are not Matrix, usage errors, and a hostile server whose text must not reach the
terminal as it is."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cli_support import clean_environment, run_cli
from constants import DEVTURE, PASSWORD, SECRET, USER

from synapse_dp_auth.admin.shared.credentials import SECRET_ENV
from synapse_dp_auth.admin.shared.server_text import MAX_SERVER_TEXT
from testbed.homeserver import HOST, free_port


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


# -- doctor: what it cannot reach ------------------------------------------------------------------


class _NotMatrix(http.server.BaseHTTPRequestHandler):
    """A web server that is not a homeserver: HTML everywhere, status chosen by the path."""

    def do_GET(self) -> None:
        prefix = urllib.parse.urlsplit(self.path).path.split("/_matrix/")[0]
        if prefix == "/redirect":
            self.send_response(301)
            self.send_header("Location", "https://elsewhere.example/_matrix/client/v3/login")
            self.end_headers()
            return
        status = 200 if prefix == "/ok" else 404
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def not_matrix_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer((HOST, 0), _NotMatrix)
    # A short poll interval: shutdown() waits for one, after every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def doctor_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, _, err = run_cli(capsys, "doctor", *argv)
    assert code == 1
    assert err.count("\n") == 1, err
    return err


def test_doctor_not_a_matrix_server(
    not_matrix_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = doctor_error(capsys, not_matrix_url)
    assert f"GET {not_matrix_url}/_matrix/client/v3/login answered HTTP 404" in err
    assert "not a Matrix homeserver's client API" in err
    err = doctor_error(capsys, not_matrix_url + "/ok")
    assert "answered with text/html, not JSON: this is not a Matrix homeserver" in err


def test_doctor_redirect(not_matrix_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = doctor_error(capsys, not_matrix_url + "/redirect")
    assert "was redirected to https://elsewhere.example/_matrix/client/v3/login" in err


def test_doctor_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    err = doctor_error(capsys, f"http://{HOST}:{port}")
    assert err == (
        f"synapse_dp_auth doctor: error: connection refused by {HOST}:{port}: nothing listens"
        " there (is Synapse running?)\n"
    )


def test_doctor_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind((HOST, 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        err = doctor_error(capsys, f"http://{HOST}:{port}", "--timeout", "0.3")
    assert f"no answer from {HOST}:{port} within 0.3 s (--timeout)" in err


def test_doctor_unknown_host(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    err = doctor_error(capsys, "https://matrix.invalid")
    assert "cannot resolve the host name 'matrix.invalid': Name or service not known" in err


@pytest.mark.parametrize(
    "url", ["matrix.example.org", "ftp://example.org", "http://:80", "http://x:0x"]
)
def test_doctor_malformed_url(capsys: pytest.CaptureFixture[str], url: str) -> None:
    err = doctor_error(capsys, url)
    assert "give the URL bridges use for the homeserver" in err


def test_doctor_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "doctor", "http://127.0.0.1:1", "--secret-file", "x")
    assert code == 2
    assert "--secret-file is only used with --user" in err
    code, _, err = run_cli(capsys, "doctor", "http://127.0.0.1:1", "--user", "alice")
    assert code == 2
    assert "not a full user ID" in err
    code, _, err = run_cli(capsys, "doctor", "http://127.0.0.1:1", "--timeout", "-1")
    assert code == 2
    assert "not a number of seconds" in err
    code, _, err = run_cli(capsys, "doctor", "http://127.0.0.1:1", "--family", "nope")
    assert code == 2
    assert "invalid choice" in err


def test_doctor_refuses_to_send_a_token_over_plain_http(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    resolved: list[str] = []

    def no_such_host(host: str, *args: Any, **kwargs: Any) -> Any:
        resolved.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    url = "http://matrix.example.org:8008"
    code, out, err = run_cli(capsys, "doctor", url, "--user", USER)
    assert (code, out) == (2, "")
    assert err == (
        f"synapse_dp_auth doctor: error: {url} is plain http:// to another machine, and --user"
        f" would send {USER}'s login token (a permanent credential) unencrypted: use the"
        " https:// URL, or give --allow-insecure-http if that network path is trusted\n"
    )
    assert resolved == []  # refused before any request
    # Told to, it goes ahead (and here finds no such host).
    err = doctor_error(capsys, url, "--user", USER, "--allow-insecure-http")
    assert "cannot resolve the host name 'matrix.example.org'" in err
    # Without --user no token is sent: plain http is fine.
    err = doctor_error(capsys, url)
    assert "cannot resolve the host name 'matrix.example.org'" in err
    assert resolved == ["matrix.example.org", "matrix.example.org"]

    _, out, _ = run_cli(capsys, "doctor", "--help")
    assert "--allow-insecure-http" in out


# -- doctor: a hostile server ----------------------------------------------------------------------

LOGIN = "/_matrix/client/v3/login"
LOGOUT = "/_matrix/client/v3/logout"
#: Set the terminal's title, ring, clear the screen, and start a line of the server's choosing.
HOSTILE = "\x1b]0;owned\x07\x1b[2J\r\n"
HOSTILE_SHOWN = "\\x1b]0;owned\\x07\\x1b[2J\\x0d\\x0a"

Answer = tuple[int, dict[str, str], bytes]


def json_answer(status: int, body: object) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each (method, path) with what the test put in ``routes``."""

    routes: ClassVar[dict[tuple[str, str], Answer]] = {}

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlsplit(self.path).path
        status, headers, body = self.routes[(self.command, path)]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, dict[tuple[str, str], Answer]]]:
    """A server on loopback that says whatever the test wants: (its URL, its routes)."""
    routes: dict[tuple[str, str], Answer] = {}

    class Handler(_Scripted):
        pass

    Handler.routes = routes
    server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
    # A short poll interval: shutdown() waits for one, after every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


def assert_harmless(text: str) -> None:
    """Nothing a terminal acts on but the report's own line ends, and no flood."""
    for line in text.split("\n"):
        assert line.isprintable(), repr(line)
        assert len(line) < 1000, line[:100]


def test_doctor_escapes_login_types_and_refusals(
    scripted: tuple[str, dict[tuple[str, str], Answer]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, routes = scripted
    types = [PASSWORD, DEVTURE, f"m.login.{HOSTILE}", "x" * 10_000, *(f"t{n}" for n in range(100))]
    routes[("GET", LOGIN)] = json_answer(200, {"flows": [{"type": t} for t in types]})
    routes[("POST", LOGIN)] = json_answer(
        403, {"errcode": f"M_FORBIDDEN{HOSTILE}", "error": f"no{HOSTILE}\udcff" + "y" * 10_000}
    )
    monkeypatch.setenv(SECRET_ENV, SECRET)
    code, out, err = run_cli(capsys, "doctor", url, "--user", USER)
    assert (code, err) == (1, "")
    assert_harmless(out)
    assert f"  3. m.login.{HOSTILE_SHOWN}\n" in out
    assert f"  4. {'x' * MAX_SERVER_TEXT}...\n" in out
    assert "  50. t45\n  ... and 54 more\n" in out
    assert f"HTTP 403 M_FORBIDDEN{HOSTILE_SHOWN}: no{HOSTILE_SHOWN}\\udcffyyy" in out


def test_doctor_escapes_a_non_json_body_user_id_and_logout_error(
    scripted: tuple[str, dict[tuple[str, str], Answer]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, routes = scripted
    routes[("GET", LOGIN)] = json_answer(200, {"flows": [{"type": DEVTURE}]})
    routes[("POST", LOGIN)] = (502, {"Content-Type": "text/html"}, HOSTILE.encode() + b"z" * 9999)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    code, out, err = run_cli(capsys, "doctor", url, "--user", USER, "--family", "mautrix-go-bots")
    assert (code, err) == (1, "")
    assert_harmless(out)
    assert f"HTTP 502: not JSON: {HOSTILE_SHOWN}zzz" in out

    routes[("POST", LOGIN)] = json_answer(
        200, {"access_token": "syt_x", "user_id": f"{USER}{HOSTILE}", "device_id": "D"}
    )
    routes[("POST", LOGOUT)] = json_answer(500, {"error": f"{HOSTILE}" * 1000})
    code, out, err = run_cli(capsys, "doctor", url, "--user", USER, "--family", "mautrix-go-bots")
    assert (code, err) == (1, "")
    assert_harmless(out)
    assert f"logged in as {USER}{HOSTILE_SHOWN}" in out
    assert f"LOGOUT FAILED (logout answered HTTP 500: {HOSTILE_SHOWN}" in out


def test_doctor_ignores_an_implausible_wait(
    scripted: tuple[str, dict[tuple[str, str], Answer]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, routes = scripted
    routes[("GET", LOGIN)] = json_answer(200, {"flows": [{"type": DEVTURE}]})
    routes[("POST", LOGIN)] = json_answer(
        429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 10**1000}
    )
    monkeypatch.setenv(SECRET_ENV, SECRET)
    code, out, _ = run_cli(capsys, "doctor", url, "--user", USER, "--family", "mautrix-go-bots")
    assert code == 1
    assert_harmless(out)
    assert "fix: rate-limited by Synapse: raise rc_login" in out
    assert "wait" not in out


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            (302, {"Location": f"https://elsewhere.example/{HOSTILE.strip()}"}, b""),
            "was redirected to https://elsewhere.example/\\x1b]0;owned\\x07\\x1b[2J: use",
        ),
        (json_answer(404, {"errcode": HOSTILE * 1000}), f"answered HTTP 404 {HOSTILE_SHOWN}"),
        (
            (200, {"Content-Type": "text/\x1b[31mhtml\x07; charset=utf-8"}, b"hello"),
            "answered with text/\\x1b[31mhtml\\x07, not JSON",
        ),
    ],
)
def test_doctor_escapes_what_a_non_homeserver_says(
    scripted: tuple[str, dict[tuple[str, str], Answer]],
    capsys: pytest.CaptureFixture[str],
    answer: Answer,
    expected: str,
) -> None:
    url, routes = scripted
    routes[("GET", LOGIN)] = answer
    err = doctor_error(capsys, url)
    assert_harmless(err.removesuffix("\n"))
    assert expected in err
