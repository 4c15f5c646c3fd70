"""``doctor``'s decisions on shared-secret logins, on their own: what each family sends, which
logins to make, what a refusal means."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from constants import DEVTURE, PASSWORD, SECRET, USER

from synapse_dp_auth import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET
from synapse_dp_auth.admin.doctor import shared_secret_diagnosis
from synapse_dp_auth.admin.doctor.shared_secret_diagnosis import DOCTOR_DEVICE, PlannedLogin
from synapse_dp_auth.admin.doctor.verdict import Verdict
from synapse_dp_auth.admin.shared.client_answers import LoginOutcome
from synapse_dp_auth.admin.shared.families import (
    FAMILIES,
    LEGACY_MAUTRIX_GO,
    MATRIX_CORPORAL,
    MAUTRIX_GO_BOTS,
    MAUTRIX_PYTHON,
    MX_PUPPET_BRIDGE,
    choose_login_type,
)
from synapse_dp_auth.token import make_token

APPSERVICE = "m.login.application_service"
SYNAPSE_ORDER = [PASSWORD, DEVTURE, APPSERVICE]  # what Synapse lists with the module loaded

OK = LoginOutcome(status=200, user_id=USER)
FORBIDDEN = LoginOutcome(status=403, errcode="M_FORBIDDEN", error="Invalid username or password")
UNKNOWN_TYPE = LoginOutcome(status=400, errcode="M_UNKNOWN", error=f"Unknown login type {DEVTURE}")


def by_family(
    diagnoses: Sequence[shared_secret_diagnosis.FamilyDiagnosis],
) -> dict[str, shared_secret_diagnosis.FamilyDiagnosis]:
    return {d.family.name: d for d in diagnoses}


def results_for(
    advertised: Sequence[str], outcomes: Mapping[tuple[str, bool], LoginOutcome]
) -> list[tuple[PlannedLogin, LoginOutcome]]:
    """Outcomes for every planned login, keyed by (login type, top-level `user` present)."""
    planned = shared_secret_diagnosis.plan_logins(FAMILIES, advertised, USER, "t" * 128)
    return [(p, outcomes[(p.login_type, "user" in p.body)]) for p in planned]


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
    assert [choose_login_type(f, advertised) for f in FAMILIES] == expected


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
    assert shared_secret_diagnosis.login_body(MAUTRIX_PYTHON, DEVTURE, USER, token) == mautrix
    assert shared_secret_diagnosis.login_body(LEGACY_MAUTRIX_GO, DEVTURE, USER, token) == mautrix
    assert shared_secret_diagnosis.login_body(MAUTRIX_PYTHON, PASSWORD, USER, token) == {
        **{k: v for k, v in mautrix.items() if k != "token"},
        "type": PASSWORD,
        "password": token,
    }
    assert shared_secret_diagnosis.login_body(MX_PUPPET_BRIDGE, PASSWORD, USER, token) == {
        "type": PASSWORD,
        "identifier": identifier,
        "password": token,
    }
    assert shared_secret_diagnosis.login_body(MATRIX_CORPORAL, PASSWORD, USER, token) == {
        "type": PASSWORD,
        "user": USER,
        "identifier": identifier,
        "password": token,
        "device_id": DOCTOR_DEVICE,
    }
    assert shared_secret_diagnosis.login_body(MAUTRIX_GO_BOTS, DEVTURE, USER, token) == {
        "type": DEVTURE,
        "identifier": identifier,
        "token": token,
    }
    # Never a real bridge's device: logging out deletes the device and all its tokens.
    assert DOCTOR_DEVICE not in ("matrix-corporal", "Telegram Bridge", "Demo Bridge")


def test_identical_requests_are_sent_once() -> None:
    plan = shared_secret_diagnosis.plan_logins(FAMILIES, SYNAPSE_ORDER, USER, "t" * 128)
    assert [(p.login_type, [f.name for f in p.families]) for p in plan] == [
        (PASSWORD, ["mautrix-python", "mx-puppet-bridge"]),
        (DEVTURE, ["mautrix-go-legacy", "mautrix-go-bots"]),
        (PASSWORD, ["matrix-corporal"]),
    ]
    assert "user" in plan[2].body
    # A family that gives up sends nothing.
    plan = shared_secret_diagnosis.plan_logins([MAUTRIX_PYTHON], [APPSERVICE], USER, "t" * 128)
    assert plan == []


def test_probe_only_when_a_password_refusal_needs_explaining() -> None:
    plan = shared_secret_diagnosis.plan_logins([MX_PUPPET_BRIDGE], SYNAPSE_ORDER, USER, "t" * 128)
    probe = shared_secret_diagnosis.probe_login([(plan[0], FORBIDDEN)], USER, "t" * 128)
    assert probe is not None
    assert probe.login_type == DEVTURE
    assert probe.families == ()
    assert dict(probe.body)["token"] == "t" * 128
    assert shared_secret_diagnosis.probe_login([(plan[0], OK)], USER, "t" * 128) is None
    both = shared_secret_diagnosis.plan_logins(FAMILIES, SYNAPSE_ORDER, USER, "t" * 128)
    assert (
        shared_secret_diagnosis.probe_login([(p, FORBIDDEN) for p in both], USER, "t" * 128) is None
    )


def test_without_a_login_only_what_is_advertised_is_known() -> None:
    diagnoses = by_family(shared_secret_diagnosis.diagnose(FAMILIES, SYNAPSE_ORDER, None))
    assert {name: d.verdict for name, d in diagnoses.items()} == dict.fromkeys(
        diagnoses, Verdict.UNCONFIRMED
    )
    assert "needs a login to confirm" in diagnoses["mx-puppet-bridge"].detail
    assert "for its own passwords too" in diagnoses["mx-puppet-bridge"].detail
    assert "m_login_password_support_enabled: true" in diagnoses["mautrix-python"].detail
    assert shared_secret_diagnosis.exit_code(diagnoses.values()) == 0

    not_loaded = by_family(shared_secret_diagnosis.diagnose(FAMILIES, [PASSWORD, APPSERVICE], None))
    assert not_loaded["mautrix-go-bots"].verdict is Verdict.FAILS
    assert "not loaded" in (not_loaded["mautrix-go-bots"].remedy or "")
    assert not_loaded["mautrix-python"].verdict is Verdict.UNCONFIRMED

    nothing = by_family(shared_secret_diagnosis.diagnose(FAMILIES, [APPSERVICE], None))
    assert nothing["mautrix-python"].verdict is Verdict.FAILS
    assert nothing["mautrix-python"].login_type is None
    assert nothing["matrix-corporal"].verdict is Verdict.FAILS
    assert "password_config.enabled" in (nothing["matrix-corporal"].remedy or "")
    assert shared_secret_diagnosis.exit_code(nothing.values()) == 1


def test_module_does_not_take_tokens_as_passwords() -> None:
    results = results_for(
        SYNAPSE_ORDER,
        {(PASSWORD, False): FORBIDDEN, (PASSWORD, True): FORBIDDEN, (DEVTURE, False): OK},
    )
    diagnoses = by_family(shared_secret_diagnosis.diagnose(FAMILIES, SYNAPSE_ORDER, results))
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
    assert shared_secret_diagnosis.exit_code(diagnoses.values()) == 1


def test_wrong_secret_or_user() -> None:
    results = results_for(
        SYNAPSE_ORDER,
        {(PASSWORD, False): FORBIDDEN, (PASSWORD, True): FORBIDDEN, (DEVTURE, False): FORBIDDEN},
    )
    for found in shared_secret_diagnosis.diagnose(FAMILIES, SYNAPSE_ORDER, results):
        assert found.verdict is Verdict.FAILS
        assert (found.remedy or "").startswith("wrong secret, or the user does not exist")
        assert "log line from synapse_dp_auth" in (found.remedy or "")


def test_module_not_loaded() -> None:
    advertised = [PASSWORD, APPSERVICE]
    results = results_for(
        advertised,
        {(PASSWORD, False): FORBIDDEN, (PASSWORD, True): FORBIDDEN, (DEVTURE, False): UNKNOWN_TYPE},
    )
    diagnoses = by_family(shared_secret_diagnosis.diagnose(FAMILIES, advertised, results))
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
    remedy = shared_secret_diagnosis.explain_refusal(
        MATRIX_CORPORAL, login_type, outcome, SYNAPSE_ORDER, None
    )
    assert expected in remedy


def test_outcome_descriptions() -> None:
    assert OK.describe() == f"logged in as {USER}"
    assert FORBIDDEN.describe() == "HTTP 403 M_FORBIDDEN: Invalid username or password"
    assert LoginOutcome(status=502).describe() == "HTTP 502"
