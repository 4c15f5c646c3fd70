"""``doctor`` for the appservice method: the decisions on their own, reading the as_token, and the
command line's usage errors. (Against a real homeserver, ``--bridge-config`` too:
tests/e2e/test_e2e_doctor_appservice.py.)
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from cli_support import clean_environment, run_cli

from synapse_dp_auth.admin.doctor.appservice import diagnose_appservice
from synapse_dp_auth.admin.doctor.shared_secret_diagnosis import login_body, plan_logins
from synapse_dp_auth.admin.doctor.verdict import Verdict
from synapse_dp_auth.admin.shared import credentials
from synapse_dp_auth.admin.shared.client_answers import WhoamiOutcome
from synapse_dp_auth.admin.shared.exits import CliError
from synapse_dp_auth.admin.shared.families import MAUTRIX_GO_BRIDGEV2, choose_login_type
from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


# -- the decision ----------------------------------------------------------------------------------

ALICE = "@alice:test.local"
SENDER = WhoamiOutcome(status=200, user_id="@0123abcd:test.local")
UNKNOWN = WhoamiOutcome(status=401, errcode="M_UNKNOWN_TOKEN", error="Invalid access token passed.")
MASQUERADE = WhoamiOutcome(
    status=403,
    errcode="M_FORBIDDEN",
    error=f"Application service cannot masquerade as this user ({ALICE}).",
)
NOT_REGISTERED = WhoamiOutcome(
    status=403,
    errcode="M_FORBIDDEN",
    error=f"Application service has not registered this user ({ALICE})",
)


def test_decision_works() -> None:
    diagnosis = diagnose_appservice(ALICE, SENDER, WhoamiOutcome(status=200, user_id=ALICE))
    assert diagnosis.verdict is Verdict.WORKS
    assert diagnosis.remedy is None


def test_decision_unknown_token() -> None:
    diagnosis = diagnose_appservice(ALICE, UNKNOWN, None)
    assert diagnosis.verdict is Verdict.FAILS
    assert diagnosis.detail == "the server does not know this as_token"
    assert diagnosis.remedy is not None and "app_service_config_files" in diagnosis.remedy


def test_decision_remote_user() -> None:
    diagnosis = diagnose_appservice("@alice:other.example", SENDER, None)
    assert diagnosis.verdict is Verdict.FAILS
    assert "a user of another server" in diagnosis.detail
    assert "belongs to test.local" in diagnosis.detail


def test_decision_outside_namespace() -> None:
    diagnosis = diagnose_appservice(ALICE, SENDER, MASQUERADE)
    assert diagnosis.verdict is Verdict.FAILS
    assert "outside the user namespace" in diagnosis.detail
    assert diagnosis.remedy is not None and "exclusive: false" in diagnosis.remedy


def test_decision_no_such_user() -> None:
    diagnosis = diagnose_appservice(ALICE, SENDER, NOT_REGISTERED)
    assert diagnosis.verdict is Verdict.FAILS
    assert "no such user exists" in diagnosis.detail


def test_decision_other_user_answered() -> None:
    other = WhoamiOutcome(status=200, user_id="@mallory:test.local")
    diagnosis = diagnose_appservice(ALICE, SENDER, other)
    assert diagnosis.verdict is Verdict.FAILS
    assert "not @alice:test.local" in diagnosis.detail


def test_decision_a_users_access_token() -> None:
    """whoami?user_id= with a user's token answers its owner: were that --user, it would look
    like success; the device in the first answer tells the two kinds of token apart."""
    own_token = WhoamiOutcome(status=200, user_id=ALICE, device_id="ABCDEFGH")
    diagnosis = diagnose_appservice(ALICE, own_token, WhoamiOutcome(status=200, user_id=ALICE))
    assert diagnosis.verdict is Verdict.FAILS
    assert diagnosis.detail.startswith(
        f"this is a user's access token (of {ALICE}, on a device), not an as_token"
    )


def test_decision_escapes_server_text() -> None:
    hostile = WhoamiOutcome(status=403, errcode="M_X\x1b[31m", error="cannot masquerade\x1b]0;x")
    diagnosis = diagnose_appservice(ALICE, SENDER, hostile)
    assert "\x1b" not in diagnosis.detail
    assert "\\x1b" in diagnosis.detail


@pytest.mark.parametrize(
    "advertised",
    [[LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET], [LOGIN_TYPE_SHARED_SECRET], []],
)
def test_bridgev2_never_logs_in(advertised: list[str]) -> None:
    """bridgev2 has no shared-secret login: no login type, whatever the server lists, no login
    planned for it, and no request body to build."""
    assert choose_login_type(MAUTRIX_GO_BRIDGEV2, advertised) is None
    assert plan_logins([MAUTRIX_GO_BRIDGEV2], advertised, ALICE, "token") == []
    with pytest.raises(ValueError, match="mautrix-go-bridgev2 sends no login request"):
        login_body(MAUTRIX_GO_BRIDGEV2, LOGIN_TYPE_PASSWORD, ALICE, "token")


# -- reading the as_token --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "tok123\n",
        "\n  tok123  \n",
        "as_token:tok123\n",
        "as_token: tok123\n",
        "# a comment\nid: doublepuppet\nas_token: tok123\nhs_token: other\n",
    ],
)
def test_read_as_token_from_a_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "token"
    path.write_text(text, encoding="utf-8")
    assert credentials.read_as_token(str(path)) == "tok123"


def test_read_as_token_registration_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    registration = "id: doublepuppet\nurl: null\nas_token: tok123\nhs_token: other\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(registration))
    assert credentials.read_as_token("-") == "tok123"


def test_read_as_token_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CliError, match=r"cannot read .*nope: No such file"):
        credentials.read_as_token(str(tmp_path / "nope"))


def test_read_as_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(credentials.AS_TOKEN_ENV, " as_token:tok123 ")
    assert credentials.read_as_token(None) == "tok123"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no as_token"),
        ("id: doublepuppet\nurl: null\n", "YAML mapping without an as_token"),
        ("as_token:\n", "the as_token is empty"),
        ("two words\n", "spaces or control characters"),
    ],
)
def test_read_as_token_refuses(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "token"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CliError, match=message):
        credentials.read_as_token(str(path))


def test_no_as_token_anywhere(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "doctor", "http://127.0.0.1:1", "--user", ALICE, "--appservice"
    )
    assert (code, out) == (2, "")
    assert "no as_token: give --as-token-file PATH" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--appservice"], "need --user USER_ID"),
        (["--user", ALICE, "--appservice", "--secret-file", "x"], "not --appservice"),
        (["--user", ALICE, "--as-token-file", "x", "--family", "mautrix-python"], "--family"),
    ],
)
def test_appservice_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, "doctor", "http://127.0.0.1:1", *argv)
    assert (code, out) == (2, "")
    assert message in err
    assert err.count("\n") == 1


def test_homeserver_url_needed_without_bridge_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "doctor", "--user", ALICE)
    assert code == 2
    assert "give HOMESERVER_URL, or --bridge-config PATH" in err


def test_as_token_not_sent_in_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok123\n", encoding="utf-8")
    url = "http://matrix.example.org:8008"
    code, out, err = run_cli(capsys, "doctor", url, "--user", ALICE, "--as-token-file", str(token))
    assert (code, out) == (2, "")
    assert (
        f"{url} is plain http:// to another machine, and the check would send the as_token" in err
    )


def test_bridge_config_needs_user(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "doctor", "--bridge-config", str(tmp_path / "x.yaml"))
    assert code == 2
    assert "--bridge-config needs --user USER_ID" in err
