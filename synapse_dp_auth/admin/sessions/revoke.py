"""``sessions revoke``: end the sessions a listing found, by deleting their devices through
Synapse's own admin API, which ends their access tokens. A dry run unless ``--yes``.

Rotating a secret stops new logins with it, but the sessions (devices and access tokens) it
created live on: after a leak, these are what to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from synapse_dp_auth.admin.sessions.listing import Listed
from synapse_dp_auth.admin.shared.client import HomeserverClient, HomeserverError, RequestRefused
from synapse_dp_auth.admin.shared.server_text import server_text


def revoke(
    client: HomeserverClient, admin_token: str, listed: Sequence[Listed], yes: bool, out: TextIO
) -> None:
    """Delete the devices of ``listed`` per user (Synapse's admin API), or say what would be.

    A user whose deletion the server refuses does not stop the others: each refusal is reported,
    and the command then fails (running it again retries, since deleting is idempotent). A
    server that cannot be reached stops it at once.
    """
    by_user: dict[str, dict[str, None]] = {}  # dicts: in order, each device once, no scan
    for session in listed:
        by_user.setdefault(session.user_id, {})[session.device_id] = None
    count = sum(len(devices) for devices in by_user.values())
    if not yes:
        out.write(
            f"Dry run: would delete {count} device(s) of {len(by_user)} user(s), ending their"
            " access tokens. Run again with --yes to do it.\n"
        )
        return
    refused = 0
    for user_id, devices in by_user.items():
        try:
            client.delete_devices(admin_token, user_id, list(devices))
        except RequestRefused as error:
            refused += 1
            out.write(f"Not deleted: {error}.\n")
            continue
        out.write(f"Deleted {len(devices)} device(s) of {server_text(user_id)}.\n")
    if refused:
        raise HomeserverError(
            f"the devices of {refused} of {len(by_user)} user(s) were not deleted (see above);"
            " run the command again once the cause is fixed"
        )
    out.write(
        f"Revoked {count} session(s). The records stay, as history; a device already deleted"
        " is skipped by Synapse.\n"
    )
