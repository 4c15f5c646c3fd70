"""``doctor``'s arguments and handler: which of its three checks runs, with what.

Without ``--appservice`` or ``--bridge-config``: the shared-secret check
(:mod:`~synapse_dp_auth.admin.doctor.shared_secret`); with ``--appservice`` / ``--as-token-file``:
the appservice check (:mod:`~synapse_dp_auth.admin.doctor.appservice`); with
``--bridge-config``: the check the bridge's own config calls for
(:mod:`~synapse_dp_auth.admin.doctor.bridge_config`).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from synapse_dp_auth.admin.doctor import appservice, bridge_config, shared_secret
from synapse_dp_auth.admin.doctor.bridge_config_file import BridgeConfigError, load_bridge_config
from synapse_dp_auth.admin.doctor.bridge_config_method import plan_double_puppet
from synapse_dp_auth.admin.shared import arguments, credentials
from synapse_dp_auth.admin.shared.client import HomeserverClient
from synapse_dp_auth.admin.shared.exits import EXIT_USAGE, CliError
from synapse_dp_auth.admin.shared.families import FAMILIES


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "doctor",
        allow_abbrev=False,
        help="ask a running homeserver whether bridges can double-puppet",
        description="Read the login types the homeserver advertises and say, for each family of"
        " shared-secret clients, which type it would send and whether that works. With --user"
        " (and the secret), log in as each family would, on a device of its own, and log out"
        " again at once; identical requests are sent once, as each login counts against"
        " rc_login. With --appservice (or --as-token-file), check the appservice method instead:"
        " whoami?user_id= with the as_token, read-only. With --bridge-config, read a bridge's"
        " own config, say which method it will use for --user and check that one. Exit 0 when"
        " nothing fails (only --user can confirm that a family works).",
    )
    parser.add_argument(
        "homeserver_url",
        metavar="HOMESERVER_URL",
        nargs="?",
        help="e.g. https://matrix.example.org; with --bridge-config, replaces the bridge's address",
    )
    parser.add_argument(
        "--user",
        type=arguments.user_id,
        metavar="USER_ID",
        help="check double puppeting of this user",
    )
    parser.add_argument("--secret-file", metavar="PATH", help=arguments.SECRET_FILE_HELP)
    parser.add_argument(
        "--appservice",
        action="store_true",
        help="check the appservice method (as_token:) for --user instead of shared-secret logins:"
        " whoami?user_id= with the as_token, as bridges do; read-only",
    )
    parser.add_argument(
        "--as-token-file",
        metavar="PATH",
        help="implies --appservice: the registration file, or a file whose first non-blank line"
        f" is the as_token (- for stdin); else ${credentials.AS_TOKEN_ENV}, else a prompt on a"
        " terminal",
    )
    parser.add_argument(
        "--bridge-config",
        metavar="PATH",
        help="a bridge's own config file (mautrix bridgev2, legacy mautrix-go, mautrix-python,"
        " mautrix-imessage, legacy slack, legacy Python signal, mx-puppet-bridge, matrix-corporal"
        " JSON): take the homeserver address and the"
        " double-puppet secret for --user's server from it, say which method the bridge will"
        " use, and check that one",
    )
    arguments.add_connection_options(
        parser,
        "with --user, allow a plain http:// URL to a host other than this machine (refused"
        " by default: the user's login token, a permanent credential, would cross the network"
        " unencrypted; http:// to localhost, 127.0.0.0/8 or ::1 needs no flag)",
    )
    names = [family.name for family in FAMILIES]
    parser.add_argument(
        "--family",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"only this client family, repeatable (default: all): {', '.join(names)}",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.bridge_config is not None:
        return _bridge_config(args, out)
    if args.homeserver_url is None:
        raise CliError(
            "give HOMESERVER_URL, or --bridge-config PATH to take it from a bridge's config",
            EXIT_USAGE,
        )
    if args.appservice or args.as_token_file is not None:
        return _appservice(args, out)
    if args.secret_file is not None and args.user is None:
        raise CliError("--secret-file is only used with --user", EXIT_USAGE)
    if args.user is None:
        client = HomeserverClient(args.homeserver_url, args.timeout)
    else:
        # Checked before the secret is asked for: the token is a lasting credential for the user.
        client = arguments.checked_client(
            args.homeserver_url,
            args,
            f"--user would send {args.user}'s login token (a permanent credential)",
        )
    secret = credentials.read_secret(args.secret_file) if args.user is not None else None
    families = FAMILIES
    if args.family:
        families = tuple(f for f in FAMILIES if f.name in args.family)
    return shared_secret.run(client, out, user_id=args.user, secret=secret, families=families)


def _appservice(args: argparse.Namespace, out: TextIO) -> int:
    if args.user is None:
        raise CliError("--appservice / --as-token-file need --user USER_ID", EXIT_USAGE)
    if args.secret_file is not None or args.family:
        raise CliError(
            "--secret-file and --family are for shared-secret logins, not --appservice",
            EXIT_USAGE,
        )
    client = arguments.checked_client(
        args.homeserver_url,
        args,
        "the check would send the as_token (it acts as every user its registration covers)",
    )
    as_token = credentials.read_as_token(args.as_token_file)
    source = args.as_token_file if args.as_token_file is not None else "the environment or prompt"
    label = f"the as_token from {source}"
    return appservice.run_appservice(client, out, user_id=args.user, as_token=as_token, label=label)


def _bridge_config(args: argparse.Namespace, out: TextIO) -> int:
    if args.user is None:
        raise CliError(
            "--bridge-config needs --user USER_ID: whose double puppet to check", EXIT_USAGE
        )
    if args.secret_file is not None or args.as_token_file is not None or args.appservice:
        raise CliError(
            "--bridge-config takes the secret from the bridge's config: leave out --secret-file,"
            " --as-token-file and --appservice",
            EXIT_USAGE,
        )
    if args.family:
        raise CliError(
            "--bridge-config decides the family from the config: leave out --family", EXIT_USAGE
        )
    path = args.bridge_config
    try:
        plan = plan_double_puppet(load_bridge_config(path), path, args.user)
        return bridge_config.run_bridge_plan(
            plan,
            out,
            user_id=args.user,
            homeserver_url=args.homeserver_url,
            make_client=lambda url: arguments.checked_client(
                url, args, "the check would send what the bridge's double-puppet secret makes"
            ),
        )
    except (BridgeConfigError, bridge_config.NoHomeserverURLError) as error:
        raise CliError(str(error)) from None
