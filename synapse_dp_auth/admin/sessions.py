"""The ``sessions`` command: find, and end, the sessions that shared-secret logins created.

Rotating a secret stops new logins with it, but the sessions (devices and access tokens) it
created live on. ``sessions list`` shows what the module recorded (who, which device, whether the
login created it, how, with which secret, when) through the module's admin-only resource;
``sessions revoke`` deletes those devices through Synapse's own admin API, which ends their access
tokens. A dry run unless ``--yes``. A device the login did not create (the client named one the
user had, their phone say) is only listed, with what deleting it would cost the user, unless
``--include-reused-devices``. Both work a page of the listing at a time, so memory stays that of a
page at any number of records. The admin's access token comes from a file, the environment or a
prompt, never argv.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

import attr

from synapse_dp_auth.admin.client import HomeserverClient, HomeserverError, RequestRefused
from synapse_dp_auth.admin.report import server_text
from synapse_dp_auth.sessions import parse_token

ADMIN_TOKEN_ENV = "SYNAPSE_DP_AUTH_ADMIN_TOKEN"

_COLUMNS = ("LOGGED IN (UTC)", "USER", "DEVICE", "NEW DEVICE", "LOGIN TYPE", "SECRET")

#: The NEW DEVICE column: whether the login created the device.
_CREATED = {True: "yes", False: "no", None: "unknown"}

REUSED_FLAG = "--include-reused-devices"

#: The last millisecond of 9999-12-31 (UTC): a later login time cannot be shown as a date.
_LAST_MS = 253_402_300_799_999


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


def parse_since(text: str) -> int:
    """``--since``: an ISO 8601 date or date and time (UTC unless it says otherwise), in ms.

    Raises:
        ValueError: with a message for the admin.
    """
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date or time like 2026-11-28 or 2026-11-28T14:30"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


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
        if type(session.logged_in_ts) is not int or not 0 <= session.logged_in_ts <= _LAST_MS:
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


class _Table:
    """The listing as a table, written a page at a time; a column widens where a later page
    needs it."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._widths: list[int] | None = None

    def write(self, listed: Sequence[Listed], configured: set[str]) -> None:
        rows = [
            (
                _time(session.logged_in_ts),
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
    _Table(out).write(listed, configured)


def _time(ms: int) -> str:
    return (
        datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
        .replace(tzinfo=None)
        .isoformat(sep=" ", timespec="seconds")
    )


def _summary(count: int, configured: set[str]) -> str:
    shown = ", ".join(server_text(fingerprint) for fingerprint in sorted(configured)) or "none"
    return (
        f"{count} session(s) created by shared-secret logins"
        f" (fingerprints of the secrets configured now: {shown})\n"
    )


def list_sessions(
    client: HomeserverClient, admin_token: str, filters: Mapping[str, str], out: TextIO
) -> int:
    """Write the table, page by page, then how many; returns how many."""
    table, count, configured = _Table(out), 0, set[str]()
    for page, configured in pages(client, admin_token, filters):
        table.write(page, configured)
        count += len(page)
    out.write(_summary(count, configured))
    return count


@attr.s(auto_attribs=True)
class _Revocation:
    """What a revocation did (or, in a dry run, would do), summed over the pages."""

    sessions: int = 0
    devices: int = 0
    reused_sessions: int = 0
    reused_devices: int = 0
    gone: int = 0
    refused: int = 0
    users_refused: int = 0
    admins: dict[str, None] = attr.Factory(dict)  # in order, each once; admins are few


def revoke(
    client: HomeserverClient,
    admin_token: str,
    filters: Mapping[str, str],
    yes: bool,
    out: TextIO,
    include_reused: bool = False,
) -> None:
    """Delete the devices the listed logins created, per user (Synapse's admin API), or say what
    would be; list the devices they did not create with what deleting them would cost the user,
    and delete those too only with ``include_reused``.

    A user whose deletion the server refuses does not stop the others: each refusal is reported,
    and the command then fails (running it again retries, since deleting is idempotent). A
    server that cannot be reached stops it at once.
    """
    table, done, configured = _Table(out), _Revocation(), set[str]()
    for page, configured in pages(client, admin_token, filters):
        table.write(page, configured)
        _revoke_page(client, admin_token, page, yes, include_reused, done, out)
    out.write(_summary(done.sessions + done.reused_sessions, configured))
    _report(done, yes, include_reused, out)


def _revoke_page(
    client: HomeserverClient,
    admin_token: str,
    page: Sequence[Listed],
    yes: bool,
    include_reused: bool,
    done: _Revocation,
    out: TextIO,
) -> None:
    created: dict[str, dict[str, None]] = {}  # dicts: in order, each device once, no scan
    reused: dict[tuple[str, str], Listed] = {}
    for session in page:
        if session.created_device is True:
            created.setdefault(session.user_id, {})[session.device_id] = None
            done.sessions += 1
        else:
            reused.setdefault((session.user_id, session.device_id), session)
            done.reused_sessions += 1
    # A device one login created and a later one reused is deleted as the first one's.
    for user_id, device_id in list(reused):
        if device_id in created.get(user_id, {}):
            del reused[(user_id, device_id)]
    reused_by_user: dict[str, list[Listed]] = {}
    for session in reused.values():
        reused_by_user.setdefault(session.user_id, []).append(session)
    to_delete = {user: list(devices) for user, devices in created.items()}
    for user_id, sessions_of_user in reused_by_user.items():
        existing = _describe_reused(client, admin_token, user_id, sessions_of_user, out)
        done.gone += len(sessions_of_user) - len(existing)
        done.reused_devices += len(existing)
        if include_reused and existing:
            to_delete.setdefault(user_id, []).extend(existing)
    done.devices += sum(len(devices) for devices in created.values())
    for user_id in to_delete:
        if client.user_is_admin(admin_token, user_id):
            done.admins[user_id] = None
    if not yes:
        return
    for user_id, devices in to_delete.items():
        try:
            client.delete_devices(admin_token, user_id, devices)
        except RequestRefused as error:
            done.users_refused += 1
            done.refused += len(devices)
            out.write(f"Not deleted: {error}.\n")
            continue
        out.write(f"Deleted {len(devices)} device(s) of {server_text(user_id)}.\n")


def _describe_reused(
    client: HomeserverClient,
    admin_token: str,
    user_id: str,
    reused: Sequence[Listed],
    out: TextIO,
) -> list[str]:
    """Say, for each device of ``user_id`` that its login did not create, what deleting it would
    cost; returns those that still exist."""
    found: dict[str, dict[str, Any]] = {}
    for session in reused:
        device = client.device(admin_token, user_id, session.device_id)
        if device is not None:
            found[session.device_id] = device
    if not found:
        return []
    with_keys = client.devices_with_keys(admin_token, user_id, list(found))
    for session in reused:
        device = found.get(session.device_id)
        if device is None:
            continue
        why = (
            "the login reused this device, which existed before it"
            if session.created_device is False
            else "the record does not say whether the login created this device (recorded by"
            " an earlier synapse_dp_auth, or on Synapse before 1.87)"
        )
        cost = (
            "it has end-to-end encryption keys: deleting it destroys them, and messages only it"
            " can decrypt are lost unless the user has key backup"
            if session.device_id in with_keys
            else "it has no end-to-end encryption keys"
        )
        out.write(
            f"Device {server_text(session.device_id)} of {server_text(user_id)}"
            f" ({_device_text(device)}): {why}. Deleting it logs the user out on that device;"
            f" {cost}.\n"
        )
    return list(found)


def _device_text(device: Mapping[str, Any]) -> str:
    """The name and last use of a device as Synapse's admin API describes it."""
    name = device.get("display_name")
    parts = [f'named "{server_text(name)}"' if isinstance(name, str) else "no name"]
    last_seen = device.get("last_seen_ts")
    if type(last_seen) is int and 0 <= last_seen <= _LAST_MS:
        where = device.get("last_seen_ip")
        parts.append(
            f"last used {_time(last_seen)} UTC"
            + (f" from {server_text(where)}" if isinstance(where, str) else "")
        )
    else:
        parts.append("never used")
    agent = device.get("last_seen_user_agent")
    if isinstance(agent, str) and agent:
        parts.append(f"by {server_text(agent, 80)}")
    return ", ".join(parts)


def _report(done: _Revocation, yes: bool, include_reused: bool, out: TextIO) -> None:
    reused_note = ""
    if done.reused_devices:
        reused_note = (
            f" {done.reused_devices} device(s) described above were not created by the logins"
            + (
                f": {'they are' if yes else 'they would be'} deleted too ({REUSED_FLAG})."
                if include_reused
                else f": they are left alone; to delete them too, add {REUSED_FLAG}."
            )
        )
    if done.gone:
        reused_note += f" {done.gone} other device(s) the logins did not create no longer exist."
    if not yes:
        out.write(
            f"Dry run: would delete {done.devices} device(s) that {done.sessions} shared-secret"
            f" login(s) created, ending their access tokens.{reused_note} Run again with --yes to"
            " do it.\n"
        )
    if done.admins:
        admins = ", ".join(server_text(user) for user in list(done.admins)[:20])
        more = f" and {len(done.admins) - 20} more" if len(done.admins) > 20 else ""
        out.write(
            f"Warning: {len(done.admins)} of these users are server admins ({admins}{more}):"
            " allow_admins: true (the default) lets the secret log in as an admin, and an admin's"
            " session can create users, access tokens and devices through Synapse's admin API,"
            " which no record holds and a revocation does not end. Check what else to end (the"
            " module's README: Rotating the secret, after a leak).\n"
        )
    if not yes:
        return
    if done.refused:
        raise HomeserverError(
            f"the devices of {done.users_refused} user(s) were not deleted (see above);"
            " run the command again once the cause is fixed"
        )
    out.write(
        f"Revoked {done.sessions} session(s): deleted the {done.devices} device(s) the logins"
        f" created.{reused_note} The records stay, as history; a device already deleted is"
        " skipped by Synapse.\n"
    )
