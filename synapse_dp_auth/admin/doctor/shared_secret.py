"""``doctor``'s shared-secret check: will each family of shared-secret clients be able to log in,
and if not, why?

The check's course only: it asks the homeserver through
:mod:`~synapse_dp_auth.admin.shared.client`, decides with
:mod:`~synapse_dp_auth.admin.doctor.shared_secret_diagnosis` and prints with
:mod:`~synapse_dp_auth.admin.doctor.shared_secret_report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from synapse_dp_auth.admin.doctor import shared_secret_report as report
from synapse_dp_auth.admin.doctor.shared_secret_diagnosis import (
    DOCTOR_DEVICE,
    PlannedLogin,
    diagnose,
    exit_code,
    plan_logins,
    probe_login,
)
from synapse_dp_auth.admin.doctor.verdict import Verdict
from synapse_dp_auth.admin.shared.client import LOGIN_PATH, HomeserverClient, HomeserverError
from synapse_dp_auth.admin.shared.client_answers import LoginOutcome
from synapse_dp_auth.admin.shared.families import FAMILIES, Family
from synapse_dp_auth.token import make_token


def run(
    client: HomeserverClient,
    out: TextIO,
    *,
    user_id: str | None = None,
    secret: str | None = None,
    families: Sequence[Family] = FAMILIES,
) -> int:
    """Diagnose, print the report to ``out``, return the exit code. Raises
    :class:`~synapse_dp_auth.admin.shared.client.HomeserverError`.

    Every access token obtained is logged out again at once, so that the doctor leaves no session
    behind; a logout that fails is reported and makes the exit code 1.
    """
    advertised = client.login_types()
    report.write_advertised(out, client.base_url + LOGIN_PATH, advertised)

    results: list[tuple[PlannedLogin, LoginOutcome]] | None = None
    logout_failed = False
    if user_id is not None and secret is not None:
        token = make_token(secret, user_id)
        results = []
        report.write_logins_heading(out, user_id)
        planned_logins = plan_logins(families, advertised, user_id, token)
        while planned_logins:
            planned = planned_logins.pop(0)
            outcome, access_token = client.login(planned.body)
            note = ""
            if access_token is not None:
                try:
                    client.logout(access_token)
                    note = ", logged out"
                except HomeserverError as error:
                    logout_failed = True
                    note = (
                        f"; LOGOUT FAILED ({error}): delete the device {DOCTOR_DEVICE!r} of"
                        f" {user_id} yourself"
                    )
            report.write_login(out, planned, outcome, note)
            results.append((planned, outcome))
            if not planned_logins:
                probe = probe_login(results, user_id, token)
                if probe is not None:
                    planned_logins.append(probe)

    diagnoses = diagnose(families, advertised, results)
    report.write_diagnoses(out, diagnoses)
    report.write_summary(
        out,
        len(diagnoses),
        [d.family.name for d in diagnoses if d.verdict is Verdict.FAILS],
        [d.family.name for d in diagnoses if d.verdict is Verdict.UNCONFIRMED],
        logout_failed=logout_failed,
    )
    return 1 if logout_failed else exit_code(diagnoses)
