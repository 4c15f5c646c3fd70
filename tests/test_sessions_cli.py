"""The ``sessions`` command without a homeserver: arguments, the admin token, the listing."""

from __future__ import annotations

import http.server
import io
import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from synapse_dp_auth.admin import cli, sessions
from synapse_dp_auth.admin.client import HomeserverClient, HomeserverError, RequestRefused
from synapse_dp_auth.admin.sessions import Listed

ROW = {
    "user_id": "@alice:example.org",
    "device_id": "ABCDEF",
    "login_type": "m.login.password",
    "secret_fingerprint": "0123abcd",
    "logged_in_ts": 1_795_000_000_000,
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No admin token from the developer's shell, no terminal to prompt on."""
    monkeypatch.delenv(sessions.ADMIN_TOKEN_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_since_is_iso_8601_in_utc_unless_said() -> None:
    assert sessions.parse_since("1970-01-02") == 86_400_000
    assert sessions.parse_since("1970-01-01T00:00:01") == 1000
    assert sessions.parse_since("1970-01-01T01:00:00+01:00") == 0
    with pytest.raises(ValueError, match="not a date or time"):
        sessions.parse_since("yesterday")


def test_query_has_only_the_filters_given() -> None:
    assert sessions.query(None, None, None) == {}
    assert sessions.query("0123abcd", "@a:x", 5) == {
        "fingerprint": "0123abcd",
        "user_id": "@a:x",
        "since_ts": "5",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fingerprint", "0123ABCD"], "is not a secret fingerprint"),
        (["--fingerprint", "0123abc"], "is not a secret fingerprint"),
        (["--since", "last week"], "is not a date or time"),
        (["--user", "alice"], "is not a full user ID"),
    ],
)
def test_bad_filters_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run_cli(capsys, "sessions", "list", "http://127.0.0.1:1", *argv)
    assert code == cli.EXIT_USAGE
    assert message in err


def test_revoke_needs_a_filter(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "sessions", "revoke", "http://127.0.0.1:1", "--yes")
    assert code == cli.EXIT_USAGE
    assert "revoke needs --fingerprint, --user or --since" in err


def test_admin_token_never_from_argv(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "sessions", "list", "http://127.0.0.1:1")
    assert code == cli.EXIT_USAGE
    assert "no admin access token: give --admin-token-file PATH" in err
    code, _, err = run_cli(capsys, "sessions", "list", "http://127.0.0.1:1", "--admin-token", "x")
    assert code == cli.EXIT_USAGE
    assert "unrecognized arguments: --admin-token" in err


def test_admin_token_from_file_or_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\ufeffsyt_from_file\n", encoding="utf-8")
    assert cli.read_admin_token(str(token_file)) == "syt_from_file"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  syt_from_stdin  \n"))
    assert cli.read_admin_token("-") == "syt_from_stdin"
    monkeypatch.setenv(sessions.ADMIN_TOKEN_ENV, " syt_from_env ")
    assert cli.read_admin_token(None) == "syt_from_env"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    with pytest.raises(cli.CliError, match="stdin holds no access token"):
        cli.read_admin_token("-")


def test_plain_http_to_another_machine_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "sessions", "list", "http://matrix.example.org")
    assert code == cli.EXIT_USAGE
    assert "the admin access token would cross the network unencrypted" in err


def test_latest_time_a_listing_may_hold_is_shown() -> None:
    listed, configured = sessions.parse_listing(
        {"sessions": [dict(ROW, logged_in_ts=253_402_300_799_999)], "configured_fingerprints": []}
    )
    out = io.StringIO()
    sessions.write_table(out, listed, configured)
    assert out.getvalue().splitlines()[1].startswith("9999-12-31 23:59:59  @alice:example.org")


def test_listing_is_checked_and_escaped() -> None:
    hostile = dict(ROW, user_id="@eve:x\n\x1b[2J", secret_fingerprint="ffff0000")
    listed, configured = sessions.parse_listing(
        {"sessions": [ROW, hostile], "configured_fingerprints": ["0123abcd"]}
    )
    assert listed[0] == Listed(**ROW)  # type: ignore[arg-type]
    out = io.StringIO()
    sessions.write_table(out, listed, configured)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[1].split() == [
        "2026-11-18",
        "11:06:40",
        "@alice:example.org",
        "ABCDEF",
        "m.login.password",
        "0123abcd",
    ]
    assert "@eve:x\\x0a\\x1b[2J" in lines[2]
    assert lines[2].endswith("ffff0000 (no longer configured)")


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"sessions": [dict(ROW, logged_in_ts="1")], "configured_fingerprints": []},
        {"sessions": [dict(ROW, logged_in_ts=True)], "configured_fingerprints": []},
        {"sessions": [dict(ROW, logged_in_ts=-1)], "configured_fingerprints": []},
        {"sessions": [dict(ROW, logged_in_ts=253_402_300_800_000)], "configured_fingerprints": []},
        {"sessions": [dict(ROW, logged_in_ts=10**20)], "configured_fingerprints": []},
        {"sessions": [{"user_id": "@a:x"}], "configured_fingerprints": []},
        {"sessions": [dict(ROW, device_id=None)], "configured_fingerprints": []},
    ],
)
def test_malformed_listing_is_an_error(answer: dict[str, object]) -> None:
    with pytest.raises(HomeserverError):
        sessions.parse_listing(answer)


def test_revoke_groups_devices_by_user_and_dry_run_does_nothing() -> None:
    deleted: list[tuple[str, list[str]]] = []

    class Client:
        def delete_devices(self, admin_token: str, user_id: str, device_ids: list[str]) -> None:
            deleted.append((user_id, device_ids))

    listed = [
        Listed(**dict(ROW, device_id=device, user_id=user))  # type: ignore[arg-type]
        for user, device in [("@a:x", "D1"), ("@b:x", "D2"), ("@a:x", "D3"), ("@a:x", "D1")]
    ]
    out = io.StringIO()
    sessions.revoke(Client(), "token", listed, False, out)  # type: ignore[arg-type]
    assert deleted == []
    assert "Dry run: would delete 3 device(s) of 2 user(s)" in out.getvalue()
    sessions.revoke(Client(), "token", listed, True, out)  # type: ignore[arg-type]
    assert deleted == [("@a:x", ["D1", "D3"]), ("@b:x", ["D2"])]


class PagedClient:
    """Answers a listing as the module does, ``page_size`` rows at a time (no homeserver)."""

    def __init__(self, rows: list[dict[str, object]], page_size: int) -> None:
        self.rows, self.page_size = rows, page_size
        self.configured = ["0123abcd"]
        self.queries: list[dict[str, str]] = []

    def list_sessions(self, admin_token: str, query: dict[str, str]) -> dict[str, object]:
        self.queries.append(dict(query))
        start = int(query.get("from", "0"))
        answer: dict[str, object] = {
            "sessions": self.rows[start : start + self.page_size],
            "configured_fingerprints": self.configured,
        }
        if start + self.page_size < len(self.rows):
            answer["next_token"] = str(start + self.page_size)
        return answer


def test_every_page_of_a_long_listing_is_read() -> None:
    rows = [dict(ROW, device_id=f"D{number}") for number in range(5)]
    client = PagedClient(rows, page_size=2)
    out = io.StringIO()
    listed = sessions.list_sessions(client, "token", {"user_id": "@a:x"}, out)  # type: ignore[arg-type]
    assert [session.device_id for session in listed] == [f"D{number}" for number in range(5)]
    assert client.queries == [
        {"user_id": "@a:x"},
        {"user_id": "@a:x", "from": "2"},
        {"user_id": "@a:x", "from": "4"},
    ]
    assert out.getvalue().startswith("5 session(s) created by shared-secret logins")


def test_a_row_seen_on_two_pages_is_listed_once() -> None:
    client = PagedClient([ROW, dict(ROW, device_id="OTHER"), ROW], page_size=2)
    listed, _ = sessions.fetch_all(client, "token", {})  # type: ignore[arg-type]
    assert [session.device_id for session in listed] == ["ABCDEF", "OTHER"]


@pytest.mark.parametrize("next_token", ["0", "-1", "x", 2, "", "\uff12"])
def test_a_next_token_that_does_not_move_on_is_an_error(next_token: object) -> None:
    class Client:
        def list_sessions(self, admin_token: str, query: dict[str, str]) -> dict[str, object]:
            return {"sessions": [ROW], "configured_fingerprints": [], "next_token": next_token}

    with pytest.raises(HomeserverError, match="malformed next_token"):
        sessions.fetch_all(Client(), "token", {})  # type: ignore[arg-type]


def test_configured_fingerprints_are_escaped_too() -> None:
    client = PagedClient([ROW], page_size=10)
    client.configured = ["0123abcd", "\x1b]0;owned\x07"]
    out = io.StringIO()
    sessions.list_sessions(client, "token", {}, out)  # type: ignore[arg-type]
    heading = out.getvalue().splitlines()[0]
    assert "\x1b" not in out.getvalue()
    assert heading.endswith(
        "(fingerprints of the secrets configured now: \\x1b]0;owned\\x07, 0123abcd)"
    )


def test_a_refused_user_does_not_stop_the_others_but_fails_the_command() -> None:
    deleted: list[str] = []

    class Client:
        def delete_devices(self, admin_token: str, user_id: str, device_ids: list[str]) -> None:
            if user_id == "@b:x":
                raise RequestRefused("deleting devices of @b:x answered HTTP 500")
            deleted.append(user_id)

    listed = [Listed(**dict(ROW, user_id=user)) for user in ["@a:x", "@b:x", "@c:x"]]  # type: ignore[arg-type]
    out = io.StringIO()
    with pytest.raises(HomeserverError, match="the devices of 1 of 3 user"):
        sessions.revoke(Client(), "token", listed, True, out)  # type: ignore[arg-type]
    assert deleted == ["@a:x", "@c:x"]
    assert "Not deleted: deleting devices of @b:x answered HTTP 500." in out.getvalue()
    assert "Revoked" not in out.getvalue()


def test_an_unreachable_server_stops_the_revocation() -> None:
    calls: list[str] = []

    class Client:
        def delete_devices(self, admin_token: str, user_id: str, device_ids: list[str]) -> None:
            calls.append(user_id)
            raise HomeserverError("connection refused by the server")

    listed = [Listed(**dict(ROW, user_id=user)) for user in ["@a:x", "@b:x"]]  # type: ignore[arg-type]
    with pytest.raises(HomeserverError, match="connection refused"):
        sessions.revoke(Client(), "token", listed, True, io.StringIO())  # type: ignore[arg-type]
    assert calls == ["@a:x"]


# -- over HTTP, against small local servers ----------------------------------------------------


class Recorder(http.server.ThreadingHTTPServer):
    """A local HTTP server that keeps every request it receives (request line, headers) and
    answers with ``respond(path)``: (status, content type, body)."""

    def __init__(self, respond: Callable[[str], tuple[int, str, bytes]]) -> None:
        self.received: list[str] = []
        self.respond = respond
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.received.append(f"{self.requestline}\n{self.headers}")
                status, kind, body = server.respond(self.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str], tuple[int, str, bytes]]], Recorder]]:
    started: list[Recorder] = []

    def start(respond: Callable[[str], tuple[int, str, bytes]]) -> Recorder:
        server = Recorder(respond)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def listing_answer(path: str) -> tuple[int, str, bytes]:
    body = {"sessions": [ROW], "configured_fingerprints": ["0123abcd"]}
    return 200, "application/json", json.dumps(body).encode()


def test_loopback_is_never_reached_through_a_proxy(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    serve: Callable[[Callable[[str], tuple[int, str, bytes]]], Recorder],
) -> None:
    """http:// to loopback needs no --allow-insecure-http because it does not cross a network:
    so it must not go to a proxy from the environment either, which would see the admin token
    (or a login token) in the clear."""
    proxy = serve(lambda path: (502, "text/plain", b"proxied"))
    homeserver = serve(listing_answer)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    token_file = tmp_path / "token"
    token_file.write_text("syt_admin_secret_token\n", encoding="utf-8")
    for host in ("127.0.0.1", "localhost"):
        url = homeserver.url.replace("127.0.0.1", host)
        code, out, err = run_cli(
            capsys, "sessions", "list", url, "--admin-token-file", str(token_file)
        )
        assert (code, err) == (0, "")
        assert "1 session(s) created by shared-secret logins" in out
        code, out, err = run_cli(capsys, "doctor", url)
        assert "GET /login" not in err  # asked the homeserver, not the proxy
    assert proxy.received == []
    assert any("Bearer syt_admin_secret_token" in request for request in homeserver.received)
    # Another host still goes through the proxy, as with curl.
    client = HomeserverClient("http://matrix.example.invalid:8008", 5)
    with pytest.raises(HomeserverError):
        client.login_types()
    assert proxy.received[0].startswith("GET http://matrix.example.invalid:8008/_matrix/")
