"""``sessions list``: the sessions that shared-secret logins created, as the module recorded them
(who, which device, how, with which secret, when), read through the module's admin-only resource
(:mod:`synapse_dp_auth.login_records_resource`), page after page, and shown as a table.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import attr

from synapse_dp_auth.admin.shared.client import HomeserverClient, HomeserverError
from synapse_dp_auth.admin.shared.server_text import server_text

_COLUMNS = ("LOGGED IN (UTC)", "USER", "DEVICE", "LOGIN TYPE", "SECRET")

#: The last millisecond of 9999-12-31 (UTC): a later login time cannot be shown as a date.
_LAST_MS = 253_402_300_799_999


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Listed:
    """One recorded session as the module answered it, checked field by field."""

    user_id: str
    device_id: str
    login_type: str
    secret_fingerprint: str
    logged_in_ts: int


def query(fingerprint: str | None, user_id: str | None, since_ts: int | None) -> dict[str, str]:
    """The module resource's query parameters for these filters (``None``: not filtered)."""
    given = {"fingerprint": fingerprint, "user_id": user_id, "since_ts": since_ts}
    return {name: str(value) for name, value in given.items() if value is not None}


def parse_listing(answer: Mapping[str, Any]) -> tuple[list[Listed], set[str]]:
    """The sessions and the configured fingerprints, or :class:`HomeserverError` if malformed."""
    raw_sessions = answer.get("sessions")
    configured = answer.get("configured_fingerprints")
    if not isinstance(raw_sessions, list) or not isinstance(configured, list):
        raise HomeserverError("the sessions listing is not what synapse_dp_auth answers")
    listed = []
    for item in raw_sessions:
        try:
            session = Listed(**{field: item[field] for field in attr.fields_dict(Listed)})
        except (TypeError, KeyError):
            raise HomeserverError("the sessions listing has a malformed entry") from None
        strings = (session.user_id, session.device_id, session.login_type)
        if not all(isinstance(value, str) for value in (*strings, session.secret_fingerprint)):
            raise HomeserverError("the sessions listing has a malformed entry")
        if type(session.logged_in_ts) is not int or not 0 <= session.logged_in_ts <= _LAST_MS:
            raise HomeserverError("the sessions listing has a malformed entry")
        listed.append(session)
    return listed, {value for value in configured if isinstance(value, str)}


def write_table(out: TextIO, listed: Sequence[Listed], configured: set[str]) -> None:
    """One line per session; a secret no longer configured is marked as such."""
    rows = [
        (
            datetime.datetime.fromtimestamp(session.logged_in_ts / 1000, datetime.timezone.utc)
            .replace(tzinfo=None)
            .isoformat(sep=" ", timespec="seconds"),
            server_text(session.user_id),
            server_text(session.device_id),
            server_text(session.login_type),
            server_text(session.secret_fingerprint)
            + ("" if session.secret_fingerprint in configured else " (no longer configured)"),
        )
        for session in listed
    ]
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    for row in [_COLUMNS, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        out.write("  ".join(cells).rstrip() + "\n")


def fetch_all(
    client: HomeserverClient, admin_token: str, filters: Mapping[str, str]
) -> tuple[list[Listed], set[str]]:
    """Every session the filters match, page after page (the module answers a bounded page and
    a ``next_token`` while more match); and the configured fingerprints."""
    listed: dict[Listed, None] = {}  # a row seen on two pages (a page shifted by a new login)
    query = dict(filters)
    while True:
        answer = client.list_sessions(admin_token, query)
        page, configured = parse_listing(answer)
        listed.update(dict.fromkeys(page))
        next_token = answer.get("next_token")
        if next_token is None:
            return list(listed), configured
        # Each page must move on, or a broken server would keep the command going for ever.
        moves_on = isinstance(next_token, str) and next_token.isascii() and next_token.isdigit()
        if not (moves_on and page and int(next_token) > int(query.get("from", "0"))):
            raise HomeserverError("the sessions listing has a malformed next_token")
        query["from"] = next_token


def list_sessions(
    client: HomeserverClient, admin_token: str, filters: Mapping[str, str], out: TextIO
) -> list[Listed]:
    listed, configured = fetch_all(client, admin_token, filters)
    shown = ", ".join(server_text(fingerprint) for fingerprint in sorted(configured)) or "none"
    out.write(
        f"{len(listed)} session(s) created by shared-secret logins"
        f" (fingerprints of the secrets configured now: {shown})\n"
    )
    if listed:
        write_table(out, listed, configured)
    return listed
