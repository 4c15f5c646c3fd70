"""``token``: the token a bridge would send to log in as a user (HMAC-SHA512 of the user ID)."""

from __future__ import annotations

import argparse
from typing import TextIO

from synapse_dp_auth.admin.shared import arguments, credentials
from synapse_dp_auth.admin.shared.exits import EXIT_OK
from synapse_dp_auth.token import make_token


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "token",
        allow_abbrev=False,
        help="print the token a bridge would send to log in as a user",
        description="Print the shared-secret token (HMAC-SHA512 of the user ID) for USER_ID.",
    )
    parser.add_argument(
        "user_id", metavar="USER_ID", type=arguments.user_id, help="e.g. @alice:example.org"
    )
    parser.add_argument("--secret-file", metavar="PATH", help=arguments.SECRET_FILE_HELP)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    out.write(make_token(credentials.read_secret(args.secret_file), args.user_id) + "\n")
    return EXIT_OK
