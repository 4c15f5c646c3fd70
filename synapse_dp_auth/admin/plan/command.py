"""``plan``'s arguments and handler: read homeserver.yaml and every bridge config, print what to
change for every bridge to double-puppet, and with ``--apply`` make exactly those changes.

Exit code 0 when nothing needs changing (after ``--apply``: when everything was done), 1 when
something does (or a file was left alone), 2 for a mistake in the command line.
"""

from __future__ import annotations

import argparse
import datetime
from typing import TextIO

from synapse_dp_auth.admin.plan.execute import apply_plan
from synapse_dp_auth.admin.plan.live import check_live
from synapse_dp_auth.admin.plan.planning import make_plan
from synapse_dp_auth.admin.plan.report import render_outcomes, render_plan
from synapse_dp_auth.admin.shared import arguments
from synapse_dp_auth.admin.shared.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plan",
        allow_abbrev=False,
        help="set up double puppeting for every bridge: print the changes, --apply makes them",
        description="Read homeserver.yaml and each bridge's config, and say per bridge which"
        " double-puppet method it uses now and whether that can work, which it should use and"
        " why, and the exact change (a unified diff, secrets hidden); then the server side (the"
        " double-puppet registration, found and reused or created, its app_service_config_files"
        " line, the module with a secret in a file of its own when a bridge needs shared-secret"
        " login) and the order of restarts. Changes nothing without --apply. The appservice"
        " method for every bridge that supports it; shared-secret login through this module for"
        " those that cannot (mx-puppet-bridge, matrix-corporal, mautrix-imessage, the legacy"
        " Python signal and slack bridges). Exit 0 when nothing needs changing, 1 when something"
        " does, 2 for a mistake in the command line.",
    )
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        required=True,
        metavar="CONFIG",
        help="homeserver.yaml (repeatable; files and directories merge as with Synapse's -c)",
    )
    parser.add_argument(
        "bridge_configs",
        nargs="+",
        metavar="BRIDGE_CONFIG",
        help="a bridge's config file: mautrix (bridgev2, legacy Go, Python, imessage),"
        " mx-puppet-bridge, or matrix-corporal's JSON",
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="make the printed changes: each file replaced atomically, its original kept beside"
        " it, its mode and owner kept; new files readable by their owner only",
    )
    parser.add_argument(
        "--recent-bridges",
        action="store_true",
        help="the legacy mautrix-go and mautrix-python bridges given are releases that read"
        " as_token: (e.g. mautrix-whatsapp 0.10.1, -discord 0.6.2, -telegram 0.14.2,"
        " -googlechat 0.5.1 and later): move them to the appservice method too",
    )
    parser.add_argument(
        "--registration-path",
        metavar="PATH",
        help="where to create the double-puppet registration, if one is needed (default:"
        " doublepuppet.yaml beside homeserver.yaml)",
    )
    parser.add_argument(
        "--secret-path",
        metavar="PATH",
        help="where to create the module's secret, if the module is added (default:"
        " synapse_dp_auth_secret beside homeserver.yaml)",
    )
    parser.add_argument(
        "--homeserver-url",
        metavar="URL",
        help="also check each bridge's config as it is now against this homeserver, as doctor"
        " --bridge-config does (with --user; not with --apply: after the restarts, run plan"
        " with --homeserver-url again)",
    )
    parser.add_argument(
        "--user",
        type=arguments.user_id,
        metavar="USER_ID",
        help="with --homeserver-url: whose double puppet to check",
    )
    arguments.add_connection_options(
        parser,
        "with --homeserver-url, allow a plain http:// URL to a host other than this machine"
        " (the checks send the user's login tokens and as_tokens)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    if (args.homeserver_url is None) != (args.user is None):
        raise CliError("--homeserver-url and --user go together", EXIT_USAGE)
    if args.homeserver_url is not None and args.apply:
        raise CliError(
            "--homeserver-url checks the configs as they are now, --apply changes them (they work"
            " after the restarts): run plan --apply, restart, then plan --homeserver-url",
            EXIT_USAGE,
        )
    # The URL is checked before anything is read or printed: a usage error comes alone.
    client = (
        arguments.checked_client(
            args.homeserver_url, args, "the checks would send login tokens and as_tokens"
        )
        if args.homeserver_url is not None
        else None
    )
    plan = make_plan(
        args.config,
        args.bridge_configs,
        recent=args.recent_bridges,
        registration_path=args.registration_path,
        secret_path=args.secret_path,
    )
    render_plan(plan, out)
    if client is not None:
        live = check_live(
            args.bridge_configs,
            out,
            user_id=args.user,
            homeserver_url=client.base_url,
            make_client=lambda url: client,
        )
        return EXIT_OK if plan.nothing_to_do and live else EXIT_FAILED
    if not args.apply:
        return EXIT_OK if plan.nothing_to_do else EXIT_FAILED
    if not any(change.changes for change in plan.changes):
        return EXIT_OK if plan.nothing_to_do else EXIT_FAILED
    results = apply_plan(plan, now=datetime.datetime.now(datetime.timezone.utc))
    left = render_outcomes(results, out)
    return EXIT_OK if not left and not plan.problems and not plan.by_hand else EXIT_FAILED
