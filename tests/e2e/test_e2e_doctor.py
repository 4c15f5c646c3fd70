"""``doctor`` against real Synapse processes, one per configuration, shared by the tests that
need it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from cli_support import clean_environment, run_cli
from constants import DEVTURE, MODULE, OTHER_SECRET, PASSWORD, SECRET

from synapse_dp_auth.admin.shared.credentials import SECRET_ENV
from synapse_dp_auth.admin.shared.families import FAMILIES
from testbed.homeserver import Homeserver


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment(monkeypatch)


APPSERVICE = "m.login.application_service"


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
    monkeypatch.setenv(SECRET_ENV, secret)
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
