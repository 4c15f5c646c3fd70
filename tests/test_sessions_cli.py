"""The ``sessions`` command without a homeserver: arguments, the admin token, the listing."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from synapse_dp_auth.admin import cli, sessions
from synapse_dp_auth.admin.client import HomeserverError
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
