"""``doctor``'s decisions on shared-secret logins: which requests to send, what a refusal means,
what to change.

Pure functions of the types a server advertises and the outcomes of logins, unit-tested on their
own (no HTTP here). A new finding of the shared-secret check goes here; what each family sends
is :func:`~synapse_dp_auth.admin.shared.families.choose_login_type`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attr

from synapse_dp_auth.admin.doctor.verdict import Verdict
from synapse_dp_auth.admin.shared.client_answers import LoginOutcome
from synapse_dp_auth.admin.shared.families import (
    MAUTRIX_GO_BOTS,
    BodyShape,
    Choice,
    Family,
    choose_login_type,
)
from synapse_dp_auth.token import LOGIN_TYPE_PASSWORD, LOGIN_TYPE_SHARED_SECRET

#: The device the doctor logs in on. Never a bridge's own device name ("Telegram Bridge",
#: "matrix-corporal", ...): logging out deletes the device and every token on it, and that must
#: not be the real bridge's double-puppet session.
DOCTOR_DEVICE = "synapse_dp_auth doctor"


@attr.s(frozen=True, auto_attribs=True)
class PlannedLogin:
    """One ``POST /login`` standing for every family that would send the same request.

    Families whose requests differ only in the device fields share one attempt: the device does
    not change how Synapse or the module authenticates, and each login costs one of the
    ``rc_login`` per-address allowance (5 in a burst by default) that the real bridge needs too.
    """

    login_type: str
    body: Mapping[str, Any] = attr.ib(repr=False)  # holds the token
    families: tuple[Family, ...]

    def describe(self) -> str:
        field = "token" if self.login_type == LOGIN_TYPE_SHARED_SECRET else "password"
        extra = ", with a top-level `user`" if "user" in self.body else ""
        return f"{self.login_type} (token as `{field}`{extra})"


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class FamilyDiagnosis:
    family: Family
    verdict: Verdict
    #: The type the family sends here, or ``None`` when it would give up without a request.
    login_type: str | None
    #: Why that type, in words.
    why: str
    #: What happened, or what can be said without a login.
    detail: str
    #: What to change, when something must change.
    remedy: str | None = None


# -- the pure decisions ---------------------------------------------------------------------------


def login_body(family: Family, login_type: str, user_id: str, token: str) -> dict[str, Any]:
    """The request ``family`` sends, field for field, except that the device is the doctor's.

    Raises :class:`ValueError` for a family that sends none (bridgev2: :func:`choose_login_type`
    gives it no login type, so :func:`plan_logins` never asks)."""
    if family.shape is BodyShape.NO_LOGIN:
        raise ValueError(f"{family.name} sends no login request")
    field = "token" if login_type == LOGIN_TYPE_SHARED_SECRET else "password"
    identifier = {"type": "m.id.user", "user": user_id}
    if family.shape is BodyShape.CORPORAL:
        return {
            "type": login_type,
            "user": user_id,
            "identifier": identifier,
            field: token,
            "device_id": DOCTOR_DEVICE,
        }
    body: dict[str, Any] = {"type": login_type, "identifier": identifier, field: token}
    if family.shape is BodyShape.MAUTRIX:
        body["device_id"] = DOCTOR_DEVICE
        body["initial_device_display_name"] = DOCTOR_DEVICE
    return body


def _request_key(body: Mapping[str, Any]) -> tuple[str, ...]:
    """What makes two login requests different to the server's authentication."""
    device_fields = {"device_id", "initial_device_display_name"}
    return (str(body["type"]), *sorted(key for key in body if key not in device_fields))


def plan_logins(
    families: Iterable[Family], advertised: Sequence[str], user_id: str, token: str
) -> list[PlannedLogin]:
    """The logins that show whether each family works, with identical requests sent once."""
    grouped: dict[tuple[str, ...], PlannedLogin] = {}
    for family in families:
        login_type = choose_login_type(family, advertised)
        if login_type is None:
            continue
        body = login_body(family, login_type, user_id, token)
        key = _request_key(body)
        planned = grouped.get(key)
        grouped[key] = (
            PlannedLogin(login_type, body, (family,))
            if planned is None
            else attr.evolve(planned, families=(*planned.families, family))
        )
    return list(grouped.values())


def probe_login(
    results: Sequence[tuple[PlannedLogin, LoginOutcome]], user_id: str, token: str
) -> PlannedLogin | None:
    """An extra shared-secret-type login, when only it can tell why a password login failed.

    A refused ``m.login.password`` looks the same whether the module does not take tokens on it,
    is not loaded, or the secret is wrong; the answer on ``com.devture.shared_secret_auth`` tells
    these apart. Needed only when no family sent that type already.
    """
    if any(planned.login_type == LOGIN_TYPE_SHARED_SECRET for planned, _ in results):
        return None
    if not any(
        planned.login_type == LOGIN_TYPE_PASSWORD and outcome.status == 403
        for planned, outcome in results
    ):
        return None
    body = login_body(MAUTRIX_GO_BOTS, LOGIN_TYPE_SHARED_SECRET, user_id, token)
    return PlannedLogin(LOGIN_TYPE_SHARED_SECRET, body, ())


def diagnose(
    families: Iterable[Family],
    advertised: Sequence[str],
    results: Sequence[tuple[PlannedLogin, LoginOutcome]] | None,
) -> list[FamilyDiagnosis]:
    """One diagnosis per family: from real logins (``results``), or from ``advertised`` alone."""
    shared_secret_outcome = next(
        (o for p, o in results or () if p.login_type == LOGIN_TYPE_SHARED_SECRET), None
    )
    diagnoses = []
    for family in families:
        login_type = choose_login_type(family, advertised)
        why = _why(family, login_type, advertised)
        if login_type is None:
            diagnoses.append(
                FamilyDiagnosis(
                    family=family,
                    verdict=Verdict.FAILS,
                    login_type=None,
                    why=why,
                    detail=(
                        f"the server lists neither {LOGIN_TYPE_SHARED_SECRET} nor"
                        f" {LOGIN_TYPE_PASSWORD}, so it gives up without trying"
                    ),
                    remedy="load synapse_dp_auth (`modules:` in homeserver.yaml), restart Synapse",
                )
            )
            continue
        if results is None:
            diagnoses.append(_without_login(family, login_type, why, advertised))
            continue
        outcome = next(o for p, o in results if family in p.families)
        if outcome.ok:
            diagnoses.append(
                FamilyDiagnosis(
                    family=family,
                    verdict=Verdict.WORKS,
                    login_type=login_type,
                    why=why,
                    detail=outcome.describe(),
                )
            )
            continue
        diagnoses.append(
            FamilyDiagnosis(
                family=family,
                verdict=Verdict.FAILS,
                login_type=login_type,
                why=why,
                detail=f"refused: {outcome.describe()}",
                remedy=explain_refusal(
                    family, login_type, outcome, advertised, shared_secret_outcome
                ),
            )
        )
    return diagnoses


def _why(family: Family, login_type: str | None, advertised: Sequence[str]) -> str:
    """Why ``family`` sends ``login_type`` here, in words."""
    both = f"{LOGIN_TYPE_SHARED_SECRET} / {LOGIN_TYPE_PASSWORD}"
    if login_type is None:
        return f"sends nothing: it needs {both} in the server's list"
    if family.choice is Choice.FIRST_LISTED:
        other = (
            LOGIN_TYPE_SHARED_SECRET if login_type == LOGIN_TYPE_PASSWORD else LOGIN_TYPE_PASSWORD
        )
        if other in advertised:
            return f"sends {login_type}: listed before {other}, and this client takes the first"
        return f"sends {login_type}: the only one of {both} the server lists"
    if family.choice is Choice.SHARED_SECRET_PREFERRED:
        if login_type == LOGIN_TYPE_SHARED_SECRET:
            return f"sends {login_type}: the server lists it, and this client prefers it"
        return f"sends {login_type}: the server does not list {LOGIN_TYPE_SHARED_SECRET}"
    return f"sends {login_type}: always, without asking the server"


def _without_login(
    family: Family, login_type: str, why: str, advertised: Sequence[str]
) -> FamilyDiagnosis:
    """What the advertised types alone say; only a real login can prove that one works."""
    if login_type not in advertised:
        if login_type == LOGIN_TYPE_SHARED_SECRET:
            remedy = _UNKNOWN_SHARED_SECRET_TYPE
        else:
            remedy = (
                f"the server does not list {LOGIN_TYPE_PASSWORD}: password_config.enabled is false"
                " (or only_for_reauth), or password_config.localdb_enabled is false and"
                " m_login_password_support_enabled is false"
            )
        return FamilyDiagnosis(
            family=family,
            verdict=Verdict.FAILS,
            login_type=login_type,
            why=why,
            detail=f"{login_type} is not listed, and this client sends nothing else",
            remedy=remedy,
        )
    if login_type == LOGIN_TYPE_SHARED_SECRET:
        detail = (
            f"{login_type} is listed, so a shared-secret module is loaded: needs a login to"
            " confirm the secret (--user)"
        )
    else:
        detail = (
            f"{login_type} is listed, but Synapse lists it for its own passwords too: needs a"
            " login to confirm that the module takes tokens on it (--user)"
        )
        if family.choice is Choice.FIRST_LISTED and LOGIN_TYPE_SHARED_SECRET in advertised:
            detail += "; works only with m_login_password_support_enabled: true"
    return FamilyDiagnosis(
        family=family, verdict=Verdict.UNCONFIRMED, login_type=login_type, why=why, detail=detail
    )


_UNKNOWN_SHARED_SECRET_TYPE = (
    f"the server does not know {LOGIN_TYPE_SHARED_SECRET}: synapse_dp_auth is not loaded (see"
    " `modules:` in homeserver.yaml and Synapse's start-up log), or"
    " com_devture_shared_secret_auth_support_enabled is false"
)
_WRONG_SECRET_OR_USER = (
    "wrong secret, or the user does not exist, is deactivated, belongs to another server or is"
    " not allowed (allowed_users, allow_admins, allow_appservice_users); the server's log line"
    " from synapse_dp_auth"
    ' ("Shared-secret login as ... refused") says which'
)


def explain_refusal(
    family: Family,
    login_type: str,
    outcome: LoginOutcome,
    advertised: Sequence[str],
    shared_secret_outcome: LoginOutcome | None,
) -> str:
    """What to change so that ``family``'s refused login works.

    ``shared_secret_outcome`` is the answer to a ``com.devture.shared_secret_auth`` login with the
    same token, if one was made: it is what tells a password refusal's causes apart.
    """
    if outcome.status == 429 or outcome.errcode == "M_LIMIT_EXCEEDED":
        wait = (
            f"wait {-(-outcome.retry_after_ms // 1000)} s and run again, or "
            if outcome.retry_after_ms
            else ""
        )
        return (
            "rate-limited by Synapse: raise rc_login (address and account) in homeserver.yaml"
            f" for the bridge's address; {wait}expect the bridge to be refused the same way"
        )
    if outcome.errcode == "M_USER_DEACTIVATED":
        return "the user is deactivated; deactivated users cannot be logged in as"
    if outcome.status >= 500:
        return "the server failed on this request: see Synapse's log"
    if outcome.unknown_login_type:
        if login_type == LOGIN_TYPE_SHARED_SECRET:
            only = (
                ""
                if family.choice is not Choice.SHARED_SECRET_ONLY
                else "; these clients send no other type"
            )
            return _UNKNOWN_SHARED_SECRET_TYPE + only
        return (
            f"the server does not know {LOGIN_TYPE_PASSWORD} (password_config.localdb_enabled is"
            " false and the module does not take tokens on it): set"
            " m_login_password_support_enabled: true"
        )
    if outcome.password_login_disabled:
        return (
            f"Synapse refuses every {LOGIN_TYPE_PASSWORD} login (password_config.enabled is false"
            f" or only_for_reauth) and {family.name} sends no other type: set password_config"
            " enabled: true (with localdb_enabled: false, users' own passwords stay refused)"
        )
    if outcome.status != 403:
        return "unexpected answer: see Synapse's log"
    if login_type == LOGIN_TYPE_SHARED_SECRET:
        return _WRONG_SECRET_OR_USER
    # A refused m.login.password: the shared-secret type's answer to the same token says why.
    if shared_secret_outcome is None:
        return (
            "the token was not accepted as a password: m_login_password_support_enabled is false,"
            " synapse_dp_auth is not loaded, or " + _WRONG_SECRET_OR_USER
        )
    if shared_secret_outcome.ok:
        if family.choice is Choice.FIRST_LISTED and LOGIN_TYPE_SHARED_SECRET in advertised:
            return (
                f"the server lists {LOGIN_TYPE_PASSWORD} first and the module does not accept"
                " tokens on it: set m_login_password_support_enabled: true"
            )
        return (
            f"the module accepts this token on {LOGIN_TYPE_SHARED_SECRET} but not on"
            f" {LOGIN_TYPE_PASSWORD}, the only type {family.name} sends here: set"
            " m_login_password_support_enabled: true"
        )
    if shared_secret_outcome.unknown_login_type:
        return (
            f"the token was not accepted as a password and the server does not know"
            f" {LOGIN_TYPE_SHARED_SECRET}: most likely synapse_dp_auth is not loaded (see"
            " `modules:` in homeserver.yaml and Synapse's start-up log); if it is, the secret"
            " or the user is wrong (its log line says which)"
        )
    if shared_secret_outcome.status == 403:
        return _WRONG_SECRET_OR_USER
    return (
        f"the token was not accepted as a password, and {LOGIN_TYPE_SHARED_SECRET} answered"
        f" {shared_secret_outcome.describe()}: see Synapse's log"
    )


def exit_code(diagnoses: Iterable[FamilyDiagnosis]) -> int:
    """0 unless some family is known to fail (without a login, nothing more is known)."""
    return 1 if any(d.verdict is Verdict.FAILS for d in diagnoses) else 0
