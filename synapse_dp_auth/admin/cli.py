"""The admin command line, ``python -m synapse_dp_auth`` (installed as ``synapse_dp_auth``).

One parser made of each command's own (``<command>/command.py`` holds a command's arguments and
its handler); this file only runs the one asked for. ``token`` computes what a bridge would send,
``check-config`` reads homeserver.yaml the way Synapse does, ``doctor`` asks a running
homeserver, ``appservice`` writes the registration of the appservice double-puppet method,
``sessions`` lists and revokes what shared-secret logins created, ``plan`` sets up double
puppeting for every bridge of a server at once.

Every user mistake ends in one line on stderr and an exit code, never a traceback. Secrets and
tokens are never taken from the command line, where ``ps`` and shell history would show them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from synapse_dp_auth.admin.appservice import command as appservice_command
from synapse_dp_auth.admin.check_config import command as check_config_command
from synapse_dp_auth.admin.doctor import command as doctor_command
from synapse_dp_auth.admin.plan import command as plan_command
from synapse_dp_auth.admin.sessions import command as sessions_command
from synapse_dp_auth.admin.shared.client import HomeserverError
from synapse_dp_auth.admin.shared.credentials import AS_TOKEN_ENV, SECRET_ENV
from synapse_dp_auth.admin.shared.exits import EXIT_FAILED, EXIT_USAGE, CliError
from synapse_dp_auth.admin.shared.homeserver_yaml import ConfigFileError
from synapse_dp_auth.admin.token import command as token_command

#: The commands, in the order ``--help`` lists them.
COMMANDS = (
    token_command,
    check_config_command,
    doctor_command,
    appservice_command,
    sessions_command,
    plan_command,
)


def build_parser() -> argparse.ArgumentParser:
    # No abbreviations: `--secret X` must not quietly mean `--secret-file X`.
    parser = argparse.ArgumentParser(
        prog="synapse_dp_auth",
        allow_abbrev=False,
        description="Tools for the synapse_dp_auth shared-secret login module, and for the"
        " appservice double-puppet method that needs no module.",
        epilog=f"The shared secret is read from --secret-file, from ${SECRET_ENV}, or from a"
        f" prompt; an appservice token from --as-token-file, from ${AS_TOKEN_ENV}, or from a"
        " prompt; never from an argument.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (``--help`` and usage errors included)."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help, or argparse's own usage error (already printed)
            return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
        try:
            code: int = args.handler(args, sys.stdout)
        except (CliError, ConfigFileError, HomeserverError) as error:
            sys.stdout.flush()
            print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
            return error.exit_code if isinstance(error, CliError) else EXIT_FAILED
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print(f"\n{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's exit flush quiet too.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
