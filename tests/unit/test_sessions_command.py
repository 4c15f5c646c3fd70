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
from cli_support import run_cli

from synapse_dp_auth import login_records as records
from synapse_dp_auth.admin.sessions import listing, revoke
from synapse_dp_auth.admin.sessions.command import parse_since
from synapse_dp_auth.admin.sessions.listing import Listed
from synapse_dp_auth.admin.shared import credentials
from synapse_dp_auth.admin.shared.client import HomeserverClient, HomeserverError, RequestRefused
from synapse_dp_auth.admin.shared.exits import EXIT_USAGE, CliError

ROW = {
    "user_id": "@alice:example.org",
    "device_id": "ABCDEF",
    "login_type": "m.login.password",
    "secret_fingerprint": "0123abcd",
    "logged_in_ts": 1_795_000_000_000,
    "created_device": True,
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No admin token from the developer's shell, no terminal to prompt on."""
    monkeypatch.delenv(credentials.ADMIN_TOKEN_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def test_since_is_iso_8601_in_utc_unless_said() -> None:
    assert parse_since("1970-01-02") == 86_400_000
    assert parse_since("1970-01-01T00:00:01") == 1000
    assert parse_since("1970-01-01T01:00:00+01:00") == 0
    with pytest.raises(ValueError, match="not a date or time"):
        parse_since("yesterday")


def test_query_has_only_the_filters_given() -> None:
    assert listing.query(None, None, None) == {}
    assert listing.query("0123abcd", "@a:x", 5) == {
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
    assert code == EXIT_USAGE
    assert message in err


def test_revoke_needs_a_filter(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "sessions", "revoke", "http://127.0.0.1:1", "--yes")
    assert code == EXIT_USAGE
    assert "revoke needs --fingerprint, --user or --since" in err


def test_admin_token_never_from_argv(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "sessions", "list", "http://127.0.0.1:1")
    assert code == EXIT_USAGE
    assert "no admin access token: give --admin-token-file PATH" in err
    code, _, err = run_cli(capsys, "sessions", "list", "http://127.0.0.1:1", "--admin-token", "x")
    assert code == EXIT_USAGE
    assert "unrecognized arguments: --admin-token" in err


def test_admin_token_from_file_or_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\ufeffsyt_from_file\n", encoding="utf-8")
    assert credentials.read_admin_token(str(token_file)) == "syt_from_file"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  syt_from_stdin  \n"))
    assert credentials.read_admin_token("-") == "syt_from_stdin"
    monkeypatch.setenv(credentials.ADMIN_TOKEN_ENV, " syt_from_env ")
    assert credentials.read_admin_token(None) == "syt_from_env"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    with pytest.raises(CliError, match="stdin holds no access token"):
        credentials.read_admin_token("-")


def test_plain_http_to_another_machine_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "sessions", "list", "http://matrix.example.org")
    assert code == EXIT_USAGE
    assert "the admin access token would cross the network unencrypted" in err


def test_latest_time_a_listing_may_hold_is_shown() -> None:
    listed, configured = listing.parse_listing(
        {"sessions": [dict(ROW, logged_in_ts=253_402_300_799_999)], "configured_fingerprints": []}
    )
    out = io.StringIO()
    listing.write_table(out, listed, configured)
    assert out.getvalue().splitlines()[1].startswith("9999-12-31 23:59:59  @alice:example.org")


def test_a_listing_of_an_older_module_does_not_say_whether_devices_were_created() -> None:
    older = {key: value for key, value in ROW.items() if key != "created_device"}
    listed, _ = listing.parse_listing({"sessions": [older], "configured_fingerprints": []})
    assert listed[0].created_device is None


def test_listing_is_checked_and_escaped() -> None:
    hostile = dict(ROW, user_id="@eve:x\n\x1b[2J", secret_fingerprint="ffff0000")
    listed, configured = listing.parse_listing(
        {"sessions": [ROW, hostile], "configured_fingerprints": ["0123abcd"]}
    )
    assert listed[0] == Listed(**ROW)  # type: ignore[arg-type]
    out = io.StringIO()
    listing.write_table(out, listed, configured)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[1].split() == [
        "2026-11-18",
        "11:06:40",
        "@alice:example.org",
        "ABCDEF",
        "yes",
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
        {"sessions": [dict(ROW, created_device=1)], "configured_fingerprints": []},
        {"sessions": [dict(ROW, created_device="yes")], "configured_fingerprints": []},
        {"sessions": [17], "configured_fingerprints": []},
    ],
)
def test_malformed_listing_is_an_error(answer: dict[str, object]) -> None:
    with pytest.raises(HomeserverError):
        listing.parse_listing(answer)


def listed(user: str, device: str, created: bool | None = True) -> dict[str, Any]:
    return dict(ROW, user_id=user, device_id=device, created_device=created)


class FakeClient:
    """Answers as the module and Synapse's admin API would, ``page_size`` rows a page (no
    homeserver), and notes every request in order."""

    def __init__(self, rows: list[dict[str, Any]], page_size: int = 1000) -> None:
        self.rows, self.page_size = rows, page_size
        self.configured = ["0123abcd"]
        self.calls: list[tuple[Any, ...]] = []
        self.devices: dict[tuple[str, str], dict[str, Any]] = {}
        self.with_keys: set[tuple[str, str]] = set()
        self.admins: set[str] = set()
        self.refuse: set[str] = set()

    def list_sessions(self, admin_token: str, query: dict[str, str]) -> dict[str, object]:
        self.calls.append(("list", dict(query)))
        start = int(query.get("from", "0_0").partition("_")[2])
        answer: dict[str, object] = {
            "sessions": self.rows[start : start + self.page_size],
            "configured_fingerprints": self.configured,
        }
        if start + self.page_size < len(self.rows):
            answer["next_token"] = f"{1_795_000_000_000}_{start + self.page_size}"
        return answer

    def delete_devices(self, admin_token: str, user_id: str, device_ids: list[str]) -> None:
        self.calls.append(("delete", user_id, device_ids))
        if user_id in self.refuse:
            raise RequestRefused(f"deleting devices of {user_id} answered HTTP 500")

    def user_is_admin(self, admin_token: str, user_id: str) -> bool:
        return user_id in self.admins

    def device(self, admin_token: str, user_id: str, device_id: str) -> dict[str, Any] | None:
        return self.devices.get((user_id, device_id))

    def devices_with_keys(self, token: str, user_id: str, device_ids: list[str]) -> set[str]:
        return {device for device in device_ids if (user_id, device) in self.with_keys}


def run_revoke(client: FakeClient, yes: bool, include_reused: bool = False) -> str:
    out = io.StringIO()
    revoke.revoke(client, "token", {"fingerprint": "0123abcd"}, yes, out, include_reused)  # type: ignore[arg-type]
    return out.getvalue()


def test_revoke_groups_devices_by_user_and_dry_run_does_nothing() -> None:
    rows = [
        listed(u, d) for u, d in [("@a:x", "D1"), ("@b:x", "D2"), ("@a:x", "D3"), ("@a:x", "D1")]
    ]
    client = FakeClient(rows)
    out = run_revoke(client, yes=False)
    assert [call for call in client.calls if call[0] == "delete"] == []
    assert "Dry run: would delete 3 device(s) that 4 shared-secret login(s) created" in out
    client.calls.clear()
    run_revoke(client, yes=True)
    assert [call for call in client.calls if call[0] == "delete"] == [
        ("delete", "@a:x", ["D1", "D3"]),
        ("delete", "@b:x", ["D2"]),
    ]


def test_revoke_works_a_page_at_a_time() -> None:
    """Each page's devices are deleted before the next page is asked for: the command never
    holds more than a page, at any number of records."""
    rows = [listed(f"@u{n}:x", f"D{n}") for n in range(5)]
    client = FakeClient(rows, page_size=2)
    out = run_revoke(client, yes=True)
    assert [call[0] for call in client.calls] == [
        "list", "delete", "delete", "list", "delete", "delete", "list", "delete"
    ]  # fmt: skip
    assert "Revoked 5 session(s): deleted the 5 device(s) the logins created." in out


def test_devices_the_logins_did_not_create_need_their_own_flag() -> None:
    rows = [
        listed("@a:x", "BRIDGE"),
        listed("@a:x", "PHONE", created=False),
        listed("@b:x", "OLD", created=None),
        listed("@b:x", "GONE", created=False),
        listed("@a:x", "BRIDGE", created=False),  # re-login on the device a login created
    ]
    client = FakeClient(rows)
    client.devices = {
        ("@a:x", "PHONE"): {
            "display_name": "Pixel \x1b[31m",
            "last_seen_ts": 1_795_000_000_000,
            "last_seen_ip": "192.0.2.7",
            "last_seen_user_agent": "Element/1.6",
        },
        ("@b:x", "OLD"): {"display_name": None, "last_seen_ts": None},
    }
    client.with_keys = {("@a:x", "PHONE")}
    out = run_revoke(client, yes=True)
    assert [call for call in client.calls if call[0] == "delete"] == [
        ("delete", "@a:x", ["BRIDGE"])
    ]
    lines = out.splitlines()
    (phone,) = [line for line in lines if line.startswith("Device PHONE")]
    assert phone == (
        'Device PHONE of @a:x (named "Pixel \\x1b[31m", last used 2026-11-18 11:06:40 UTC from'
        " 192.0.2.7, by Element/1.6): the login reused this device, which existed before it."
        " Deleting it logs the user out on that device; it has end-to-end encryption keys:"
        " deleting it destroys them, and messages only it can decrypt are lost unless the user"
        " has key backup."
    )
    (old,) = [line for line in lines if line.startswith("Device OLD")]
    assert "(no name, never used): the record does not say whether the login created" in old
    assert old.endswith("it has no end-to-end encryption keys.")
    assert not any(line.startswith("Device GONE") or "Device BRIDGE" in line for line in lines)
    assert lines[-1].startswith(
        "Revoked 1 session(s): deleted the 1 device(s) the logins created. 2 device(s) described"
        " above were not created by the logins: they are left alone; to delete them too, add"
        " --include-reused-devices. 1 other device(s) the logins did not create no longer exist."
    )

    client.calls.clear()
    out = run_revoke(client, yes=True, include_reused=True)
    assert [call for call in client.calls if call[0] == "delete"] == [
        ("delete", "@a:x", ["BRIDGE", "PHONE"]),
        ("delete", "@b:x", ["OLD"]),
    ]
    assert "they are deleted too (--include-reused-devices)" in out


def test_revoke_says_when_a_user_is_a_server_admin() -> None:
    client = FakeClient([listed("@root:x", "D1"), listed("@a:x", "D2")])
    assert "Warning" not in run_revoke(client, yes=False)
    client.admins = {"@root:x"}
    for yes in (False, True):
        out = run_revoke(client, yes=yes)
        (warning,) = [line for line in out.splitlines() if line.startswith("Warning")]
        assert warning.startswith(
            "Warning: 1 of these users are server admins (@root:x): allow_admins: true (the"
            " default) lets the secret log in as an admin"
        )


def test_every_page_of_a_long_listing_is_read() -> None:
    rows = [dict(ROW, device_id=f"D{number}") for number in range(5)]
    client = FakeClient(rows, page_size=2)
    out = io.StringIO()
    count = listing.list_sessions(client, "token", {"user_id": "@a:x"}, out)  # type: ignore[arg-type]
    assert count == 5
    assert [call[1] for call in client.calls] == [
        {"user_id": "@a:x"},
        {"user_id": "@a:x", "from": "1795000000000_2"},
        {"user_id": "@a:x", "from": "1795000000000_4"},
    ]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("LOGGED IN (UTC)")
    assert [line.split()[3] for line in lines[1:-1]] == [f"D{number}" for number in range(5)]
    assert lines[-1].startswith("5 session(s) created by shared-secret logins")


@pytest.mark.parametrize(
    "next_token", ["0", "-1_1", "x", 2, "", "\uff12_1", "1_" + "9" * 5000, "1_1", "1_0"]
)
def test_a_next_token_that_does_not_move_on_is_an_error(next_token: object) -> None:
    class Client:
        def list_sessions(self, admin_token: str, query: dict[str, str]) -> dict[str, object]:
            token = next_token if "from" in query else "1_1"
            return {"sessions": [ROW], "configured_fingerprints": [], "next_token": token}

    with pytest.raises(HomeserverError, match="malformed next_token"):
        for _ in listing.pages(Client(), "token", {}):  # type: ignore[arg-type]
            pass


def test_configured_fingerprints_are_escaped_too() -> None:
    client = FakeClient([ROW])
    client.configured = ["0123abcd", "\x1b]0;owned\x07"]
    out = io.StringIO()
    listing.list_sessions(client, "token", {}, out)  # type: ignore[arg-type]
    summary = out.getvalue().splitlines()[-1]
    assert "\x1b" not in out.getvalue()
    assert summary.endswith(
        "(fingerprints of the secrets configured now: \\x1b]0;owned\\x07, 0123abcd)"
    )


def test_a_refused_user_does_not_stop_the_others_but_fails_the_command() -> None:
    client = FakeClient([listed(user, "D") for user in ["@a:x", "@b:x", "@c:x"]])
    client.refuse = {"@b:x"}
    out = io.StringIO()
    with pytest.raises(HomeserverError, match="the devices of 1 user"):
        revoke.revoke(client, "token", {"user_id": "x"}, True, out)  # type: ignore[arg-type]
    deleted = [call[1] for call in client.calls if call[0] == "delete"]
    assert deleted == ["@a:x", "@b:x", "@c:x"]
    assert "Not deleted: deleting devices of @b:x answered HTTP 500." in out.getvalue()
    assert "Revoked" not in out.getvalue()


def test_an_unreachable_server_stops_the_revocation() -> None:
    client = FakeClient([listed(user, "D") for user in ["@a:x", "@b:x"]])

    def unreachable(admin_token: str, user_id: str, device_ids: list[str]) -> None:
        client.calls.append(("delete", user_id))
        raise HomeserverError("connection refused by the server")

    client.delete_devices = unreachable  # type: ignore[method-assign]
    with pytest.raises(HomeserverError, match="connection refused"):
        revoke.revoke(client, "token", {"user_id": "x"}, True, io.StringIO())  # type: ignore[arg-type]
    assert [call for call in client.calls if call[0] == "delete"] == [("delete", "@a:x")]


def test_include_reused_devices_is_for_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "sessions", "list", "http://127.0.0.1:1", "--include-reused-devices"
    )
    assert code == EXIT_USAGE
    assert "--include-reused-devices is for revoke" in err


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


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            (200, "text/html", b"<html>Log in</html>"),
            "the sessions listing from {url}/_synapse/client/synapse_dp_auth/v1/sessions is not a"
            " JSON object (text/html): is something other than Synapse",
        ),
        (
            (200, "application/json", b"[" * 3000 + b"]" * 3000),
            "is not a JSON object (application/json)",
        ),
        (
            (200, "application/json", b" " * (records.MAX_ANSWER_BYTES + 1)),
            "is larger than 4,194,304 bytes, the most expected there",
        ),
        ((403, "application/json", b'{"error": "no"}'), "listing the sessions answered HTTP 403"),
    ],
)
def test_a_listing_that_is_not_one_says_what_it_is(
    serve: Callable[[Callable[[str], tuple[int, str, bytes]]], Recorder],
    answer: tuple[int, str, bytes],
    message: str,
) -> None:
    homeserver = serve(lambda path: answer)
    with pytest.raises(HomeserverError) as caught:
        HomeserverClient(homeserver.url, 5).list_sessions("token", {})
    assert message.format(url=homeserver.url) in str(caught.value)
    assert "answered HTTP 200" not in str(caught.value)


def test_a_full_page_fits_the_clients_limit(
    serve: Callable[[Callable[[str], tuple[int, str, bytes]]], Recorder],
) -> None:
    """The module's largest answer (cut by bytes) is read whole."""
    found = [
        records.Session(
            user_id="@" + "\U0001f600" * 240 + ":x",
            device_id="\x01" * 512,
            login_type="m.login.password",
            secret_fingerprint="0123abcd",
            logged_in_ts=n,
            created_device=True,
            record_id=n + 1,
        )
        for n in range(records.MAX_ROWS + 1)
    ]
    answer = records.answer_page(found, ["0123abcd"], records.MAX_ROWS)
    body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
    homeserver = serve(lambda path: (200, "application/json", body))
    got = HomeserverClient(homeserver.url, 30).list_sessions("token", {})
    assert len(got["sessions"]) == len(answer["sessions"])
