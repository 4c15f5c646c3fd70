"""``sessions``' arguments and handler: ``list``, or ``revoke``, what shared-secret logins created.

The admin's access token comes from a file, the environment or a prompt, never an argument
(:mod:`~synapse_dp_auth.admin.shared.credentials`).
"""

from __future__ import annotations

import argparse
import datetime
from typing import TextIO

from synapse_dp_auth.admin.sessions import listing, revoke
from synapse_dp_auth.admin.shared import arguments, credentials
from synapse_dp_auth.admin.shared.exits import EXIT_OK, EXIT_USAGE, CliError


def parse_since(text: str) -> int:
    """``--since``: an ISO 8601 date or date and time (UTC unless it says otherwise), in ms.

    A ``Z`` after a time means UTC, as in ISO 8601 (``datetime.fromisoformat`` reads it itself only
    from Python 3.11).

    Raises:
        ValueError: with a message for the admin.
    """
    stripped = text.strip()
    if stripped.endswith("Z") and ("T" in stripped or " " in stripped):
        stripped = stripped[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date or time like 2026-11-28 or 2026-11-28T14:30"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1000)


def _since(value: str) -> int:
    try:
        return parse_since(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _fingerprint(value: str) -> str:
    if len(value) != 8 or not all(char in "0123456789abcdef" for char in value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a secret fingerprint (8 lowercase hex digits, as listed)"
        )
    return value


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "sessions",
        allow_abbrev=False,
        help="list, or revoke, the sessions shared-secret logins created",
        description="List the sessions (devices) that shared-secret logins created, as the"
        " module recorded them, with the fingerprint of the secret each used (Synapse logs each"
        " configured secret's fingerprint at start-up). `revoke` deletes those devices through"
        " Synapse's admin API, which ends their access tokens: a dry run unless --yes. Rotating"
        " a secret does not end the sessions it created; after a leak, revoke them.",
    )
    parser.add_argument("action", choices=["list", "revoke"], help="list, or revoke")
    parser.add_argument(
        "homeserver_url", metavar="HOMESERVER_URL", help="e.g. https://matrix.example.org"
    )
    parser.add_argument(
        "--admin-token-file",
        metavar="PATH",
        help="file holding a server admin's access token (- for stdin); else"
        f" ${credentials.ADMIN_TOKEN_ENV}, else a prompt on a terminal",
    )
    parser.add_argument(
        "--fingerprint", type=_fingerprint, metavar="X", help="only logins with this secret"
    )
    parser.add_argument("--user", type=arguments.user_id, metavar="USER_ID", help="only this user")
    parser.add_argument(
        "--since",
        type=_since,
        metavar="TIME",
        help="only logins at or after this ISO 8601 date or time (UTC unless it says otherwise)",
    )
    parser.add_argument("--yes", action="store_true", help="with revoke: really delete the devices")
    parser.add_argument(
        revoke.REUSED_FLAG,
        action="store_true",
        help="with revoke: also delete devices the logins did not create (the client named a"
        " device the user had, e.g. their phone; listed with what deleting them costs), and those"
        " whose records do not say",
    )
    arguments.add_connection_options(
        parser,
        "allow a plain http:// URL to a host other than this machine (the admin token"
        " would cross the network unencrypted)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    client = arguments.checked_client(
        args.homeserver_url, args, "the admin access token would cross the network"
    )
    filters = listing.query(args.fingerprint, args.user, args.since)
    if args.action == "revoke" and not filters:
        raise CliError(
            "revoke needs --fingerprint, --user or --since (to end every recorded session,"
            " say so with --since 1970-01-01)",
            EXIT_USAGE,
        )
    if args.include_reused_devices and args.action != "revoke":
        raise CliError(f"{revoke.REUSED_FLAG} is for revoke", EXIT_USAGE)
    admin_token = credentials.read_admin_token(args.admin_token_file)
    if args.action == "revoke":
        revoke.revoke(client, admin_token, filters, args.yes, out, args.include_reused_devices)
    else:
        listing.list_sessions(client, admin_token, filters, out)
    return EXIT_OK
