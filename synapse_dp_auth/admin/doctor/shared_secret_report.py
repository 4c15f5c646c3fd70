"""``doctor``'s report on shared-secret logins: what it prints.

The decisions printed here are made in :mod:`~synapse_dp_auth.admin.doctor.shared_secret_diagnosis`;
every piece of server text goes through
:func:`~synapse_dp_auth.admin.shared.server_text.server_text` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from synapse_dp_auth.admin.doctor.shared_secret_diagnosis import FamilyDiagnosis, PlannedLogin
from synapse_dp_auth.admin.shared.client_answers import LoginOutcome
from synapse_dp_auth.admin.shared.server_text import server_text

#: At most this many of the login types a server lists are shown.
_MAX_LISTED_TYPES = 50


def write_advertised(out: TextIO, url: str, advertised: Sequence[str]) -> None:
    """The login types ``GET /login`` at ``url`` lists, in the server's order."""
    _write(out, f"GET {url} lists, in this order:")
    for number, login_type in enumerate(advertised[:_MAX_LISTED_TYPES], start=1):
        _write(out, f"  {number}. {server_text(login_type)}")
    if len(advertised) > _MAX_LISTED_TYPES:
        _write(out, f"  ... and {len(advertised) - _MAX_LISTED_TYPES} more")
    if not advertised:
        _write(out, "  (nothing)")


def write_logins_heading(out: TextIO, user_id: str) -> None:
    _write(out, "")
    _write(out, f"Logging in as {user_id} (every access token is logged out again at once):")


def write_login(out: TextIO, planned: PlannedLogin, outcome: LoginOutcome, note: str) -> None:
    """One login made, the families it stands for, and the server's answer."""
    names = ", ".join(f.name for f in planned.families) or "to tell causes apart"
    _write(out, f"  {planned.describe()} [{names}]: {outcome.describe()}{note}")


def write_diagnoses(out: TextIO, diagnoses: Sequence[FamilyDiagnosis]) -> None:
    """Per family: the verdict, why it sends what it sends, what happened, what to change."""
    _write(out, "")
    for diagnosis in diagnoses:
        family = diagnosis.family
        clients = f" ({family.clients})" if family.clients else ""
        _write(out, f"{diagnosis.verdict.value:<4}  {family.name}{clients}")
        _write(out, f"      {diagnosis.why}")
        _write(out, f"      {diagnosis.detail}")
        if diagnosis.remedy:
            _write(out, f"      fix: {diagnosis.remedy}")
    _write(out, "")


def write_summary(
    out: TextIO,
    total: int,
    failing: Sequence[str],
    unconfirmed: Sequence[str],
    *,
    logout_failed: bool,
) -> None:
    """The last lines: which families fail, or what is left to confirm."""
    if failing:
        _write(
            out,
            f"{len(failing)} of {total} client families would fail: {', '.join(failing)}.",
        )
    elif unconfirmed:
        _write(
            out,
            "No client family is known to fail, but only a login proves it: run again with"
            " --user @someone:your.server and the shared secret.",
        )
    else:
        _write(out, "Every client family checked can log in.")
    if logout_failed:
        _write(out, "A logout failed: see above.")


def _write(out: TextIO, line: str) -> None:
    out.write(line + "\n")
