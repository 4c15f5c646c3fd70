"""``appservice``'s arguments and handler: write the registration, print the next steps."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from synapse_dp_auth.admin.appservice import next_steps
from synapse_dp_auth.admin.appservice.registration import (
    DEFAULT_ID,
    RegistrationError,
    validate_registration_id,
)
from synapse_dp_auth.admin.shared.exits import EXIT_OK, CliError
from synapse_dp_auth.admin.shared.homeserver_yaml import (
    ConfigFileError,
    configured_server_name,
    load_homeserver_config,
)
from synapse_dp_auth.admin.shared.matrix_ids import ServerNameError, validate_server_name


def _registration_id(value: str) -> str:
    try:
        return validate_registration_id(value)
    except RegistrationError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--id ")) from None


def _output_file(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("the path is empty: give the file to write")
    return value


def _server_name(value: str) -> str:
    try:
        return validate_server_name(value)
    except ServerNameError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "appservice",
        allow_abbrev=False,
        help="write the registration of the appservice double-puppet method, and say how to use it",
        description="Write a double-puppet appservice registration to FILE (url null, fresh"
        " random as_token, hs_token and sender_localpart, rate_limited false, a non-exclusive"
        " namespace of every user of the server), readable by its owner only, and print the"
        " next steps: the app_service_config_files entry for homeserver.yaml and each bridge"
        " family's setting, with the as_token. Bridges that do no shared-secret login (mautrix-go"
        " bridgev2) and every bridge under the Matrix Authentication Service double-puppet this"
        " way, without this module. FILE must not exist. Exit 0 when written; 1 when FILE"
        " cannot be written or the homeserver config (-c) cannot be read or has no valid"
        " server_name (a problem in a file); 2 for a mistake in the command line itself (an"
        " invalid --server-name or --id included).",
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        type=_output_file,
        help="where to write it, e.g. /etc/matrix-synapse/doublepuppet.yaml",
    )
    server = parser.add_mutually_exclusive_group(required=True)
    server.add_argument(
        "--server-name",
        type=_server_name,
        metavar="NAME",
        help="the server name user IDs end with (example.org, example.org:8448, [2001:db8::1]);"
        " not the client API's host name",
    )
    server.add_argument(
        "-c",
        "--config",
        action="append",
        metavar="CONFIG",
        help="read server_name from homeserver.yaml instead (repeatable; files and directories"
        " merge as with Synapse's -c)",
    )
    parser.add_argument(
        "--id",
        type=_registration_id,
        default=DEFAULT_ID,
        metavar="ID",
        help=f"the registration's id, unique among the registrations (default: {DEFAULT_ID})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.config:
        config, sources = load_homeserver_config(args.config)
        try:
            server_name = configured_server_name(config, sources)
        except ConfigFileError as error:
            hint = " (give --server-name instead)" if config.get("server_name") is None else ""
            raise CliError(f"{error}{hint}") from None
    else:
        server_name = args.server_name
    path = Path(args.file)
    try:
        registration = next_steps.create(path, server_name, args.id)
    except RegistrationError as error:
        raise CliError(str(error)) from None
    out.write(
        next_steps.next_steps(path, server_name, registration, config_paths=args.config or ())
    )
    return EXIT_OK
