"""``sessions list``: the sessions that shared-secret logins created, as the module recorded them
(who, which device, whether the login created it, how, with which secret, when), read through the
module's admin-only resource (:mod:`synapse_dp_auth.login_records_resource`) a page at a time, and
shown as a table written page by page, so memory stays that of a page at any number of records.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

import attr

from synapse_dp_auth.admin.shared.client import HomeserverClient, HomeserverError
from synapse_dp_auth.admin.shared.server_text import server_text
from synapse_dp_auth.login_records import parse_token

_COLUMNS = ("LOGGED IN (UTC)", "USER", "DEVICE", "NEW DEVICE", "LOGIN TYPE", "SECRET")

#: The NEW DEVICE column: whether the login created the device.
_CREATED = {True: "yes", False: "no", None: "unknown"}

#: The last millisecond of 9999-12-31 (UTC): a later login time cannot be shown as a date.
LAST_MS = 253_402_300_799_999


@attr.s(frozen=True, auto_attribs=True, kw_only=True)
class Listed:
    """One recorded session as the module answered it, checked field by field.
    ``created_device``: whether the login created the device (``None``: not known)."""

    user_id: str
    device_id: str
    login_type: str
    secret_fingerprint: str
    logged_in_ts: int
    created_device: bool | None = None


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
            fields = {
                field: item[field]
                for field in attr.fields_dict(Listed)
                if field != "created_device"
            }
            session = Listed(created_device=item.get("created_device"), **fields)
        except (TypeError, KeyError, AttributeError):
            raise HomeserverError("the sessions listing has a malformed entry") from None
        strings = (session.user_id, session.device_id, session.login_type)
        if not all(isinstance(value, str) for value in (*strings, session.secret_fingerprint)):
            raise HomeserverError("the sessions listing has a malformed entry")
        if type(session.logged_in_ts) is not int or not 0 <= session.logged_in_ts <= LAST_MS:
            raise HomeserverError("the sessions listing has a malformed entry")
        if session.created_device is not None and type(session.created_device) is not bool:
            raise HomeserverError("the sessions listing has a malformed entry")
        listed.append(session)
    return listed, {value for value in configured if isinstance(value, str)}


def pages(
    client: HomeserverClient, admin_token: str, filters: Mapping[str, str]
) -> Iterator[tuple[list[Listed], set[str]]]:
    """Each page of the sessions the filters match, with the configured fingerprints, as the
    module answers them (a bounded page and a ``next_token`` while more match). Read as they
    are used: the caller holds one page at a time."""
    query = dict(filters)
    previous: tuple[int, int] | None = None
    while True:
        answer = client.list_sessions(admin_token, query)
        page, configured = parse_listing(answer)
        yield page, configured
        token = answer.get("next_token")
        if token is None:
            return
        # Each page must move on, or a broken server would keep the command going for ever.
        key = parse_token(token) if isinstance(token, str) else None
        if key is None or not page or (previous is not None and key <= previous):
            raise HomeserverError("the sessions listing has a malformed next_token")
        previous = key
        query["from"] = token


class Table:
    """The listing as a table, written a page at a time; a column widens where a later page
    needs it."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._widths: list[int] | None = None

    def write(self, listed: Sequence[Listed], configured: set[str]) -> None:
        rows = [
            (
                format_time(session.logged_in_ts),
                server_text(session.user_id),
                server_text(session.device_id),
                _CREATED[session.created_device],
                server_text(session.login_type),
                server_text(session.secret_fingerprint)
                + ("" if session.secret_fingerprint in configured else " (no longer configured)"),
            )
            for session in listed
        ]
        if not rows:
            return
        first = self._widths is None
        widths = [
            max([len(row[i]) for row in [_COLUMNS, *rows]] + (self._widths or [0])[i : i + 1])
            for i in range(len(_COLUMNS))
        ]
        self._widths = widths
        for row in [_COLUMNS, *rows] if first else rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self._out.write("  ".join(cells).rstrip() + "\n")


def write_table(out: TextIO, listed: Sequence[Listed], configured: set[str]) -> None:
    """One line per session; a secret no longer configured is marked as such."""
    Table(out).write(listed, configured)


def format_time(ms: int) -> str:
    """A time in ms since the epoch as the table shows it (UTC, to the second)."""
    return (
        datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
        .replace(tzinfo=None)
        .isoformat(sep=" ", timespec="seconds")
    )


def summary(count: int, configured: set[str]) -> str:
    """The line after a listing: how many sessions, and the secrets configured now."""
    shown = ", ".join(server_text(fingerprint) for fingerprint in sorted(configured)) or "none"
    return (
        f"{count} session(s) created by shared-secret logins"
        f" (fingerprints of the secrets configured now: {shown})\n"
    )


def list_sessions(
    client: HomeserverClient, admin_token: str, filters: Mapping[str, str], out: TextIO
) -> int:
    """Write the table, page by page, then how many; returns how many."""
    table, count, configured = Table(out), 0, set[str]()
    for page, configured in pages(client, admin_token, filters):
        table.write(page, configured)
        count += len(page)
    out.write(summary(count, configured))
    return count
