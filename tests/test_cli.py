"""The command line: doctor's decisions on their own, token, check-config on real files, and
doctor against real Synapse processes (one per configuration, shared by the tests that need it)."""

from __future__ import annotations

import getpass
import http.server
import io
import json
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cli_support import clean_environment, run_cli

from synapse_dp_auth import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET
from synapse_dp_auth.admin import checkconfig, cli, client, diagnosis, report
from synapse_dp_auth.admin.diagnosis import DOCTOR_DEVICE, LoginOutcome, PlannedLogin, Verdict
from synapse_dp_auth.admin.families import (
    FAMILIES,
    LEGACY_MAUTRIX_GO,
    MATRIX_CORPORAL,
    MAUTRIX_GO_BOTS,
    MAUTRIX_PYTHON,
    MX_PUPPET_BRIDGE,
)
from synapse_dp_auth.token import make_token
from testbed.homeserver import HOST, Homeserver, free_port

SECRET = "correct horse battery staple, but 64 characters long for real!!"
OTHER_SECRET = "a completely different secret, also long enough to pass muster"
MODULE = "synapse_dp_auth.SharedSecretAuthProvider"
DEVTURE = LOGIN_TYPE_SHARED_SECRET
PASSWORD = LOGIN_TYPE_PASSWORD
USER = "@alice:example.org"
APPSERVICE = "m.login.application_service"
SYNAPSE_ORDER = [PASSWORD, DEVTURE, APPSERVICE]  # what Synapse lists with the module loaded

OK = LoginOutcome(status=200, user_id=USER)
FORBIDDEN = LoginOutcome(status=403, errcode="M_FORBIDDEN", error="Invalid username or password")
UNKNOWN_TYPE = LoginOutcome(status=400, errcode="M_UNKNOWN", error=f"Unknown login type {DEVTURE}")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


def by_family(
    diagnoses: Sequence[diagnosis.FamilyDiagnosis],
) -> dict[str, diagnosis.FamilyDiagnosis]:
    return {d.family.name: d for d in diagnoses}


def results_for(
    advertised: Sequence[str], outcomes: Mapping[tuple[str, bool], LoginOutcome]
) -> list[tuple[PlannedLogin, LoginOutcome]]:
    """Outcomes for every planned login, keyed by (login type, top-level `user` present)."""
    planned = diagnosis.plan_logins(FAMILIES, advertised, USER, "t" * 128)
    return [(p, outcomes[(p.login_type, "user" in p.body)]) for p in planned]


# -- doctor: the pure decisions ----------------------------------------------------------------


def test_protocol_names_are_the_wire_names() -> None:
    # One definition serves the module and the doctor; it must be what the bridges send.
    wire = ("com.devture.shared_secret_auth", "m.login.password")
    assert wire == (LOGIN_TYPE_SHARED_SECRET, LOGIN_TYPE_PASSWORD)
    assert [f.name for f in FAMILIES] == [
        "mautrix-python",
        "mautrix-go-legacy",
        "mx-puppet-bridge",
        "matrix-corporal",
        "mautrix-go-bots",
    ]


@pytest.mark.parametrize(
    ("advertised", "expected"),
    [
        # Synapse with the module: m.login.password first.
        (SYNAPSE_ORDER, [PASSWORD, DEVTURE, PASSWORD, PASSWORD, DEVTURE]),
        # Another server that lists the shared-secret type first.
        ([DEVTURE, PASSWORD], [DEVTURE, DEVTURE, PASSWORD, PASSWORD, DEVTURE]),
        # Password login off (password_config.enabled: false).
        ([DEVTURE, APPSERVICE], [DEVTURE, DEVTURE, PASSWORD, PASSWORD, DEVTURE]),
        # Module not loaded.
        ([PASSWORD, APPSERVICE], [PASSWORD, PASSWORD, PASSWORD, PASSWORD, DEVTURE]),
        # Neither: the families that ask give up.
        ([APPSERVICE], [None, None, PASSWORD, PASSWORD, DEVTURE]),
    ],
)
def test_each_family_chooses_by_its_own_rule(
    advertised: list[str], expected: list[str | None]
) -> None:
    assert [diagnosis.choose_login_type(f, advertised) for f in FAMILIES] == expected


def test_login_bodies_have_each_familys_shape_and_the_doctors_device() -> None:
    identifier = {"type": "m.id.user", "user": USER}
    token = make_token(SECRET, USER)
    mautrix = {
        "type": DEVTURE,
        "identifier": identifier,
        "token": token,
        "device_id": DOCTOR_DEVICE,
        "initial_device_display_name": DOCTOR_DEVICE,
    }
    assert diagnosis.login_body(MAUTRIX_PYTHON, DEVTURE, USER, token) == mautrix
    assert diagnosis.login_body(LEGACY_MAUTRIX_GO, DEVTURE, USER, token) == mautrix
    assert diagnosis.login_body(MAUTRIX_PYTHON, PASSWORD, USER, token) == {
        **{k: v for k, v in mautrix.items() if k != "token"},
        "type": PASSWORD,
        "password": token,
    }
    assert diagnosis.login_body(MX_PUPPET_BRIDGE, PASSWORD, USER, token) == {
        "type": PASSWORD,
        "identifier": identifier,
        "password": token,
    }
    assert diagnosis.login_body(MATRIX_CORPORAL, PASSWORD, USER, token) == {
        "type": PASSWORD,
        "user": USER,
        "identifier": identifier,
        "password": token,
        "device_id": DOCTOR_DEVICE,
    }
    assert diagnosis.login_body(MAUTRIX_GO_BOTS, DEVTURE, USER, token) == {
        "type": DEVTURE,
        "identifier": identifier,
        "token": token,
    }
    # Never a real bridge's device: logging out deletes the device and all its tokens.
    assert DOCTOR_DEVICE not in ("matrix-corporal", "Telegram Bridge", "Demo Bridge")


def test_identical_requests_are_sent_once() -> None:
    plan = diagnosis.plan_logins(FAMILIES, SYNAPSE_ORDER, USER, "t" * 128)
    assert [(p.login_type, [f.name for f in p.families]) for p in plan] == [
        (PASSWORD, ["mautrix-python", "mx-puppet-bridge"]),
        (DEVTURE, ["mautrix-go-legacy", "mautrix-go-bots"]),
        (PASSWORD, ["matrix-corporal"]),
    ]
    assert "user" in plan[2].body
    # A family that gives up sends nothing.
    plan = diagnosis.plan_logins([MAUTRIX_PYTHON], [APPSERVICE], USER, "t" * 128)
    assert plan == []


def test_probe_only_when_a_password_refusal_needs_explaining() -> None:
    plan = diagnosis.plan_logins([MX_PUPPET_BRIDGE], SYNAPSE_ORDER, USER, "t" * 128)
    probe = diagnosis.probe_login([(plan[0], FORBIDDEN)], USER, "t" * 128)
    assert probe is not None
    assert probe.login_type == DEVTURE
    assert probe.families == ()
    assert dict(probe.body)["token"] == "t" * 128
    assert diagnosis.probe_login([(plan[0], OK)], USER, "t" * 128) is None
    both = diagnosis.plan_logins(FAMILIES, SYNAPSE_ORDER, USER, "t" * 128)
    assert diagnosis.probe_login([(p, FORBIDDEN) for p in both], USER, "t" * 128) is None


def test_without_a_login_only_what_is_advertised_is_known() -> None:
    diagnoses = by_family(diagnosis.diagnose(FAMILIES, SYNAPSE_ORDER, None))
    assert {name: d.verdict for name, d in diagnoses.items()} == dict.fromkeys(
        diagnoses, Verdict.UNCONFIRMED
    )
    assert "needs a login to confirm" in diagnoses["mx-puppet-bridge"].detail
    assert "for its own passwords too" in diagnoses["mx-puppet-bridge"].detail
    assert "m_login_password_support_enabled: true" in diagnoses["mautrix-python"].detail
    assert diagnosis.exit_code(diagnoses.values()) == 0

    not_loaded = by_family(diagnosis.diagnose(FAMILIES, [PASSWORD, APPSERVICE], None))
    assert not_loaded["mautrix-go-bots"].verdict is Verdict.FAILS
    assert "not loaded" in (not_loaded["mautrix-go-bots"].remedy or "")
    assert not_loaded["mautrix-python"].verdict is Verdict.UNCONFIRMED

    nothing = by_family(diagnosis.diagnose(FAMILIES, [APPSERVICE], None))
    assert nothing["mautrix-python"].verdict is Verdict.FAILS
    assert nothing["mautrix-python"].login_type is None
    assert nothing["matrix-corporal"].verdict is Verdict.FAILS
    assert "password_config.enabled" in (nothing["matrix-corporal"].remedy or "")
    assert diagnosis.exit_code(nothing.values()) == 1


def test_module_does_not_take_tokens_as_passwords() -> None:
    results = results_for(
        SYNAPSE_ORDER,
        {(PASSWORD, False): FORBIDDEN, (PASSWORD, True): FORBIDDEN, (DEVTURE, False): OK},
    )
    diagnoses = by_family(diagnosis.diagnose(FAMILIES, SYNAPSE_ORDER, results))
    assert diagnoses["mautrix-python"].verdict is Verdict.FAILS
    assert diagnoses["mautrix-python"].remedy == (
        "the server lists m.login.password first and the module does not accept tokens on it:"
        " set m_login_password_support_enabled: true"
    )
    assert "listed before com.devture.shared_secret_auth" in diagnoses["mautrix-python"].why
    for name in ("mx-puppet-bridge", "matrix-corporal"):
        assert diagnoses[name].verdict is Verdict.FAILS
        assert "set m_login_password_support_enabled: true" in (diagnoses[name].remedy or "")
    for name in ("mautrix-go-legacy", "mautrix-go-bots"):
        assert diagnoses[name].verdict is Verdict.WORKS
        assert diagnoses[name].detail == f"logged in as {USER}"
    assert diagnosis.exit_code(diagnoses.values()) == 1


def test_wrong_secret_or_user() -> None:
    results = results_for(
        SYNAPSE_ORDER,
        {(PASSWORD, False): FORBIDDEN, (PASSWORD, True): FORBIDDEN, (DEVTURE, False): FORBIDDEN},
    )
    for found in diagnosis.diagnose(FAMILIES, SYNAPSE_ORDER, results):
        assert found.verdict is Verdict.FAILS
        assert (found.remedy or "").startswith("wrong secret, or the user does not exist")
        assert "log line from synapse_dp_auth" in (found.remedy or "")


def test_module_not_loaded() -> None:
    advertised = [PASSWORD, APPSERVICE]
    results = results_for(
        advertised,
        {(PASSWORD, False): FORBIDDEN, (PASSWORD, True): FORBIDDEN, (DEVTURE, False): UNKNOWN_TYPE},
    )
    diagnoses = by_family(diagnosis.diagnose(FAMILIES, advertised, results))
    assert "most likely synapse_dp_auth is not loaded" in (diagnoses["mautrix-python"].remedy or "")
    bots = diagnoses["mautrix-go-bots"].remedy or ""
    assert "does not know com.devture.shared_secret_auth" in bots
    assert "com_devture_shared_secret_auth_support_enabled is false" in bots
    assert "these clients send no other type" in bots


@pytest.mark.parametrize(
    ("outcome", "login_type", "expected"),
    [
        (
            LoginOutcome(status=429, errcode="M_LIMIT_EXCEEDED", retry_after_ms=1500),
            DEVTURE,
            "rate-limited by Synapse: raise rc_login",
        ),
        (
            LoginOutcome(status=429, errcode="M_LIMIT_EXCEEDED", retry_after_ms=1500),
            DEVTURE,
            "wait 2 s",
        ),
        (
            LoginOutcome(status=403, errcode="M_USER_DEACTIVATED"),
            DEVTURE,
            "the user is deactivated",
        ),
        (LoginOutcome(status=500, errcode="M_UNKNOWN"), DEVTURE, "see Synapse's log"),
        (UNKNOWN_TYPE, DEVTURE, "synapse_dp_auth is not loaded"),
        (
            LoginOutcome(
                status=400, errcode="M_UNKNOWN", error="Unknown login type m.login.password"
            ),
            PASSWORD,
            "set m_login_password_support_enabled: true",
        ),
        (
            LoginOutcome(
                status=400, errcode="M_UNKNOWN", error="Password login has been disabled."
            ),
            PASSWORD,
            "password_config.enabled is false",
        ),
        (LoginOutcome(status=401, errcode="M_UNKNOWN_TOKEN"), DEVTURE, "unexpected answer"),
    ],
)
def test_refusals_are_explained(outcome: LoginOutcome, login_type: str, expected: str) -> None:
    remedy = diagnosis.explain_refusal(MATRIX_CORPORAL, login_type, outcome, SYNAPSE_ORDER, None)
    assert expected in remedy


def test_outcome_descriptions() -> None:
    assert OK.describe() == f"logged in as {USER}"
    assert FORBIDDEN.describe() == "HTTP 403 M_FORBIDDEN: Invalid username or password"
    assert LoginOutcome(status=502).describe() == "HTTP 502"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://matrix.example.org", "https://matrix.example.org"),
        ("https://matrix.example.org/", "https://matrix.example.org"),
        (" http://127.0.0.1:8008/prefix/ ", "http://127.0.0.1:8008/prefix"),
    ],
)
def test_homeserver_urls(text: str, expected: str) -> None:
    assert client.parse_homeserver_url(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "matrix.example.org",
        "ftp://example.org",
        "http://",
        "http://example.org:99999",
        "",
        "https://x?a=1",
    ],
)
def test_bad_homeserver_urls(text: str) -> None:
    with pytest.raises(client.HomeserverError, match=r"https://matrix\.example\.org"):
        client.parse_homeserver_url(text)


@pytest.mark.parametrize(
    ("user_id", "valid"),
    [
        ("@alice:example.org", True),
        ("@a:b:8448", True),
        ("alice", False),
        ("@alice", False),
        ("@:example.org", False),
        ("@alice:", False),
        ("alice:example.org", False),
        ("@alice:example.org\n", False),
    ],
)
def test_full_user_ids(user_id: str, valid: bool) -> None:
    assert cli.is_full_user_id(user_id) is valid


def test_server_text_escapes_what_a_terminal_would_act_on() -> None:
    assert report.server_text("Invalid username or password") == "Invalid username or password"
    assert report.server_text("a\x1b[2Jb\x07\r\n\t\x9b") == "a\\x1b[2Jb\\x07\\x0d\\x0a\\x09\\x9b"
    # Bidi overrides, lone surrogates (PEP 383), invisible tags; printable non-ASCII stays.
    assert report.server_text("\u202eexe.txt \udcff \U000e0041 ü") == (
        "\\u202eexe.txt \\udcff \\U000e0041 ü"
    )


def test_server_text_is_bounded() -> None:
    assert report.server_text("x" * report.MAX_SERVER_TEXT) == "x" * report.MAX_SERVER_TEXT
    assert report.server_text("x" * 10_000) == "x" * report.MAX_SERVER_TEXT + "..."
    # Escapes count towards the bound.
    assert report.server_text("\x1b" * 10_000, limit=8) == "\\x1b\\x1b..."


@pytest.mark.parametrize(
    ("url", "in_clear"),
    [
        ("http://127.0.0.1:8008", False),
        ("http://127.1.2.3", False),
        ("http://[::1]:8008", False),
        ("http://localhost:8008", False),
        ("http://LocalHost", False),
        ("https://matrix.example.org", False),
        ("https://203.0.113.7:8448", False),
        ("http://matrix.example.org", True),
        ("http://192.168.1.10:8008", True),
        ("http://[fe80::1]", True),
        ("http://localhost.example.org", True),
        ("http://127.0.0.1.example.org", True),
    ],
)
def test_plain_http_beyond_loopback(url: str, in_clear: bool) -> None:
    assert client.sends_in_clear_over_network(url) is in_clear


# -- token -------------------------------------------------------------------------------------


def test_token_from_secret_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(f"\n   \n  {SECRET}  \r\n{OTHER_SECRET}\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "token", USER, "--secret-file", str(secret_file))
    assert (code, out, err) == (0, make_token(SECRET, USER) + "\n", "")


def test_token_from_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cli.SECRET_ENV, SECRET + "\n")
    code, out, _ = run_cli(capsys, "token", USER)
    assert (code, out) == (0, make_token(SECRET, USER) + "\n")


def test_secret_file_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cli.SECRET_ENV, OTHER_SECRET)
    (tmp_path / "secret").write_text(SECRET, encoding="utf-8")
    _, out, _ = run_cli(capsys, "token", USER, "--secret-file", str(tmp_path / "secret"))
    assert out == make_token(SECRET, USER) + "\n"


def test_token_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    _, out, _ = run_cli(capsys, "token", USER, "--secret-file", "-")
    assert out == make_token(SECRET, USER) + "\n"


def test_token_from_prompt_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return SECRET

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    _, out, _ = run_cli(capsys, "token", USER)
    assert out == make_token(SECRET, USER) + "\n"
    assert prompts == ["Shared secret (not shown): "]


def test_token_refuses_without_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "token", USER)
    assert (code, out) == (2, "")
    assert err.startswith("synapse_dp_auth token: error: no shared secret: give --secret-file")
    assert "ps and shell history" in err
    assert err.count("\n") == 1


def test_token_has_no_secret_argument(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "token", USER, "--secret", SECRET)
    assert code == 2
    assert "unrecognized arguments" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("\n  \n", "holds no secret"), (b"\xff\xfe", "cannot read")],
)
def test_token_bad_secret_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "secret"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    code, out, err = run_cli(capsys, "token", USER, "--secret-file", str(path))
    assert (code, out) == (2, "")
    assert message in err
    assert err.count("\n") == 1


def test_token_empty_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cli.SECRET_ENV, "  ")
    code, _, err = run_cli(capsys, "token", USER)
    assert code == 2
    assert f"{cli.SECRET_ENV} is set but empty" in err


# A byte that is not UTF-8, as Python hands it over from the environment or a non-UTF-8 stdin.
UNDECODABLE_SECRET = SECRET[:20] + "\udcff" + SECRET[20:]


@pytest.mark.parametrize(
    "argv", [["token", USER], ["doctor", "http://127.0.0.1:1", "--user", USER]]
)
def test_secret_not_utf8_in_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setenv(cli.SECRET_ENV, UNDECODABLE_SECRET)
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, "")
    # One line naming the source, and nothing of the secret (not even the bad byte).
    assert err == f"synapse_dp_auth {argv[0]}: error: {cli.SECRET_ENV} is not valid UTF-8\n"


def test_secret_not_utf8_on_stdin_or_prompt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(UNDECODABLE_SECRET + "\n"))
    code, _, err = run_cli(capsys, "token", USER, "--secret-file", "-")
    assert (code, err) == (2, "synapse_dp_auth token: error: stdin is not valid UTF-8\n")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": UNDECODABLE_SECRET)
    code, _, err = run_cli(capsys, "token", USER)
    assert (code, err) == (
        2,
        "synapse_dp_auth token: error: the secret entered is not valid UTF-8\n",
    )


def test_secret_file_byte_order_mark_is_not_part_of_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"\xef\xbb\xbf" + SECRET.encode() + b"\r\n")
    _, out, _ = run_cli(capsys, "token", USER, "--secret-file", str(path))
    assert out == make_token(SECRET, USER) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeff" + SECRET + "\n"))
    _, out, _ = run_cli(capsys, "token", USER, "--secret-file", "-")
    assert out == make_token(SECRET, USER) + "\n"


def test_secret_file_not_utf8_is_not_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET[:20].encode() + b"\xff" + SECRET[20:].encode())
    code, out, err = run_cli(capsys, "token", USER, "--secret-file", str(path))
    assert (code, out) == (2, "")
    # The decoder's own message would quote the byte (0xff) and where it is.
    assert err == f"synapse_dp_auth token: error: cannot read {path}: not valid UTF-8\n"


def test_token_needs_a_full_user_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(cli.SECRET_ENV, SECRET)
    code, out, err = run_cli(capsys, "token", "alice")
    assert (code, out) == (2, "")
    assert "not a full user ID like @alice:example.org" in err


# -- check-config ------------------------------------------------------------------------------


def write_config(directory: Path, text: str, name: str = "homeserver.yaml") -> str:
    path = directory / name
    path.write_text("server_name: example.org\n" + text, encoding="utf-8")
    return str(path)


def module_yaml(config: str, section: str = "modules", module: str = MODULE) -> str:
    indented = "".join(f"      {line}\n" for line in config.strip().splitlines())
    return f"{section}:\n  - module: {module}\n    config:\n{indented}"


def test_check_config_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path, module_yaml(f'shared_secret: ["{SECRET}", "{OTHER_SECRET}"]\nallow_admins: false')
    )
    code, out, err = run_cli(capsys, "check-config", path)
    assert (code, err) == (0, "")
    assert f"{MODULE}: modules[0] in {path}" in out
    assert "  shared_secret: 2 secrets (masked)\n" in out
    assert "  m_login_password_support_enabled: true (default)\n" in out
    assert "  allow_admins: false\n" in out
    assert "  allowed_users: every local user (default)\n" in out
    assert "rc_login.address: per_second 0.003, burst_count 5 (default)" in out
    assert f"Expected GET /login list: {PASSWORD}, {DEVTURE}" in out
    assert "warning:" not in out
    assert out.endswith("Valid, with 0 warning(s).\n")
    assert SECRET not in out
    assert OTHER_SECRET not in out


def test_check_config_secret_file_masked_and_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    secret_file.chmod(0o644)
    path = write_config(tmp_path, module_yaml(f"shared_secret_path: {secret_file}"))
    code, out, _ = run_cli(capsys, "check-config", path)
    assert code == 0
    assert f"  shared_secret_path: {secret_file}: 1 secret (masked)\n" in out
    assert f"warning: shared_secret_path: {secret_file} is accessible by group or others" in out
    assert SECRET not in out


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("allow_admins: true", "modules[0].config.shared_secret: is required"),
        (f'shared_secret: "{SECRET}"\nallow_admins: "false"', "modules[0].config.allow_admins:"),
        (f'shared_secret: "{SECRET}"\nshared_secrets: x', "modules[0].config.shared_secrets:"),
        (
            f'shared_secret: "{SECRET}"\nm_login_password_support_enabled: false\n'
            "com_devture_shared_secret_auth_support_enabled: false",
            "both false",
        ),
        (f'shared_secret: "{SECRET}"\nallowed_users: ["("]', "not a valid regular expression"),
        ("shared_secret_path: /nonexistent/secret", "cannot read /nonexistent/secret"),
    ],
)
def test_check_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, expected: str
) -> None:
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, module_yaml(config)))
    assert code == 1
    assert f"error: {expected}" in out or expected in out
    assert out.endswith("not valid.\n")
    assert SECRET not in out


def test_check_config_retention_is_shown_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, module_yaml(f"shared_secret: {SECRET}"))
    code, out, _ = run_cli(capsys, "check-config", path)
    assert code == 0
    assert "  login_records_retention_period: 90 days after the session ends (default)\n" in out
    config = f"shared_secret: {SECRET}\nlogin_records_retention_period: 2 weeks"
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, module_yaml(config)))
    assert code == 1
    assert "modules[0].config.login_records_retention_period: must be a duration" in out


def test_files_nested_too_deeply_are_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config, appservice -c, doctor --bridge-config and --as-token-file: one line, no
    RecursionError, for files nested some thousand levels deep (Python's parsers recurse)."""
    flow, value, block = (tmp_path / name for name in ("flow.yaml", "value.yaml", "block.yaml"))
    flow.write_text("[" * 3000, encoding="utf-8")
    value.write_text("server_name: a.org\nmodules: " + "[" * 1500 + "]" * 1500 + "\n")
    block.write_text("".join(" " * depth + "a:\n" for depth in range(1500)), encoding="utf-8")
    for argv in (
        ["check-config", str(flow)],
        ["appservice", str(tmp_path / "out.yaml"), "-c", str(value)],
        ["doctor", "--bridge-config", str(block), "--user", USER],
        ["doctor", "http://127.0.0.1:1", "--user", USER, "--as-token-file", str(flow)],
    ):
        code, out, err = run_cli(capsys, *argv)
        assert code in (1, 2), argv
        assert "is nested too deeply to be read" in out + err, argv
    # A registration listed in homeserver.yaml, too.
    config = write_config(tmp_path, f"app_service_config_files: [{block}]\n", "hs.yaml")
    code, out, _ = run_cli(capsys, "check-config", config)
    assert "is nested too deeply to be read" in out


def test_check_config_empty_config_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f"modules:\n  - module: {MODULE}\n    shared_secret: {SECRET}\n"
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert "warning: modules[0] has shared_secret next to module:" in out
    assert "error: modules[0].config.shared_secret: is required" in out
    assert SECRET not in out


def test_check_config_under_password_providers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, module_yaml(f'shared_secret: "{SECRET}"', "password_providers"))
    code, out, _ = run_cli(capsys, "check-config", path)
    assert code == 1
    assert "error: password_providers[0]: synapse_dp_auth is a module" in out
    assert "from password_providers: to modules:" in out
    assert "shared_secret: 1 secret (masked)" in out  # its config is still checked


def test_check_config_devture_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path, module_yaml(f'shared_secret: "{SECRET}"', module=checkconfig.DEVTURE_MODULE)
    )
    code, out, _ = run_cli(capsys, "check-config", path)
    assert code == 1
    assert f"change its module: to {MODULE} and keep its config:" in out
    assert "its config: is valid for synapse_dp_auth as it is" in out
    assert "error: synapse_dp_auth is not configured" in out
    assert SECRET not in out


def test_check_config_devture_module_with_a_string_boolean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = f'shared_secret: "{SECRET}"\nm_login_password_support_enabled: "true"'
    path = write_config(tmp_path, module_yaml(config, module=checkconfig.DEVTURE_MODULE))
    _, out, _ = run_cli(capsys, "check-config", path)
    assert "synapse_dp_auth would refuse this" in out
    assert "m_login_password_support_enabled" in out


def test_check_config_devture_v1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        f"password_providers:\n  - module: {checkconfig.DEVTURE_V1_PROVIDER}\n"
        f"    config:\n      sharedSecret: {SECRET}\n"
    )
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert "shared-secret-authenticator v1" in out
    assert "<the value of its sharedSecret>" in out
    assert SECRET not in out


def test_check_config_both_modules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = module_yaml(f'shared_secret: "{SECRET}"') + (
        f"  - module: {checkconfig.DEVTURE_MODULE}\n    config:\n      shared_secret: {SECRET}\n"
    )
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert "error: modules[1]: devture's" in out
    assert "remove its entry" in out


def test_check_config_listed_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = module_yaml(f'shared_secret: "{SECRET}"')
    text = entry + entry.partition("\n")[2]
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert code == 1
    assert "listed more than once" in out


def test_check_config_not_configured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, "modules: []\n"))
    assert code == 1
    assert "error: synapse_dp_auth is not configured" in out


def test_check_config_predicts_mautrix_python_failing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = f'shared_secret: "{SECRET}"\nm_login_password_support_enabled: false'
    code, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, module_yaml(config)))
    assert code == 0  # valid, but:
    assert (
        "warning: mautrix-python cannot log in: sends m.login.password, listed first, where the"
        " module takes no tokens: set m_login_password_support_enabled: true"
    ) in out
    assert "ok    mautrix-go-legacy: com.devture.shared_secret_auth" in out


def test_check_config_password_login_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = module_yaml(f'shared_secret: "{SECRET}"') + "password_config:\n  enabled: false\n"
    _, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert "password_config.enabled: false: Synapse lists and accepts no m.login.password" in out
    assert "warning: matrix-corporal cannot log in" in out
    assert "ok    mautrix-python: com.devture.shared_secret_auth" in out


def test_check_config_rate_limits_and_mas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = module_yaml(f'shared_secret: "{SECRET}"') + (
        "rc_login:\n  address: {per_second: 1, burst_count: 50}\n"
        "matrix_authentication_service:\n  enabled: true\n"
    )
    _, out, _ = run_cli(capsys, "check-config", write_config(tmp_path, text))
    assert "rc_login.address: per_second 1, burst_count 50\n" in out
    assert "rc_login.account: per_second 0.003, burst_count 5 (default)" in out
    assert "warning: login is delegated to the Matrix Authentication Service" in out


def test_check_config_merges_like_synapse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = write_config(tmp_path, "modules: []\n")
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "10-dp-auth.yaml").write_text(module_yaml(f'shared_secret: "{SECRET}"'), "utf-8")
    (conf_d / "20-empty.yaml").write_text("", "utf-8")
    (conf_d / "notes.txt").write_text("not yaml: [", "utf-8")
    code, out, _ = run_cli(capsys, "check-config", main, str(conf_d))
    assert code == 0
    assert f"modules[0] in {conf_d / '10-dp-auth.yaml'}" in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f'modules:\n  - module: {MODULE}\n    config:\n      shared_secret: "{SECRET}\n',
            "not valid YAML: ",
        ),
        ("- just\n- a list\n", "does not hold a mapping of settings"),
        (b"\xff\xfe", "cannot read"),
    ],
)
def test_check_config_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, expected: str
) -> None:
    path = tmp_path / "homeserver.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    code, out, err = run_cli(capsys, "check-config", str(path))
    assert (code, out) == (1, "")
    assert expected in err
    assert err.count("\n") == 1
    assert SECRET not in err  # PyYAML's snippet of the offending line is left out


def test_check_config_not_utf8_is_not_quoted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "homeserver.yaml"
    secret = SECRET[:20].encode() + b"\xff" + SECRET[20:].encode()
    path.write_bytes(
        f"modules:\n  - module: {MODULE}\n    config:\n      shared_secret: ".encode() + secret
    )
    code, out, err = run_cli(capsys, "check-config", str(path))
    assert (code, out) == (1, "")
    # The decoder's own message would quote a byte of the inline secret (0xff).
    assert err == f"synapse_dp_auth check-config: error: cannot read {path}: not valid UTF-8\n"


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "check-config", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert err == (
        f"synapse_dp_auth check-config: error: cannot read {tmp_path / 'nope.yaml'}:"
        " No such file or directory\n"
    )


# -- the command line as a whole ---------------------------------------------------------------


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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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
    monkeypatch.setenv(cli.SECRET_ENV, SECRET)
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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
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
    monkeypatch.setenv(cli.SECRET_ENV, SECRET)
    code, out, err = run_cli(capsys, "doctor", url, "--user", USER)
    assert (code, err) == (1, "")
    assert_harmless(out)
    assert f"  3. m.login.{HOSTILE_SHOWN}\n" in out
    assert f"  4. {'x' * report.MAX_SERVER_TEXT}...\n" in out
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
    monkeypatch.setenv(cli.SECRET_ENV, SECRET)
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
    monkeypatch.setenv(cli.SECRET_ENV, SECRET)
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


# -- doctor against real Synapse processes -----------------------------------------------------


def module_entry(**config: Any) -> list[dict[str, Any]]:
    return [{"module": MODULE, "config": {"shared_secret": SECRET, **config}}]


def start(modules: list[dict[str, Any]], **kwargs: Any) -> Iterator[Homeserver]:
    with Homeserver(modules, **kwargs) as homeserver:
        homeserver.register_user("alice", "alice's own password")
        yield homeserver


@pytest.fixture(scope="module")
def well_configured() -> Iterator[Homeserver]:
    yield from start(module_entry())


@pytest.fixture(scope="module")
def no_module() -> Iterator[Homeserver]:
    yield from start([])


@pytest.fixture(scope="module")
def no_password_support() -> Iterator[Homeserver]:
    yield from start(module_entry(m_login_password_support_enabled=False))


@pytest.fixture(scope="module")
def no_shared_secret_type() -> Iterator[Homeserver]:
    yield from start(module_entry(com_devture_shared_secret_auth_support_enabled=False))


@pytest.fixture(scope="module")
def rate_limited() -> Iterator[Homeserver]:
    unlimited = {"per_second": 10_000, "burst_count": 10_000}
    rc_login = {
        "address": {"per_second": 0.001, "burst_count": 1},
        "account": unlimited,
        "failed_attempts": unlimited,
    }
    yield from start(module_entry(), extra_config={"rc_login": rc_login})


def devices(homeserver: Homeserver, user_id: str) -> set[str]:
    path = f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id)}/devices"
    status, body = homeserver.get(path, homeserver.admin_token)
    assert status == 200, body
    return {device["device_id"] for device in body["devices"]}


def run_doctor(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    homeserver: Homeserver,
    *extra: str,
    user: str | None = "alice",
    secret: str = SECRET,
) -> tuple[int, str]:
    """Run doctor as an admin would; checks it leaves no device behind. Returns (code, stdout)."""
    monkeypatch.setenv(cli.SECRET_ENV, secret)
    argv = ["doctor", homeserver.url, *extra]
    user_id = homeserver.user_id(user) if user else None
    before = devices(homeserver, homeserver.user_id("alice"))
    if user_id is not None:
        argv += ["--user", user_id]
    code, out, err = run_cli(capsys, *argv)
    assert err == ""
    assert devices(homeserver, homeserver.user_id("alice")) == before
    return code, out


def verdicts(out: str) -> dict[str, str]:
    """``{family: verdict}`` from the report's family lines."""
    names = {family.name for family in FAMILIES}
    found = {}
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("ok", "?", "FAIL") and words[1] in names:
            found[words[1]] = words[0]
    return found


ALL_OK = dict.fromkeys((f.name for f in FAMILIES), "ok")


def test_doctor_well_configured(
    well_configured: Homeserver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_doctor(capsys, monkeypatch, well_configured)
    assert code == 0
    assert verdicts(out) == ALL_OK
    assert out.startswith(
        f"GET {well_configured.url}/_matrix/client/v3/login lists, in this order:\n"
        f"  1. {PASSWORD}\n  2. {DEVTURE}\n  3. {APPSERVICE}\n"
    )
    # Three requests for five families: identical requests are sent once.
    assert out.count(", logged out\n") == 3
    assert out.endswith("Every client family checked can log in.\n")


def test_doctor_well_configured_without_a_login(
    well_configured: Homeserver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_doctor(capsys, monkeypatch, well_configured, user=None)
    assert code == 0
    assert verdicts(out) == dict.fromkeys(ALL_OK, "?")
    assert "needs a login to confirm that the module takes tokens on it (--user)" in out
    assert "only a login proves it: run again with --user" in out


def test_doctor_wrong_secret(
    well_configured: Homeserver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_doctor(capsys, monkeypatch, well_configured, secret=OTHER_SECRET)
    assert code == 1
    assert verdicts(out) == dict.fromkeys(ALL_OK, "FAIL")
    assert out.count("fix: wrong secret, or the user does not exist") == 5
    # ... and the log line the remedy points to is there, saying which.
    assert "refused (com.devture.shared_secret_auth): the token does not match" in (
        well_configured.log_text()
    )


def test_doctor_missing_user(
    well_configured: Homeserver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_doctor(capsys, monkeypatch, well_configured, user="nobody")
    assert code == 1
    assert verdicts(out) == dict.fromkeys(ALL_OK, "FAIL")
    assert "fix: wrong secret, or the user does not exist" in out
    assert "Shared-secret login as @nobody:test.local refused" in well_configured.log_text()


def test_doctor_deactivated_user(
    well_configured: Homeserver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    well_configured.deactivate_user(well_configured.register_user("gone"))
    code, out = run_doctor(capsys, monkeypatch, well_configured, user="gone")
    assert code == 1
    assert verdicts(out) == dict.fromkeys(ALL_OK, "FAIL")
    assert "is deactivated" in out


def test_doctor_module_not_loaded(
    no_module: Homeserver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_doctor(capsys, monkeypatch, no_module, user=None)
    assert code == 1
    assert verdicts(out)["mautrix-go-bots"] == "FAIL"
    assert verdicts(out)["mautrix-python"] == "?"

    code, out = run_doctor(capsys, monkeypatch, no_module)
    assert code == 1
    assert verdicts(out) == dict.fromkeys(ALL_OK, "FAIL")
    assert "most likely synapse_dp_auth is not loaded" in out
    assert f"HTTP 400 M_UNKNOWN: Unknown login type {DEVTURE}" in out


def test_doctor_no_password_support(
    no_password_support: Homeserver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out = run_doctor(capsys, monkeypatch, no_password_support)
    assert code == 1
    assert verdicts(out) == {
        "mautrix-python": "FAIL",
        "mautrix-go-legacy": "ok",
        "mx-puppet-bridge": "FAIL",
        "matrix-corporal": "FAIL",
        "mautrix-go-bots": "ok",
    }
    assert (
        "fix: the server lists m.login.password first and the module does not accept tokens on"
        " it: set m_login_password_support_enabled: true\n"
    ) in out


def test_doctor_one_family_probes_to_explain(
    no_password_support: Homeserver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out = run_doctor(capsys, monkeypatch, no_password_support, "--family", "mautrix-python")
    assert code == 1
    assert verdicts(out) == {"mautrix-python": "FAIL"}
    assert "[to tell causes apart]: logged in as" in out
    assert "set m_login_password_support_enabled: true" in out

    code, out = run_doctor(
        capsys, monkeypatch, no_password_support, "--family", "mautrix-go-legacy"
    )
    assert (code, verdicts(out)) == (0, {"mautrix-go-legacy": "ok"})


def test_doctor_shared_secret_type_disabled(
    no_shared_secret_type: Homeserver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out = run_doctor(capsys, monkeypatch, no_shared_secret_type)
    assert code == 1
    assert verdicts(out) == {**ALL_OK, "mautrix-go-bots": "FAIL"}
    assert "com_devture_shared_secret_auth_support_enabled is false; these clients send" in out


def test_doctor_rate_limited(
    rate_limited: Homeserver, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = run_doctor(capsys, monkeypatch, rate_limited)
    assert code == 1
    assert "HTTP 429 M_LIMIT_EXCEEDED" in out
    assert "fix: rate-limited by Synapse: raise rc_login (address and account)" in out
