"""The doctor's report: what it prints, and how server text is made safe to print.

Every piece of text a homeserver sends back goes through :func:`server_text` before it reaches the
admin's terminal. The decisions printed here are made in :mod:`synapse_dp_auth.admin.diagnosis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from synapse_dp_auth.admin.diagnosis import FamilyDiagnosis, LoginOutcome, PlannedLogin

#: At most this many characters of one piece of server text (escapes included) in a report.
MAX_SERVER_TEXT = 200
#: At most this many of the login types a server lists are shown.
_MAX_LISTED_TYPES = 50


def server_text(text: str, limit: int = MAX_SERVER_TEXT) -> str:
    """``text`` from the server made safe to print: every character that is not printable
    (ESC and the other controls, line breaks, bidi overrides, lone surrogates) as its Python
    escape, and at most ``limit`` characters of it (escapes counted), then ``...`` if cut.

    Every piece of server text the doctor echoes goes through here, so that a hostile or broken
    server can neither drive the admin's terminal with escape sequences nor flood it.
    """
    pieces: list[str] = []
    length = 0
    for char in text:
        piece = char if char.isprintable() else _escape(char)
        if length + len(piece) > limit:
            pieces.append("...")
            break
        pieces.append(piece)
        length += len(piece)
    return "".join(pieces)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


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
