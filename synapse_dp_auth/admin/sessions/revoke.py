"""``sessions revoke``: end the sessions a listing finds, by deleting their devices through
Synapse's own admin API, which ends their access tokens. A dry run unless ``--yes``.

Rotating a secret stops new logins with it, but the sessions (devices and access tokens) it
created live on: after a leak, these are what to end. Only devices the logins created are deleted:
a device a login did not create (the client named one the user had, their phone say) is listed
with what deleting it would cost the user, and deleted only with ``--include-reused-devices``. The
listing is read and revoked a page at a time, so memory stays that of a page at any number of
records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import attr

from synapse_dp_auth.admin.sessions.listing import (
    LAST_MS,
    Listed,
    Table,
    format_time,
    pages,
    summary,
)
from synapse_dp_auth.admin.shared.client import HomeserverClient, HomeserverError, RequestRefused
from synapse_dp_auth.admin.shared.server_text import server_text

REUSED_FLAG = "--include-reused-devices"


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
    table, done, configured = Table(out), _Revocation(), set[str]()
    for page, configured in pages(client, admin_token, filters):
        table.write(page, configured)
        _revoke_page(client, admin_token, page, yes, include_reused, done, out)
    out.write(summary(done.sessions + done.reused_sessions, configured))
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
    if type(last_seen) is int and 0 <= last_seen <= LAST_MS:
        where = device.get("last_seen_ip")
        parts.append(
            f"last used {format_time(last_seen)} UTC"
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
